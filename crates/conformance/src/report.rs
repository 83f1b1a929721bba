//! Results of running corpora (per case, per file) and of checking a corpus against its case
//! manifest: printable and serializable.

use std::fmt;

use serde::Serialize;

use crate::corpus::PinnedFile;
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

/// How a corpus differs from the case manifest pinned for it ([`crate::CaseManifest::drift`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The spec version the manifest pins.
    pub pinned_spec_version: Option<String>,
    /// The spec version the corpus declares.
    pub corpus_spec_version: Option<String>,
    /// Pinned cases the corpus lacks, by file.
    pub missing: Vec<PinnedFile>,
    /// Cases of the corpus the manifest lacks, by file.
    pub unpinned: Vec<PinnedFile>,
}

impl Drift {
    /// Whether the corpus matches the manifest.
    pub fn is_empty(&self) -> bool {
        self.pinned_spec_version == self.corpus_spec_version
            && self.missing.is_empty()
            && self.unpinned.is_empty()
    }
}

/// One line per difference, each indented and ending in a newline; nothing when there is none.
impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = |version: &Option<String>| version.as_deref().unwrap_or("none").to_owned();
        if self.pinned_spec_version != self.corpus_spec_version {
            writeln!(
                f,
                "  spec_version: pinned {}, the corpus declares {}",
                version(&self.pinned_spec_version),
                version(&self.corpus_spec_version)
            )?;
        }
        for (what, files) in [
            ("pinned but not in the corpus", &self.missing),
            ("in the corpus but not pinned", &self.unpinned),
        ] {
            for file in files {
                writeln!(
                    f,
                    "  {what}: {}: {} ({} case{})",
                    file.path,
                    file.cases.join(", "),
                    file.cases.len(),
                    if file.cases.len() == 1 { "" } else { "s" }
                )?;
            }
        }
        Ok(())
    }
}
