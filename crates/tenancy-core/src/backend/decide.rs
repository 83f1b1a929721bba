//! One function per write decides it: from the facts a store read, it returns the plan (the
//! rows to write and the call's result) or the error the spec assigns, in the spec's order.
//!
//! A store gathers the facts (under its org lock), calls the function, and applies the plan.
//! No store keeps a transition table or an error choice of its own. The PostgreSQL store writes
//! before it decides: its statements are guarded in SQL by the same conditions, and it calls the
//! function on the facts that came back in the same flight, to explain a refusal (or to check
//! that the guard and the function agree). Entities are built here, once.
//!
//! Fresh ids and the time are inputs: a store draws them before it reads, so that it can bind
//! them in the same flight as the reads. The time is therefore read before the org lock is
//! granted, and rows of one org are not stamped in the order they are written. What stays
//! ordered: a row written over an existing membership row (its revocation, suspension,
//! reactivation, or the row replacing it) is stamped at the later of the time and that row's
//! `created_at` ([`Membership::successor_time`]), so a `replaces` chain never goes back in
//! time and no row is updated before it was created.

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use time::OffsetDateTime;

use crate::backend::rules::{self, Authority, LeavePlan, OrgTransition};
use crate::error::{Entity, Result, TenancyError};
use crate::input::{
    AcceptInvitation, AddMember, ChangeRole, CreateInvitation, CreateOrg, MemberAction, SelfLeave,
    TransferOwnership,
};
use crate::model::{
    CreateOrgResult, Invitation, InvitationStatus, Membership, MembershipStatus, OrgStatus,
    Organization, Role, TransferOwnershipResult, Tuple,
};
use crate::text::EntityType;

/// What `create_org` depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOrgFacts {
    /// Whether the creator exists.
    pub creator_exists: bool,
    /// Whether another org holds the slug.
    pub slug_taken: bool,
}

/// `create_org`: the org `org_id`, active, and its creator's owner membership `mem_id`.
///
/// # Errors
///
/// `not_found` (user) for an unknown creator; `conflict.org_slug`.
pub fn create_org(
    facts: &CreateOrgFacts,
    input: &CreateOrg,
    (org_id, mem_id): (OrgId, MemId),
    now: OffsetDateTime,
) -> Result<CreateOrgResult> {
    if !facts.creator_exists {
        return Err(TenancyError::not_found(Entity::User));
    }
    if facts.slug_taken {
        return Err(TenancyError::OrgSlugConflict);
    }
    Ok(CreateOrgResult {
        org: Organization {
            id: org_id,
            name: input.name.clone(),
            slug: input.slug.clone(),
            status: OrgStatus::Active,
            created_at: now,
            updated_at: now,
        },
        owner_membership: Membership::joined(mem_id, input.creator, org_id, Role::Owner, None, now),
    })
}

/// What a membership write depends on, read under the org lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipFacts {
    /// The membership the operation targets.
    pub target: Membership,
    /// Its org's status.
    pub org_status: OrgStatus,
    /// How many active owners its org has.
    pub active_owners: usize,
    /// Whether the target's user holds another active membership in the org.
    pub other_active: bool,
    /// The active membership in the target's org of the other user the operation names: the
    /// admin of `admin_remove`, the `transfer_to` user of `self_leave`, the actor of an
    /// actor-checked write.
    pub named: Option<Membership>,
}

impl MembershipFacts {
    /// For an actor-checked write (`actor` given, and named in these facts): the target's own
    /// state (`state`), then the actor's authority over it ([`rules::check_actor_on_member`],
    /// `grants` the role a role change gives); nothing without an actor.
    fn check_actor(
        &self,
        actor: Option<UsrId>,
        state: impl FnOnce(&Membership) -> Result<()>,
        grants: Option<Role>,
    ) -> Result<()> {
        if actor.is_none() {
            return Ok(());
        }
        state(&self.target)?;
        rules::check_actor_on_member(self.org_status, self.named_role(), self.target.role, grants)
    }

    /// The named user's active role in the target's org.
    fn named_role(&self) -> Option<Role> {
        self.named
            .as_ref()
            .filter(|named| {
                named.status == MembershipStatus::Active && named.org_id == self.target.org_id
            })
            .map(|named| named.role)
    }
}

