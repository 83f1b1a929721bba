//! Invitations: create, read, list, accept, decline and revoke.

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::backend::decide::{
    self, AcceptFacts, EndInvitationFacts, InvitationEnd, InviteFacts,
};
use flametrench_tenancy_core::backend::rules;
use flametrench_tenancy_core::{
    AcceptInvitation, AcceptInvitationResult, CreateInvitation, Entity, Invitation,
    InvitationStatus, ListInvitations, Op, Page, Result, TenancyError,
};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{first, org_status_of, page_rows, parse_role, role_text, rows_at, settle, settle_row};
use crate::error::corrupt;
use crate::exec::{Shape, Stmt};
use crate::migrate::Layout;
use crate::rows::{self, named};
use crate::run::{Call, run};
use crate::store::PostgresTenancyStore;

pub(super) async fn create(
    store: &PostgresTenancyStore<'_, '_>,
    mut input: CreateInvitation,
) -> Result<Invitation> {
    // `expires_at` is a public field: a value set on it directly is normalized here too, so it
    // never reaches the driver out of range.
    input.expires_at = flametrench_tenancy_core::normalize_timestamp(input.expires_at)?;
    let now = store.clock.now();
    let inv_id = InvId::new();
    let (inv, org, invited_by) = (
        inv_id.as_uuid(),
        input.org_id.as_uuid(),
        input.invited_by.as_uuid(),
    );
    let identifier = input.identifier.as_str();
    let role = role_text(input.role);
    let pre_tuples = rows::pre_tuples_json(&input.pre_tuples);
    // The row's CHECK needs expires_at > created_at; an earlier expiry inserts nothing and is
    // explained by the rule.
    let expiry_ok = input.expires_at > now;
    let sql = &store.sql;
    let probe = Stmt::new(&sql.inv_exists).bind(&inv, Type::UUID);
    let found = |rows: &[Row]| Ok((!rows.is_empty()).then_some(None));
    // The org's lock first, then the insert in its own statement (a fresh snapshot, so the
    // inviter's authority is read under the lock): one flight, `BEGIN` … `COMMIT`. On the
    // distributed layout the statement's function does both, on the org's worker
    // (`sql::LOCKING`), in one statement.
    let lock = Stmt::new(&sql.lock_org).bind(&org, Type::UUID);
    let mut stmts = Vec::with_capacity(2);
    if !sql.locks_in_functions {
        stmts.push(lock);
    }
    stmts.push(
        Stmt::new(&sql.create_invitation)
            .bind(&inv, Type::UUID)
            .bind(&org, Type::UUID)
            .bind(&identifier, Type::TEXT)
            .bind(role, Type::TEXT)
            .bind(&pre_tuples, Type::JSONB)
            .bind(&invited_by, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&input.expires_at, Type::TIMESTAMPTZ)
            .bind(&expiry_ok, Type::BOOL),
    );
    let (shape, at) = if sql.locks_in_functions {
        (Shape::Single, 0)
    } else {
        (Shape::Transaction, 1)
    };
    let outcome = run(
        store,
        Call::write(Op::CreateInvitation, shape).probe(probe, &found),
        input.org_id,
        &stmts,
        |flights| {
            let row = rows_at(&flights, at)
                .first()
                .ok_or_else(|| corrupt("create_invitation flags"))?;
            let org_status: Option<&str> = named(row, "org_status")?;
            let inviter_role: Option<&str> = named(row, "inviter_role")?;
            let facts = InviteFacts {
                org_status: org_status
                    .map(|status| status.parse().map_err(|_| corrupt("an org status")))
                    .transpose()?,
                inviter_exists: named(row, "inviter_ok")?,
                inviter_role: parse_role(inviter_role)?,
            };
            let written: i64 = named(row, "written")?;
            Ok(Some((facts, written == 1)))
        },
    )
    .await?;
    match outcome {
        Some((facts, written)) => settle(
            Op::CreateInvitation,
            decide::create_invitation(&facts, &input, inv_id, now),
            written,
        ),
        // A lost answer, and the row was found: the invitation as it was written.
        None => {
            let facts = InviteFacts {
                org_status: Some(flametrench_tenancy_core::OrgStatus::Active),
                inviter_exists: true,
                inviter_role: Some(flametrench_tenancy_core::Role::Owner),
            };
            decide::create_invitation(&facts, &input, inv_id, now)
        }
    }
}

