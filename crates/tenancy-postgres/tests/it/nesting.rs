//! The store inside a caller's transaction: savepoints, visibility, rollback, isolation.

use flametrench_tenancy_core::{CreateOrg, Slug, TenancyStore};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::PgProxy;
use tokio_postgres::IsolationLevel;

use crate::support::{database, server, users};
use flametrench_tenancy_core::{ChangeRole, SelfLeave};

async fn org_count(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM org", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn nested_calls_commit_and_roll_back_with_the_caller() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    let proxy = PgProxy::start(&db.config()).await.expect("proxy");
    let (mut client, connection) = proxy
        .config_for(&db.config())
        .connect(tokio_postgres::NoTls)
        .await
        .expect("client through the proxy");
    tokio::spawn(connection);

    // Commit: two SDK calls and the caller's own write land together, invisible before.
    let mut tx = client.transaction().await.expect("begin");
    {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let alice = users(&store, 1).await[0];
        proxy.reset();
        store
            .create_org(CreateOrg::new(alice).slug(Slug::new("nested").expect("slug")))
            .await
            .expect("create_org in the caller's transaction");
        // A failing call undoes only its own work and leaves the transaction usable.
        let duplicate = store
            .create_org(CreateOrg::new(alice).slug(Slug::new("nested").expect("slug")))
            .await
            .expect_err("slug conflict");
        assert_eq!(duplicate.code(), "conflict.org_slug");
        store
            .create_org(CreateOrg::new(alice))
            .await
            .expect("second org");
    }
    let sql = proxy.stats().sql;
    let savepoints: Vec<&String> = sql.iter().filter(|s| s.starts_with("SAVEPOINT ")).collect();
    assert_eq!(savepoints.len(), 3, "{sql:?}");
    for statement in &savepoints {
        let name = statement.trim_start_matches("SAVEPOINT ");
        let hex = name
            .strip_prefix("ft_create_org_")
            .expect("ft_<method>_ prefix");
        assert!(
            hex.len() == 8
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{name}"
        );
    }
    assert!(
        sql.iter()
            .any(|s| s.starts_with("ROLLBACK TO SAVEPOINT ft_create_org_")),
        "{sql:?}"
    );
    assert!(
        sql.iter()
            .any(|s| s.contains("ROLLBACK TO SAVEPOINT") && s.contains("RELEASE SAVEPOINT")),
        "the failed call must release its savepoint after rolling back: {sql:?}"
    );
    assert!(
        !sql.iter().any(|s| s == "BEGIN" || s == "COMMIT"),
        "no BEGIN/COMMIT inside: {sql:?}"
    );
    tx.execute("CREATE TEMP TABLE marker (x int)", &[])
        .await
        .expect("caller's own statement");
    assert_eq!(
        org_count(&observer).await,
        0,
        "nothing visible before the caller commits"
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        org_count(&observer).await,
        2,
        "both successful calls committed with the caller"
    );
}

#[tokio::test]
async fn outer_rollback_undoes_every_call_and_commit_keeps_them() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    let mut client = db.connect().await.expect("client");

    let mut tx = client.transaction().await.expect("begin");
    {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let alice = users(&store, 1).await[0];
        store
            .create_org(CreateOrg::new(alice))
            .await
            .expect("first");
        store
            .create_org(CreateOrg::new(alice))
            .await
            .expect("second");
    }
    assert_eq!(org_count(&observer).await, 0);
    tx.rollback().await.expect("rollback");
    assert_eq!(
        org_count(&observer).await,
        0,
        "outer rollback undoes both calls"
    );

    let mut tx = client.transaction().await.expect("begin");
    {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let alice = users(&store, 1).await[0];
        store
            .create_org(CreateOrg::new(alice))
            .await
            .expect("first");
        let error = store
            .create_org(CreateOrg::new(flametrench_ids::UsrId::new()))
            .await
            .expect_err("unknown creator");
        assert_eq!(error.code(), "not_found");
        store
            .create_org(CreateOrg::new(alice))
            .await
            .expect("after a failure");
    }
    tx.execute("SELECT 1", &[]).await.expect("still usable");
    tx.commit().await.expect("commit");
    assert_eq!(org_count(&observer).await, 2);
}

