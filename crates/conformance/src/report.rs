//! Results of running corpora, per case, per file and per store: printable and serializable,
//! and gathered from trials as they run by a [`Recorder`].

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::corpus::{Corpus, CorpusError, FixtureFile};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum CaseOutcome {
    /// Every step behaved as expected.
    Passed,
    /// The first deviation.
    Failed(String),
}

impl CaseOutcome {
    /// Whether the case passed.
    pub fn is_passed(&self) -> bool {
        matches!(self, Self::Passed)
    }
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The test id.
    pub id: String,
    /// Passed, or the failure message.
    pub outcome: CaseOutcome,
}

/// One file's results.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The corpus name.
    pub corpus: String,
    /// The file's path in its corpus.
    pub path: String,
    /// `MUST`, `SHOULD` or `MAY`.
    pub conformance_level: String,
    /// Whether the manifest marks it runnable today (it ran anyway).
    pub runnable_today: bool,
    /// The cases.
    pub cases: Vec<CaseReport>,
}

impl FileReport {
    /// The report of `file` of the corpus named `corpus`, with no case yet.
    fn of(corpus: &str, file: &FixtureFile) -> Self {
        Self {
            corpus: corpus.to_owned(),
            path: file.path.clone(),
            conformance_level: file.conformance_level.clone(),
            runnable_today: file.runnable_today,
            cases: Vec::new(),
        }
    }

    /// Cases passed.
    pub fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|case| case.outcome.is_passed())
            .count()
    }

    /// Cases failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// The results of one store over one or more corpora.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusReport {
    /// The store's name.
    pub store: String,
    /// The files.
    pub files: Vec<FileReport>,
}

impl CorpusReport {
    /// Cases passed.
    pub fn passed(&self) -> usize {
        self.files.iter().map(FileReport::passed).sum()
    }

    /// Cases failed.
    pub fn failed(&self) -> usize {
        self.files.iter().map(FileReport::failed).sum()
    }

    /// Failed cases of MUST files (which block a conformance claim).
    pub fn must_failures(&self) -> usize {
        self.files
            .iter()
            .filter(|file| file.conformance_level == "MUST")
            .map(FileReport::failed)
            .sum()
    }

    /// A table per file, with failures spelled out.
    pub fn render(&self) -> String {
        let mut out = format!("store: {}\n", self.store);
        out.push_str(&format!(
            "  {:<58} {:>6} {:>6}  level\n",
            "file", "passed", "failed"
        ));
        for file in &self.files {
            let note = if file.runnable_today {
                ""
            } else {
                " (runnable_today: false)"
            };
            out.push_str(&format!(
                "  {:<58} {:>6} {:>6}  {}{}\n",
                format!("{}:{}", file.corpus, file.path),
                file.passed(),
                file.failed(),
                file.conformance_level,
                note
            ));
            for case in &file.cases {
                if let CaseOutcome::Failed(message) = &case.outcome {
                    let kind = if file.conformance_level == "MUST" {
                        "FAIL"
                    } else {
                        "WARN"
                    };
                    out.push_str(&format!("    {kind} {}: {message}\n", case.id));
                }
            }
        }
        out
    }
}

/// The environment variable that asks a conformance test target for its report: when it names
/// a file, a target that runs its trials with [`run_trials`](crate::run_trials) prints a table
/// per file for each store and a last line `N passed, N failed`, and adds its stores' reports
/// to the JSON array in that file (creating it), so that several targets run one after the
/// other fill one report (`cargo xtask conformance --json FILE` sets it).
pub const REPORT_ENV: &str = "FLAMETRENCH_CONFORMANCE_REPORT";

/// Gathers the outcome of every case as its trial runs, for a report on the whole run: each
/// store's files in corpus order, with the cases that ran (a filtered run leaves out the rest).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Registered>>>);

/// A case's id, and its outcome once it ran.
type Slot = (String, Option<CaseOutcome>);

/// A store's slots: one per file and case of its corpora, filled as the cases run.
#[derive(Debug)]
struct Registered {
    store: String,
    corpora: Vec<String>,
    /// Each file's report without its cases, and each case's id and outcome once it ran.
    files: Vec<(FileReport, Vec<Slot>)>,
}

impl Recorder {
    /// Makes room for the cases of `corpora` run against `store`; returns the store's index.
    pub(crate) fn register(&self, store: &str, corpora: &[Corpus]) -> usize {
        let registered = Registered {
            store: store.to_owned(),
            corpora: corpora
                .iter()
                .map(|corpus| {
                    format!(
                        "corpus {}: {} files, {} cases ({})",
                        corpus.name,
                        corpus.files.len(),
                        corpus.case_count(),
                        corpus.root.display()
                    )
                })
                .collect(),
            files: corpora
                .iter()
                .flat_map(|corpus| {
                    corpus.files.iter().map(|file| {
                        let cases = file.tests.iter().map(|case| (case.id.clone(), None));
                        (FileReport::of(&corpus.name, file), cases.collect())
                    })
                })
                .collect(),
        };
        let mut stores = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        stores.push(registered);
        stores.len() - 1
    }

