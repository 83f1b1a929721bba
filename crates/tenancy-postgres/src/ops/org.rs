//! Orgs: create, read, list, update and the lifecycle transitions.

use flametrench_ids::{MemId, OrgId, TupId};
use flametrench_tenancy_core::backend::decide::{self, CreateOrgFacts};
use flametrench_tenancy_core::backend::rules::{self, OrgTransition};
use flametrench_tenancy_core::{
    CreateOrg, CreateOrgResult, Entity, ListOrgs, Op, OrgAction, OrgStatus, Organization, Page,
    Patch, Result, Role, TenancyError, UpdateOrg,
};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{first, org_status_of, parse_role, role_in, rows_at, settle, settle_row};
use crate::error::corrupt;
use crate::exec::{Shape, Stmt};
use crate::migrate::Layout;
use crate::rows;
use crate::run::{Call, run};
use crate::store::PostgresTenancyStore;

pub(super) async fn create(
    store: &PostgresTenancyStore<'_, '_>,
    input: CreateOrg,
) -> Result<CreateOrgResult> {
    let now = store.clock.now();
    let (org_id, mem_id) = (OrgId::new(), MemId::new());
    let (org, mem, tup, creator) = (
        org_id.as_uuid(),
        mem_id.as_uuid(),
        TupId::new().as_uuid(),
        input.creator.as_uuid(),
    );
    let name = input.name.as_ref().map(|name| name.as_str());
    let slug = input.slug.as_ref().map(|slug| slug.as_str());
    let sql = &store.sql;
    let probe = Stmt::new(&sql.org_exists).bind(&org, Type::UUID);
    let found = |rows: &[tokio_postgres::Row]| Ok((!rows.is_empty()).then_some((true, true)));
    // A slug already held fails on the slug's unique index (`conflict.org_slug`), so the only
    // refusal the guard explains is an unknown creator.
    let call = Call::write(Op::CreateOrg, Shape::Single).probe(probe, &found);
    // With a slug, the distributed layout also writes the slug's registry row (another shard).
    let text = if slug.is_some() {
        &sql.create_org_slug
    } else {
        &sql.create_org
    };
    let stmts = [Stmt::new(text)
        .bind(&org, Type::UUID)
        .bind(&name, Type::TEXT)
        .bind(&slug, Type::TEXT)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&creator, Type::UUID)
        .bind(&mem, Type::UUID)
        .bind(&tup, Type::UUID)];
    let written = run(store, call, input.creator, &stmts, |flights| {
        let rows = first(flights);
        let row = rows.first().ok_or_else(|| corrupt("create_org flags"))?;
        let written: i64 = rows::named(row, "written")?;
        Ok((rows::named::<bool>(row, "creator_ok")?, written > 0))
    })
    .await?;
    let (creator_exists, written) = written;
    let facts = CreateOrgFacts {
        creator_exists,
        slug_taken: false,
    };
    settle(
        Op::CreateOrg,
        decide::create_org(&facts, &input, (org_id, mem_id), now),
        written,
    )
}

pub(super) async fn get(
    store: &PostgresTenancyStore<'_, '_>,
    org_id: OrgId,
) -> Result<Organization> {
    let org = org_id.as_uuid();
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.get_org).bind(&org, Type::UUID)];
    run(store, Call::read(Op::GetOrg), org_id, &stmts, |flights| {
        first(flights)
            .first()
            .map(rows::organization)
            .unwrap_or(Err(TenancyError::not_found(Entity::Org)))
    })
    .await
}

pub(super) async fn list(
    store: &PostgresTenancyStore<'_, '_>,
    input: ListOrgs,
) -> Result<Page<Organization>> {
    let limit = rules::page_limit(input.limit);
    let after = rules::cursor_position::<OrgId>(input.cursor.as_ref())?
        .map_or(Uuid::nil(), |id| id.as_uuid());
    let status = input.status.map(OrgStatus::as_str);
    let pattern = input
        .query
        .as_ref()
        .map(|query| like_pattern(&query.folded()));
    let fetch = (limit + 1) as i64;
    let sql = &store.sql;
    let stmt = match (&pattern, status) {
        (Some(pattern), _) => Stmt::planned_each_call(&sql.list_orgs_matching)
            .bind(&after, Type::UUID)
            .bind(&fetch, Type::INT8)
            .bind(&status, Type::TEXT)
            .bind(pattern, Type::TEXT),
        (None, Some(_)) => Stmt::new(&sql.list_orgs_by_status)
            .bind(&after, Type::UUID)
            .bind(&fetch, Type::INT8)
            .bind(&status, Type::TEXT),
        (None, None) => Stmt::new(&sql.list_orgs)
            .bind(&after, Type::UUID)
            .bind(&fetch, Type::INT8),
    };
    run(store, Call::read(Op::ListOrgs), "all", &[stmt], |flights| {
        let orgs = first(flights)
            .iter()
            .map(rows::organization)
            .collect::<Result<Vec<_>>>()?;
        Ok(rules::paginate(orgs, limit, |org| org.id))
    })
    .await
}

