//! Memberships: add, read, list, and the guarded writes (role change, suspension,
//! reinstatement, leaving, removal, ownership transfer).
//!
//! Each guarded write is one flight: the lock of the membership's org, the membership's
//! context (the facts of `decide`), the named user's active membership when the operation
//! names one, and the guarded statement, which returns how many membership rows it wrote.

use flametrench_ids::{MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::backend::decide::{
    self, AddMemberFacts, MembershipFacts, MembershipWrite, Plan, TransferFacts,
};
use flametrench_tenancy_core::backend::rules;
use flametrench_tenancy_core::{
    AddMember, AdminRemove, ChangeRole, Entity, ListMembers, ListMembershipsForUser, MemberAction,
    Membership, MembershipStatus, Op, OrgAccess, OrgStatus, Page, Result, Role, SelfLeave,
    TenancyError, TransferOwnership, TransferOwnershipResult,
};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{
    first, guard_disagreed, org_status_of, page_rows, parse_role, role_in, role_text, rows_at,
    settle,
};
use crate::error::corrupt;
use crate::exec::{Shape, Stmt};
use crate::migrate::Layout;
use crate::rows::{self, named};
use crate::run::{Call, ReadMarks, run};
use crate::store::PostgresTenancyStore;

pub(super) async fn add(
    store: &PostgresTenancyStore<'_, '_>,
    input: AddMember,
) -> Result<Membership> {
    let now = store.clock.now();
    let mem_id = MemId::new();
    let (org, usr, mem, tup) = (
        input.org_id.as_uuid(),
        input.usr_id.as_uuid(),
        mem_id.as_uuid(),
        TupId::new().as_uuid(),
    );
    let invited_by = input.invited_by.map(|id| id.as_uuid());
    let role = role_text(input.role);
    // Checked without an inviter, the guard refuses (no role), as the rule does.
    let checked = input.checked;
    let sql = &store.sql;
    let probe = Stmt::new(&sql.mem_exists).bind(&mem, Type::UUID);
    let found = |rows: &[Row]| Ok((!rows.is_empty()).then_some(None));
    // A duplicate active membership fails on `mem_unique_active`
    // (`conflict.duplicate_membership`); the guard's other refusals are explained here.
    // Checked, the org's lock comes first in a statement of its own, so the inviter's role is
    // read under it (a statement that takes the lock itself reads from a snapshot taken
    // before the lock was granted).
    // On the distributed layout the statement's function takes the lock itself, first, on the
    // org's worker (`sql::LOCKING`).
    let locks_first = checked && !sql.locks_in_functions;
    let mut stmts = Vec::with_capacity(2);
    if locks_first {
        stmts.push(Stmt::new(&sql.lock_org).bind(&org, Type::UUID));
    }
    stmts.push(
        Stmt::new(&sql.add_member)
            .bind(&org, Type::UUID)
            .bind(&usr, Type::UUID)
            .bind(&invited_by, Type::UUID)
            .bind(role, Type::TEXT)
            .bind(&mem, Type::UUID)
            .bind(&tup, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&checked, Type::BOOL),
    );
    let shape = if locks_first {
        Shape::Transaction
    } else {
        Shape::Single
    };
    let facts = run(
        store,
        Call::write(Op::AddMember, shape).probe(probe, &found),
        input.org_id,
        &stmts,
        |flights| {
            let rows = rows_at(&flights, usize::from(locks_first));
            let row = rows.first().ok_or_else(|| corrupt("add_member flags"))?;
            let inviter_role: Option<&str> = named(row, "inviter_role")?;
            let org_status: Option<&str> = named(row, "org_status")?;
            let facts = AddMemberFacts {
                org_status: org_status
                    .map(|status| status.parse().map_err(|_| corrupt("an org status")))
                    .transpose()?,
                user_exists: named(row, "usr_ok")?,
                inviter_exists: named(row, "inviter_ok")?,
                already_member: false,
                inviter_role: parse_role(inviter_role)?,
            };
            let written: i64 = named(row, "written")?;
            Ok(Some((facts, written == 1)))
        },
    )
    .await?;
    // `None`: a lost answer, and the row was found.
    let (facts, written) = facts.unwrap_or((
        AddMemberFacts {
            org_status: Some(OrgStatus::Active),
            user_exists: true,
            inviter_exists: true,
            already_member: false,
            inviter_role: Some(Role::Owner),
        },
        true,
    ));
    settle(
        Op::AddMember,
        decide::add_member(&facts, &input, mem_id, now),
        written,
    )
}

pub(super) async fn get(
    store: &PostgresTenancyStore<'_, '_>,
    mem_id: MemId,
    org_id: Option<OrgId>,
) -> Result<Membership> {
    let mem = mem_id.as_uuid();
    let org = org_id.map(|id| id.as_uuid());
    let sql = &store.sql;
    let stmt = match &org {
        None => Stmt::new(&sql.get_membership).bind(&mem, Type::UUID),
        Some(org) => Stmt::new(&sql.get_membership_in)
            .bind(&mem, Type::UUID)
            .bind(org, Type::UUID),
    };
    let stmts = [stmt];
    run(
        store,
        Call::read(Op::GetMembership),
        mem_id,
        &stmts,
        |flights| {
            let rows = first(flights);
            rows.first()
                .map(rows::membership)
                .unwrap_or(Err(TenancyError::not_found(Entity::Membership)))
        },
    )
    .await
}

pub(super) async fn active(
    store: &PostgresTenancyStore<'_, '_>,
    org_id: OrgId,
    usr_id: UsrId,
) -> Result<Option<Membership>> {
    let (org, usr) = (org_id.as_uuid(), usr_id.as_uuid());
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.active_membership)
        .bind(&org, Type::UUID)
        .bind(&usr, Type::UUID)];
    run(
        store,
        Call::read(Op::ActiveMembership),
        org_id,
        &stmts,
        |flights| {
            let rows = first(flights);
            rows.first().map(rows::membership).transpose()
        },
    )
    .await
}

