//! The service's own authorization decisions: those of its reads.
//!
//! Writes are not gated here. Every write the SDK can check is given the actor (`.by(actor)`,
//! or the admin of `admin_remove` and `revoke_invitation`) and the path's org (`in_org`), and the
//! store decides both under the org's lock, in the write's own round trip
//! (`spec/decisions/0016-actor-checks.md`, `0017-org-scoped-calls.md`). A read made here first
//! would be a decision on a role the actor may no longer hold when the write takes the lock.
//!
//! A read's gate is one `org_access` round trip: the org's status and the actor's active
//! membership, read together, so the gate sees a suspended org (membership tuples, which
//! `check_any` reads, outlive `suspend_org`). A refusal is the SDK's own error, so it maps to a
//! status and an envelope like every other one.

use flametrench_tenancy_core::ids::{OrgId, UsrId};
use flametrench_tenancy_core::{
    Entity, Identifier, Invitation, PreconditionReason, Role, Tenancy, TenancyError,
};

/// The actor's role in `org_id`, for the reads of an active org's members and invitations:
/// 404 `not_found` (org) for an unknown org, 403 `forbidden` without an active membership
/// (the org's status is not told to outsiders), 409 `precondition.org_not_active` to a member
/// of a suspended org.
pub(crate) async fn reader_role(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    actor: UsrId,
) -> Result<Role, TenancyError> {
    let access = tenancy.org_access(org_id, actor).await?;
    if access.org_status.is_none() {
        return Err(TenancyError::not_found(Entity::Org));
    }
    if access.membership.is_none() {
        return Err(TenancyError::Forbidden);
    }
    access
        .role()
        .ok_or(TenancyError::precondition(PreconditionReason::OrgNotActive))
}

/// What reading the org itself takes: an active membership, in an active or a suspended org
/// (its members see why everything else answers `precondition.org_not_active`). 404 for an
/// unknown org, 403 otherwise.
pub(crate) async fn require_org_reader(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    actor: UsrId,
) -> Result<(), TenancyError> {
    let access = tenancy.org_access(org_id, actor).await?;
    match (access.org_status, access.membership) {
        (None, _) => Err(TenancyError::not_found(Entity::Org)),
        (Some(_), None) => Err(TenancyError::Forbidden),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// An owner or admin: what reading an org's invitations takes, and what `PUT /orgs/{org_id}`
/// with `{}` (a read) takes.
pub(crate) fn require_admin_role(role: Role) -> Result<(), TenancyError> {
    match role {
        Role::Owner | Role::Admin => Ok(()),
        _ => Err(TenancyError::Forbidden),
    }
}

/// Whether the actor may read the invitation: it is the invitee (the session's verified
/// identifier is the invitation's, byte for byte), whatever the org's status, or an owner or
/// admin of its active org.
pub(crate) async fn may_read_invitation(
    tenancy: &Tenancy<'_>,
    invitation: &Invitation,
    actor: UsrId,
    actor_identifier: Option<&Identifier>,
) -> Result<(), TenancyError> {
    if actor_identifier == Some(&invitation.identifier) {
        return Ok(());
    }
    require_admin_role(reader_role(tenancy, invitation.org_id, actor).await?)
}
