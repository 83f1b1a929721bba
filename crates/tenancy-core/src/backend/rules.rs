//! The tenancy rules that do not depend on storage, written once: the checks each
//! [`decide`](crate::backend::decide) function is made of, and the paging helpers every listing uses.
//!
//! Stores do not call the checks directly; they gather an operation's facts and ask its
//! `decide` function, which calls these. Each check returns the error the spec assigns, in the
//! spec's order.

use flametrench_ids::{OrgId, TypedId, UsrId};
use time::OffsetDateTime;

use crate::error::{Entity, PreconditionReason, Result, TenancyError};
use crate::model::{
    Cursor, Invitation, InvitationStatus, Membership, MembershipStatus, OrgStatus, Page, Role,
};
use crate::text::{Identifier, Relation};

/// Default page size of every listing.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Largest page size of every listing; larger requests are clamped to it.
pub const MAX_PAGE_LIMIT: u32 = 200;

fn precondition(reason: PreconditionReason) -> TenancyError {
    TenancyError::precondition(reason)
}

/// An org lifecycle transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgTransition {
    /// `active → suspended`.
    Suspend,
    /// `suspended → active`.
    Reinstate,
    /// `active | suspended → revoked`.
    Revoke,
}

/// The status an org moves to under `transition`.
///
/// # Errors
///
/// `already_terminal` for a revoked org; `precondition.invalid_transition` for suspending a
/// suspended org or reinstating one that is not suspended.
pub fn org_transition(current: OrgStatus, transition: OrgTransition) -> Result<OrgStatus> {
    use OrgStatus::{Active, Revoked, Suspended};
    match (current, transition) {
        (Revoked, _) => Err(TenancyError::AlreadyTerminal {
            entity: Entity::Org,
        }),
        (Active, OrgTransition::Suspend) => Ok(Suspended),
        (Suspended, OrgTransition::Reinstate) => Ok(Active),
        (Active | Suspended, OrgTransition::Revoke) => Ok(Revoked),
        (Suspended, OrgTransition::Suspend) | (Active, OrgTransition::Reinstate) => {
            Err(precondition(PreconditionReason::InvalidTransition))
        }
    }
}

/// `update_org` may change any org that is not revoked.
///
/// # Errors
///
/// `already_terminal` for a revoked org.
pub fn check_update_org(status: OrgStatus) -> Result<()> {
    if status == OrgStatus::Revoked {
        Err(TenancyError::AlreadyTerminal {
            entity: Entity::Org,
        })
    } else {
        Ok(())
    }
}

/// Operations that create an active membership (or an invitation to one) need an active org.
///
/// # Errors
///
/// `precondition.org_not_active`.
pub fn require_org_active(status: OrgStatus) -> Result<()> {
    if status == OrgStatus::Active {
        Ok(())
    } else {
        Err(precondition(PreconditionReason::OrgNotActive))
    }
}

/// The membership must be active.
///
/// # Errors
///
/// `precondition.mem_not_active`.
pub fn require_membership_active(membership: &Membership) -> Result<()> {
    if membership.status == MembershipStatus::Active {
        Ok(())
    } else {
        Err(precondition(PreconditionReason::MemNotActive))
    }
}

/// Whether taking `role` away from an active member leaves the org without an active owner,
/// given how many active owners it has now.
pub fn removes_last_owner(role: Role, active_owners: usize) -> bool {
    role == Role::Owner && active_owners <= 1
}

/// `change_role` preconditions.
///
/// # Errors
///
/// `precondition.mem_not_active`; `forbidden.sole_owner` when the last owner would be demoted.
pub fn check_change_role(
    membership: &Membership,
    new_role: Role,
    active_owners: usize,
) -> Result<()> {
    require_membership_active(membership)?;
    if new_role != Role::Owner && removes_last_owner(membership.role, active_owners) {
        return Err(TenancyError::SoleOwner);
    }
    Ok(())
}

/// `suspend_membership` preconditions.
///
/// # Errors
///
/// `precondition.mem_not_active`; `forbidden.sole_owner` for the last active owner.
pub fn check_suspend_membership(membership: &Membership, active_owners: usize) -> Result<()> {
    require_membership_active(membership)?;
    if removes_last_owner(membership.role, active_owners) {
        return Err(TenancyError::SoleOwner);
    }
    Ok(())
}