pub(super) async fn access(
    store: &PostgresTenancyStore<'_, '_>,
    org_id: OrgId,
    usr_id: UsrId,
) -> Result<OrgAccess> {
    let (org, usr) = (org_id.as_uuid(), usr_id.as_uuid());
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.org_access)
        .bind(&org, Type::UUID)
        .bind(&usr, Type::UUID)];
    run(
        store,
        Call::read(Op::OrgAccess),
        org_id,
        &stmts,
        |flights| {
            let rows = first(flights);
            let row = rows.first().ok_or_else(|| corrupt("org_access"))?;
            let org_status: Option<&str> = named(row, "org_status")?;
            let membership = match named::<Option<Uuid>>(row, "id")? {
                Some(_) => Some(rows::membership(row)?),
                None => None,
            };
            Ok(OrgAccess {
                org_status: org_status
                    .map(|status| status.parse().map_err(|_| corrupt("an org status")))
                    .transpose()?,
                membership,
            })
        },
    )
    .await
}

/// One page of memberships of an org or of a user.
struct Listing<'a> {
    op: Op,
    method_sql: &'a str,
    owner: Uuid,
    owner_check: &'a str,
    owner_entity: Entity,
    cursor: Option<&'a flametrench_tenancy_core::Cursor>,
    status: Option<MembershipStatus>,
    role: Option<Role>,
    limit: Option<u32>,
}