/// The `LIKE` pattern that matches `folded` anywhere, literally: `\`, `%` and `_` in it are
/// escaped with `\`, the escape character the statement names.
fn like_pattern(folded: &str) -> String {
    let mut pattern = String::with_capacity(folded.len() + 2);
    pattern.push('%');
    for c in folded.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The org a `get_org` read returned.
fn org_of(rows: &[tokio_postgres::Row]) -> Result<Option<Organization>> {
    rows.first().map(rows::organization).transpose()
}

/// An org write's flight and how to read it: unchecked, the guarded write (returning the org it
/// changed) and the org's status read after it, in autocommit; checked by an actor, the org's
/// lock, the actor's active membership there (read under the lock), then the same two, in
/// one transaction: the write's guard reads the actor again in its own statement, after the
/// lock.
struct OrgFlight<'a> {
    stmts: Vec<Stmt<'a>>,
    shape: Shape,
    /// Whether the flight reads the actor's role (checked), and how many statements come
    /// before the write.
    reading: Reading,
}

/// What comes before an org write in its flight.
#[derive(Clone, Copy)]
struct Reading {
    checked: bool,
    before: usize,
}

impl<'a> OrgFlight<'a> {
    /// `lock` asks for the org's lock first even without an actor: on the distributed layout a
    /// slug change reads the org's slug in its statement's snapshot to move its registry row,
    /// which must be taken after the lock.
    fn new(
        store: &'a PostgresTenancyStore<'_, '_>,
        org: &'a Uuid,
        actor: Option<&'a Uuid>,
        write: Stmt<'a>,
        lock: bool,
    ) -> Self {
        let sql = &store.sql;
        let mut stmts = Vec::with_capacity(4);
        if actor.is_some() || lock {
            stmts.push(Stmt::new(&sql.lock_org).bind(org, Type::UUID));
        }
        if let Some(actor) = actor {
            stmts.push(
                Stmt::new(&sql.active_membership)
                    .bind(org, Type::UUID)
                    .bind(actor, Type::UUID),
            );
        }
        let before = stmts.len();
        stmts.push(write);
        stmts.push(Stmt::new(&sql.org_status).bind(org, Type::UUID));
        Self {
            stmts,
            shape: if before > 0 {
                Shape::Transaction
            } else {
                Shape::Single
            },
            reading: Reading {
                checked: actor.is_some(),
                before,
            },
        }
    }

    /// What the flight read: the actor's role as read under the lock, and the rows of the
    /// write and of the status after it.
    fn read(reading: Reading, flights: &[Vec<tokio_postgres::Row>]) -> Result<OrgFlightRows<'_>> {
        Ok(OrgFlightRows {
            actor_role: if reading.checked {
                Some(role_in(rows_at(flights, 1))?)
            } else {
                None
            },
            rest: flights.get(reading.before..).unwrap_or_default(),
        })
    }
}

/// An org write's flight as read by [`OrgFlight::read`].
struct OrgFlightRows<'f> {
    /// `None` when unchecked; else the actor's active role in the org, if any.
    actor_role: Option<Option<Role>>,
    /// The rows of the write, then of the status read after it.
    rest: &'f [Vec<tokio_postgres::Row>],
}

/// A guarded org write's flight: the write (returning the org it changed), then the org's
/// status, read after it. `seen` says what status the guard saw when it wrote (`changed`, the
/// org it wrote); a refused write saw the status read after it, which it left alone. The
/// outcome is held to `decided` on that status ([`settle_row`]).
fn settle_org_write(
    op: Op,
    flights: &[Vec<tokio_postgres::Row>],
    seen: impl FnOnce(&Organization) -> OrgStatus,
    decided: impl FnOnce(Option<OrgStatus>) -> Result<()>,
) -> Result<Organization> {
    let changed = rows_at(flights, 0)
        .first()
        .map(rows::organization)
        .transpose()?;
    let status = match &changed {
        Some(org) => Some(seen(org)),
        None => org_status_of(rows_at(flights, 1))?,
    };
    settle_row(op, decided(status), changed)
}