/// `reinstate_membership` preconditions, given the org's status and whether the user has
/// another active membership in the org.
///
/// # Errors
///
/// `precondition.invalid_transition` unless suspended; `precondition.org_not_active`;
/// `conflict.duplicate_membership`.
pub fn check_reinstate_membership(
    membership: &Membership,
    org_status: OrgStatus,
    user_has_active_membership: bool,
) -> Result<()> {
    if membership.status != MembershipStatus::Suspended {
        return Err(precondition(PreconditionReason::InvalidTransition));
    }
    require_org_active(org_status)?;
    if user_has_active_membership {
        return Err(TenancyError::DuplicateMembership);
    }
    Ok(())
}

/// What `self_leave` must do besides revoking the leaver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeavePlan {
    /// Just revoke the leaver.
    Leave,
    /// Promote this active membership to owner (revoke-and-re-add), then revoke the leaver.
    PromoteThenLeave(Membership),
}

/// Decides `self_leave`.
///
/// `successor` is the active membership of `transfer_to` in the leaver's org, if any; it is
/// only consulted when the leaver is the last active owner.
///
/// # Errors
///
/// `precondition.mem_not_active`; `precondition.self_transfer` when `transfer_to` names the
/// leaver; `forbidden.sole_owner` for the last owner leaving without `transfer_to`;
/// `not_found` (membership) when `transfer_to` has no active membership in the org.
pub fn plan_self_leave(
    leaver: &Membership,
    transfer_to: Option<UsrId>,
    active_owners: usize,
    successor: Option<&Membership>,
) -> Result<LeavePlan> {
    require_membership_active(leaver)?;
    if transfer_to == Some(leaver.usr_id) {
        return Err(precondition(PreconditionReason::SelfTransfer));
    }
    if !removes_last_owner(leaver.role, active_owners) {
        return Ok(LeavePlan::Leave);
    }
    if transfer_to.is_none() {
        return Err(TenancyError::SoleOwner);
    }
    match successor {
        Some(successor)
            if successor.status == MembershipStatus::Active
                && successor.org_id == leaver.org_id
                && Some(successor.usr_id) == transfer_to =>
        {
            Ok(LeavePlan::PromoteThenLeave(successor.clone()))
        }
        _ => Err(TenancyError::not_found(Entity::Membership)),
    }
}

/// `admin_remove` preconditions; `actor` is the admin's active membership in the target's org.
///
/// # Errors
///
/// `precondition.mem_not_active`; `forbidden` when the actor has no active membership there or
/// is neither owner nor admin; `forbidden.role_hierarchy` for an owner target or a lower-ranked
/// actor; `precondition.scope_mismatch` for unranked roles.
pub fn check_admin_remove(target: &Membership, actor: Option<&Membership>) -> Result<()> {
    require_membership_active(target)?;
    let actor = match actor {
        Some(actor)
            if actor.status == MembershipStatus::Active && actor.org_id == target.org_id =>
        {
            actor
        }
        _ => return Err(TenancyError::Forbidden),
    };
    if !matches!(actor.role, Role::Owner | Role::Admin) {
        return Err(TenancyError::Forbidden);
    }
    if target.role == Role::Owner {
        return Err(TenancyError::RoleHierarchy);
    }
    match (actor.role.rank(), target.role.rank()) {
        (Some(actor_rank), Some(target_rank)) if actor_rank >= target_rank => Ok(()),
        (Some(_), Some(_)) => Err(TenancyError::RoleHierarchy),
        _ => Err(precondition(PreconditionReason::ScopeMismatch)),
    }
}

/// `transfer_ownership` preconditions, once both memberships were found.
///
/// # Errors
///
/// `precondition.from_not_active`, `to_not_active`, `org_mismatch`, `from_not_owner`,
/// `self_transfer`, in that order.
pub fn check_transfer(org_id: OrgId, from: &Membership, to: &Membership) -> Result<()> {
    if from.status != MembershipStatus::Active {
        return Err(precondition(PreconditionReason::FromNotActive));
    }
    if to.status != MembershipStatus::Active {
        return Err(precondition(PreconditionReason::ToNotActive));
    }
    if from.org_id != org_id || to.org_id != org_id {
        return Err(precondition(PreconditionReason::OrgMismatch));
    }
    if from.role != Role::Owner {
        return Err(precondition(PreconditionReason::FromNotOwner));
    }
    if from.usr_id == to.usr_id {
        return Err(precondition(PreconditionReason::SelfTransfer));
    }
    Ok(())
}