async fn list(
    store: &PostgresTenancyStore<'_, '_>,
    listing: Listing<'_>,
) -> Result<Page<Membership>> {
    let limit = rules::page_limit(listing.limit);
    let after =
        rules::cursor_position::<MemId>(listing.cursor)?.map_or(Uuid::nil(), |id| id.as_uuid());
    let status = listing.status.map(MembershipStatus::as_str);
    let role = listing.role.map(role_text);
    let fetch = (limit + 1) as i64;
    let owner = listing.owner;
    let found = page_rows(
        store,
        listing.op,
        owner,
        (
            Stmt::new(listing.owner_check).bind(&owner, Type::UUID),
            listing.owner_entity,
        ),
        Stmt::new(listing.method_sql)
            .bind(&owner, Type::UUID)
            .bind(&after, Type::UUID)
            .bind(&status, Type::TEXT)
            .bind(&fetch, Type::INT8)
            .bind(&role, Type::TEXT),
    )
    .await?;
    let rows = found
        .iter()
        .map(rows::membership)
        .collect::<Result<Vec<_>>>()?;
    Ok(rules::paginate(rows, limit, |row| row.id))
}

pub(super) async fn list_members(
    store: &PostgresTenancyStore<'_, '_>,
    input: ListMembers,
) -> Result<Page<Membership>> {
    let sql = &store.sql;
    list(
        store,
        Listing {
            op: Op::ListMembers,
            method_sql: match (input.status, input.role) {
                (None, None) => &sql.list_members,
                (Some(_), None) => &sql.list_members_by_status,
                (None, Some(_)) => &sql.list_members_by_role,
                (Some(_), Some(_)) => &sql.list_members_by_status_role,
            },
            owner: input.org_id.as_uuid(),
            owner_check: &sql.org_exists,
            owner_entity: Entity::Org,
            cursor: input.cursor.as_ref(),
            status: input.status,
            role: input.role,
            limit: input.limit,
        },
    )
    .await
}

pub(super) async fn list_for_user(
    store: &PostgresTenancyStore<'_, '_>,
    input: ListMembershipsForUser,
) -> Result<Page<Membership>> {
    let sql = &store.sql;
    list(
        store,
        Listing {
            op: Op::ListMembershipsForUser,
            method_sql: &sql.list_memberships_for_user,
            owner: input.usr_id.as_uuid(),
            owner_check: &sql.user_exists,
            owner_entity: Entity::User,
            cursor: input.cursor.as_ref(),
            status: input.status,
            role: None,
            limit: input.limit,
        },
    )
    .await
}

/// Reads the facts a guarded write returned: the membership (its columns are null when it
/// does not exist) and the named user's active membership in its org (`named_…`).
fn membership_facts(written: &[Row]) -> Result<Option<MembershipFacts>> {
    let Some(row) = written.first() else {
        return Ok(None);
    };
    if named::<Option<Uuid>>(row, "id")?.is_none() {
        return Ok(None);
    }
    let org_status: &str = named(row, "org_status")?;
    let owners: i64 = named(row, "owners")?;
    let named_user = match named::<Option<Uuid>>(row, "named_id")? {
        Some(_) => Some(rows::membership_named(row, "named_")?),
        None => None,
    };
    Ok(Some(MembershipFacts {
        target: rows::membership(row)?,
        org_status: org_status.parse().map_err(|_| corrupt("an org status"))?,
        active_owners: usize::try_from(owners).unwrap_or(0),
        other_active: named(row, "other_active")?,
        named: named_user,
    }))
}

/// How many membership rows a plan writes: a rotation two (the old row and the new), an
/// ending or a reactivation one.
fn rows_written<R>(plan: &Plan<R>) -> i64 {
    plan.writes
        .iter()
        .map(|write| match write {
            MembershipWrite::Rotate { .. } => 2,
            MembershipWrite::End(_) | MembershipWrite::Reactivate(_) => 1,
        })
        .sum()
}

/// A guarded membership write on one membership, as data: run by [`guarded_write`] for
/// `change_role`, `suspend_membership`, `reinstate_membership`, `self_leave` and
/// `admin_remove` alike.
struct GuardedWrite<'s, 'p, R> {
    op: Op,
    /// The membership written, as an id (for the span) and as bound.
    mem_id: MemId,
    mem: &'s Uuid,
    /// The org the call is scoped to, as bound: the lock is taken by it, and the named user's
    /// membership read in it.
    scope: Option<&'s Uuid>,
    /// The guarded statement: it writes only when its guard holds, and returns the facts the
    /// guard decided on (`{GOUT}`/`{GFROM}` in `sql.rs`) and how many rows it wrote.
    write: Stmt<'s>,
    /// The read of the marks the write leaves, for a lost answer, and what they say.
    probe: Stmt<'s>,
    found: &'p ReadMarks<'p, R>,
}