pub(super) async fn get(
    store: &PostgresTenancyStore<'_, '_>,
    inv_id: InvId,
    org_id: Option<OrgId>,
) -> Result<Invitation> {
    let inv = inv_id.as_uuid();
    let org = org_id.map(|id| id.as_uuid());
    let sql = &store.sql;
    let stmt = match &org {
        None => Stmt::new(&sql.get_invitation).bind(&inv, Type::UUID),
        Some(org) => Stmt::new(&sql.get_invitation_in)
            .bind(&inv, Type::UUID)
            .bind(org, Type::UUID),
    };
    let stmts = [stmt];
    run(
        store,
        Call::read(Op::GetInvitation),
        inv_id,
        &stmts,
        |flights| {
            let rows = first(flights);
            rows.first()
                .map(rows::invitation)
                .unwrap_or(Err(TenancyError::not_found(Entity::Invitation)))
        },
    )
    .await
}

pub(super) async fn list(
    store: &PostgresTenancyStore<'_, '_>,
    input: ListInvitations,
) -> Result<Page<Invitation>> {
    let limit = rules::page_limit(input.limit);
    let after = rules::cursor_position::<InvId>(input.cursor.as_ref())?
        .map_or(Uuid::nil(), |id| id.as_uuid());
    let status = input.status.map(InvitationStatus::as_str);
    let org = input.org_id.as_uuid();
    let fetch = (limit + 1) as i64;
    let sql = &store.sql;
    let found = page_rows(
        store,
        Op::ListInvitations,
        input.org_id,
        (
            Stmt::new(&sql.org_exists).bind(&org, Type::UUID),
            Entity::Org,
        ),
        Stmt::new(if status.is_some() {
            &sql.list_invitations_by_status
        } else {
            &sql.list_invitations
        })
        .bind(&org, Type::UUID)
        .bind(&after, Type::UUID)
        .bind(&status, Type::TEXT)
        .bind(&fetch, Type::INT8),
    )
    .await?;
    let rows = found
        .iter()
        .map(rows::invitation)
        .collect::<Result<Vec<_>>>()?;
    Ok(rules::paginate(rows, limit, |row| row.id))
}

/// The ids of an acceptance's pre-tuples: the n-th (from 1) is `prefix` followed by
/// `start + n` as 12 hex digits, exactly as the statement computes it. `prefix` is the first
/// 24 characters of a fresh tuple id (its time, version and variant), `start` the id's last
/// 47 bits, so that every id is a UUIDv7 and adding up to a few thousand never carries.
struct PreTupleIds {
    prefix: String,
    start: i64,
}

impl PreTupleIds {
    fn new() -> Self {
        let fresh = TupId::new().as_uuid();
        let text = fresh.hyphenated().to_string();
        let low = (fresh.as_u128() & ((1 << 47) - 1)) as i64;
        Self {
            prefix: text.get(..24).unwrap_or_default().to_owned(),
            start: low,
        }
    }

    /// The bounds of the range every id falls in: just before the first, and the last
    /// possible.
    fn bounds(&self) -> Result<(Uuid, Uuid)> {
        let parse = |tail: String| {
            Uuid::parse_str(&format!("{}{tail}", self.prefix))
                .map_err(|_| corrupt("a pre-tuple id"))
        };
        Ok((
            parse(format!("{:012x}", self.start))?,
            parse("ffffffffffff".to_owned())?,
        ))
    }

    /// The n-th id, from 1.
    fn nth(&self, n: u32) -> Result<TupId> {
        let text = format!("{}{:012x}", self.prefix, self.start + i64::from(n));
        let uuid = Uuid::parse_str(&text).map_err(|_| corrupt("a pre-tuple id"))?;
        TupId::try_from_uuid(uuid).map_err(|_| corrupt("a pre-tuple id"))
    }
}

/// Reads the `accept_context` row.
fn accept_facts(rows: &[Row]) -> Result<Option<AcceptFacts>> {
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let org_status: &str = named(row, "org_status")?;
    Ok(Some(AcceptFacts {
        invitation: rows::invitation(row)?,
        org_status: org_status.parse().map_err(|_| corrupt("an org status"))?,
        user_exists: named(row, "user_exists")?,
        already_member: named(row, "already_member")?,
    }))
}

