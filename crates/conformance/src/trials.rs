//! The libtest-mimic glue: one trial per case, the invariant self-test, and a target's run of
//! its trials with the report.

use std::path::Path;
use std::sync::Arc;

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{CreateOrg, ManualClock, SharedClock, TenancyStore};
use libtest_mimic::{Arguments, Conclusion, Trial};

use crate::corpus::{Corpora, MissingUpstream, UPSTREAM, file_stem};
use crate::report::{CaseOutcome, REPORT_ENV, Recorder};
use crate::runner::{BoxFuture, StoreFactory, TestBody, run_case};

/// One libtest-mimic trial per case, named `<store>::<corpus>::<file stem>::<case id>`.
///
/// When the upstream corpus is missing, each case of its manifest is still a trial of that
/// name, ignored with [`MissingUpstream::reason`] as its message, so the summary counts every
/// case that did not run. Each trial records its case's outcome in `recorder`, for the report
/// of [`run_trials`].
pub fn trials<F: StoreFactory>(
    factory: Arc<F>,
    corpora: &Corpora,
    runtime: Arc<tokio::runtime::Runtime>,
    recorder: &Recorder,
) -> Vec<Trial> {
    let store = factory.name();
    let mut out = corpora
        .missing_upstream
        .as_ref()
        .map(|missing| missing_trials(&store, missing))
        .unwrap_or_default();
    let registered = recorder.register(&store, &corpora.loaded);
    let files = corpora
        .loaded
        .iter()
        .flat_map(|corpus| corpus.files.iter().map(move |file| (&corpus.name, file)));
    for (file_index, (corpus, file)) in files.enumerate() {
        let file = Arc::new(file.clone());
        for (case_index, case) in file.tests.iter().enumerate() {
            let name = trial_name(&store, corpus, &file.path, &case.id);
            let (factory, runtime, recorder, file, case) = (
                factory.clone(),
                runtime.clone(),
                recorder.clone(),
                file.clone(),
                case.clone(),
            );
            out.push(Trial::test(name, move || {
                let outcome = runtime.block_on(run_case(&*factory, &file, &case));
                recorder.record(registered, file_index, case_index, outcome.clone());
                match outcome {
                    CaseOutcome::Passed => Ok(()),
                    CaseOutcome::Failed(message) => Err(message.into()),
                }
            }));
        }
    }
    out
}

/// Runs `trials` as `libtest_mimic::run` does; then, when [`REPORT_ENV`] names a file, prints
/// `recorder`'s [summary](Recorder::summary) and adds its reports to that file. A report that
/// cannot be written fails the run.
#[allow(clippy::print_stdout)] // The report follows the trials' own output.
pub fn run_trials(arguments: &Arguments, trials: Vec<Trial>, recorder: &Recorder) -> Conclusion {
    let mut conclusion = libtest_mimic::run(arguments, trials);
    if let Some(path) = std::env::var_os(REPORT_ENV).filter(|path| !path.is_empty()) {
        print!("\n{}", recorder.summary());
        if let Err(error) = recorder.add_to_json(Path::new(&path)) {
            eprintln!("the conformance report: {error}");
            conclusion.num_failed += 1;
        }
    }
    conclusion
}

/// A trial `<store>::self-test::a_broken_invariant_fails_the_case` for a factory made to break
/// an invariant of its store just before its check: it runs a body that creates an org with its
/// owner (and passes), and passes only when the factory's check fails the case. It shows that the
/// factory's per-case invariant check can fail a case.
pub fn invariant_self_test<F: StoreFactory>(
    factory: Arc<F>,
    runtime: Arc<tokio::runtime::Runtime>,
) -> Trial {
    let name = format!(
        "{}::self-test::a_broken_invariant_fails_the_case",
        factory.name()
    );
    Trial::test(name, move || {
        let clock: SharedClock = Arc::new(ManualClock::starting_now());
        let run = runtime.block_on(factory.with_store(clock, CreateOrgBody))?;
        match run.verdict() {
            CaseOutcome::Failed(message) if message.contains("invariants broken") => Ok(()),
            other => Err(format!("the broken invariant went unnoticed: {other:?}").into()),
        }
    })
}

/// A body that leaves an org with its owner behind, and passes.
struct CreateOrgBody;

