//! The fixture file model, corpus loading, and how a corpus differs from its pinned manifest.

use std::collections::HashSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
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
        file_stem(&self.path)
    }
}

/// The file name of `path` without directory and extension: the part of a trial name that
/// says which file a case comes from.
pub(crate) fn file_stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A loaded corpus: the ids and tenancy fixture files under one root.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// A short name for reports (`upstream`, `project`, or the directory).
    pub name: String,
    /// The root directory.
    pub root: PathBuf,
    /// The spec version its `index.json` declares (none without an index).
    pub spec_version: Option<String>,
    /// The files, in manifest (or path) order.
    pub files: Vec<FixtureFile>,
}

/// A corpus's `index.json`.
#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    spec_version: Option<String>,
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
        let index = root.join("index.json");
        let mut entries: Vec<(String, bool)> = Vec::new();
        let mut spec_version = None;
        if index.is_file() {
            let index: Index = read_json(&index)?;
            spec_version = index.spec_version;
            for entry in index.fixtures {
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
            spec_version,
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

/// The environment variable that lists more corpus directories in the upstream layout, joined
/// like `PATH` (`cargo xtask conformance --fixtures DIR` sets it): [`CorpusLookup::from_env`]
/// adds them after the project's corpus, named by their path.
pub const FIXTURES_ENV: &str = "FLAMETRENCH_CONFORMANCE_FIXTURES";

/// The environment variable that names the upstream corpus directory (the `conformance/`
/// directory of a clone of <https://github.com/flametrench/spec>).
pub const UPSTREAM_ENV: &str = "FLAMETRENCH_SPEC_CONFORMANCE";

/// The case manifest of the upstream corpus, relative to the workspace root.
pub const UPSTREAM_MANIFEST: &str = "conformance/upstream-manifest.json";

/// The command that rewrites [`UPSTREAM_MANIFEST`] from the upstream corpus found the usual
/// way (see [`CorpusLookup::from_env`]).
pub const REGENERATE_MANIFEST: &str =
    "cargo test -p flametrench-conformance --lib -- --ignored regenerate_upstream_manifest";

/// The report and trial name of the upstream corpus.
pub(crate) const UPSTREAM: &str = "upstream";

const UPSTREAM_SOURCE: &str = "https://github.com/flametrench/spec";

/// Where the upstream corpus sits relative to the workspace when the variable is unset.
const DEFAULT_UPSTREAM: &str = "../shared/flametrench-spec/conformance";

/// One fixture file of a [`CaseManifest`]: where it is and the ids of its cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedFile {
    /// Path relative to the corpus root.
    pub path: String,
    /// The case ids, in file order.
    pub cases: Vec<String>,
}

/// The case ids of a corpus, pinned in the project so that a run without the corpus still
/// names every case it did not run, and a run with it notices when the corpus changed.
///
/// It records facts only: the spec version the corpus declares, and per fixture file its path
/// and case ids. No input, expectation or description is copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseManifest {
    /// What the file is for and how to regenerate it; informational.
    pub about: String,
    /// The spec version the corpus's `index.json` declares.
    pub spec_version: Option<String>,
    /// The number of cases the files list, kept as a check on hand edits.
    pub case_count: usize,
    /// The fixture files in corpus order.
    pub files: Vec<PinnedFile>,
}

impl CaseManifest {
    /// The manifest of `corpus`: its declared spec version and each file's case ids.
    pub fn of(corpus: &Corpus) -> Self {
        let files: Vec<PinnedFile> = corpus
            .files
            .iter()
            .map(|file| PinnedFile {
                path: file.path.clone(),
                cases: file.tests.iter().map(|case| case.id.clone()).collect(),
            })
            .collect();
        Self {
            about: format!(
                "The ids of the upstream conformance cases ({UPSTREAM_SOURCE}, conformance/), \
                 pinned so that a run without that corpus lists each of them as ignored and a \
                 run with it fails when the two differ. Regenerate with `{REGENERATE_MANIFEST}`."
            ),
            spec_version: corpus.spec_version.clone(),
            case_count: files.iter().map(|file| file.cases.len()).sum(),
            files,
        }
    }

