//! Results of running corpora: per case, per file, printable and serializable.

use serde::Serialize;

use crate::runner::CaseOutcome;

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
