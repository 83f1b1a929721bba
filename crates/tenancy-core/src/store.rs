//! The [`TenancyStore`] trait: every tenancy operation, implemented by each backend.

use std::future::Future;

use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use uuid::Uuid;

use crate::error::Result;
use crate::input::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, ListInvitations, ListMembers,
    ListMembershipsForUser, ListOrgs, TransferOwnership, UpdateOrg,
};
use crate::model::{
    AcceptInvitationResult, CreateOrgResult, Invitation, Membership, Organization, Page, Role,
    TransferOwnershipResult, Tuple,
};
use crate::text::{EntityType, Relation};

/// A store of orgs, memberships, invitations and their authorization tuples.
///
/// Every method is atomic: it either takes full effect or none, and concurrent calls on one
/// store behave as if run one after another. Every store keeps the invariants of the spec:
/// an org with active members has an active owner; every active membership is mirrored by
/// exactly one `(usr, role, org)` tuple and every such tuple by an active membership; a user
/// has at most one active membership per org; a revoked org has no active membership.
///
/// Errors are [`TenancyError`](crate::TenancyError)s; each method's `# Errors` lists the codes
/// it returns besides the storage codes (`storage.*`) any backend may return.
pub trait TenancyStore: Send + Sync {
    /// Registers a user id so that memberships, invitations and tuples may reference it.
    /// Idempotent. References to unregistered users fail with `not_found` (user).
    ///
    /// # Errors
    ///
    /// Storage errors only.
    fn ensure_user(&self, usr_id: UsrId) -> impl Future<Output = Result<()>> + Send;

    /// Creates an active org with the creator as its first owner.
    ///
    /// # Errors
    ///
    /// `not_found` (unknown creator); `conflict.org_slug` when another org, of any status,
    /// holds the slug.
    fn create_org(&self, input: CreateOrg) -> impl Future<Output = Result<CreateOrgResult>> + Send;

    /// Reads an org.
    ///
    /// # Errors
    ///
    /// `not_found`.
    fn get_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send;

    /// Sets or clears an org's name and slug; always bumps `updated_at`.
    ///
    /// # Errors
    ///
    /// `not_found`; `already_terminal` for a revoked org; `conflict.org_slug`.
    fn update_org(&self, input: UpdateOrg) -> impl Future<Output = Result<Organization>> + Send;

    /// Lists every org of the install (an admin-only read: the store does no authorization).
    ///
    /// # Errors
    ///
    /// `precondition.invalid_cursor`.
    fn list_orgs(&self, input: ListOrgs)
    -> impl Future<Output = Result<Page<Organization>>> + Send;

    /// Suspends an active org; memberships and tuples are kept.
    ///
    /// # Errors
    ///
    /// `not_found`; `already_terminal` when revoked; `precondition.invalid_transition` when
    /// already suspended.
    fn suspend_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send;

    /// Reinstates a suspended org.
    ///
    /// # Errors
    ///
    /// `not_found`; `already_terminal` when revoked; `precondition.invalid_transition` when
    /// active.
    fn reinstate_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send;

    /// Revokes an org: every active or suspended membership is revoked, every tuple on the org
    /// deleted and every pending invitation revoked, in one step.
    ///
    /// # Errors
    ///
    /// `not_found`; `already_terminal` when already revoked.
    fn revoke_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send;

    /// Adds an active membership and its tuple.
    ///
    /// # Errors
    ///
    /// `not_found` (org, user, or `invited_by`); `precondition.org_not_active`;
    /// `conflict.duplicate_membership`.
    fn add_member(&self, input: AddMember) -> impl Future<Output = Result<Membership>> + Send;

    /// Reads a membership.
    ///
    /// # Errors
    ///
    /// `not_found`.
    fn get_membership(&self, mem_id: MemId) -> impl Future<Output = Result<Membership>> + Send;

    /// Lists an org's memberships of every status (history included), in id order.
    ///
    /// # Errors
    ///
    /// `not_found` (org); `precondition.invalid_cursor`.
    fn list_members(
        &self,
        input: ListMembers,
    ) -> impl Future<Output = Result<Page<Membership>>> + Send;

    /// Lists a user's memberships across orgs (history included), in id order.
    ///
    /// # Errors
    ///
    /// `not_found` (user); `precondition.invalid_cursor`.
    fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> impl Future<Output = Result<Page<Membership>>> + Send;

    /// Changes a member's role by revoke-and-re-add; returns the new row.
    ///
    /// # Errors
    ///
    /// `not_found`; `precondition.mem_not_active`; `forbidden.sole_owner`.
    fn change_role(
        &self,
        mem_id: MemId,
        new_role: Role,
    ) -> impl Future<Output = Result<Membership>> + Send;

