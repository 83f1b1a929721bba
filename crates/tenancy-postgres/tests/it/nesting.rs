//! The store inside a caller's transaction: savepoints, visibility, rollback, isolation.

use flametrench_tenancy_core::{CreateOrg, Slug, TenancyStore};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::PgProxy;
use tokio_postgres::IsolationLevel;

use crate::support::{database, server, users};

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
                .change_role(
                    created.owner_membership.id,
                    flametrench_tenancy_core::Role::Owner,
                )
                .await
                .expect("a two-flight write");
            store
                .self_leave(created.owner_membership.id, None)
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
