//! Races on one org: each round releases two calls together; afterwards every invariant holds
//! (checked with plain SQL, independently of the store) and every error is a typed SDK error.
//! With the org locks switched off, the same rounds do break invariants — so the tests can fail.

use std::sync::Arc;

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, Result, Role,
    TenancyStore, TransferOwnership,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

use crate::support::{database, server, users};
use flametrench_tenancy_postgres::testing::{Weakening, violations, weakened};

const ROUNDS: usize = 25;

fn typed<T>(result: &Result<T>) {
    if let Err(error) = result {
        assert!(
            !error.code().starts_with("storage.backend"),
            "untyped error: {error:?}"
        );
    }
}

struct Org {
    id: OrgId,
    owner: MemId,
}

async fn org_with<S: TenancyStore>(store: &S, owner: UsrId) -> Org {
    let created = store
        .create_org(CreateOrg::new(owner))
        .await
        .expect("create_org");
    Org {
        id: created.org.id,
        owner: created.owner_membership.id,
    }
}

async fn race<S, A, B, FA, FB, TA, TB>(strict: bool, store: Arc<S>, a: A, b: B)
where
    S: TenancyStore + 'static,
    A: FnOnce(Arc<S>) -> FA + Send + 'static,
    B: FnOnce(Arc<S>) -> FB + Send + 'static,
    FA: std::future::Future<Output = Result<TA>> + Send,
    FB: std::future::Future<Output = Result<TB>> + Send,
    TA: Send + 'static,
    TB: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(2));
    let (first, second) = (barrier.clone(), barrier);
    let (store_a, store_b) = (store.clone(), store);
    let left = tokio::spawn(async move {
        first.wait().await;
        a(store_a).await
    });
    let right = tokio::spawn(async move {
        second.wait().await;
        b(store_b).await
    });
    let (left, right) = (left.await.expect("task"), right.await.expect("task"));
    if strict {
        typed(&left);
        typed(&right);
    }
}