impl<'s, 'p, R> GuardedWrite<'s, 'p, R> {
    /// The write `op` on `mem` (`mem_id`) by the guarded statement `write`, whose lost answer
    /// is settled by `probe` and `found`; no other user's membership is read.
    fn new(
        op: Op,
        (mem_id, mem, scope): (MemId, &'s Uuid, Option<&'s Uuid>),
        write: Stmt<'s>,
        probe: Stmt<'s>,
        found: &'p ReadMarks<'p, R>,
    ) -> Self {
        Self {
            op,
            mem_id,
            mem,
            scope,
            write,
            probe,
            found,
        }
    }
}

/// Runs `write` in one flight (the org's lock, the named user's membership, the guarded
/// statement) and holds what it wrote to `decide` on the facts it returned: the rule's result
/// when the guard wrote what the rule plans, the rule's refusal when it wrote nothing, and a
/// retryable conflict should the two disagree.
async fn guarded_write<R>(
    store: &PostgresTenancyStore<'_, '_>,
    write: GuardedWrite<'_, '_, R>,
    decide: impl Fn(&MembershipFacts) -> Result<Plan<R>> + Sync,
) -> Result<R> {
    let GuardedWrite {
        op,
        mem_id,
        mem,
        scope,
        write,
        probe,
        found,
    } = write;
    let sql = &store.sql;
    // The org's lock, then the guarded statement, which reads the named user's membership in
    // the same snapshot as its guard. On the distributed layout a scoped write is its guarded
    // statement alone: its function takes the org's lock first, on the org's worker
    // (`sql::LOCKING`), and the call is one statement in autocommit there. Scoped, every
    // statement names the org: the lock is the given org's, and a membership of another org is
    // then not found by the guard.
    let (stmts, shape) = match scope {
        Some(_) if sql.locks_in_functions => (vec![write], Shape::Single),
        Some(org) => (
            vec![Stmt::new(&sql.lock_org).bind(org, Type::UUID), write],
            Shape::Transaction,
        ),
        None => (
            vec![Stmt::new(&sql.lock_org_of_mem).bind(mem, Type::UUID), write],
            Shape::Transaction,
        ),
    };
    let at = stmts.len() - 1;
    let call = Call::write(op, shape).probe(probe, found);
    run(store, call, mem_id, &stmts, |flights| {
        if at > 0 {
            org_status_of(rows_at(&flights, 0))?;
        }
        let returned = rows_at(&flights, at);
        let facts = membership_facts(returned)?;
        let written: i64 = returned
            .first()
            .map(|row| named(row, "written"))
            .transpose()?
            .unwrap_or(0);
        explain(op, facts, written, &decide)
    })
    .await
}

/// The result of a guarded membership write, held to its decision.
fn explain<R>(
    op: Op,
    facts: Option<MembershipFacts>,
    written: i64,
    decide: impl FnOnce(&MembershipFacts) -> Result<Plan<R>>,
) -> Result<R> {
    let Some(facts) = facts else {
        return if written == 0 {
            Err(TenancyError::not_found(Entity::Membership))
        } else {
            Err(guard_disagreed(op))
        };
    };
    match decide(&facts) {
        Ok(plan) if written == rows_written(&plan) => Ok(plan.result),
        Ok(_) => Err(guard_disagreed(op)),
        Err(error) => settle(op, Err(error), written != 0),
    }
}

/// The memberships a read returned.
fn memberships(rows: &[Row]) -> Result<Vec<Membership>> {
    rows.iter().map(rows::membership).collect()
}

