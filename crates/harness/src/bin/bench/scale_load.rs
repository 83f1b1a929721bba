//! The data of `bench scale`: which sizes it measures, the same shapes loaded into the memory
//! store through the SDK and into PostgreSQL with SQL, and the ids the measured calls act on.
//!
//! Every sized org holds one owner, two admins and three suspended members, spread through it
//! in id order, whatever its size: a filtered read returns the same rows at every size, so any
//! growth in its cost is the cost of finding them. The orgs are created after a background of
//! other orgs' memberships, the biggest last, so that a big org's rows come late in id order.

use std::collections::HashMap;

use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AddMember, CreateInvitation, CreateOrg, Identifier, OrgName, Role, Slug, TenancyStore,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, TestPostgres};
use time::OffsetDateTime;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::scale::{Axis, Need, Probe};
use crate::timing::pg_error;
use flametrench_tenancy_core::{MemberAction, OrgAction};

/// Memberships of each background org.
const BACKGROUND_ORG_SIZE: usize = 5;
/// An org of `size` members takes at most `size / WRITE_SHARE` of the measured write calls (at
/// least one): the writes of one run grow it by about a tenth at most (two rows per call at
/// worst), so it stays the size it is measured as. The 10-member orgs take one call each.
const WRITE_SHARE: usize = 20;
/// The smallest size on every axis: two full pages at the page size of 5.
const SMALLEST: usize = 10;
/// The sizes of orgs (in members) below the largest asked for.
const MEMBER_STEPS: [usize; 3] = [SMALLEST, 10_000, 1_000_000];
/// The sizes of installs (in orgs) below the largest asked for. The smallest is 10,000, not
/// 10: PostgreSQL reads a table of a page or two whole, whatever its indexes, so a tiny
/// install would hold the search to one block that no index lookup can match. From 10,000
/// orgs on, a scan costs hundreds of blocks more at each step.
const INSTALL_STEPS: [usize; 3] = [10_000, 100_000, 1_000_000];
/// The memberships of the busiest user, and the invitations of the most-invited org.
const USER_MEMBERSHIPS: usize = 5_000;
const ORG_INVITATIONS: usize = 10_000;
/// The identifier of every invitation loaded or created.
pub(crate) const IDENTIFIER: &str = "scale@example.com";
/// The one org of an install whose name `list_orgs`' query finds.
const RARE_NAME: &str = "Zebra Quokka Ltd";
const RARE_SLUG: &str = "zebra-quokka-ltd";

/// What a run measures: the sizes on each axis and how many write calls each size takes.
pub(crate) struct Shape {
    /// Members of the org the member reads and the writes act on.
    pub(crate) member_sizes: Vec<usize>,
    /// Memberships of the user whose memberships and tuples are read.
    pub(crate) user_sizes: Vec<usize>,
    /// Invitations of the org whose invitations are read.
    pub(crate) invitation_sizes: Vec<usize>,
    /// Orgs in the install `list_orgs` reads (one store or database each).
    pub(crate) org_counts: Vec<usize>,
    /// Orgs of five members created before the sized orgs.
    pub(crate) background_orgs: usize,
    /// Calls of each write at each size, warm-up included: each acts on rows of its own.
    pub(crate) calls: usize,
}

/// `steps` below `max`, then `max`.
fn ladder(steps: &[usize], max: usize) -> Vec<usize> {
    steps
        .iter()
        .copied()
        .filter(|step| *step < max)
        .chain(std::iter::once(max))
        .collect()
}

impl Shape {
    /// The sizes up to `max_members` members and `orgs` orgs, `calls` calls per write and size.
    pub(crate) fn new(max_members: usize, orgs: usize, calls: usize) -> Result<Self, String> {
        if max_members < SMALLEST {
            return Err(format!(
                "--max-members must be at least {SMALLEST}, the smallest org"
            ));
        }
        if orgs <= INSTALL_STEPS[0] {
            return Err(format!(
                "--orgs must exceed {}, the smallest install",
                INSTALL_STEPS[0]
            ));
        }
        let largest_user = max_members.min(USER_MEMBERSHIPS);
        Ok(Self {
            member_sizes: ladder(&MEMBER_STEPS, max_members),
            user_sizes: ladder(&[SMALLEST], largest_user),
            invitation_sizes: ladder(&[SMALLEST], max_members.min(ORG_INVITATIONS)),
            org_counts: ladder(&INSTALL_STEPS, orgs),
            background_orgs: (max_members / BACKGROUND_ORG_SIZE).max(largest_user),
            calls,
        })
    }

    /// The background's memberships.
    pub(crate) fn background_memberships(&self) -> usize {
        self.background_orgs * BACKGROUND_ORG_SIZE
    }

