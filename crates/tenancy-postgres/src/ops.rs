//! The [`TenancyStore`] operations: each loads what it needs under the org lock, asks the
//! shared rules of `flametrench-tenancy-core`, then writes, in as few round trips as it can.
//!
//! Round trips with a pool (inside a caller's transaction the same: the savepoint statements
//! ride in the same flights): one for `ensure_user`, `create_org`, `add_member`,
//! `create_invitation`, `update_org`, the org transitions except `revoke_org`,
//! `decline_invitation`, `revoke_invitation` and every read; two for every other write
//! (`BEGIN` + lock + reads, then writes + `COMMIT`). The writes are one statement per
//! membership row rotated, ended or reactivated, and one for an acceptance (`spec/postgres.md`,
//! "Statements per write"). Error paths
//! may take one more, to classify the failure or to roll back.

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::Op;
use flametrench_tenancy_core::rules::{self, LeavePlan, OrgTransition};
use flametrench_tenancy_core::{
    AcceptInvitation, AcceptInvitationResult, AddMember, CreateInvitation, CreateOrg,
    CreateOrgResult, Entity, EntityType, Invitation, InvitationStatus, ListInvitations,
    ListMembers, ListMembershipsForUser, ListOrgs, Membership, MembershipStatus, OrgStatus,
    Organization, Page, Patch, Relation, Result, Role, TenancyError, TenancyStore,
    TransferOwnership, TransferOwnershipResult, Tuple, UpdateOrg,
};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::corrupt;
use crate::exec::{Shape, Stmt, Tx};
use crate::rows::{self, get};
use crate::sql::Sql;
use crate::store::{PostgresTenancyStore, transact};

fn first(mut flights: Vec<Vec<Row>>) -> Vec<Row> {
    if flights.is_empty() {
        Vec::new()
    } else {
        flights.swap_remove(0)
    }
}

/// Reads the org status a lock or status statement returned: `None` when the org (or the row
/// leading to it) does not exist.
fn org_status_of(rows: &[Row]) -> Result<Option<OrgStatus>> {
    rows.first()
        .map(|row| {
            let status: &str = get(row, 0)?;
            status.parse().map_err(|_| corrupt("an org status"))
        })
        .transpose()
}

/// A revoke-and-re-add: the replacing row as it will be written, and the values its one
/// statement binds.
struct Rotation {
    /// The replacing row, as it will be written.
    new: Membership,
    old_uuid: Uuid,
    new_uuid: Uuid,
    tuple_uuid: Uuid,
    usr: Uuid,
    org: Uuid,
    old_role: &'static &'static str,
}

const REVOKED: &str = "revoked";
const SUSPENDED: &str = "suspended";

impl Rotation {
    fn new(old: &Membership, new_role: Role, now: OffsetDateTime) -> Self {
        let new = old.successor(MemId::new(), new_role, now);
        Self {
            old_uuid: old.id.as_uuid(),
            new_uuid: new.id.as_uuid(),
            tuple_uuid: TupId::new().as_uuid(),
            usr: old.usr_id.as_uuid(),
            org: old.org_id.as_uuid(),
            old_role: role_text(old.role),
            new,
        }
    }

    /// Revokes the old row at `now` and writes the new row and its tuple, in one statement.
    fn stmt<'a>(&'a self, sql: &'a Sql, now: &'a OffsetDateTime) -> Stmt<'a> {
        Stmt::new(&sql.rotate_membership)
            .bind(&self.old_uuid, Type::UUID)
            .bind(now, Type::TIMESTAMPTZ)
            .bind(&self.new_uuid, Type::UUID)
            .bind(role_text(self.new.role), Type::TEXT)
            .bind(&self.new.created_at, Type::TIMESTAMPTZ)
            .bind(&self.tuple_uuid, Type::UUID)
            .bind(&self.usr, Type::UUID)
            .bind(&self.org, Type::UUID)
            .bind(self.old_role, Type::TEXT)
    }
}

/// The values that end one membership (to `suspended` or `revoked`) and delete its tuple.
struct Ending {
    mem: Uuid,
    usr: Uuid,
    org: Uuid,
    role: &'static &'static str,
    removed_by: Option<Uuid>,
    status: &'static &'static str,
}

impl Ending {
    fn new(
        membership: &Membership,
        removed_by: Option<UsrId>,
        status: &'static &'static str,
    ) -> Self {
        Self {
            mem: membership.id.as_uuid(),
            usr: membership.usr_id.as_uuid(),
            org: membership.org_id.as_uuid(),
            role: role_text(membership.role),
            removed_by: removed_by.map(|id| id.as_uuid()),
            status,
        }
    }

    fn stmt<'a>(&'a self, sql: &'a Sql, now: &'a OffsetDateTime) -> Stmt<'a> {
        Stmt::new(&sql.end_membership)
            .bind(&self.mem, Type::UUID)
            .bind(now, Type::TIMESTAMPTZ)
            .bind(&self.removed_by, Type::UUID)
            .bind(self.status, Type::TEXT)
            .bind(&self.usr, Type::UUID)
            .bind(&self.org, Type::UUID)
            .bind(self.role, Type::TEXT)
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

fn ended(
    membership: &Membership,
    status: MembershipStatus,
    removed_by: Option<UsrId>,
    now: OffsetDateTime,
) -> Membership {
    Membership {
        status,
        removed_by,
        updated_at: now,
        ..membership.clone()
    }
}

/// Reads the `membership_context` row: the membership, its org's active-owner count, and
/// whether its user holds another active membership in the org.
fn membership_context(rows: &[Row]) -> Result<(Membership, usize, bool)> {
    let row = rows
        .first()
        .ok_or(TenancyError::not_found(Entity::Membership))?;
    let membership = rows::membership(row, 0)?;
    let owners: i64 = get(row, 10)?;
    let other_active: bool = get(row, 11)?;
    Ok((
        membership,
        usize::try_from(owners).unwrap_or(0),
        other_active,
    ))
}

