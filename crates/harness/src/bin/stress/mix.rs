//! The stress mix: clients run random operations, valid and invalid, against a few orgs so that
//! they collide; the invariants are checked at checkpoints and at the end.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Cursor, Identifier, ListInvitations,
    ListMembers, ListOrgs, MembershipStatus, Op, OrgName, Patch, PreTuple, Role, TenancyError,
    TenancyStore, TransferOwnership, UpdateOrg,
};
use time::OffsetDateTime;

use crate::tally::Tally;
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};

/// Repeatable pseudo-random numbers (xorshift64*).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

struct World {
    users: Vec<UsrId>,
    orgs: Mutex<Vec<OrgId>>,
}

const ORGS: usize = 4;
const USERS: usize = 12;

fn identifier() -> Identifier {
    Identifier::new("stress@example.com").unwrap_or_else(|_| unreachable!("a valid identifier"))
}

async fn active_members<S: TenancyStore>(store: &S, org: OrgId) -> Vec<(MemId, UsrId)> {
    store
        .list_members(
            ListMembers::new(org)
                .status(MembershipStatus::Active)
                .limit(200),
        )
        .await
        .map(|page| page.data.into_iter().map(|m| (m.id, m.usr_id)).collect())
        .unwrap_or_default()
}

async fn owner_of<S: TenancyStore>(store: &S, org: OrgId) -> Option<UsrId> {
    store
        .list_members(
            ListMembers::new(org)
                .status(MembershipStatus::Active)
                .role(Role::Owner)
                .limit(1),
        )
        .await
        .ok()
        .and_then(|page| page.data.first().map(|m| m.usr_id))
}

async fn any_member<S: TenancyStore>(store: &S, org: OrgId, rng: &mut Rng) -> MemId {
    let page = store.list_members(ListMembers::new(org).limit(200)).await;
    match page {
        Ok(page) if !page.data.is_empty() => page.data[rng.below(page.data.len())].id,
        _ => MemId::new(),
    }
}

async fn pending_invitation<S: TenancyStore>(store: &S, org: OrgId, rng: &mut Rng) -> InvId {
    let page = store
        .list_invitations(ListInvitations::new(org).limit(200))
        .await;
    match page {
        Ok(page) if !page.data.is_empty() => page.data[rng.below(page.data.len())].id,
        _ => InvId::new(),
    }
}