    /// Suspends an active membership in place and deletes its tuple.
    ///
    /// # Errors
    ///
    /// `not_found`; `precondition.mem_not_active`; `forbidden.sole_owner`.
    fn suspend_membership(&self, mem_id: MemId) -> impl Future<Output = Result<Membership>> + Send;

    /// Reinstates a suspended membership in place and restores its tuple.
    ///
    /// # Errors
    ///
    /// `not_found`; `precondition.invalid_transition`; `precondition.org_not_active`;
    /// `conflict.duplicate_membership`.
    fn reinstate_membership(
        &self,
        mem_id: MemId,
    ) -> impl Future<Output = Result<Membership>> + Send;

    /// The member leaves (`removed_by` stays null). The last owner must name a successor by
    /// user id in `transfer_to`, who is promoted to owner in the same step.
    ///
    /// # Errors
    ///
    /// `not_found`; `precondition.mem_not_active`; `precondition.self_transfer`;
    /// `forbidden.sole_owner`; `not_found` when `transfer_to` has no active membership.
    fn self_leave(
        &self,
        mem_id: MemId,
        transfer_to: Option<UsrId>,
    ) -> impl Future<Output = Result<Membership>> + Send;

    /// An owner or admin removes a member (`removed_by` = the admin).
    ///
    /// # Errors
    ///
    /// `not_found`; `precondition.mem_not_active`; `forbidden`; `forbidden.role_hierarchy`;
    /// `precondition.scope_mismatch`.
    fn admin_remove(
        &self,
        mem_id: MemId,
        admin_usr_id: UsrId,
    ) -> impl Future<Output = Result<Membership>> + Send;

    /// Makes `to` an owner and `from` a member, both by revoke-and-re-add, in one step.
    ///
    /// # Errors
    ///
    /// `not_found` (org, from, to); `precondition.from_not_active`, `to_not_active`,
    /// `org_mismatch`, `from_not_owner`, `self_transfer`.
    fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> impl Future<Output = Result<TransferOwnershipResult>> + Send;

    /// Creates a pending invitation. Its `expires_at` is written and returned exactly as the
    /// input holds it, already normalized by [`CreateInvitation::new`] (whose own error is
    /// `precondition.timestamp_out_of_range`).
    ///
    /// # Errors
    ///
    /// `not_found` (org, `invited_by`); `precondition.org_not_active`;
    /// `precondition.past_expiration`.
    fn create_invitation(
        &self,
        input: CreateInvitation,
    ) -> impl Future<Output = Result<Invitation>> + Send;

    /// Reads an invitation (an expired one still reads `pending`).
    ///
    /// # Errors
    ///
    /// `not_found`.
    fn get_invitation(&self, inv_id: InvId) -> impl Future<Output = Result<Invitation>> + Send;

    /// Lists an org's invitations in id order.
    ///
    /// # Errors
    ///
    /// `not_found` (org); `precondition.invalid_cursor`.
    fn list_invitations(
        &self,
        input: ListInvitations,
    ) -> impl Future<Output = Result<Page<Invitation>>> + Send;

    /// Accepts an invitation atomically: membership, its tuple, every pre-tuple, and the
    /// invitation's transition, or nothing. Without `as_usr_id` a new user is registered.
    ///
    /// # Errors
    ///
    /// `not_found` (invitation, user); `conflict.invitation_not_pending`;
    /// `conflict.invitation_expired`; `precondition.identifier_binding_required`;
    /// `precondition.identifier_mismatch`; `precondition.org_not_active`;
    /// `conflict.duplicate_membership`.
    fn accept_invitation(
        &self,
        input: AcceptInvitation,
    ) -> impl Future<Output = Result<AcceptInvitationResult>> + Send;

    /// Declines a pending invitation, optionally recording who declined.
    ///
    /// # Errors
    ///
    /// `not_found` (invitation, user); `conflict.invitation_not_pending`.
    fn decline_invitation(
        &self,
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
    ) -> impl Future<Output = Result<Invitation>> + Send;

    /// Revokes a pending invitation on behalf of an admin. The store does not check that the
    /// user administers the org; callers must.
    ///
    /// # Errors
    ///
    /// `not_found` (invitation, user); `conflict.invitation_not_pending`.
    fn revoke_invitation(
        &self,
        inv_id: InvId,
        admin_usr_id: UsrId,
    ) -> impl Future<Output = Result<Invitation>> + Send;

    /// Every tuple of a subject, across all orgs and objects, in id order.
    ///
    /// # Errors
    ///
    /// Storage errors only.
    fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> impl Future<Output = Result<Vec<Tuple>>> + Send;

    /// Every tuple on an object, optionally only one relation, in id order.
    ///
    /// # Errors
    ///
    /// Storage errors only.
    fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> impl Future<Output = Result<Vec<Tuple>>> + Send;
}
