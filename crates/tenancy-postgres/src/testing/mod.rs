//! Test support (feature `testing`): a PostgreSQL server for tests and one fresh database per
//! test, cloned from a migrated template.
//!
//! With `DATABASE_URL` set, that server is used (it must be disposable: tests create databases
//! on it). Otherwise a throwaway cluster is started from the local PostgreSQL binaries
//! (`PG_BIN`, then `pg_config --bindir`, then `PATH`, then the newest
//! `/usr/lib/postgresql/*/bin`) on a unix socket in a temporary directory, and removed when the
//! [`TestPostgres`] is dropped (kept with `TENANCY_KEEP_PG=1`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use flametrench_tenancy_postgres::PostgresTenancyStore;
//! use flametrench_tenancy_postgres::testing::TestPostgres;
//!
//! let server = TestPostgres::start().await?;
//! let database = server.fresh_database().await?;
//! let store = PostgresTenancyStore::new(database.pool(4)?);
//! # Ok(()) }
//! ```

mod citus;
mod cluster;
mod invariants;
mod proxy;

pub use citus::{CITUS_URL_ENV, CitusSchema, TestCitus};
pub use cluster::{TestDatabase, TestPostgres, TestSupportError, pool_for, pool_with_queue};
pub use invariants::{Checked, INVARIANT_QUERIES, InvariantChecker, violations};
pub use proxy::{PgProxy, ProxyStats};

/// Which protection a [`weakened`] store leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Weakening {
    /// Keeps the org row locks, without the lock-row versions that order snapshot-isolated
    /// transactions: the statements as they were before lock rows existed.
    LockOnly,
    /// Neither org row locks nor lock-row versions.
    Unlocked,
    /// Every write's guard refuses, whatever the rule says: for the tests that a refused
    /// flight writes nothing, and that a guard and its rule that disagree are caught.
    GuardsRefuse,
    /// The actor of an actor-checked membership write (and the other reads its guard makes)
    /// read before the org's lock is granted: the lock statements lock nothing and the
    /// guarded statement takes the lock itself, so its reads come from a snapshot older than
    /// the lock. For the test that a demotion committed while the write waits is seen.
    ActorBeforeLock,
    /// Every protection, and the single-org statements delegated to their org's worker, but
    /// run there through Citus's planner instead of on the org's shards: Citus then copies the
    /// intermediate results of their CTEs to every node, in a two-phase commit the worker
    /// coordinates. For the test that a delegated write stays on its worker. Its functions are
    /// not made by the migration: [`install_weakened_functions`] makes them.
    ThroughCitusPlanner,
    /// Every protection, but on the distributed layout no single-org statement is delegated
    /// to its org's worker: Citus then plans each through the coordinator, in two phases. For
    /// the test that single-org calls run on one worker and commit in one phase.
    Undelegated,
}

/// `store` with a protection left out, over the tables of `schema`: race tests use it to show
/// that they catch the violations the protection prevents. Never use it outside such a test.
pub fn weakened<'t, 'c>(
    store: crate::PostgresTenancyStore<'t, 'c>,
    schema: &str,
    weakening: Weakening,
) -> crate::PostgresTenancyStore<'t, 'c> {
    let protection = match weakening {
        Weakening::LockOnly => crate::sql::Protection::LockOnly,
        Weakening::Unlocked => crate::sql::Protection::Unlocked,
        Weakening::GuardsRefuse => crate::sql::Protection::GuardsRefuse,
        Weakening::ActorBeforeLock => crate::sql::Protection::ActorBeforeLock,
        Weakening::Undelegated => crate::sql::Protection::Undelegated,
        Weakening::ThroughCitusPlanner => crate::sql::Protection::ThroughCitusPlanner,
    };
    store.with_protection(schema, protection)
}

/// Creates, in the distributed schema `schema`, the functions that a store [`weakened`] by
/// `weakening` calls (the migration makes only the full store's).
///
/// # Errors
///
/// As the migration's.
pub async fn install_weakened_functions(
    client: &mut tokio_postgres::Client,
    schema: &str,
    weakening: Weakening,
) -> Result<(), flametrench_tenancy_core::TenancyError> {
    let protection = match weakening {
        Weakening::ThroughCitusPlanner => crate::sql::Protection::ThroughCitusPlanner,
        _ => return Ok(()),
    };
    let sql =
        crate::sql::Sql::with_protection(schema, crate::migrate::Layout::Distributed, protection);
    let tx = client
        .transaction()
        .await
        .map_err(|error| crate::error::map_pg(error, crate::error::Phase::BeforeCommit))?;
    crate::migrate::install_functions(&tx, &sql).await?;
    tx.commit()
        .await
        .map_err(|error| crate::error::map_pg(error, crate::error::Phase::Commit))
}

/// The text of the store's statement `name` (a field of its statement table, such as
/// `list_members` or `list_members_by_status`) over the tables of `schema`, as the store sends
/// it: the plan tests prepare and explain it themselves. `None` for an unknown name.
pub fn statement_text(schema: &str, name: &str) -> Option<String> {
    crate::sql::Sql::new(schema, crate::Layout::SingleNode)
        .named(name)
        .map(str::to_owned)
}
