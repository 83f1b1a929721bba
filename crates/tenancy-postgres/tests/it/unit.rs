//! A transaction from `begin`: the caller's own statements beside the SDK's calls, the
//! public classification of the caller's own errors, and a lost `COMMIT` resolved on the
//! pool's other connections within the store's budget.
//!
//! The commit is made to take its time by a deferred constraint trigger of the test's own
//! table (it sleeps inside `COMMIT`); the test sees the backend asleep in `pg_stat_activity`
//! before it breaks the connection, so no timing decides what is tested.

use std::time::{Duration, Instant};

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{CreateOrg, ErrorKind, RetryScope, TenancyStore};
use flametrench_tenancy_postgres::testing::{PgProxy, TestDatabase, pool_for};
use flametrench_tenancy_postgres::{PostgresTenancyStore, classify};

use crate::support::{database, server};

/// A table whose inserts make `COMMIT` sleep for `seconds`.
async fn slow_commits(db: &TestDatabase, seconds: f64) {
    let client = db.connect().await.expect("client");
    client
        .batch_execute(&format!(
            "CREATE TABLE slow_commit (x int); \
             CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow_commit \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();"
        ))
        .await
        .expect("the slow table");
}

/// The pid of the backend asleep in a `COMMIT`, once there is one.
async fn committing_backend(observer: &tokio_postgres::Client) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = observer
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event = 'PgSleep' AND query = 'COMMIT'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(Instant::now() < deadline, "no COMMIT went to sleep");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    /// The network fails: the server commits, the client never hears it.
    Network,
    /// The backend is terminated inside the `COMMIT`: the transaction rolls back.
    Backend,
}