    /// The write calls one org of `size` members takes.
    fn per_org(size: usize) -> usize {
        (size / WRITE_SHARE).max(1)
    }

    /// The orgs of `size` members the writes need (the first is also the one read).
    pub(crate) fn orgs_of(&self, size: usize) -> usize {
        (Probe::write_slots() * self.calls).div_ceil(Self::per_org(size))
    }

    /// The plain members each org of `size` members hands to the writes.
    fn plain_needed(&self, size: usize) -> usize {
        Self::per_org(size).min(Probe::write_slots() * self.calls)
    }

    /// Where each write call at `size` acts, by write slot and call: its org's index among
    /// the orgs of that size, and which of the org's plain members it takes.
    fn sites(&self, size: usize) -> Vec<Vec<(usize, usize)>> {
        let per_org = Self::per_org(size);
        (0..Probe::write_slots())
            .map(|slot| {
                (0..self.calls)
                    .map(|call| {
                        let unit = slot * self.calls + call;
                        (unit / per_org, unit % per_org)
                    })
                    .collect()
            })
            .collect()
    }

    /// Fresh users the writes of one size need (to add, and to accept invitations).
    fn fresh_users(&self) -> usize {
        Probe::writes()
            .filter(|(_, need)| matches!(need, Need::FreshUser | Need::Invitation))
            .count()
            * self.calls
    }
}

/// Five positions spread evenly through `size` rows (at least 10), never the first: where the
/// rare rows of a sized org or install go.
fn spread(size: usize) -> [usize; 5] {
    [1, 2, 3, 4, 5].map(|j| j * size / 6)
}

/// The role of the membership at `position` in an org of `size`, and whether it is suspended:
/// the owner first, two admins and three suspended members spread through it, the rest plain
/// members. Orgs under 10 members (the background) have no rare rows.
fn member_at(size: usize, position: usize) -> (Role, bool) {
    let rare = if size >= SMALLEST {
        spread(size)
    } else {
        [usize::MAX; 5]
    };
    if position == 0 {
        (Role::Owner, false)
    } else if position == rare[1] || position == rare[3] {
        (Role::Admin, false)
    } else {
        (
            Role::Member,
            [rare[0], rare[2], rare[4]].contains(&position),
        )
    }
}

/// Whether the membership at `position` is a plain active member, which writes may act on.
fn is_plain(size: usize, position: usize) -> bool {
    member_at(size, position) == (Role::Member, false)
}

/// The position of the membership a later page continues after, about halfway: at least six
/// rows follow it at every size (at 10, rows 4 to 9), a full page and the row a store reads
/// beyond it to know another page follows, so the later page is never the last one and every
/// size returns and reads the same rows.
fn later_after(size: usize) -> usize {
    size / 2 - 2
}

/// The suspended orgs of an install of `count`, and the position of the one with a rare name.
fn install_rare(count: usize) -> ([usize; 3], usize) {
    let rare = spread(count);
    ([rare[0], rare[2], rare[4]], rare[1])
}

/// What a write call acts on.
#[derive(Clone, Copy)]
pub(crate) enum Unit {
    /// A plain active membership.
    Membership(MemId),
    /// An org and a user: a fresh user to add, or the admin who invites.
    OrgUser(OrgId, UsrId),
    /// A pending invitation and the fresh user who accepts it.
    Invitation(InvId, UsrId),
    /// An org and the plain membership its owner hands ownership to.
    Promotion(OrgId, MemId),
}

/// One org of a member size, as loaded: what the reads and writes take from it.
struct LoadedOrg {
    id: OrgId,
    owner: MemId,
    admin: UsrId,
    plain: Vec<MemId>,
    later: MemId,
}

/// One member size: the org read (and revoked last), and what each write call acts on.
pub(crate) struct MemberSize {
    pub(crate) size: usize,
    /// The first org of this size: the one read.
    pub(crate) org: OrgId,
    /// The membership the later page continues after.
    pub(crate) later: MemId,
    /// Every org of this size and its owner's membership, where the transfers start.
    pub(crate) owners: Vec<(OrgId, MemId)>,
    /// What each write call acts on, by write slot, then call.
    pub(crate) units: Vec<Vec<Unit>>,
}

/// One user size: the user, and the membership a later page continues after.
pub(crate) struct UserSize {
    pub(crate) size: usize,
    pub(crate) user: UsrId,
    pub(crate) later: MemId,
}

/// One invitation size: the org with that many pending invitations.
pub(crate) struct InvitationSize {
    pub(crate) size: usize,
    pub(crate) org: OrgId,
}

