//! Project automation: `cargo xtask conformance` runs the fixture corpora against every store;
//! `cargo xtask ci` runs the gates CI runs.
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

mod bench;
mod kill;
mod lock_cost;
mod stress;

#[global_allocator]
static ALLOCATOR: bench::CountingAlloc = bench::CountingAlloc;

use clap::{Parser, Subcommand, ValueEnum};
use flametrench_conformance::{
    BoxFuture, CaseOutcome, Corpus, CorpusReport, StoreFactory, TestBody, locate_corpora,
    run_corpus,
};
use flametrench_tenancy_core::SharedClock;
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, TestPostgres};

#[derive(Parser)]
#[command(about = "Flametrench Rust SDK project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the conformance corpora (upstream, the project's, and any --fixtures) against stores.
    Conformance {
        /// Which stores to run.
        #[arg(long, value_enum, default_value = "all")]
        store: Store,
        /// Another corpus directory in the upstream layout (repeatable).
        #[arg(long = "fixtures")]
        fixtures: Vec<PathBuf>,
        /// Write the full report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Many clients run a random mix of operations on a few orgs; invariants are checked.
    Stress {
        /// Which stores to run.
        #[arg(long, value_enum, default_value = "all")]
        store: Store,
        /// Concurrent clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Seconds per store.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Seed of the random mix.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Restart the PostgreSQL server in the middle of the first checkpoint, 5 s in
        /// (throwaway cluster only).
        #[arg(long)]
        restart: bool,
        /// Terminate a random client backend every this many milliseconds (0: never).
        #[arg(long, default_value_t = 0)]
        kill_backends_ms: u64,
    },
    /// Benchmark both stores: latency, throughput, round trips, ratios to a one-round-trip floor.
    Bench {
        /// Which stores to measure.
        #[arg(long, value_enum, default_value = "all")]
        store: Store,
        /// Timed calls per operation.
        #[arg(long, default_value_t = 300)]
        iterations: usize,
        /// Memberships of the big org in PostgreSQL (for list_members).
        #[arg(long, default_value_t = 100_000)]
        big: usize,
        /// Memory store sizes (memberships in one org) to measure, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
        memory_sizes: Vec<usize>,
        /// Calls per operation counted under callgrind for instructions per call (0 skips).
        #[arg(long, default_value_t = 200)]
        instructions: usize,
        /// Also measure every PostgreSQL operation through a proxy adding this round-trip time,
        /// in microseconds, beside the same proxy adding none (0 skips it).
        #[arg(long, default_value_t = 0)]
        rtt_us: u64,
    },
    /// What the per-org lock rows cost each PostgreSQL write, side by side in one run.
    BenchLockCost {
        /// Timed calls per operation, store and round.
        #[arg(long, default_value_t = 100)]
        iterations: usize,
        /// Rounds per operation.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Internal: the memory store run that `bench` starts under callgrind.
    #[command(hide = true)]
    BenchInstructionsChild {
        #[arg(long)]
        size: usize,
        #[arg(long)]
        iterations: usize,
    },
    /// Package every crate and build each packaged crate on its own.
    Package,
    /// Run CI: format, clippy, docs, the README's test command, conformance, the stress runs,
    /// the examples and packaging (`.ci/run` calls this after installing what is missing).
    Ci,
}

/// Runs a benchmark future on a multi-threaded runtime; false (after saying why) on failure.
fn bench_runtime(job: impl std::future::Future<Output = Result<(), String>>) -> bool {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => match runtime.block_on(job) {
            Ok(()) => true,
            Err(error) => {
                eprintln!("bench failed: {error}");
                false
            }
        },
        Err(error) => {
            eprintln!("{error}");
            false
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Store {
    Memory,
    Postgres,
    All,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct MemoryFactory;

impl StoreFactory for MemoryFactory {
    fn name(&self) -> String {
        "memory".into()
    }

    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseOutcome, String>> {
        Box::pin(async move {
            let store = InMemoryTenancyStore::with_clock(clock);
            Ok(body.run(&store).await)
        })
    }
}

enum PgMode {
    Pool,
    Nested,
}

struct PostgresFactory {
    server: Arc<TestPostgres>,
    shared: TestDatabase,
    mode: PgMode,
}

impl StoreFactory for PostgresFactory {
    fn name(&self) -> String {
        match self.mode {
            PgMode::Pool => "postgres (pool)".into(),
            PgMode::Nested => "postgres (caller transaction)".into(),
        }
    }

    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseOutcome, String>> {
        Box::pin(async move {
            match self.mode {
                PgMode::Pool => {
                    let database = self
                        .server
                        .fresh_database()
                        .await
                        .map_err(|e| e.to_string())?;
                    let store =
                        PostgresTenancyStore::new(database.pool(4).map_err(|e| e.to_string())?)
                            .with_clock(clock);
                    Ok(body.run(&store).await)
                }
                PgMode::Nested => {
                    let mut client = self.shared.connect().await.map_err(|e| e.to_string())?;
                    let mut tx = client.transaction().await.map_err(|e| e.to_string())?;
                    let outcome = {
                        let store = PostgresTenancyStore::in_transaction(&mut tx).with_clock(clock);
                        body.run(&store).await
                    };
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(outcome)
                }
            }
        })
    }
}

async fn conformance(store: Store, extra: &[PathBuf], json: Option<&Path>) -> Result<bool, String> {
    let mut corpora = locate_corpora(&workspace()).map_err(|e| e.to_string())?;
    for dir in extra {
        corpora.push(Corpus::load(dir).map_err(|e| e.to_string())?);
    }
    for corpus in &corpora {
        println!(
            "corpus {}: {} files, {} cases ({})",
            corpus.name,
            corpus.files.len(),
            corpus.case_count(),
            corpus.root.display()
        );
    }
    let mut reports: Vec<CorpusReport> = Vec::new();
    if matches!(store, Store::Memory | Store::All) {
        reports.push(run_corpus(&MemoryFactory, &corpora).await);
    }
    if matches!(store, Store::Postgres | Store::All) {
        let server = Arc::new(TestPostgres::start().await.map_err(|e| e.to_string())?);
        let shared = server.fresh_database().await.map_err(|e| e.to_string())?;
        for mode in [PgMode::Pool, PgMode::Nested] {
            let factory = PostgresFactory {
                server: server.clone(),
                shared: shared.clone(),
                mode,
            };
            reports.push(run_corpus(&factory, &corpora).await);
        }
    }
    let (mut passed, mut failed, mut must_failed) = (0, 0, 0);
    for report in &reports {
        println!("\n{}", report.render());
        passed += report.passed();
        failed += report.failed();
        must_failed += report.must_failures();
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&reports).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    if failed > must_failed {
        println!(
            "warning: {} SHOULD/MAY case(s) failed",
            failed - must_failed
        );
    }
    println!("{passed} passed, {failed} failed");
    Ok(must_failed == 0)
}

/// The CI steps, in order: the one definition of CI (`.ci/run` installs what is missing, then
/// runs `cargo xtask ci`). The tests step is the README's test command.
/// One CI step: what it is, cargo's arguments, and an environment variable to set.
type Step = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

const CI_STEPS: &[Step] = &[
    ("format", &["fmt", "--all", "--", "--check"], None),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        None,
    ),
    (
        "docs",
        &["doc", "--workspace", "--no-deps"],
        Some(("RUSTDOCFLAGS", "-D warnings")),
    ),
    (
        "tests (the README's test command)",
        &["test", "--workspace"],
        None,
    ),
    (
        "conformance",
        &["xtask", "conformance", "--store", "all"],
        None,
    ),
    (
        "stress, the server restarted in the middle of a checkpoint",
        &[
            "xtask",
            "stress",
            "--store",
            "all",
            "--clients",
            "8",
            "--seconds",
            "10",
            "--seed",
            "1",
            "--restart",
        ],
        None,
    ),
    (
        "stress, a backend killed every 50 ms",
        &[
            "xtask",
            "stress",
            "--store",
            "postgres",
            "--clients",
            "8",
            "--seconds",
            "10",
            "--seed",
            "2",
            "--kill-backends-ms",
            "50",
        ],
        None,
    ),
    ("examples", &["run", "--example", "quickstart"], None),
    (
        "examples",
        &[
            "run",
            "-p",
            "flametrench-tenancy-postgres",
            "--example",
            "postgres",
        ],
        None,
    ),
    (
        "examples",
        &[
            "run",
            "-p",
            "flametrench-tenancy-postgres",
            "--example",
            "bootstrap",
        ],
        None,
    ),
    ("packaging", &["xtask", "package"], None),
];

fn ci() -> bool {
    // The cargo that runs xtask, so every step uses the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for (what, args, env) in CI_STEPS {
        println!("== {what}: cargo {}", args.join(" "));
        let mut command = Command::new(&cargo);
        command.args(*args).current_dir(workspace());
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        if !command.status().is_ok_and(|status| status.success()) {
            println!("failed: {what}: cargo {}", args.join(" "));
            return false;
        }
    }
    true
}

async fn stress_stores(
    store: Store,
    clients: usize,
    seconds: u64,
    seed: u64,
    restart: bool,
    kill_backends_ms: u64,
) -> bool {
    let mut clean = true;
    if matches!(store, Store::Memory | Store::All) {
        let memory = Arc::new(InMemoryTenancyStore::new());
        let checked = memory.clone();
        let tally = stress::run(memory, clients, seconds, seed, || {
            let snapshot = checked.snapshot();
            async move { snapshot.check_invariants() }
        })
        .await;
        tally.print("memory");
        clean &= tally.violations.is_empty() && tally.untyped.is_empty();
    }
    if matches!(store, Store::Postgres | Store::All) {
        let outcome = async {
            let server = Arc::new(TestPostgres::start().await.map_err(|e| e.to_string())?);
            let database = server.fresh_database().await.map_err(|e| e.to_string())?;
            let store = Arc::new(PostgresTenancyStore::new(
                database.pool(clients.max(1)).map_err(|e| e.to_string())?,
            ));
            // The checker survives the restart: it reconnects and checks again, and a check
            // that cannot complete within its budget is reported as a failure naming its cause.
            let checker = Arc::new(tokio::sync::Mutex::new(
                flametrench_tenancy_postgres::testing::InvariantChecker::new(database.clone()),
            ));
            // With --restart, the server restarts in the middle of the first checkpoint, after
            // its third query, while the clients keep working: the worst moment for the
            // checker, forced every time rather than left to timing.
            let restart_due = Arc::new(std::sync::atomic::AtomicBool::new(restart));
            let killer = (kill_backends_ms > 0).then(|| {
                tokio::spawn(kill::kill_backends(
                    database.clone(),
                    std::time::Duration::from_millis(kill_backends_ms),
                    std::time::Instant::now() + std::time::Duration::from_secs(seconds),
                ))
            });
            let mut tally = stress::run(store, clients, seconds, seed, || {
                let checker = checker.clone();
                let server = server.clone();
                let restart_due = restart_due.clone();
                async move {
                    let checked = checker
                        .lock()
                        .await
                        .check_with(|_, query| {
                            let due = query == 2
                                && restart_due.swap(false, std::sync::atomic::Ordering::Relaxed);
                            let server = server.clone();
                            async move {
                                if due {
                                    let outcome =
                                        tokio::task::spawn_blocking(move || server.restart()).await;
                                    println!("server restarted during a checkpoint: {outcome:?}");
                                }
                            }
                        })
                        .await;
                    match checked {
                        Ok(checked) => checked.violations,
                        Err(error) => vec![format!("checker failed: {error}")],
                    }
                }
            })
            .await;
            if let Some(killer) = killer {
                let killed = killer.await.map_err(|e| e.to_string())?;
                println!("backends terminated: {killed}");
            }
            tally.missing = Some(kill::missing_rows(&database, &tally.created).await?);
            tally.print("postgres (pool)");
            Ok::<bool, String>(
                tally.violations.is_empty()
                    && tally.untyped.is_empty()
                    && tally.missing.as_ref().is_some_and(Vec::is_empty),
            )
        }
        .await;
        match outcome {
            Ok(ok) => clean &= ok,
            Err(error) => {
                eprintln!("postgres stress could not run: {error}");
                clean = false;
            }
        }
    }
    clean
}

/// `cargo package` verifies each crate by building the packaged sources alone, against the
/// other workspace crates as packaged, so a file a crate needs but does not ship fails here.
fn package() -> bool {
    // Cargo unpacks the packaged workspace crates into its registry cache under their version;
    // a stale copy from an earlier run of the same version would be verified instead of the
    // current sources, so clear both.
    let _ = std::fs::remove_dir_all(workspace().join("target/package"));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    for sources in cargo_home
        .iter()
        .flat_map(|home| [home.join("registry/src"), home.join("registry/cache")])
    {
        for registry in std::fs::read_dir(sources).into_iter().flatten().flatten() {
            for unpacked in std::fs::read_dir(registry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = unpacked.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("flametrench-") || name.starts_with("xtask-") {
                    let _ = std::fs::remove_dir_all(unpacked.path());
                    let _ = std::fs::remove_file(unpacked.path());
                }
            }
        }
    }
    Command::new("cargo")
        .args([
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--allow-dirty",
        ])
        .current_dir(workspace())
        .status()
        .is_ok_and(|status| status.success())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ok = match cli.task {
        Task::Conformance {
            store,
            fixtures,
            json,
        } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("{error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(conformance(store, &fixtures, json.as_deref())) {
                Ok(ok) => ok,
                Err(error) => {
                    eprintln!("error: {error}");
                    false
                }
            }
        }
        Task::Package => package(),
        Task::Bench {
            store,
            iterations,
            big,
            memory_sizes,
            instructions,
            rtt_us,
        } => bench_runtime(bench::run(bench::Settings {
            memory: store != Store::Postgres,
            postgres: store != Store::Memory,
            iterations,
            big,
            memory_sizes,
            instructions,
            rtt_us,
        })),
        Task::BenchLockCost { iterations, rounds } => {
            bench_runtime(lock_cost::run(iterations, rounds))
        }
        Task::BenchInstructionsChild { size, iterations } => {
            bench_runtime(bench::instructions_child(size, iterations))
        }
        Task::Stress {
            store,
            clients,
            seconds,
            seed,
            restart,
            kill_backends_ms,
        } => {
            match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(stress_stores(
                    store,
                    clients,
                    seconds,
                    seed,
                    restart,
                    kill_backends_ms,
                )),
                Err(error) => {
                    eprintln!("{error}");
                    false
                }
            }
        }
        Task::Ci => ci(),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
