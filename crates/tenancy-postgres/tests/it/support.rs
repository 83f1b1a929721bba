//! Shared helpers: a server per test, stores and users.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::TenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, TestPostgres};

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