/// The ids the measured calls act on, in either store.
pub(crate) struct Handles {
    pub(crate) members: Vec<MemberSize>,
    pub(crate) users: Vec<UserSize>,
    pub(crate) invitations: Vec<InvitationSize>,
    pub(crate) org_counts: Vec<usize>,
}

impl Handles {
    /// The sizes along `axis`, smallest first.
    pub(crate) fn sizes(&self, axis: Axis) -> Vec<usize> {
        match axis {
            Axis::Members => self.members.iter().map(|at| at.size).collect(),
            Axis::UserMemberships => self.users.iter().map(|at| at.size).collect(),
            Axis::Invitations => self.invitations.iter().map(|at| at.size).collect(),
            Axis::Orgs => self.org_counts.clone(),
        }
    }

    /// Every org the writes act on, and its owner's membership.
    pub(crate) fn owners(&self) -> HashMap<OrgId, MemId> {
        self.members
            .iter()
            .flat_map(|at| at.owners.iter().copied())
            .collect()
    }
}

/// A loaded store (or database) of each kind: `main` holds every org, user and invitation
/// but the installs `list_orgs` reads, one per org count.
pub(crate) struct Fixture<S> {
    pub(crate) main: S,
    pub(crate) installs: Vec<S>,
    pub(crate) handles: Handles,
}

impl<S> Fixture<S> {
    /// The store the calls along `axis` at its `at`-th size go to.
    pub(crate) fn store(&self, axis: Axis, at: usize) -> &S {
        match axis {
            Axis::Orgs => &self.installs[at],
            Axis::Members | Axis::UserMemberships | Axis::Invitations => &self.main,
        }
    }
}

/// What the writes of one size act on, once the orgs, fresh users and invitations exist.
fn member_size(
    shape: &Shape,
    size: usize,
    orgs: &[LoadedOrg],
    fresh: Vec<UsrId>,
    invitations: Vec<InvId>,
) -> Result<MemberSize, String> {
    let (mut fresh, mut invitations) = (fresh.into_iter(), invitations.into_iter());
    let missing = || format!("the loader made too few rows for size {size}");
    let mut units = Vec::new();
    for ((_, need), sites) in Probe::writes().zip(shape.sites(size)) {
        let mut slot = Vec::new();
        for (org, row) in sites {
            let org = orgs.get(org).ok_or_else(missing)?;
            let plain = || org.plain.get(row).copied().ok_or_else(missing);
            slot.push(match need {
                Need::Member => Unit::Membership(plain()?),
                Need::Promotee => Unit::Promotion(org.id, plain()?),
                Need::Inviter => Unit::OrgUser(org.id, org.admin),
                Need::FreshUser => Unit::OrgUser(org.id, fresh.next().ok_or_else(missing)?),
                Need::Invitation => Unit::Invitation(
                    invitations.next().ok_or_else(missing)?,
                    fresh.next().ok_or_else(missing)?,
                ),
            });
        }
        units.push(slot);
    }
    let first = orgs.first().ok_or_else(missing)?;
    Ok(MemberSize {
        size,
        org: first.id,
        later: first.later,
        owners: orgs.iter().map(|org| (org.id, org.owner)).collect(),
        units,
    })
}

/// Where the invitations the writes of one size accept are made: each one's org and inviter.
fn invitation_sites(shape: &Shape, size: usize, orgs: &[LoadedOrg]) -> Vec<(OrgId, UsrId)> {
    Probe::writes()
        .zip(shape.sites(size))
        .filter(|((_, need), _)| *need == Need::Invitation)
        .flat_map(|(_, sites)| sites)
        .filter_map(|(org, _)| orgs.get(org).map(|org| (org.id, org.admin)))
        .collect()
}

/// An error's text.
fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// An expiry a month from now.
fn expires() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(30)
}

fn identifier() -> Result<Identifier, String> {
    Identifier::new(IDENTIFIER).map_err(text)
}

// ---------------------------------------------------------------------------------------
// The memory store, built through the SDK.

async fn new_user(store: &InMemoryTenancyStore) -> Result<UsrId, String> {
    let id = UsrId::new();
    store.ensure_user(id).await.map_err(text)?;
    Ok(id)
}

