//! `InMemoryTenancyStore`: every operation as one critical section over [`State`].
//!
//! Each write gathers its facts, asks `flametrench_tenancy_core::backend::decide` for the plan, and only
//! then writes it, so a rejected call changes nothing.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::backend::Snapshot;
use flametrench_tenancy_core::backend::decide::{
    self, AcceptFacts, AddMemberFacts, CreateOrgFacts, EndInvitationFacts, InvitationEnd,
    InviteFacts, MembershipFacts, MembershipWrite, Plan, TransferFacts,
};
use flametrench_tenancy_core::backend::rules::{self, OrgTransition};
use flametrench_tenancy_core::{
    AcceptInvitation, AcceptInvitationResult, AddMember, AdminRemove, ChangeRole, CreateInvitation,
    CreateOrg, CreateOrgResult, DeclineInvitation, Entity, EntityType, Invitation, ListInvitations,
    ListMembers, ListMembershipsForUser, ListOrgs, ListTuplesByObject, ListTuplesBySubject,
    MemberAction, Membership, Op, OrgAccess, OrgAction, OrgStatus, Organization, Page, Relation,
    Result, RevokeInvitation, Role, SelfLeave, SharedClock, TenancyError, TenancyStore,
    TransferOwnership, TransferOwnershipResult, Tuple, UpdateOrg, system_clock,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::state::State;

/// The in-memory tenancy store. `Clone` shares the same state (and clock).
#[derive(Debug, Clone)]
pub struct InMemoryTenancyStore {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
    #[cfg(feature = "testing")]
    hook: Option<crate::testing::LockHook>,
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
    state.org(org).ok_or(TenancyError::not_found(Entity::Org))
}

fn membership_of(state: &State, mem: MemId) -> Result<Membership> {
    state
        .membership(mem)
        .ok_or(TenancyError::not_found(Entity::Membership))
}

/// The membership `mem`, when it belongs to `scope` (any org when `None`): one of another org
/// is `not_found`, as an unknown id is.
fn membership_in(state: &State, mem: MemId, scope: Option<OrgId>) -> Result<Membership> {
    membership_of(state, mem).and_then(|membership| {
        if scope.is_none_or(|org| org == membership.org_id) {
            Ok(membership)
        } else {
            Err(TenancyError::not_found(Entity::Membership))
        }
    })
}

/// The invitation `inv`, when it belongs to `scope`, as [`membership_in`].
fn invitation_in(state: &State, inv: InvId, scope: Option<OrgId>) -> Result<&Invitation> {
    state
        .invitation(inv)
        .filter(|invitation| scope.is_none_or(|org| org == invitation.org_id))
        .ok_or(TenancyError::not_found(Entity::Invitation))
}

/// The actor's active role in `org`, for an actor-checked write: `None` when unchecked,
/// `Some(None)` for an actor without an active membership there.
fn actor_role(state: &State, actor: Option<UsrId>, org: OrgId) -> Option<Option<Role>> {
    actor.map(|actor| {
        state
            .active_membership(actor, org)
            .map(|membership| membership.role)
    })
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
            #[cfg(feature = "testing")]
            hook: None,
        }
    }

    /// A consistent copy of every row, for invariant checks and debugging.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot()
    }

    #[cfg(feature = "testing")]
    pub(crate) fn hooked(&self, hook: crate::testing::LockHook) -> Self {
        Self {
            hook: Some(hook),
            ..self.clone()
        }
    }

    #[cfg(feature = "testing")]
    pub(crate) fn hook(&self) -> Option<crate::testing::LockHook> {
        self.hook.clone()
    }

    #[cfg(feature = "testing")]
    pub(crate) fn read<T>(&self, read: impl FnOnce(&State) -> T) -> T {
        read(&self.lock())
    }

    /// The state, for a write: its version moves on, so that a unit of work that began
    /// before commits only if nothing else was written since.
    pub(crate) fn write(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.version += 1;
        state
    }

    /// A store over `state` on `clock`: a unit of work's private state.
    pub(crate) fn over(state: State, clock: SharedClock) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
            clock,
            #[cfg(feature = "testing")]
            hook: None,
        }
    }

    /// The store's clock.
    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Operations validate before writing, so a panic elsewhere cannot leave a half-made
        // change behind; the state stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn transition_org(
        &self,
        op: Op,
        input: OrgAction,
        transition: OrgTransition,
    ) -> Result<Organization> {
        let org_id = input.org_id;
        let stale = self.before_lock(op, input.actor, Some(org_id)).await;
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let status = state.org(org_id).map(|org| org.status);
        let actor = stale.unwrap_or_else(|| actor_role(&state, input.actor, org_id));
        let next = decide::org_transition(status, transition, actor)?;
        if next == OrgStatus::Revoked {
            state.revoke_org_memberships(org_id, now);
            state.remove_tuples_on(&EntityType::org(), org_id.as_uuid());
            state.revoke_pending_invitations(org_id, now);
        }
        state
            .set_org_status(org_id, next, now)
            .ok_or(TenancyError::not_found(Entity::Org))
    }

    fn end_invitation(
        &self,
        (inv_id, scope): (InvId, Option<OrgId>),
        end: InvitationEnd,
        actor: Option<UsrId>,
        identifier: Option<&flametrench_tenancy_core::Identifier>,
    ) -> Result<Invitation> {
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let invitation = invitation_in(&state, inv_id, scope)?;
        let facts = EndInvitationFacts {
            status: invitation.status,
            actor_exists: actor.is_none_or(|actor| state.has_user(actor)),
            actor_role: actor
                .and_then(|actor| state.active_membership(actor, invitation.org_id))
                .map(|membership| membership.role),
            identifier_matches: identifier
                .map(|identifier| identifier.as_str() == invitation.identifier.as_str()),
        };
        decide::end_invitation(&facts, end)?;
        let ended = decide::ended_invitation(invitation, end, actor, now);
        state.insert_invitation(ended.clone());
        Ok(ended)
    }

    /// The facts of a membership write on `mem_id` (of the org `scope`, when given); `named` is
    /// the other user the operation names, whose active membership in the same org is looked
    /// up.
    fn membership_facts(
        state: &State,
        (mem_id, scope): (MemId, Option<OrgId>),
        named: Option<UsrId>,
    ) -> Result<MembershipFacts> {
        let target = membership_in(state, mem_id, scope)?;
        let org = target.org_id;
        Ok(MembershipFacts {
            org_status: org_of(state, org)?.status,
            active_owners: state.active_owners(org),
            other_active: state
                .active_id(target.usr_id, org)
                .is_some_and(|id| id != mem_id),
            named: named.and_then(|usr| state.active_membership(usr, org)),
            target,
        })
    }

    /// Runs a membership write on `target` (a membership, and the org it is scoped to): gathers
    /// its facts under the lock, asks `decide`, applies the plan. `named` is the other user
    /// the operation names (an actor, an admin, a successor).
    async fn membership_write<R>(
        &self,
        op: Op,
        target: (MemId, Option<OrgId>),
        named: Option<UsrId>,
        decide: impl FnOnce(&MembershipFacts, OffsetDateTime) -> Result<Plan<R>>,
    ) -> Result<R> {
        let stale = self.before_lock_on_member(op, named, target.0).await;
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let mut facts = Self::membership_facts(&state, target, named)?;
        if let Some(stale) = stale {
            facts.named = stale;
        }
        let plan = decide(&facts, now)?;
        apply(&mut state, &plan.writes);
        Ok(plan.result)
    }
}