/// `create_invitation` preconditions.
///
/// # Errors
///
/// `precondition.org_not_active`; `precondition.past_expiration` unless `expires_at > now`.
pub fn check_create_invitation(
    org_status: OrgStatus,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    require_org_active(org_status)?;
    if expires_at <= now {
        return Err(precondition(PreconditionReason::PastExpiration));
    }
    Ok(())
}

/// Invitation authority on an org: the actor's active role there (`None` without an active
/// membership) must be `owner` or `admin` (`spec/decisions/0012-invitation-authority.md`).
///
/// # Errors
///
/// `forbidden`.
pub fn require_invitation_authority(actor_role: Option<Role>) -> Result<()> {
    match actor_role {
        Some(Role::Owner | Role::Admin) => Ok(()),
        _ => Err(TenancyError::Forbidden),
    }
}

/// What `create_invitation` requires of `invited_by`, after the checks of
/// [`check_create_invitation`]: invitation authority on the org, and, to invite an owner, being
/// an owner (an admin cannot hand out more than it holds).
///
/// # Errors
///
/// `forbidden`; `forbidden.role_hierarchy`.
pub fn check_inviter(inviter_role: Option<Role>, invited_role: Role) -> Result<()> {
    require_invitation_authority(inviter_role)?;
    if invited_role == Role::Owner && inviter_role != Some(Role::Owner) {
        return Err(TenancyError::RoleHierarchy);
    }
    Ok(())
}

/// `revoke_invitation`, once the invitation and the actor were found: the invitation must be
/// pending, then the actor must hold invitation authority on its org.
///
/// # Errors
///
/// `conflict.invitation_not_pending`; `forbidden`.
pub fn check_revoke_invitation(
    invitation_status: InvitationStatus,
    actor_role: Option<Role>,
) -> Result<()> {
    if invitation_status != InvitationStatus::Pending {
        return Err(TenancyError::InvitationNotPending);
    }
    require_invitation_authority(actor_role)
}

/// What an actor-checked write needs of its actor (`spec/decisions/0016-actor-checks.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// An owner or admin: acting on members, updating the org.
    OwnerOrAdmin,
    /// An owner: the org's lifecycle and ownership transfer.
    Owner,
}

/// Whether `actor_role`, the actor's active role in the org (`None`: no active membership
/// there), holds `authority`.
///
/// # Errors
///
/// `forbidden`.
pub fn require_authority(actor_role: Option<Role>, authority: Authority) -> Result<()> {
    match (authority, actor_role) {
        (Authority::OwnerOrAdmin, Some(Role::Owner | Role::Admin))
        | (Authority::Owner, Some(Role::Owner)) => Ok(()),
        _ => Err(TenancyError::Forbidden),
    }
}

/// What an actor-checked membership write (`change_role`, `suspend_membership`,
/// `reinstate_membership`) requires, after the target's own state was checked: an active org,
/// an actor holding an active owner or admin membership in it, and an owner to act on an owner
/// or to grant `owner` (`grants`, the role given by a role change).
///
/// # Errors
///
/// `precondition.org_not_active`; `forbidden`; `forbidden.role_hierarchy`.
pub fn check_actor_on_member(
    org_status: OrgStatus,
    actor_role: Option<Role>,
    target_role: Role,
    grants: Option<Role>,
) -> Result<()> {
    require_org_active(org_status)?;
    require_authority(actor_role, Authority::OwnerOrAdmin)?;
    let owner_only = target_role == Role::Owner || grants == Some(Role::Owner);
    if owner_only && actor_role != Some(Role::Owner) {
        return Err(TenancyError::RoleHierarchy);
    }
    Ok(())
}

/// What an actor-checked org write requires, after the org's own state was checked: for
/// `update_org` and `transfer_ownership` (`needs_active`) an active org, then `authority`.
///
/// # Errors
///
/// `precondition.org_not_active`; `forbidden`.
pub fn check_actor_on_org(
    org_status: OrgStatus,
    needs_active: bool,
    actor_role: Option<Role>,
    authority: Authority,
) -> Result<()> {
    if needs_active {
        require_org_active(org_status)?;
    }
    require_authority(actor_role, authority)
}

