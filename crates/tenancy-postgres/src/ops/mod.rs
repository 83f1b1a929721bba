//! The [`TenancyStore`] operations, by entity: [`org`], [`membership`], [`invitation`] and
//! [`tuples`].
//!
//! Every write with a pool is one round trip, on success and on a precondition failure:
//! `BEGIN`, the org lock, the reads of the facts its decision depends on, its guarded
//! statement and `COMMIT`, pipelined in one flight (single-statement writes run in autocommit,
//! and are their own flight). A guarded statement writes only when its guard, the SQL form of
//! the conditions of its `flametrench_tenancy_core::backend::decide` function, holds. The store
//! then calls that function on the facts the guard saw (returned by the guarded statement, read
//! in the same flight, or, for a row it wrote, the state its predicate required) and holds the
//! outcome to it, success and refusal alike: `settle` for the writes whose function plans the
//! result, `settle_row` for those whose statement returns the row it wrote. Should the two
//! ever disagree the call fails with `storage.retryable_conflict`, never a success. Every read
//! is one flight too.
//! Inside a caller's transaction the flight is wrapped in `SAVEPOINT` … `RELEASE` instead; a
//! failure that aborted the savepoint costs one more trip to roll it back.

mod invitation;
mod membership;
mod org;
mod tuples;

use flametrench_ids::{InvId, MemId, OrgId, UsrId};

use flametrench_tenancy_core::backend::decide::InvitationEnd;
use flametrench_tenancy_core::backend::rules::OrgTransition;
use flametrench_tenancy_core::{
    AcceptInvitation, AcceptInvitationResult, AddMember, AdminRemove, ChangeRole, ConflictKind,
    CreateInvitation, CreateOrg, CreateOrgResult, DeclineInvitation, Entity, EntityType,
    Invitation, ListInvitations, ListMembers, ListMembershipsForUser, ListOrgs, ListTuplesByObject,
    ListTuplesBySubject, MemberAction, Membership, Op, OrgAccess, OrgAction, OrgStatus,
    Organization, Page, Relation, Result, RetryScope, RevokeInvitation, Role, SelfLeave,
    TenancyError, TenancyStore, TransferOwnership, TransferOwnershipResult, Tuple, UpdateOrg,
};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::corrupt;
use crate::exec::Stmt;
use crate::migrate::Layout;
use crate::run::{Call, run};
use crate::store::PostgresTenancyStore;

/// The rows of a flight's first statement.
fn first(mut flights: Vec<Vec<Row>>) -> Vec<Row> {
    if flights.is_empty() {
        Vec::new()
    } else {
        flights.swap_remove(0)
    }
}