/// An org of `size` members in `store`, in the shape of [`member_at`].
async fn memory_org(
    store: &InMemoryTenancyStore,
    size: usize,
    plain_needed: usize,
) -> Result<LoadedOrg, String> {
    let owner = new_user(store).await?;
    let created = store
        .create_org(CreateOrg::new(owner))
        .await
        .map_err(text)?;
    let org = created.org.id;
    let (mut admin, mut later_id, mut plain) = (None, None, Vec::new());
    for position in 1..size {
        let user = new_user(store).await?;
        let (role, suspended) = member_at(size, position);
        let membership = store
            .add_member(AddMember::new(org, user, role))
            .await
            .map_err(text)?;
        if suspended {
            store
                .suspend_membership(MemberAction::new(membership.id))
                .await
                .map_err(text)?;
        }
        if role == Role::Admin && admin.is_none() {
            admin = Some(user);
        }
        if is_plain(size, position) && plain.len() < plain_needed {
            plain.push(membership.id);
        }
        if position == later_after(size) {
            later_id = Some(membership.id);
        }
    }
    Ok(LoadedOrg {
        id: org,
        owner: created.owner_membership.id,
        admin: admin.ok_or("an org of at least 10 members has an admin")?,
        plain,
        later: later_id.ok_or("an org of at least 10 members has a later page")?,
    })
}

/// The memory store with every shape of `shape`, and one store per install size.
pub(crate) async fn load_memory(shape: &Shape) -> Result<Fixture<InMemoryTenancyStore>, String> {
    let store = InMemoryTenancyStore::new();
    let mut busy = Vec::new();
    for _ in &shape.user_sizes {
        busy.push((new_user(&store).await?, Vec::new()));
    }
    // The background, each busy user joining the orgs spread evenly through it.
    for org_index in 0..shape.background_orgs {
        let owner = new_user(&store).await?;
        let org = store
            .create_org(CreateOrg::new(owner))
            .await
            .map_err(text)?
            .org
            .id;
        for _ in 1..BACKGROUND_ORG_SIZE {
            let member = new_user(&store).await?;
            store
                .add_member(AddMember::new(org, member, Role::Member))
                .await
                .map_err(text)?;
        }
        for ((user, memberships), size) in busy.iter_mut().zip(&shape.user_sizes) {
            if memberships.len() < *size
                && memberships.len() * shape.background_orgs / size == org_index
            {
                let membership = store
                    .add_member(AddMember::new(org, *user, Role::Member))
                    .await
                    .map_err(text)?;
                memberships.push(membership.id);
            }
        }
        let invitation = CreateInvitation::new(org, identifier()?, Role::Member, owner, expires())
            .map_err(text)?;
        store.create_invitation(invitation).await.map_err(text)?;
    }
    let mut users = Vec::new();
    for ((user, mut memberships), size) in busy.into_iter().zip(&shape.user_sizes) {
        memberships.sort();
        let later = *memberships
            .get(later_after(*size))
            .ok_or("a busy user has too few memberships")?;
        users.push(UserSize {
            size: *size,
            user,
            later,
        });
    }
    let mut members = Vec::new();
    for &size in &shape.member_sizes {
        let mut orgs = Vec::new();
        for _ in 0..shape.orgs_of(size) {
            orgs.push(memory_org(&store, size, shape.plain_needed(size)).await?);
        }
        let mut fresh = Vec::new();
        for _ in 0..shape.fresh_users() {
            fresh.push(new_user(&store).await?);
        }
        let mut invitations = Vec::new();
        for (org, inviter) in invitation_sites(shape, size, &orgs) {
            let input = CreateInvitation::new(org, identifier()?, Role::Member, inviter, expires())
                .map_err(text)?;
            invitations.push(store.create_invitation(input).await.map_err(text)?.id);
        }
        members.push(member_size(shape, size, &orgs, fresh, invitations)?);
    }
    let mut invited = Vec::new();
    for &size in &shape.invitation_sizes {
        let owner = new_user(&store).await?;
        let org = store
            .create_org(CreateOrg::new(owner))
            .await
            .map_err(text)?
            .org
            .id;
        for _ in 0..size {
            let input = CreateInvitation::new(org, identifier()?, Role::Member, owner, expires())
                .map_err(text)?;
            store.create_invitation(input).await.map_err(text)?;
        }
        invited.push(InvitationSize { size, org });
    }
    let mut installs = Vec::new();
    for &count in &shape.org_counts {
        installs.push(memory_install(count).await?);
    }
    Ok(Fixture {
        main: store,
        installs,
        handles: Handles {
            members,
            users,
            invitations: invited,
            org_counts: shape.org_counts.clone(),
        },
    })
}

/// An install of `count` named orgs, one with a rare name and three suspended.
async fn memory_install(count: usize) -> Result<InMemoryTenancyStore, String> {
    let store = InMemoryTenancyStore::new();
    let creator = new_user(&store).await?;
    let (suspended, rare) = install_rare(count);
    for position in 0..count {
        let (name, slug) = if position == rare {
            (RARE_NAME.to_owned(), RARE_SLUG.to_owned())
        } else {
            (format!("Org {position:07}"), format!("org-{position:07}"))
        };
        let input = CreateOrg::new(creator)
            .name(OrgName::new(name).map_err(text)?)
            .slug(Slug::new(slug).map_err(text)?);
        let org = store.create_org(input).await.map_err(text)?.org.id;
        if suspended.contains(&position) {
            store.suspend_org(OrgAction::new(org)).await.map_err(text)?;
        }
    }
    Ok(store)
}

