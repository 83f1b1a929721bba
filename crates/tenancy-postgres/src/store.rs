//! `PostgresTenancyStore`: construction, the two ways in (pool or caller's transaction), and
//! the loop that runs one operation with retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Object, Pool};
use flametrench_tenancy_core::{SharedClock, TenancyError, system_clock};
use tokio::sync::Mutex;
use tokio_postgres::{Client, Transaction};

use crate::error::map_pool;
use crate::sql::Sql;

/// The schema used when none is chosen.
pub const DEFAULT_SCHEMA: &str = "public";

/// Checks a schema name: 1 to 63 characters of `[a-z0-9_]`, not starting with a digit.
///
/// # Errors
///
/// `storage.invalid_schema` naming the rule, for any other name.
pub(crate) fn check_schema(schema: &str) -> Result<(), TenancyError> {
    let invalid = |reason| Err(TenancyError::InvalidSchema { reason });
    if schema.is_empty() || schema.len() > 63 {
        return invalid("a schema name is 1 to 63 characters long");
    }
    if !schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return invalid("a schema name holds only a-z, 0-9 and _");
    }
    if schema.starts_with(|c: char| c.is_ascii_digit()) {
        return invalid("a schema name does not start with a digit");
    }
    Ok(())
}

pub(crate) enum Source<'t, 'c> {
    Pool(Pool),
    Nested(Mutex<&'t mut Transaction<'c>>),
}

/// The PostgreSQL tenancy store.
///
/// Built either from a [`deadpool_postgres::Pool`] ([`PostgresTenancyStore::new`]: every call
/// runs in its own READ COMMITTED transaction, whatever the server's default, retried a bounded
/// number of times on transient conflicts), or
/// inside a transaction the caller owns ([`PostgresTenancyStore::in_transaction`]: every call
/// nests its work in a savepoint named `ft_<method>_<8 hex>`, released on success and rolled
/// back then released on failure, so the caller's transaction stays usable and commits or
/// rolls back everything together). The store borrows the caller's transaction exclusively
/// and runs its calls one at a time.
///
/// ```no_run
/// # async fn demo(pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
/// use flametrench_tenancy_core::{CreateOrg, TenancyStore};
/// use flametrench_tenancy_postgres::PostgresTenancyStore;
/// use flametrench_ids::UsrId;
///
/// // With a pool: each call is its own transaction.
/// let store = PostgresTenancyStore::new(pool.clone());
/// let alice = UsrId::new();
/// store.ensure_user(alice).await?;
/// store.create_org(CreateOrg::new(alice)).await?;
///
/// // Inside the caller's transaction: commits or rolls back with the caller's own writes.
/// let mut client = pool.get().await?;
/// let mut tx = client.transaction().await?;
/// {
///     let store = PostgresTenancyStore::in_transaction(&mut tx);
///     store.create_org(CreateOrg::new(alice)).await?;
/// }
/// tx.execute("SELECT 1", &[]).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct PostgresTenancyStore<'t, 'c> {
    pub(crate) source: Source<'t, 'c>,
    pub(crate) sql: Arc<Sql>,
    pub(crate) clock: SharedClock,
    pub(crate) prepared: bool,
}

impl std::fmt::Debug for PostgresTenancyStore<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.source {
            Source::Pool(_) => "pool",
            Source::Nested(_) => "caller transaction",
        };
        f.debug_struct("PostgresTenancyStore")
            .field("mode", &mode)
            .field("clock", &self.clock)
            .finish()
    }
}

/// The store type built from a pool: it borrows nothing.
pub type PooledTenancyStore = PostgresTenancyStore<'static, 'static>;

impl PostgresTenancyStore<'static, 'static> {
    /// A store over `pool`, with tables in the `public` schema and the system clock.
    pub fn new(pool: Pool) -> Self {
        Self {
            source: Source::Pool(pool),
            sql: Arc::new(Sql::new(DEFAULT_SCHEMA)),
            clock: system_clock(),
            prepared: true,
        }
    }
}

