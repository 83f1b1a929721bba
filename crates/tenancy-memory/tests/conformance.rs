//! Runs the upstream and project conformance corpora against the in-memory store, one named
//! test per fixture case (`cargo test -p flametrench-tenancy-memory --test conformance -- <filter>`).

use std::path::Path;
use std::sync::Arc;

use flametrench_conformance::{
    BoxFuture, CaseOutcome, Corpora, CorpusLookup, StoreFactory, TestBody, trials,
};
use flametrench_tenancy_core::{DynTenancyStore, SharedClock};
use flametrench_tenancy_memory::InMemoryTenancyStore;

/// Known gaps: fixture ids this store is excused from, each with its reason. Empty.
const IGNORED: &[(&str, &str)] = &[];

/// The memory store, optionally behind the object-safe adapter (`Arc<dyn DynTenancyStore>`).
struct MemoryFactory {
    erased: bool,
}

impl StoreFactory for MemoryFactory {
    fn name(&self) -> String {
        if self.erased { "memory-dyn" } else { "memory" }.into()
    }

    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseOutcome, String>> {
        Box::pin(async move {
            let store = InMemoryTenancyStore::with_clock(clock);
            let outcome = if self.erased {
                let erased: Arc<dyn DynTenancyStore> = Arc::new(store.clone());
                body.run(&erased).await
            } else {
                body.run(&store).await
            };
            let violations = store.snapshot().check_invariants();
            if outcome.is_passed() && !violations.is_empty() {
                return Ok(CaseOutcome::Failed(format!(
                    "invariants broken: {violations:?}"
                )));
            }
            Ok(outcome)
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
    let mut all = trials(
        Arc::new(MemoryFactory { erased: false }),
        &corpora,
        runtime.clone(),
    );
    all.extend(trials(
        Arc::new(MemoryFactory { erased: true }),
        &corpora,
        runtime,
    ));
    for trial in &mut all {
        if IGNORED.iter().any(|(id, _)| trial.name().ends_with(id)) {
            *trial = std::mem::replace(trial, libtest_mimic::Trial::test("", || Ok(())))
                .with_ignored_flag(true);
        }
    }
    libtest_mimic::run(&arguments, all).exit();
}
