//! An object-safe form of [`TenancyStore`], so an application can hold any store as
//! `Arc<dyn DynTenancyStore>` (one boxed future per call).
//!
//! ```
//! use std::sync::Arc;
//! use flametrench_tenancy_core::{DynTenancyStore, TenancyStore};
//!
//! fn into_state<S: TenancyStore + 'static>(store: S) -> Arc<dyn DynTenancyStore> {
//!     Arc::new(store)
//! }
//! ```
//!
//! `Arc<dyn DynTenancyStore>` implements [`TenancyStore`] again, so generic code accepts it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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
use crate::store::TenancyStore;
use crate::text::{EntityType, Relation};

/// A boxed, sendable future, as the object-safe trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`TenancyStore`] with boxed futures, usable as a trait object. Every method has the meaning
/// and errors of its [`TenancyStore`] namesake. Implemented for every `TenancyStore`.
pub trait DynTenancyStore: Send + Sync {
    /// See [`TenancyStore::ensure_user`].
    fn ensure_user(&self, usr_id: UsrId) -> BoxFuture<'_, Result<()>>;
    /// See [`TenancyStore::create_org`].
    fn create_org(&self, input: CreateOrg) -> BoxFuture<'_, Result<CreateOrgResult>>;
    /// See [`TenancyStore::get_org`].
    fn get_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>>;
    /// See [`TenancyStore::update_org`].
    fn update_org(&self, input: UpdateOrg) -> BoxFuture<'_, Result<Organization>>;
    /// See [`TenancyStore::list_orgs`].
    fn list_orgs(&self, input: ListOrgs) -> BoxFuture<'_, Result<Page<Organization>>>;
    /// See [`TenancyStore::suspend_org`].
    fn suspend_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>>;
    /// See [`TenancyStore::reinstate_org`].
    fn reinstate_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>>;
    /// See [`TenancyStore::revoke_org`].
    fn revoke_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>>;
    /// See [`TenancyStore::add_member`].
    fn add_member(&self, input: AddMember) -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::get_membership`].
    fn get_membership(&self, mem_id: MemId) -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::list_members`].
    fn list_members(&self, input: ListMembers) -> BoxFuture<'_, Result<Page<Membership>>>;
    /// See [`TenancyStore::list_memberships_for_user`].
    fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> BoxFuture<'_, Result<Page<Membership>>>;
    /// See [`TenancyStore::change_role`].
    fn change_role(&self, mem_id: MemId, new_role: Role) -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::suspend_membership`].
    fn suspend_membership(&self, mem_id: MemId) -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::reinstate_membership`].
    fn reinstate_membership(&self, mem_id: MemId) -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::self_leave`].
    fn self_leave(
        &self,
        mem_id: MemId,
        transfer_to: Option<UsrId>,
    ) -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::admin_remove`].
    fn admin_remove(&self, mem_id: MemId, admin_usr_id: UsrId)
    -> BoxFuture<'_, Result<Membership>>;
    /// See [`TenancyStore::transfer_ownership`].
    fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> BoxFuture<'_, Result<TransferOwnershipResult>>;
    /// See [`TenancyStore::create_invitation`].
    fn create_invitation(&self, input: CreateInvitation) -> BoxFuture<'_, Result<Invitation>>;
    /// See [`TenancyStore::get_invitation`].
    fn get_invitation(&self, inv_id: InvId) -> BoxFuture<'_, Result<Invitation>>;
    /// See [`TenancyStore::list_invitations`].
    fn list_invitations(&self, input: ListInvitations) -> BoxFuture<'_, Result<Page<Invitation>>>;
    /// See [`TenancyStore::accept_invitation`].
    fn accept_invitation(
        &self,
        input: AcceptInvitation,
    ) -> BoxFuture<'_, Result<AcceptInvitationResult>>;
    /// See [`TenancyStore::decline_invitation`].
    fn decline_invitation(
        &self,
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
    ) -> BoxFuture<'_, Result<Invitation>>;
    /// See [`TenancyStore::revoke_invitation`].
    fn revoke_invitation(
        &self,
        inv_id: InvId,
        admin_usr_id: UsrId,
    ) -> BoxFuture<'_, Result<Invitation>>;
    /// See [`TenancyStore::list_tuples_for_subject`].
    fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> BoxFuture<'_, Result<Vec<Tuple>>>;
    /// See [`TenancyStore::list_tuples_for_object`].
    fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> BoxFuture<'_, Result<Vec<Tuple>>>;
}