/// Runs every race scenario `ROUNDS` times against `store`.
async fn all_races(store: Arc<PostgresTenancyStore<'static, 'static>>, strict: bool) {
    for _ in 0..ROUNDS {
        let [alice, bob, carol] = users(&*store, 3).await[..] else {
            unreachable!()
        };
        let org = org_with(&*store, alice).await;
        let second = store
            .add_member(AddMember::new(org.id, bob, Role::Owner))
            .await
            .expect("add")
            .id;
        store
            .add_member(AddMember::new(org.id, carol, Role::Member))
            .await
            .expect("add");
        // Two owners leave at once.
        let owner = org.owner;
        race(
            strict,
            store.clone(),
            move |s| async move { s.self_leave(owner, None).await },
            move |s| async move { s.self_leave(second, None).await },
        )
        .await;

        let [alice, bob, carol] = users(&*store, 3).await[..] else {
            unreachable!()
        };
        let org = org_with(&*store, alice).await;
        let second = store
            .add_member(AddMember::new(org.id, bob, Role::Owner))
            .await
            .expect("add")
            .id;
        store
            .add_member(AddMember::new(org.id, carol, Role::Member))
            .await
            .expect("add");
        // Two owners demote themselves at once.
        let owner = org.owner;
        race(
            strict,
            store.clone(),
            move |s| async move { s.change_role(owner, Role::Member).await },
            move |s| async move { s.change_role(second, Role::Admin).await },
        )
        .await;

        let [alice, bob] = users(&*store, 2).await[..] else {
            unreachable!()
        };
        let org = org_with(&*store, alice).await;
        let second = store
            .add_member(AddMember::new(org.id, bob, Role::Owner))
            .await
            .expect("add")
            .id;
        // One owner suspended while the other leaves.
        let owner = org.owner;
        race(
            strict,
            store.clone(),
            move |s| async move { s.suspend_membership(owner).await },
            move |s| async move { s.self_leave(second, None).await },
        )
        .await;

        // Opposite transfers.
        let [alice, bob] = users(&*store, 2).await[..] else {
            unreachable!()
        };
        let org = org_with(&*store, alice).await;
        let second = store
            .add_member(AddMember::new(org.id, bob, Role::Owner))
            .await
            .expect("add")
            .id;
        let (id, owner) = (org.id, org.owner);
        race(
            strict,
            store.clone(),
            move |s| async move {
                s.transfer_ownership(TransferOwnership::new(id, owner, second))
                    .await
            },
            move |s| async move {
                s.transfer_ownership(TransferOwnership::new(id, second, owner))
                    .await
            },
        )
        .await;

        // One invitation accepted twice (by two different users).
        let [alice, bob, carol] = users(&*store, 3).await[..] else {
            unreachable!()
        };
        let org = org_with(&*store, alice).await;
        let ident = Identifier::new("x@example.com").expect("identifier");
        let expires = OffsetDateTime::now_utc() + Duration::days(1);
        let invitation = store
            .create_invitation(
                CreateInvitation::new(org.id, ident.clone(), Role::Member, alice, expires)
                    .expect("invitation input"),
            )
            .await
            .expect("invite")
            .id;
        let (ia, ib) = (ident.clone(), ident.clone());
        race(
            strict,
            store.clone(),
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(invitation, bob, ia))
                    .await
            },
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(invitation, carol, ib))
                    .await
            },
        )
        .await;

        // Two invitations for one user accepted at once.
        let first = store
            .create_invitation(
                CreateInvitation::new(org.id, ident.clone(), Role::Member, alice, expires)
                    .expect("invitation input"),
            )
            .await
            .expect("invite")
            .id;
        let other = store
            .create_invitation(
                CreateInvitation::new(org.id, ident.clone(), Role::Admin, alice, expires)
                    .expect("invitation input"),
            )
            .await
            .expect("invite")
            .id;
        let [dave] = users(&*store, 1).await[..] else {
            unreachable!()
        };
        let (ia, ib) = (ident.clone(), ident.clone());
        race(
            strict,
            store.clone(),
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(first, dave, ia))
                    .await
            },
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(other, dave, ib))
                    .await
            },
        )
        .await;

        // Accept against decline of the same invitation.
        let [erin] = users(&*store, 1).await[..] else {
            unreachable!()
        };
        let contested = store
            .create_invitation(
                CreateInvitation::new(org.id, ident.clone(), Role::Member, alice, expires)
                    .expect("invitation input"),
            )
            .await
            .expect("invite")
            .id;
        let ia = ident.clone();
        race(
            strict,
            store.clone(),
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(contested, erin, ia))
                    .await
            },
            move |s| async move { s.decline_invitation(contested, None).await },
        )
        .await;

        // add_member and accept against revoke_org.
        let [alice, bob, carol] = users(&*store, 3).await[..] else {
            unreachable!()
        };
        let org = org_with(&*store, alice).await;
        let invitation = store
            .create_invitation(
                CreateInvitation::new(org.id, ident.clone(), Role::Member, alice, expires)
                    .expect("invitation input"),
            )
            .await
            .expect("invite")
            .id;
        let id = org.id;
        race(
            strict,
            store.clone(),
            move |s| async move { s.add_member(AddMember::new(id, bob, Role::Member)).await },
            move |s| async move { s.revoke_org(id).await },
        )
        .await;
        let ia = ident.clone();
        race(
            strict,
            store.clone(),
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(invitation, carol, ia))
                    .await
            },
            move |s| async move { s.revoke_org(id).await },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_keep_every_invariant() {
    let server = server().await;
    let db = database(&server).await;
    let store = Arc::new(PostgresTenancyStore::new(db.pool(8).expect("pool")));
    all_races(store, true).await;
    let client = db.connect().await.expect("checker");
    assert_eq!(
        violations(&client).await.expect("invariant queries"),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_org_locks_the_races_break_invariants() {
    let server = server().await;
    let db = database(&server).await;
    let store = Arc::new(weakened(
        PostgresTenancyStore::new(db.pool(8).expect("pool")),
        "public",
        Weakening::Unlocked,
    ));
    all_races(store, false).await;
    let client = db.connect().await.expect("checker");
    let found = violations(&client).await.expect("invariant queries");
    assert!(
        !found.is_empty(),
        "the race tests should catch violations when the org locks are off"
    );
}
