//! The service's state (the tenancy handle, and on PostgreSQL the pool store transactions are
//! opened from) and the unit of work a handler runs its calls in.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use flametrench_tenancy_core::ids::{OrgId, UsrId};
use flametrench_tenancy_core::{Tenancy, TenancyError};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::deadpool_postgres::{self, Pool, Runtime};
use flametrench_tenancy_postgres::tokio_postgres::NoTls;
use flametrench_tenancy_postgres::{
    PooledTenancyStore, PostgresTenancyStore, StoreTransaction, migrate,
};

/// The service's own table, next to the SDK's: one row per step of a transactional handler.
pub const AUDIT_LOG_DDL: &str = "CREATE TABLE IF NOT EXISTS audit_log (\
     id bigserial PRIMARY KEY, \
     what text NOT NULL, \
     org_id uuid, \
     at timestamptz NOT NULL DEFAULT now())";

const INSERT_AUDIT: &str = "INSERT INTO audit_log (what, org_id) VALUES ($1, $2)";

/// Why the service could not start: a bad `DATABASE_URL`, an unreachable server, a failed
/// migration.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// What every handler shares: the tenancy handle, the pool store on PostgreSQL, and the users
/// already registered by this process.
///
/// Cloning is cheap and every clone is the same service.
#[derive(Clone)]
pub struct AppState {
    tenancy: Tenancy<'static>,
    postgres: Option<Arc<PooledTenancyStore>>,
    registered: Arc<Mutex<HashSet<UsrId>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store_name())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A service over a new, empty in-memory store.
    pub fn in_memory() -> Self {
        Self::on_memory(InMemoryTenancyStore::new())
    }

    /// A service over `store`, an in-memory store the caller built (on a clock of its own, say,
    /// or with test support). A clone the caller keeps shares the service's state.
    pub fn on_memory(store: InMemoryTenancyStore) -> Self {
        Self::with(store.into(), None)
    }

    /// A service over PostgreSQL: migrates the tenancy tables in `public` (idempotent), creates
    /// the service's own `audit_log` table if missing, and keeps the pool store both as the
    /// shared handle and for the transactions of `POST /orgs`.
    ///
    /// # Errors
    ///
    /// When no connection can be had, or the migration or the `audit_log` DDL fails.
    pub async fn on_postgres(pool: Pool) -> Result<Self, StartError> {
        let mut client = pool.get().await?;
        migrate(&mut client, "public").await?;
        client.batch_execute(AUDIT_LOG_DDL).await?;
        drop(client);
        let store = Arc::new(PostgresTenancyStore::new(pool));
        Ok(Self::with(Tenancy::from_shared(store.clone()), Some(store)))
    }

    fn with(tenancy: Tenancy<'static>, postgres: Option<Arc<PooledTenancyStore>>) -> Self {
        Self {
            tenancy,
            postgres,
            registered: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The tenancy handle the handlers call (outside a transaction): for set-up a test does
    /// behind the service's back, or an adopter's own routes.
    pub fn tenancy(&self) -> &Tenancy<'static> {
        &self.tenancy
    }

    /// `"postgres"` or `"memory"`.
    pub fn store_name(&self) -> &'static str {
        if self.postgres.is_some() {
            "postgres"
        } else {
            "memory"
        }
    }

    /// Registers `usr_id` with `ensure_user` the first time this process sees it, so that the
    /// SDK's calls may name it. Later requests skip the write.
    pub(crate) async fn register(&self, usr_id: UsrId) -> Result<(), TenancyError> {
        if self.is_registered(usr_id) {
            return Ok(());
        }
        self.tenancy.ensure_user(usr_id).await?;
        if let Ok(mut registered) = self.registered.lock() {
            registered.insert(usr_id);
        }
        Ok(())
    }

    fn is_registered(&self, usr_id: UsrId) -> bool {
        // A poisoned lock only costs a repeated, idempotent `ensure_user`.
        self.registered
            .lock()
            .map(|registered| registered.contains(&usr_id))
            .unwrap_or(false)
    }

    /// Starts a unit of work: on PostgreSQL a transaction from `begin()`, on memory nothing
    /// (each call of the memory store is atomic on its own).
    ///
    /// # Errors
    ///
    /// A storage error when no connection could be had or `BEGIN` failed.
    pub(crate) async fn begin(&self) -> Result<Work, TenancyError> {
        let transaction = match &self.postgres {
            Some(store) => Some(store.begin().await?),
            None => None,
        };
        Ok(Work {
            transaction,
            shared: self.tenancy.clone(),
        })
    }
}

/// One handler's unit of work. Its [`tenancy`](Work::tenancy) handle and its
/// [`audit`](Work::audit) statements share the transaction on PostgreSQL, so they commit
/// together or not at all; dropped without [`commit`](Work::commit), it rolls back.
pub(crate) struct Work {
    transaction: Option<StoreTransaction>,
    shared: Tenancy<'static>,
}

impl Work {
    /// The handle whose calls belong to this unit of work: nested in savepoints of the
    /// transaction on PostgreSQL, the shared handle on memory.
    pub(crate) fn tenancy(&self) -> Tenancy<'_> {
        match &self.transaction {
            Some(transaction) => Tenancy::new(&**transaction),
            None => self.shared.clone(),
        }
    }

    /// Appends a row to `audit_log` inside the transaction; on memory, which has no such
    /// table, it does nothing.
    ///
    /// # Errors
    ///
    /// `storage.backend` when the insert fails.
    pub(crate) async fn audit(
        &self,
        what: &str,
        org_id: Option<OrgId>,
    ) -> Result<(), TenancyError> {
        let Some(transaction) = &self.transaction else {
            return Ok(());
        };
        let Some(client) = transaction.caller_client().await else {
            return Err(TenancyError::NotSupported {
                what: "a caller client outside a transaction",
            });
        };
        let org_uuid = org_id.map(|org_id| org_id.as_uuid());
        client
            .execute(INSERT_AUDIT, &[&what, &org_uuid])
            .await
            .map_err(|error| TenancyError::Backend {
                source: Box::new(error),
            })?;
        // The guard drops here, before the handler's next SDK call, which would wait for it.
        Ok(())
    }

    /// Commits the transaction (on memory there is nothing to commit).
    ///
    /// # Errors
    ///
    /// What [`StoreTransaction::commit`] returns.
    pub(crate) async fn commit(self) -> Result<(), TenancyError> {
        match self.transaction {
            Some(transaction) => transaction.commit().await,
            None => Ok(()),
        }
    }
}

/// The state `cargo run` starts with: PostgreSQL when `DATABASE_URL` is set and not empty (a
/// pool of up to 16 connections, without TLS), otherwise a new in-memory store.
///
/// # Errors
///
/// What [`AppState::on_postgres`] returns, or an invalid `DATABASE_URL`.
pub async fn state_from_env() -> Result<AppState, StartError> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let mut config = deadpool_postgres::Config::new();
            config.url = Some(url);
            config.pool = Some(deadpool_postgres::PoolConfig::new(16));
            let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
            AppState::on_postgres(pool).await
        }
        _ => Ok(AppState::in_memory()),
    }
}