/// The result of a transfer whose new rows (`to`'s, then `from`'s) are among `rows`.
fn transferred(rows: &[Membership], (to, from): (MemId, MemId)) -> Option<TransferOwnershipResult> {
    let find = |id: MemId| rows.iter().find(|row| row.id == id).cloned();
    Some(TransferOwnershipResult {
        to_membership: find(to)?,
        from_membership: find(from)?,
    })
}

/// The row `id` among `rows`, if it was ended or reactivated to `status` by this call: at
/// its time, by `removed_by`.
fn marked(
    rows: &[Membership],
    status: MembershipStatus,
    removed_by: Option<UsrId>,
    now: OffsetDateTime,
) -> Option<Membership> {
    rows.first()
        .filter(|row| {
            row.status == status
                && row.updated_at == row.successor_time(now)
                && (status != MembershipStatus::Revoked || row.removed_by == removed_by)
        })
        .cloned()
}

/// The membership of a guarded write, the org it is scoped to and its actor, as bound.
fn target(
    mem_id: MemId,
    scope: Option<OrgId>,
    actor: Option<UsrId>,
) -> (Uuid, Option<Uuid>, Option<Uuid>) {
    (
        mem_id.as_uuid(),
        scope.map(|id| id.as_uuid()),
        actor.map(|id| id.as_uuid()),
    )
}

pub(super) async fn change_role(
    store: &PostgresTenancyStore<'_, '_>,
    input: ChangeRole,
) -> Result<Membership> {
    let now = store.clock.now();
    let new_id = MemId::new();
    let mem_id = input.mem_id;
    let (mem, scope, actor) = target(mem_id, input.org_id, input.actor);
    let (new, tup) = (new_id.as_uuid(), TupId::new().as_uuid());
    let role = role_text(input.new_role);
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_membership).bind(&new, Type::UUID);
    let found = |rows: &[Row]| Ok(memberships(rows)?.into_iter().next());
    let write = Stmt::new(&sql.change_role)
        .bind(&mem, Type::UUID)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&new, Type::UUID)
        .bind(role, Type::TEXT)
        .bind(&tup, Type::UUID)
        .bind(&scope, Type::UUID)
        .bind(&actor, Type::UUID);
    let write = GuardedWrite::new(
        Op::ChangeRole,
        (mem_id, &mem, scope.as_ref()),
        write,
        probe,
        &found,
    );
    guarded_write(store, write, |facts| {
        decide::change_role(facts, &input, new_id, now)
    })
    .await
}

pub(super) async fn suspend(
    store: &PostgresTenancyStore<'_, '_>,
    input: MemberAction,
) -> Result<Membership> {
    let now = store.clock.now();
    let mem_id = input.mem_id;
    let (mem, scope, actor) = target(mem_id, input.org_id, input.actor);
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_membership).bind(&mem, Type::UUID);
    let found = |rows: &[Row]| {
        Ok(marked(
            &memberships(rows)?,
            MembershipStatus::Suspended,
            None,
            now,
        ))
    };
    let write = Stmt::new(&sql.suspend_membership)
        .bind(&mem, Type::UUID)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&scope, Type::UUID)
        .bind(&actor, Type::UUID);
    let write = GuardedWrite::new(
        Op::SuspendMembership,
        (mem_id, &mem, scope.as_ref()),
        write,
        probe,
        &found,
    );
    guarded_write(store, write, |facts| {
        decide::suspend_membership(facts, &input, now)
    })
    .await
}

