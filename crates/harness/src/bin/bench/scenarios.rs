//! The benchmarked calls: every operation timed on one store, with the orgs and users they need.

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, EntityType, Identifier, ListMembers,
    ListOrgs, OrgName, OrgQuery, PreTuple, Relation, Role, TenancyStore, TransferOwnership,
};
use time::OffsetDateTime;

use crate::timing::{Sample, Timing, time_op};
use flametrench_tenancy_core::{ChangeRole, SelfLeave};

/// The identifier every benchmarked invitation is for.
pub(crate) fn identifier() -> Identifier {
    Identifier::new("bench@example.com").unwrap_or_else(|_| unreachable!("valid"))
}

/// An invitation expiry a day from now.
pub(crate) fn expires() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(1)
}

/// The benchmarked invitation: into `org` by `inviter`, as a member, with `grant` pre-declared.
pub(crate) fn invitation_input(
    org: OrgId,
    inviter: UsrId,
    grant: &PreTuple,
) -> flametrench_tenancy_core::Result<CreateInvitation> {
    CreateInvitation::new(org, identifier(), Role::Member, inviter, expires())
        .and_then(|input| input.pre_tuples([grant.clone()]))
}

/// A fresh user, ensured on `store`.
pub(crate) async fn user<S: TenancyStore>(store: &S) -> UsrId {
    let id = UsrId::new();
    let _ = store.ensure_user(id).await;
    id
}

/// An org with `members` members besides its owner: the org, the owner's membership and the
/// members' memberships.
pub(crate) async fn org_with_members<S: TenancyStore>(
    store: &S,
    members: usize,
) -> (OrgId, MemId, Vec<MemId>) {
    let owner = user(store).await;
    let created = store
        .create_org(CreateOrg::new(owner))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ids = Vec::new();
    for _ in 0..members {
        let member = user(store).await;
        if let Ok(m) = store
            .add_member(AddMember::new(created.org.id, member, Role::Member))
            .await
        {
            ids.push(m.id);
        }
    }
    (created.org.id, created.owner_membership.id, ids)
}