/// A page's rows, or `not_found(owner)` when its owner (`owner_check`) does not exist. On one
/// node both go in one flight. On the distributed layout the page goes alone, since a page with
/// rows proves its owner (every row names it by a foreign key), and the owner is read after an
/// empty page only: a read of one org is then one command to one worker.
async fn page_rows(
    store: &PostgresTenancyStore<'_, '_>,
    op: Op,
    id: impl std::fmt::Display + Copy,
    (owner_check, owner): (Stmt<'_>, Entity),
    page: Stmt<'_>,
) -> Result<Vec<Row>> {
    let missing = || TenancyError::not_found(owner);
    if store.sql.layout != Layout::Distributed {
        let stmts = [owner_check, page];
        return run(store, Call::read(op), id, &stmts, |mut flights| {
            if rows_at(&flights, 0).is_empty() {
                return Err(missing());
            }
            Ok(flights.swap_remove(1))
        })
        .await;
    }
    let stmts = [page];
    let rows = run(store, Call::read(op), id, &stmts, |mut flights| {
        Ok(flights.swap_remove(0))
    })
    .await?;
    if !rows.is_empty() {
        return Ok(rows);
    }
    let stmts = [owner_check];
    run(store, Call::read(op), id, &stmts, |flights| {
        if rows_at(&flights, 0).is_empty() {
            Err(missing())
        } else {
            Ok(Vec::new())
        }
    })
    .await
}

/// The rows of statement `at` of a flight.
fn rows_at(flights: &[Vec<Row>], at: usize) -> &[Row] {
    flights.get(at).map(Vec::as_slice).unwrap_or_default()
}

/// Reads the org status a lock or status statement returned: `None` when the org (or the row
/// leading to it) does not exist.
fn org_status_of(rows: &[Row]) -> Result<Option<OrgStatus>> {
    rows.first()
        .map(|row| {
            let status: &str = crate::rows::named(row, "status")?;
            status.parse().map_err(|_| corrupt("an org status"))
        })
        .transpose()
}

/// The error when a statement's guard and the rule, asked about what the same flight read,
/// disagree: the call is retried (with a pool) or left to the caller, and never reported as a
/// success.
fn guard_disagreed(op: Op) -> TenancyError {
    TenancyError::RetryableConflict {
        kind: ConflictKind::SerializationFailure,
        scope: RetryScope::Call,
        source: Box::new(std::io::Error::other(format!(
            "{op}: the statement's guard and the rule disagree"
        ))),
    }
}

/// The role's name as a `'static` reference that statements can bind.
fn role_text(role: Role) -> &'static &'static str {
    match role {
        Role::Owner => &"owner",
        Role::Admin => &"admin",
        Role::Member => &"member",
        Role::Guest => &"guest",
        Role::Viewer => &"viewer",
        Role::Editor => &"editor",
    }
}

/// The role of the active membership an `active_membership` read returned, if any.
pub(super) fn role_in(rows: &[tokio_postgres::Row]) -> Result<Option<Role>> {
    let role = rows
        .first()
        .map(|row| crate::rows::named::<&str>(row, "role"))
        .transpose()?;
    parse_role(role)
}

/// A row's value of a role column.
fn parse_role(text: Option<&str>) -> Result<Option<Role>> {
    text.map(|role| role.parse::<Role>().map_err(|_| corrupt("a role")))
        .transpose()
}

/// The outcome of a guarded write whose statement returns the row it wrote (`written`, `None`
/// when its guard refused), held to `decided`, the rule's answer on the facts the guard saw:
/// the row when both say it writes, the rule's error when both say it refuses, and a retryable
/// conflict should they disagree (never a success).
fn settle_row<T>(op: Op, decided: Result<()>, written: Option<T>) -> Result<T> {
    match (decided, written) {
        (Ok(()), Some(row)) => Ok(row),
        (Err(error), None) => Err(error),
        _ => Err(guard_disagreed(op)),
    }
}

/// The outcome of a guarded write, held to the decision: `decided` is what the core function
/// says about the facts the same flight read, `written` whether the guard let the write
/// through.
fn settle<T>(op: Op, decided: Result<T>, written: bool) -> Result<T> {
    match (decided, written) {
        (Ok(value), true) => Ok(value),
        (Err(error), false) => Err(error),
        // A guard and its rule disagree: never a success.
        _ => Err(guard_disagreed(op)),
    }
}

/// Which entity an unscoped write names, for [`scope`].
#[derive(Clone, Copy)]
enum Named {
    Membership(MemId),
    Invitation(InvId),
}

/// The org a membership or invitation write runs in: `given` when the call is scoped to one
/// (`in_org`) or on one node; on the distributed layout an unscoped call first reads the org
/// of the row it names (an org's rows are locked only through the org, which Citus needs in
/// the statement), and runs as the call scoped to it. A row that does not exist is `not_found`,
/// the answer every such write gives first.
async fn scope(
    store: &PostgresTenancyStore<'_, '_>,
    op: Op,
    named: Named,
    given: Option<OrgId>,
) -> Result<Option<OrgId>> {
    if given.is_some() || store.sql.layout != Layout::Distributed {
        return Ok(given);
    }
    let (sql, id, entity) = match named {
        Named::Membership(id) => (&store.sql.org_of_mem, id.as_uuid(), Entity::Membership),
        Named::Invitation(id) => (&store.sql.org_of_inv, id.as_uuid(), Entity::Invitation),
    };
    let stmts = [Stmt::new(sql).bind(&id, tokio_postgres::types::Type::UUID)];
    let org = run(store, Call::read(op), id, &stmts, |flights| {
        let rows = first(flights);
        let Some(row) = rows.first() else {
            return Err(TenancyError::not_found(entity));
        };
        let org: Uuid = crate::rows::named(row, "org_id")?;
        OrgId::try_from_uuid(org).map_err(|_| corrupt("an org id"))
    })
    .await?;
    Ok(Some(org))
}

impl TenancyStore for PostgresTenancyStore<'_, '_> {
    /// Over a pool: [`PostgresTenancyStore::begin`] as a [`Unit`](flametrench_tenancy_core::Unit).
    /// Inside a transaction: `storage.not_supported`.
    async fn begin_unit(&self) -> Result<flametrench_tenancy_core::Unit> {
        let Some(pool) = self.pool().filter(|_| !self.is_nested()) else {
            return Err(TenancyError::NotSupported {
                what: "a unit of work on a store that already works inside a transaction",
            });
        };
        let pooled = PostgresTenancyStore::new(pool.clone());
        let pooled = PostgresTenancyStore {
            sql: self.sql.clone(),
            clock: self.clock.clone(),
            prepared: self.prepared,
            resolve_budget: self.resolve_budget,
            ..pooled
        };
        Ok(flametrench_tenancy_core::Unit::new(pooled.begin().await?))
    }

    async fn ensure_user(&self, usr_id: UsrId) -> Result<()> {
        tuples::ensure_user(self, usr_id).await
    }

    async fn create_org(&self, input: CreateOrg) -> Result<CreateOrgResult> {
        org::create(self, input).await
    }

    async fn get_org(&self, org_id: OrgId) -> Result<Organization> {
        org::get(self, org_id).await
    }

    async fn update_org(&self, input: UpdateOrg) -> Result<Organization> {
        org::update(self, input).await
    }

    async fn list_orgs(&self, input: ListOrgs) -> Result<Page<Organization>> {
        org::list(self, input).await
    }

    async fn suspend_org(&self, input: OrgAction) -> Result<Organization> {
        org::transition(self, input, OrgTransition::Suspend).await
    }

    async fn reinstate_org(&self, input: OrgAction) -> Result<Organization> {
        org::transition(self, input, OrgTransition::Reinstate).await
    }

    async fn revoke_org(&self, input: OrgAction) -> Result<Organization> {
        org::revoke(self, input).await
    }

    async fn add_member(&self, input: AddMember) -> Result<Membership> {
        membership::add(self, input).await
    }

    async fn get_membership(&self, mem_id: MemId, org_id: Option<OrgId>) -> Result<Membership> {
        membership::get(self, mem_id, org_id).await
    }

    async fn list_members(&self, input: ListMembers) -> Result<Page<Membership>> {
        membership::list_members(self, input).await
    }

    async fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> Result<Page<Membership>> {
        membership::list_for_user(self, input).await
    }

    async fn change_role(&self, mut input: ChangeRole) -> Result<Membership> {
        let named = Named::Membership(input.mem_id);
        input.org_id = scope(self, Op::ChangeRole, named, input.org_id).await?;
        membership::change_role(self, input).await
    }

    async fn suspend_membership(&self, mut input: MemberAction) -> Result<Membership> {
        let named = Named::Membership(input.mem_id);
        input.org_id = scope(self, Op::SuspendMembership, named, input.org_id).await?;
        membership::suspend(self, input).await
    }

    async fn reinstate_membership(&self, mut input: MemberAction) -> Result<Membership> {
        let named = Named::Membership(input.mem_id);
        input.org_id = scope(self, Op::ReinstateMembership, named, input.org_id).await?;
        membership::reinstate(self, input).await
    }

    async fn self_leave(&self, mut input: SelfLeave) -> Result<Membership> {
        let named = Named::Membership(input.mem_id);
        input.org_id = scope(self, Op::SelfLeave, named, input.org_id).await?;
        membership::self_leave(self, input).await
    }

    async fn admin_remove(&self, mut input: AdminRemove) -> Result<Membership> {
        let named = Named::Membership(input.mem_id);
        input.org_id = scope(self, Op::AdminRemove, named, input.org_id).await?;
        membership::admin_remove(self, input).await
    }

    async fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> Result<TransferOwnershipResult> {
        membership::transfer_ownership(self, input).await
    }

    async fn create_invitation(&self, input: CreateInvitation) -> Result<Invitation> {
        invitation::create(self, input).await
    }

    async fn get_invitation(&self, inv_id: InvId, org_id: Option<OrgId>) -> Result<Invitation> {
        invitation::get(self, inv_id, org_id).await
    }

    async fn list_invitations(&self, input: ListInvitations) -> Result<Page<Invitation>> {
        invitation::list(self, input).await
    }

    async fn accept_invitation(
        &self,
        mut input: AcceptInvitation,
    ) -> Result<AcceptInvitationResult> {
        let named = Named::Invitation(input.inv_id);
        input.org_id = scope(self, Op::AcceptInvitation, named, input.org_id).await?;
        invitation::accept(self, input).await
    }

    async fn decline_invitation(&self, mut input: DeclineInvitation) -> Result<Invitation> {
        let named = Named::Invitation(input.inv_id);
        input.org_id = scope(self, Op::DeclineInvitation, named, input.org_id).await?;
        let end = if input.is_checked() {
            InvitationEnd::CheckedDecline {
                by_actor: input.by_actor,
            }
        } else {
            InvitationEnd::Decline
        };
        let identifier = input.identifier.as_ref();
        let ending = invitation::Ending {
            end,
            inv_id: input.inv_id,
            org_id: input.org_id,
            actor: input.as_usr_id,
            identifier: identifier.map(|identifier| identifier.as_str()),
        };
        invitation::end(self, ending).await
    }

    async fn revoke_invitation(&self, mut input: RevokeInvitation) -> Result<Invitation> {
        let named = Named::Invitation(input.inv_id);
        input.org_id = scope(self, Op::RevokeInvitation, named, input.org_id).await?;
        let ending = invitation::Ending {
            end: InvitationEnd::Revoke,
            inv_id: input.inv_id,
            org_id: input.org_id,
            actor: Some(input.admin_usr_id),
            identifier: None,
        };
        invitation::end(self, ending).await
    }

    async fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> Result<Vec<Tuple>> {
        tuples::for_subject(self, subject_type, subject_id).await
    }

    async fn active_membership(&self, org_id: OrgId, usr_id: UsrId) -> Result<Option<Membership>> {
        membership::active(self, org_id, usr_id).await
    }

    async fn org_access(&self, org_id: OrgId, usr_id: UsrId) -> Result<OrgAccess> {
        membership::access(self, org_id, usr_id).await
    }

    async fn check_any(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
        relations: Vec<Relation>,
        object_type: EntityType,
        object_id: Uuid,
    ) -> Result<bool> {
        tuples::check_any(
            self,
            (subject_type, subject_id),
            relations,
            (object_type, object_id),
        )
        .await
    }

    async fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> Result<Vec<Tuple>> {
        tuples::for_object(self, object_type, object_id, relation).await
    }

    async fn list_tuples_by_subject(&self, input: ListTuplesBySubject) -> Result<Page<Tuple>> {
        tuples::page_for_subject(self, input).await
    }

    async fn list_tuples_by_object(&self, input: ListTuplesByObject) -> Result<Page<Tuple>> {
        tuples::page_for_object(self, input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_returned_only_when_the_rule_and_the_guard_agree_it_writes() {
        let op = Op::SuspendOrg;
        assert_eq!(settle_row(op, Ok(()), Some(7)).ok(), Some(7));
        let refused = settle_row::<u8>(op, Err(TenancyError::InvitationNotPending), None);
        assert_eq!(
            refused.expect_err("refused").code(),
            "conflict.invitation_not_pending"
        );
        // Disagreements are never a success, and never the rule's error alone.
        let wrote_anyway = settle_row(op, Err(TenancyError::InvitationNotPending), Some(7));
        assert_eq!(
            wrote_anyway.expect_err("disagreed").code(),
            "storage.retryable_conflict"
        );
        let refused_anyway = settle_row::<u8>(op, Ok(()), None);
        assert_eq!(
            refused_anyway.expect_err("disagreed").code(),
            "storage.retryable_conflict"
        );
    }
}