/// The plan of an acceptance, with its pre-tuple ids drawn from `ids`.
fn accept_plan(
    facts: &AcceptFacts,
    input: &AcceptInvitation,
    fresh: (UsrId, MemId),
    ids: &PreTupleIds,
    now: OffsetDateTime,
) -> Result<decide::AcceptPlan> {
    let mut n = 0;
    let mut bad_id = None;
    let plan = decide::accept_invitation(
        facts,
        input,
        fresh,
        || {
            n += 1;
            ids.nth(n).unwrap_or_else(|error| {
                bad_id = Some(error);
                TupId::MIN
            })
        },
        now,
    )?;
    match bad_id {
        Some(error) => Err(error),
        None => Ok(plan),
    }
}

pub(super) async fn accept(
    store: &PostgresTenancyStore<'_, '_>,
    input: AcceptInvitation,
) -> Result<AcceptInvitationResult> {
    // On the distributed layout an acceptance as an existing user runs on the org's worker,
    // unless its pre-tuples name objects of other shards: that statement then writes nothing,
    // and the acceptance runs again through the coordinator (`DISTRIBUTED.md`).
    let local = store.sql.layout == Layout::Distributed && input.as_usr_id.is_some();
    if local {
        if let Some(accepted) = accept_with(store, &input, true).await? {
            return Ok(accepted);
        }
    }
    accept_with(store, &input, false)
        .await?
        .ok_or_else(|| corrupt("an acceptance through the coordinator"))
}

/// An acceptance by `accept_invitation`, or by `accept_invitation_local` when `local`:
/// `None` when the local statement left it to the coordinator's.
async fn accept_with(
    store: &PostgresTenancyStore<'_, '_>,
    input: &AcceptInvitation,
    local: bool,
) -> Result<Option<AcceptInvitationResult>> {
    let now = store.clock.now();
    let fresh = (UsrId::new(), MemId::new());
    let subject_id = input.as_usr_id.unwrap_or(fresh.0);
    let ids = PreTupleIds::new();
    let (inv, subject, mem, tup) = (
        input.inv_id.as_uuid(),
        subject_id.as_uuid(),
        fresh.1.as_uuid(),
        TupId::new().as_uuid(),
    );
    let as_usr = input.as_usr_id.map(|id| id.as_uuid());
    let (create_user, as_existing) = (as_usr.is_none(), as_usr.is_some());
    let identifier = input.accepting_identifier.as_ref().map(|id| id.as_str());
    let scope = input.org_id.map(|id| id.as_uuid());
    let sql = &store.sql;
    let (lowest, highest) = ids.bounds()?;
    let probe = Stmt::new(&sql.accept_probe)
        .bind(&inv, Type::UUID)
        .bind(&lowest, Type::UUID)
        .bind(&highest, Type::UUID);
    let found = |rows: &[Row]| Ok(accepted_from(rows, input, fresh, &ids, now)?.map(Some));
    let accept = if local {
        &sql.accept_invitation_local
    } else {
        &sql.accept_invitation
    };
    let stmts = [
        lock_for_invitation(store, &inv, scope.as_ref()),
        Stmt::new(&sql.accept_context)
            .bind(&inv, Type::UUID)
            .bind(&as_usr, Type::UUID)
            .bind(&scope, Type::UUID),
        Stmt::new(accept)
            .bind(&inv, Type::UUID)
            .bind(&subject, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&create_user, Type::BOOL)
            .bind(&mem, Type::UUID)
            .bind(&tup, Type::UUID)
            .bind(&ids.prefix, Type::TEXT)
            .bind(&ids.start, Type::INT8)
            .bind(&as_existing, Type::BOOL)
            .bind(&identifier, Type::TEXT)
            .bind(&scope, Type::UUID),
    ];
    run(
        store,
        Call::write(Op::AcceptInvitation, Shape::Transaction).probe(probe, &found),
        input.inv_id,
        &stmts,
        |flights| {
            org_status_of(rows_at(&flights, 0))?;
            let Some(facts) = accept_facts(rows_at(&flights, 1))? else {
                return Err(TenancyError::not_found(Entity::Invitation));
            };
            let accepted = rows_at(&flights, 2).first();
            let plan = accept_plan(&facts, input, fresh, &ids, now);
            let org = facts.invitation.org_id.as_uuid();
            if local
                && accepted.is_none()
                && plan.is_ok()
                && facts
                    .invitation
                    .pre_tuples
                    .iter()
                    .any(|pre| pre.object_id != org)
            {
                return Ok(None);
            }
            let plan = settle(Op::AcceptInvitation, plan, accepted.is_some())?;
            let row = accepted.ok_or_else(|| corrupt("an accepted invitation"))?;
            let inserted: Vec<Uuid> = named(row, "inserted")?;
            Ok(Some(accept_result(plan, rows::invitation(row)?, &inserted)))
        },
    )
    .await
}

