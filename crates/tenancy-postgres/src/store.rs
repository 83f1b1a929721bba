//! `PostgresTenancyStore`: construction, its sources (a pool, the caller's transaction, or
//! one it opened) and the caller's access to a transaction's connection. How one call runs on
//! a source is [`run`](crate::run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{Object, Pool};
use flametrench_tenancy_core::{SharedClock, TenancyError, system_clock};
use tokio::sync::Mutex;
use tokio_postgres::{Client, Transaction};

use crate::error::map_pool;
use crate::migrate::Layout;
use crate::sql::Sql;

/// The schema used when none is chosen.
pub const DEFAULT_SCHEMA: &str = "public";

/// Checks a schema name: 1 to 63 characters of `[a-z0-9_]`, not starting with a digit nor
/// with `pg_` (PostgreSQL's reserved prefix).
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
    if schema.starts_with("pg_") {
        // PostgreSQL reserves these names (`pg_catalog`, `pg_toast`, …): a schema of that name
        // cannot be created, and the system's own must not receive the tables.
        return invalid("a schema name does not start with pg_ (reserved by PostgreSQL)");
    }
    Ok(())
}

pub(crate) enum Source<'t, 'c> {
    Pool(Pool),
    Nested(Mutex<&'t mut Transaction<'c>>),
    /// A pooled connection with a transaction [`PostgresTenancyStore::begin`] opened (boxed:
    /// a pooled object is large beside the other sources).
    Owned(Arc<Owned>),
}

/// The connection of a transaction [`PostgresTenancyStore::begin`] opened, and the pool it
/// came from (whose other connections resolve a lost commit).
pub(crate) struct Owned {
    pub(crate) connection: Mutex<Object>,
    pub(crate) pool: Pool,
    /// Set, under the connection's lock, once `COMMIT` or `ROLLBACK` was sent: later calls are
    /// refused there, so none runs outside the transaction.
    pub(crate) ended: AtomicBool,
}

/// Exclusive access to the connection of a store that works inside a transaction: the
/// caller's own statements run on it, inside that transaction, between SDK calls. SDK calls
/// on the same store wait while it is held, so drop it before the next call.
pub struct CallerClient<'g, 't, 'c> {
    guard: CallerGuard<'g, 't, 'c>,
}

enum CallerGuard<'g, 't, 'c> {
    Borrowed(tokio::sync::MutexGuard<'g, &'t mut Transaction<'c>>),
    Owned(tokio::sync::MutexGuard<'g, Object>),
}

impl CallerClient<'_, '_, '_> {
    /// The connection, inside the transaction.
    pub fn client(&self) -> &Client {
        match &self.guard {
            CallerGuard::Borrowed(tx) => tx.client(),
            CallerGuard::Owned(object) => object,
        }
    }
}

impl std::ops::Deref for CallerClient<'_, '_, '_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client()
    }
}

impl std::fmt::Debug for CallerClient<'_, '_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerClient")
    }
}

/// The connection under a nested call: the caller's transaction, or an owned one.
pub(crate) struct NestedGuard<'g, 't, 'c>(CallerGuard<'g, 't, 'c>);

impl NestedGuard<'_, '_, '_> {
    pub(crate) fn client(&self) -> &Client {
        match &self.0 {
            CallerGuard::Borrowed(tx) => tx.client(),
            CallerGuard::Owned(object) => object,
        }
    }
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
    /// How long a lost commit is looked into before it is `storage.commit_outcome_unknown`.
    pub(crate) resolve_budget: std::time::Duration,
}