/// A checked `decline_invitation`, once the invitation is known to be pending: the decliner is
/// the invitee (`identifier_matches`: the session's identifier, when given, is the
/// invitation's) or an active owner or admin of the org (`actor_role`).
///
/// # Errors
///
/// `forbidden` when an actor was given (`by_actor`); otherwise
/// `precondition.identifier_mismatch`.
pub fn check_decliner(
    identifier_matches: Option<bool>,
    by_actor: bool,
    actor_role: Option<Role>,
) -> Result<()> {
    if identifier_matches == Some(true)
        || (by_actor && require_authority(actor_role, Authority::OwnerOrAdmin).is_ok())
    {
        Ok(())
    } else if by_actor {
        Err(TenancyError::Forbidden)
    } else {
        Err(precondition(PreconditionReason::IdentifierMismatch))
    }
}

/// Whether an invitation has expired at `now` (strictly after `expires_at`).
pub fn is_expired(invitation: &Invitation, now: OffsetDateTime) -> bool {
    now > invitation.expires_at
}

/// The invitation must still be pending (for decline and revoke; expiry is not checked).
///
/// # Errors
///
/// `conflict.invitation_not_pending`.
pub fn require_pending(invitation: &Invitation) -> Result<()> {
    if invitation.status == InvitationStatus::Pending {
        Ok(())
    } else {
        Err(TenancyError::InvitationNotPending)
    }
}