/// The result of an acceptance: the tuples of the plan that the statement inserted.
fn accept_result(
    plan: decide::AcceptPlan,
    invitation: Invitation,
    inserted: &[Uuid],
) -> AcceptInvitationResult {
    let mut materialized_tuples: Vec<_> = plan
        .tuples
        .into_iter()
        .filter(|tuple| inserted.contains(&tuple.id.as_uuid()))
        .collect();
    materialized_tuples.sort_by_key(|tuple| tuple.id);
    AcceptInvitationResult {
        invitation,
        membership: plan.membership,
        materialized_tuples,
    }
}

/// What an acceptance's probe found (the invitation, and the tuples among its pre-tuple
/// ids): the call's result when the invitation carries this call's marks (accepted by the
/// subject at its time), `None` when it does not.
fn accepted_from(
    rows: &[Row],
    input: &AcceptInvitation,
    fresh: (UsrId, MemId),
    ids: &PreTupleIds,
    now: OffsetDateTime,
) -> Result<Option<AcceptInvitationResult>> {
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let invitation = rows::invitation(row)?;
    let subject = input.as_usr_id.unwrap_or(fresh.0);
    if invitation.status != InvitationStatus::Accepted
        || invitation.terminal_at != Some(now)
        || invitation.invited_user_id != Some(subject)
    {
        return Ok(None);
    }
    // The plan as it was when the acceptance was decided: the invitation pending, the
    // identifier matching (or nothing would have been accepted).
    let facts = AcceptFacts {
        invitation: Invitation {
            status: InvitationStatus::Pending,
            invited_user_id: None,
            terminal_at: None,
            terminal_by: None,
            ..invitation.clone()
        },
        org_status: flametrench_tenancy_core::OrgStatus::Active,
        user_exists: true,
        already_member: false,
    };
    let identified = match input.as_usr_id {
        Some(usr) => AcceptInvitation::as_user(input.inv_id, usr, invitation.identifier.clone()),
        None => AcceptInvitation::new_user(input.inv_id),
    };
    let plan = accept_plan(&facts, &identified, fresh, ids, now)?;
    let inserted: Vec<Uuid> = named(row, "inserted")?;
    Ok(Some(accept_result(plan, invitation, &inserted)))
}

/// The org's lock for a write on invitation `inv`: by the org the call is scoped to when
/// given (an invitation of another org is then simply not found), through the invitation's row
/// otherwise.
fn lock_for_invitation<'a>(
    store: &'a PostgresTenancyStore<'_, '_>,
    inv: &'a Uuid,
    scope: Option<&'a Uuid>,
) -> Stmt<'a> {
    match scope {
        Some(org) => Stmt::new(&store.sql.lock_org).bind(org, Type::UUID),
        None => Stmt::new(&store.sql.lock_org_of_inv).bind(inv, Type::UUID),
    }
}

/// An invitation's ending without acceptance: a decline or a revocation.
pub(super) struct Ending<'a> {
    pub(super) end: InvitationEnd,
    pub(super) inv_id: InvId,
    /// The org the call is scoped to.
    pub(super) org_id: Option<OrgId>,
    /// The decliner or the revoking admin.
    pub(super) actor: Option<UsrId>,
    /// A checked decline's identifier.
    pub(super) identifier: Option<&'a str>,
}