    /// Records the outcome of case `case` of file `file` (both counted as [`Recorder::register`]
    /// laid them out) against store `store`.
    pub(crate) fn record(&self, store: usize, file: usize, case: usize, outcome: CaseOutcome) {
        let mut stores = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = stores
            .get_mut(store)
            .and_then(|registered| registered.files.get_mut(file))
            .and_then(|(_, cases)| cases.get_mut(case));
        if let Some((_, slot)) = slot {
            *slot = Some(outcome);
        }
    }

    /// The reports so far: a store's files with at least one case run, and the stores with at
    /// least one such file.
    pub fn reports(&self) -> Vec<CorpusReport> {
        let stores = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        stores
            .iter()
            .map(|registered| CorpusReport {
                store: registered.store.clone(),
                files: registered
                    .files
                    .iter()
                    .filter_map(|(file, cases)| {
                        let cases: Vec<CaseReport> = cases
                            .iter()
                            .filter_map(|(id, outcome)| {
                                let outcome = outcome.clone()?;
                                Some(CaseReport {
                                    id: id.clone(),
                                    outcome,
                                })
                            })
                            .collect();
                        (!cases.is_empty()).then(|| FileReport {
                            cases,
                            ..file.clone()
                        })
                    })
                    .collect(),
            })
            .filter(|report| !report.files.is_empty())
            .collect()
    }

    /// What a run prints with its report: the corpora, a table per file for each store
    /// ([`CorpusReport::render`]), and a last line `conformance: N passed, N failed`, after a
    /// warning line when SHOULD or MAY cases failed.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        {
            let stores = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let mut corpora: Vec<&String> = Vec::new();
            for line in stores.iter().flat_map(|registered| &registered.corpora) {
                if !corpora.contains(&line) {
                    out.push_str(&format!("{line}\n"));
                    corpora.push(line);
                }
            }
        }
        let (mut passed, mut failed, mut must_failed) = (0, 0, 0);
        for report in self.reports() {
            out.push_str(&format!("\n{}", report.render()));
            passed += report.passed();
            failed += report.failed();
            must_failed += report.must_failures();
        }
        if failed > must_failed {
            out.push_str(&format!(
                "warning: {} SHOULD/MAY case(s) failed\n",
                failed - must_failed
            ));
        }
        out.push_str(&format!("conformance: {passed} passed, {failed} failed\n"));
        out
    }

    /// Adds the reports to the JSON array in the file at `path`, creating the file when it does
    /// not exist.
    ///
    /// # Errors
    ///
    /// A [`CorpusError`] naming the file when it cannot be read, holds something else than a
    /// JSON array, or cannot be written.
    pub fn add_to_json(&self, path: &Path) -> Result<(), CorpusError> {
        let failure = |message: String| CorpusError {
            path: path.to_path_buf(),
            message,
        };
        let mut all: Vec<serde_json::Value> = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| failure(e.to_string()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(failure(error.to_string())),
        };
        for report in self.reports() {
            all.push(serde_json::to_value(report).map_err(|e| failure(e.to_string()))?);
        }
        let text = serde_json::to_string_pretty(&all).map_err(|e| failure(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| failure(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn project() -> Corpus {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Corpus::load(workspace.join("conformance"))
            .unwrap()
            .named("project")
    }

    #[test]
    fn the_recorder_reports_the_cases_that_ran_in_corpus_order() {
        let corpus = project();
        let recorder = Recorder::default();
        let first = recorder.register("one", std::slice::from_ref(&corpus));
        let second = recorder.register("two", std::slice::from_ref(&corpus));
        assert_eq!((first, second), (0, 1));
        // Recorded out of order, as parallel trials finish.
        recorder.record(first, 1, 0, CaseOutcome::Failed("no".into()));
        recorder.record(first, 0, 1, CaseOutcome::Passed);
        recorder.record(first, 0, 0, CaseOutcome::Passed);
        recorder.record(first, 99, 0, CaseOutcome::Passed);
        let reports = recorder.reports();
        assert_eq!(reports.len(), 1, "the second store ran nothing");
        let files = &reports[0].files;
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, corpus.files[0].path);
        let ids: Vec<&str> = files[0].cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [&corpus.files[0].tests[0].id, &corpus.files[0].tests[1].id]
        );
        assert_eq!((reports[0].passed(), reports[0].failed()), (2, 1));
        let summary = recorder.summary();
        assert!(summary.starts_with("corpus project: "), "{summary}");
        assert!(summary.contains("store: one"), "{summary}");
        assert!(summary.contains(&format!("FAIL {}: no", corpus.files[1].tests[0].id)));
        assert!(
            summary.ends_with("conformance: 2 passed, 1 failed\n"),
            "{summary}"
        );
    }

    #[test]
    fn each_report_adds_its_stores_to_the_json_array() {
        let corpus = project();
        let path = std::env::temp_dir().join(format!("ft-report-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        for store in ["memory", "postgres"] {
            let recorder = Recorder::default();
            let index = recorder.register(store, std::slice::from_ref(&corpus));
            recorder.record(index, 0, 0, CaseOutcome::Passed);
            recorder.add_to_json(&path).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let stores: Vec<&str> = all.iter().filter_map(|r| r["store"].as_str()).collect();
        assert_eq!(stores, ["memory", "postgres"]);
        assert_eq!(
            all[0]["files"][0]["cases"][0]["outcome"]["status"],
            "passed"
        );
        std::fs::write(&path, "{}").unwrap();
        assert!(Recorder::default().add_to_json(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
