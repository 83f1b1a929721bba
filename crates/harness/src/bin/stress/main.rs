//! `stress`: many clients run a random mix of every operation, valid and invalid, against a few
//! orgs so they collide; the invariants are checked at checkpoints and at the end. On
//! PostgreSQL the server can be restarted in the middle of a checkpoint (`--restart`) and client
//! backends terminated while the clients work (`--kill-backends-ms`).
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use flametrench_harness::Store;
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::testing::{InvariantChecker, TestCitus, TestPostgres};
use flametrench_tenancy_postgres::{Layout, PostgresTenancyStore};

mod kill;
mod mix;
mod tally;

/// Many clients run a random mix of operations on a few orgs; invariants are checked.
#[derive(Parser)]
struct Cli {
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
    /// With --kill-backends-ms N: draw each interval uniformly from N..=M ms instead.
    #[arg(long)]
    kill_backends_max_ms: Option<u64>,
    /// Connections in the PostgreSQL store's pool (default: one per client).
    #[arg(long)]
    pool_size: Option<usize>,
    /// Fail the run when more than this percentage of the writes end
    /// `storage.commit_outcome_unknown` (not checked when absent).
    #[arg(long)]
    max_unknown_percent: Option<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flametrench_harness::block_on("stress failed", async move {
        let mut clean = true;
        if cli.store.memory() {
            clean &= memory(&cli).await;
        }
        if cli.store.postgres() {
            match postgres(&cli).await {
                Ok(ok) => clean &= ok,
                Err(error) => {
                    eprintln!("postgres stress could not run: {error}");
                    clean = false;
                }
            }
        }
        if cli.store.citus() {
            match citus(&cli).await {
                Ok(ok) => clean &= ok,
                Err(error) => {
                    eprintln!("citus stress could not run: {error}");
                    clean = false;
                }
            }
        }
        Ok(clean)
    })
}

/// The memory store, its snapshot checked at every checkpoint; whether the run was clean.
async fn memory(cli: &Cli) -> bool {
    let memory = Arc::new(InMemoryTenancyStore::new());
    let checked = memory.clone();
    let tally = mix::run(memory, cli.clients, cli.seconds, cli.seed, || {
        let snapshot = checked.snapshot();
        async move { snapshot.check_invariants() }
    })
    .await;
    tally.print("memory");
    tally.violations.is_empty() && tally.untyped.is_empty()
}

/// The PostgreSQL store over a pool, checked by the SQL invariant checker at every checkpoint,
/// with the restart and the backend kills asked for; whether the run was clean.
async fn postgres(cli: &Cli) -> Result<bool, String> {
    let server = Arc::new(TestPostgres::start().await.map_err(|e| e.to_string())?);
    let database = server.fresh_database().await.map_err(|e| e.to_string())?;
    let store = Arc::new(PostgresTenancyStore::new(
        database
            .pool(cli.pool_size.unwrap_or(cli.clients).max(1))
            .map_err(|e| e.to_string())?,
    ));
    // The checker survives the restart: it reconnects and checks again, and a check that
    // cannot complete within its budget is reported as a failure naming its cause.
    let checker = Arc::new(tokio::sync::Mutex::new(InvariantChecker::new(
        database.clone(),
    )));
    // With --restart, the server restarts in the middle of the first checkpoint, after its
    // third query, while the clients keep working: the worst moment for the checker, forced
    // every time rather than left to timing.
    let restart_due = Arc::new(AtomicBool::new(cli.restart));
    let killer = (cli.kill_backends_ms > 0).then(|| {
        let most = cli.kill_backends_max_ms.unwrap_or(cli.kill_backends_ms);
        tokio::spawn(kill::kill_backends(
            vec![database.config()],
            (
                Duration::from_millis(cli.kill_backends_ms),
                Duration::from_millis(most.max(cli.kill_backends_ms)),
            ),
            Instant::now() + Duration::from_secs(cli.seconds),
        ))
    });
    let mut tally = mix::run(store, cli.clients, cli.seconds, cli.seed, || {
        let checker = checker.clone();
        let server = server.clone();
        let restart_due = restart_due.clone();
        async move {
            let checked = checker
                .lock()
                .await
                .check_with(|_, query| {
                    let due = query == 2 && restart_due.swap(false, Ordering::Relaxed);
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
    tally.missing = Some(kill::missing_rows(&database.config(), &tally.created).await?);
    tally.print("postgres (pool)");
    Ok(judge(cli, &tally))
}

/// Whether a PostgreSQL run was clean: no broken invariant, no untyped error, no row reported
/// created that is not there, and no more unknown outcomes than asked.
fn judge(cli: &Cli, tally: &tally::Tally) -> bool {
    let unknown_ok = cli.max_unknown_percent.is_none_or(|most| {
        let within = tally.unknown_percent() <= most;
        if !within {
            println!(
                "FAILED: {:.3} % of the writes ended with an unknown outcome (at most {most} %)",
                tally.unknown_percent()
            );
        }
        within
    });
    unknown_ok
        && tally.violations.is_empty()
        && tally.untyped.is_empty()
        && tally.missing.as_ref().is_some_and(Vec::is_empty)
}

/// The PostgreSQL store on Citus in the distributed layout, over a pool to the coordinator,
/// checked at every checkpoint, with backends of the coordinator and of the workers terminated
/// as asked (`--restart` does not apply); whether the run was clean.
async fn citus(cli: &Cli) -> Result<bool, String> {
    let cluster = TestCitus::start().await.map_err(|e| e.to_string())?;
    let schema = cluster.fresh_schema().await.map_err(|e| e.to_string())?;
    let store = PostgresTenancyStore::new(
        schema
            .pool(cli.pool_size.unwrap_or(cli.clients).max(1))
            .map_err(|e| e.to_string())?,
    )
    .with_schema(schema.name())
    .map_err(|e| e.to_string())?
    .with_layout(Layout::Distributed);
    let checker = Arc::new(tokio::sync::Mutex::new(InvariantChecker::connecting(
        schema.config(),
    )));
    let killer = (cli.kill_backends_ms > 0).then(|| {
        let most = cli.kill_backends_max_ms.unwrap_or(cli.kill_backends_ms);
        tokio::spawn(kill::kill_backends(
            cluster.node_configs(),
            (
                Duration::from_millis(cli.kill_backends_ms),
                Duration::from_millis(most.max(cli.kill_backends_ms)),
            ),
            Instant::now() + Duration::from_secs(cli.seconds),
        ))
    });
    let mut tally = mix::run(Arc::new(store), cli.clients, cli.seconds, cli.seed, || {
        let checker = checker.clone();
        async move {
            match checker.lock().await.check().await {
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
    tally.missing = Some(kill::missing_rows(&schema.config(), &tally.created).await?);
    tally.print("citus (pool)");
    Ok(judge(cli, &tally))
}
