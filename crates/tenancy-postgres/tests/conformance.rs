//! Runs the upstream and project conformance corpora against the PostgreSQL store three ways:
//! over a pool (a fresh database per case), inside a tokio-postgres transaction and inside a
//! deadpool transaction (each case in its own transaction, rolled back at the end).

use std::path::Path;
use std::sync::Arc;

use flametrench_conformance::{
    BoxFuture, CaseOutcome, Corpora, CorpusLookup, StoreFactory, TestBody, trials,
};
use flametrench_tenancy_core::SharedClock;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, TestPostgres};

#[derive(Clone, Copy)]
enum Mode {
    Pool,
    TokioTransaction,
    DeadpoolTransaction,
}

struct PostgresFactory {
    server: Arc<TestPostgres>,
    shared: TestDatabase,
    shared_pool: deadpool_postgres::Pool,
    mode: Mode,
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
    ) -> BoxFuture<'a, Result<CaseOutcome, String>> {
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
                    Ok(body.run(&store).await)
                }
                Mode::TokioTransaction => {
                    let mut client = self.shared.connect().await.map_err(|e| e.to_string())?;
                    let mut tx = client.transaction().await.map_err(|e| e.to_string())?;
                    let outcome = run_nested(&mut tx, clock, body).await;
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(outcome)
                }
                Mode::DeadpoolTransaction => {
                    let mut object = self.shared_pool.get().await.map_err(|e| e.to_string())?;
                    let mut tx = object.transaction().await.map_err(|e| e.to_string())?;
                    let outcome = run_nested(&mut tx, clock, body).await;
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(outcome)
                }
            }
        })
    }
}

/// Runs a test body against a store nested in the caller's transaction `tx`.
async fn run_nested<B: TestBody>(
    tx: &mut tokio_postgres::Transaction<'_>,
    clock: SharedClock,
    body: B,
) -> CaseOutcome {
    let store = PostgresTenancyStore::in_transaction(tx).with_clock(clock);
    body.run(&store).await
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
    let mut all = Vec::new();
    for mode in [
        Mode::Pool,
        Mode::TokioTransaction,
        Mode::DeadpoolTransaction,
    ] {
        let factory = PostgresFactory {
            server: server.clone(),
            shared: shared.clone(),
            shared_pool: shared_pool.clone(),
            mode,
        };
        all.extend(trials(Arc::new(factory), &corpora, runtime.clone()));
    }
    let conclusion = libtest_mimic::run(&arguments, all);
    drop(shared_pool);
    drop(server);
    conclusion.exit();
}