    /// Reads a manifest and checks that it is consistent: its case count adds up, and no path
    /// or case id within a file appears twice.
    ///
    /// # Errors
    ///
    /// A [`CorpusError`] naming the file when it cannot be read or parsed, or is inconsistent.
    pub fn load(path: &Path) -> Result<Self, CorpusError> {
        let manifest: Self = read_json(path)?;
        let listed: usize = manifest.files.iter().map(|file| file.cases.len()).sum();
        if listed != manifest.case_count {
            return Err(error(
                path,
                format!(
                    "case_count is {} but the files list {listed} cases",
                    manifest.case_count
                ),
            ));
        }
        let mut paths = HashSet::new();
        for file in &manifest.files {
            if !paths.insert(file.path.as_str()) {
                return Err(error(path, format!("{} is listed twice", file.path)));
            }
            let mut ids = HashSet::new();
            if let Some(id) = file.cases.iter().find(|id| !ids.insert(id.as_str())) {
                return Err(error(
                    path,
                    format!("{}: case `{id}` is listed twice", file.path),
                ));
            }
        }
        Ok(manifest)
    }

    /// Writes the manifest as pretty JSON with a final newline.
    ///
    /// # Errors
    ///
    /// A [`CorpusError`] naming the file when it cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), CorpusError> {
        let mut text =
            serde_json::to_string_pretty(self).map_err(|e| error(path, e.to_string()))?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| error(path, e.to_string()))
    }

    /// How `corpus` differs from this manifest: the spec version, the pinned cases the corpus
    /// lacks and the corpus's cases the manifest lacks. The order of files and cases does not
    /// count.
    pub fn drift(&self, corpus: &Corpus) -> Drift {
        let found = Self::of(corpus);
        Drift {
            pinned_spec_version: self.spec_version.clone(),
            corpus_spec_version: found.spec_version.clone(),
            missing: difference(&self.files, &found.files),
            unpinned: difference(&found.files, &self.files),
        }
    }
}

/// The cases of `from` that `without` lacks, grouped by file.
fn difference(from: &[PinnedFile], without: &[PinnedFile]) -> Vec<PinnedFile> {
    from.iter()
        .filter_map(|file| {
            let other: HashSet<&str> = without
                .iter()
                .find(|other| other.path == file.path)
                .map(|other| other.cases.iter().map(String::as_str).collect())
                .unwrap_or_default();
            let cases: Vec<String> = file
                .cases
                .iter()
                .filter(|id| !other.contains(id.as_str()))
                .cloned()
                .collect();
            (!cases.is_empty()).then(|| PinnedFile {
                path: file.path.clone(),
                cases,
            })
        })
        .collect()
}

/// How a corpus differs from the case manifest pinned for it ([`CaseManifest::drift`]).
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

/// Where to look for the corpora of a workspace, and what a missing upstream corpus means.
#[derive(Debug, Clone)]
pub struct CorpusLookup {
    /// The workspace root: the project corpus is its `conformance/` directory and the upstream
    /// case manifest its [`UPSTREAM_MANIFEST`].
    pub workspace: PathBuf,
    /// Where the upstream corpus should be.
    pub upstream: PathBuf,
    /// Whether a missing upstream corpus is an error (as under CI) rather than ignored cases.
    pub require_upstream: bool,
    /// More corpus directories in the upstream layout, loaded after the project's.
    pub extra: Vec<PathBuf>,
}

impl CorpusLookup {
    /// The lookup the environment asks for: the upstream corpus at `FLAMETRENCH_SPEC_CONFORMANCE`
    /// when set and not empty, else at `<workspace>/../shared/flametrench-spec/conformance`;
    /// required when the `CI` variable is set; more corpora from [`FIXTURES_ENV`], a list of
    /// directories joined like `PATH`.
    pub fn from_env(workspace: &Path) -> Self {
        let workspace = normalize(workspace);
        let upstream = std::env::var_os(UPSTREAM_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(DEFAULT_UPSTREAM));
        Self {
            upstream: normalize(&upstream),
            workspace,
            require_upstream: std::env::var_os("CI").is_some(),
            extra: std::env::var_os(FIXTURES_ENV)
                .map(|dirs| std::env::split_paths(&dirs).collect())
                .unwrap_or_default(),
        }
    }