pub(super) async fn reinstate(
    store: &PostgresTenancyStore<'_, '_>,
    input: MemberAction,
) -> Result<Membership> {
    let now = store.clock.now();
    let mem_id = input.mem_id;
    let (mem, scope, actor) = target(mem_id, input.org_id, input.actor);
    let tup = TupId::new().as_uuid();
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_membership).bind(&mem, Type::UUID);
    let found = |rows: &[Row]| {
        Ok(marked(
            &memberships(rows)?,
            MembershipStatus::Active,
            None,
            now,
        ))
    };
    let write = Stmt::new(&sql.reinstate_membership)
        .bind(&mem, Type::UUID)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&tup, Type::UUID)
        .bind(&scope, Type::UUID)
        .bind(&actor, Type::UUID);
    let write = GuardedWrite::new(
        Op::ReinstateMembership,
        (mem_id, &mem, scope.as_ref()),
        write,
        probe,
        &found,
    );
    guarded_write(store, write, |facts| {
        decide::reinstate_membership(facts, &input, now)
    })
    .await
}

pub(super) async fn self_leave(
    store: &PostgresTenancyStore<'_, '_>,
    input: SelfLeave,
) -> Result<Membership> {
    let now = store.clock.now();
    let heir_id = MemId::new();
    let (mem_id, transfer_to) = (input.mem_id, input.transfer_to);
    let (mem, scope, actor) = target(mem_id, input.org_id, input.actor);
    let (heir, tup) = (heir_id.as_uuid(), TupId::new().as_uuid());
    let successor = transfer_to.map(|id| id.as_uuid());
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_membership).bind(&mem, Type::UUID);
    let found = |rows: &[Row]| {
        Ok(marked(
            &memberships(rows)?,
            MembershipStatus::Revoked,
            None,
            now,
        ))
    };
    let write = match &successor {
        None => Stmt::new(&sql.self_leave_alone)
            .bind(&mem, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&scope, Type::UUID)
            .bind(&actor, Type::UUID),
        Some(successor) => Stmt::new(&sql.self_leave)
            .bind(&mem, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(successor, Type::UUID)
            .bind(&heir, Type::UUID)
            .bind(&tup, Type::UUID)
            .bind(&scope, Type::UUID)
            .bind(&actor, Type::UUID),
    };
    let write = GuardedWrite::new(
        Op::SelfLeave,
        (mem_id, &mem, scope.as_ref()),
        write,
        probe,
        &found,
    );
    guarded_write(store, write, |facts| {
        decide::self_leave(facts, &input, heir_id, now)
    })
    .await
}

pub(super) async fn admin_remove(
    store: &PostgresTenancyStore<'_, '_>,
    input: AdminRemove,
) -> Result<Membership> {
    let now = store.clock.now();
    let (mem_id, admin_usr_id) = (input.mem_id, input.admin_usr_id);
    let (mem, scope, _) = target(mem_id, input.org_id, None);
    let admin = admin_usr_id.as_uuid();
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_membership).bind(&mem, Type::UUID);
    let found = |rows: &[Row]| {
        Ok(marked(
            &memberships(rows)?,
            MembershipStatus::Revoked,
            Some(admin_usr_id),
            now,
        ))
    };
    let write = Stmt::new(&sql.admin_remove)
        .bind(&mem, Type::UUID)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&admin, Type::UUID)
        .bind(&scope, Type::UUID);
    let write = GuardedWrite::new(
        Op::AdminRemove,
        (mem_id, &mem, scope.as_ref()),
        write,
        probe,
        &found,
    );
    guarded_write(store, write, |facts| {
        decide::admin_remove(facts, admin_usr_id, now)
    })
    .await
}

