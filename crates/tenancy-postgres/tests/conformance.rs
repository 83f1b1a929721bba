//! Runs the upstream and project conformance corpora against the PostgreSQL store three ways:
//! over a pool (a fresh database per case), inside a tokio-postgres transaction and inside a
//! deadpool transaction (each case in its own transaction, rolled back at the end). After every
//! case the SQL invariant checker (`testing::violations`) runs where the store ran: on the
//! case's database, or inside the caller's transaction before its rollback. `self-test::`
//! trials show that a broken invariant fails a case in each mode.

use std::path::Path;
use std::sync::Arc;

use flametrench_conformance::{
    BoxFuture, CaseRun, Corpora, CorpusLookup, Recorder, StoreFactory, TestBody,
    invariant_self_test, run_trials, trials,
};
use flametrench_tenancy_core::SharedClock;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, TestPostgres, violations};

#[derive(Clone, Copy)]
enum Mode {
    Pool,
    TokioTransaction,
    DeadpoolTransaction,
}

const MODES: [Mode; 3] = [
    Mode::Pool,
    Mode::TokioTransaction,
    Mode::DeadpoolTransaction,
];

/// Self-test only: run before the check, this leaves every active membership without its
/// tuple.
const BREAK_INVARIANTS: &str = "DELETE FROM tup";

struct PostgresFactory {
    server: Arc<TestPostgres>,
    shared: TestDatabase,
    shared_pool: deadpool_postgres::Pool,
    mode: Mode,
    /// Self-test only: run [`BREAK_INVARIANTS`] where the check runs, just before it.
    break_invariants: bool,
}

impl StoreFactory for PostgresFactory {
    fn name(&self) -> String {
        match self.mode {
            Mode::Pool => "postgres-pool",
            Mode::TokioTransaction => "postgres-tx",
            Mode::DeadpoolTransaction => "postgres-deadpool-tx",
        }
        .into()
    }

    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseRun, String>> {
        Box::pin(async move {
            match self.mode {
                Mode::Pool => {
                    let database = self
                        .server
                        .fresh_database()
                        .await
                        .map_err(|e| e.to_string())?;
                    let pool = database.pool(4).map_err(|e| e.to_string())?;
                    let store = PostgresTenancyStore::new(pool).with_clock(clock);
                    let outcome = body.run(&store).await;
                    let check = async {
                        let client = database.connect().await.map_err(|e| e.to_string())?;
                        if self.break_invariants {
                            client
                                .batch_execute(BREAK_INVARIANTS)
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        violations(&client).await.map_err(|e| e.to_string())
                    };
                    Ok(CaseRun::checked(outcome, check.await))
                }
                Mode::TokioTransaction => {
                    let mut client = self.shared.connect().await.map_err(|e| e.to_string())?;
                    let mut tx = client.transaction().await.map_err(|e| e.to_string())?;
                    let run = self.run_nested(&mut tx, clock, body).await;
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(run)
                }
                Mode::DeadpoolTransaction => {
                    let mut object = self.shared_pool.get().await.map_err(|e| e.to_string())?;
                    let mut tx = object.transaction().await.map_err(|e| e.to_string())?;
                    let run = self.run_nested(&mut tx, clock, body).await;
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(run)
                }
            }
        })
    }
}

impl PostgresFactory {
    /// Runs a test body against a store nested in the caller's transaction `tx`, then checks
    /// the invariants inside `tx`, where the case's uncommitted rows are visible.
    async fn run_nested<B: TestBody>(
        &self,
        tx: &mut tokio_postgres::Transaction<'_>,
        clock: SharedClock,
        body: B,
    ) -> CaseRun {
        let outcome = {
            let store = PostgresTenancyStore::in_transaction(tx).with_clock(clock);
            body.run(&store).await
        };
        let check = async {
            if self.break_invariants {
                tx.batch_execute(BREAK_INVARIANTS).await?;
            }
            violations(&*tx).await
        };
        CaseRun::checked(outcome, check.await)
    }
}

fn main() {
    let arguments = libtest_mimic::Arguments::from_args();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpora = Corpora::locate(&CorpusLookup::from_env(&workspace)).unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1)
    });
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime"),
    );
    let server = Arc::new(
        runtime
            .block_on(TestPostgres::start())
            .unwrap_or_else(|error| {
                eprintln!("{error}");
                std::process::exit(1)
            }),
    );
    let shared = runtime
        .block_on(server.fresh_database())
        .expect("a shared database");
    let shared_pool = shared.pool(8).expect("a pool");
    let factory = |mode, break_invariants| PostgresFactory {
        server: server.clone(),
        shared: shared.clone(),
        shared_pool: shared_pool.clone(),
        mode,
        break_invariants,
    };
    let recorder = Recorder::default();
    let mut all = Vec::new();
    for mode in MODES {
        all.extend(trials(
            Arc::new(factory(mode, false)),
            &corpora,
            runtime.clone(),
            &recorder,
        ));
        all.push(invariant_self_test(
            Arc::new(factory(mode, true)),
            runtime.clone(),
        ));
    }
    let conclusion = run_trials(&arguments, all, &recorder);
    drop(shared_pool);
    drop(server);
    conclusion.exit();
}
