//! The window between an authority check and its write, on the memory store: the lock hook
//! stands in for the transaction that demotes the actor while the write waits for the store's
//! lock. The write reads its actor under the lock and is refused; with the actor read before the
//! lock (`with_actor_read_before_lock`), the same scenario lets the demoted actor's write
//! through, which is what this test is there to catch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AddMember, ChangeRole, CreateOrg, MemberAction, Op, OrgAction, Result, Role, TenancyStore,
    TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_memory::testing::HookFuture;

/// An org with an owner, a second owner, an admin and a member (and a suspended guest).
struct Scene {
    org: OrgId,
    owner: (UsrId, MemId),
    co_owner: (UsrId, MemId),
    admin: (UsrId, MemId),
    member: MemId,
    guest: MemId,
    newcomer: UsrId,
}

async fn scene(store: &InMemoryTenancyStore) -> Scene {
    let users: Vec<UsrId> = (0..6).map(|_| UsrId::new()).collect();
    for usr in &users {
        store.ensure_user(*usr).await.expect("user");
    }
    let created = store
        .create_org(CreateOrg::new(users[0]))
        .await
        .expect("org");
    let org = created.org.id;
    let add = |usr, role| store.add_member(AddMember::new(org, usr, role));
    let co_owner = add(users[1], Role::Owner).await.expect("co-owner").id;
    let admin = add(users[2], Role::Admin).await.expect("admin").id;
    let member = add(users[3], Role::Member).await.expect("member").id;
    let guest = add(users[4], Role::Guest).await.expect("guest").id;
    store
        .suspend_membership(MemberAction::new(guest))
        .await
        .expect("suspend the guest");
    Scene {
        org,
        owner: (users[0], created.owner_membership.id),
        co_owner: (users[1], co_owner),
        admin: (users[2], admin),
        member,
        guest,
        newcomer: users[5],
    }
}

/// The writes an admin's authority allows, and those only an owner's does.
#[derive(Debug, Clone, Copy)]
enum Write {
    ChangeRole,
    Suspend,
    Reinstate,
    AddMember,
    UpdateOrg,
    SuspendOrg,
    Transfer,
}

impl Write {
    const ALL: [Write; 7] = [
        Write::ChangeRole,
        Write::Suspend,
        Write::Reinstate,
        Write::AddMember,
        Write::UpdateOrg,
        Write::SuspendOrg,
        Write::Transfer,
    ];

    /// Whether the write needs an owner (then the co-owner acts and is demoted).
    fn needs_owner(self) -> bool {
        matches!(self, Write::SuspendOrg | Write::Transfer)
    }

    async fn run(self, store: &InMemoryTenancyStore, scene: &Scene) -> Result<()> {
        let (admin, _) = scene.admin;
        let (co_owner, _) = scene.co_owner;
        match self {
            Write::ChangeRole => store
                .change_role(
                    ChangeRole::new(scene.member, Role::Guest)
                        .in_org(scene.org)
                        .by(admin),
                )
                .await
                .map(drop),
            Write::Suspend => store
                .suspend_membership(MemberAction::new(scene.member).in_org(scene.org).by(admin))
                .await
                .map(drop),
            Write::Reinstate => store
                .reinstate_membership(MemberAction::new(scene.guest).by(admin))
                .await
                .map(drop),
            Write::AddMember => store
                .add_member(AddMember::new(scene.org, scene.newcomer, Role::Member).by(admin))
                .await
                .map(drop),
            Write::UpdateOrg => store
                .update_org(UpdateOrg::new(scene.org).by(admin))
                .await
                .map(drop),
            Write::SuspendOrg => store
                .suspend_org(OrgAction::new(scene.org).by(co_owner))
                .await
                .map(drop),
            // The co-owner hands the first owner's ownership to the admin.
            Write::Transfer => store
                .transfer_ownership(
                    TransferOwnership::new(scene.org, scene.owner.1, scene.admin.1).by(co_owner),
                )
                .await
                .map(drop),
        }
    }
}

/// Runs `write` by its actor while the hook demotes that actor (once) just before the write
/// takes the lock; `weakened` reads the actor before the hook.
async fn demoted_while_waiting(write: Write, weakened: bool) -> (Result<()>, bool) {
    let plain = InMemoryTenancyStore::new();
    let scene = scene(&plain).await;
    let demote = if write.needs_owner() {
        scene.co_owner.1
    } else {
        scene.admin.1
    };
    let owner = scene.owner.0;
    let fired = Arc::new(AtomicBool::new(false));
    let hook = {
        let (plain, fired) = (plain.clone(), fired.clone());
        move |_op: Op| -> HookFuture {
            let (plain, fired) = (plain.clone(), fired.clone());
            Box::pin(async move {
                if !fired.swap(true, Ordering::SeqCst) {
                    plain
                        .change_role(ChangeRole::new(demote, Role::Member).by(owner))
                        .await
                        .expect("the owner demotes the actor");
                }
            })
        }
    };
    let hooked = if weakened {
        plain.with_actor_read_before_lock(hook)
    } else {
        plain.with_lock_hook(hook)
    };
    let before = plain.snapshot();
    let result = write.run(&hooked, &scene).await;
    let after = plain.snapshot();
    // Only the demotion changed anything when the write was refused.
    let demotion_only = after.memberships.len() == before.memberships.len() + 1;
    (result, fired.load(Ordering::SeqCst) && demotion_only)
}

#[tokio::test]
async fn a_demotion_before_the_lock_refuses_every_checked_write() {
    for write in Write::ALL {
        let (result, only_the_demotion) = demoted_while_waiting(write, false).await;
        let error = result.expect_err("the demoted actor is refused");
        assert_eq!(error.code(), "forbidden", "{write:?}: {error:?}");
        assert!(
            only_the_demotion,
            "{write:?}: the refused write changed something"
        );
    }
}

/// The same scenarios with the actor read before the lock: every write goes through, which is
/// what the test above catches.
#[tokio::test]
async fn the_window_test_fails_when_the_actor_is_read_before_the_lock() {
    for write in Write::ALL {
        let (result, _) = demoted_while_waiting(write, true).await;
        assert!(
            result.is_ok(),
            "{write:?}: the weakened store should let the demoted actor through: {result:?}"
        );
    }
}
