//! Units of work: several calls, and on PostgreSQL the application's own statements, that
//! commit or roll back as one ([`Unit`], from [`Tenancy::begin`](crate::Tenancy::begin) or
//! [`TenancyStore::begin_unit`]), and [`Tenancy::in_unit`](crate::Tenancy::in_unit), which runs
//! a whole unit again when it fails with a retryable error.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use crate::dynamic::{BoxFuture, DynTenancyStore};
use crate::error::{Result, TenancyError};
use crate::handle::Tenancy;
use crate::store::TenancyStore;

/// A store's unit of work, for store implementers: its calls are the store's own, grouped, and
/// it ends by [`commit_unit`](Self::commit_unit) or [`rollback_unit`](Self::rollback_unit).
/// A unit dropped without either leaves the store as it was. Wrap it in a [`Unit`] with
/// [`Unit::new`].
pub trait UnitOfWork: TenancyStore + 'static {
    /// Makes the unit's work visible to others, all of it, or none of it with an error. Calls
    /// on the unit fail once it ended.
    ///
    /// # Errors
    ///
    /// The store's: a conflict with work committed since the unit began
    /// (`storage.retryable_conflict`, scoped to the unit), a lost connection, …
    fn commit_unit(&self) -> impl Future<Output = Result<()>> + Send;

    /// Discards the unit's work.
    ///
    /// # Errors
    ///
    /// The store's, when it could not say so to its storage (the work is discarded anyway).
    fn rollback_unit(&self) -> impl Future<Output = Result<()>> + Send;
}

/// The object-safe form of [`UnitOfWork`] that [`Unit`] holds.
trait DynUnit: DynTenancyStore + Any {
    fn commit_dyn(&self) -> BoxFuture<'_, Result<()>>;
    fn rollback_dyn(&self) -> BoxFuture<'_, Result<()>>;
    fn as_any(&self) -> &dyn Any;
    fn into_store(self: Arc<Self>) -> Arc<dyn DynTenancyStore>;
}

impl<U: UnitOfWork> DynUnit for U {
    fn commit_dyn(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.commit_unit())
    }

    fn rollback_dyn(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.rollback_unit())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_store(self: Arc<Self>) -> Arc<dyn DynTenancyStore> {
        self
    }
}

/// A unit of work on any store: every call made through it (it is a [`TenancyStore`], and
/// [`tenancy`](Self::tenancy) gives a handle on it) commits or rolls back as one.
///
/// - On the memory store, other callers see nothing of it until [`commit`](Self::commit);
///   the commit fails with a retryable conflict if anything else was written meanwhile, so the
///   unit is serializable.
/// - On PostgreSQL it is a transaction (READ COMMITTED) on one pooled connection; the
///   application's own statements join it through the store's transaction
///   (`unit.downcast_ref::<flametrench_tenancy_postgres::StoreTransaction>()` and its
///   `client()`).
///
/// Dropped without [`commit`](Self::commit), a unit is rolled back. Clones share the unit.
///
/// ```
/// use flametrench_tenancy_core::{CreateOrg, Tenancy, TenancyStore};
/// # async fn demo(tenancy: Tenancy<'static>, alice: flametrench_tenancy_core::ids::UsrId)
/// #     -> flametrench_tenancy_core::Result<()> {
/// let unit = tenancy.begin().await?;
/// let created = unit.create_org(CreateOrg::new(alice)).await?;
/// unit.get_org(created.org.id).await?; // the unit sees its own work
/// unit.commit().await?; // and now everyone does
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Unit {
    inner: Arc<dyn DynUnit>,
}

impl std::fmt::Debug for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unit")
    }
}

impl Unit {
    /// Wraps a store's unit of work (for store implementers).
    pub fn new<U: UnitOfWork>(unit: U) -> Self {
        Self {
            inner: Arc::new(unit),
        }
    }

