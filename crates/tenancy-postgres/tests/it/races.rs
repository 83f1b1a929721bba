//! Races on one org: each round releases two calls together; afterwards every invariant holds
//! (checked with plain SQL, independently of the store) and every error is a typed SDK error.
//! Without the org locks, calls interleaved in open transactions break invariants, in a fixed
//! order rather than by luck, so the tests can fail.

use std::sync::Arc;

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, Result, Role,
    TenancyStore, TransferOwnership,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

use crate::support::{Target, database, server, users};
use flametrench_tenancy_core::{ChangeRole, DeclineInvitation, MemberAction, OrgAction, SelfLeave};
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

async fn race<S, A, B, FA, FB, TA, TB>(store: Arc<S>, a: A, b: B)
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
    typed(&left);
    typed(&right);
}

/// Runs every race scenario `ROUNDS` times against `store`.
pub(crate) async fn all_races<S: TenancyStore + 'static>(store: Arc<S>) {
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
            store.clone(),
            move |s| async move { s.self_leave(SelfLeave::new(owner)).await },
            move |s| async move { s.self_leave(SelfLeave::new(second)).await },
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
            store.clone(),
            move |s| async move { s.change_role(ChangeRole::new(owner, Role::Member)).await },
            move |s| async move { s.change_role(ChangeRole::new(second, Role::Admin)).await },
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
            store.clone(),
            move |s| async move { s.suspend_membership(MemberAction::new(owner)).await },
            move |s| async move { s.self_leave(SelfLeave::new(second)).await },
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
            store.clone(),
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(contested, erin, ia))
                    .await
            },
            move |s| async move {
                s.decline_invitation(DeclineInvitation::new(contested))
                    .await
            },
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
            store.clone(),
            move |s| async move { s.add_member(AddMember::new(id, bob, Role::Member)).await },
            move |s| async move { s.revoke_org(OrgAction::new(id)).await },
        )
        .await;
        let ia = ident.clone();
        race(
            store.clone(),
            move |s| async move {
                s.accept_invitation(AcceptInvitation::as_user(invitation, carol, ia))
                    .await
            },
            move |s| async move { s.revoke_org(OrgAction::new(id)).await },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_keep_every_invariant() {
    let server = server().await;
    let db = database(&server).await;
    let store = Arc::new(PostgresTenancyStore::new(db.pool(8).expect("pool")));
    all_races(store).await;
    let client = db.connect().await.expect("checker");
    assert_eq!(
        violations(&client).await.expect("invariant queries"),
        Vec::<String>::new()
    );
}

/// Two calls interleaved in two open READ COMMITTED transactions: the first call's work is
/// written but not committed when the second call decides. With the org locks, the second
/// call waits for the first transaction to end and then decides on what it committed; without
/// them nothing orders the two, and the invariant breaks. No timing is involved: the order is
/// fixed by when each transaction commits.
fn wrap<'t, 'c>(
    target: &Target,
    store: PostgresTenancyStore<'t, 'c>,
    weakening: Option<Weakening>,
) -> PostgresTenancyStore<'t, 'c> {
    let store = target.adapt(store);
    match weakening {
        Some(weakening) => weakened(store, target.schema(), weakening),
        None => store,
    }
}

pub(crate) async fn interleaved(
    db: &Target,
    weakening: Option<Weakening>,
    scenario: usize,
) -> (Vec<String>, Result<()>) {
    let setup = db.adapt(PostgresTenancyStore::new(db.pool(1)));
    let [alice, bob, carol, dave] = users(&setup, 4).await[..] else {
        unreachable!()
    };
    let org = org_with(&setup, alice).await;
    let second = setup
        .add_member(AddMember::new(org.id, bob, Role::Owner))
        .await
        .expect("add")
        .id;
    setup
        .add_member(AddMember::new(org.id, carol, Role::Member))
        .await
        .expect("add");
    let mut first_client = db.connect().await;
    let mut second_client = db.connect().await;
    let mut first = first_client.transaction().await.expect("begin");
    let mut later = second_client.transaction().await.expect("begin");
    {
        let store = wrap(
            db,
            PostgresTenancyStore::in_transaction(&mut first),
            weakening,
        );
        match scenario {
            // Two owners leave at once.
            0 => store.self_leave(SelfLeave::new(org.owner)).await.map(drop),
            // The org is revoked while a member is added.
            _ => store.revoke_org(OrgAction::new(org.id)).await.map(drop),
        }
        .expect("the first call");
    }
    let second_call = async {
        let store = wrap(
            db,
            PostgresTenancyStore::in_transaction(&mut later),
            weakening,
        );
        match scenario {
            0 => store.self_leave(SelfLeave::new(second)).await.map(drop),
            _ => store
                .add_member(AddMember::new(org.id, dave, Role::Member))
                .await
                .map(drop),
        }
    };
    // The second call runs while the first transaction is open. Without locks nothing makes it
    // wait, so it finishes first, and then the first commits. With them it waits for the first
    // transaction, which commits a moment later; whenever the second call gets there, it sees
    // that commit, so the moment does not matter.
    let result = if weakening == Some(Weakening::Unlocked) {
        let result = second_call.await;
        first.commit().await.expect("commit the first");
        result
    } else {
        let commit_first = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            first.commit().await.expect("commit the first");
        };
        tokio::join!(second_call, commit_first).0
    };
    if result.is_ok() {
        later.commit().await.expect("commit the second");
    } else {
        later.rollback().await.expect("rollback the second");
    }
    let client = db.connect().await;
    (
        violations(&client).await.expect("invariant queries"),
        result,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_calls_keep_invariants_only_with_the_org_locks() {
    let server = server().await;
    for scenario in [0, 1] {
        let db = Target::Single(database(&server).await);
        let fresh = Target::Single(database(&server).await);
        interleaved_scenario(db, fresh, scenario).await;
    }
}

/// One interleaved scenario: on `db` without the org locks an invariant breaks, on `fresh`
/// with them the second call is refused and none does.
pub(crate) async fn interleaved_scenario(db: Target, fresh: Target, scenario: usize) {
    {
        // Without the org locks: the second call decides on a view without the first
        // transaction's writes, and both commit.
        let (found, result) = interleaved(&db, Some(Weakening::Unlocked), scenario).await;
        assert!(result.is_ok(), "scenario {scenario}: {result:?}");
        assert!(
            !found.is_empty(),
            "scenario {scenario}: without the org locks an invariant should break"
        );
        // With them: the second call waits, sees the first commit, and is refused.
        let (found, result) = interleaved(&fresh, None, scenario).await;
        assert_eq!(found, Vec::<String>::new(), "scenario {scenario}");
        let error = result.expect_err("the second call is refused");
        let expected = if scenario == 0 {
            "forbidden.sole_owner"
        } else {
            "precondition.org_not_active"
        };
        assert_eq!(error.code(), expected, "scenario {scenario}: {error:?}");
    }
}