/// `accept_invitation` checks on the invitation itself: pending, not expired, identifier
/// binding (only when accepting as an existing user). The org's status and duplicate
/// membership are checked after, by [`require_org_active`] and the store.
///
/// # Errors
///
/// `conflict.invitation_not_pending`, `conflict.invitation_expired`,
/// `precondition.identifier_binding_required`, `precondition.identifier_mismatch`.
pub fn check_accept(
    invitation: &Invitation,
    now: OffsetDateTime,
    as_usr_id: Option<UsrId>,
    accepting_identifier: Option<&Identifier>,
) -> Result<()> {
    require_pending(invitation)?;
    if is_expired(invitation, now) {
        return Err(TenancyError::InvitationExpired);
    }
    if as_usr_id.is_some() {
        match accepting_identifier {
            None => return Err(precondition(PreconditionReason::IdentifierBindingRequired)),
            Some(identifier) if identifier.as_str() != invitation.identifier.as_str() => {
                return Err(precondition(PreconditionReason::IdentifierMismatch));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The effective page size for a requested `limit`: default 50, clamped into `1..=200`.
pub fn page_limit(limit: Option<u32>) -> usize {
    limit.unwrap_or(DEFAULT_PAGE_LIMIT).clamp(1, MAX_PAGE_LIMIT) as usize
}

/// The id a listing continues after.
///
/// # Errors
///
/// `precondition.invalid_cursor` when the cursor is not a well-formed id of type `I`.
pub fn cursor_position<I: TypedId>(cursor: Option<&Cursor>) -> Result<Option<I>> {
    // An empty cursor (`?cursor=`) is the first page, as no cursor is.
    cursor
        .filter(|cursor| !cursor.is_empty())
        .map(Cursor::position::<I>)
        .transpose()
}

/// Builds a page from up to `limit + 1` rows in id order: a row beyond `limit` means another
/// page exists, and the cursor is the id of the last row kept.
pub fn paginate<T, I: TypedId>(mut rows: Vec<T>, limit: usize, id_of: impl Fn(&T) -> I) -> Page<T> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more {
        rows.last().map(|row| Cursor::after(id_of(row)))
    } else {
        None
    };
    Page {
        data: rows,
        next_cursor,
    }
}

/// The most relations one `check_any` may ask about.
pub const MAX_CHECK_RELATIONS: usize = 32;

/// Checks the relations of a `check_any`: at least one, at most [`MAX_CHECK_RELATIONS`];
/// returns them without repeats, in a stable order.
///
/// # Errors
///
/// `precondition.empty_relation_set`; `precondition.too_many_relations`.
pub fn check_relations(mut relations: Vec<Relation>) -> Result<Vec<Relation>> {
    if relations.is_empty() {
        return Err(TenancyError::precondition(
            PreconditionReason::EmptyRelationSet,
        ));
    }
    if relations.len() > MAX_CHECK_RELATIONS {
        return Err(TenancyError::precondition(
            PreconditionReason::TooManyRelations,
        ));
    }
    relations.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    relations.dedup();
    Ok(relations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flametrench_ids::MemId;

    fn membership(role: Role, status: MembershipStatus, org_id: OrgId) -> Membership {
        Membership {
            id: MemId::new(),
            usr_id: UsrId::new(),
            org_id,
            role,
            status,
            replaces: None,
            invited_by: None,
            removed_by: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn org_transitions() {
        use OrgStatus::*;
        use OrgTransition::*;
        assert_eq!(org_transition(Active, Suspend).unwrap(), Suspended);
        assert_eq!(org_transition(Suspended, Reinstate).unwrap(), Active);
        assert_eq!(org_transition(Suspended, Revoke).unwrap(), Revoked);
        assert_eq!(
            org_transition(Suspended, Suspend).unwrap_err().code(),
            "precondition.invalid_transition"
        );
        assert_eq!(
            org_transition(Active, Reinstate).unwrap_err().code(),
            "precondition.invalid_transition"
        );
        for transition in [Suspend, Reinstate, Revoke] {
            assert_eq!(
                org_transition(Revoked, transition).unwrap_err().code(),
                "already_terminal"
            );
        }
    }

    #[test]
    fn admin_remove_ranks() {
        let org = OrgId::new();
        let active = MembershipStatus::Active;
        let admin = membership(Role::Admin, active, org);
        let code = |target: Role, actor: &Membership| {
            check_admin_remove(&membership(target, active, org), Some(actor))
                .err()
                .map(|error| error.code())
        };
        assert_eq!(code(Role::Member, &admin), None);
        assert_eq!(code(Role::Admin, &admin), None);
        assert_eq!(code(Role::Owner, &admin), Some("forbidden.role_hierarchy"));
        assert_eq!(
            code(Role::Viewer, &admin),
            Some("precondition.scope_mismatch")
        );
        let member = membership(Role::Member, active, org);
        assert_eq!(code(Role::Guest, &member), Some("forbidden"));
        let elsewhere = membership(Role::Owner, active, OrgId::new());
        assert_eq!(code(Role::Guest, &elsewhere), Some("forbidden"));
        assert_eq!(
            check_admin_remove(&membership(Role::Guest, active, org), None)
                .unwrap_err()
                .code(),
            "forbidden"
        );
    }

    #[test]
    fn self_leave_plans() {
        let org = OrgId::new();
        let owner = membership(Role::Owner, MembershipStatus::Active, org);
        let heir = membership(Role::Member, MembershipStatus::Active, org);
        assert_eq!(
            plan_self_leave(&owner, None, 1, None).unwrap_err().code(),
            "forbidden.sole_owner"
        );
        assert_eq!(
            plan_self_leave(&owner, Some(owner.usr_id), 2, None)
                .unwrap_err()
                .code(),
            "precondition.self_transfer"
        );
        assert_eq!(
            plan_self_leave(&owner, None, 2, None).unwrap(),
            LeavePlan::Leave
        );
        assert_eq!(
            plan_self_leave(&owner, Some(UsrId::new()), 1, None)
                .unwrap_err()
                .code(),
            "not_found"
        );
        assert_eq!(
            plan_self_leave(&owner, Some(heir.usr_id), 1, Some(&heir)).unwrap(),
            LeavePlan::PromoteThenLeave(heir.clone())
        );
    }

    #[test]
    fn limits_clamp() {
        assert_eq!(page_limit(None), 50);
        assert_eq!(page_limit(Some(0)), 1);
        assert_eq!(page_limit(Some(500)), 200);
        assert_eq!(page_limit(Some(7)), 7);
    }

    #[test]
    fn pagination_looks_ahead() {
        let ids: Vec<OrgId> = (0..3).map(|_| OrgId::new()).collect();
        let page = paginate(ids.clone(), 2, |id| *id);
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.next_cursor, Some(Cursor::after(ids[1])));
        let last = paginate(ids[..2].to_vec(), 2, |id| *id);
        assert_eq!(last.next_cursor, None);
        assert_eq!(
            cursor_position::<OrgId>(Some(&Cursor::after(MemId::new())))
                .unwrap_err()
                .code(),
            "precondition.invalid_cursor"
        );
    }
}