impl std::fmt::Debug for PostgresTenancyStore<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.source {
            Source::Pool(_) => "pool",
            Source::Nested(_) => "caller transaction",
            Source::Owned(_) => "owned transaction",
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
            sql: Arc::new(Sql::new(DEFAULT_SCHEMA, Layout::SingleNode)),
            clock: system_clock(),
            prepared: true,
            resolve_budget: crate::exec::RESOLVE_BUDGET,
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
            sql: Arc::new(Sql::new(DEFAULT_SCHEMA, Layout::SingleNode)),
            clock: system_clock(),
            prepared: true,
            resolve_budget: crate::exec::RESOLVE_BUDGET,
        }
    }

    /// Uses the tables of `schema` instead of `public`.
    ///
    /// # Errors
    ///
    /// `storage.invalid_schema` when `schema` is not 1 to 63 characters of `[a-z0-9_]` (not
    /// starting with a digit, nor with `pg_`, which PostgreSQL reserves).
    pub fn with_schema(mut self, schema: &str) -> Result<Self, TenancyError> {
        check_schema(schema)?;
        self.sql = Arc::new(Sql::new(schema, self.sql.layout));
        Ok(self)
    }

    /// Sends the statements of `layout`: [`Layout::Distributed`] for tables that
    /// [`migrate_with_layout`](crate::migrate_with_layout) laid out on Citus. The default is
    /// [`Layout::SingleNode`].
    ///
    /// On the distributed layout a membership or invitation write that is not scoped to its
    /// org (`in_org`) first reads the org of its membership or invitation, one more round
    /// trip, and then runs as the scoped call: Citus locks a row only by its distribution
    /// column.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.sql = Arc::new(Sql::new(&self.sql.schema, layout));
        self
    }

    /// The layout the store's statements are written for.
    pub fn layout(&self) -> Layout {
        self.sql.layout
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
        self.sql = Arc::new(Sql::with_protection(schema, self.sql.layout, protection));
        self
    }

    /// Looks into a lost commit (the connection broke while a `COMMIT` was in flight) for up to
    /// `budget` before reporting `storage.commit_outcome_unknown` (default 10 s): the time the
    /// server may take to notice the broken connection and end its transaction, polled on
    /// other connections. Applies to pool calls and to [`StoreTransaction::commit`].
    #[must_use]
    pub fn with_resolve_budget(mut self, budget: std::time::Duration) -> Self {
        self.resolve_budget = budget;
        self
    }

    /// The pool the store was built from; `None` for a store inside a caller's transaction.
    /// A store from [`begin`](Self::begin) keeps its pool too (for lost-commit resolution and
    /// the caller's own pooled work).
    pub fn pool(&self) -> Option<&Pool> {
        match &self.source {
            Source::Pool(pool) => Some(pool),
            Source::Nested(_) => None,
            Source::Owned(owned) => Some(&owned.pool),
        }
    }

    /// Sends unnamed statements instead of preparing each statement once per pooled
    /// connection: for poolers that do not keep prepared statements across transactions
    /// (PgBouncer in transaction mode before 1.21). Costs a parse and plan per statement.
    #[must_use]
    pub fn without_prepared_statements(mut self) -> Self {
        self.prepared = false;
        self
    }

    /// Whether this store works inside a transaction (the caller's, or one from
    /// [`begin`](Self::begin)) rather than over a pool.
    pub fn is_nested(&self) -> bool {
        !matches!(self.source, Source::Pool(_))
    }

    /// The transaction's connection, for the caller's own statements between SDK calls (they
    /// commit or roll back with the SDK's work); `None` over a pool, which has no transaction
    /// of its own. SDK calls on this store wait while the returned guard is held: drop it
    /// before the next call.
    ///
    /// ```no_run
    /// # async fn demo(tx: &mut tokio_postgres::Transaction<'_>) -> Result<(), Box<dyn std::error::Error>> {
    /// use flametrench_tenancy_core::{CreateOrg, Tenancy};
    /// use flametrench_tenancy_postgres::PostgresTenancyStore;
    /// # let alice = flametrench_ids::UsrId::new();
    /// let store = PostgresTenancyStore::in_transaction(tx);
    /// if let Some(client) = store.caller_client().await {
    ///     client.execute("INSERT INTO audit (what) VALUES ('org created')", &[]).await?;
    /// }
    /// Tenancy::new(&store).create_org(CreateOrg::new(alice)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn caller_client(&self) -> Option<CallerClient<'_, 't, 'c>> {
        let guard = match &self.source {
            Source::Pool(_) => return None,
            Source::Nested(mutex) => CallerGuard::Borrowed(mutex.lock().await),
            Source::Owned(owned) => CallerGuard::Owned(owned.connection.lock().await),
        };
        Some(CallerClient { guard })
    }

    /// The connection of a nested call (caller's or owned transaction).
    ///
    /// # Errors
    ///
    /// Over a pool (no transaction to nest in), and once an owned transaction ended (checked
    /// under the connection's lock, so that no call runs after its `COMMIT`).
    pub(crate) async fn nested_guard(&self) -> Result<NestedGuard<'_, 't, 'c>, TenancyError> {
        match &self.source {
            Source::Pool(_) => Err(crate::error::corrupt("a nested call without a transaction")),
            Source::Nested(mutex) => Ok(NestedGuard(CallerGuard::Borrowed(mutex.lock().await))),
            Source::Owned(owned) => {
                let guard = owned.connection.lock().await;
                if owned.ended.load(Ordering::Acquire) {
                    return Err(ended());
                }
                Ok(NestedGuard(CallerGuard::Owned(guard)))
            }
        }
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

