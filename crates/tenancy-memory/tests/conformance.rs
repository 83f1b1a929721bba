//! Runs the upstream and project conformance corpora against the in-memory store, one named
//! test per fixture case (`cargo test -p flametrench-tenancy-memory --test conformance -- <filter>`),
//! directly and through the object-safe adapter, checking `Snapshot::check_invariants` after
//! every case. `self-test::` trials show that a broken invariant fails a case.

use std::path::Path;
use std::sync::Arc;

use flametrench_conformance::{
    BoxFuture, CaseRun, Corpora, CorpusLookup, Recorder, StoreFactory, TestBody,
    invariant_self_test, run_trials, trials,
};
use flametrench_tenancy_core::SharedClock;
use flametrench_tenancy_core::dynamic::DynTenancyStore;
use flametrench_tenancy_memory::InMemoryTenancyStore;

/// Known gaps: fixture ids this store is excused from, each with its reason. Empty.
const IGNORED: &[(&str, &str)] = &[];

/// The memory store, optionally behind the object-safe adapter (`Arc<dyn DynTenancyStore>`).
struct MemoryFactory {
    erased: bool,
    /// Self-test only: the checked copy of the store loses its tuples before the check.
    break_invariants: bool,
}

impl StoreFactory for MemoryFactory {
    fn name(&self) -> String {
        if self.erased { "memory-dyn" } else { "memory" }.into()
    }

    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseRun, String>> {
        Box::pin(async move {
            let store = InMemoryTenancyStore::with_clock(clock);
            let outcome = if self.erased {
                let erased: Arc<dyn DynTenancyStore> = Arc::new(store.clone());
                body.run(&erased).await
            } else {
                body.run(&store).await
            };
            let mut snapshot = store.snapshot();
            if self.break_invariants {
                snapshot.tuples.clear();
            }
            Ok(CaseRun {
                outcome,
                violations: snapshot.check_invariants(),
            })
        })
    }
}

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpora = match Corpora::locate(&CorpusLookup::from_env(&workspace)) {
        Ok(corpora) => corpora,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime"),
    );
    let recorder = Recorder::default();
    let mut all = Vec::new();
    for erased in [false, true] {
        let factory = MemoryFactory {
            erased,
            break_invariants: false,
        };
        all.extend(trials(
            Arc::new(factory),
            &corpora,
            runtime.clone(),
            &recorder,
        ));
        let broken = MemoryFactory {
            erased,
            break_invariants: true,
        };
        all.push(invariant_self_test(Arc::new(broken), runtime.clone()));
    }
    for trial in &mut all {
        if IGNORED.iter().any(|(id, _)| trial.name().ends_with(id)) {
            *trial = std::mem::replace(trial, libtest_mimic::Trial::test("", || Ok(())))
                .with_ignored_flag(true);
        }
    }
    run_trials(&arguments, all, &recorder).exit();
}