// ---------------------------------------------------------------------------------------
// PostgreSQL, loaded with SQL.

/// The loader's functions, in a schema of their own. `id(kind, ms)` is a UUIDv7 as the SDK
/// writes them (48-bit millisecond timestamp, version 7, RFC 4122 variant) whose random bits
/// come from `kind || ms`: every row of one kind gets a millisecond of its own, so ids are
/// unique, deterministic, and in the order rows were loaded.
const FUNCTIONS: &str = "CREATE SCHEMA IF NOT EXISTS ft_scale;
CREATE OR REPLACE FUNCTION ft_scale.id(kind text, ms bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(kind || ms), 1, 3) || '8'
                  || substr(md5(kind || ms), 4, 15))::uuid $$;
CREATE OR REPLACE FUNCTION ft_scale.at(ms bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_timestamp(ms / 1000.0) $$;";

/// The role of row `n % $3` of an org group, as [`member_at`] ($4: the admins' positions).
const ROLE_AT: &str = "CASE WHEN n % $3 = 0 THEN 'owner' WHEN n % $3 = ANY($4::int8[]) \
     THEN 'admin' ELSE 'member' END";

/// An org group: $1 first millisecond, $2 orgs, $3 members each, then for the memberships and
/// tuples $4 the admins' positions and $5 the suspended members' positions. Row `n` (org
/// `n / $3`, position `n % $3`) is stamped at millisecond `$1 + n`; an org shares the
/// millisecond of its owner's row. One membership tuple per active membership, as the SDK
/// keeps them. Each statement with the number of parameters it takes.
fn group_statements() -> [(String, usize); 4] {
    [
        (
            "INSERT INTO org (id, status, created_at, updated_at) \
             SELECT ft_scale.id('o', ms), 'active', ft_scale.at(ms), ft_scale.at(ms) \
             FROM generate_series(0::int8, $2::int8 - 1) g, LATERAL (SELECT $1 + g * $3 AS ms) x"
                .to_owned(),
            3,
        ),
        (
            "INSERT INTO usr (id, status, created_at, updated_at) \
             SELECT ft_scale.id('u', $1 + n), 'active', ft_scale.at($1 + n), ft_scale.at($1 + n) \
             FROM generate_series(0::int8, $2::int8 * $3::int8 - 1) n"
                .to_owned(),
            3,
        ),
        (
            format!(
                "INSERT INTO mem (id, usr_id, org_id, role, status, created_at, updated_at) \
                 SELECT ft_scale.id('m', $1 + n), ft_scale.id('u', $1 + n), \
                        ft_scale.id('o', $1 + n - n % $3), {ROLE_AT}, \
                        CASE WHEN n % $3 = ANY($5::int8[]) THEN 'suspended' ELSE 'active' END, \
                        ft_scale.at($1 + n), ft_scale.at($1 + n) \
                 FROM generate_series(0::int8, $2::int8 * $3::int8 - 1) n"
            ),
            5,
        ),
        (
            format!(
                "INSERT INTO tup (id, subject_type, subject_id, relation, object_type, object_id, \
                                  created_at, created_by) \
                 SELECT ft_scale.id('t', $1 + n), 'usr', ft_scale.id('u', $1 + n), {ROLE_AT}, \
                        'org', ft_scale.id('o', $1 + n - n % $3), ft_scale.at($1 + n), \
                        CASE WHEN n % $3 = 0 THEN ft_scale.id('u', $1 + n) END \
                 FROM generate_series(0::int8, $2::int8 * $3::int8 - 1) n \
                 WHERE NOT (n % $3 = ANY($5::int8[]))"
            ),
            5,
        ),
    ]
}

/// Hands out the milliseconds rows are stamped with, in load order, starting a day ago: the
/// order of the ids is the order of loading.
struct Stamps(i64);

impl Stamps {
    fn take(&mut self, rows: usize) -> i64 {
        let first = self.0;
        self.0 += rows as i64;
        first
    }
}

/// Loads `orgs` orgs of `size` members stamped from `first` on.
async fn load_group(client: &Client, first: i64, orgs: usize, size: usize) -> Result<(), String> {
    let (admins, suspended): (Vec<i64>, Vec<i64>) = if size >= SMALLEST {
        let rare = spread(size).map(|position| position as i64);
        (vec![rare[1], rare[3]], vec![rare[0], rare[2], rare[4]])
    } else {
        (Vec::new(), Vec::new())
    };
    let (orgs, size) = (orgs as i64, size as i64);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&first, &orgs, &size, &admins, &suspended];
    for (statement, taken) in group_statements() {
        client
            .execute(&statement, &params[..taken])
            .await
            .map_err(pg_error)?;
    }
    Ok(())
}