/// Locks the membership's org and reads its context, in the first flight.
async fn lock_membership(
    tx: &mut Tx<'_>,
    sql: &Sql,
    mem_uuid: &Uuid,
    extra: Option<Stmt<'_>>,
) -> Result<(Option<OrgStatus>, Membership, usize, bool, Vec<Row>)> {
    let mut stmts = vec![
        Stmt::new(&sql.lock_org_of_mem).bind(mem_uuid, Type::UUID),
        Stmt::new(&sql.membership_context).bind(mem_uuid, Type::UUID),
    ];
    stmts.extend(extra);
    let mut flights = tx.run(&stmts).await?;
    let extra_rows = if flights.len() > 2 {
        flights.pop().unwrap_or_default()
    } else {
        Vec::new()
    };
    let org_status = org_status_of(&flights[0])?;
    let (membership, owners, other_active) = membership_context(&flights[1])?;
    Ok((org_status, membership, owners, other_active, extra_rows))
}

impl PostgresTenancyStore<'_, '_> {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Runs one of the org transitions done with a single conditional update.
    async fn transition_org(
        &self,
        org_id: OrgId,
        transition: OrgTransition,
    ) -> Result<Organization> {
        let (op, target, required) = match transition {
            OrgTransition::Suspend => (Op::SuspendOrg, OrgStatus::Suspended, OrgStatus::Active),
            OrgTransition::Reinstate => (Op::ReinstateOrg, OrgStatus::Active, OrgStatus::Suspended),
            OrgTransition::Revoke => return self.revoke_org_inner(org_id).await,
        };
        let now = self.now();
        let org = org_id.as_uuid();
        let (target, required) = (target.as_str(), required.as_str());
        let sql = &self.sql;
        transact!(self, op, Shape::Single, org_id, |tx| {
            let flights = tx
                .finish(&[
                    Stmt::new(&sql.set_org_status)
                        .bind(&org, Type::UUID)
                        .bind(&target, Type::TEXT)
                        .bind(&now, Type::TIMESTAMPTZ)
                        .bind(&required, Type::TEXT),
                    Stmt::new(&sql.org_status).bind(&org, Type::UUID),
                ])
                .await?;
            match flights[0].first() {
                Some(row) => rows::organization(row, 0),
                None => match org_status_of(&flights[1])? {
                    None => Err(TenancyError::not_found(Entity::Org)),
                    Some(status) => match rules::org_transition(status, transition) {
                        Err(error) => Err(error),
                        // The status changed between the two statements; report it as a
                        // transient conflict so that the pool retries.
                        Ok(_) => Err(guard_disagreed(op)),
                    },
                },
            }
        })
    }

    async fn revoke_org_inner(&self, org_id: OrgId) -> Result<Organization> {
        let now = self.now();
        let org = org_id.as_uuid();
        let sql = &self.sql;
        transact!(self, Op::RevokeOrg, Shape::Transaction, org_id, |tx| {
            let locked = first(
                tx.run(&[Stmt::new(&sql.revoke_org)
                    .bind(&org, Type::UUID)
                    .bind(&now, Type::TIMESTAMPTZ)])
                    .await?,
            );
            match locked.first() {
                None => {
                    let status = org_status_of(&first(
                        tx.run(&[Stmt::new(&sql.org_status).bind(&org, Type::UUID)])
                            .await?,
                    ))?;
                    Err(match status {
                        None => TenancyError::not_found(Entity::Org),
                        Some(_) => TenancyError::AlreadyTerminal {
                            entity: Entity::Org,
                        },
                    })
                }
                Some(row) => {
                    let organization = rows::organization(row, 0)?;
                    tx.finish(&[
                        Stmt::new(&sql.revoke_org_memberships)
                            .bind(&org, Type::UUID)
                            .bind(&now, Type::TIMESTAMPTZ),
                        Stmt::new(&sql.revoke_org_tuples).bind(&org, Type::UUID),
                        Stmt::new(&sql.revoke_org_invitations)
                            .bind(&org, Type::UUID)
                            .bind(&now, Type::TIMESTAMPTZ),
                    ])
                    .await?;
                    Ok(organization)
                }
            }
        })
    }

    async fn list_memberships(&self, listing: MembershipListing<'_>) -> Result<Page<Membership>> {
        let MembershipListing {
            op,
            method_sql,
            owner,
            owner_check,
            owner_entity,
            cursor,
            status,
            role,
            limit,
        } = listing;
        let fetch = (limit + 1) as i64;
        transact!(self, op, Shape::Read, owner, |tx| {
            let flights = tx
                .finish(&[
                    Stmt::new(owner_check).bind(&owner, Type::UUID),
                    Stmt::new(method_sql)
                        .bind(&owner, Type::UUID)
                        .bind(&cursor, Type::UUID)
                        .bind(&status, Type::TEXT)
                        .bind(&fetch, Type::INT8)
                        .bind(&role, Type::TEXT),
                ])
                .await?;
            if flights[0].is_empty() {
                return Err(TenancyError::not_found(owner_entity));
            }
            let rows = flights[1]
                .iter()
                .map(|row| rows::membership(row, 0))
                .collect::<Result<Vec<_>>>()?;
            Ok(rules::paginate(rows, limit, |row| row.id))
        })
    }