pub(super) async fn update(
    store: &PostgresTenancyStore<'_, '_>,
    input: UpdateOrg,
) -> Result<Organization> {
    let now = store.clock.now();
    let org = input.org_id.as_uuid();
    let (set_name, name) = patch(&input.name, |name| name.as_str());
    let (set_slug, slug) = patch(&input.slug, |slug| slug.as_str());
    let actor = input.actor.map(|id| id.as_uuid());
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_org).bind(&org, Type::UUID);
    let marked = |rows: &[tokio_postgres::Row]| {
        Ok(org_of(rows)?.filter(|org| {
            org.updated_at == now
                && (!set_name || org.name.as_ref().map(|name| name.as_str()) == name)
                && (!set_slug || org.slug.as_ref().map(|slug| slug.as_str()) == slug)
        }))
    };
    // On the distributed layout, without a slug to move, the facts form on the org's worker.
    let on_its_worker = sql.locks_in_functions && !set_slug;
    let text = if on_its_worker {
        &sql.update_org_facts
    } else if set_slug {
        &sql.update_org_slug
    } else {
        &sql.update_org
    };
    let write = Stmt::new(text)
        .bind(&org, Type::UUID)
        .bind(&set_name, Type::BOOL)
        .bind(&name, Type::TEXT)
        .bind(&set_slug, Type::BOOL)
        .bind(&slug, Type::TEXT)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&actor, Type::UUID);
    if on_its_worker {
        // The update leaves the status as the guard saw it.
        return org_write_on_its_worker(
            store,
            (Op::UpdateOrg, input.org_id, actor.is_some()),
            write,
            (probe, &marked),
            |facts| facts.seen,
            |status, actor_role| decide::update_org(status, actor_role).map(drop),
        )
        .await;
    }
    let moves_slug = set_slug && sql.layout == Layout::Distributed;
    let flight = OrgFlight::new(store, &org, actor.as_ref(), write, moves_slug);
    let call = Call::write(Op::UpdateOrg, flight.shape).probe(probe, &marked);
    let reading = flight.reading;
    run(store, call, input.org_id, &flight.stmts, |flights| {
        let OrgFlightRows { actor_role, rest } = OrgFlight::read(reading, &flights)?;
        // The update leaves the status as the guard saw it.
        settle_org_write(
            Op::UpdateOrg,
            rest,
            |org| org.status,
            |status| decide::update_org(status, actor_role),
        )
    })
    .await
}

/// Whether a patch sets its field, and the value it sets.
fn patch<T>(patch: &Patch<T>, text: fn(&T) -> &str) -> (bool, Option<&str>) {
    match patch {
        Patch::Unchanged => (false, None),
        Patch::Clear => (true, None),
        Patch::Set(value) => (true, Some(text(value))),
    }
}

/// `suspend_org` and `reinstate_org`: one conditional update in autocommit, or, checked by an
/// actor, after the org's lock ([`OrgFlight`]).
pub(super) async fn transition(
    store: &PostgresTenancyStore<'_, '_>,
    input: OrgAction,
    transition: OrgTransition,
) -> Result<Organization> {
    let (op, target, required) = match transition {
        OrgTransition::Suspend => (Op::SuspendOrg, OrgStatus::Suspended, OrgStatus::Active),
        OrgTransition::Reinstate => (Op::ReinstateOrg, OrgStatus::Active, OrgStatus::Suspended),
        OrgTransition::Revoke => return revoke(store, input).await,
    };
    let now = store.clock.now();
    let org_id = input.org_id;
    let org = org_id.as_uuid();
    let actor = input.actor.map(|id| id.as_uuid());
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_org).bind(&org, Type::UUID);
    let marked = |rows: &[tokio_postgres::Row]| {
        Ok(org_of(rows)?.filter(|org| org.status == target && org.updated_at == now))
    };
    let (target_text, required_text) = (target.as_str(), required.as_str());
    let text = if sql.locks_in_functions {
        &sql.set_org_status_facts
    } else {
        &sql.set_org_status
    };
    let write = Stmt::new(text)
        .bind(&org, Type::UUID)
        .bind(&target_text, Type::TEXT)
        .bind(&now, Type::TIMESTAMPTZ)
        .bind(&required_text, Type::TEXT)
        .bind(&actor, Type::UUID);
    if sql.locks_in_functions {
        // A written org had the status the guard required.
        return org_write_on_its_worker(
            store,
            (op, org_id, actor.is_some()),
            write,
            (probe, &marked),
            |facts| facts.changed.as_ref().map(|_| required).or(facts.seen),
            |status, actor_role| decide::org_transition(status, transition, actor_role).map(drop),
        )
        .await;
    }
    let flight = OrgFlight::new(store, &org, actor.as_ref(), write, false);
    let call = Call::write(op, flight.shape).probe(probe, &marked);
    let reading = flight.reading;
    run(store, call, org_id, &flight.stmts, |flights| {
        let OrgFlightRows { actor_role, rest } = OrgFlight::read(reading, &flights)?;
        // A written org had the status the guard required.
        settle_org_write(
            op,
            rest,
            |_| required,
            |status| decide::org_transition(status, transition, actor_role).map(drop),
        )
    })
    .await
}

