//! Tests of the in-memory store beyond the conformance corpus: atomic failures, concurrency on
//! one org, `Send` futures, and filtered pages against a brute-force filter.

use std::sync::Arc;

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Cursor, EntityType, Identifier,
    Invitation, InvitationStatus, ListInvitations, ListMembers, ListMembershipsForUser, ListOrgs,
    ListTuplesByObject, ListTuplesBySubject, Membership, MembershipStatus, OrgName, OrgQuery,
    OrgStatus, Organization, Page, PreTuple, Relation, Role, TenancyError, TenancyStore,
    TransferOwnership, Tuple,
};
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use time::{Duration, OffsetDateTime};

mod unit;
mod window;

fn assert_send<T: Send>(_: &T) {}

#[test]
fn futures_are_send() {
    let store = InMemoryTenancyStore::new();
    assert_send(&store.ensure_user(UsrId::new()));
    assert_send(&store.create_org(CreateOrg::new(UsrId::new())));
    assert_send(&store.change_role(ChangeRole::new(MemId::new(), Role::Admin)));
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
            .self_leave(SelfLeave::new(created.owner_membership.id))
            .await
            .unwrap_err(),
        store
            .change_role(ChangeRole::new(created.owner_membership.id, Role::Member))
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
                        Some(m) => store
                            .self_leave(SelfLeave::new(m).transfer_to(user))
                            .await
                            .map(drop),
                        None => Ok(()),
                    },
                    2 => match pick(&mut rng) {
                        Some(m) => store.change_role(ChangeRole::new(m, role)).await.map(drop),
                        None => Ok(()),
                    },
                    3 => match pick(&mut rng) {
                        Some(m) => store
                            .suspend_membership(MemberAction::new(m))
                            .await
                            .map(drop),
                        None => Ok(()),
                    },
                    4 => match pick(&mut rng) {
                        Some(m) => store
                            .reinstate_membership(MemberAction::new(m))
                            .await
                            .map(drop),
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
                        Some(m) => store
                            .admin_remove(AdminRemove::new(m, user))
                            .await
                            .map(drop),
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
            store
                .get_membership(membership.id, None)
                .await
                .expect("get"),
            *membership
        );
        let changed = store
            .change_role(ChangeRole::new(membership.id, Role::Admin))
            .await
            .expect("change_role");
        assert_eq!(changed.replaces, Some(membership.id));
        assert_eq!(
            store
                .get_membership(membership.id, None)
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

/// Reads every page of a listing, `limit` rows at a time, following the cursors.
async fn every_page<T, F, Fut>(limit: u32, mut page: F) -> Vec<T>
where
    F: FnMut(Option<Cursor>, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, TenancyError>>,
{
    let (mut rows, mut cursor) = (Vec::new(), None);
    loop {
        let next = page(cursor.take(), limit).await.expect("page");
        assert!(
            next.data.len() <= limit as usize,
            "a page longer than its limit"
        );
        let more = next.next_cursor.is_some();
        assert!(
            !more || next.data.len() == limit as usize,
            "a short page with a cursor"
        );
        rows.extend(next.data);
        match next.next_cursor {
            Some(after) => cursor = Some(after),
            None => break,
        }
    }
    rows
}

/// The grants an invitation of the filtered-reads test may carry: one on the org under a
/// relation that is no role, and two on an application object.
fn grants(org: OrgId, rng: &mut XorShift) -> Vec<PreTuple> {
    let org = org.as_uuid().to_string();
    let all = [
        ("billing", "org", org.as_str()),
        ("editor", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"),
        ("viewer", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"),
    ];
    all.iter()
        .filter(|_| rng.next(2) == 0)
        .map(|(relation, kind, id)| PreTuple::new(relation, kind, id).expect("pre-tuple"))
        .collect()
}

/// Checks every filtered page of `org` (memberships, invitations, tuples by object) and of
/// each of `users` (memberships and tuples) against a brute-force filter of the store's
/// snapshot.
async fn check_filtered_reads(
    store: &InMemoryTenancyStore,
    org: OrgId,
    users: &[UsrId],
    rng: &mut XorShift,
) {
    let snapshot = store.snapshot();
    let mut limit = || 1 + rng.next(4) as u32;
    let statuses = std::iter::once(None).chain(MembershipStatus::ALL.iter().copied().map(Some));
    for status in statuses {
        let roles = std::iter::once(None).chain(Role::ALL.iter().copied().map(Some));
        for role in roles {
            let expected: Vec<Membership> = snapshot
                .memberships
                .iter()
                .filter(|row| row.org_id == org)
                .filter(|row| status.is_none_or(|wanted| row.status == wanted))
                .filter(|row| role.is_none_or(|wanted| row.role == wanted))
                .cloned()
                .collect();
            let listed = every_page(limit(), |cursor, limit| {
                let mut input = ListMembers::new(org).cursor(cursor).limit(limit);
                if let Some(status) = status {
                    input = input.status(status);
                }
                if let Some(role) = role {
                    input = input.role(role);
                }
                store.list_members(input)
            })
            .await;
            assert_eq!(listed, expected, "list_members {status:?} {role:?}");
        }
    }
    let statuses = std::iter::once(None).chain(InvitationStatus::ALL.iter().copied().map(Some));
    for status in statuses {
        let expected: Vec<Invitation> = snapshot
            .invitations
            .iter()
            .filter(|row| row.org_id == org)
            .filter(|row| status.is_none_or(|wanted| row.status == wanted))
            .cloned()
            .collect();
        let listed = every_page(limit(), |cursor, limit| {
            let mut input = ListInvitations::new(org).cursor(cursor).limit(limit);
            if let Some(status) = status {
                input = input.status(status);
            }
            store.list_invitations(input)
        })
        .await;
        assert_eq!(listed, expected, "list_invitations {status:?}");
    }
    let objects = [
        (EntityType::org(), org.as_uuid()),
        (
            "proj".parse().expect("type"),
            "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"
                .parse()
                .expect("uuid"),
        ),
    ];
    let relations = [
        "owner", "admin", "member", "guest", "viewer", "editor", "billing",
    ];
    for (kind, id) in objects {
        let relations = std::iter::once(None).chain(
            relations
                .iter()
                .map(|name| Some(Relation::new(*name).expect("relation"))),
        );
        for relation in relations {
            let expected: Vec<Tuple> = snapshot
                .tuples
                .iter()
                .filter(|tuple| tuple.object_type == kind && tuple.object_id == id)
                .filter(|tuple| {
                    relation
                        .as_ref()
                        .is_none_or(|wanted| tuple.relation == *wanted)
                })
                .cloned()
                .collect();
            let whole = store
                .list_tuples_for_object(kind.clone(), id, relation.clone())
                .await
                .expect("whole set");
            assert_eq!(whole, expected, "list_tuples_for_object {relation:?}");
            let listed = every_page(limit(), |cursor, limit| {
                let mut input = ListTuplesByObject::new(kind.clone(), id)
                    .cursor(cursor)
                    .limit(limit);
                if let Some(relation) = &relation {
                    input = input.relation(relation.clone());
                }
                store.list_tuples_by_object(input)
            })
            .await;
            assert_eq!(listed, expected, "list_tuples_by_object {relation:?}");
        }
    }
    for user in users {
        check_user_reads(store, *user, rng).await;
    }
}

/// Checks every page of `user`'s memberships (by status) and tuples against a brute-force
/// filter of the store's snapshot.
async fn check_user_reads(store: &InMemoryTenancyStore, user: UsrId, rng: &mut XorShift) {
    let snapshot = store.snapshot();
    let mut limit = || 1 + rng.next(4) as u32;
    let statuses = std::iter::once(None).chain(MembershipStatus::ALL.iter().copied().map(Some));
    for status in statuses {
        let expected: Vec<Membership> = snapshot
            .memberships
            .iter()
            .filter(|row| row.usr_id == user)
            .filter(|row| status.is_none_or(|wanted| row.status == wanted))
            .cloned()
            .collect();
        let listed = every_page(limit(), |cursor, limit| {
            let mut input = ListMembershipsForUser::new(user)
                .cursor(cursor)
                .limit(limit);
            if let Some(status) = status {
                input = input.status(status);
            }
            store.list_memberships_for_user(input)
        })
        .await;
        assert_eq!(listed, expected, "list_memberships_for_user {status:?}");
    }
    let expected: Vec<Tuple> = snapshot
        .tuples
        .iter()
        .filter(|tuple| tuple.subject_type == EntityType::usr())
        .filter(|tuple| tuple.subject_id == user.as_uuid())
        .cloned()
        .collect();
    let whole = store
        .list_tuples_for_subject(EntityType::usr(), user.as_uuid())
        .await
        .expect("whole set");
    assert_eq!(whole, expected, "list_tuples_for_subject");
    let listed = every_page(limit(), |cursor, limit| {
        store.list_tuples_by_subject(
            ListTuplesBySubject::new(EntityType::usr(), user.as_uuid())
                .cursor(cursor)
                .limit(limit),
        )
    })
    .await;
    assert_eq!(listed, expected, "list_tuples_by_subject");
}

/// A user's pages (memberships by status, tuples whole and paged) stay equal to a brute-force
/// filter while the user gains rows one at a time, from none to several dozen across orgs
/// (additions, role changes, suspensions, reinstatements, departures, accepted invitations
/// with grants): the store reads a user with few rows differently from one with many, and
/// the reads must not tell them apart.
#[tokio::test]
async fn user_pages_match_a_brute_force_filter_as_the_user_gains_rows() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let store = InMemoryTenancyStore::new();
    let (user, owner) = (UsrId::new(), UsrId::new());
    store.ensure_user(user).await.expect("user");
    store.ensure_user(owner).await.expect("owner");
    let mut orgs = Vec::new();
    for _ in 0..8 {
        let created = store.create_org(CreateOrg::new(owner)).await.expect("org");
        orgs.push(created.org.id);
    }
    check_user_reads(&store, user, &mut rng).await;
    let mut rows = 0;
    for round in 0.. {
        let org = orgs[rng.next(orgs.len())];
        let role = [Role::Admin, Role::Member, Role::Guest, Role::Viewer][rng.next(4)];
        let mine = store
            .active_membership(org, user)
            .await
            .expect("active membership");
        let result: Result<(), TenancyError> = match (rng.next(6), mine) {
            (0 | 1, Some(mine)) => store
                .change_role(ChangeRole::new(mine.id, role))
                .await
                .map(drop),
            (2, Some(mine)) => store
                .suspend_membership(MemberAction::new(mine.id))
                .await
                .map(drop),
            (3, Some(mine)) => store.self_leave(SelfLeave::new(mine.id)).await.map(drop),
            (4, None) => {
                let identifier = Identifier::new(format!("u{round}@example.com")).unwrap();
                let input = CreateInvitation::new(
                    org,
                    identifier.clone(),
                    role,
                    owner,
                    OffsetDateTime::now_utc() + Duration::days(1),
                )
                .and_then(|input| input.pre_tuples(grants(org, &mut rng)))
                .expect("invitation input");
                let invitation = store.create_invitation(input).await.expect("invitation");
                store
                    .accept_invitation(AcceptInvitation::as_user(invitation.id, user, identifier))
                    .await
                    .map(drop)
            }
            (_, None) => {
                let suspended = store
                    .list_memberships_for_user(
                        ListMembershipsForUser::new(user)
                            .status(MembershipStatus::Suspended)
                            .limit(200),
                    )
                    .await
                    .expect("suspended")
                    .data
                    .into_iter()
                    .find(|row| row.org_id == org);
                match suspended {
                    Some(row) => store
                        .reinstate_membership(MemberAction::new(row.id))
                        .await
                        .map(drop),
                    None => store
                        .add_member(AddMember::new(org, user, role))
                        .await
                        .map(drop),
                }
            }
            (_, Some(_)) => Ok(()),
        };
        if let Err(error) = result {
            assert!(!error.is_storage(), "untyped error {error:?}");
        }
        let now = store
            .snapshot()
            .memberships
            .iter()
            .filter(|row| row.usr_id == user)
            .count();
        if now != rows {
            rows = now;
            check_user_reads(&store, user, &mut rng).await;
        }
        if rows >= 48 {
            break;
        }
    }
    assert_eq!(store.snapshot().check_invariants(), Vec::<String>::new());
}

/// Filtered pages of memberships, invitations and tuples stay equal to a brute-force filter
/// of the snapshot while rows change status: additions, role changes (rotations),
/// suspensions, reinstatements, removals, invitations ended every way, and finally the org's
/// revocation and its cascade.
#[tokio::test]
async fn filtered_pages_match_a_brute_force_filter_across_status_changes() {
    for seed in 1..=6_u64 {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d ^ seed);
        let store = InMemoryTenancyStore::new();
        let users: Vec<UsrId> = (0..10).map(|_| UsrId::new()).collect();
        for user in &users {
            store.ensure_user(*user).await.expect("user");
        }
        let owner = users[0];
        let org = store
            .create_org(CreateOrg::new(owner))
            .await
            .expect("org")
            .org
            .id;
        // Another org, so that ranges have neighbours.
        let other = store
            .create_org(CreateOrg::new(users[1]))
            .await
            .expect("org")
            .org
            .id;
        store
            .add_member(AddMember::new(other, users[2], Role::Member))
            .await
            .expect("other member");
        for round in 0..120 {
            let snapshot = store.snapshot();
            let rows: Vec<&Membership> = snapshot
                .memberships
                .iter()
                .filter(|row| row.org_id == org)
                .collect();
            let pick = |rng: &mut XorShift, status: MembershipStatus| {
                let matching: Vec<MemId> = rows
                    .iter()
                    .filter(|row| row.status == status && row.usr_id != owner)
                    .map(|row| row.id)
                    .collect();
                (!matching.is_empty()).then(|| matching[rng.next(matching.len())])
            };
            let user = users[1 + rng.next(users.len() - 1)];
            let role = Role::ALL[rng.next(Role::ALL.len())];
            let result: Result<(), TenancyError> = match rng.next(8) {
                0 | 1 => store
                    .add_member(AddMember::new(org, user, role))
                    .await
                    .map(drop),
                2 => match pick(&mut rng, MembershipStatus::Active) {
                    Some(mem) => store
                        .change_role(ChangeRole::new(mem, role))
                        .await
                        .map(drop),
                    None => Ok(()),
                },
                3 => match pick(&mut rng, MembershipStatus::Active) {
                    Some(mem) => store
                        .suspend_membership(MemberAction::new(mem))
                        .await
                        .map(drop),
                    None => Ok(()),
                },
                4 => match pick(&mut rng, MembershipStatus::Suspended) {
                    Some(mem) => store
                        .reinstate_membership(MemberAction::new(mem))
                        .await
                        .map(drop),
                    None => Ok(()),
                },
                5 => match pick(&mut rng, MembershipStatus::Active) {
                    Some(mem) if rng.next(2) == 0 => store
                        .admin_remove(AdminRemove::new(mem, owner))
                        .await
                        .map(drop),
                    Some(mem) => store.self_leave(SelfLeave::new(mem)).await.map(drop),
                    None => Ok(()),
                },
                _ => {
                    let identifier = Identifier::new(format!("u{round}@example.com")).unwrap();
                    let invitation = store
                        .create_invitation(
                            CreateInvitation::new(
                                org,
                                identifier.clone(),
                                if role == Role::Owner {
                                    Role::Member
                                } else {
                                    role
                                },
                                owner,
                                OffsetDateTime::now_utc() + Duration::days(1),
                            )
                            .and_then(|input| input.pre_tuples(grants(org, &mut rng)))
                            .expect("invitation input"),
                        )
                        .await
                        .expect("invitation");
                    match rng.next(4) {
                        0 => store
                            .accept_invitation(AcceptInvitation::as_user(
                                invitation.id,
                                user,
                                identifier,
                            ))
                            .await
                            .map(drop),
                        1 => store
                            .decline_invitation(DeclineInvitation::new(invitation.id).as_user(user))
                            .await
                            .map(drop),
                        2 => store
                            .revoke_invitation(RevokeInvitation::new(invitation.id, owner))
                            .await
                            .map(drop),
                        _ => Ok(()),
                    }
                }
            };
            if let Err(error) = result {
                assert!(!error.is_storage(), "untyped error {error:?}");
            }
            if round % 15 == 14 {
                check_filtered_reads(&store, org, &users, &mut rng).await;
            }
        }
        store.revoke_org(OrgAction::new(org)).await.expect("revoke");
        check_filtered_reads(&store, org, &users, &mut rng).await;
        assert_eq!(store.snapshot().check_invariants(), Vec::<String>::new());
    }
}

/// `list_orgs` filtered by status (and by status and query) stays equal to a brute-force
/// filter while orgs are suspended, reinstated and revoked.
#[tokio::test]
async fn org_pages_by_status_match_a_brute_force_filter() {
    let mut rng = XorShift(0x5851_f42d_4c95_7f2d);
    let store = InMemoryTenancyStore::new();
    let owner = UsrId::new();
    store.ensure_user(owner).await.expect("user");
    let mut orgs = Vec::new();
    for n in 0..40 {
        let mut input = CreateOrg::new(owner);
        if n % 3 == 0 {
            input = input.name(OrgName::new(format!("Acme {n}")).expect("name"));
        }
        orgs.push(store.create_org(input).await.expect("org").org.id);
    }
    let query = OrgQuery::new("acme").expect("query");
    for round in 0..200 {
        let org = orgs[rng.next(orgs.len())];
        let result = match rng.next(3) {
            0 => store.suspend_org(OrgAction::new(org)).await,
            1 => store.reinstate_org(OrgAction::new(org)).await,
            _ if rng.next(4) == 0 => store.revoke_org(OrgAction::new(org)).await,
            _ => store.get_org(org).await,
        };
        if let Err(error) = result {
            assert!(!error.is_storage(), "untyped error {error:?}");
        }
        if round % 20 != 19 {
            continue;
        }
        let snapshot = store.snapshot();
        for status in std::iter::once(None).chain(OrgStatus::ALL.iter().copied().map(Some)) {
            for query in [None, Some(&query)] {
                let expected: Vec<Organization> = snapshot
                    .orgs
                    .iter()
                    .filter(|org| status.is_none_or(|wanted| org.status == wanted))
                    .filter(|org| {
                        query.is_none_or(|query| {
                            org.name
                                .as_ref()
                                .is_some_and(|name| query.matches(name.as_str()))
                        })
                    })
                    .cloned()
                    .collect();
                let listed = every_page(1 + rng.next(5) as u32, |cursor, limit| {
                    let mut input = ListOrgs::new().cursor(cursor).limit(limit);
                    if let Some(status) = status {
                        input = input.status(status);
                    }
                    if let Some(query) = query {
                        input = input.query(query.clone());
                    }
                    store.list_orgs(input)
                })
                .await;
                assert_eq!(listed, expected, "list_orgs {status:?} {query:?}");
            }
        }
    }
}