    async fn end_invitation(
        &self,
        method: InvitationEnd,
        inv_id: InvId,
        actor: Option<UsrId>,
    ) -> Result<Invitation> {
        let now = self.now();
        let inv = inv_id.as_uuid();
        let actor = actor.map(|id| id.as_uuid());
        let (op, status) = match method {
            InvitationEnd::Decline => (Op::DeclineInvitation, InvitationStatus::Declined.as_str()),
            InvitationEnd::Revoke => (Op::RevokeInvitation, InvitationStatus::Revoked.as_str()),
        };
        // Revoking is an admin's act, decided under the org's lock (org, then invitation, as
        // an acceptance locks them): one flight, `BEGIN` … `COMMIT` with a pool. Declining
        // needs no authority and stays one statement in autocommit.
        let revoke = matches!(method, InvitationEnd::Revoke);
        let shape = if revoke {
            Shape::Transaction
        } else {
            Shape::Single
        };
        let sql = &self.sql;
        transact!(self, op, shape, inv_id, |tx| {
            let mut stmts = Vec::with_capacity(3);
            if revoke {
                stmts.push(Stmt::new(&sql.lock_org_of_inv).bind(&inv, Type::UUID));
            }
            stmts.push(
                Stmt::new(&sql.end_invitation)
                    .bind(&inv, Type::UUID)
                    .bind(&status, Type::TEXT)
                    .bind(&now, Type::TIMESTAMPTZ)
                    .bind(&actor, Type::UUID)
                    .bind(&revoke, Type::BOOL),
            );
            stmts.push(
                Stmt::new(&sql.end_invitation_context)
                    .bind(&inv, Type::UUID)
                    .bind(&actor, Type::UUID),
            );
            let flights = tx.finish(&stmts).await?;
            if tx.answer_lost() {
                // Committed, answer lost; but the guard may have refused the update. The row
                // ended by this call carries its marks: the status, the actor and this call's
                // time. Anything else means nothing but the lock row was written, and the call
                // is made again to learn why.
                let found = tx
                    .reread(&Stmt::new(&sql.get_invitation).bind(&inv, Type::UUID))
                    .await?;
                let row = found
                    .first()
                    .map(|row| rows::invitation(row, 0))
                    .transpose()?;
                return match row {
                    Some(row)
                        if row.status.as_str() == status
                            && row.terminal_at == Some(now)
                            && row.terminal_by.map(|id| id.as_uuid()) == actor =>
                    {
                        Ok(row)
                    }
                    _ => Err(TenancyError::ConnectionLost {
                        source: Box::new(std::io::Error::other(
                            "a lost commit ended no invitation; asking again",
                        )),
                    }),
                };
            }
            let at = usize::from(revoke);
            if let Some(row) = flights.get(at).and_then(|rows| rows.first()) {
                return rows::invitation(row, 0);
            }
            let Some(row) = flights.get(at + 1).and_then(|rows| rows.first()) else {
                return Err(TenancyError::not_found(Entity::Invitation));
            };
            let actor_ok: bool = get(row, 1)?;
            if !actor_ok {
                return Err(TenancyError::not_found(Entity::User));
            }
            let found: &str = get(row, 0)?;
            let found: InvitationStatus =
                found.parse().map_err(|_| corrupt("an invitation status"))?;
            let decided = if revoke {
                let role: Option<&str> = get(row, 2)?;
                let role = role
                    .map(|role| role.parse::<Role>().map_err(|_| corrupt("a role")))
                    .transpose()?;
                rules::check_revoke_invitation(found, role)
            } else if found == InvitationStatus::Pending {
                Ok(())
            } else {
                Err(TenancyError::InvitationNotPending)
            };
            // The guard refused; the rule says why. Should they disagree, the rows changed
            // between the statements: a conflict, never a success.
            Err(decided.err().unwrap_or_else(|| guard_disagreed(op)))
        })
    }
}

/// The error when a statement's guard refused but the rule, asked about what the same flight
/// read, would allow: the call is retried (with a pool) or left to the caller.
fn guard_disagreed(op: Op) -> TenancyError {
    TenancyError::RetryableConflict {
        kind: flametrench_tenancy_core::ConflictKind::SerializationFailure,
        scope: flametrench_tenancy_core::RetryScope::Call,
        source: Box::new(std::io::Error::other(format!(
            "{op}: the statement's guard and the rule disagree"
        ))),
    }
}

/// One page of memberships of an org or of a user.
struct MembershipListing<'a> {
    op: Op,
    method_sql: &'a str,
    owner: Uuid,
    owner_check: &'a str,
    owner_entity: Entity,
    cursor: Option<Uuid>,
    status: Option<&'static str>,
    role: Option<&'static &'static str>,
    limit: usize,
}

#[derive(Clone, Copy)]
enum InvitationEnd {
    Decline,
    Revoke,
}