/// One membership row written by a plan. Each write also keeps the row's tuple in step: a
/// rotation deletes the old row's tuple and writes the new row's, an ending deletes it, a
/// reactivation writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipWrite {
    /// Revoke-and-re-add: `old` is revoked at `at`, and `new` (which replaces it) is inserted.
    Rotate {
        /// The row revoked.
        old: Membership,
        /// The row inserted.
        new: Membership,
        /// When the old row is revoked.
        at: OffsetDateTime,
    },
    /// The row as it becomes when ended (`suspended` or `revoked`).
    End(Membership),
    /// The row as it becomes when made active again.
    Reactivate(Membership),
}

/// The rows a write changes, in order, and the value the call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<R> {
    /// The rows to write, in order.
    pub writes: Vec<MembershipWrite>,
    /// The call's result.
    pub result: R,
}

fn ended(
    membership: &Membership,
    status: MembershipStatus,
    removed_by: Option<UsrId>,
    now: OffsetDateTime,
) -> Membership {
    Membership {
        status,
        removed_by,
        updated_at: membership.successor_time(now),
        ..membership.clone()
    }
}

/// The row replacing `old` with `role`, and the write that revokes `old` for it.
fn rotation(
    old: &Membership,
    new_id: MemId,
    role: Role,
    now: OffsetDateTime,
) -> (Membership, MembershipWrite) {
    let new = old.successor(new_id, role, now);
    let write = MembershipWrite::Rotate {
        old: old.clone(),
        new: new.clone(),
        at: old.successor_time(now),
    };
    (new, write)
}

/// `change_role`: revoke-and-re-add with `new_role`; the new row is `new_id`. With an actor,
/// the named membership is the actor's.
///
/// # Errors
///
/// `precondition.mem_not_active`; with an actor, as [`rules::check_actor_on_member`]; then
/// as [`rules::check_change_role`].
pub fn change_role(
    facts: &MembershipFacts,
    input: &ChangeRole,
    new_id: MemId,
    now: OffsetDateTime,
) -> Result<Plan<Membership>> {
    let new_role = input.new_role;
    facts.check_actor(
        input.actor,
        rules::require_membership_active,
        Some(new_role),
    )?;
    rules::check_change_role(&facts.target, new_role, facts.active_owners)?;
    let (result, write) = rotation(&facts.target, new_id, new_role, now);
    Ok(Plan {
        writes: vec![write],
        result,
    })
}

/// `suspend_membership`. With an actor, the named membership is the actor's.
///
/// # Errors
///
/// `precondition.mem_not_active`; with an actor, as [`rules::check_actor_on_member`]; then
/// as [`rules::check_suspend_membership`].
pub fn suspend_membership(
    facts: &MembershipFacts,
    input: &MemberAction,
    now: OffsetDateTime,
) -> Result<Plan<Membership>> {
    facts.check_actor(input.actor, rules::require_membership_active, None)?;
    rules::check_suspend_membership(&facts.target, facts.active_owners)?;
    let row = ended(&facts.target, MembershipStatus::Suspended, None, now);
    Ok(Plan {
        writes: vec![MembershipWrite::End(row.clone())],
        result: row,
    })
}

/// `reinstate_membership`. With an actor, the named membership is the actor's.
///
/// # Errors
///
/// `precondition.invalid_transition` unless suspended; with an actor, as
/// [`rules::check_actor_on_member`]; then as [`rules::check_reinstate_membership`].
pub fn reinstate_membership(
    facts: &MembershipFacts,
    input: &MemberAction,
    now: OffsetDateTime,
) -> Result<Plan<Membership>> {
    let suspended = |target: &Membership| {
        if target.status == MembershipStatus::Suspended {
            Ok(())
        } else {
            Err(TenancyError::precondition(
                crate::error::PreconditionReason::InvalidTransition,
            ))
        }
    };
    facts.check_actor(input.actor, suspended, None)?;
    rules::check_reinstate_membership(&facts.target, facts.org_status, facts.other_active)?;
    let row = Membership {
        status: MembershipStatus::Active,
        updated_at: facts.target.successor_time(now),
        ..facts.target.clone()
    };
    Ok(Plan {
        writes: vec![MembershipWrite::Reactivate(row.clone())],
        result: row,
    })
}