    /// The path of the upstream case manifest.
    pub fn manifest_path(&self) -> PathBuf {
        normalize(&self.workspace.join(UPSTREAM_MANIFEST))
    }

    /// Rewrites the upstream case manifest from the upstream corpus and returns it. This is
    /// what [`REGENERATE_MANIFEST`] runs.
    ///
    /// # Errors
    ///
    /// A [`CorpusError`] when the corpus cannot be loaded or holds no case (a wrong directory
    /// must not empty the manifest), or the manifest cannot be written.
    pub fn regenerate_manifest(&self) -> Result<CaseManifest, CorpusError> {
        let upstream = normalize(&self.upstream);
        let corpus = Corpus::load(&upstream)?;
        if corpus.case_count() == 0 {
            return Err(error(
                &upstream,
                "no ids or tenancy case found; is this the conformance/ directory of a clone of \
                 the spec?",
            ));
        }
        let manifest = CaseManifest::of(&corpus);
        manifest.write(&self.manifest_path())?;
        Ok(manifest)
    }
}

/// The upstream corpus when it was looked for and not found: its pinned cases did not run.
#[derive(Debug, Clone)]
pub struct MissingUpstream {
    /// Where it was looked for, normalized.
    pub path: PathBuf,
    /// The cases it would have held.
    pub manifest: CaseManifest,
}

impl MissingUpstream {
    /// Why the pinned cases did not run: the message each ignored trial carries.
    pub fn reason(&self) -> String {
        format!(
            "upstream corpus not found at {}: set {UPSTREAM_ENV} to …/conformance of a clone of \
             {UPSTREAM_SOURCE}",
            self.path.display()
        )
    }
}

/// The corpora of a workspace: those found and loaded, and the upstream corpus's pinned cases
/// when it is missing.
#[derive(Debug, Clone)]
pub struct Corpora {
    /// The loaded corpora: upstream first when found, then the project's `conformance/`, then
    /// the lookup's `extra` ones.
    pub loaded: Vec<Corpus>,
    /// The upstream corpus when it was not found (and not required).
    pub missing_upstream: Option<MissingUpstream>,
}

impl Corpora {
    /// Finds and loads the corpora `lookup` describes.
    ///
    /// When the upstream corpus is found it must match the case manifest, so that a changed
    /// corpus (cases added, removed or renamed, or a new spec version) fails the run, with the
    /// differences and [`REGENERATE_MANIFEST`] in the message, whether or not under CI: a
    /// silent drift would hide cases that never run. When it is missing, a notice goes to
    /// stderr; that is an error when `lookup.require_upstream` is set, and otherwise the
    /// manifest's cases are kept in [`Corpora::missing_upstream`] so that every one of them is
    /// reported as ignored.
    ///
    /// # Errors
    ///
    /// A [`CorpusError`] when a corpus or the manifest cannot be loaded, the upstream corpus
    /// differs from the manifest, or it is missing and required.
    pub fn locate(lookup: &CorpusLookup) -> Result<Self, CorpusError> {
        let workspace = normalize(&lookup.workspace);
        let upstream = normalize(&lookup.upstream);
        let manifest_path = lookup.manifest_path();
        let mut loaded = Vec::new();
        let mut missing_upstream = None;
        if upstream.is_dir() {
            let corpus = Corpus::load(&upstream)?.named(UPSTREAM);
            let manifest = CaseManifest::load(&manifest_path).map_err(|failure| {
                error(
                    &failure.path,
                    format!(
                        "{}; with the upstream corpus at {}, write it with `{REGENERATE_MANIFEST}`",
                        failure.message,
                        upstream.display()
                    ),
                )
            })?;
            let drift = manifest.drift(&corpus);
            if !drift.is_empty() {
                return Err(error(
                    &manifest_path,
                    format!(
                        "the upstream corpus at {} does not match the pinned case ids:\n{drift}\
                         If that corpus is the revision to test against, regenerate the manifest \
                         with `{REGENERATE_MANIFEST}` and commit it; otherwise point {UPSTREAM_ENV} \
                         at the right checkout",
                        upstream.display()
                    ),
                ));
            }
            loaded.push(corpus);
        } else if lookup.require_upstream {
            eprintln!(
                "\n*** the upstream Flametrench conformance corpus was not found at {} ***\n\
                 *** clone {UPSTREAM_SOURCE} and set {UPSTREAM_ENV} to its conformance/ \
                 directory ***\n",
                upstream.display()
            );
            return Err(error(
                &upstream,
                "upstream conformance corpus not found (required when CI is set)",
            ));
        } else {
            let manifest = CaseManifest::load(&manifest_path)?;
            eprintln!(
                "\n*** the upstream Flametrench conformance corpus was not found at {} ***\n\
                 *** its {} cases (pinned in {UPSTREAM_MANIFEST}) do not run; test targets list \
                 them as ignored ***\n\
                 *** clone {UPSTREAM_SOURCE} and set {UPSTREAM_ENV} to its conformance/ \
                 directory ***\n",
                upstream.display(),
                manifest.case_count
            );
            missing_upstream = Some(MissingUpstream {
                path: upstream,
                manifest,
            });
        }
        let project = workspace.join("conformance");
        if project.is_dir() {
            loaded.push(Corpus::load(&project)?.named("project"));
        }
        for dir in &lookup.extra {
            loaded.push(Corpus::load(dir)?);
        }
        Ok(Self {
            loaded,
            missing_upstream,
        })
    }
}

