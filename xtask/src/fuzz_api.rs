//! `cargo xtask fuzz-api`: schemathesis against the example service, on the memory store and on
//! PostgreSQL (the tests' throwaway cluster, from the harness's `test-postgres`), from the
//! OpenAPI bundle of [`crate::openapi`].
//!
//! Two runs per store: every served operation as a user (the default token is the user's id),
//! and `GET /orgs` as the system caller, the only caller it serves (ADR 0025). The tuple writes
//! are left out: the service answers them 501 on purpose, which schemathesis counts as a server
//! error (the service's tests hold the 501). Any failure outside the committed baseline fails
//! the run.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Store;

/// The committed baseline: the findings accepted, each an undocumented status that is the
/// SDK's documented code for its error, each with a test of the service's.
pub(crate) const BASELINE: &str = "examples/service/fuzz/baseline.json";

/// The hooks module that adds the spec's input rules the schemas leave out, and its folder.
const HOOKS: (&str, &str) = ("flametrench_hooks", "examples/service/fuzz");

/// The schemathesis executable: `SCHEMATHESIS`, else the virtual environment `.ci/run` makes.
const SCHEMATHESIS_ENV: &str = "SCHEMATHESIS";
const VENV_ST: &str = "target/schemathesis-venv/bin/st";

/// The user the fuzzing acts as (its token is its id) and the system caller's token.
const USER: &str = "usr_0190f2a81b3c7abc8123456789abcdef";
const SYSTEM_TOKEN: &str = "fuzz-system-token";

/// How long one schemathesis run may take before it is stopped and counted as failed.
const RUN_BOUND: Duration = Duration::from_secs(600);

/// What to run.
pub(crate) struct Options {
    /// Which stores.
    pub(crate) store: Store,
    /// schemathesis's `--max-examples`.
    pub(crate) max_examples: u32,
    /// schemathesis's `--seed`.
    pub(crate) seed: u64,
    /// Merge this run's failures into the baseline instead of failing on them.
    pub(crate) update_baseline: bool,
}

/// Runs the fuzzing; whether every run passed.
pub(crate) fn run(options: &Options) -> bool {
    match try_run(options) {
        Ok(passed) => passed,
        Err(error) => {
            eprintln!("fuzz-api: {error}");
            false
        }
    }
}