impl<'a, 't: 'a, 'c: 'a> From<PostgresTenancyStore<'t, 'c>>
    for flametrench_tenancy_core::Tenancy<'a>
{
    fn from(store: PostgresTenancyStore<'t, 'c>) -> Self {
        Self::new(store)
    }
}

impl PostgresTenancyStore<'static, 'static> {
    /// Opens a transaction on one of the pool's connections (`BEGIN ISOLATION LEVEL READ
    /// COMMITTED`) and returns it as a store: its calls nest in savepoints as inside a
    /// caller's transaction, [`caller_client`](Self::caller_client) runs the caller's own
    /// statements inside it, and [`StoreTransaction::commit`] or
    /// [`StoreTransaction::rollback`] ends it. Dropped without either, it is rolled back.
    ///
    /// ```no_run
    /// # async fn demo(pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
    /// use flametrench_tenancy_core::{CreateOrg, Tenancy};
    /// use flametrench_tenancy_postgres::PostgresTenancyStore;
    /// # let alice = flametrench_ids::UsrId::new();
    /// let store = PostgresTenancyStore::new(pool);
    /// let tx = store.begin().await?;
    /// let created = Tenancy::new(&*tx).create_org(CreateOrg::new(alice)).await?;
    /// if let Some(client) = tx.caller_client().await {
    ///     client
    ///         .execute("INSERT INTO audit (org) VALUES ($1)", &[&created.org.id.as_uuid()])
    ///         .await?;
    /// }
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `storage.not_supported` on a store that already works inside a transaction; a storage
    /// error when no connection could be had or `BEGIN` failed.
    pub async fn begin(&self) -> Result<StoreTransaction, TenancyError> {
        let Source::Pool(pool) = &self.source else {
            return Err(TenancyError::NotSupported {
                what: "begin on a store that already works inside a transaction",
            });
        };
        let object = pool.get().await.map_err(map_pool)?;
        if let Err(error) = object
            .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
        {
            // The connection's state is unknown: do not return it to the pool.
            drop(Object::take(object));
            return Err(crate::error::map_pg(
                error,
                crate::error::Phase::BeforeCommit,
            ));
        }
        let owned = Arc::new(Owned {
            connection: Mutex::new(object),
            pool: pool.clone(),
            ended: AtomicBool::new(false),
        });
        Ok(StoreTransaction {
            owned: owned.clone(),
            store: Self {
                source: Source::Owned(owned),
                sql: self.sql.clone(),
                clock: self.clock.clone(),
                prepared: self.prepared,
                resolve_budget: self.resolve_budget,
            },
        })
    }
}