/// An org created by `people[0]` with every other person as a member.
pub(crate) async fn org_of<S: TenancyStore>(store: &S, people: &[UsrId]) -> OrgId {
    let Some((owner, members)) = people.split_first() else {
        panic!("an org needs an owner");
    };
    let created = store
        .create_org(CreateOrg::new(*owner))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for member in members {
        store
            .add_member(AddMember::new(created.org.id, *member, Role::Member))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    created.org.id
}

/// Every benchmarked operation, timed one at a time on `store`.
pub(crate) async fn single_client<S: TenancyStore>(
    store: &S,
    iterations: usize,
    big_org: OrgId,
    timing: Timing<'_>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let alice = user(store).await;
    samples.push(
        time_op(
            timing,
            "create_org",
            iterations,
            |_| async {},
            |()| async {
                let _ = store.create_org(CreateOrg::new(alice)).await;
            },
        )
        .await,
    );
    // Alice owns the org the member and invitation writes go to: she may invite into it.
    let org = org_of(store, &[alice]).await;
    samples.push(
        time_op(
            timing,
            "add_member",
            iterations,
            |_| user(store),
            |member| async move {
                let _ = store
                    .add_member(AddMember::new(org, member, Role::Member))
                    .await;
            },
        )
        .await,
    );
    let (_, _, members) = org_with_members(store, iterations).await;
    samples.push(
        time_op(
            timing,
            "change_role",
            iterations,
            |i| {
                let member = members[i];
                async move { member }
            },
            |member| async move {
                let _ = store
                    .change_role(ChangeRole::new(member, Role::Admin))
                    .await;
            },
        )
        .await,
    );
    let grant = PreTuple::new("viewer", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")
        .unwrap_or_else(|e| panic!("{e}"));
    samples.push(
        time_op(
            timing,
            "create_invitation",
            iterations,
            |_| async {},
            |()| async {
                let input = invitation_input(org, alice, &grant).unwrap_or_else(|e| panic!("{e}"));
                let _ = store.create_invitation(input).await;
            },
        )
        .await,
    );
    // Each acceptance's invitation is made before the timed calls, as the transfers' orgs are
    // below.
    let mut invitations = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let invitee = user(store).await;
        let input = invitation_input(org, alice, &grant).unwrap_or_else(|e| panic!("{e}"));
        let invitation = store
            .create_invitation(input)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        invitations.push((invitation.id, invitee));
    }
    samples.push(
        time_op(
            timing,
            "accept_invitation",
            iterations,
            |i| {
                let ready = invitations[i];
                async move { ready }
            },
            |(invitation, invitee)| async move {
                let _ = store
                    .accept_invitation(AcceptInvitation::as_user(invitation, invitee, identifier()))
                    .await;
            },
        )
        .await,
    );
    let (_, _, leavers) = org_with_members(store, iterations).await;
    samples.push(
        time_op(
            timing,
            "self_leave",
            iterations,
            |i| {
                let member = leavers[i];
                async move { member }
            },
            |member| async move {
                let _ = store.self_leave(SelfLeave::new(member)).await;
            },
        )
        .await,
    );
    // As for the writes above, the rows each call acts on are made before the timed calls:
    // made in each call's setup, just before it, the transfer was measured growing 1.13-1.24x
    // the floor's growth at 500 µs (one round trip all the same), and like the floor when
    // they were made beforehand.
    let mut transfers = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (org, owner, members) = org_with_members(store, 1).await;
        transfers.push((org, owner, members[0]));
    }
    samples.push(
        time_op(
            timing,
            "transfer_ownership",
            iterations,
            |i| {
                let ready = transfers[i];
                async move { ready }
            },
            |(org, from, to)| async move {
                let _ = store
                    .transfer_ownership(TransferOwnership::new(org, from, to))
                    .await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "get_org",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store.get_org(org).await;
            },
        )
        .await,
    );
    // The authorization reads beside the plain read they are held to (at most 1.1x).
    let (read_org, owner_mem, _) = org_with_members(store, 1).await;
    let owner = match store.get_membership(owner_mem, None).await {
        Ok(membership) => membership.usr_id,
        Err(_) => alice,
    };
    samples.push(
        time_op(
            timing,
            "get_membership",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store.get_membership(owner_mem, None).await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "active_membership",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store.active_membership(read_org, owner).await;
            },
        )
        .await,
    );
    let wanted: Vec<Relation> = ["owner", "admin"]
        .into_iter()
        .filter_map(|name| Relation::new(name).ok())
        .collect();
    samples.push(
        time_op(
            timing,
            "check_any (owner, admin)",
            iterations,
            |_| async { wanted.clone() },
            |relations| async move {
                let _ = store
                    .check_any(
                        EntityType::usr(),
                        owner.as_uuid(),
                        relations,
                        EntityType::org(),
                        read_org.as_uuid(),
                    )
                    .await;
            },
        )
        .await,
    );
    let (thousand, _, _) = org_with_members(store, 1000).await;
    samples.push(
        time_op(
            timing,
            "list_members (50 of 1,000)",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store
                    .list_members(ListMembers::new(thousand).limit(50))
                    .await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "list_members (50 of big org)",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store
                    .list_members(ListMembers::new(big_org).limit(50))
                    .await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "list_tuples_for_subject",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store
                    .list_tuples_for_subject(EntityType::usr(), alice.as_uuid())
                    .await;
            },
        )
        .await,
    );
    let query = OrgQuery::new("acme").unwrap_or_else(|e| panic!("{e}"));
    let _ = store
        .create_org(
            CreateOrg::new(alice).name(OrgName::new("Acme 7").unwrap_or_else(|e| panic!("{e}"))),
        )
        .await;
    samples.push(
        time_op(
            timing,
            "list_orgs (query)",
            iterations.min(200),
            |_| async {},
            |()| {
                let query = query.clone();
                async move {
                    let _ = store
                        .list_orgs(ListOrgs::new().query(query).limit(50))
                        .await;
                }
            },
        )
        .await,
    );
    samples
}