#[cfg(not(feature = "testing"))]
impl InMemoryTenancyStore {
    /// The test hook's place: nothing without the `testing` feature.
    #[allow(clippy::unused_async)]
    async fn before_lock(
        &self,
        _op: Op,
        _actor: Option<UsrId>,
        _org: Option<OrgId>,
    ) -> Option<Option<Option<Role>>> {
        None
    }

    /// The test hook's place: nothing without the `testing` feature.
    #[allow(clippy::unused_async)]
    async fn before_lock_on_member(
        &self,
        _op: Op,
        _named: Option<UsrId>,
        _mem: MemId,
    ) -> Option<Option<Membership>> {
        None
    }
}

/// Writes a plan's rows, in order.
fn apply(state: &mut State, writes: &[MembershipWrite]) {
    for write in writes {
        match write {
            MembershipWrite::Rotate { old, new, at } => state.rotate(old, new, *at),
            MembershipWrite::End(row) | MembershipWrite::Reactivate(row) => {
                state.set_membership_status(row.id, row.status, row.removed_by, row.updated_at);
            }
        }
    }
}

impl TenancyStore for InMemoryTenancyStore {
    /// Opens a unit of work over a copy of the store's state (a copy of every row: O(size)),
    /// committed only if nothing else was written since ([`InMemoryUnit`](crate::InMemoryUnit)).
    async fn begin_unit(&self) -> Result<flametrench_tenancy_core::Unit> {
        Ok(flametrench_tenancy_core::Unit::new(
            crate::unit::InMemoryUnit::begin(self),
        ))
    }