#[tokio::test]
async fn deadpool_transaction_and_isolation_levels() {
    let server = server().await;
    let db = database(&server).await;
    let pool = db.pool(2).expect("pool");
    let mut object = pool.get().await.expect("connection");
    // Every level is supported: the lock rows order snapshot-isolated transactions too.
    for level in [
        IsolationLevel::ReadCommitted,
        IsolationLevel::RepeatableRead,
        IsolationLevel::Serializable,
    ] {
        let mut tx = object
            .build_transaction()
            .isolation_level(level)
            .start()
            .await
            .expect("begin");
        {
            let store = PostgresTenancyStore::in_transaction(&mut tx);
            let alice = users(&store, 1).await[0];
            let created = store
                .create_org(CreateOrg::new(alice))
                .await
                .expect("create");
            store
                .change_role(ChangeRole::new(
                    created.owner_membership.id,
                    flametrench_tenancy_core::Role::Owner,
                ))
                .await
                .expect("a two-flight write");
            store
                .self_leave(SelfLeave::new(created.owner_membership.id))
                .await
                .expect_err("the sole owner may not leave");
        }
        tx.commit().await.expect("commit");
    }
}

#[tokio::test]
async fn misuse_of_the_caller_transaction_is_a_typed_error() {
    let server = server().await;
    let db = database(&server).await;
    let mut client = db.connect().await.expect("client");
    let alice = {
        let store = PostgresTenancyStore::new(db.pool(1).expect("pool"));
        users(&store, 1).await[0]
    };

    // A transaction an earlier statement of the caller's already aborted.
    let mut tx = client.transaction().await.expect("begin");
    tx.execute("SELECT 1/0", &[])
        .await
        .expect_err("the caller's own failing statement");
    {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let error = store
            .create_org(CreateOrg::new(alice))
            .await
            .expect_err("an aborted transaction");
        assert_eq!(error.code(), "storage.transaction_aborted", "{error:?}");
        let error = store
            .get_org(flametrench_ids::OrgId::new())
            .await
            .expect_err("reads too");
        assert_eq!(error.code(), "storage.transaction_aborted", "{error:?}");
    }
    tx.rollback().await.expect("rollback");

    // A read-only transaction: reads work, writes are refused and leave it usable.
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .expect("begin read only");
    let mut tx = tx;
    {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let error = store
            .create_org(CreateOrg::new(alice))
            .await
            .expect_err("a read-only transaction");
        assert_eq!(error.code(), "storage.read_only_transaction", "{error:?}");
        let error = store
            .get_org(flametrench_ids::OrgId::new())
            .await
            .expect_err("not found");
        assert_eq!(error.code(), "not_found");
    }
    tx.execute("SELECT 1", &[])
        .await
        .expect("transaction still usable");
    tx.rollback().await.expect("rollback");
    // Nothing was written.
    let orgs: i64 = client
        .query_one("SELECT count(*) FROM org", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(orgs, 0);
}

/// One handler, written once against the handle and the transaction's connection: own insert,
/// SDK call, own insert, SDK call. The caller commits (or not) afterwards.
async fn audited_handler(
    store: &PostgresTenancyStore<'_, '_>,
    alice: flametrench_ids::UsrId,
    bob: flametrench_ids::UsrId,
) -> Result<flametrench_ids::OrgId, Box<dyn std::error::Error>> {
    let tenancy = flametrench_tenancy_core::Tenancy::new(store);
    {
        let client = store.caller_client().await.ok_or("no transaction")?;
        client
            .execute("INSERT INTO audit (what) VALUES ('creating')", &[])
            .await?;
    }
    let org = tenancy.create_org(CreateOrg::new(alice)).await?.org.id;
    {
        let client = store.caller_client().await.ok_or("no transaction")?;
        client
            .execute(
                "INSERT INTO audit (what, org) VALUES ('created', $1)",
                &[&org.as_uuid()],
            )
            .await?;
    }
    tenancy
        .add_member(flametrench_tenancy_core::AddMember::new(
            org,
            bob,
            flametrench_tenancy_core::Role::Member,
        ))
        .await?;
    Ok(org)
}

async fn audit_rows(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM audit", &[])
        .await
        .expect("audit count")
        .get(0)
}

async fn members_of(client: &tokio_postgres::Client, org: flametrench_ids::OrgId) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM mem WHERE org_id = $1 AND status = 'active'",
            &[&org.as_uuid()],
        )
        .await
        .expect("member count")
        .get(0)
}

