//! The fixture file model and corpus loading.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// A failure to load a corpus or one of its files.
#[derive(Debug)]
pub struct CorpusError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for CorpusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for CorpusError {}

/// The expectation of a step or single-step test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// The expected result.
    #[serde(default)]
    pub result: Option<Value>,
    /// The expected error name.
    #[serde(default)]
    pub error: Option<String>,
    /// A substring the error message must contain.
    #[serde(default)]
    pub error_matches: Option<String>,
}

/// One step of a state-machine test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The operation.
    pub op: String,
    /// Its input.
    pub input: Map<String, Value>,
    /// Values to capture from the result, name → dotted path.
    #[serde(default)]
    pub captures: Map<String, Value>,
    /// The expectation.
    #[serde(default)]
    pub expected: Option<Expected>,
}

/// One test case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// Stable id.
    pub id: String,
    /// What it checks.
    pub description: String,
    /// Single-step input.
    #[serde(default)]
    pub input: Option<Map<String, Value>>,
    /// Single-step expectation.
    #[serde(default)]
    pub expected: Option<Expected>,
    /// Named users to create.
    #[serde(default)]
    pub users: Vec<String>,
    /// State-machine steps.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Authorization rewrite rules (not used by tenancy).
    #[serde(default)]
    pub rules: Option<Value>,
}

/// One fixture file.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureFile {
    /// Path relative to the corpus root.
    #[serde(skip)]
    pub path: String,
    /// Whether the manifest marks it runnable today (it runs anyway).
    #[serde(skip)]
    pub runnable_today: bool,
    /// Spec version.
    pub spec_version: String,
    /// Capability (`ids`, `tenancy`, …).
    pub capability: String,
    /// Primary operation.
    pub operation: String,
    /// `MUST`, `SHOULD` or `MAY`.
    pub conformance_level: String,
    /// What the file validates.
    pub description: String,
    /// Test cases.
    pub tests: Vec<TestCase>,
}

impl FixtureFile {
    /// The file name without directory and extension.
    pub fn stem(&self) -> String {
        Path::new(&self.path)
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A loaded corpus: the ids and tenancy fixture files under one root.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// A short name for reports (`upstream`, `project`, or the directory).
    pub name: String,
    /// The root directory.
    pub root: PathBuf,
    /// The files, in manifest (or path) order.
    pub files: Vec<FixtureFile>,
}

#[derive(Deserialize)]
struct Manifest {
    fixtures: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    path: String,
    capability: String,
    #[serde(default)]
    runnable_today: Option<bool>,
}

const CAPABILITIES: [&str; 2] = ["ids", "tenancy"];

fn error(path: &Path, message: impl Into<String>) -> CorpusError {
    CorpusError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(|e| error(path, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| error(path, e.to_string()))
}

impl Corpus {
    /// Loads the ids and tenancy files of the corpus at `root`: those its `index.json` lists
    /// (all of them, `runnable_today: false` included), or every `fixtures/**/*.json` without a
    /// manifest.
    ///
    /// # Errors
    ///
    /// A [`CorpusError`] naming the file that could not be read or parsed.
    pub fn load(root: impl AsRef<Path>) -> Result<Self, CorpusError> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(error(root, "corpus directory not found"));
        }
        let manifest = root.join("index.json");
        let mut entries: Vec<(String, bool)> = Vec::new();
        if manifest.is_file() {
            let manifest: Manifest = read_json(&manifest)?;
            for entry in manifest.fixtures {
                if CAPABILITIES.contains(&entry.capability.as_str())
                    && root.join(&entry.path).is_file()
                {
                    entries.push((entry.path, entry.runnable_today.unwrap_or(true)));
                }
            }
        } else {
            let mut found = Vec::new();
            collect_json(&root.join("fixtures"), &mut found);
            found.sort();
            for path in found {
                if let Ok(relative) = path.strip_prefix(root) {
                    entries.push((relative.to_string_lossy().into_owned(), true));
                }
            }
        }
        let mut files = Vec::new();
        for (path, runnable_today) in entries {
            let mut file: FixtureFile = read_json(&root.join(&path))?;
            if !CAPABILITIES.contains(&file.capability.as_str()) {
                continue;
            }
            file.path = path;
            file.runnable_today = runnable_today;
            files.push(file);
        }
        Ok(Self {
            name: root.display().to_string(),
            root: root.to_path_buf(),
            files,
        })
    }

    /// Names the corpus for reports.
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// How many test cases the corpus holds.
    pub fn case_count(&self) -> usize {
        self.files.iter().map(|file| file.tests.len()).sum()
    }
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_json(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
}

/// Finds the corpora for a workspace: the upstream corpus (`FLAMETRENCH_SPEC_CONFORMANCE`, or
/// `<workspace>/../shared/flametrench-spec/conformance`) and the project's `<workspace>/conformance`.
///
/// When the upstream corpus is missing, a notice saying where to get it goes to stderr, and the
/// call fails if the `CI` environment variable is set.
///
/// # Errors
///
/// A [`CorpusError`] when a corpus cannot be loaded, or upstream is missing under CI.
pub fn locate_corpora(workspace: &Path) -> Result<Vec<Corpus>, CorpusError> {
    let upstream = std::env::var_os("FLAMETRENCH_SPEC_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("../shared/flametrench-spec/conformance"));
    let mut corpora = Vec::new();
    if upstream.is_dir() {
        corpora.push(Corpus::load(&upstream)?.named("upstream"));
    } else {
        eprintln!(
            "\n*** the upstream Flametrench conformance corpus was not found at {} ***\n\
             *** get it from https://github.com/flametrench/spec (its conformance/ directory) \
             and set FLAMETRENCH_SPEC_CONFORMANCE to that directory ***\n",
            upstream.display()
        );
        if std::env::var_os("CI").is_some() {
            return Err(error(
                &upstream,
                "upstream conformance corpus missing (required under CI)",
            ));
        }
    }
    let project = workspace.join("conformance");
    if project.is_dir() {
        corpora.push(Corpus::load(&project)?.named("project"));
    }
    Ok(corpora)
}