    async fn ensure_user(&self, usr_id: UsrId) -> Result<()> {
        self.write().add_user(usr_id);
        Ok(())
    }

    async fn create_org(&self, input: CreateOrg) -> Result<CreateOrgResult> {
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let facts = CreateOrgFacts {
            creator_exists: state.has_user(input.creator),
            slug_taken: input
                .slug
                .as_ref()
                .is_some_and(|slug| state.slugs.contains_key(slug)),
        };
        let created = decide::create_org(&facts, &input, (OrgId::new(), MemId::new()), now)?;
        let org = &created.org;
        if let Some(slug) = &org.slug {
            state.slugs.insert(slug.clone(), org.id);
        }
        state.insert_org(org.clone());
        state.insert_membership(created.owner_membership.clone(), Some(input.creator));
        Ok(created)
    }

    async fn get_org(&self, org_id: OrgId) -> Result<Organization> {
        org_of(&self.lock(), org_id).cloned()
    }

    async fn update_org(&self, input: UpdateOrg) -> Result<Organization> {
        let stale = self
            .before_lock(Op::UpdateOrg, input.actor, Some(input.org_id))
            .await;
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let status = state.org(input.org_id).map(|org| org.status);
        let actor = stale.unwrap_or_else(|| actor_role(&state, input.actor, input.org_id));
        decide::update_org(status, actor)?;
        let current = org_of(&state, input.org_id)?.clone();
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
        state
            .update_org_fields(input.org_id, input.name.apply(current.name), slug, now)
            .ok_or(TenancyError::not_found(Entity::Org))
    }

