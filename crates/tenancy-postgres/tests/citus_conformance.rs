//! Runs the upstream and project conformance corpora against the PostgreSQL store on Citus, in
//! the distributed layout, three ways as `conformance` does on one node: over a pool (a fresh
//! schema per case), inside a tokio-postgres transaction and inside a deadpool transaction (each
//! case in its own transaction on a shared schema, rolled back at the end). The SQL invariant
//! checker runs after every case where the store ran.
//!
//! The cluster is the tests' own (a coordinator and two workers, `testing::TestCitus`) or the
//! one `CITUS_URL` names. Where neither can be had, the run fails under CI (`CI` set) and is
//! skipped, saying why, elsewhere.

use std::path::Path;
use std::sync::Arc;

use flametrench_conformance::{
    BoxFuture, CaseRun, Corpora, CorpusLookup, Recorder, StoreFactory, TestBody,
    invariant_self_test, run_trials, trials,
};
use flametrench_tenancy_core::SharedClock;
use flametrench_tenancy_postgres::testing::{CitusSchema, TestCitus, violations};
use flametrench_tenancy_postgres::{Layout, PostgresTenancyStore};

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

/// A driver error with the server's message, for the report.
fn server_said(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// Self-test only: run before the check, this leaves every active membership without its
/// tuple.
const BREAK_INVARIANTS: &str = "DELETE FROM tup";

struct CitusFactory {
    cluster: Arc<TestCitus>,
    shared: CitusSchema,
    shared_pool: deadpool_postgres::Pool,
    mode: Mode,
    break_invariants: bool,
}

impl CitusFactory {
    fn store<'t, 'c>(
        &self,
        store: PostgresTenancyStore<'t, 'c>,
        schema: &str,
        clock: SharedClock,
    ) -> Result<PostgresTenancyStore<'t, 'c>, String> {
        Ok(store
            .with_schema(schema)
            .map_err(|e| e.to_string())?
            .with_layout(Layout::Distributed)
            .with_clock(clock))
    }

    async fn run_nested<B: TestBody>(
        &self,
        tx: &mut tokio_postgres::Transaction<'_>,
        clock: SharedClock,
        body: B,
    ) -> Result<CaseRun, String> {
        let outcome = {
            let store = self.store(
                PostgresTenancyStore::in_transaction(tx),
                self.shared.name(),
                clock,
            )?;
            body.run(&store).await
        };
        let check = async {
            if self.break_invariants {
                tx.batch_execute(BREAK_INVARIANTS).await?;
            }
            violations(&*tx).await
        }
        .await
        .map_err(server_said);
        Ok(CaseRun::checked(outcome, check))
    }
}

impl StoreFactory for CitusFactory {
    fn name(&self) -> String {
        match self.mode {
            Mode::Pool => "citus-pool",
            Mode::TokioTransaction => "citus-tx",
            Mode::DeadpoolTransaction => "citus-deadpool-tx",
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
                    let schema = self
                        .cluster
                        .fresh_schema()
                        .await
                        .map_err(|e| e.to_string())?;
                    let pool = schema.pool(4).map_err(|e| e.to_string())?;
                    let store =
                        self.store(PostgresTenancyStore::new(pool), schema.name(), clock)?;
                    let outcome = body.run(&store).await;
                    let client = schema.connect().await.map_err(|e| e.to_string())?;
                    let check = async {
                        if self.break_invariants {
                            client.batch_execute(BREAK_INVARIANTS).await?;
                        }
                        violations(&client).await
                    };
                    let run = CaseRun::checked(outcome, check.await.map_err(server_said));
                    drop(store);
                    client
                        .batch_execute(&format!("DROP SCHEMA {} CASCADE", schema.name()))
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(run)
                }
                Mode::TokioTransaction => {
                    let mut client = self.shared.connect().await.map_err(|e| e.to_string())?;
                    let mut tx = client.transaction().await.map_err(|e| e.to_string())?;
                    let run = self.run_nested(&mut tx, clock, body).await?;
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(run)
                }
                Mode::DeadpoolTransaction => {
                    let mut object = self.shared_pool.get().await.map_err(|e| e.to_string())?;
                    let mut tx = object.transaction().await.map_err(|e| e.to_string())?;
                    let run = self.run_nested(&mut tx, clock, body).await?;
                    tx.rollback().await.map_err(|e| e.to_string())?;
                    Ok(run)
                }
            }
        })
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
    let cluster = match runtime.block_on(TestCitus::shared()) {
        Ok(cluster) => cluster,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping the Citus conformance run: {error}");
            return;
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1)
        }
    };
    let shared = runtime
        .block_on(cluster.fresh_schema())
        .expect("a shared schema");
    let shared_pool = shared.pool(8).expect("a pool");
    let factory = |mode, break_invariants| CitusFactory {
        cluster: cluster.clone(),
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
    conclusion.exit();
}