impl<S: TenancyStore> DynTenancyStore for S {
    fn ensure_user(&self, usr_id: UsrId) -> BoxFuture<'_, Result<()>> {
        Box::pin(TenancyStore::ensure_user(self, usr_id))
    }

    fn create_org(&self, input: CreateOrg) -> BoxFuture<'_, Result<CreateOrgResult>> {
        Box::pin(TenancyStore::create_org(self, input))
    }

    fn get_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>> {
        Box::pin(TenancyStore::get_org(self, org_id))
    }

    fn update_org(&self, input: UpdateOrg) -> BoxFuture<'_, Result<Organization>> {
        Box::pin(TenancyStore::update_org(self, input))
    }

    fn list_orgs(&self, input: ListOrgs) -> BoxFuture<'_, Result<Page<Organization>>> {
        Box::pin(TenancyStore::list_orgs(self, input))
    }

    fn suspend_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>> {
        Box::pin(TenancyStore::suspend_org(self, org_id))
    }

    fn reinstate_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>> {
        Box::pin(TenancyStore::reinstate_org(self, org_id))
    }

    fn revoke_org(&self, org_id: OrgId) -> BoxFuture<'_, Result<Organization>> {
        Box::pin(TenancyStore::revoke_org(self, org_id))
    }

    fn add_member(&self, input: AddMember) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::add_member(self, input))
    }

    fn get_membership(&self, mem_id: MemId) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::get_membership(self, mem_id))
    }

    fn list_members(&self, input: ListMembers) -> BoxFuture<'_, Result<Page<Membership>>> {
        Box::pin(TenancyStore::list_members(self, input))
    }

    fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> BoxFuture<'_, Result<Page<Membership>>> {
        Box::pin(TenancyStore::list_memberships_for_user(self, input))
    }

    fn change_role(&self, mem_id: MemId, new_role: Role) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::change_role(self, mem_id, new_role))
    }

    fn suspend_membership(&self, mem_id: MemId) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::suspend_membership(self, mem_id))
    }

    fn reinstate_membership(&self, mem_id: MemId) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::reinstate_membership(self, mem_id))
    }

    fn self_leave(
        &self,
        mem_id: MemId,
        transfer_to: Option<UsrId>,
    ) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::self_leave(self, mem_id, transfer_to))
    }

    fn admin_remove(
        &self,
        mem_id: MemId,
        admin_usr_id: UsrId,
    ) -> BoxFuture<'_, Result<Membership>> {
        Box::pin(TenancyStore::admin_remove(self, mem_id, admin_usr_id))
    }

    fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> BoxFuture<'_, Result<TransferOwnershipResult>> {
        Box::pin(TenancyStore::transfer_ownership(self, input))
    }

    fn create_invitation(&self, input: CreateInvitation) -> BoxFuture<'_, Result<Invitation>> {
        Box::pin(TenancyStore::create_invitation(self, input))
    }

    fn get_invitation(&self, inv_id: InvId) -> BoxFuture<'_, Result<Invitation>> {
        Box::pin(TenancyStore::get_invitation(self, inv_id))
    }

    fn list_invitations(&self, input: ListInvitations) -> BoxFuture<'_, Result<Page<Invitation>>> {
        Box::pin(TenancyStore::list_invitations(self, input))
    }

    fn accept_invitation(
        &self,
        input: AcceptInvitation,
    ) -> BoxFuture<'_, Result<AcceptInvitationResult>> {
        Box::pin(TenancyStore::accept_invitation(self, input))
    }

    fn decline_invitation(
        &self,
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
    ) -> BoxFuture<'_, Result<Invitation>> {
        Box::pin(TenancyStore::decline_invitation(self, inv_id, as_usr_id))
    }

    fn revoke_invitation(
        &self,
        inv_id: InvId,
        admin_usr_id: UsrId,
    ) -> BoxFuture<'_, Result<Invitation>> {
        Box::pin(TenancyStore::revoke_invitation(self, inv_id, admin_usr_id))
    }

    fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> BoxFuture<'_, Result<Vec<Tuple>>> {
        Box::pin(TenancyStore::list_tuples_for_subject(
            self,
            subject_type,
            subject_id,
        ))
    }

    fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> BoxFuture<'_, Result<Vec<Tuple>>> {
        Box::pin(TenancyStore::list_tuples_for_object(
            self,
            object_type,
            object_id,
            relation,
        ))
    }
}