/// The ids `ft_scale.id` gives each `(kind, ms)`, in order.
async fn ids(client: &Client, wanted: &[(String, i64)]) -> Result<Vec<Uuid>, String> {
    let (kinds, stamps): (Vec<String>, Vec<i64>) = wanted.iter().cloned().unzip();
    let rows = client
        .query(
            "SELECT ft_scale.id(kind, ms) AS id FROM unnest($1::text[], $2::int8[]) \
             WITH ORDINALITY AS x(kind, ms, n) ORDER BY n",
            &[&kinds, &stamps],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|row| row.try_get("id").map_err(pg_error))
        .collect()
}

/// A typed id from a loaded uuid.
fn typed<T>(
    uuid: Uuid,
    convert: fn(Uuid) -> Result<T, flametrench_ids::IdError>,
) -> Result<T, String> {
    convert(uuid).map_err(text)
}

/// The orgs of a group loaded from `first`, as [`LoadedOrg`]s.
async fn loaded_orgs(
    client: &Client,
    first: i64,
    orgs: usize,
    size: usize,
    plain_needed: usize,
) -> Result<Vec<LoadedOrg>, String> {
    let plain: Vec<usize> = (1..size)
        .filter(|position| is_plain(size, *position))
        .take(plain_needed)
        .collect();
    let admin = spread(size)[1];
    let mut wanted = Vec::new();
    for org in 0..orgs {
        let at = first + (org * size) as i64;
        wanted.push(("o".to_owned(), at));
        wanted.push(("m".to_owned(), at));
        wanted.push(("u".to_owned(), at + admin as i64));
        wanted.push(("m".to_owned(), at + later_after(size) as i64));
        wanted.extend(plain.iter().map(|p| ("m".to_owned(), at + *p as i64)));
    }
    let found = ids(client, &wanted).await?;
    found
        .chunks(4 + plain.len())
        .map(|chunk| match chunk {
            [org, owner, admin, later, plain @ ..] => Ok(LoadedOrg {
                id: typed(*org, OrgId::try_from_uuid)?,
                owner: typed(*owner, MemId::try_from_uuid)?,
                admin: typed(*admin, UsrId::try_from_uuid)?,
                later: typed(*later, MemId::try_from_uuid)?,
                plain: plain
                    .iter()
                    .map(|id| typed(*id, MemId::try_from_uuid))
                    .collect::<Result<_, _>>()?,
            }),
            _ => Err("ft_scale.id returned too few ids".to_owned()),
        })
        .collect()
}

/// Loads `shape` into `client`'s database (migrated, empty), as [`load_memory`] builds it.
async fn load_main(client: &Client, shape: &Shape) -> Result<Handles, String> {
    client.batch_execute(FUNCTIONS).await.map_err(pg_error)?;
    // The rows are consistent by construction: skip the foreign-key triggers (superuser only;
    // elsewhere they run, slower).
    let _ = client
        .batch_execute("SET session_replication_role = replica")
        .await;
    let day_ago = OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut stamps = Stamps((day_ago.unix_timestamp_nanos() / 1_000_000) as i64);
    let background = stamps.take(shape.background_memberships());
    load_background(client, shape, background).await?;
    let mut users = Vec::new();
    for (index, &size) in shape.user_sizes.iter().enumerate() {
        users.push(load_busy_user(client, shape, background, index, size).await?);
    }
    let mut members = Vec::new();
    for &size in &shape.member_sizes {
        members.push(load_member_size(client, shape, &mut stamps, size).await?);
    }
    let mut invitations = Vec::new();
    for &size in &shape.invitation_sizes {
        let org = load_invited_org(client, &mut stamps, size).await?;
        invitations.push(InvitationSize { size, org });
    }
    client
        .batch_execute("RESET session_replication_role")
        .await
        .map_err(pg_error)?;
    // Alone: VACUUM never runs inside a multi-statement string.
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .map_err(pg_error)?;
    Ok(Handles {
        members,
        users,
        invitations,
        org_counts: shape.org_counts.clone(),
    })
}