    /// A handle on the unit, for code that takes a [`Tenancy`].
    pub fn tenancy(&self) -> Tenancy<'static> {
        Tenancy::from_shared(self.inner.clone().into_store())
    }

    /// The store's own unit type, for what only that store offers (on PostgreSQL,
    /// `StoreTransaction::client` for the application's own statements).
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.inner.as_any().downcast_ref()
    }

    /// Commits the unit: all of its work, or none of it with an error.
    ///
    /// # Errors
    ///
    /// `storage.retryable_conflict` (needing the whole unit to run again:
    /// [`TenancyError::needs_transaction_restart`]) when the store must refuse it (a write
    /// since the unit began, on memory; a conflict at `COMMIT`, on PostgreSQL);
    /// `storage.connection_lost` when the connection broke and nothing was committed; another
    /// storage error when the commit failed; `storage.commit_outcome_unknown` when the store
    /// could not find out whether it committed.
    pub async fn commit(self) -> Result<()> {
        self.inner.commit_dyn().await
    }

    /// Rolls the unit back.
    ///
    /// # Errors
    ///
    /// A storage error when the store could not say so to its storage; the work is not
    /// committed either way.
    pub async fn rollback(self) -> Result<()> {
        self.inner.rollback_dyn().await
    }
}

macro_rules! define_unit_store {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// The operations, as inherent methods (as on [`Tenancy`]): no trait import needed.
        impl Unit {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    DynTenancyStore::$name(&*self.inner, $($arg),*).await
                }
            )*
        }

        impl TenancyStore for Unit {
            $(
                fn $name(&self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send {
                    DynTenancyStore::$name(&*self.inner, $($arg),*)
                }
            )*
        }
    };
}

crate::tenancy_operations!(define_unit_store);

/// How many times [`Tenancy::in_unit`](crate::Tenancy::in_unit) runs a unit at most.
pub const UNIT_ATTEMPTS: u32 = 5;

/// Whether a unit that failed with `error` should run again from its start: the error says
/// nothing was committed and that the same work may succeed (a conflict, a lost connection, a
/// lost commit found rolled back).
pub fn unit_may_run_again(error: &TenancyError) -> bool {
    error.is_retryable() || error.needs_transaction_restart()
}

impl Tenancy<'_> {
    /// Opens a unit of work on the store ([`Unit`]).
    ///
    /// # Errors
    ///
    /// `storage.not_supported` on a store without units of work (a PostgreSQL store inside a
    /// caller's transaction, a unit itself); a storage error when none could be opened.
    pub async fn begin(&self) -> Result<Unit> {
        self.as_dyn().begin_unit().await
    }

    /// Runs `work` in a unit of work and commits it; when the unit (its work or its commit)
    /// fails with an error after which it may run again ([`unit_may_run_again`]), rolls it
    /// back and runs it again from the start, in a new unit, up to [`UNIT_ATTEMPTS`] times in
    /// all. Any other error ends it, rolled back.
    ///
    /// `work` gets the unit (a clone: keep it or drop it) and is written once; it may be
    /// called several times, so it must not have effects outside the unit that it cannot
    /// repeat.
    ///
    /// ```
    /// use flametrench_tenancy_core::{AddMember, CreateOrg, Role, Tenancy, TenancyStore};
    /// # async fn demo(tenancy: Tenancy<'static>, alice: flametrench_tenancy_core::ids::UsrId,
    /// #     bob: flametrench_tenancy_core::ids::UsrId) -> flametrench_tenancy_core::Result<()> {
    /// let org = tenancy
    ///     .in_unit(|unit| async move {
    ///         let org = unit.create_org(CreateOrg::new(alice)).await?.org;
    ///         unit.add_member(AddMember::new(org.id, bob, Role::Admin)).await?;
    ///         Ok(org)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The last attempt's error, or the first error after which the unit may not run again.
    pub async fn in_unit<T, F, Fut>(&self, mut work: F) -> Result<T>
    where
        F: FnMut(Unit) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            let outcome = match self.begin().await {
                // A unit that could not begin (a stale connection, say) is tried again too.
                Err(error) => Err(error),
                Ok(unit) => match work(unit.clone()).await {
                    Ok(value) => unit.commit().await.map(|()| value),
                    Err(error) => {
                        // The work's error is the one to report; a failed rollback changes
                        // nothing.
                        let _ = unit.rollback().await;
                        Err(error)
                    }
                },
            };
            match outcome {
                Err(error) if unit_may_run_again(&error) && attempt < UNIT_ATTEMPTS => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