#[tokio::test]
async fn begin_and_the_callers_own_transaction_run_the_same_handler() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    observer
        .batch_execute("CREATE TABLE audit (what text NOT NULL, org uuid)")
        .await
        .expect("the adopter's own table");
    // One connection: a transaction left open would block everything after it.
    let store = PostgresTenancyStore::new(db.pool(1).expect("pool"));
    let [alice, bob] = users(&store, 2).await[..] else {
        unreachable!()
    };

    // A transaction from begin(), committed: both own inserts and both SDK calls land.
    let tx = store.begin().await.expect("begin");
    let org = audited_handler(&tx, alice, bob).await.expect("handler");
    tx.commit().await.expect("commit");
    assert_eq!(audit_rows(&observer).await, 2);
    assert_eq!(members_of(&observer, org).await, 2);

    // Rolled back: nothing lands.
    let tx = store.begin().await.expect("begin");
    let org = audited_handler(&tx, alice, bob).await.expect("handler");
    tx.rollback().await.expect("rollback");
    assert_eq!(audit_rows(&observer).await, 2);
    assert_eq!(members_of(&observer, org).await, 0);

    // Dropped without either: rolled back, and the pooled connection serves the next call.
    let tx = store.begin().await.expect("begin");
    let org = audited_handler(&tx, alice, bob).await.expect("handler");
    drop(tx);
    assert_eq!(members_of(&observer, org).await, 0);
    store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("the connection went back clean");
    assert_eq!(audit_rows(&observer).await, 2);

    // A transaction does not open another (a caller's transaction cannot even ask: `begin` is
    // only on stores that borrow nothing).
    let tx = store.begin().await.expect("begin");
    let error = tx.begin().await.expect_err("begin inside a transaction");
    assert_eq!(error.code(), "storage.not_supported");
    drop(tx);

    // A failed own statement aborts the transaction: commit says so and writes nothing.
    let tx = store.begin().await.expect("begin");
    let org = audited_handler(&tx, alice, bob).await.expect("handler");
    {
        let client = tx.caller_client().await.expect("a transaction");
        client
            .execute("INSERT INTO audit (what) VALUES (NULL)", &[])
            .await
            .expect_err("the adopter's own failing statement");
    }
    let error = tx.commit().await.expect_err("an aborted transaction");
    assert_eq!(error.code(), "storage.transaction_aborted");
    assert_eq!(members_of(&observer, org).await, 0);
    assert_eq!(audit_rows(&observer).await, 2);

    // The adopter's own transaction, same handler.
    let mut client = db.connect().await.expect("client");
    let mut own = client.transaction().await.expect("begin");
    let org = {
        let nested = PostgresTenancyStore::in_transaction(&mut own);
        audited_handler(&nested, alice, bob).await.expect("handler")
    };
    own.commit().await.expect("commit");
    assert_eq!(audit_rows(&observer).await, 4);
    assert_eq!(members_of(&observer, org).await, 2);
    assert!(
        store.caller_client().await.is_none(),
        "a pool store has no transaction"
    );
    let checked = flametrench_tenancy_postgres::testing::InvariantChecker::new(db)
        .check()
        .await
        .expect("invariant check");
    assert_eq!(checked.violations, Vec::<String>::new());
}