/// Finds the corpora for a workspace as [`Corpora::locate`] does with
/// [`CorpusLookup::from_env`], and returns those it loaded: the upstream corpus
/// (`FLAMETRENCH_SPEC_CONFORMANCE`, or `<workspace>/../shared/flametrench-spec/conformance`)
/// and the project's `<workspace>/conformance`.
///
/// # Errors
///
/// As [`Corpora::locate`].
pub fn locate_corpora(workspace: &Path) -> Result<Vec<Corpus>, CorpusError> {
    Corpora::locate(&CorpusLookup::from_env(workspace)).map(|corpora| corpora.loaded)
}

/// `path` made absolute and free of `.` and `..`, for messages and roots: canonical where it
/// exists; otherwise its longest existing ancestor canonicalized, and the rest cleaned
/// lexically (there is no symlink left to resolve in a part that does not exist).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let components: Vec<Component<'_>> = absolute.components().collect();
    for split in (1..=components.len()).rev() {
        let head: PathBuf = components[..split].iter().collect();
        if let Ok(mut out) = head.canonicalize() {
            push_lexically(&mut out, &components[split..]);
            return out;
        }
    }
    let mut out = PathBuf::new();
    push_lexically(&mut out, &components);
    out
}

fn push_lexically(out: &mut PathBuf, components: &[Component<'_>]) {
    for component in components {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> PathBuf {
        normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
    }

    /// A fresh directory under the system temp dir, unique to this test and process.
    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ft-corpus-{label}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|time| time.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A small corpus of our own: one tenancy file whose cases have the given ids.
    fn write_corpus(root: &Path, spec_version: &str, ids: &[&str]) {
        std::fs::create_dir_all(root.join("fixtures/tenancy")).unwrap();
        let index = serde_json::json!({
            "spec_version": spec_version,
            "fixtures": [{"path": "fixtures/tenancy/sample.json", "capability": "tenancy"}],
        });
        std::fs::write(root.join("index.json"), index.to_string()).unwrap();
        let tests: Vec<Value> = ids
            .iter()
            .map(|id| serde_json::json!({"id": id, "description": "a sample", "steps": []}))
            .collect();
        let file = serde_json::json!({
            "spec_version": spec_version,
            "capability": "tenancy",
            "operation": "create_org",
            "conformance_level": "MUST",
            "description": "samples",
            "tests": tests,
        });
        std::fs::write(root.join("fixtures/tenancy/sample.json"), file.to_string()).unwrap();
    }

    /// Rewrites `conformance/upstream-manifest.json` from the upstream corpus; run it with
    /// [`REGENERATE_MANIFEST`] after the corpus changed, and review the diff.
    #[test]
    #[ignore = "rewrites conformance/upstream-manifest.json from the upstream corpus"]
    fn regenerate_upstream_manifest() {
        let lookup = CorpusLookup::from_env(&workspace());
        let manifest = lookup
            .regenerate_manifest()
            .unwrap_or_else(|error| panic!("{error} (set {UPSTREAM_ENV})"));
        eprintln!(
            "wrote {} ({} cases in {} files, spec {})",
            lookup.manifest_path().display(),
            manifest.case_count,
            manifest.files.len(),
            manifest.spec_version.as_deref().unwrap_or("none")
        );
    }

    #[test]
    fn the_upstream_manifest_loads_and_matches_the_corpus_when_present() {
        let lookup = CorpusLookup::from_env(&workspace());
        let manifest = CaseManifest::load(&lookup.manifest_path()).unwrap();
        assert!(manifest.case_count > 0);
        assert!(manifest.files.iter().all(|file| !file.cases.is_empty()));
        if !lookup.upstream.is_dir() {
            eprintln!(
                "upstream corpus not found at {}: checked the manifest alone",
                lookup.upstream.display()
            );
            return;
        }
        let corpus = Corpus::load(&lookup.upstream).unwrap();
        let drift = manifest.drift(&corpus);
        assert!(
            drift.is_empty(),
            "regenerate with `{REGENERATE_MANIFEST}`:\n{drift}"
        );
        assert_eq!(manifest.case_count, corpus.case_count());
        // Regenerating from an unchanged corpus rewrites the same file.
        assert_eq!(CaseManifest::of(&corpus), manifest);
    }

    #[test]
    fn a_missing_upstream_keeps_the_manifest_cases_with_a_reason() {
        let dir = scratch("absent");
        let absent = dir.join("spec/./sub/../conformance");
        let lookup = CorpusLookup {
            workspace: workspace(),
            upstream: absent,
            require_upstream: false,
            extra: Vec::new(),
        };
        let corpora = Corpora::locate(&lookup).unwrap();
        let missing = corpora.missing_upstream.expect("the upstream is missing");
        let pinned = CaseManifest::load(&lookup.manifest_path()).unwrap();
        assert_eq!(missing.manifest, pinned);
        assert!(corpora.loaded.iter().all(|corpus| corpus.name != UPSTREAM));
        // The path is reported normalized: the existing part canonical, no `.` or `..`.
        let expected = dir.canonicalize().unwrap().join("spec/conformance");
        assert_eq!(missing.path, expected);
        let reason = missing.reason();
        assert!(
            reason.starts_with("upstream corpus not found at "),
            "{reason}"
        );
        assert!(reason.contains(&expected.display().to_string()), "{reason}");
        assert!(reason.contains(UPSTREAM_ENV), "{reason}");
        assert!(!reason.contains(".."), "{reason}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_upstream_is_an_error_when_required() {
        let lookup = CorpusLookup {
            workspace: workspace(),
            upstream: PathBuf::from("/nonexistent/flametrench-spec/conformance"),
            require_upstream: true,
            extra: Vec::new(),
        };
        let error = Corpora::locate(&lookup).unwrap_err();
        assert!(error.message.contains("CI"), "{error}");
        assert!(!lookup.upstream.exists());
    }

    #[test]
    fn drift_fails_the_lookup_and_says_how_to_regenerate() {
        let workspace = scratch("drift");
        let upstream = workspace.join("upstream");
        write_corpus(&upstream, "0.4.0", &["kept", "removed"]);
        std::fs::create_dir_all(workspace.join("conformance")).unwrap();
        let lookup = CorpusLookup {
            workspace: workspace.clone(),
            upstream: upstream.clone(),
            require_upstream: false,
            extra: Vec::new(),
        };
        // Without a manifest, the message says how to write one.
        let error = Corpora::locate(&lookup).unwrap_err();
        assert!(error.message.contains(REGENERATE_MANIFEST), "{error}");

        let written = lookup.regenerate_manifest().unwrap();
        assert_eq!(written.case_count, 2);
        let corpora = Corpora::locate(&lookup).unwrap();
        assert!(corpora.missing_upstream.is_none());
        assert_eq!(corpora.loaded[0].name, UPSTREAM);

        write_corpus(&upstream, "0.5.0", &["kept", "added"]);
        let error = Corpora::locate(&lookup).unwrap_err();
        for needle in [
            "spec_version: pinned 0.4.0, the corpus declares 0.5.0",
            "pinned but not in the corpus: fixtures/tenancy/sample.json: removed (1 case)",
            "in the corpus but not pinned: fixtures/tenancy/sample.json: added (1 case)",
            REGENERATE_MANIFEST,
        ] {
            assert!(error.message.contains(needle), "`{needle}` in {error}");
        }
        let drift = written.drift(&Corpus::load(&upstream).unwrap());
        assert_eq!(drift.missing[0].cases, ["removed"]);
        assert_eq!(drift.unpinned[0].cases, ["added"]);

        // Reordering the cases is no drift.
        write_corpus(&upstream, "0.4.0", &["removed", "kept"]);
        assert!(written.drift(&Corpus::load(&upstream).unwrap()).is_empty());
        let _ = std::fs::remove_dir_all(&workspace);
    }

    #[test]
    fn an_inconsistent_manifest_is_rejected() {
        let dir = scratch("inconsistent");
        let path = dir.join("manifest.json");
        let mut manifest = CaseManifest {
            about: String::new(),
            spec_version: None,
            case_count: 3,
            files: vec![PinnedFile {
                path: "fixtures/tenancy/a.json".into(),
                cases: vec!["one".into(), "two".into()],
            }],
        };
        manifest.write(&path).unwrap();
        assert!(CaseManifest::load(&path).is_err());
        manifest.case_count = 2;
        manifest.files[0].cases[1] = "one".into();
        manifest.write(&path).unwrap();
        assert!(CaseManifest::load(&path).is_err());
        manifest.files[0].cases[1] = "two".into();
        manifest.write(&path).unwrap();
        assert_eq!(CaseManifest::load(&path).unwrap(), manifest);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn extra_corpora_load_after_the_project_named_by_their_path() {
        let dir = scratch("extra");
        write_corpus(&dir, "0.4.0", &["mine"]);
        let lookup = CorpusLookup {
            workspace: workspace(),
            upstream: PathBuf::from("/nonexistent/flametrench-spec/conformance"),
            require_upstream: false,
            extra: vec![dir.clone()],
        };
        let corpora = Corpora::locate(&lookup).unwrap();
        let names: Vec<&str> = corpora.loaded.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["project", dir.display().to_string().as_str()]);
        assert_eq!(corpora.loaded[1].case_count(), 1);
        let missing = CorpusLookup {
            extra: vec![dir.join("absent")],
            ..lookup
        };
        assert!(Corpora::locate(&missing).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_corpus_never_empties_the_manifest() {
        let workspace = scratch("empty");
        std::fs::create_dir_all(workspace.join("conformance")).unwrap();
        let lookup = CorpusLookup {
            upstream: workspace.clone(),
            workspace: workspace.clone(),
            require_upstream: false,
            extra: Vec::new(),
        };
        assert!(lookup.regenerate_manifest().is_err());
        assert!(!lookup.manifest_path().exists());
        let _ = std::fs::remove_dir_all(&workspace);
    }

    #[test]
    fn normalize_resolves_dots_lexically_past_what_exists() {
        let base = scratch("normalize");
        std::fs::create_dir_all(base.join("real")).unwrap();
        let canonical = base.canonicalize().unwrap();
        assert_eq!(
            normalize(&base.join("real/../real/.")),
            canonical.join("real")
        );
        assert_eq!(
            normalize(&base.join("real/../missing/./a/../b")),
            canonical.join("missing/b")
        );
        assert_eq!(
            normalize(Path::new("/nonexistent/x/../conformance")),
            PathBuf::from("/nonexistent/conformance")
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