/// `self_leave`: the named membership is `transfer_to`'s; a promoted heir's new row is
/// `heir_id`.
///
/// # Errors
///
/// `precondition.mem_not_active`; with an actor, `forbidden` unless it is the member; then as
/// [`rules::plan_self_leave`].
pub fn self_leave(
    facts: &MembershipFacts,
    input: &SelfLeave,
    heir_id: MemId,
    now: OffsetDateTime,
) -> Result<Plan<Membership>> {
    let transfer_to = input.transfer_to;
    if let Some(actor) = input.actor {
        rules::require_membership_active(&facts.target)?;
        if actor != facts.target.usr_id {
            return Err(TenancyError::Forbidden);
        }
    }
    let plan = rules::plan_self_leave(
        &facts.target,
        transfer_to,
        facts.active_owners,
        facts.named.as_ref(),
    )?;
    let mut writes = Vec::with_capacity(2);
    if let LeavePlan::PromoteThenLeave(heir) = plan {
        writes.push(rotation(&heir, heir_id, Role::Owner, now).1);
    }
    let row = ended(&facts.target, MembershipStatus::Revoked, None, now);
    writes.push(MembershipWrite::End(row.clone()));
    Ok(Plan {
        writes,
        result: row,
    })
}

/// `admin_remove` by `admin`, whose membership is the named one.
///
/// # Errors
///
/// As [`rules::check_admin_remove`].
pub fn admin_remove(
    facts: &MembershipFacts,
    admin: UsrId,
    now: OffsetDateTime,
) -> Result<Plan<Membership>> {
    rules::check_admin_remove(&facts.target, facts.named.as_ref())?;
    let row = ended(&facts.target, MembershipStatus::Revoked, Some(admin), now);
    Ok(Plan {
        writes: vec![MembershipWrite::End(row.clone())],
        result: row,
    })
}

/// What `transfer_ownership` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFacts {
    /// The org's status, `None` when it does not exist.
    pub org_status: Option<OrgStatus>,
    /// The actor's active role in the org, when the transfer is actor-checked.
    pub actor_role: Option<Role>,
    /// The `from` membership, if it exists.
    pub from: Option<Membership>,
    /// The `to` membership, if it exists.
    pub to: Option<Membership>,
}

/// `transfer_ownership`: `to` is promoted to owner as `to_new_id`, then `from` is demoted to
/// member as `from_new_id`.
///
/// # Errors
///
/// `not_found` for the org, then `from`, then `to`; then as [`rules::check_transfer`]; with
/// an actor, then as [`rules::check_actor_on_org`] (an active org, an owner).
pub fn transfer_ownership(
    facts: &TransferFacts,
    input: &TransferOwnership,
    (to_new_id, from_new_id): (MemId, MemId),
    now: OffsetDateTime,
) -> Result<Plan<TransferOwnershipResult>> {
    let org_status = facts
        .org_status
        .ok_or(TenancyError::not_found(Entity::Org))?;
    let missing = || TenancyError::not_found(Entity::Membership);
    let from = facts.from.as_ref().ok_or_else(missing)?;
    let to = facts.to.as_ref().ok_or_else(missing)?;
    rules::check_transfer(input.org_id, from, to)?;
    if input.actor.is_some() {
        rules::check_actor_on_org(org_status, true, facts.actor_role, Authority::Owner)?;
    }
    let (to_membership, promote) = rotation(to, to_new_id, Role::Owner, now);
    let (from_membership, demote) = rotation(from, from_new_id, Role::Member, now);
    Ok(Plan {
        writes: vec![promote, demote],
        result: TransferOwnershipResult {
            from_membership,
            to_membership,
        },
    })
}

/// What `add_member` depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddMemberFacts {
    /// The org's status, `None` when it does not exist.
    pub org_status: Option<OrgStatus>,
    /// Whether the user exists.
    pub user_exists: bool,
    /// Whether `invited_by` (when given) exists.
    pub inviter_exists: bool,
    /// Whether the user already holds an active membership in the org.
    pub already_member: bool,
    /// `invited_by`'s active role in the org, read when the call is checked.
    pub inviter_role: Option<Role>,
}

/// `add_member`: the new membership, `mem_id`.
///
/// # Errors
///
/// `not_found` for the org, then the user or inviter; `precondition.org_not_active`;
/// checked, as [`rules::check_inviter`]; `conflict.duplicate_membership`.
pub fn add_member(
    facts: &AddMemberFacts,
    input: &AddMember,
    mem_id: MemId,
    now: OffsetDateTime,
) -> Result<Membership> {
    let status = facts
        .org_status
        .ok_or(TenancyError::not_found(Entity::Org))?;
    if !facts.user_exists || !facts.inviter_exists {
        return Err(TenancyError::not_found(Entity::User));
    }
    rules::require_org_active(status)?;
    if input.checked {
        rules::check_inviter(facts.inviter_role, input.role)?;
    }
    if facts.already_member {
        return Err(TenancyError::DuplicateMembership);
    }
    Ok(Membership::joined(
        mem_id,
        input.usr_id,
        input.org_id,
        input.role,
        input.invited_by,
        now,
    ))
}