impl TenancyStore for Arc<dyn DynTenancyStore> {
    fn ensure_user(&self, usr_id: UsrId) -> impl Future<Output = Result<()>> + Send {
        DynTenancyStore::ensure_user(&**self, usr_id)
    }

    fn create_org(&self, input: CreateOrg) -> impl Future<Output = Result<CreateOrgResult>> + Send {
        DynTenancyStore::create_org(&**self, input)
    }

    fn get_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send {
        DynTenancyStore::get_org(&**self, org_id)
    }

    fn update_org(&self, input: UpdateOrg) -> impl Future<Output = Result<Organization>> + Send {
        DynTenancyStore::update_org(&**self, input)
    }

    fn list_orgs(
        &self,
        input: ListOrgs,
    ) -> impl Future<Output = Result<Page<Organization>>> + Send {
        DynTenancyStore::list_orgs(&**self, input)
    }

    fn suspend_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send {
        DynTenancyStore::suspend_org(&**self, org_id)
    }

    fn reinstate_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send {
        DynTenancyStore::reinstate_org(&**self, org_id)
    }

    fn revoke_org(&self, org_id: OrgId) -> impl Future<Output = Result<Organization>> + Send {
        DynTenancyStore::revoke_org(&**self, org_id)
    }

    fn add_member(&self, input: AddMember) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::add_member(&**self, input)
    }

    fn get_membership(&self, mem_id: MemId) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::get_membership(&**self, mem_id)
    }

    fn list_members(
        &self,
        input: ListMembers,
    ) -> impl Future<Output = Result<Page<Membership>>> + Send {
        DynTenancyStore::list_members(&**self, input)
    }

    fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> impl Future<Output = Result<Page<Membership>>> + Send {
        DynTenancyStore::list_memberships_for_user(&**self, input)
    }

    fn change_role(
        &self,
        mem_id: MemId,
        new_role: Role,
    ) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::change_role(&**self, mem_id, new_role)
    }

    fn suspend_membership(&self, mem_id: MemId) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::suspend_membership(&**self, mem_id)
    }

    fn reinstate_membership(
        &self,
        mem_id: MemId,
    ) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::reinstate_membership(&**self, mem_id)
    }

    fn self_leave(
        &self,
        mem_id: MemId,
        transfer_to: Option<UsrId>,
    ) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::self_leave(&**self, mem_id, transfer_to)
    }

    fn admin_remove(
        &self,
        mem_id: MemId,
        admin_usr_id: UsrId,
    ) -> impl Future<Output = Result<Membership>> + Send {
        DynTenancyStore::admin_remove(&**self, mem_id, admin_usr_id)
    }

    fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> impl Future<Output = Result<TransferOwnershipResult>> + Send {
        DynTenancyStore::transfer_ownership(&**self, input)
    }

    fn create_invitation(
        &self,
        input: CreateInvitation,
    ) -> impl Future<Output = Result<Invitation>> + Send {
        DynTenancyStore::create_invitation(&**self, input)
    }

    fn get_invitation(&self, inv_id: InvId) -> impl Future<Output = Result<Invitation>> + Send {
        DynTenancyStore::get_invitation(&**self, inv_id)
    }

    fn list_invitations(
        &self,
        input: ListInvitations,
    ) -> impl Future<Output = Result<Page<Invitation>>> + Send {
        DynTenancyStore::list_invitations(&**self, input)
    }

    fn accept_invitation(
        &self,
        input: AcceptInvitation,
    ) -> impl Future<Output = Result<AcceptInvitationResult>> + Send {
        DynTenancyStore::accept_invitation(&**self, input)
    }

    fn decline_invitation(
        &self,
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
    ) -> impl Future<Output = Result<Invitation>> + Send {
        DynTenancyStore::decline_invitation(&**self, inv_id, as_usr_id)
    }

    fn revoke_invitation(
        &self,
        inv_id: InvId,
        admin_usr_id: UsrId,
    ) -> impl Future<Output = Result<Invitation>> + Send {
        DynTenancyStore::revoke_invitation(&**self, inv_id, admin_usr_id)
    }

    fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> impl Future<Output = Result<Vec<Tuple>>> + Send {
        DynTenancyStore::list_tuples_for_subject(&**self, subject_type, subject_id)
    }

    fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> impl Future<Output = Result<Vec<Tuple>>> + Send {
        DynTenancyStore::list_tuples_for_object(&**self, object_type, object_id, relation)
    }
}