fn try_run(options: &Options) -> Result<bool, String> {
    if options.store == Store::Citus {
        return Err(
            "the example service runs on the memory store or on PostgreSQL; \
                    --store memory, postgres or all"
                .to_owned(),
        );
    }
    let workspace = std::fs::canonicalize(crate::workspace()).map_err(|error| error.to_string())?;
    let baseline = workspace.join(BASELINE);
    if !options.update_baseline && !baseline.exists() {
        // schemathesis would make an empty one and accept every failure into it.
        return Err(format!(
            "{} not found (--update-baseline makes it)",
            baseline.display()
        ));
    }
    let bundle = crate::openapi::write(&workspace, &crate::openapi::folder(&workspace))?;
    println!("OpenAPI bundle: {}", bundle.display());
    let st = match std::env::var_os(SCHEMATHESIS_ENV) {
        Some(path) => PathBuf::from(path),
        None => workspace.join(VENV_ST),
    };
    if !st.exists() {
        return Err(format!(
            "{} not found: set {SCHEMATHESIS_ENV}, or make the environment as .ci/run does \
             (python3 -m venv target/schemathesis-venv && \
             target/schemathesis-venv/bin/pip install schemathesis==4.32.5)",
            st.display()
        ));
    }
    let built = crate::succeeds(crate::cargo().args([
        "build",
        "--quiet",
        "-p",
        "flametrench-example-service",
        "-p",
        "flametrench-harness",
        "--bin",
        "flametrench-example-service",
        "--bin",
        "test-postgres",
    ]));
    if !built {
        return Err("the build failed".to_owned());
    }
    let bin = target_dir(&workspace).join("debug");
    let reports = target_dir(&workspace).join("fuzz-api");
    std::fs::create_dir_all(&reports).map_err(|error| error.to_string())?;
    let mut passed = true;
    for store in [Store::Memory, Store::Postgres] {
        if options.store != Store::All && options.store != store {
            continue;
        }
        let name = if store == Store::Memory {
            "memory"
        } else {
            "postgres"
        };
        let database = match store {
            Store::Postgres => Some(Database::start(&bin)?),
            _ => None,
        };
        let service = Service::start(&bin, &reports, name, database.as_ref().map(|db| &*db.url))?;
        for (run, token, filter) in [
            (
                "user",
                USER,
                [
                    "--exclude-operation-id",
                    "createTuple",
                    "--exclude-operation-id",
                    "deleteTuple",
                    "--exclude-operation-id",
                    "listOrgs",
                ]
                .as_slice(),
            ),
            (
                "system",
                SYSTEM_TOKEN,
                ["--include-operation-id", "listOrgs"].as_slice(),
            ),
        ] {
            println!("== schemathesis, {name} store, as the {run} caller");
            let mut command = Command::new(&st);
            command
                // schemathesis keeps its state in `.schemathesis/` of its directory.
                .current_dir(&reports)
                .arg("run")
                .arg(&bundle)
                .args(["--url", &format!("http://127.0.0.1:{}/v1", service.port)])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args(["--phases", "examples,fuzzing,stateful"])
                .args(["--checks", "all"])
                .args(["--seed", &options.seed.to_string()])
                .args(["--max-examples", &options.max_examples.to_string()])
                .args(["--workers", "1", "--request-timeout", "10"])
                .arg("--baseline")
                .arg(&baseline)
                .args(["--report", "junit"])
                .arg("--report-junit-path")
                .arg(reports.join(format!("{name}-{run}.xml")))
                .args(filter)
                .env("SCHEMATHESIS_TELEMETRY", "false")
                .env("SCHEMATHESIS_HOOKS", HOOKS.0)
                .env("FLAMETRENCH_FUZZ_USER", USER)
                .env("PYTHONPATH", workspace.join(HOOKS.1));
            if options.update_baseline {
                command.arg("--baseline-update");
            }
            let ok = bounded(&mut command, RUN_BOUND)?;
            if !ok {
                println!("failed: schemathesis, {name} store, as the {run} caller");
                passed = false;
            }
        }
        drop(service);
        drop(database);
    }
    Ok(passed)
}

/// Where cargo builds: `CARGO_TARGET_DIR`, else the workspace's `target/`.
fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| workspace.join(dir))
        .unwrap_or_else(|| workspace.join("target"))
}

/// Runs `command`, stopping it after `bound`; whether it succeeded in time.
fn bounded(command: &mut Command, bound: Duration) -> Result<bool, String> {
    let mut child = command.spawn().map_err(|error| error.to_string())?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            return Ok(status.success());
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            println!("stopped after {} s", bound.as_secs());
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The throwaway cluster of `test-postgres`, kept while its standard input is open.
struct Database {
    child: Child,
    url: String,
}

impl Database {
    fn start(bin: &Path) -> Result<Self, String> {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.is_empty()
        {
            return Err(format!(
                "DATABASE_URL is set ({url}): fuzz-api runs on its own throwaway cluster; unset it"
            ));
        }
        let mut child = Command::new(bin.join("test-postgres"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| format!("test-postgres: {error}"))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let url = line.trim().to_owned();
        if url.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("test-postgres did not start a cluster".to_owned());
        }
        Ok(Self { child, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Closing its standard input stops the cluster and removes its files.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The example service on a free port, its standard error in `<reports>/<store>-service.log`.
struct Service {
    child: Child,
    port: u16,
}

impl Service {
    fn start(bin: &Path, reports: &Path, store: &str, url: Option<&str>) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(|error| error.to_string())?;
        let log = std::fs::File::create(reports.join(format!("{store}-service.log")))
            .map_err(|error| error.to_string())?;
        let mut command = Command::new(bin.join("flametrench-example-service"));
        command
            .env("PORT", port.to_string())
            .env("FLAMETRENCH_SYSTEM_TOKEN", SYSTEM_TOKEN)
            .env_remove("FLAMETRENCH_TOKENS")
            .env_remove("FLAMETRENCH_TOKENS_FILE")
            .env("DATABASE_URL", url.unwrap_or(""))
            .stdout(Stdio::null())
            .stderr(log);
        let child = command.spawn().map_err(|error| error.to_string())?;
        let mut service = Self { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = service.child.try_wait() {
                return Err(format!(
                    "the service exited ({status}); see its log in {}",
                    reports.display()
                ));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err("the service did not listen within 60 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(service)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
