//! Tests of the in-memory store beyond the conformance corpus: atomic failures, concurrency on
//! one org, and `Send` futures.

use std::sync::Arc;

use flametrench_ids::{MemId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, Role, TenancyError,
    TenancyStore, TransferOwnership,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use time::{Duration, OffsetDateTime};

fn assert_send<T: Send>(_: &T) {}

#[test]
fn futures_are_send() {
    let store = InMemoryTenancyStore::new();
    assert_send(&store.ensure_user(UsrId::new()));
    assert_send(&store.create_org(CreateOrg::new(UsrId::new())));
    assert_send(&store.change_role(MemId::new(), Role::Admin));
    assert_send(
        &store.accept_invitation(AcceptInvitation::new_user(flametrench_ids::InvId::new())),
    );
}

#[tokio::test]
async fn failed_calls_change_nothing() {
    let store = InMemoryTenancyStore::new();
    let (alice, bob) = (UsrId::new(), UsrId::new());
    store.ensure_user(alice).await.unwrap();
    store.ensure_user(bob).await.unwrap();
    let created = store.create_org(CreateOrg::new(alice)).await.unwrap();
    store
        .add_member(AddMember::new(created.org.id, bob, Role::Member))
        .await
        .unwrap();
    let identifier = Identifier::new("bob@example.com").unwrap();
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                created.org.id,
                identifier.clone(),
                Role::Admin,
                alice,
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation input"),
        )
        .await
        .unwrap();
    let before = store.snapshot();
    let failures: Vec<TenancyError> = vec![
        store
            .accept_invitation(AcceptInvitation::as_user(invitation.id, bob, identifier))
            .await
            .unwrap_err(),
        store
            .self_leave(created.owner_membership.id, None)
            .await
            .unwrap_err(),
        store
            .change_role(created.owner_membership.id, Role::Member)
            .await
            .unwrap_err(),
        store
            .add_member(AddMember::new(created.org.id, bob, Role::Admin))
            .await
            .unwrap_err(),
        store
            .transfer_ownership(TransferOwnership::new(
                created.org.id,
                created.owner_membership.id,
                created.owner_membership.id,
            ))
            .await
            .unwrap_err(),
    ];
    let codes: Vec<&str> = failures.iter().map(TenancyError::code).collect();
    assert_eq!(
        codes,
        [
            "conflict.duplicate_membership",
            "forbidden.sole_owner",
            "forbidden.sole_owner",
            "conflict.duplicate_membership",
            "precondition.self_transfer"
        ]
    );
    assert_eq!(
        store.snapshot(),
        before,
        "rejected calls must store nothing"
    );
    for error in &failures {
        assert!(!format!("{error} {error:?}").contains("bob@example.com"));
    }
}

/// A tiny deterministic generator, so runs are repeatable.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tasks_on_one_org_keep_every_invariant() {
    let store = Arc::new(InMemoryTenancyStore::new());
    let users: Vec<UsrId> = (0..6).map(|_| UsrId::new()).collect();
    for user in &users {
        store.ensure_user(*user).await.unwrap();
    }
    let org = store
        .create_org(CreateOrg::new(users[0]))
        .await
        .unwrap()
        .org
        .id;
    let mut tasks = Vec::new();
    for worker in 0..8_u64 {
        let (store, users) = (store.clone(), users.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (worker + 1));
            let identifier = Identifier::new("x@example.com").unwrap();
            for _ in 0..500 {
                let user = users[rng.next(users.len())];
                let members = store.snapshot().memberships;
                let pick =
                    |rng: &mut XorShift| members.get(rng.next(members.len().max(1))).map(|m| m.id);
                let role = Role::ALL[rng.next(Role::ALL.len())];
                let result: Result<(), TenancyError> = match rng.next(8) {
                    0 => store
                        .add_member(AddMember::new(org, user, role))
                        .await
                        .map(drop),
                    1 => match pick(&mut rng) {
                        Some(m) => store.self_leave(m, Some(user)).await.map(drop),
                        None => Ok(()),
                    },
                    2 => match pick(&mut rng) {
                        Some(m) => store.change_role(m, role).await.map(drop),
                        None => Ok(()),
                    },
                    3 => match pick(&mut rng) {
                        Some(m) => store.suspend_membership(m).await.map(drop),
                        None => Ok(()),
                    },
                    4 => match pick(&mut rng) {
                        Some(m) => store.reinstate_membership(m).await.map(drop),
                        None => Ok(()),
                    },
                    5 => match (pick(&mut rng), pick(&mut rng)) {
                        (Some(a), Some(b)) => store
                            .transfer_ownership(TransferOwnership::new(org, a, b))
                            .await
                            .map(drop),
                        _ => Ok(()),
                    },
                    6 => {
                        let invitation = store
                            .create_invitation(
                                CreateInvitation::new(
                                    org,
                                    identifier.clone(),
                                    role,
                                    users[0],
                                    OffsetDateTime::now_utc() + Duration::days(1),
                                )
                                .expect("invitation input"),
                            )
                            .await;
                        match invitation {
                            Ok(invitation) => store
                                .accept_invitation(AcceptInvitation::as_user(
                                    invitation.id,
                                    user,
                                    identifier.clone(),
                                ))
                                .await
                                .map(drop),
                            Err(error) => Err(error),
                        }
                    }
                    _ => match pick(&mut rng) {
                        Some(m) => store.admin_remove(m, user).await.map(drop),
                        None => Ok(()),
                    },
                };
                if let Err(error) = result {
                    assert!(!error.is_storage(), "untyped error {error:?}");
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.snapshot().check_invariants(), Vec::<String>::new());
}

/// Enough memberships to fill several of the store's row chunks (8,192 rows each): rows on
/// both sides of every chunk boundary are found, changed and listed like any other.
#[tokio::test]
async fn rows_beyond_the_first_chunks_behave_like_the_first() {
    let store = InMemoryTenancyStore::new();
    let owner = UsrId::new();
    store.ensure_user(owner).await.expect("owner");
    let org = store
        .create_org(CreateOrg::new(owner))
        .await
        .expect("org")
        .org
        .id;
    let mut members = Vec::new();
    for _ in 0..20_000 {
        let user = UsrId::new();
        store.ensure_user(user).await.expect("user");
        let membership = store
            .add_member(AddMember::new(org, user, Role::Member))
            .await
            .expect("member");
        members.push(membership);
    }
    // Row 8,191 is the last of the first chunk, 8,192 the first of the second (row 0 is the
    // owner's), and so on.
    for index in [8_190, 8_191, 8_192, 16_383, 16_384, 19_999] {
        let membership = &members[index];
        assert_eq!(
            store.get_membership(membership.id).await.expect("get"),
            *membership
        );
        let changed = store
            .change_role(membership.id, Role::Admin)
            .await
            .expect("change_role");
        assert_eq!(changed.replaces, Some(membership.id));
        assert_eq!(
            store
                .get_membership(membership.id)
                .await
                .expect("old")
                .status,
            flametrench_tenancy_core::MembershipStatus::Revoked
        );
    }
    let mut listed = 0;
    let mut cursor = None;
    loop {
        let input = flametrench_tenancy_core::ListMembers::new(org)
            .limit(200)
            .cursor(cursor.take());
        let page = store.list_members(input).await.expect("page");
        listed += page.data.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // The owner, 20,000 members and 6 replacing rows.
    assert_eq!(listed, 20_007);
    assert_eq!(store.snapshot().check_invariants(), Vec::<String>::new());
}