impl<'t, 'c> PostgresTenancyStore<'t, 'c> {
    /// A store that works inside the caller's transaction `tx` (a tokio-postgres transaction,
    /// or a deadpool one through `&mut *tx`), with tables in `public` and the system clock.
    ///
    /// The caller's transaction may run at any isolation level, and every invariant holds
    /// against concurrent clients at any level of theirs (pool calls included):
    ///
    /// | caller's level | what a conflicting concurrent write does to a call |
    /// | --- | --- |
    /// | READ COMMITTED | the call waits for the org's lock, then decides on what is committed; a deadlock or timeout is `storage.retryable_conflict` with [`RetryScope::Call`]: the call may be made again in the same transaction |
    /// | REPEATABLE READ, SERIALIZABLE | when a write to the org committed after the transaction's snapshot was taken, the call fails with `storage.retryable_conflict` and [`RetryScope::Transaction`]: roll the whole transaction back and run it again ([`TenancyError::needs_transaction_restart`]) |
    ///
    /// Errors are never retried here: the call's savepoint is rolled back, the caller's
    /// transaction stays usable, and the caller decides. A transaction that was already aborted
    /// gets `storage.transaction_aborted`, and a write in a read-only transaction
    /// `storage.read_only_transaction`; neither does anything.
    ///
    /// [`RetryScope::Call`]: flametrench_tenancy_core::RetryScope::Call
    /// [`RetryScope::Transaction`]: flametrench_tenancy_core::RetryScope::Transaction
    /// [`TenancyError::needs_transaction_restart`]: flametrench_tenancy_core::TenancyError::needs_transaction_restart
    pub fn in_transaction(tx: &'t mut Transaction<'c>) -> Self {
        Self {
            source: Source::Nested(Mutex::new(tx)),
            sql: Arc::new(Sql::new(DEFAULT_SCHEMA)),
            clock: system_clock(),
            prepared: true,
        }
    }

    /// Uses the tables of `schema` instead of `public`.
    ///
    /// # Errors
    ///
    /// `storage.invalid_schema` when `schema` is not 1 to 63 characters of `[a-z0-9_]` (not
    /// starting with a digit).
    pub fn with_schema(mut self, schema: &str) -> Result<Self, TenancyError> {
        check_schema(schema)?;
        self.sql = Arc::new(Sql::new(schema));
        Ok(self)
    }

    /// Takes every timestamp from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same store with weaker statements: only for tests that show what each protection
    /// prevents (`testing::weakened`).
    #[cfg(feature = "testing")]
    pub(crate) fn with_protection(
        mut self,
        schema: &str,
        protection: crate::sql::Protection,
    ) -> Self {
        self.sql = Arc::new(Sql::with_protection(schema, protection));
        self
    }

    /// Sends unnamed statements instead of preparing each statement once per pooled
    /// connection: for poolers that do not keep prepared statements across transactions
    /// (PgBouncer in transaction mode before 1.21). Costs a parse and plan per statement.
    #[must_use]
    pub fn without_prepared_statements(mut self) -> Self {
        self.prepared = false;
        self
    }

    /// Whether this store works inside a caller's transaction.
    pub fn is_nested(&self) -> bool {
        matches!(self.source, Source::Nested(_))
    }
}

/// A pooled connection that is discarded rather than returned when it may be mid-transaction.
pub(crate) struct PooledConnection {
    object: Option<Object>,
    pub(crate) discard: AtomicBool,
}

impl PooledConnection {
    pub(crate) async fn get(pool: &Pool) -> Result<Self, TenancyError> {
        let object = pool.get().await.map_err(map_pool)?;
        Ok(Self {
            object: Some(object),
            discard: AtomicBool::new(false),
        })
    }

    pub(crate) fn client(&self) -> Option<&Client> {
        self.object.as_ref().map(|object| &***object)
    }

    pub(crate) fn wrapper(&self) -> Option<&deadpool_postgres::ClientWrapper> {
        self.object.as_deref()
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            if self.discard.load(Ordering::Relaxed) || object.is_closed() {
                // Taking the connection out of the pool and dropping it closes it; the server
                // then rolls back whatever was open.
                drop(Object::take(object));
            }
        }
    }
}