/// Begins a transaction through a proxy, creates an org and writes a row of the caller's own,
/// commits, and breaks the commit's connection while it sleeps. Returns what `commit`
/// answered and whether the org exists afterwards.
async fn lost_commit(
    db: &TestDatabase,
    how: Break,
    budget: Duration,
) -> (Result<(), flametrench_tenancy_core::TenancyError>, bool) {
    let proxy = PgProxy::start(&db.config()).await.expect("proxy");
    let pool = pool_for(proxy.config_for(&db.config()), 2).expect("pool");
    let store = PostgresTenancyStore::new(pool).with_resolve_budget(budget);
    let observer = db.connect().await.expect("observer");
    let alice = UsrId::new();
    store.ensure_user(alice).await.expect("alice");
    let tx = store.begin().await.expect("begin");
    let org = tx
        .create_org(CreateOrg::new(alice))
        .await
        .expect("create")
        .org
        .id;
    tx.client()
        .await
        .execute("INSERT INTO slow_commit VALUES (1)", &[])
        .await
        .expect("the caller's own row");
    let breaking = async {
        let pid = committing_backend(&observer).await;
        match how {
            Break::Network => proxy.sever_all(),
            Break::Backend => {
                observer
                    .execute("SELECT pg_terminate_backend($1)", &[&pid])
                    .await
                    .expect("terminate");
            }
        }
    };
    let (result, ()) = tokio::join!(tx.commit(), breaking);
    // Whatever the answer, the server settles: wait for the sleeping commit to end.
    let deadline = Instant::now() + Duration::from_secs(20);
    while observer
        .query_opt(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event = 'PgSleep'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .is_some()
    {
        assert!(Instant::now() < deadline, "the commit never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exists = observer
        .query_opt("SELECT 1 FROM org WHERE id = $1", &[&org.as_uuid()])
        .await
        .expect("org")
        .is_some();
    (result, exists)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_is_resolved_as_the_server_decided_it() {
    let server = server().await;

    // The server commits while the client's connection is gone: committed, and said so.
    let db = database(&server).await;
    slow_commits(&db, 0.5).await;
    let (result, exists) = lost_commit(&db, Break::Network, Duration::from_secs(10)).await;
    assert!(result.is_ok(), "a committed unit: {result:?}");
    assert!(exists, "the unit committed");

    // The backend dies inside the COMMIT: rolled back, and said so (a retryable error).
    let db = database(&server).await;
    slow_commits(&db, 0.5).await;
    let (result, exists) = lost_commit(&db, Break::Backend, Duration::from_secs(10)).await;
    let error = result.expect_err("a rolled-back unit");
    assert_eq!(error.code(), "storage.connection_lost", "{error:?}");
    assert!(error.is_retryable());
    assert!(!exists, "the unit rolled back");

    // A budget shorter than the commit's sleep: the server cannot say yet, and the outcome
    // is reported unknown (it then commits).
    let db = database(&server).await;
    slow_commits(&db, 2.0).await;
    let (result, exists) = lost_commit(&db, Break::Network, Duration::from_millis(200)).await;
    let error = result.expect_err("an unresolved commit");
    assert_eq!(error.code(), "storage.commit_outcome_unknown", "{error:?}");
    assert!(exists, "the server committed after the budget ran out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_own_errors_are_classified_as_the_stores() {
    let server = server().await;
    let db = database(&server).await;
    let pool = db.pool(2).expect("pool");
    let store = PostgresTenancyStore::new(pool.clone());
    assert!(store.pool().is_some());
    let alice = UsrId::new();
    store.ensure_user(alice).await.expect("alice");
    let slug = flametrench_tenancy_core::Slug::new("acme").expect("slug");
    store
        .create_org(CreateOrg::new(alice).slug(slug))
        .await
        .expect("org");

    // The reference schema's constraint, hit by the caller's own statement: the SDK's code.
    let client = db.connect().await.expect("client");
    let error = client
        .execute(
            "INSERT INTO org (id, status, slug, created_at, updated_at) \
             VALUES (gen_random_uuid(), 'active', 'acme', now(), now())",
            &[],
        )
        .await
        .map_err(classify)
        .expect_err("a taken slug");
    assert_eq!(error.code(), "conflict.org_slug");

    // A lock timeout inside a transaction: retryable, and what is retried is the transaction.
    let tx = store.begin().await.expect("begin");
    let holder = db.connect().await.expect("holder");
    holder
        .batch_execute("BEGIN; LOCK TABLE org IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let error = {
        let own = tx.client().await;
        own.batch_execute("SET LOCAL lock_timeout = '50ms'")
            .await
            .expect("set");
        own.query("SELECT count(*) FROM org", &[])
            .await
            .map_err(classify)
            .expect_err("a lock timeout")
    };
    holder.batch_execute("ROLLBACK").await.expect("release");
    assert_eq!(error.code(), "storage.retryable_conflict", "{error:?}");
    // Not the statement alone: the transaction it aborted is what runs again.
    assert!(!error.is_retryable());
    assert!(error.needs_transaction_restart());
    assert!(matches!(
        error,
        flametrench_tenancy_core::TenancyError::RetryableConflict {
            scope: RetryScope::Transaction,
            ..
        }
    ));
    // The transaction is now aborted: its statements and its commit say so.
    let aborted = tx
        .client()
        .await
        .query("SELECT 1", &[])
        .await
        .map_err(classify)
        .expect_err("an aborted transaction");
    assert_eq!(aborted.code(), "storage.transaction_aborted");
    assert_eq!(aborted.kind(), ErrorKind::Internal);
    let error = tx.commit().await.expect_err("an aborted commit");
    assert_eq!(error.code(), "storage.transaction_aborted");
}

/// The application's own table, written beside the SDK's calls.
async fn audit_table(db: &TestDatabase) {
    db.connect()
        .await
        .expect("client")
        .batch_execute("CREATE TABLE audit_log (org uuid NOT NULL)")
        .await
        .expect("the audit table");
}

async fn audited(observer: &tokio_postgres::Client, org: uuid::Uuid) -> (bool, bool) {
    let org_row = observer
        .query_opt("SELECT 1 FROM org WHERE id = $1", &[&org])
        .await
        .expect("org")
        .is_some();
    let audit_row = observer
        .query_opt("SELECT 1 FROM audit_log WHERE org = $1", &[&org])
        .await
        .expect("audit")
        .is_some();
    (org_row, audit_row)
}

/// Through the handle: the SDK's calls and the application's own statement commit as one,
/// unseen by others before; a unit dropped without commit leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_units_calls_and_the_callers_statements_commit_as_one() {
    let server = server().await;
    let db = database(&server).await;
    audit_table(&db).await;
    let tenancy = flametrench_tenancy_core::Tenancy::new(PostgresTenancyStore::new(
        db.pool(2).expect("pool"),
    ));
    let observer = db.connect().await.expect("observer");
    let alice = UsrId::new();
    tenancy.ensure_user(alice).await.expect("alice");

    let unit = tenancy.begin().await.expect("begin");
    let org = unit
        .create_org(CreateOrg::new(alice))
        .await
        .expect("create")
        .org
        .id
        .as_uuid();
    let tx = unit
        .downcast_ref::<flametrench_tenancy_postgres::StoreTransaction>()
        .expect("a PostgreSQL unit");
    tx.client()
        .await
        .execute("INSERT INTO audit_log (org) VALUES ($1)", &[&org])
        .await
        .map_err(classify)
        .expect("the caller's own row");
    assert_eq!(
        audited(&observer, org).await,
        (false, false),
        "before commit"
    );
    unit.commit().await.expect("commit");
    assert_eq!(audited(&observer, org).await, (true, true), "after commit");

    let dropped = {
        let unit = tenancy.begin().await.expect("begin");
        unit.create_org(CreateOrg::new(alice))
            .await
            .expect("create")
            .org
            .id
            .as_uuid()
    };
    assert_eq!(audited(&observer, dropped).await, (false, false), "dropped");
    // A store inside a caller's transaction has no units of its own.
    let mut client = db.connect().await.expect("client");
    let mut caller = client.transaction().await.expect("begin");
    let nested = PostgresTenancyStore::in_transaction(&mut caller);
    let error = nested.begin_unit().await.expect_err("nested");
    assert_eq!(error.code(), "storage.not_supported");
}

/// `in_unit` runs the whole unit again after a retryable failure of the caller's own
/// statement (a lock timeout, which aborts the transaction), and once only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_unit_runs_a_unit_again_after_a_retryable_failure() {
    let server = server().await;
    let db = database(&server).await;
    audit_table(&db).await;
    let tenancy = flametrench_tenancy_core::Tenancy::new(PostgresTenancyStore::new(
        db.pool(2).expect("pool"),
    ));
    let observer = db.connect().await.expect("observer");
    let alice = UsrId::new();
    tenancy.ensure_user(alice).await.expect("alice");
    let holder = std::sync::Arc::new(tokio::sync::Mutex::new(db.connect().await.expect("holder")));
    holder
        .lock()
        .await
        .batch_execute("BEGIN; LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let org = tenancy
        .in_unit(|unit| {
            let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let holder = holder.clone();
            async move {
                let org = unit.create_org(CreateOrg::new(alice)).await?.org.id;
                let tx = unit
                    .downcast_ref::<flametrench_tenancy_postgres::StoreTransaction>()
                    .expect("a PostgreSQL unit");
                let client = tx.client().await;
                client
                    .batch_execute("SET LOCAL lock_timeout = '50ms'")
                    .await
                    .map_err(classify)?;
                let written = client
                    .execute("INSERT INTO audit_log (org) VALUES ($1)", &[&org.as_uuid()])
                    .await
                    .map_err(classify);
                if attempt == 0 {
                    // The lock is released once the first attempt has timed out.
                    holder
                        .lock()
                        .await
                        .batch_execute("ROLLBACK")
                        .await
                        .expect("release");
                }
                written?;
                Ok(org)
            }
        })
        .await
        .expect("the second attempt commits");
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(audited(&observer, org.as_uuid()).await, (true, true));
    let orgs: i64 = observer
        .query_one("SELECT count(*) FROM org", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(orgs, 1, "the failed attempt left nothing");
}

/// A unit whose backend died before its `COMMIT` reports `storage.connection_lost` (nothing
/// was committed), so `in_unit` runs it again; and a commit dropped while it waited for the
/// connection leaves no transaction open on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_lost_its_backend_runs_again_and_a_dropped_commit_rolls_back() {
    let server = server().await;
    let db = database(&server).await;
    let tenancy = flametrench_tenancy_core::Tenancy::new(PostgresTenancyStore::new(
        db.pool(1).expect("pool"),
    ));
    let observer = db.connect().await.expect("observer");
    let alice = UsrId::new();
    tenancy.ensure_user(alice).await.expect("alice");
    let attempts = std::sync::atomic::AtomicU32::new(0);
    tenancy
        .in_unit(|unit| {
            let first = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            let observer = &observer;
            async move {
                let org = unit.create_org(CreateOrg::new(alice)).await?.org;
                if first {
                    let tx = unit
                        .downcast_ref::<flametrench_tenancy_postgres::StoreTransaction>()
                        .expect("a PostgreSQL unit");
                    let client = tx.client().await;
                    let pid: i32 = client
                        .query_one("SELECT pg_backend_pid()", &[])
                        .await
                        .expect("pid")
                        .get(0);
                    observer
                        .execute("SELECT pg_terminate_backend($1)", &[&pid])
                        .await
                        .expect("terminate");
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while !client.is_closed() {
                        assert!(Instant::now() < deadline, "the client never saw it");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                Ok(org)
            }
        })
        .await
        .expect("the second attempt commits");
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    let orgs: i64 = observer
        .query_one("SELECT count(*) FROM org", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(orgs, 1);

    // A commit that times out waiting for the connection (held by the caller's own client)
    // sent nothing: when the unit goes, it is rolled back, and the pool's one connection
    // serves the next call outside any transaction.
    {
        let unit = tenancy.begin().await.expect("begin");
        unit.create_org(CreateOrg::new(alice))
            .await
            .expect("create");
        let tx = unit
            .downcast_ref::<flametrench_tenancy_postgres::StoreTransaction>()
            .expect("a PostgreSQL unit");
        let held = tx.client().await;
        let waited = tokio::time::timeout(Duration::from_millis(50), unit.clone().commit()).await;
        assert!(waited.is_err(), "the commit waited for the connection");
        drop(held);
    }
    let next = tenancy
        .create_org(CreateOrg::new(alice))
        .await
        .expect("a pool call")
        .org
        .id;
    let seen = observer
        .query_opt("SELECT 1 FROM org WHERE id = $1", &[&next.as_uuid()])
        .await
        .expect("read")
        .is_some();
    assert!(
        seen,
        "the pool call committed (it ran outside the dropped unit)"
    );
    let orgs: i64 = observer
        .query_one("SELECT count(*) FROM org", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(orgs, 2, "the dropped unit's org is not there");
}