/// A transaction opened by [`PostgresTenancyStore::begin`]: a store (through `Deref`) whose
/// calls nest in savepoints, with [`caller_client`](PostgresTenancyStore::caller_client) for
/// the caller's own statements. Ends with [`commit`](Self::commit) or
/// [`rollback`](Self::rollback); dropped without either, it is rolled back (the `ROLLBACK` is
/// queued on the connection before it goes back to the pool).
pub struct StoreTransaction {
    /// Its connection and pool, shared with `store`'s source.
    owned: Arc<Owned>,
    store: PostgresTenancyStore<'static, 'static>,
}

impl std::fmt::Debug for StoreTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTransaction")
            .field("ended", &self.owned.ended.load(Ordering::Relaxed))
            .finish()
    }
}

impl std::ops::Deref for StoreTransaction {
    type Target = PostgresTenancyStore<'static, 'static>;

    fn deref(&self) -> &Self::Target {
        &self.store
    }
}

impl StoreTransaction {
    /// The transaction's connection, for the caller's own statements (they commit or roll
    /// back with the SDK's work). SDK calls on this transaction wait while the returned guard
    /// is held: drop it before the next call.
    ///
    /// Once the transaction ended (committed or rolled back through a clone of its
    /// [`Unit`](flametrench_tenancy_core::Unit)), the connection is no longer in it: statements
    /// sent then run on their own. SDK calls are refused then (`storage.not_supported`); the
    /// caller's own statements are the caller's to stop.
    pub async fn client(&self) -> CallerClient<'_, 'static, 'static> {
        CallerClient {
            guard: CallerGuard::Owned(self.owned.connection.lock().await),
        }
    }

    /// Commits the SDK's work and the caller's own statements together.
    ///
    /// When the connection breaks while the `COMMIT` is in flight, the outcome is looked into as
    /// for a pool call: the transaction's id came back in the `COMMIT`'s own flight, and other
    /// connections of the pool ask the server what became of it, for up to the store's
    /// resolve budget ([`PostgresTenancyStore::with_resolve_budget`]). Committed, this returns
    /// `Ok`; rolled back, `storage.connection_lost` (nothing was written: run the unit again);
    /// a transaction that wrote nothing has nothing to lose and returns `Ok`.
    ///
    /// # Errors
    ///
    /// `storage.transaction_aborted` when a statement of the transaction failed (it is rolled
    /// back instead; the server would turn the `COMMIT` into a `ROLLBACK` without an error);
    /// `storage.connection_lost` when a lost commit was found rolled back;
    /// `storage.commit_outcome_unknown` when the server could not say within the budget;
    /// another storage error from the server.
    pub async fn commit(self) -> Result<(), TenancyError> {
        self.end_commit().await
    }

    async fn end_commit(&self) -> Result<(), TenancyError> {
        let budget = self.store.resolve_budget;
        let owned = self.owned.clone();
        let object = owned.connection.lock().await;
        // Ended under the lock and sent in the same poll: a commit dropped while it waits for
        // the connection leaves the transaction to `Drop`'s rollback.
        if owned.ended.swap(true, Ordering::AcqRel) {
            return Err(ended());
        }
        if object.is_closed() {
            // Nothing can be sent: the server rolls back a transaction whose connection is gone.
            return Err(TenancyError::ConnectionLost {
                source: Box::new(std::io::Error::other(
                    "the connection closed before COMMIT was sent",
                )),
            });
        }
        // In the same flight: the transaction's id (null when it wrote nothing) and backend,
        // and a statement that fails when the transaction is aborted (then the COMMIT that
        // follows is a rollback).
        let (asked, commit) = tokio::join!(
            object.query_typed(
                "SELECT pg_current_xact_id_if_assigned()::text, pg_backend_pid()",
                &[]
            ),
            object.batch_execute("COMMIT")
        );
        let xact = match asked {
            Err(error)
                if error.code()
                    == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION) =>
            {
                return Err(TenancyError::TransactionAborted);
            }
            // The server answered the statement before the COMMIT with an error (a backend
            // ended, say): the COMMIT behind it did not commit.
            Err(error) if error.code().is_some() => {
                return Err(crate::error::transaction_scoped(crate::error::map_pg(
                    error,
                    crate::error::Phase::BeforeCommit,
                )));
            }
            // The answer was lost: the COMMIT may have run, and its id is unknown.
            Err(error) => return Err(crate::error::map_pg(error, crate::error::Phase::Commit)),
            Ok(rows) => rows.first().map(|row| {
                (
                    row.try_get::<_, Option<String>>(0).ok().flatten(),
                    row.try_get::<_, i32>(1).unwrap_or_default(),
                )
            }),
        };
        let error = match commit {
            Ok(()) => return Ok(()),
            // A conflict at COMMIT (a deferred check, a serialization failure) ended the
            // transaction: what may run again is the whole unit.
            Err(error) => crate::error::transaction_scoped(crate::error::map_pg(
                error,
                crate::error::Phase::Commit,
            )),
        };
        let TenancyError::CommitOutcomeUnknown { source } = error else {
            return Err(error);
        };
        let layout = self.store.sql.layout;
        match xact {
            // Nothing was written: there is nothing the commit could have lost. On Citus the
            // coordinator assigns no transaction id to a write on a worker, so that says
            // nothing there.
            Some((None, _)) if layout == Layout::SingleNode => Ok(()),
            Some((Some(xid), pid)) => {
                match crate::exec::resolve(&owned.pool, &xid, pid, budget, layout).await {
                    crate::exec::Resolution::Committed => Ok(()),
                    crate::exec::Resolution::Aborted => {
                        Err(TenancyError::ConnectionLost { source })
                    }
                    crate::exec::Resolution::Unknown => {
                        Err(TenancyError::CommitOutcomeUnknown { source })
                    }
                }
            }
            Some((None, _)) | None => Err(TenancyError::CommitOutcomeUnknown { source }),
        }
    }

    /// Rolls back the SDK's work and the caller's own statements.
    ///
    /// # Errors
    ///
    /// A storage error when the connection could not run `ROLLBACK` (the server rolls back a
    /// transaction whose connection is gone).
    pub async fn rollback(self) -> Result<(), TenancyError> {
        self.end_rollback().await
    }

    async fn end_rollback(&self) -> Result<(), TenancyError> {
        let object = self.owned.connection.lock().await;
        if self.owned.ended.swap(true, Ordering::AcqRel) {
            return Err(ended());
        }
        object
            .batch_execute("ROLLBACK")
            .await
            .map_err(|error| crate::error::map_pg(error, crate::error::Phase::BeforeCommit))
    }
}