/// What `create_invitation` depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InviteFacts {
    /// The org's status, `None` when it does not exist.
    pub org_status: Option<OrgStatus>,
    /// Whether `invited_by` exists.
    pub inviter_exists: bool,
    /// `invited_by`'s active role in the org, if any.
    pub inviter_role: Option<Role>,
}

/// `create_invitation`: the new pending invitation, `inv_id`.
///
/// # Errors
///
/// `not_found` for the org, then the inviter; then as [`rules::check_create_invitation`] and
/// [`rules::check_inviter`].
pub fn create_invitation(
    facts: &InviteFacts,
    input: &CreateInvitation,
    inv_id: InvId,
    now: OffsetDateTime,
) -> Result<Invitation> {
    let status = facts
        .org_status
        .ok_or(TenancyError::not_found(Entity::Org))?;
    if !facts.inviter_exists {
        return Err(TenancyError::not_found(Entity::User));
    }
    rules::check_create_invitation(status, input.expires_at, now)?;
    rules::check_inviter(facts.inviter_role, input.role)?;
    Ok(Invitation {
        id: inv_id,
        org_id: input.org_id,
        identifier: input.identifier.clone(),
        role: input.role,
        status: InvitationStatus::Pending,
        pre_tuples: input.pre_tuples.clone(),
        invited_by: input.invited_by,
        invited_user_id: None,
        created_at: now,
        expires_at: input.expires_at,
        terminal_at: None,
        terminal_by: None,
    })
}

/// What `accept_invitation` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptFacts {
    /// The invitation.
    pub invitation: Invitation,
    /// Its org's status.
    pub org_status: OrgStatus,
    /// Whether the accepting existing user (when given) exists.
    pub user_exists: bool,
    /// Whether the accepting existing user already holds an active membership in the org.
    pub already_member: bool,
}

/// What an acceptance writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptPlan {
    /// The subject: the accepting user, or the user minted for the acceptance.
    pub subject: UsrId,
    /// Whether the subject is a new user to create.
    pub create_user: bool,
    /// The invitation, now accepted.
    pub invitation: Invitation,
    /// The new membership.
    pub membership: Membership,
    /// The tuple of each pre-tuple, in the invitation's order; a store writes each one that
    /// is not already held and reports those.
    pub tuples: Vec<Tuple>,
}

/// `accept_invitation`: the minted user (when not accepting as an existing one) is
/// `new_user`, the membership `mem_id`, and the pre-tuples' tuples take their ids from
/// `tuple_ids` in order.
///
/// # Errors
///
/// `not_found` (user) for an unknown accepting user; then as [`rules::check_accept`];
/// `precondition.org_not_active`; `conflict.duplicate_membership`.
pub fn accept_invitation(
    facts: &AcceptFacts,
    input: &AcceptInvitation,
    (new_user, mem_id): (UsrId, MemId),
    mut tuple_ids: impl FnMut() -> TupId,
    now: OffsetDateTime,
) -> Result<AcceptPlan> {
    if !facts.user_exists {
        return Err(TenancyError::not_found(Entity::User));
    }
    let invitation = &facts.invitation;
    rules::check_accept(
        invitation,
        now,
        input.as_usr_id,
        input.accepting_identifier.as_ref(),
    )?;
    rules::require_org_active(facts.org_status)?;
    if facts.already_member {
        return Err(TenancyError::DuplicateMembership);
    }
    let subject = input.as_usr_id.unwrap_or(new_user);
    let by = Some(invitation.invited_by);
    let membership =
        Membership::joined(mem_id, subject, invitation.org_id, invitation.role, by, now);
    let tuples = invitation
        .pre_tuples
        .iter()
        .map(|pre| Tuple {
            id: tuple_ids(),
            subject_type: EntityType::usr(),
            subject_id: subject.as_uuid(),
            relation: pre.relation.clone(),
            object_type: pre.object_type.clone(),
            object_id: pre.object_id,
            created_at: now,
            created_by: by,
        })
        .collect();
    Ok(AcceptPlan {
        subject,
        create_user: input.as_usr_id.is_none(),
        invitation: Invitation {
            status: InvitationStatus::Accepted,
            invited_user_id: Some(subject),
            terminal_at: Some(now),
            terminal_by: Some(subject),
            ..invitation.clone()
        },
        membership,
        tuples,
    })
}

