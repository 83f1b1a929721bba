//! `InMemoryTenancyStore`: every operation as one critical section over [`State`].
//!
//! Each operation checks everything first (through the shared rules) and only then writes, so a
//! rejected call changes nothing.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::rules::{self, LeavePlan, OrgTransition};
use flametrench_tenancy_core::{
    AcceptInvitation, AcceptInvitationResult, AddMember, CreateInvitation, CreateOrg,
    CreateOrgResult, Entity, EntityType, Invitation, InvitationStatus, ListInvitations,
    ListMembers, ListMembershipsForUser, ListOrgs, Membership, MembershipStatus, OrgStatus,
    Organization, Page, Relation, Result, Role, SharedClock, Snapshot, TenancyError, TenancyStore,
    TransferOwnership, TransferOwnershipResult, Tuple, UpdateOrg, system_clock,
};
use uuid::Uuid;

use crate::state::State;

/// The in-memory tenancy store. `Clone` shares the same state (and clock).
#[derive(Debug, Clone)]
pub struct InMemoryTenancyStore {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
}

impl Default for InMemoryTenancyStore {
    fn default() -> Self {
        Self::new()
    }
}

fn user_known(state: &State, usr: UsrId) -> Result<()> {
    if state.has_user(usr) {
        Ok(())
    } else {
        Err(TenancyError::not_found(Entity::User))
    }
}

fn org_of(state: &State, org: OrgId) -> Result<&Organization> {
    state
        .orgs
        .get(&org)
        .ok_or(TenancyError::not_found(Entity::Org))
}

fn membership_of(state: &State, mem: MemId) -> Result<Membership> {
    state
        .membership(mem)
        .ok_or(TenancyError::not_found(Entity::Membership))
}

impl InMemoryTenancyStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// An empty store taking every timestamp from `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            clock,
        }
    }

    /// A consistent copy of every row, for invariant checks and debugging.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Operations validate before writing, so a panic elsewhere cannot leave a half-made
        // change behind; the state stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn transition_org(&self, org_id: OrgId, transition: OrgTransition) -> Result<Organization> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let status = org_of(&state, org_id)?.status;
        let next = rules::org_transition(status, transition)?;
        if next == OrgStatus::Revoked {
            state.revoke_org_memberships(org_id, now);
            state.remove_tuples_on(&EntityType::org(), org_id.as_uuid());
            let invitations: Vec<InvId> = state
                .org_invitations
                .range((org_id, InvId::MIN)..)
                .take_while(|(org, _)| *org == org_id)
                .map(|(_, inv)| *inv)
                .collect();
            for inv in invitations {
                if let Some(invitation) = state.invitations.get_mut(&inv) {
                    if invitation.status == InvitationStatus::Pending {
                        invitation.status = InvitationStatus::Revoked;
                        invitation.terminal_at = Some(now);
                        invitation.terminal_by = None;
                    }
                }
            }
        }
        let org = state
            .orgs
            .get_mut(&org_id)
            .ok_or(TenancyError::not_found(Entity::Org))?;
        org.status = next;
        org.updated_at = now;
        Ok(org.clone())
    }

    fn end_invitation(
        &self,
        inv_id: InvId,
        status: InvitationStatus,
        actor: Option<UsrId>,
    ) -> Result<Invitation> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let invitation = state
            .invitations
            .get(&inv_id)
            .ok_or(TenancyError::not_found(Entity::Invitation))?;
        if let Some(actor) = actor {
            user_known(&state, actor)?;
        }
        if status == InvitationStatus::Revoked {
            // Revoking is an admin's act on the org.
            let actor_role = actor
                .and_then(|actor| state.active_membership(actor, invitation.org_id))
                .map(|membership| membership.role);
            rules::check_revoke_invitation(invitation.status, actor_role)?;
        } else {
            rules::require_pending(invitation)?;
        }
        let invitation = state
            .invitations
            .get_mut(&inv_id)
            .ok_or(TenancyError::not_found(Entity::Invitation))?;
        invitation.status = status;
        invitation.terminal_at = Some(now);
        invitation.terminal_by = actor;
        Ok(invitation.clone())
    }
}

impl TenancyStore for InMemoryTenancyStore {
    async fn ensure_user(&self, usr_id: UsrId) -> Result<()> {
        self.lock().add_user(usr_id);
        Ok(())
    }

