//! The service's own authorization reads: the SDK records who acts but, for most operations,
//! leaves deciding who may act to the caller.
//!
//! Every gate resolves the org first, so an unknown org is `not_found` for everyone, and then
//! asks about the actor: a refusal is the SDK's own `forbidden` (or `forbidden.role_hierarchy`),
//! so it maps to a status and an envelope like every other error.

use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    Entity, EntityType, Identifier, Invitation, Membership, Organization, Relation, Role, Tenancy,
    TenancyError,
};

/// Any active role on the org: what reading the org and its members takes.
pub(crate) async fn require_member(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    actor: UsrId,
) -> Result<Organization, TenancyError> {
    let org = tenancy.get_org(org_id).await?;
    let every_role = Role::ALL.iter().map(|role| role.relation()).collect();
    if holds_any(tenancy, org_id, actor, every_role).await? {
        Ok(org)
    } else {
        Err(TenancyError::Forbidden)
    }
}

/// An active `owner` or `admin` membership in the org, which is returned: what adding members
/// and changing roles take.
pub(crate) async fn require_admin(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    actor: UsrId,
) -> Result<Membership, TenancyError> {
    let Some(membership) = tenancy.active_membership(org_id, actor).await? else {
        // No role here: tell an unknown org from a refusal.
        tenancy.get_org(org_id).await?;
        return Err(TenancyError::Forbidden);
    };
    flametrench_tenancy_core::require_invitation_authority(Some(membership.role))?;
    Ok(membership)
}

/// The actor's active `owner` membership in the org: what handing over ownership takes.
pub(crate) async fn require_owner(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    actor: UsrId,
) -> Result<Membership, TenancyError> {
    match tenancy.active_membership(org_id, actor).await? {
        Some(membership) if membership.role == Role::Owner => Ok(membership),
        Some(_) => Err(TenancyError::Forbidden),
        None => {
            tenancy.get_org(org_id).await?;
            Err(TenancyError::Forbidden)
        }
    }
}

/// What an admin may hand out: the rule of invitations (ADR 0012) applied to adding members and
/// changing roles, so that an admin can neither make an owner nor change an owner's role.
///
/// # Errors
///
/// `forbidden.role_hierarchy` when `granter` is not an owner and `role` is `owner`.
pub(crate) fn check_grant(granter: &Membership, role: Role) -> Result<(), TenancyError> {
    flametrench_tenancy_core::check_inviter(Some(granter.role), role)
}

/// The membership `mem_id` of the org `org_id`: one of another org is `not_found`, as if the
/// path named nothing.
pub(crate) async fn membership_in(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    mem_id: MemId,
) -> Result<Membership, TenancyError> {
    let membership = tenancy.get_membership(mem_id, None).await?;
    if membership.org_id == org_id {
        Ok(membership)
    } else {
        Err(TenancyError::not_found(Entity::Membership))
    }
}

/// Whether the actor may see or decline the invitation: it is the invitee (the session's
/// verified identifier is the invitation's, byte for byte), or an owner or admin of its org.
pub(crate) async fn may_handle_invitation(
    tenancy: &Tenancy<'_>,
    invitation: &Invitation,
    actor: UsrId,
    actor_identifier: Option<&Identifier>,
) -> Result<(), TenancyError> {
    if actor_identifier == Some(&invitation.identifier) {
        return Ok(());
    }
    let admins = vec![Role::Owner.relation(), Role::Admin.relation()];
    if holds_any(tenancy, invitation.org_id, actor, admins).await? {
        Ok(())
    } else {
        Err(TenancyError::Forbidden)
    }
}

/// `check_any` on the org's membership tuples. Tuples outlive `suspend_org`, so reads keep
/// working on a suspended org; a suspended membership has no tuple and holds nothing.
async fn holds_any(
    tenancy: &Tenancy<'_>,
    org_id: OrgId,
    actor: UsrId,
    relations: Vec<Relation>,
) -> Result<bool, TenancyError> {
    tenancy
        .check_any(
            EntityType::usr(),
            actor.as_uuid(),
            relations,
            EntityType::org(),
            org_id.as_uuid(),
        )
        .await
}
