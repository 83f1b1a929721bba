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

/// The package and test target that run each store: the memory store, the PostgreSQL store
/// on one node, and on Citus in the distributed layout (a target `cargo test` leaves out, run
/// here: it starts a Citus cluster of its own).
const TARGETS: [(Store, &str, &str); 3] = [
    (Store::Memory, "flametrench-tenancy-memory", "conformance"),
    (
        Store::Postgres,
        "flametrench-tenancy-postgres",
        "conformance",
    ),
    (
        Store::Citus,
        "flametrench-tenancy-postgres",
        "citus_conformance",
    ),
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
    let mut dirs = Vec::new();
    for dir in fixtures {
        dirs.push(absolute(dir));
    }
    let joined = match std::env::join_paths(&dirs) {
        Ok(joined) => joined,
        Err(error) => {
            eprintln!("--fixtures: {error}");
            return false;
        }
    };
    let mut passed = true;
    for (target, package, test) in TARGETS {
        if store != Store::All && store != target {
            continue;
        }
        let mut command = crate::cargo();
        command
            .args(["test", "-p", package, "--test", test, "--no-fail-fast"])
            .args(["--", "--quiet"])
            .env(REPORT_ENV, &report);
        if !fixtures.is_empty() {
            command.env(FIXTURES_ENV, &joined);
        }
        passed &= crate::succeeds(&mut command);
    }
    if json.is_some() {
        println!("report written to {}", report.display());
    } else {
        let _ = std::fs::remove_file(&report);
    }
    passed
}
