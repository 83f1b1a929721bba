//! Test support (feature `testing`): a hook at the point where an actor-checked write waits
//! for the store's lock, and the weakening that reads the actor before it.
//!
//! The PostgreSQL store's window test holds the org's lock in another transaction while the
//! write waits; here the hook stands in for that transaction: whatever it does (a demotion of
//! the actor, say) commits before the write takes the lock. With the protection as shipped,
//! the write reads its actor under the lock, after the hook, and sees the hook's change;
//! [`InMemoryTenancyStore::with_actor_read_before_lock`] reads the actor first, so a test of
//! the window fails with it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{Membership, Op, Role};

use crate::store::InMemoryTenancyStore;

/// What a lock hook returns: the work to finish before the write takes the lock.
pub type HookFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

type HookFn = dyn Fn(Op) -> HookFuture + Send + Sync;

#[derive(Clone)]
pub(crate) struct LockHook {
    run: Arc<HookFn>,
    actor_before_lock: bool,
}

impl fmt::Debug for LockHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockHook")
            .field("actor_before_lock", &self.actor_before_lock)
            .finish_non_exhaustive()
    }
}

impl InMemoryTenancyStore {
    /// This store (the same state) with `hook` run, with the lock not held, just before an
    /// actor-checked write takes the store's lock: the membership writes that name another
    /// user (an actor, an admin, a successor), and `update_org`, the org transitions,
    /// `transfer_ownership` and `add_member` given an actor. The hook gets the operation; what
    /// it changes is seen by the write.
    #[must_use]
    pub fn with_lock_hook(&self, hook: impl Fn(Op) -> HookFuture + Send + Sync + 'static) -> Self {
        self.hooked(LockHook {
            run: Arc::new(hook),
            actor_before_lock: false,
        })
    }

    /// As [`with_lock_hook`](Self::with_lock_hook), weakened: the write reads its actor's
    /// membership before the hook runs and decides on that read, as a check made before the
    /// lock would. Only for showing that the window test catches the weakness.
    #[must_use]
    pub fn with_actor_read_before_lock(
        &self,
        hook: impl Fn(Op) -> HookFuture + Send + Sync + 'static,
    ) -> Self {
        self.hooked(LockHook {
            run: Arc::new(hook),
            actor_before_lock: true,
        })
    }

    /// Before an org write checked by `actor` takes the lock: the weakened read of the
    /// actor's role in `org` (`Some` only when weakened), then the hook.
    pub(crate) async fn before_lock(
        &self,
        op: Op,
        actor: Option<UsrId>,
        org: Option<OrgId>,
    ) -> Option<Option<Option<Role>>> {
        let (hook, actor, org) = (self.hook()?, actor?, org?);
        let stale = hook.actor_before_lock.then(|| {
            Some(
                self.read(|state| state.active_membership(actor, org))
                    .map(|membership| membership.role),
            )
        });
        (hook.run)(op).await;
        stale
    }

    /// Before a membership write on `mem` naming `named` takes the lock: the weakened read of
    /// `named`'s membership in `mem`'s org (`Some` only when weakened), then the hook.
    pub(crate) async fn before_lock_on_member(
        &self,
        op: Op,
        named: Option<UsrId>,
        mem: MemId,
    ) -> Option<Option<Membership>> {
        let (hook, named) = (self.hook()?, named?);
        let stale = hook.actor_before_lock.then(|| {
            self.read(|state| {
                let org = state.membership(mem)?.org_id;
                state.active_membership(named, org)
            })
        });
        (hook.run)(op).await;
        stale
    }
}