fn status_text<T: Copy>(status: Option<T>, text: fn(T) -> &'static str) -> Option<&'static str> {
    status.map(text)
}

impl TenancyStore for PostgresTenancyStore<'_, '_> {
    async fn ensure_user(&self, usr_id: UsrId) -> Result<()> {
        let now = self.now();
        let usr = usr_id.as_uuid();
        let sql = &self.sql;
        // Idempotent: a lost answer is resolved by finding the user.
        let created = Some((sql.user_exists.as_str(), &usr, (|| ()) as fn()));
        transact!(self, Op::EnsureUser, Shape::Single, usr_id, created: created, |tx| {
            tx.finish(&[Stmt::new(&sql.ensure_user)
                .bind(&usr, Type::UUID)
                .bind(&now, Type::TIMESTAMPTZ)])
                .await
                .map(|_| ())
        })
    }

    async fn create_org(&self, input: CreateOrg) -> Result<CreateOrgResult> {
        let now = self.now();
        let org_id = OrgId::new();
        let mem_id = MemId::new();
        let tup_id = TupId::new();
        let (org, mem, tup, creator) = (
            org_id.as_uuid(),
            mem_id.as_uuid(),
            tup_id.as_uuid(),
            input.creator.as_uuid(),
        );
        let name = input.name.as_ref().map(|name| name.as_str());
        let slug = input.slug.as_ref().map(|slug| slug.as_str());
        let sql = &self.sql;
        let created = Some((sql.org_exists.as_str(), &org, (|| ()) as fn()));
        transact!(self, Op::CreateOrg, Shape::Single, input.creator, created: created, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.create_org)
                    .bind(&org, Type::UUID)
                    .bind(&name, Type::TEXT)
                    .bind(&slug, Type::TEXT)
                    .bind(&now, Type::TIMESTAMPTZ)
                    .bind(&creator, Type::UUID)
                    .bind(&mem, Type::UUID)
                    .bind(&tup, Type::UUID)])
                    .await?,
            );
            let written: i64 = rows
                .first()
                .map(|row| get(row, 0))
                .transpose()?
                .unwrap_or(0);
            if written == 0 {
                return Err(TenancyError::not_found(Entity::User));
            }
            Ok(())
        })?;
        Ok(CreateOrgResult {
            org: Organization {
                id: org_id,
                name: input.name,
                slug: input.slug,
                status: OrgStatus::Active,
                created_at: now,
                updated_at: now,
            },
            owner_membership: Membership::joined(
                mem_id,
                input.creator,
                org_id,
                Role::Owner,
                None,
                now,
            ),
        })
    }

    async fn get_org(&self, org_id: OrgId) -> Result<Organization> {
        let org = org_id.as_uuid();
        let sql = &self.sql;
        transact!(self, Op::GetOrg, Shape::Read, org_id, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.get_org).bind(&org, Type::UUID)])
                    .await?,
            );
            rows.first()
                .map(|row| rows::organization(row, 0))
                .unwrap_or(Err(TenancyError::not_found(Entity::Org)))
        })
    }

    async fn update_org(&self, input: UpdateOrg) -> Result<Organization> {
        let now = self.now();
        let org = input.org_id.as_uuid();
        let (set_name, name) = match &input.name {
            Patch::Unchanged => (false, None),
            Patch::Clear => (true, None),
            Patch::Set(name) => (true, Some(name.as_str())),
        };
        let (set_slug, slug) = match &input.slug {
            Patch::Unchanged => (false, None),
            Patch::Clear => (true, None),
            Patch::Set(slug) => (true, Some(slug.as_str())),
        };
        let sql = &self.sql;
        transact!(self, Op::UpdateOrg, Shape::Single, input.org_id, |tx| {
            let flights = tx
                .finish(&[
                    Stmt::new(&sql.update_org)
                        .bind(&org, Type::UUID)
                        .bind(&set_name, Type::BOOL)
                        .bind(&name, Type::TEXT)
                        .bind(&set_slug, Type::BOOL)
                        .bind(&slug, Type::TEXT)
                        .bind(&now, Type::TIMESTAMPTZ),
                    Stmt::new(&sql.org_status).bind(&org, Type::UUID),
                ])
                .await?;
            if let Some(row) = flights[0].first() {
                return rows::organization(row, 0);
            }
            Err(match org_status_of(&flights[1])? {
                None => TenancyError::not_found(Entity::Org),
                Some(_) => TenancyError::AlreadyTerminal {
                    entity: Entity::Org,
                },
            })
        })
    }

    async fn list_orgs(&self, input: ListOrgs) -> Result<Page<Organization>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<OrgId>(input.cursor.as_ref())?.map(|id| id.as_uuid());
        let status = status_text(input.status, OrgStatus::as_str);
        let query = input.query.as_ref().map(|query| query.folded());
        let fetch = (limit + 1) as i64;
        let sql = &self.sql;
        transact!(self, Op::ListOrgs, Shape::Read, "all", |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.list_orgs)
                    .bind(&after, Type::UUID)
                    .bind(&status, Type::TEXT)
                    .bind(&query, Type::TEXT)
                    .bind(&fetch, Type::INT8)])
                    .await?,
            );
            let orgs = rows
                .iter()
                .map(|row| rows::organization(row, 0))
                .collect::<Result<Vec<_>>>()?;
            Ok(rules::paginate(orgs, limit, |org| org.id))
        })
    }

    async fn suspend_org(&self, org_id: OrgId) -> Result<Organization> {
        self.transition_org(org_id, OrgTransition::Suspend).await
    }

    async fn reinstate_org(&self, org_id: OrgId) -> Result<Organization> {
        self.transition_org(org_id, OrgTransition::Reinstate).await
    }

    async fn revoke_org(&self, org_id: OrgId) -> Result<Organization> {
        self.transition_org(org_id, OrgTransition::Revoke).await
    }

    async fn add_member(&self, input: AddMember) -> Result<Membership> {
        let now = self.now();
        let mem_id = MemId::new();
        let (org, usr, mem, tup) = (
            input.org_id.as_uuid(),
            input.usr_id.as_uuid(),
            mem_id.as_uuid(),
            TupId::new().as_uuid(),
        );
        let invited_by = input.invited_by.map(|id| id.as_uuid());
        let role = role_text(input.role);
        let sql = &self.sql;
        let created = Some((sql.mem_exists.as_str(), &mem, (|| ()) as fn()));
        transact!(self, Op::AddMember, Shape::Single, input.org_id, created: created, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.add_member)
                    .bind(&org, Type::UUID)
                    .bind(&usr, Type::UUID)
                    .bind(&invited_by, Type::UUID)
                    .bind(role, Type::TEXT)
                    .bind(&mem, Type::UUID)
                    .bind(&tup, Type::UUID)
                    .bind(&now, Type::TIMESTAMPTZ)])
                    .await?,
            );
            let row = rows.first().ok_or_else(|| corrupt("add_member flags"))?;
            let org_status: Option<&str> = get(row, 0)?;
            let usr_ok: bool = get(row, 1)?;
            let inviter_ok: bool = get(row, 2)?;
            let Some(org_status) = org_status else {
                return Err(TenancyError::not_found(Entity::Org));
            };
            if !usr_ok || !inviter_ok {
                return Err(TenancyError::not_found(Entity::User));
            }
            let org_status: OrgStatus = org_status.parse().map_err(|_| corrupt("an org status"))?;
            rules::require_org_active(org_status)?;
            let inserted: i64 = get(row, 3)?;
            if inserted != 1 {
                return Err(corrupt("add_member inserted nothing"));
            }
            Ok(())
        })?;
        Ok(Membership::joined(
            mem_id,
            input.usr_id,
            input.org_id,
            input.role,
            input.invited_by,
            now,
        ))
    }

    async fn get_membership(&self, mem_id: MemId) -> Result<Membership> {
        let mem = mem_id.as_uuid();
        let sql = &self.sql;
        transact!(self, Op::GetMembership, Shape::Read, mem_id, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.get_membership).bind(&mem, Type::UUID)])
                    .await?,
            );
            rows.first()
                .map(|row| rows::membership(row, 0))
                .unwrap_or(Err(TenancyError::not_found(Entity::Membership)))
        })
    }

    async fn list_members(&self, input: ListMembers) -> Result<Page<Membership>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<MemId>(input.cursor.as_ref())?.map(|id| id.as_uuid());
        let status = status_text(input.status, MembershipStatus::as_str);
        self.list_memberships(MembershipListing {
            op: Op::ListMembers,
            method_sql: &self.sql.list_members,
            owner: input.org_id.as_uuid(),
            owner_check: &self.sql.org_exists,
            owner_entity: Entity::Org,
            cursor: after,
            status,
            role: input.role.map(role_text),
            limit,
        })
        .await
    }

    async fn list_memberships_for_user(
        &self,
        input: ListMembershipsForUser,
    ) -> Result<Page<Membership>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<MemId>(input.cursor.as_ref())?.map(|id| id.as_uuid());
        let status = status_text(input.status, MembershipStatus::as_str);
        self.list_memberships(MembershipListing {
            op: Op::ListMembershipsForUser,
            method_sql: &self.sql.list_memberships_for_user,
            owner: input.usr_id.as_uuid(),
            owner_check: &self.sql.user_exists,
            owner_entity: Entity::User,
            cursor: after,
            status,
            role: None,
            limit,
        })
        .await
    }

    async fn change_role(&self, mem_id: MemId, new_role: Role) -> Result<Membership> {
        let mem = mem_id.as_uuid();
        let sql = &self.sql;
        transact!(self, Op::ChangeRole, Shape::Transaction, mem_id, |tx| {
            let (_, membership, owners, _, _) = lock_membership(tx, sql, &mem, None).await?;
            // Stamp rows with the time the org lock was granted, so rows of one org are
            // stamped in the order they are written.
            let now = self.now();
            rules::check_change_role(&membership, new_role, owners)?;
            let rotation = Rotation::new(&membership, new_role, now);
            tx.finish(&[rotation.stmt(sql, &now)]).await?;
            Ok(rotation.new)
        })
    }

    async fn suspend_membership(&self, mem_id: MemId) -> Result<Membership> {
        let mem = mem_id.as_uuid();
        let sql = &self.sql;
        transact!(
            self,
            Op::SuspendMembership,
            Shape::Transaction,
            mem_id,
            |tx| {
                let (_, membership, owners, _, _) = lock_membership(tx, sql, &mem, None).await?;
                // Stamp rows with the time the org lock was granted, so rows of one org are
                // stamped in the order they are written.
                let now = self.now();
                rules::check_suspend_membership(&membership, owners)?;
                let ending = Ending::new(&membership, None, &SUSPENDED);
                tx.finish(&[ending.stmt(sql, &now)]).await?;
                Ok(ended(&membership, MembershipStatus::Suspended, None, now))
            }
        )
    }

    async fn reinstate_membership(&self, mem_id: MemId) -> Result<Membership> {
        let mem = mem_id.as_uuid();
        let sql = &self.sql;
        transact!(
            self,
            Op::ReinstateMembership,
            Shape::Transaction,
            mem_id,
            |tx| {
                let (org_status, membership, _, other_active, _) =
                    lock_membership(tx, sql, &mem, None).await?;
                // Stamp rows with the time the org lock was granted, so rows of one org are
                // stamped in the order they are written.
                let now = self.now();
                let org_status = org_status.ok_or_else(|| corrupt("membership without org"))?;
                rules::check_reinstate_membership(&membership, org_status, other_active)?;
                let tup = TupId::new().as_uuid();
                tx.finish(&[Stmt::new(&sql.reactivate_membership)
                    .bind(&mem, Type::UUID)
                    .bind(&now, Type::TIMESTAMPTZ)
                    .bind(&tup, Type::UUID)])
                    .await?;
                Ok(Membership {
                    status: MembershipStatus::Active,
                    updated_at: now,
                    ..membership
                })
            }
        )
    }

    async fn self_leave(&self, mem_id: MemId, transfer_to: Option<UsrId>) -> Result<Membership> {
        let mem = mem_id.as_uuid();
        let successor_uuid = transfer_to.map(|id| id.as_uuid());
        let sql = &self.sql;
        transact!(self, Op::SelfLeave, Shape::Transaction, mem_id, |tx| {
            let extra = successor_uuid.as_ref().map(|successor| {
                Stmt::new(&sql.active_membership_beside)
                    .bind(&mem, Type::UUID)
                    .bind(successor, Type::UUID)
            });
            let (_, leaver, owners, _, successor_rows) =
                lock_membership(tx, sql, &mem, extra).await?;
            // Stamp rows with the time the org lock was granted, so rows of one org are
            // stamped in the order they are written.
            let now = self.now();
            let successor = successor_rows
                .first()
                .map(|row| rows::membership(row, 0))
                .transpose()?;
            let plan = rules::plan_self_leave(&leaver, transfer_to, owners, successor.as_ref())?;
            let mut stmts: Vec<Stmt<'_>> = Vec::with_capacity(2);
            let rotation = match &plan {
                LeavePlan::PromoteThenLeave(heir) => Some(Rotation::new(heir, Role::Owner, now)),
                LeavePlan::Leave => None,
            };
            if let Some(rotation) = &rotation {
                stmts.push(rotation.stmt(sql, &now));
            }
            let ending = Ending::new(&leaver, None, &REVOKED);
            stmts.push(ending.stmt(sql, &now));
            tx.finish(&stmts).await?;
            Ok(ended(&leaver, MembershipStatus::Revoked, None, now))
        })
    }

    async fn admin_remove(&self, mem_id: MemId, admin_usr_id: UsrId) -> Result<Membership> {
        let mem = mem_id.as_uuid();
        let admin = admin_usr_id.as_uuid();
        let sql = &self.sql;
        transact!(self, Op::AdminRemove, Shape::Transaction, mem_id, |tx| {
            let extra = Stmt::new(&sql.active_membership_beside)
                .bind(&mem, Type::UUID)
                .bind(&admin, Type::UUID);
            let (_, target, _, _, actor_rows) = lock_membership(tx, sql, &mem, Some(extra)).await?;
            // Stamp rows with the time the org lock was granted, so rows of one org are
            // stamped in the order they are written.
            let now = self.now();
            let actor = actor_rows
                .first()
                .map(|row| rows::membership(row, 0))
                .transpose()?;
            rules::check_admin_remove(&target, actor.as_ref())?;
            let ending = Ending::new(&target, Some(admin_usr_id), &REVOKED);
            tx.finish(&[ending.stmt(sql, &now)]).await?;
            Ok(ended(
                &target,
                MembershipStatus::Revoked,
                Some(admin_usr_id),
                now,
            ))
        })
    }

    async fn transfer_ownership(
        &self,
        input: TransferOwnership,
    ) -> Result<TransferOwnershipResult> {
        let org = input.org_id.as_uuid();
        let ids = vec![input.from_mem_id.as_uuid(), input.to_mem_id.as_uuid()];
        let sql = &self.sql;
        transact!(
            self,
            Op::TransferOwnership,
            Shape::Transaction,
            input.org_id,
            |tx| {
                let flights = tx
                    .run(&[
                        Stmt::new(&sql.lock_org).bind(&org, Type::UUID),
                        Stmt::new(&sql.memberships_by_ids).bind(&ids, Type::UUID_ARRAY),
                    ])
                    .await?;
                // Stamp rows with the time the org lock was granted, so rows of one org are
                // stamped in the order they are written.
                let now = self.now();
                if org_status_of(&flights[0])?.is_none() {
                    return Err(TenancyError::not_found(Entity::Org));
                }
                let found = flights[1]
                    .iter()
                    .map(|row| rows::membership(row, 0))
                    .collect::<Result<Vec<_>>>()?;
                let find = |id: MemId| {
                    found
                        .iter()
                        .find(|row| row.id == id)
                        .cloned()
                        .ok_or(TenancyError::not_found(Entity::Membership))
                };
                let from = find(input.from_mem_id)?;
                let to = find(input.to_mem_id)?;
                rules::check_transfer(input.org_id, &from, &to)?;
                let promote = Rotation::new(&to, Role::Owner, now);
                let demote = Rotation::new(&from, Role::Member, now);
                tx.finish(&[promote.stmt(sql, &now), demote.stmt(sql, &now)])
                    .await?;
                Ok(TransferOwnershipResult {
                    from_membership: demote.new,
                    to_membership: promote.new,
                })
            }
        )
    }

    async fn create_invitation(&self, mut input: CreateInvitation) -> Result<Invitation> {
        // `expires_at` is a public field: a value set on it directly is normalized here too,
        // so it never reaches the driver out of range.
        input.expires_at = flametrench_tenancy_core::normalize_timestamp(input.expires_at)?;
        let now = self.now();
        let inv_id = InvId::new();
        let (inv, org, invited_by) = (
            inv_id.as_uuid(),
            input.org_id.as_uuid(),
            input.invited_by.as_uuid(),
        );
        let identifier = input.identifier.as_str();
        let role = role_text(input.role);
        let pre_tuples = rows::pre_tuples_json(&input.pre_tuples);
        // The row's CHECK needs expires_at > created_at; an earlier expiry inserts nothing and
        // is reported by the rules below.
        let expiry_ok = input.expires_at > now;
        let sql = &self.sql;
        let created = Some((sql.inv_exists.as_str(), &inv, (|| ()) as fn()));
        // The org's lock first, then the insert in its own statement (a fresh snapshot, so the
        // inviter's authority is read under the lock): one flight, `BEGIN` … `COMMIT`.
        transact!(
            self,
            Op::CreateInvitation,
            Shape::Transaction,
            input.org_id,
            created: created,
            |tx| {
                let flights = tx
                    .finish(&[
                        Stmt::new(&sql.lock_org).bind(&org, Type::UUID),
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
                    ])
                    .await?;
                if tx.answer_lost() {
                    // The transaction committed, but its guard may have refused the insert:
                    // the row tells. Without it nothing but the lock row was written, and the
                    // call is made again (same ids) to learn why.
                    let found = tx
                        .reread(&Stmt::new(&sql.inv_exists).bind(&inv, Type::UUID))
                        .await?;
                    return if found.is_empty() {
                        Err(TenancyError::ConnectionLost {
                            source: Box::new(std::io::Error::other(
                                "a lost commit wrote no invitation; asking again",
                            )),
                        })
                    } else {
                        Ok(())
                    };
                }
                let row = flights
                    .get(1)
                    .and_then(|rows| rows.first())
                    .ok_or_else(|| corrupt("create_invitation flags"))?;
                let org_status: Option<&str> = get(row, 0)?;
                let inviter_ok: bool = get(row, 1)?;
                let Some(org_status) = org_status else {
                    return Err(TenancyError::not_found(Entity::Org));
                };
                if !inviter_ok {
                    return Err(TenancyError::not_found(Entity::User));
                }
                let org_status: OrgStatus =
                    org_status.parse().map_err(|_| corrupt("an org status"))?;
                rules::check_create_invitation(org_status, input.expires_at, now)?;
                let inviter_role: Option<&str> = get(row, 2)?;
                let inviter_role = inviter_role
                    .map(|role| role.parse::<Role>().map_err(|_| corrupt("a role")))
                    .transpose()?;
                rules::check_inviter(inviter_role, input.role)?;
                let inserted: i64 = get(row, 3)?;
                if inserted != 1 {
                    return Err(guard_disagreed(Op::CreateInvitation));
                }
                Ok(())
            }
        )?;
        Ok(Invitation {
            id: inv_id,
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
        })
    }

    async fn get_invitation(&self, inv_id: InvId) -> Result<Invitation> {
        let inv = inv_id.as_uuid();
        let sql = &self.sql;
        transact!(self, Op::GetInvitation, Shape::Read, inv_id, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.get_invitation).bind(&inv, Type::UUID)])
                    .await?,
            );
            rows.first()
                .map(|row| rows::invitation(row, 0))
                .unwrap_or(Err(TenancyError::not_found(Entity::Invitation)))
        })
    }

    async fn list_invitations(&self, input: ListInvitations) -> Result<Page<Invitation>> {
        let limit = rules::page_limit(input.limit);
        let after = rules::cursor_position::<InvId>(input.cursor.as_ref())?.map(|id| id.as_uuid());
        let status = status_text(input.status, InvitationStatus::as_str);
        let org = input.org_id.as_uuid();
        let fetch = (limit + 1) as i64;
        let sql = &self.sql;
        transact!(self, Op::ListInvitations, Shape::Read, input.org_id, |tx| {
            let flights = tx
                .finish(&[
                    Stmt::new(&sql.org_exists).bind(&org, Type::UUID),
                    Stmt::new(&sql.list_invitations)
                        .bind(&org, Type::UUID)
                        .bind(&after, Type::UUID)
                        .bind(&status, Type::TEXT)
                        .bind(&fetch, Type::INT8),
                ])
                .await?;
            if flights[0].is_empty() {
                return Err(TenancyError::not_found(Entity::Org));
            }
            let rows = flights[1]
                .iter()
                .map(|row| rows::invitation(row, 0))
                .collect::<Result<Vec<_>>>()?;
            Ok(rules::paginate(rows, limit, |row| row.id))
        })
    }

    async fn accept_invitation(&self, input: AcceptInvitation) -> Result<AcceptInvitationResult> {
        let inv = input.inv_id.as_uuid();
        let as_usr = input.as_usr_id.map(|id| id.as_uuid());
        let sql = &self.sql;
        transact!(
            self,
            Op::AcceptInvitation,
            Shape::Transaction,
            input.inv_id,
            |tx| {
                let flights = tx
                    .run(&[
                        Stmt::new(&sql.lock_org_of_inv).bind(&inv, Type::UUID),
                        Stmt::new(&sql.accept_context)
                            .bind(&inv, Type::UUID)
                            .bind(&as_usr, Type::UUID),
                    ])
                    .await?;
                // Stamp rows with the time the org lock was granted, so rows of one org are
                // stamped in the order they are written.
                let now = self.now();
                org_status_of(&flights[0])?;
                let row = flights[1]
                    .first()
                    .ok_or(TenancyError::not_found(Entity::Invitation))?;
                let invitation = rows::invitation(row, 0)?;
                let org_status: &str = get(row, 12)?;
                let user_ok: bool = get(row, 13)?;
                let already_member: bool = get(row, 14)?;
                if !user_ok {
                    return Err(TenancyError::not_found(Entity::User));
                }
                rules::check_accept(
                    &invitation,
                    now,
                    input.as_usr_id,
                    input.accepting_identifier.as_ref(),
                )?;
                let org_status: OrgStatus =
                    org_status.parse().map_err(|_| corrupt("an org status"))?;
                rules::require_org_active(org_status)?;
                if already_member {
                    return Err(TenancyError::DuplicateMembership);
                }
                let subject_id = input.as_usr_id.unwrap_or_else(UsrId::new);
                let mem_id = MemId::new();
                let (subject, mem, org, tup, inviter) = (
                    subject_id.as_uuid(),
                    mem_id.as_uuid(),
                    invitation.org_id.as_uuid(),
                    TupId::new().as_uuid(),
                    Some(invitation.invited_by.as_uuid()),
                );
                let role = role_text(invitation.role);
                let create_user = input.as_usr_id.is_none();
                let pre_ids: Vec<Uuid> = invitation
                    .pre_tuples
                    .iter()
                    .map(|_| TupId::new().as_uuid())
                    .collect();
                let pre_relations: Vec<&str> = invitation
                    .pre_tuples
                    .iter()
                    .map(|pre| pre.relation.as_str())
                    .collect();
                let pre_types: Vec<&str> = invitation
                    .pre_tuples
                    .iter()
                    .map(|pre| pre.object_type.as_str())
                    .collect();
                let pre_objects: Vec<Uuid> = invitation
                    .pre_tuples
                    .iter()
                    .map(|pre| pre.object_id)
                    .collect();
                let rows = first(
                    tx.finish(&[Stmt::new(&sql.accept_writes)
                        .bind(&inv, Type::UUID)
                        .bind(&subject, Type::UUID)
                        .bind(&now, Type::TIMESTAMPTZ)
                        .bind(&create_user, Type::BOOL)
                        .bind(&mem, Type::UUID)
                        .bind(role, Type::TEXT)
                        .bind(&inviter, Type::UUID)
                        .bind(&tup, Type::UUID)
                        .bind(&pre_ids, Type::UUID_ARRAY)
                        .bind(&pre_relations, Type::TEXT_ARRAY)
                        .bind(&pre_types, Type::TEXT_ARRAY)
                        .bind(&pre_objects, Type::UUID_ARRAY)
                        .bind(&org, Type::UUID)])
                        .await?,
                );
                let (accepted, inserted) = if tx.answer_lost() {
                    // The acceptance committed but its answer was lost: the invitation is as
                    // written, and the pre-tuples it inserted are read again by their ids.
                    let found = tx
                        .reread(&Stmt::new(&sql.tuple_ids_among).bind(&pre_ids, Type::UUID_ARRAY))
                        .await?;
                    let inserted = found
                        .iter()
                        .map(|row| get::<Uuid>(row, 0))
                        .collect::<Result<Vec<_>>>()?;
                    let accepted = Invitation {
                        status: InvitationStatus::Accepted,
                        invited_user_id: Some(subject_id),
                        terminal_at: Some(now),
                        terminal_by: Some(subject_id),
                        ..invitation.clone()
                    };
                    (accepted, inserted)
                } else {
                    let row = rows
                        .first()
                        .ok_or_else(|| corrupt("accepted invitation row"))?;
                    (rows::invitation(row, 0)?, get::<Vec<Uuid>>(row, 12)?)
                };
                // The inserted pre-tuples, built from what was bound: every value is known.
                let mut materialized_tuples = Vec::with_capacity(inserted.len());
                for (pre, id) in invitation.pre_tuples.iter().zip(&pre_ids) {
                    if inserted.contains(id) {
                        materialized_tuples.push(Tuple {
                            id: TupId::try_from_uuid(*id)
                                .map_err(|_| corrupt("a generated tuple id"))?,
                            subject_type: EntityType::usr(),
                            subject_id: subject,
                            relation: pre.relation.clone(),
                            object_type: pre.object_type.clone(),
                            object_id: pre.object_id,
                            created_at: now,
                            created_by: Some(invitation.invited_by),
                        });
                    }
                }
                materialized_tuples.sort_by_key(|tuple| tuple.id);
                Ok(AcceptInvitationResult {
                    invitation: accepted,
                    membership: Membership::joined(
                        mem_id,
                        subject_id,
                        invitation.org_id,
                        invitation.role,
                        Some(invitation.invited_by),
                        now,
                    ),
                    materialized_tuples,
                })
            }
        )
    }

    async fn decline_invitation(
        &self,
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
    ) -> Result<Invitation> {
        self.end_invitation(InvitationEnd::Decline, inv_id, as_usr_id)
            .await
    }

    async fn revoke_invitation(&self, inv_id: InvId, admin_usr_id: UsrId) -> Result<Invitation> {
        self.end_invitation(InvitationEnd::Revoke, inv_id, Some(admin_usr_id))
            .await
    }

    async fn list_tuples_for_subject(
        &self,
        subject_type: EntityType,
        subject_id: Uuid,
    ) -> Result<Vec<Tuple>> {
        let kind = subject_type.as_str();
        let sql = &self.sql;
        transact!(
            self,
            Op::ListTuplesForSubject,
            Shape::Read,
            subject_id,
            |tx| {
                let rows = first(
                    tx.finish(&[Stmt::new(&sql.tuples_for_subject)
                        .bind(&kind, Type::TEXT)
                        .bind(&subject_id, Type::UUID)])
                        .await?,
                );
                rows.iter()
                    .map(|row| rows::tuple(row, 0))
                    .collect::<Result<Vec<Tuple>>>()
            }
        )
    }

    async fn active_membership(&self, org_id: OrgId, usr_id: UsrId) -> Result<Option<Membership>> {
        let (org, usr) = (org_id.as_uuid(), usr_id.as_uuid());
        let sql = &self.sql;
        transact!(self, Op::ActiveMembership, Shape::Read, org_id, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.active_membership)
                    .bind(&org, Type::UUID)
                    .bind(&usr, Type::UUID)])
                    .await?,
            );
            rows.first().map(|row| rows::membership(row, 0)).transpose()
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
        let names: Vec<&str> = relations.iter().map(Relation::as_str).collect();
        let (subject_kind, object_kind) = (subject_type.as_str(), object_type.as_str());
        let sql = &self.sql;
        transact!(self, Op::CheckAny, Shape::Read, object_id, |tx| {
            let rows = first(
                tx.finish(&[Stmt::new(&sql.check_any)
                    .bind(&subject_kind, Type::TEXT)
                    .bind(&subject_id, Type::UUID)
                    .bind(&names, Type::TEXT_ARRAY)
                    .bind(&object_kind, Type::TEXT)
                    .bind(&object_id, Type::UUID)])
                    .await?,
            );
            rows.first()
                .map(|row| get::<bool>(row, 0))
                .unwrap_or(Ok(false))
        })
    }

    async fn list_tuples_for_object(
        &self,
        object_type: EntityType,
        object_id: Uuid,
        relation: Option<Relation>,
    ) -> Result<Vec<Tuple>> {
        let kind = object_type.as_str();
        let relation = relation.as_ref().map(|relation| relation.as_str());
        let sql = &self.sql;
        transact!(
            self,
            Op::ListTuplesForObject,
            Shape::Read,
            object_id,
            |tx| {
                let rows = first(
                    tx.finish(&[Stmt::new(&sql.tuples_for_object)
                        .bind(&kind, Type::TEXT)
                        .bind(&object_id, Type::UUID)
                        .bind(&relation, Type::TEXT)])
                        .await?,
                );
                rows.iter()
                    .map(|row| rows::tuple(row, 0))
                    .collect::<Result<Vec<Tuple>>>()
            }
        )
    }
}
