//! PostgreSQL store for the Flametrench tenancy model.
//!
//! [`PostgresTenancyStore`] implements [`TenancyStore`](flametrench_tenancy_core::TenancyStore)
//! with exactly the semantics of the in-memory store, on tokio-postgres and deadpool-postgres.
//! It works two ways: over a [`deadpool_postgres::Pool`], where each call is its own
//! transaction and transient conflicts are retried a bounded number of times; or inside a
//! transaction the caller owns, where each call nests its work in a savepoint so that several
//! SDK calls and the caller's own statements commit or roll back together.
//!
//! Every write serializes on its org's row, takes its locks in one global order, and decides
//! with the shared rules of `flametrench-tenancy-core`. Every operation is one round trip once
//! a pooled connection has prepared its statements: its statements, with `BEGIN` … `COMMIT`
//! (over a pool) or `SAVEPOINT` … `RELEASE` (inside a transaction) around them where it needs
//! them, are pipelined in one flight. A failure inside a transaction costs one more trip, to
//! roll the savepoint back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use deadpool_postgres::{Config, Runtime};
//! use flametrench_tenancy_core::{CreateOrg, TenancyStore};
//! use flametrench_tenancy_postgres::{PostgresTenancyStore, migrate};
//! use flametrench_ids::UsrId;
//! use tokio_postgres::NoTls;
//!
//! let mut config = Config::new();
//! config.url = Some(std::env::var("DATABASE_URL")?);
//! let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
//! let mut client = pool.get().await?;
//! migrate(&mut client, "public").await?;
//! drop(client);
//!
//! let store = PostgresTenancyStore::new(pool);
//! let alice = UsrId::new();
//! store.ensure_user(alice).await?;
//! let created = store.create_org(CreateOrg::new(alice)).await?;
//! println!("{} is owned by {}", created.org.id, created.owner_membership.usr_id);
//! # Ok(()) }
//! ```

mod error;
mod exec;
mod migrate;
mod ops;
mod rows;
mod run;
mod sql;
mod store;

/// The pool crate whose [`Pool`](deadpool_postgres::Pool) the store takes, re-exported so that
/// an adopter builds it with the same version.
pub use deadpool_postgres;
pub use error::{classify, classify_commit};
pub use migrate::{
    DISTRIBUTED_SCHEMA_SQL, Layout, Migration, PAGE_INDEXES_SQL, SCHEMA_SQL, SCHEMA_VERSION,
    SEARCH_INDEX, VERSION_TABLE, migrate, migrate_with_layout,
};
pub use store::{
    CallerClient, DEFAULT_SCHEMA, PooledTenancyStore, PostgresTenancyStore, StoreTransaction,
};
/// The driver crate whose [`Transaction`](tokio_postgres::Transaction) the store nests in,
/// re-exported so that an adopter uses the same version.
pub use tokio_postgres;

#[cfg(feature = "testing")]
pub mod testing;