/// How an invitation ends without being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationEnd {
    /// `decline_invitation`, unchecked: the invitee's act, no authority needed.
    Decline,
    /// `decline_invitation`, checked: by the invitee (the identifier binding) or an owner or
    /// admin of the org (`by_actor`: a decliner was given).
    CheckedDecline {
        /// Whether a decliner (`as_usr_id`) was given.
        by_actor: bool,
    },
    /// `revoke_invitation`: an admin's act.
    Revoke,
}

impl InvitationEnd {
    /// The status the invitation moves to.
    pub const fn status(self) -> InvitationStatus {
        match self {
            Self::Decline | Self::CheckedDecline { .. } => InvitationStatus::Declined,
            Self::Revoke => InvitationStatus::Revoked,
        }
    }
}

/// What ending an invitation depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndInvitationFacts {
    /// The invitation's status.
    pub status: InvitationStatus,
    /// Whether the actor (when given) exists.
    pub actor_exists: bool,
    /// The actor's active role in the invitation's org, if any.
    pub actor_role: Option<Role>,
    /// For a checked decline given an identifier, whether it is the invitation's.
    pub identifier_matches: Option<bool>,
}

/// Whether `end` may end an invitation with these facts.
///
/// # Errors
///
/// `not_found` (user) for an unknown actor; then, revoking, as
/// [`rules::check_revoke_invitation`]; declining, `conflict.invitation_not_pending`, then,
/// checked, as [`rules::check_decliner`].
pub fn end_invitation(facts: &EndInvitationFacts, end: InvitationEnd) -> Result<()> {
    if !facts.actor_exists {
        return Err(TenancyError::not_found(Entity::User));
    }
    match end {
        InvitationEnd::Revoke => rules::check_revoke_invitation(facts.status, facts.actor_role),
        _ if facts.status != InvitationStatus::Pending => Err(TenancyError::InvitationNotPending),
        InvitationEnd::Decline => Ok(()),
        InvitationEnd::CheckedDecline { by_actor } => {
            rules::check_decliner(facts.identifier_matches, by_actor, facts.actor_role)
        }
    }
}

/// The invitation as ending it by `actor` at `now` leaves it.
pub fn ended_invitation(
    invitation: &Invitation,
    end: InvitationEnd,
    actor: Option<UsrId>,
    now: OffsetDateTime,
) -> Invitation {
    Invitation {
        status: end.status(),
        terminal_at: Some(now),
        terminal_by: actor,
        ..invitation.clone()
    }
}

/// The status an org moves to; `None` when the org does not exist.
///
/// # Errors
///
/// `actor` is `None` for an unchecked call, and for an actor-checked one the actor's active
/// role in the org (`Some(None)`: none).
///
/// # Errors
///
/// `not_found` (org); then as [`rules::org_transition`]; checked, `forbidden` unless the
/// actor is an owner.
pub fn org_transition(
    status: Option<OrgStatus>,
    transition: OrgTransition,
    actor: Option<Option<Role>>,
) -> Result<OrgStatus> {
    let status = status.ok_or(TenancyError::not_found(Entity::Org))?;
    let next = rules::org_transition(status, transition)?;
    if let Some(actor_role) = actor {
        rules::check_actor_on_org(status, false, actor_role, Authority::Owner)?;
    }
    Ok(next)
}

/// Whether `update_org` may change an org in `status` (`None`: it does not exist); `actor` as
/// for [`org_transition`].
///
/// # Errors
///
/// `not_found` (org); `already_terminal`; checked, `precondition.org_not_active` and
/// `forbidden` unless the actor is an owner or admin.
pub fn update_org(status: Option<OrgStatus>, actor: Option<Option<Role>>) -> Result<()> {
    let status = status.ok_or(TenancyError::not_found(Entity::Org))?;
    rules::check_update_org(status)?;
    if let Some(actor_role) = actor {
        rules::check_actor_on_org(status, true, actor_role, Authority::OwnerOrAdmin)?;
    }
    Ok(())
}