pub(super) async fn end(
    store: &PostgresTenancyStore<'_, '_>,
    ending: Ending<'_>,
) -> Result<Invitation> {
    let Ending {
        end,
        inv_id,
        org_id,
        actor: actor_id,
        identifier,
    } = ending;
    let now = store.clock.now();
    let inv = inv_id.as_uuid();
    let actor = actor_id.map(|id| id.as_uuid());
    let scope = org_id.map(|id| id.as_uuid());
    let status = end.status().as_str();
    let op = match end {
        InvitationEnd::Decline | InvitationEnd::CheckedDecline { .. } => Op::DeclineInvitation,
        InvitationEnd::Revoke => Op::RevokeInvitation,
    };
    // Revoking is an admin's act and a checked decline the invitee's or an admin's, decided
    // under the org's lock (org, then invitation, as an acceptance locks them): on one node one
    // flight, `BEGIN` … `COMMIT` with a pool, where an unchecked decline needs no authority and
    // stays one statement in autocommit; on the distributed layout the ending's function takes
    // the lock, whatever the ending.
    let revoke = end == InvitationEnd::Revoke;
    let checked_decline = matches!(end, InvitationEnd::CheckedDecline { .. });
    let by_actor = matches!(end, InvitationEnd::CheckedDecline { by_actor: true });
    let sql = &store.sql;
    // On the distributed layout: the actor's read (the `usr` reference table), then the
    // ending's facts form, whose function takes the org's lock first on the org's worker; both
    // in autocommit, one command to the worker (`sql::end_invitation_facts`).
    let on_its_worker = sql.locks_in_functions;
    let locked = (revoke || checked_decline) && !on_its_worker;
    let shape = if locked {
        Shape::Transaction
    } else {
        Shape::Single
    };
    let probe = Stmt::new(&sql.get_invitation).bind(&inv, Type::UUID);
    let found = |rows: &[Row]| {
        Ok(rows
            .first()
            .map(rows::invitation)
            .transpose()?
            .filter(|row| {
                row.status == end.status()
                    && row.terminal_at == Some(now)
                    && row.terminal_by == actor_id
            }))
    };
    let mut stmts = Vec::with_capacity(3);
    if locked {
        stmts.push(lock_for_invitation(store, &inv, scope.as_ref()));
    }
    let read_actor = on_its_worker && actor.is_some();
    if read_actor {
        stmts.push(Stmt::new(&sql.user_exists).bind(&actor, Type::UUID));
    }
    let write = if on_its_worker {
        &sql.end_invitation_facts
    } else {
        &sql.end_invitation
    };
    stmts.push(
        Stmt::new(write)
            .bind(&inv, Type::UUID)
            .bind(&status, Type::TEXT)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&actor, Type::UUID)
            .bind(&revoke, Type::BOOL)
            .bind(&scope, Type::UUID)
            .bind(&checked_decline, Type::BOOL)
            .bind(&identifier, Type::TEXT)
            .bind(&by_actor, Type::BOOL),
    );
    if !on_its_worker {
        stmts.push(
            Stmt::new(&sql.end_invitation_context)
                .bind(&inv, Type::UUID)
                .bind(&actor, Type::UUID)
                .bind(&scope, Type::UUID)
                .bind(&identifier, Type::TEXT),
        );
    }
    run(
        store,
        Call::write(op, shape).probe(probe, &found),
        inv_id,
        &stmts,
        |flights| {
            // The context: the actor's standing (which the write left alone) and, when the
            // write was refused, the invitation's status. On one node it is read after the
            // write, in a statement of its own; the facts form reads it in the guard's
            // snapshot, beside the invitation it ended, and the actor's existence before it.
            let (ended, context, status_column) = if on_its_worker {
                let at = usize::from(read_actor);
                let row = rows_at(&flights, at)
                    .first()
                    .ok_or_else(|| corrupt("an invitation ending's facts"))?;
                let ended = named::<Option<Uuid>>(row, "id")?
                    .map(|_| rows::invitation(row))
                    .transpose()?;
                let seen: Option<&str> = named(row, "seen_status")?;
                (ended, seen.map(|_| row), "seen_status")
            } else {
                let at = usize::from(locked);
                let ended = rows_at(&flights, at)
                    .first()
                    .map(rows::invitation)
                    .transpose()?;
                (ended, rows_at(&flights, at + 1).first(), "status")
            };
            let Some(row) = context else {
                return match ended {
                    Some(_) => Err(corrupt("an ended invitation without its context")),
                    None => Err(TenancyError::not_found(Entity::Invitation)),
                };
            };
            let status = match ended {
                // A written invitation was pending, as its guard required.
                Some(_) => InvitationStatus::Pending,
                None => {
                    let found: &str = named(row, status_column)?;
                    found.parse().map_err(|_| corrupt("an invitation status"))?
                }
            };
            let actor_exists = if on_its_worker {
                // Read before the write; an ending that recorded the actor proves it too
                // (`terminal_by`'s foreign key), should the user have come in between.
                !read_actor || !rows_at(&flights, 0).is_empty() || ended.is_some()
            } else {
                named(row, "actor_exists")?
            };
            let actor_role: Option<&str> = named(row, "actor_role")?;
            let facts = EndInvitationFacts {
                status,
                actor_exists,
                actor_role: parse_role(actor_role)?,
                identifier_matches: named(row, "identifier_matches")?,
            };
            settle_row(op, decide::end_invitation(&facts, end), ended)
        },
    )
    .await
}