impl Drop for StoreTransaction {
    fn drop(&mut self) {
        if self.owned.ended.load(Ordering::Acquire) {
            return;
        }
        // Nothing else holds the connection: every guard borrows the transaction.
        if let Ok(object) = self.owned.connection.try_lock() {
            self.owned.ended.store(true, Ordering::Release);
            // Queued before anything the connection's next user sends.
            crate::exec::send_without_waiting(object.batch_execute("ROLLBACK"));
        }
    }
}

fn ended() -> TenancyError {
    TenancyError::NotSupported {
        what: "calls on a transaction that has ended",
    }
}

/// A [`StoreTransaction`] is a unit of work of the core's ([`flametrench_tenancy_core::Unit`]):
/// [`PostgresTenancyStore`]'s `begin_unit` (and `Tenancy::begin`) return one.
impl flametrench_tenancy_core::UnitOfWork for StoreTransaction {
    async fn commit_unit(&self) -> Result<(), TenancyError> {
        self.end_commit().await
    }

    async fn rollback_unit(&self) -> Result<(), TenancyError> {
        self.end_rollback().await
    }
}

macro_rules! delegate_to_store {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// The store's calls, inside the transaction; refused once it ended.
        impl flametrench_tenancy_core::TenancyStore for StoreTransaction {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret, TenancyError> {
                    if self.owned.ended.load(Ordering::Acquire) {
                        return Err(ended());
                    }
                    self.store.$name($($arg),*).await
                }
            )*
        }
    };
}

flametrench_tenancy_core::tenancy_operations!(delegate_to_store);
