//! Migration: idempotent, concurrent, adopting, schema choice, and the typed not-migrated error.

use flametrench_tenancy_core::{
    CreateOrg, ListMembers, ListOrgs, MembershipStatus, OrgName, OrgQuery, Slug, TenancyStore,
};
use flametrench_tenancy_postgres::{
    Migration, PAGE_INDEXES_SQL, PostgresTenancyStore, SCHEMA_SQL, SEARCH_INDEX, migrate,
};

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
        // Reserved by PostgreSQL: refused by the SDK, not by the server.
        "pg_catalog",
        "pg_toast",
        "pg_tenancy",
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

/// Whether `schema` holds an index named `name`.
async fn has_index(client: &tokio_postgres::Client, schema: &str, name: &str) -> bool {
    client
        .query_one(
            "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
            &[&schema, &name],
        )
        .await
        .expect("regclass")
        .get(0)
}

#[tokio::test]
async fn the_search_index_follows_the_extension() {
    let server = server().await;
    let db = server.empty_database().await.expect("empty database");
    let admin = db.connect().await.expect("admin");
    let available: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI's server ships pg_trgm (PostgreSQL's contrib)"
        );
        eprintln!("skipped: the server has no pg_trgm");
        return;
    }
    // A role that owns its schema but may not create extensions (no CREATE on the database).
    let role = format!("ft_owner_{:08x}", uuid::Uuid::new_v4().as_u128() as u32);
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER; CREATE SCHEMA app AUTHORIZATION {role};"
        ))
        .await
        .expect("role and schema");
    let mut config = db.config();
    config.user(&role);
    let mut owner = flametrench_tenancy_postgres::testing::TestPostgres::connect(&config)
        .await
        .expect("connect as the schema's owner");
    assert_eq!(
        migrate(&mut owner, "app")
            .await
            .expect("migrate without pg_trgm"),
        Migration::Created
    );
    assert!(!has_index(&owner, "app", SEARCH_INDEX).await);

    // Without the index, queries answer the same.
    let store = PostgresTenancyStore::new(
        flametrench_tenancy_postgres::testing::pool_for(config.clone(), 1).expect("pool"),
    )
    .with_schema("app")
    .expect("schema");
    let alice = users(&store, 1).await[0];
    let mut wanted = Vec::new();
    for (name, slug) in [
        ("50% off_sale", "half"),
        ("Back\\slash", "slash"),
        ("Plain", "p"),
    ] {
        let created = store
            .create_org(
                CreateOrg::new(alice)
                    .name(OrgName::new(name).expect("name"))
                    .slug(Slug::new(slug).expect("slug")),
            )
            .await
            .expect("create_org");
        wanted.push(created.org.id);
    }
    let search = |text: &'static str| {
        let store = &store;
        async move {
            store
                .list_orgs(ListOrgs::new().query(OrgQuery::new(text).expect("query")))
                .await
                .expect("list_orgs")
                .data
                .into_iter()
                .map(|org| org.id)
                .collect::<Vec<_>>()
        }
    };
    let before = (
        search("0%").await,
        search("\\").await,
        search("_").await,
        search("pLA").await,
    );
    assert_eq!(before.0, vec![wanted[0]], "% is literal");
    assert_eq!(before.1, vec![wanted[1]], "\\ is literal");
    assert_eq!(before.2, vec![wanted[0]], "_ is literal");
    assert_eq!(before.3, vec![wanted[2]], "ASCII letters fold");

    // The extension appears in another schema: the next migrate adds the index, naming it.
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA ext; CREATE EXTENSION pg_trgm WITH SCHEMA ext; \
             GRANT USAGE ON SCHEMA ext TO {role};"
        ))
        .await
        .expect("pg_trgm in ext");
    assert_eq!(
        migrate(&mut owner, "app")
            .await
            .expect("migrate with pg_trgm"),
        Migration::Upgraded
    );
    assert!(has_index(&owner, "app", SEARCH_INDEX).await);
    assert_eq!(
        migrate(&mut owner, "app").await.expect("again"),
        Migration::UpToDate
    );
    let after = (
        search("0%").await,
        search("\\").await,
        search("_").await,
        search("pLA").await,
    );
    assert_eq!(after, before, "the index changes no answer");
}

#[tokio::test]
async fn version_2_and_adopted_schemas_get_the_page_indexes() {
    let server = server().await;
    let db = server.empty_database().await.expect("empty database");
    let mut client = db.connect().await.expect("client");
    // The schema as version 2 made it: no page indexes, the reference's object index.
    let version_2: String = SCHEMA_SQL
        .lines()
        .filter(|line| !line.starts_with("CREATE INDEX IF NOT EXISTS"))
        .collect::<Vec<_>>()
        .join("\n");
    client
        .batch_execute(&format!(
            "{version_2}
             CREATE INDEX tup_object_relation_idx ON tup (object_type, object_id, relation);
             CREATE TABLE flametrench_tenancy_schema_version (version integer PRIMARY KEY,
               applied_at timestamptz NOT NULL DEFAULT now(), how text NOT NULL);
             INSERT INTO flametrench_tenancy_schema_version (version, how) VALUES (1, 'created'),
               (2, 'upgraded');"
        ))
        .await
        .expect("a version 2 schema");
    for line in PAGE_INDEXES_SQL.lines() {
        let name = line.split_whitespace().nth(5).expect("an index name");
        assert!(!has_index(&client, "public", name).await, "{name} before");
    }
    assert_eq!(
        migrate(&mut client, "public").await.expect("upgrade"),
        Migration::Upgraded
    );
    for line in PAGE_INDEXES_SQL.lines() {
        let name = line.split_whitespace().nth(5).expect("an index name");
        assert!(has_index(&client, "public", name).await, "{name} after");
        assert!(
            SCHEMA_SQL.contains(line),
            "the published schema holds {name} as the upgrade makes it"
        );
    }
    let store = PostgresTenancyStore::new(db.pool(1).expect("pool"));
    let alice = users(&store, 1).await[0];
    let org = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("create_org")
        .org;
    let page = store
        .list_members(ListMembers::new(org.id).status(MembershipStatus::Active))
        .await
        .expect("a filtered page on the upgraded schema");
    assert_eq!(page.data.len(), 1);

    // The same tables set up by another SDK (no version table): adopted, with the indexes.
    let other = server.empty_database().await.expect("other SDK's database");
    let mut client = other.connect().await.expect("client");
    client
        .batch_execute(&format!(
            "{version_2}
             CREATE INDEX tup_object_relation_idx ON tup (object_type, object_id, relation);
             CREATE INDEX tup_subject_idx ON tup (subject_type, subject_id);"
        ))
        .await
        .expect("another SDK's schema");
    assert_eq!(
        migrate(&mut client, "public").await.expect("adopt"),
        Migration::Adopted
    );
    for line in PAGE_INDEXES_SQL.lines() {
        let name = line.split_whitespace().nth(5).expect("an index name");
        assert!(
            has_index(&client, "public", name).await,
            "{name} after adopting"
        );
    }
}