/// The background from millisecond `first` on: orgs of five members, each with one pending
/// invitation from its owner.
async fn load_background(client: &Client, shape: &Shape, first: i64) -> Result<(), String> {
    load_group(client, first, shape.background_orgs, BACKGROUND_ORG_SIZE).await?;
    client
        .execute(
            "INSERT INTO inv (id, org_id, identifier, role, status, pre_tuples, invited_by, \
                              created_at, expires_at) \
             SELECT ft_scale.id('i', ms), ft_scale.id('o', ms), $3, 'member', 'pending', '[]', \
                    ft_scale.id('u', ms), ft_scale.at(ms), ft_scale.at(ms) + interval '30 days' \
             FROM generate_series(0::int8, $2::int8 - 1) g, LATERAL (SELECT $1 + g * $4 AS ms) x",
            &[
                &first,
                &(shape.background_orgs as i64),
                &IDENTIFIER,
                &(BACKGROUND_ORG_SIZE as i64),
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// The `index`-th busy user, with `size` memberships: it joins background orgs spread evenly
/// through the background (the orgs `load_memory` has it join), each membership stamped as its
/// org's last row, so that they are scattered through the table in id order. Its own row is of
/// kind `hu`, stamped inside the background's range; its memberships' kind is `h<index>m`,
/// their tuples' the same with a `t` after it.
async fn load_busy_user(
    client: &Client,
    shape: &Shape,
    background: i64,
    index: usize,
    size: usize,
) -> Result<UserSize, String> {
    let user_at = background + index as i64;
    let mem_kind = format!("h{index}m");
    client
        .batch_execute(&format!(
            "INSERT INTO usr (id, status, created_at, updated_at) \
             VALUES (ft_scale.id('hu', {user_at}), 'active', ft_scale.at({user_at}), \
                     ft_scale.at({user_at}))"
        ))
        .await
        .map_err(pg_error)?;
    // Membership `j` joins background org `j * orgs / size`, whose first row is `ms - last`.
    let last = BACKGROUND_ORG_SIZE - 1;
    let joined = format!(
        "FROM generate_series(0::int8, $2::int8 - 1) j, \
         LATERAL (SELECT $1 + (j * $3 / $2) * {BACKGROUND_ORG_SIZE} + {last} AS ms) x"
    );
    let statements = [
        format!(
            "INSERT INTO mem (id, usr_id, org_id, role, status, created_at, updated_at) \
             SELECT ft_scale.id($4, ms), ft_scale.id('hu', $5), ft_scale.id('o', ms - {last}), \
                    'member', 'active', ft_scale.at(ms), ft_scale.at(ms) {joined}"
        ),
        format!(
            "INSERT INTO tup (id, subject_type, subject_id, relation, object_type, object_id, \
                              created_at, created_by) \
             SELECT ft_scale.id($4 || 't', ms), 'usr', ft_scale.id('hu', $5), 'member', 'org', \
                    ft_scale.id('o', ms - {last}), ft_scale.at(ms), NULL {joined}"
        ),
    ];
    let orgs = shape.background_orgs as i64;
    for statement in statements {
        client
            .execute(
                &statement,
                &[&background, &(size as i64), &orgs, &mem_kind, &user_at],
            )
            .await
            .map_err(pg_error)?;
    }
    let later_org = (later_after(size) * shape.background_orgs / size) as i64;
    let later_at = background + later_org * BACKGROUND_ORG_SIZE as i64 + last as i64;
    let found = ids(client, &[("hu".to_owned(), user_at), (mem_kind, later_at)]).await?;
    let [user, later] = found[..] else {
        return Err("ft_scale.id returned too few ids".into());
    };
    Ok(UserSize {
        size,
        user: typed(user, UsrId::try_from_uuid)?,
        later: typed(later, MemId::try_from_uuid)?,
    })
}

/// The orgs of `size` members the reads and writes act on, and the fresh users and pending
/// invitations the writes need (ids from the SDK's generator: stamped now, after every row
/// loaded).
async fn load_member_size(
    client: &Client,
    shape: &Shape,
    stamps: &mut Stamps,
    size: usize,
) -> Result<MemberSize, String> {
    let orgs = shape.orgs_of(size);
    let first = stamps.take(orgs * size);
    load_group(client, first, orgs, size).await?;
    let loaded = loaded_orgs(client, first, orgs, size, shape.plain_needed(size)).await?;
    let fresh: Vec<UsrId> = (0..shape.fresh_users()).map(|_| UsrId::new()).collect();
    let fresh_ids: Vec<Uuid> = fresh.iter().map(UsrId::as_uuid).collect();
    client
        .execute(
            "INSERT INTO usr (id, status, created_at, updated_at) \
             SELECT id, 'active', now(), now() FROM unnest($1::uuid[]) id",
            &[&fresh_ids],
        )
        .await
        .map_err(pg_error)?;
    let sites = invitation_sites(shape, size, &loaded);
    let invitations: Vec<InvId> = sites.iter().map(|_| InvId::new()).collect();
    let invitation_ids: Vec<Uuid> = invitations.iter().map(InvId::as_uuid).collect();
    let (orgs_of, inviters): (Vec<Uuid>, Vec<Uuid>) = sites
        .iter()
        .map(|(org, inviter)| (org.as_uuid(), inviter.as_uuid()))
        .unzip();
    client
        .execute(
            "INSERT INTO inv (id, org_id, identifier, role, status, pre_tuples, invited_by, \
                              created_at, expires_at) \
             SELECT id, org_id, $4, 'member', 'pending', '[]', invited_by, now(), \
                    now() + interval '30 days' \
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS x(id, org_id, invited_by)",
            &[&invitation_ids, &orgs_of, &inviters, &IDENTIFIER],
        )
        .await
        .map_err(pg_error)?;
    member_size(shape, size, &loaded, fresh, invitations)
}

/// An org with an owner and `size` pending invitations from it.
async fn load_invited_org(
    client: &Client,
    stamps: &mut Stamps,
    size: usize,
) -> Result<OrgId, String> {
    let org_at = stamps.take(1);
    load_group(client, org_at, 1, 1).await?;
    let first = stamps.take(size);
    client
        .execute(
            "INSERT INTO inv (id, org_id, identifier, role, status, pre_tuples, invited_by, \
                              created_at, expires_at) \
             SELECT ft_scale.id('i', $1 + j), ft_scale.id('o', $2), $4, 'member', 'pending', \
                    '[]', ft_scale.id('u', $2), ft_scale.at($1 + j), \
                    ft_scale.at($1 + j) + interval '30 days' \
             FROM generate_series(0::int8, $3::int8 - 1) j",
            &[&first, &org_at, &(size as i64), &IDENTIFIER],
        )
        .await
        .map_err(pg_error)?;
    let found = ids(client, &[("o".to_owned(), org_at)]).await?;
    let org = found.first().ok_or("ft_scale.id returned no id")?;
    typed(*org, OrgId::try_from_uuid)
}

/// Loads an install of `count` named orgs, one with a rare name and three suspended.
async fn load_install(client: &Client, count: usize) -> Result<(), String> {
    let (suspended, rare) = install_rare(count);
    let suspended: Vec<i64> = suspended.iter().map(|p| *p as i64).collect();
    let day_ago = OffsetDateTime::now_utc() - time::Duration::days(1);
    let first = (day_ago.unix_timestamp_nanos() / 1_000_000) as i64;
    client.batch_execute(FUNCTIONS).await.map_err(pg_error)?;
    client
        .execute(
            "INSERT INTO org (id, status, name, slug, created_at, updated_at) \
             SELECT ft_scale.id('o', $1 + g), \
                    CASE WHEN g = ANY($3::int8[]) THEN 'suspended' ELSE 'active' END, \
                    CASE WHEN g = $4 THEN $5 ELSE 'Org ' || lpad(g::text, 7, '0') END, \
                    CASE WHEN g = $4 THEN $6 ELSE 'org-' || lpad(g::text, 7, '0') END, \
                    ft_scale.at($1 + g), ft_scale.at($1 + g) \
             FROM generate_series(0::int8, $2::int8 - 1) g",
            &[
                &first,
                &(count as i64),
                &suspended,
                &(rare as i64),
                &RARE_NAME,
                &RARE_SLUG,
            ],
        )
        .await
        .map_err(pg_error)?;
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// A fresh migrated database on `server` and a client to it.
async fn database(server: &TestPostgres) -> Result<(TestDatabase, Client), String> {
    let database = server.fresh_database().await.map_err(text)?;
    let client = database.connect().await.map_err(text)?;
    Ok((database, client))
}

/// PostgreSQL with every shape of `shape`: one database with the member, user and invitation
/// sizes, one per install size. Each store has a pool of one connection: the calls are made
/// one at a time, and each statement is prepared once on it.
pub(crate) async fn load_postgres(
    server: &TestPostgres,
    shape: &Shape,
) -> Result<Fixture<PostgresTenancyStore<'static, 'static>>, String> {
    let (main, client) = database(server).await?;
    let handles = load_main(&client, shape).await?;
    let mut installs = Vec::new();
    for &count in &shape.org_counts {
        let (install, client) = database(server).await?;
        load_install(&client, count).await?;
        installs.push(PostgresTenancyStore::new(install.pool(1).map_err(text)?));
    }
    Ok(Fixture {
        main: PostgresTenancyStore::new(main.pool(1).map_err(text)?),
        installs,
        handles,
    })
}
