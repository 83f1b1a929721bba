//! Migration: idempotent, concurrent, adopting, schema choice, and the typed not-migrated error.

use flametrench_tenancy_core::{CreateOrg, TenancyStore};
use flametrench_tenancy_postgres::{Migration, PostgresTenancyStore, SCHEMA_SQL, migrate};

use crate::support::{server, users};

#[test]
fn published_schema_matches_the_embedded_one() {
    let published = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../spec/reference/postgres.sql"
    ))
    .expect("spec/reference/postgres.sql");
    assert_eq!(
        published, SCHEMA_SQL,
        "spec/reference/postgres.sql must equal src/schema.sql"
    );
}

#[tokio::test]
async fn migrate_creates_adopts_and_is_idempotent() {
    let server = server().await;
    let db = server.empty_database().await.expect("empty database");
    let mut first = db.connect().await.expect("first");
    let mut second = db.connect().await.expect("second");
    let (a, b) = tokio::join!(
        migrate(&mut first, "public"),
        migrate(&mut second, "public")
    );
    let mut outcomes = vec![a.expect("migrate a"), b.expect("migrate b")];
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(outcomes, vec![Migration::Created, Migration::UpToDate]);
    assert_eq!(
        migrate(&mut first, "public").await.expect("again"),
        Migration::UpToDate
    );

    // A database another SDK set up: the tables without our version table.
    let other = server.empty_database().await.expect("other");
    let mut client = other.connect().await.expect("client");
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .expect("tables made by hand");
    assert_eq!(
        migrate(&mut client, "public").await.expect("adopt"),
        Migration::Adopted
    );
    assert_eq!(
        migrate(&mut client, "public").await.expect("again"),
        Migration::UpToDate
    );

    // Tables in a schema of the adopter's choosing.
    assert_eq!(
        migrate(&mut client, "tenancy").await.expect("own schema"),
        Migration::Created
    );
    let pool = other.pool(2).expect("pool");
    let store = PostgresTenancyStore::new(pool)
        .with_schema("tenancy")
        .expect("schema name");
    let alice = users(&store, 1).await[0];
    store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("create in tenancy schema");
    let count: i64 = client
        .query_one("SELECT count(*) FROM tenancy.org", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1);
    for bad in [
        "Bad-Name",
        "",
        "9lives",
        &"x".repeat(64),
        "a\"; DROP TABLE org; --",
    ] {
        let error = PostgresTenancyStore::new(other.pool(1).expect("pool"))
            .with_schema(bad)
            .expect_err("an invalid schema name");
        assert_eq!(error.code(), "storage.invalid_schema", "{bad:?}");
        let error = migrate(&mut client, bad)
            .await
            .expect_err("an invalid schema name");
        assert_eq!(error.code(), "storage.invalid_schema", "{bad:?}");
    }
}

/// The tables as another SDK (or version 1 of this crate) made them: without the lock table.
fn tables_without_lock_table() -> String {
    let cut = SCHEMA_SQL
        .find("-- The SDK's per-org lock rows")
        .expect("the lock table's section");
    SCHEMA_SQL[..cut].to_owned()
}

async fn lock_table_exists(client: &tokio_postgres::Client) -> bool {
    client
        .query_one("SELECT to_regclass('public.ft_org_lock') IS NOT NULL", &[])
        .await
        .expect("regclass")
        .get(0)
}

#[tokio::test]
async fn migrate_adds_the_lock_table_when_adopting_or_upgrading() {
    let server = server().await;
    // Adopted from another SDK.
    let adopted = server.empty_database().await.expect("adopted");
    let mut client = adopted.connect().await.expect("client");
    client
        .batch_execute(&tables_without_lock_table())
        .await
        .expect("tables made elsewhere");
    assert!(!lock_table_exists(&client).await);
    assert_eq!(
        migrate(&mut client, "public").await.expect("adopt"),
        Migration::Adopted
    );
    assert!(lock_table_exists(&client).await);

    // Set up by version 1 of this crate.
    let old = server.empty_database().await.expect("version 1");
    let mut client = old.connect().await.expect("client");
    client
        .batch_execute(&format!(
            "{} CREATE TABLE flametrench_tenancy_schema_version (version integer PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now(), how text NOT NULL); \
             INSERT INTO flametrench_tenancy_schema_version (version, how) VALUES (1, 'created');",
            tables_without_lock_table()
        ))
        .await
        .expect("a version 1 schema");
    assert_eq!(
        migrate(&mut client, "public").await.expect("upgrade"),
        Migration::Upgraded
    );
    assert!(lock_table_exists(&client).await);
    assert_eq!(
        migrate(&mut client, "public").await.expect("again"),
        Migration::UpToDate
    );
    let store = PostgresTenancyStore::new(old.pool(1).expect("pool"));
    let alice = users(&store, 1).await[0];
    store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("the upgraded schema works");
}

#[tokio::test]
async fn missing_tables_are_a_typed_error() {
    let server = server().await;
    let db = server.empty_database().await.expect("empty database");
    let store = PostgresTenancyStore::new(db.pool(1).expect("pool"));
    let error = store
        .ensure_user(flametrench_ids::UsrId::new())
        .await
        .expect_err("no tables");
    assert_eq!(error.code(), "storage.not_migrated");
    let error = store
        .get_org(flametrench_ids::OrgId::new())
        .await
        .expect_err("no tables");
    assert_eq!(error.code(), "storage.not_migrated");
}