pub(super) async fn transfer_ownership(
    store: &PostgresTenancyStore<'_, '_>,
    input: TransferOwnership,
) -> Result<TransferOwnershipResult> {
    let now = store.clock.now();
    let new_ids = (MemId::new(), MemId::new());
    let org = input.org_id.as_uuid();
    let (from, to) = (input.from_mem_id.as_uuid(), input.to_mem_id.as_uuid());
    let (to_new, from_new) = (new_ids.0.as_uuid(), new_ids.1.as_uuid());
    let (to_tup, from_tup) = (TupId::new().as_uuid(), TupId::new().as_uuid());
    let ids = vec![from, to];
    let actor = input.actor.map(|id| id.as_uuid());
    let sql = &store.sql;
    let new_uuids = vec![to_new, from_new];
    let probe = Stmt::new(&sql.memberships_by_ids).bind(&new_uuids, Type::UUID_ARRAY);
    let found = |rows: &[Row]| Ok(transferred(&memberships(rows)?, new_ids).map(Ok));
    // On the distributed layout the two memberships are read in the org (on its shard); one
    // of another org is looked for again, across the shards, only to explain a refusal.
    let distributed = sql.layout == Layout::Distributed;
    let read = if distributed {
        Stmt::new(&sql.memberships_by_ids_in)
            .bind(&ids, Type::UUID_ARRAY)
            .bind(&org, Type::UUID)
    } else {
        Stmt::new(&sql.memberships_by_ids).bind(&ids, Type::UUID_ARRAY)
    };
    let mut stmts = vec![Stmt::new(&sql.lock_org).bind(&org, Type::UUID), read];
    // Checked, the actor's membership is read under the lock, in the same flight.
    if let Some(actor) = &actor {
        stmts.push(
            Stmt::new(&sql.active_membership)
                .bind(&org, Type::UUID)
                .bind(actor, Type::UUID),
        );
    }
    let at = stmts.len();
    stmts.push(
        Stmt::new(&sql.transfer_ownership)
            .bind(&org, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&from, Type::UUID)
            .bind(&to, Type::UUID)
            .bind(&to_new, Type::UUID)
            .bind(&to_tup, Type::UUID)
            .bind(&from_new, Type::UUID)
            .bind(&from_tup, Type::UUID)
            .bind(&actor, Type::UUID),
    );
    let outcome = run(
        store,
        Call::write(Op::TransferOwnership, Shape::Transaction).probe(probe, &found),
        input.org_id,
        &stmts,
        |flights| {
            let found = rows_at(&flights, 1)
                .iter()
                .map(rows::membership)
                .collect::<Result<Vec<_>>>()?;
            let find = |id: MemId| found.iter().find(|row| row.id == id).cloned();
            let actor_role = match actor {
                Some(_) => role_in(rows_at(&flights, 2))?,
                None => None,
            };
            let facts = TransferFacts {
                org_status: org_status_of(rows_at(&flights, 0))?,
                actor_role,
                from: find(input.from_mem_id),
                to: find(input.to_mem_id),
            };
            let written: i64 = rows_at(&flights, at)
                .first()
                .map(|row| named(row, "written"))
                .transpose()?
                .unwrap_or(0);
            if distributed && written == 0 && (facts.from.is_none() || facts.to.is_none()) {
                return Ok(Err(facts));
            }
            match decide::transfer_ownership(&facts, &input, new_ids, now) {
                Ok(plan) if written == rows_written(&plan) => Ok(Ok(plan.result)),
                Ok(_) => Err(guard_disagreed(Op::TransferOwnership)),
                Err(error) => settle(Op::TransferOwnership, Err(error), written != 0).map(Ok),
            }
        },
    )
    .await?;
    // Nothing was written and a membership is not in the org: read both wherever they are,
    // and explain the refusal (another org's membership is `precondition.org_mismatch`).
    let mut facts = match outcome {
        Ok(result) => return Ok(result),
        Err(facts) => facts,
    };
    let stmts = [Stmt::new(&sql.memberships_by_ids).bind(&ids, Type::UUID_ARRAY)];
    let found = run(
        store,
        Call::read(Op::TransferOwnership),
        input.org_id,
        &stmts,
        |flights| {
            first(flights)
                .iter()
                .map(rows::membership)
                .collect::<Result<Vec<_>>>()
        },
    )
    .await?;
    let find = |id: MemId| found.iter().find(|row| row.id == id).cloned();
    facts.from = find(input.from_mem_id);
    facts.to = find(input.to_mem_id);
    match decide::transfer_ownership(&facts, &input, new_ids, now) {
        Ok(_) => Err(guard_disagreed(Op::TransferOwnership)),
        Err(error) => Err(error),
    }
}