    async fn create_org(&self, input: CreateOrg) -> Result<CreateOrgResult> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        user_known(&state, input.creator)?;
        if let Some(slug) = &input.slug {
            if state.slugs.contains_key(slug) {
                return Err(TenancyError::OrgSlugConflict);
            }
        }
        let org = Organization {
            id: OrgId::new(),
            name: input.name,
            slug: input.slug,
            status: OrgStatus::Active,
            created_at: now,
            updated_at: now,
        };
        let owner = Membership::joined(MemId::new(), input.creator, org.id, Role::Owner, None, now);
        if let Some(slug) = &org.slug {
            state.slugs.insert(slug.clone(), org.id);
        }
        state.orgs.insert(org.id, org.clone());
        state.insert_membership(owner.clone(), Some(input.creator));
        Ok(CreateOrgResult {
            org,
            owner_membership: owner,
        })
    }

    async fn get_org(&self, org_id: OrgId) -> Result<Organization> {
        org_of(&self.lock(), org_id).cloned()
    }

    async fn update_org(&self, input: UpdateOrg) -> Result<Organization> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let current = org_of(&state, input.org_id)?.clone();
        rules::check_update_org(current.status)?;
        let slug = input.slug.apply(current.slug.clone());
        if let Some(slug) = &slug {
            if state
                .slugs
                .get(slug)
                .is_some_and(|holder| *holder != input.org_id)
            {
                return Err(TenancyError::OrgSlugConflict);
            }
        }
        if let Some(old) = &current.slug {
            state.slugs.remove(old);
        }
        if let Some(new) = &slug {
            state.slugs.insert(new.clone(), input.org_id);
        }
        let org = state
            .orgs
            .get_mut(&input.org_id)
            .ok_or(TenancyError::not_found(Entity::Org))?;
        org.name = input.name.apply(current.name);
        org.slug = slug;
        org.updated_at = now;
        Ok(org.clone())
    }

    async fn list_orgs(&self, input: ListOrgs) -> Result<Page<Organization>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<OrgId>(input.cursor.as_ref())?;
        let state = self.lock();
        let range = match after {
            Some(after) => state
                .orgs
                .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => state.orgs.range(..),
        };
        let rows: Vec<Organization> = range
            .map(|(_, org)| org)
            .filter(|org| input.status.is_none_or(|status| org.status == status))
            .filter(|org| match &input.query {
                None => true,
                Some(query) => {
                    org.name
                        .as_ref()
                        .is_some_and(|name| query.matches(name.as_str()))
                        || org
                            .slug
                            .as_ref()
                            .is_some_and(|slug| query.matches(slug.as_str()))
                }
            })
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(rules::paginate(rows, limit, |org| org.id))
    }

    async fn suspend_org(&self, org_id: OrgId) -> Result<Organization> {
        self.transition_org(org_id, OrgTransition::Suspend)
    }

    async fn reinstate_org(&self, org_id: OrgId) -> Result<Organization> {
        self.transition_org(org_id, OrgTransition::Reinstate)
    }

    async fn revoke_org(&self, org_id: OrgId) -> Result<Organization> {
        self.transition_org(org_id, OrgTransition::Revoke)
    }

    async fn add_member(&self, input: AddMember) -> Result<Membership> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let status = org_of(&state, input.org_id)?.status;
        user_known(&state, input.usr_id)?;
        if let Some(inviter) = input.invited_by {
            user_known(&state, inviter)?;
        }
        rules::require_org_active(status)?;
        if state.active_id(input.usr_id, input.org_id).is_some() {
            return Err(TenancyError::DuplicateMembership);
        }
        let membership = Membership::joined(
            MemId::new(),
            input.usr_id,
            input.org_id,
            input.role,
            input.invited_by,
            now,
        );
        state.insert_membership(membership.clone(), input.invited_by);
        Ok(membership)
    }

    async fn get_membership(&self, mem_id: MemId) -> Result<Membership> {
        membership_of(&self.lock(), mem_id)
    }

    async fn list_members(&self, input: ListMembers) -> Result<Page<Membership>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<MemId>(input.cursor.as_ref())?;
        let state = self.lock();
        org_of(&state, input.org_id)?;
        let rows = state.org_memberships(input.org_id, after, input.status, input.role, limit);
        Ok(rules::paginate(rows, limit, |row| row.id))
    }

    async fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> Result<Page<Membership>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<MemId>(input.cursor.as_ref())?;
        let state = self.lock();
        user_known(&state, input.usr_id)?;
        let rows = state.user_memberships(input.usr_id, after, input.status, limit);
        Ok(rules::paginate(rows, limit, |row| row.id))
    }

    async fn change_role(&self, mem_id: MemId, new_role: Role) -> Result<Membership> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let membership = membership_of(&state, mem_id)?;
        let owners = state.active_owners(membership.org_id);
        rules::check_change_role(&membership, new_role, owners)?;
        Ok(state.rotate(&membership, new_role, now))
    }

    async fn suspend_membership(&self, mem_id: MemId) -> Result<Membership> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let membership = membership_of(&state, mem_id)?;
        rules::check_suspend_membership(&membership, state.active_owners(membership.org_id))?;
        state
            .set_membership_status(mem_id, MembershipStatus::Suspended, None, now)
            .ok_or(TenancyError::not_found(Entity::Membership))
    }

    async fn reinstate_membership(&self, mem_id: MemId) -> Result<Membership> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let membership = membership_of(&state, mem_id)?;
        let org_status = org_of(&state, membership.org_id)?.status;
        let other_active = state
            .active_id(membership.usr_id, membership.org_id)
            .is_some_and(|id| id != mem_id);
        rules::check_reinstate_membership(&membership, org_status, other_active)?;
        state
            .set_membership_status(mem_id, MembershipStatus::Active, None, now)
            .ok_or(TenancyError::not_found(Entity::Membership))
    }

    async fn self_leave(&self, mem_id: MemId, transfer_to: Option<UsrId>) -> Result<Membership> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let leaver = membership_of(&state, mem_id)?;
        let successor = transfer_to.and_then(|usr| state.active_membership(usr, leaver.org_id));
        let plan = rules::plan_self_leave(
            &leaver,
            transfer_to,
            state.active_owners(leaver.org_id),
            successor.as_ref(),
        )?;
        if let LeavePlan::PromoteThenLeave(heir) = plan {
            state.rotate(&heir, Role::Owner, now);
        }
        state
            .set_membership_status(mem_id, MembershipStatus::Revoked, None, now)
            .ok_or(TenancyError::not_found(Entity::Membership))
    }

    async fn admin_remove(&self, mem_id: MemId, admin_usr_id: UsrId) -> Result<Membership> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let target = membership_of(&state, mem_id)?;
        let actor = state.active_membership(admin_usr_id, target.org_id);
        rules::check_admin_remove(&target, actor.as_ref())?;
        state
            .set_membership_status(mem_id, MembershipStatus::Revoked, Some(admin_usr_id), now)
            .ok_or(TenancyError::not_found(Entity::Membership))
    }

    async fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> Result<TransferOwnershipResult> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        org_of(&state, input.org_id)?;
        let from = membership_of(&state, input.from_mem_id)?;
        let to = membership_of(&state, input.to_mem_id)?;
        rules::check_transfer(input.org_id, &from, &to)?;
        let to_membership = state.rotate(&to, Role::Owner, now);
        let from_membership = state.rotate(&from, Role::Member, now);
        Ok(TransferOwnershipResult {
            from_membership,
            to_membership,
        })
    }

    async fn create_invitation(&self, mut input: CreateInvitation) -> Result<Invitation> {
        // `expires_at` is a public field: a value set on it directly is normalized here too.
        input.expires_at = flametrench_tenancy_core::normalize_timestamp(input.expires_at)?;
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let status = org_of(&state, input.org_id)?.status;
        user_known(&state, input.invited_by)?;
        rules::check_create_invitation(status, input.expires_at, now)?;
        let inviter_role = state
            .active_membership(input.invited_by, input.org_id)
            .map(|membership| membership.role);
        rules::check_inviter(inviter_role, input.role)?;
        let invitation = Invitation {
            id: InvId::new(),
            org_id: input.org_id,
            identifier: input.identifier,
            role: input.role,
            status: InvitationStatus::Pending,
            pre_tuples: input.pre_tuples,
            invited_by: input.invited_by,
            invited_user_id: None,
            created_at: now,
            expires_at: input.expires_at,
            terminal_at: None,
            terminal_by: None,
        };
        state
            .org_invitations
            .insert((invitation.org_id, invitation.id));
        state.invitations.insert(invitation.id, invitation.clone());
        Ok(invitation)
    }

    async fn get_invitation(&self, inv_id: InvId) -> Result<Invitation> {
        self.lock()
            .invitations
            .get(&inv_id)
            .cloned()
            .ok_or(TenancyError::not_found(Entity::Invitation))
    }

    async fn list_invitations(&self, input: ListInvitations) -> Result<Page<Invitation>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<InvId>(input.cursor.as_ref())?;
        let state = self.lock();
        org_of(&state, input.org_id)?;
        let org = input.org_id;
        let rows: Vec<Invitation> = state
            .org_invitations
            .range((org, after.unwrap_or(InvId::MIN))..)
            .take_while(|(owner, _)| *owner == org)
            .filter(|(_, inv)| Some(*inv) != after)
            .filter_map(|(_, inv)| state.invitations.get(inv))
            .filter(|inv| input.status.is_none_or(|status| inv.status == status))
            .take(limit + 1)
            .cloned()
            .collect();
        Ok(rules::paginate(rows, limit, |row| row.id))
    }

    async fn accept_invitation(&self, input: AcceptInvitation) -> Result<AcceptInvitationResult> {
        let mut state = self.lock();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let invitation = state
            .invitations
            .get(&input.inv_id)
            .ok_or(TenancyError::not_found(Entity::Invitation))?;
        if let Some(usr) = input.as_usr_id {
            user_known(&state, usr)?;
        }
        rules::check_accept(
            invitation,
            now,
            input.as_usr_id,
            input.accepting_identifier.as_ref(),
        )?;
        rules::require_org_active(org_of(&state, invitation.org_id)?.status)?;
        if let Some(usr) = input.as_usr_id {
            if state.active_id(usr, invitation.org_id).is_some() {
                return Err(TenancyError::DuplicateMembership);
            }
        }
        // Every check passed: write. The invitation is read in place rather than cloned; the
        // tuples are built from its pre-tuples now, while it is borrowed, and get their ids
        // below, after the membership's, so ids are drawn in the same order as ever.
        let (org_id, role, invited_by) =
            (invitation.org_id, invitation.role, invitation.invited_by);
        let subject = input.as_usr_id.unwrap_or_else(UsrId::new);
        let tuples: Vec<Tuple> = invitation
            .pre_tuples
            .iter()
            .map(|pre| Tuple {
                id: TupId::MIN,
                subject_type: EntityType::usr(),
                subject_id: subject.as_uuid(),
                relation: pre.relation.clone(),
                object_type: pre.object_type.clone(),
                object_id: pre.object_id,
                created_at: now,
                created_by: Some(invited_by),
            })
            .collect();
        state.add_user(subject);
        let membership =
            Membership::joined(MemId::new(), subject, org_id, role, Some(invited_by), now);
        state.insert_membership(membership.clone(), Some(invited_by));
        let mut materialized_tuples = Vec::with_capacity(tuples.len());
        for mut tuple in tuples {
            tuple.id = TupId::new();
            if state.insert_tuple(tuple.clone()) {
                materialized_tuples.push(tuple);
            }
        }
        let stored = state
            .invitations
            .get_mut(&input.inv_id)
            .ok_or(TenancyError::not_found(Entity::Invitation))?;
        stored.status = InvitationStatus::Accepted;
        stored.invited_user_id = Some(subject);
        stored.terminal_at = Some(now);
        stored.terminal_by = Some(subject);
        Ok(AcceptInvitationResult {
            invitation: stored.clone(),
            membership,
            materialized_tuples,
        })
    }

    async fn decline_invitation(
        &self,
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
    ) -> Result<Invitation> {
        self.end_invitation(inv_id, InvitationStatus::Declined, as_usr_id)
    }

    async fn revoke_invitation(&self, inv_id: InvId, admin_usr_id: UsrId) -> Result<Invitation> {
        self.end_invitation(inv_id, InvitationStatus::Revoked, Some(admin_usr_id))
    }

    async fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> Result<Vec<Tuple>> {
        Ok(self.lock().tuples_for_subject(&subject_type, subject_id))
    }

    async fn active_membership(&self, org_id: OrgId, usr_id: UsrId) -> Result<Option<Membership>> {
        Ok(self.lock().active_membership(usr_id, org_id))
    }

    async fn check_any(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
        relations: Vec<Relation>,
        object_type: EntityType,
        object_id: Uuid,
    ) -> Result<bool> {
        let relations = rules::check_relations(relations)?;
        let state = self.lock();
        let mut key = (
            subject_type,
            subject_id,
            relations[0].clone(),
            object_type,
            object_id,
        );
        for relation in relations {
            key.2 = relation;
            if state.has_tuple(&key) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> Result<Vec<Tuple>> {
        Ok(self
            .lock()
            .tuples_for_object(&object_type, object_id, relation.as_ref()))
    }
}

impl From<InMemoryTenancyStore> for flametrench_tenancy_core::Tenancy<'static> {
    fn from(store: InMemoryTenancyStore) -> Self {
        Self::new(store)
    }
}
