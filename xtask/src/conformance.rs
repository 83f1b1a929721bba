//! `cargo xtask conformance`: runs the backends' own conformance test targets, the modes
//! `cargo test` runs (memory, memory through the object-safe adapter, and PostgreSQL over a
//! pool, in a tokio-postgres and in a deadpool transaction), and lets the runner print its
//! per-file report and write the JSON one.

use std::path::{Path, PathBuf};

use crate::Store;

/// Where the runner adds its JSON report, and asked to print the per-file tables
/// (`flametrench_conformance::REPORT_ENV`).
pub(crate) const REPORT_ENV: &str = "FLAMETRENCH_CONFORMANCE_REPORT";

/// More corpus directories for the runner, joined like `PATH`
/// (`flametrench_conformance::FIXTURES_ENV`).
pub(crate) const FIXTURES_ENV: &str = "FLAMETRENCH_CONFORMANCE_FIXTURES";

/// The packages whose `conformance` test target runs each store.
const TARGETS: [(Store, &str); 2] = [
    (Store::Memory, "flametrench-tenancy-memory"),
    (Store::Postgres, "flametrench-tenancy-postgres"),
];

/// Runs the conformance targets of `store` over the corpora and `fixtures`; the JSON report
/// goes to `json` when given. Whether every case passed.
pub(crate) fn run(store: Store, fixtures: &[PathBuf], json: Option<&Path>) -> bool {
    // The test targets run in their package's directory: hand them absolute paths.
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let report = match json {
        Some(path) => absolute(path),
        None => std::env::temp_dir().join(format!(
            "flametrench-conformance-{}.json",
            std::process::id()
        )),
    };
    // Each target adds its stores to the report: start from none.
    let _ = std::fs::remove_file(&report);
    let mut command = crate::cargo();
    command.arg("test");
    for (target, package) in TARGETS {
        if store == Store::All || store == target {
            command.args(["-p", package]);
        }
    }
    command
        .args(["--test", "conformance", "--no-fail-fast", "--", "--quiet"])
        .env(REPORT_ENV, &report);
    if !fixtures.is_empty() {
        let dirs: Vec<PathBuf> = fixtures.iter().map(|dir| absolute(dir)).collect();
        match std::env::join_paths(&dirs) {
            Ok(joined) => {
                command.env(FIXTURES_ENV, joined);
            }
            Err(error) => {
                eprintln!("--fixtures: {error}");
                return false;
            }
        }
    }
    let passed = crate::succeeds(&mut command);
    if json.is_some() {
        println!("report written to {}", report.display());
    } else {
        let _ = std::fs::remove_file(&report);
    }
    passed
}