/// `revoke_org`: the org's lock, then the org, its memberships, tuples and pending
/// invitations in one guarded statement, in one flight (`BEGIN` … `COMMIT` with a pool).
pub(super) async fn revoke(
    store: &PostgresTenancyStore<'_, '_>,
    input: OrgAction,
) -> Result<Organization> {
    let now = store.clock.now();
    let org_id = input.org_id;
    let org = org_id.as_uuid();
    let actor = input.actor.map(|id| id.as_uuid());
    let sql = &store.sql;
    let probe = Stmt::new(&sql.get_org).bind(&org, Type::UUID);
    let marked = |rows: &[tokio_postgres::Row]| {
        Ok(org_of(rows)?.filter(|org| org.status == OrgStatus::Revoked && org.updated_at == now))
    };
    if sql.locks_in_functions {
        let write = Stmt::new(&sql.revoke_org_facts)
            .bind(&org, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&actor, Type::UUID);
        // The revocation's guard saw the status before it.
        return org_write_on_its_worker(
            store,
            (Op::RevokeOrg, org_id, actor.is_some()),
            write,
            (probe, &marked),
            |facts| facts.seen,
            |status, actor_role| {
                decide::org_transition(status, OrgTransition::Revoke, actor_role).map(drop)
            },
        )
        .await;
    }
    let call = Call::write(Op::RevokeOrg, Shape::Transaction).probe(probe, &marked);
    let mut stmts = vec![Stmt::new(&sql.lock_org).bind(&org, Type::UUID)];
    if let Some(actor) = &actor {
        stmts.push(
            Stmt::new(&sql.active_membership)
                .bind(&org, Type::UUID)
                .bind(actor, Type::UUID),
        );
    }
    let at = stmts.len();
    stmts.push(
        Stmt::new(&sql.revoke_org)
            .bind(&org, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)
            .bind(&actor, Type::UUID),
    );
    stmts.push(Stmt::new(&sql.org_status).bind(&org, Type::UUID));
    run(store, call, org_id, &stmts, |flights| {
        // The lock read the status the revocation's guard then saw, under the lock.
        let locked = org_status_of(rows_at(&flights, 0))?;
        let actor_role = actor.map(|_| role_in(rows_at(&flights, 1))).transpose()?;
        settle_org_write(
            Op::RevokeOrg,
            flights.get(at..).unwrap_or_default(),
            |_| locked.unwrap_or(OrgStatus::Revoked),
            |status| decide::org_transition(status, OrgTransition::Revoke, actor_role).map(drop),
        )
    })
    .await
}

/// What an org write's facts statement returned (`sql::org_facts`): the org it wrote, the
/// org's status as its guard saw it, and the actor's active role there, read in the guard's
/// snapshot.
struct OrgFacts {
    changed: Option<Organization>,
    seen: Option<OrgStatus>,
    actor_role: Option<Role>,
}

impl OrgFacts {
    fn read(rows: &[tokio_postgres::Row]) -> Result<Self> {
        let row = rows
            .first()
            .ok_or_else(|| corrupt("an org write's facts"))?;
        let changed = match rows::named::<Option<Uuid>>(row, "id")? {
            Some(_) => Some(rows::organization(row)?),
            None => None,
        };
        let seen: Option<&str> = rows::named(row, "seen_status")?;
        Ok(Self {
            changed,
            seen: seen
                .map(|status| status.parse().map_err(|_| corrupt("an org status")))
                .transpose()?,
            actor_role: parse_role(rows::named(row, "actor_role")?)?,
        })
    }
}

/// An org write on the distributed layout: its facts statement alone, one command to the
/// org's worker in autocommit, whose function takes the org's lock first (`sql::LOCKING`). The
/// outcome is held to `decided` on the status `status` takes from the facts, and on the actor's
/// role when the write is checked.
async fn org_write_on_its_worker(
    store: &PostgresTenancyStore<'_, '_>,
    (op, org_id, checked): (Op, OrgId, bool),
    write: Stmt<'_>,
    probe: (Stmt<'_>, &crate::run::ReadMarks<'_, Organization>),
    status: impl Fn(&OrgFacts) -> Option<OrgStatus> + Sync,
    decided: impl Fn(Option<OrgStatus>, Option<Option<Role>>) -> Result<()> + Sync,
) -> Result<Organization> {
    let call = Call::write(op, Shape::Single).probe(probe.0, probe.1);
    let stmts = [write];
    run(store, call, org_id, &stmts, |flights| {
        let facts = OrgFacts::read(rows_at(&flights, 0))?;
        let actor_role = checked.then_some(facts.actor_role);
        settle_row(op, decided(status(&facts), actor_role), facts.changed)
    })
    .await
}