/// Runs an operation body with retries (pool) or inside a savepoint (caller's transaction).
///
/// `$op` is the [`Op`](flametrench_tenancy_core::Op), which names the span and the savepoint
/// (`ft_<method>_<8 hex>`). `$id` is the operation's main id, recorded on its tracing span. `$body` is an expression
/// using `$tx: &mut Tx` and returning `Result<T>`; it is evaluated again on each attempt, so it
/// must only borrow its inputs.
macro_rules! transact {
    ($store:expr, $op:expr, $shape:expr, $id:expr, |$tx:ident| $body:expr) => {
        $crate::store::transact!($store, $op, $shape, $id, created: None, |$tx| $body)
    };
    ($store:expr, $op:expr, $shape:expr, $id:expr, created: $created:expr, |$tx:ident| $body:expr) => {{
        let store = $store;
        // The span names the operation and its main id; never an invitation identifier.
        let op: flametrench_tenancy_core::Op = $op;
        let span = tracing::debug_span!("flametrench.tenancy", op = op.name(), id = %$id);
        tracing::Instrument::instrument(
            async {
                match &store.source {
                    $crate::store::Source::Pool(pool) => {
                        // For a write in autocommit that creates a row: the statement finding
                        // that row by the id the SDK chose, and the id.
                        // The third part makes the call's value when the row is found.
                        let created: Option<(&str, &uuid::Uuid, fn() -> _)> = $created;
                        // An earlier attempt's commit answer was lost.
                        let mut lost_commit = false;
                        let mut attempt: u32 = 0;
                        loop {
                            let result = async {
                                let connection = $crate::store::PooledConnection::get(pool).await?;
                                let Some(client) = connection.client() else {
                                    return Err($crate::error::corrupt(
                                        "pooled connection missing",
                                    ));
                                };
                                let cache = if store.prepared { connection.wrapper() } else { None };
                                let mut tx = $crate::exec::Tx::pool(
                                    client,
                                    $shape,
                                    &connection.discard,
                                    cache,
                                    pool,
                                );
                                // The body's `?` ends this inner block, so the abort below
                                // always runs on failure.
                                let result = async {
                                    let $tx = &mut tx;
                                    $body
                                }
                                .await;
                                if result.is_err() {
                                    tx.abort().await;
                                }
                                result
                            }
                            .await;
                            // A lost answer of a write that creates a row: the row, found by
                            // its id, tells whether it committed. When it is missing, the call
                            // is made again with the same ids: should the lost attempt still
                            // commit, one of the two fails on the row's key, and the row is
                            // then found again (so the work is done exactly once).
                            let result = match (result, created) {
                                (Err(error), Some((probe, id, found)))
                                    if lost_commit
                                        || matches!(
                                            error,
                                            flametrench_tenancy_core::TenancyError::CommitOutcomeUnknown { .. }
                                        ) =>
                                {
                                    match $crate::exec::created_row_exists(pool, probe, id).await {
                                        Some(true) => Ok(found()),
                                        Some(false) => match error {
                                            flametrench_tenancy_core::TenancyError::CommitOutcomeUnknown { source } => {
                                                lost_commit = true;
                                                Err(flametrench_tenancy_core::TenancyError::ConnectionLost { source })
                                            }
                                            other => Err(other),
                                        },
                                        None => Err(error),
                                    }
                                }
                                (other, _) => other,
                            };
                            match result {
                                Err(error) if $crate::exec::should_retry(&error, attempt) => {
                                    tracing::debug!(attempt, code = error.code(), "retrying");
                                    $crate::exec::backoff(attempt).await;
                                    attempt += 1;
                                }
                                other => break other,
                            }
                        }
                    }
                    $crate::store::Source::Nested(mutex) => {
                        let guard = mutex.lock().await;
                        let name = $crate::exec::savepoint_name(op.name());
                        let mut tx = $crate::exec::Tx::nested(guard.client(), &name);
                        let result = async {
                            let $tx = &mut tx;
                            $body
                        }
                        .await;
                        match result {
                            Ok(value) => Ok(value),
                            Err(error) => {
                                tx.abort().await;
                                Err($crate::exec::scope_nested_conflict(guard.client(), error).await)
                            }
                        }
                    }
                }
            },
            span,
        )
        .await
    }};
}

pub(crate) use transact;

impl<'a, 't: 'a, 'c: 'a> From<PostgresTenancyStore<'t, 'c>>
    for flametrench_tenancy_core::Tenancy<'a>
{
    fn from(store: PostgresTenancyStore<'t, 'c>) -> Self {
        Self::new(store)
    }
}