impl TestBody for CreateOrgBody {
    fn run<'s, S: TenancyStore + 's>(self, store: &'s S) -> BoxFuture<'s, CaseOutcome> {
        Box::pin(async move {
            let owner = UsrId::new();
            let created = async {
                store.ensure_user(owner).await?;
                store.create_org(CreateOrg::new(owner)).await
            };
            match created.await {
                Ok(_) => CaseOutcome::Passed,
                Err(error) => CaseOutcome::Failed(error.to_string()),
            }
        })
    }
}

/// The name of the trial of case `id` of the file at `path` in `corpus`, run against `store`.
fn trial_name(store: &str, corpus: &str, path: &str, id: &str) -> String {
    format!("{store}::{corpus}::{}::{id}", file_stem(path))
}

/// One trial per pinned case of the missing upstream corpus, each ignored when it runs, with
/// the reason (a trial ignored by its flag would show no message).
fn missing_trials(store: &str, missing: &MissingUpstream) -> Vec<Trial> {
    let reason = missing.reason();
    let mut out = Vec::new();
    for file in &missing.manifest.files {
        for id in &file.cases {
            let reason = reason.clone();
            out.push(Trial::ignorable_test(
                trial_name(store, UPSTREAM, &file.path, id),
                move || Ok(libtest_mimic::Completion::ignored_with(reason)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::corpus::{CaseManifest, CorpusLookup};
    use crate::runner::CaseRun;

    /// A factory that never builds a store: the trials under test must not need one.
    struct NoStore;

    impl StoreFactory for NoStore {
        fn name(&self) -> String {
            "nostore".into()
        }

        fn with_store<'a, B: TestBody>(
            &'a self,
            _clock: SharedClock,
            _body: B,
        ) -> BoxFuture<'a, Result<CaseRun, String>> {
            Box::pin(async { Err("no store here".to_owned()) })
        }
    }

    #[test]
    fn a_missing_upstream_gives_one_ignored_trial_per_pinned_case() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let lookup = CorpusLookup {
            workspace,
            upstream: PathBuf::from("/nonexistent/flametrench-spec/conformance"),
            require_upstream: false,
            extra: Vec::new(),
        };
        let corpora = Corpora::locate(&lookup).unwrap();
        let manifest = CaseManifest::load(&lookup.manifest_path()).unwrap();
        let runtime = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        );
        let all = trials(Arc::new(NoStore), &corpora, runtime, &Recorder::default());
        let expected: Vec<String> = manifest
            .files
            .iter()
            .flat_map(|file| {
                file.cases
                    .iter()
                    .map(|id| trial_name("nostore", UPSTREAM, &file.path, id))
            })
            .collect();
        let upstream: Vec<&str> = all
            .iter()
            .map(libtest_mimic::Trial::name)
            .filter(|name| name.starts_with("nostore::upstream::"))
            .collect();
        assert_eq!(upstream, expected);
        assert_eq!(upstream.len(), manifest.case_count);
        // Named as the real trial would be: `<store>::upstream::<file stem>::<case id>`.
        let first = &manifest.files[0];
        let stem = first
            .path
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".json");
        assert_eq!(
            upstream[0],
            format!("nostore::upstream::{stem}::{}", first.cases[0])
        );

        // Run only those trials, logging to a file: each is ignored with the reason, none
        // passes or fails.
        let log =
            std::env::temp_dir().join(format!("ft-missing-trials-{}.log", std::process::id()));
        let arguments = libtest_mimic::Arguments {
            filter: Some("nostore::upstream::".into()),
            test_threads: Some(1),
            color: Some(libtest_mimic::ColorSetting::Never),
            logfile: Some(log.display().to_string()),
            ..libtest_mimic::Arguments::default()
        };
        let conclusion = libtest_mimic::run(&arguments, all);
        assert_eq!(conclusion.num_ignored, manifest.case_count as u64);
        assert_eq!((conclusion.num_passed, conclusion.num_failed), (0, 0));
        let reason = corpora.missing_upstream.unwrap().reason();
        assert!(
            reason.contains("/nonexistent/flametrench-spec/conformance"),
            "{reason}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        let ignored: Vec<&str> = text
            .lines()
            .filter(|line| line.ends_with(&format!("... ignored ({reason})")))
            .collect();
        assert_eq!(ignored.len(), manifest.case_count, "{text}");
        for name in &expected {
            assert!(
                ignored
                    .iter()
                    .any(|line| line.starts_with(&format!("test {name} "))),
                "{name} in {text}"
            );
        }
    }
}