/// One random operation.
async fn step<S: TenancyStore>(store: &S, world: &World, rng: &mut Rng, tally: &Mutex<Tally>) {
    let org = {
        let orgs = world.orgs.lock().unwrap_or_else(PoisonError::into_inner);
        orgs[rng.below(orgs.len())]
    };
    let user = world.users[rng.below(world.users.len())];
    let role = Role::ALL[rng.below(Role::ALL.len())];
    let expires = OffsetDateTime::now_utc() + time::Duration::minutes(10);
    // A row the call says it created.
    let mut made: Option<(&'static str, uuid::Uuid)> = None;
    let (op, result): (Op, Result<(), TenancyError>) = match rng.below(20) {
        0 | 1 => (
            Op::AddMember,
            store
                .add_member(AddMember::new(org, user, role))
                .await
                .map(|member| made = Some(("mem", member.id.as_uuid()))),
        ),
        2 | 3 => {
            let member = any_member(store, org, rng).await;
            (
                Op::ChangeRole,
                store
                    .change_role(ChangeRole::new(member, role))
                    .await
                    .map(|member| made = Some(("mem", member.id.as_uuid()))),
            )
        }
        4 => (
            Op::SuspendMembership,
            store
                .suspend_membership(MemberAction::new(any_member(store, org, rng).await))
                .await
                .map(drop),
        ),
        5 => (
            Op::ReinstateMembership,
            store
                .reinstate_membership(MemberAction::new(any_member(store, org, rng).await))
                .await
                .map(drop),
        ),
        6 | 7 => {
            let member = any_member(store, org, rng).await;
            let heir = if rng.chance(70) { Some(user) } else { None };
            (
                Op::SelfLeave,
                store
                    .self_leave(SelfLeave::new(member).transfer_to(heir))
                    .await
                    .map(drop),
            )
        }
        8 => (
            Op::AdminRemove,
            store
                .admin_remove(AdminRemove::new(any_member(store, org, rng).await, user))
                .await
                .map(drop),
        ),
        9 => {
            let members = active_members(store, org).await;
            let pick = |rng: &mut Rng| {
                members
                    .get(rng.below(members.len()))
                    .map(|m| m.0)
                    .unwrap_or_else(MemId::new)
            };
            let (from, to) = (pick(rng), pick(rng));
            (
                Op::TransferOwnership,
                store
                    .transfer_ownership(TransferOwnership::new(org, from, to))
                    .await
                    .map(drop),
            )
        }
        10 | 11 => {
            // Invitations need an owner or admin of the org: usually its owner, sometimes anyone.
            let inviter = match owner_of(store, org).await {
                Some(owner) if rng.chance(90) => owner,
                _ => user,
            };
            let mut input = CreateInvitation::new(org, identifier(), role, inviter, expires)
                .unwrap_or_else(|_| unreachable!("ten minutes from now is in range"));
            if rng.chance(50) {
                if let Ok(grant) = PreTuple::new(
                    "viewer",
                    "proj",
                    &format!("0190f2a8-1b3c-7abc-8123-{:012x}", rng.below(8)),
                ) {
                    input = input
                        .pre_tuples([grant])
                        .unwrap_or_else(|_| unreachable!("one pre-tuple"));
                }
            }
            (
                Op::CreateInvitation,
                store
                    .create_invitation(input)
                    .await
                    .map(|invitation| made = Some(("inv", invitation.id.as_uuid()))),
            )
        }
        12 | 13 => {
            let invitation = pending_invitation(store, org, rng).await;
            let accept = if rng.chance(20) {
                AcceptInvitation::new_user(invitation)
            } else {
                AcceptInvitation::as_user(invitation, user, identifier())
            };
            (
                Op::AcceptInvitation,
                store
                    .accept_invitation(accept)
                    .await
                    .map(|accepted| made = Some(("mem", accepted.membership.id.as_uuid()))),
            )
        }
        14 => (
            Op::DeclineInvitation,
            store
                .decline_invitation(
                    DeclineInvitation::new(pending_invitation(store, org, rng).await).as_user(user),
                )
                .await
                .map(drop),
        ),
        15 => (
            Op::RevokeInvitation,
            store
                .revoke_invitation(RevokeInvitation::new(
                    pending_invitation(store, org, rng).await,
                    user,
                ))
                .await
                .map(drop),
        ),
        16 => {
            let which = rng.below(10);
            match which {
                0 => {
                    let result = store.revoke_org(OrgAction::new(org)).await.map(drop);
                    // Replace a revoked org so the run keeps colliding on live ones.
                    if let Ok(created) = store.create_org(CreateOrg::new(user)).await {
                        let mut orgs = world.orgs.lock().unwrap_or_else(PoisonError::into_inner);
                        if let Some(slot) = orgs.iter_mut().find(|slot| **slot == org) {
                            *slot = created.org.id;
                        }
                    }
                    (Op::RevokeOrg, result)
                }
                1..=4 => (
                    Op::SuspendOrg,
                    store.suspend_org(OrgAction::new(org)).await.map(drop),
                ),
                _ => (
                    Op::ReinstateOrg,
                    store.reinstate_org(OrgAction::new(org)).await.map(drop),
                ),
            }
        }
        17 => {
            let name = OrgName::new(format!("org '{}' %_\\", rng.below(100)))
                .unwrap_or_else(|_| unreachable!("a valid name"));
            (
                Op::UpdateOrg,
                store
                    .update_org(UpdateOrg::new(org).name(Patch::Set(name)))
                    .await
                    .map(drop),
            )
        }
        18 => {
            (
                Op::ListOrgs,
                store
                    .list_orgs(ListOrgs::new().limit(3).cursor(Some(Cursor::new(
                        if rng.chance(20) {
                            "garbage".to_owned()
                        } else {
                            org.to_string()
                        },
                    ))))
                    .await
                    .map(drop),
            )
        }
        _ => (
            Op::GetMembership,
            store.get_membership(MemId::new(), None).await.map(drop),
        ),
    };
    tally
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record(op, result, made);
}

/// Runs `clients` tasks for `seconds`, calling `check` at checkpoints and at the end.
pub(crate) async fn run<S, C, F>(
    store: Arc<S>,
    clients: usize,
    seconds: u64,
    seed: u64,
    check: C,
) -> Tally
where
    S: TenancyStore + 'static,
    C: Fn() -> F,
    F: std::future::Future<Output = Vec<String>>,
{
    let mut users = Vec::new();
    for _ in 0..USERS {
        let user = UsrId::new();
        let _ = store.ensure_user(user).await;
        users.push(user);
    }
    let mut orgs = Vec::new();
    for creator in users.iter().take(ORGS) {
        if let Ok(created) = store.create_org(CreateOrg::new(*creator)).await {
            orgs.push(created.org.id);
        }
    }
    let world = Arc::new(World {
        users,
        orgs: Mutex::new(orgs),
    });
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (store, world, tally) = (store.clone(), world.clone(), tally.clone());
        let mut rng = Rng::new(seed ^ (client as u64 + 1));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                step(&*store, &world, &mut rng, &tally).await;
                // The memory store never waits; yield so checkpoints get their turn.
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut checkpoints = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(
            Duration::from_secs(5).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        checkpoints.push(check().await);
    }
    for task in tasks {
        let _ = task.await;
    }
    checkpoints.push(check().await);
    let mut tally = Arc::try_unwrap(tally)
        .map(|mutex| mutex.into_inner().unwrap_or_else(PoisonError::into_inner))
        .unwrap_or_default();
    tally.checkpoints = checkpoints.len() as u64;
    tally.violations = checkpoints.into_iter().flatten().collect();
    tally
}
