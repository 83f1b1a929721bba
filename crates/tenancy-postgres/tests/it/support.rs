//! Shared helpers: a server per test, stores and users.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::TenancyStore;
use std::sync::Arc;

use flametrench_tenancy_postgres::testing::{
    CitusSchema, TestCitus, TestDatabase, TestPostgres, TestSupportError,
};
use flametrench_tenancy_postgres::{Layout, PostgresTenancyStore};

pub(crate) async fn server() -> TestPostgres {
    TestPostgres::start()
        .await
        .expect("a PostgreSQL server for tests")
}

pub(crate) async fn database(server: &TestPostgres) -> TestDatabase {
    server.fresh_database().await.expect("a fresh database")
}

pub(crate) async fn users<S: TenancyStore>(store: &S, count: usize) -> Vec<UsrId> {
    let mut out = Vec::new();
    for _ in 0..count {
        let id = UsrId::new();
        store.ensure_user(id).await.expect("ensure_user");
        out.push(id);
    }
    out
}

/// Where a test's tables are: a database on one node, or a schema on Citus.
pub(crate) enum Target {
    Single(TestDatabase),
    Citus(CitusSchema),
}

impl Target {
    pub(crate) fn pool(&self, max_size: usize) -> deadpool_postgres::Pool {
        match self {
            Self::Single(db) => db.pool(max_size),
            Self::Citus(schema) => schema.pool(max_size),
        }
        .expect("a pool")
    }

    pub(crate) async fn connect(&self) -> tokio_postgres::Client {
        match self {
            Self::Single(db) => db.connect().await,
            Self::Citus(schema) => schema.connect().await,
        }
        .expect("a connection")
    }

    pub(crate) fn schema(&self) -> &str {
        match self {
            Self::Single(_) => "public",
            Self::Citus(schema) => schema.name(),
        }
    }

    /// `store` over these tables, with their layout.
    pub(crate) fn adapt<'t, 'c>(
        &self,
        store: PostgresTenancyStore<'t, 'c>,
    ) -> PostgresTenancyStore<'t, 'c> {
        match self {
            Self::Single(_) => store,
            Self::Citus(schema) => store
                .with_schema(schema.name())
                .expect("a schema name")
                .with_layout(Layout::Distributed),
        }
    }
}

/// The process's Citus cluster; `None` (the test returns, saying why) where none can be had
/// outside CI. Under CI a cluster that cannot start fails the test.
pub(crate) async fn citus() -> Option<Arc<TestCitus>> {
    or_skip(TestCitus::shared().await)
}

/// A Citus cluster, or `None` (the test returns, saying why) where none can be had outside CI.
/// Under CI a cluster that cannot start fails the test.
pub(crate) fn or_skip<C>(cluster: Result<C, TestSupportError>) -> Option<C> {
    match cluster {
        Ok(cluster) => Some(cluster),
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped, no Citus cluster: {error}");
            None
        }
        Err(error) => panic!("a Citus cluster: {error}"),
    }
}

/// A fresh distributed schema on `cluster`.
pub(crate) async fn citus_schema(cluster: &TestCitus) -> Target {
    Target::Citus(cluster.fresh_schema().await.expect("a distributed schema"))
}
