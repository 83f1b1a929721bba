//! The memory store's unit of work: its calls work on a private copy of the state, which
//! replaces the store's at commit if nothing else was written since.

use std::sync::atomic::{AtomicBool, Ordering};

use flametrench_tenancy_core::backend::Snapshot;
use flametrench_tenancy_core::{
    ConflictKind, Result, RetryScope, TenancyError, TenancyStore, UnitOfWork,
};

use crate::store::InMemoryTenancyStore;

/// A unit of work on an [`InMemoryTenancyStore`], from
/// [`begin_unit`](TenancyStore::begin_unit) (most callers use `Tenancy::begin` or
/// `Tenancy::in_unit`).
///
/// It begins with a copy of the store's state (O(size)) and its calls work on that copy: other
/// callers see none of it until [`commit_unit`](UnitOfWork::commit_unit), which replaces the
/// store's state with the unit's if nothing else was written since the unit began, and
/// otherwise fails with `storage.retryable_conflict` (to be run again as a whole). So units
/// are serializable, and no lock is held while the unit's caller awaits anything. Dropped or
/// rolled back, the unit leaves the store as it was.
#[derive(Debug)]
pub struct InMemoryUnit {
    store: InMemoryTenancyStore,
    work: InMemoryTenancyStore,
    /// The store's version when the unit began.
    base: u64,
    ended: AtomicBool,
}

impl InMemoryUnit {
    pub(crate) fn begin(store: &InMemoryTenancyStore) -> Self {
        let (copy, base) = {
            let state = store.lock();
            (state.clone(), state.version)
        };
        Self {
            store: store.clone(),
            work: InMemoryTenancyStore::over(copy, store.clock().clone()),
            base,
            ended: AtomicBool::new(false),
        }
    }

    /// The unit's rows as it sees them (its own work included), for checks and debugging.
    pub fn snapshot(&self) -> Snapshot {
        self.work.snapshot()
    }

    /// Fails once the unit ended.
    fn open(&self) -> Result<()> {
        if self.ended.load(Ordering::Acquire) {
            Err(ended())
        } else {
            Ok(())
        }
    }
}

fn ended() -> TenancyError {
    TenancyError::NotSupported {
        what: "calls on a unit of work that has ended",
    }
}

impl UnitOfWork for InMemoryUnit {
    async fn commit_unit(&self) -> Result<()> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return Err(ended());
        }
        let mut state = self.store.lock();
        if state.version != self.base {
            return Err(TenancyError::RetryableConflict {
                kind: ConflictKind::SerializationFailure,
                scope: RetryScope::Transaction,
                source: Box::new(std::io::Error::other(
                    "the store was written since the unit of work began",
                )),
            });
        }
        let mut next = std::mem::take(&mut *self.work.lock());
        next.version = self.base + 1;
        *state = next;
        Ok(())
    }

    async fn rollback_unit(&self) -> Result<()> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return Err(ended());
        }
        drop(std::mem::take(&mut *self.work.lock()));
        Ok(())
    }
}

macro_rules! delegate_to_work {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl TenancyStore for InMemoryUnit {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    self.open()?;
                    self.work.$name($($arg),*).await
                }
            )*
        }
    };
}

flametrench_tenancy_core::tenancy_operations!(delegate_to_work);