    /// Lists orgs in id order. Without a query a page costs O(log n + page), with a status
    /// filter too (an index of orgs by status). A `query` is matched org by org: such a page
    /// reads every org after the cursor (of the status, if one is given) until `limit + 1`
    /// match, every one of them when fewer do.
    async fn list_orgs(&self, input: ListOrgs) -> Result<Page<Organization>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<OrgId>(input.cursor.as_ref())?;
        let rows = self
            .lock()
            .orgs_page(after, input.status, input.query.as_ref(), limit);
        Ok(rules::paginate(rows, limit, |org| org.id))
    }

    async fn suspend_org(&self, input: OrgAction) -> Result<Organization> {
        self.transition_org(Op::SuspendOrg, input, OrgTransition::Suspend)
            .await
    }

    async fn reinstate_org(&self, input: OrgAction) -> Result<Organization> {
        self.transition_org(Op::ReinstateOrg, input, OrgTransition::Reinstate)
            .await
    }

    async fn revoke_org(&self, input: OrgAction) -> Result<Organization> {
        self.transition_org(Op::RevokeOrg, input, OrgTransition::Revoke)
            .await
    }

    async fn add_member(&self, input: AddMember) -> Result<Membership> {
        let checked = input.invited_by.filter(|_| input.checked);
        let stale = self
            .before_lock(Op::AddMember, checked, Some(input.org_id))
            .await;
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let inviter_role = stale
            .unwrap_or_else(|| actor_role(&state, checked, input.org_id))
            .flatten();
        let facts = AddMemberFacts {
            inviter_role,
            org_status: state.org(input.org_id).map(|org| org.status),
            user_exists: state.has_user(input.usr_id),
            inviter_exists: input.invited_by.is_none_or(|usr| state.has_user(usr)),
            already_member: state.active_id(input.usr_id, input.org_id).is_some(),
        };
        let membership = decide::add_member(&facts, &input, MemId::new(), now)?;
        state.insert_membership(membership.clone(), input.invited_by);
        Ok(membership)
    }

    async fn get_membership(&self, mem_id: MemId, org_id: Option<OrgId>) -> Result<Membership> {
        membership_in(&self.lock(), mem_id, org_id)
    }

    /// Lists an org's memberships in id order: O(log n + page) with or without a status or
    /// role filter (one index of the org's rows by status and role; a status alone merges its
    /// 6 role ranges, a role alone its 3 status ranges, no filter all 18, each only if the org
    /// has ever had a row there).
    async fn list_members(&self, input: ListMembers) -> Result<Page<Membership>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<MemId>(input.cursor.as_ref())?;
        let state = self.lock();
        org_of(&state, input.org_id)?;
        let rows = state.org_memberships(input.org_id, after, input.status, input.role, limit);
        Ok(rules::paginate(rows, limit, |row| row.id))
    }

    /// Lists a user's memberships in id order. A user with at most 16 memberships (ended ones
    /// included) is read whole and sorted; beyond, a page is a range of an index of the
    /// user's rows, O(log n + page). A `status` filter is applied row by row, as a user's
    /// memberships are few: a page reads at most the user's memberships after the cursor
    /// (O(log n + the user's memberships)), and stops once `limit + 1` match.
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

    async fn change_role(&self, input: ChangeRole) -> Result<Membership> {
        let target = (input.mem_id, input.org_id);
        self.membership_write(Op::ChangeRole, target, input.actor, |facts, now| {
            decide::change_role(facts, &input, MemId::new(), now)
        })
        .await
    }

    async fn suspend_membership(&self, input: MemberAction) -> Result<Membership> {
        let target = (input.mem_id, input.org_id);
        self.membership_write(Op::SuspendMembership, target, input.actor, |facts, now| {
            decide::suspend_membership(facts, &input, now)
        })
        .await
    }

    async fn reinstate_membership(&self, input: MemberAction) -> Result<Membership> {
        let target = (input.mem_id, input.org_id);
        self.membership_write(
            Op::ReinstateMembership,
            target,
            input.actor,
            |facts, now| decide::reinstate_membership(facts, &input, now),
        )
        .await
    }

    async fn self_leave(&self, input: SelfLeave) -> Result<Membership> {
        let target = (input.mem_id, input.org_id);
        self.membership_write(Op::SelfLeave, target, input.transfer_to, |facts, now| {
            decide::self_leave(facts, &input, MemId::new(), now)
        })
        .await
    }

    async fn admin_remove(&self, input: AdminRemove) -> Result<Membership> {
        let target = (input.mem_id, input.org_id);
        let admin = input.admin_usr_id;
        self.membership_write(Op::AdminRemove, target, Some(admin), |facts, now| {
            decide::admin_remove(facts, admin, now)
        })
        .await
    }

    async fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> Result<TransferOwnershipResult> {
        let stale = self
            .before_lock(Op::TransferOwnership, input.actor, Some(input.org_id))
            .await;
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let facts = TransferFacts {
            org_status: state.org(input.org_id).map(|org| org.status),
            actor_role: stale
                .unwrap_or_else(|| actor_role(&state, input.actor, input.org_id))
                .flatten(),
            from: state.membership(input.from_mem_id),
            to: state.membership(input.to_mem_id),
        };
        let plan = decide::transfer_ownership(&facts, &input, (MemId::new(), MemId::new()), now)?;
        apply(&mut state, &plan.writes);
        Ok(plan.result)
    }

    async fn create_invitation(&self, mut input: CreateInvitation) -> Result<Invitation> {
        // `expires_at` is a public field: a value set on it directly is normalized here too.
        input.expires_at = flametrench_tenancy_core::normalize_timestamp(input.expires_at)?;
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let facts = InviteFacts {
            org_status: state.org(input.org_id).map(|org| org.status),
            inviter_exists: state.has_user(input.invited_by),
            inviter_role: state
                .active_membership(input.invited_by, input.org_id)
                .map(|membership| membership.role),
        };
        let invitation = decide::create_invitation(&facts, &input, InvId::new(), now)?;
        state.insert_invitation(invitation.clone());
        Ok(invitation)
    }

    async fn get_invitation(&self, inv_id: InvId, org_id: Option<OrgId>) -> Result<Invitation> {
        invitation_in(&self.lock(), inv_id, org_id).cloned()
    }

    /// Lists an org's invitations in id order: O(log n + page) with or without a status filter
    /// (an index of the org's invitations by status).
    async fn list_invitations(&self, input: ListInvitations) -> Result<Page<Invitation>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<InvId>(input.cursor.as_ref())?;
        let state = self.lock();
        org_of(&state, input.org_id)?;
        let rows = state.invitations_page(input.org_id, after, input.status, limit);
        Ok(rules::paginate(rows, limit, |row| row.id))
    }

    async fn accept_invitation(&self, input: AcceptInvitation) -> Result<AcceptInvitationResult> {
        let mut state = self.write();
        // Read under the lock, so rows are stamped in the order they are written.
        let now = self.clock.now();
        let invitation = invitation_in(&state, input.inv_id, input.org_id)?;
        let org = invitation.org_id;
        let facts = AcceptFacts {
            org_status: org_of(&state, org)?.status,
            user_exists: input.as_usr_id.is_none_or(|usr| state.has_user(usr)),
            already_member: input
                .as_usr_id
                .is_some_and(|usr| state.active_id(usr, org).is_some()),
            invitation: invitation.clone(),
        };
        let plan = decide::accept_invitation(
            &facts,
            &input,
            (UsrId::new(), MemId::new()),
            TupId::new,
            now,
        )?;
        state.add_user(plan.subject);
        state.insert_membership(plan.membership.clone(), Some(facts.invitation.invited_by));
        let materialized_tuples = plan
            .tuples
            .into_iter()
            .filter(|tuple| state.insert_tuple(tuple.clone()))
            .collect();
        state.insert_invitation(plan.invitation.clone());
        Ok(AcceptInvitationResult {
            invitation: plan.invitation,
            membership: plan.membership,
            materialized_tuples,
        })
    }

    async fn decline_invitation(&self, input: DeclineInvitation) -> Result<Invitation> {
        let end = if input.is_checked() {
            InvitationEnd::CheckedDecline {
                by_actor: input.by_actor,
            }
        } else {
            InvitationEnd::Decline
        };
        self.end_invitation(
            (input.inv_id, input.org_id),
            end,
            input.as_usr_id,
            input.identifier.as_ref(),
        )
    }

    async fn revoke_invitation(&self, input: RevokeInvitation) -> Result<Invitation> {
        self.end_invitation(
            (input.inv_id, input.org_id),
            InvitationEnd::Revoke,
            Some(input.admin_usr_id),
            None,
        )
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

    async fn org_access(&self, org_id: OrgId, usr_id: UsrId) -> Result<OrgAccess> {
        let state = self.lock();
        Ok(OrgAccess {
            org_status: state.org(org_id).map(|org| org.status),
            membership: state.active_membership(usr_id, org_id),
        })
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

    /// One page of a subject's tuples: two index ranges merged (the explicit tuples and a
    /// user's membership tuples; a user with at most 16 memberships has its memberships read
    /// whole instead), O(log n + page).
    async fn list_tuples_by_subject(&self, input: ListTuplesBySubject) -> Result<Page<Tuple>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<TupId>(input.cursor.as_ref())?;
        let rows = self.lock().tuples_page_for_subject(
            &input.subject_type,
            input.subject_id,
            after,
            limit,
        );
        Ok(rules::paginate(rows, limit, |tuple| tuple.id))
    }

    /// One page of the tuples on an object: at most 7 index ranges merged (the explicit
    /// tuples, and an org's membership tuples by role), O(log n + page); with a relation,
    /// only that relation's ranges are read.
    async fn list_tuples_by_object(&self, input: ListTuplesByObject) -> Result<Page<Tuple>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<TupId>(input.cursor.as_ref())?;
        let rows = self.lock().tuples_page_for_object(
            &input.object_type,
            input.object_id,
            input.relation.as_ref(),
            after,
            limit,
        );
        Ok(rules::paginate(rows, limit, |tuple| tuple.id))
    }
}

impl From<InMemoryTenancyStore> for flametrench_tenancy_core::Tenancy<'static> {
    fn from(store: InMemoryTenancyStore) -> Self {
        Self::new(store)
    }
}
