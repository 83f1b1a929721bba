//! The rows and indexes of the in-memory store, and the mutations that keep them consistent.
//!
//! # Compact membership rows
//!
//! Memberships are most of a store's memory: every one is kept, ended rows too, as history. So
//! they are not stored as [`Membership`] values but as [`MemRow`]s, which name the user, the
//! org, the predecessor, the inviter, the remover and the mirrored tuple's creator by `u32`
//! indexes instead of 16-byte ids:
//!
//! - users and orgs are interned ([`Interner`]): the first id seen gets index 0, the next 1,
//!   and the interner maps both ways;
//! - a predecessor is named by its position in [`Rows`], where rows are only appended, so a
//!   position is a stable handle;
//! - the ordered indexes are keyed by `(owner index, membership id)` ([`Key`], 20 bytes where
//!   two ids take 32) and the active map by `(user index, org index)` (8 bytes where two ids
//!   take 32), its values row positions (4 bytes where an id takes 16).
//!
//! A row is 108 bytes, the mirrored tuple's id, time and creator included; a `Membership`
//! alone is 136, and 188 with those tuple fields. The store measures about 280 heap bytes per
//! membership, indexes included (BENCHMARKS.md): `Membership` values would add some 80 bytes a
//! row, and id-keyed indexes more. Reads turn rows back into values (`materialize`,
//! `tuple_of`).
//!
//! # Flat reads
//!
//! Paged reads range over an ordered index from their cursor and stop after `limit + 1` rows,
//! so a page costs O(log n + page) however large the org, user or object. Filters are indexes
//! too, not scans: [`FilterKey`] orders an org's rows by status and role (an entry of 28 bytes
//! a row, before the B-tree's own overhead), the mirrored tuples of active rows are indexed by
//! user and by org and role in tuple id order (entries of 24 and 28 bytes an active row), orgs
//! by status, and invitations by org and status. A read whose filter leaves several ranges (a
//! status without a role, a role without a status, an object's tuples across relations)
//! merges them in id order ([`merge_sorted`]), reading at most one row per range beyond the
//! page. Two filters still read row by row, with their bound documented where they are read:
//! `list_orgs`'s `query` (every org after the cursor until the page fills) and
//! `list_memberships_for_user`'s `status` (at most the user's memberships after the cursor).
//! The 280 bytes per membership above were measured before these indexes.
//!
//! # Hashing
//!
//! User ids are chosen by the adopter and may come from untrusted input, so the hash maps must
//! resist hash flooding: without the seed, nobody can pick many keys that collide (which would
//! turn every insert and lookup into a scan). The maps keyed by ids, indexes and tuple keys
//! ([`IdMap`]) use foldhash's `RandomState`, with a seed drawn once per process (from
//! address-space randomization, the clock and a heap address) and one per map. No caller sees a
//! hash value or a map's iteration order (every listing the store returns comes from an ordered
//! index or is sorted first), so the seed cannot be learnt from the store's answers. The slug
//! index stays on std's SipHash, whose keys come from the operating system: only a create or
//! update that sets a slug touches it.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::ops::Bound;

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::{
    EntityType, Invitation, InvitationStatus, Membership, MembershipStatus, OrgName, OrgQuery,
    OrgStatus, Organization, Relation, Role, Slug, Snapshot, Tuple,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// A hash map keyed by ids, dense indexes or tuple keys, with foldhash and a random seed.
pub(crate) type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A dense index into one of the state's tables.
type Ix = u32;

/// "No row": the index of an absent inviter, remover, predecessor or tuple creator. A sentinel
/// rather than `Option<Ix>`, which is twice the size: [`Links`] would grow from 24 bytes to 40.
const NONE: Ix = Ix::MAX;

/// Dense indexes for ids: the first id interned gets 0, the next 1, and so on.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    /// The ids, by index.
    ids: Vec<T>,
    /// The index of each id.
    index: IdMap<T, Ix>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            index: IdMap::default(),
        }
    }
}

impl<T: Copy + Eq + Hash> Interner<T> {
    fn get(&self, id: &T) -> Option<Ix> {
        self.index.get(id).copied()
    }

    fn contains(&self, id: &T) -> bool {
        self.index.contains_key(id)
    }

    /// The index of `id`, given the next free one if it is new. An index fits in `u32` (below
    /// [`NONE`]): four billion users or orgs would take hundreds of gigabytes first.
    fn intern(&mut self, id: T) -> Ix {
        let ids = &mut self.ids;
        *self.index.entry(id).or_insert_with(|| {
            ids.push(id);
            (ids.len() - 1) as Ix
        })
    }

    fn id(&self, ix: Ix) -> Option<T> {
        self.ids.get(ix as usize).copied()
    }
}

/// A key of the ordered membership indexes: the owning user or org, then the membership id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    owner: Ix,
    mem: MemId,
}

impl Key {
    fn new(owner: Ix, mem: MemId) -> Self {
        Self { owner, mem }
    }
}

/// A key of the filtered membership index: the org, the row's status and role, then the
/// membership id, so that the rows of one (status, role) of an org are one range in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct FilterKey {
    org: Ix,
    status: MembershipStatus,
    role: Role,
    mem: MemId,
}

/// A tuple found in an index, before it is read: an explicit tuple (in `State::tuples`) or
/// the tuple mirroring an active membership row.
#[derive(Debug, Clone, Copy)]
enum TupleRef {
    Explicit(TupId),
    Mirrored(TupId, Ix),
}

impl TupleRef {
    fn id(&self) -> TupId {
        match *self {
            Self::Explicit(id) | Self::Mirrored(id, _) => id,
        }
    }
}

/// A boxed stream of index entries, for [`merge_sorted`].
type Stream<'a, T> = Box<dyn Iterator<Item = T> + 'a>;

/// Merges `streams`, each sorted by `key`, into the first `take` items in `key` order. It reads
/// at most `take` items, plus the head of each stream it compares: at most
/// `take + streams.len()`.
fn merge_sorted<T, K: Ord>(
    streams: Vec<Stream<'_, T>>,
    key: impl Fn(&T) -> K,
    take: usize,
) -> Vec<T> {
    let mut streams: Vec<_> = streams.into_iter().map(Iterator::peekable).collect();
    let mut merged = Vec::new();
    while merged.len() < take {
        let next = streams
            .iter_mut()
            .enumerate()
            .filter_map(|(at, stream)| stream.peek().map(|item| (key(item), at)))
            .min()
            .map(|(_, at)| at);
        match next.and_then(|at| streams[at].next()) {
            Some(item) => merged.push(item),
            None => break,
        }
    }
    merged
}

/// The start of a keyset range: just after `after`, or at `first` for the first page.
fn start_after<K>(after: Option<K>, first: K) -> Bound<K> {
    match after {
        Some(after) => Bound::Excluded(after),
        None => Bound::Included(first),
    }
}

/// One membership and the tuple that mirrors it while it is active (`tuple_id`, `tuple_at`,
/// and `links.tuple_by` mean something only then).
#[derive(Debug, Clone)]
pub(crate) struct MemRow {
    id: MemId,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    tuple_id: TupId,
    tuple_at: OffsetDateTime,
    links: Links,
    role: Role,
    status: MembershipStatus,
}

/// The users, org and row a membership row refers to, as indexes.
#[derive(Debug, Clone, Copy)]
struct Links {
    /// The member, in `State::users`.
    usr: Ix,
    /// The org, in `State::org_ix`.
    org: Ix,
    /// The row this one replaces, in `State::rows`, or [`NONE`].
    replaces: Ix,
    /// The inviter, or [`NONE`].
    invited_by: Ix,
    /// The remover, or [`NONE`].
    removed_by: Ix,
    /// The creator of the mirrored tuple, or [`NONE`].
    tuple_by: Ix,
}

/// Rows per chunk of [`Rows`] once the first chunk is full.
const CHUNK: usize = 1 << 13;

/// The membership rows, in insertion order, in chunks of [`CHUNK`] rows. A single `Vec` would
/// copy every row each time it doubles (at a million rows one insert would copy about 100 MB
/// while holding the store's lock) and leave up to half its capacity unused. Here only the
/// first chunk grows by doubling, so a small store stays small; every later chunk is allocated
/// at its full size once and never moves.
#[derive(Debug, Default)]
struct Rows {
    chunks: Vec<Vec<MemRow>>,
    len: usize,
}

impl Rows {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, ix: usize) -> Option<&MemRow> {
        self.chunks.get(ix / CHUNK)?.get(ix % CHUNK)
    }

    fn get_mut(&mut self, ix: usize) -> Option<&mut MemRow> {
        self.chunks.get_mut(ix / CHUNK)?.get_mut(ix % CHUNK)
    }

    fn push(&mut self, row: MemRow) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(row),
            _ => {
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() { 0 } else { CHUNK });
                chunk.push(row);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &MemRow> {
        self.chunks.iter().flatten()
    }
}

/// The natural key of a tuple.
pub(crate) type TupleKey = (EntityType, Uuid, Relation, EntityType, Uuid);

/// Everything the store holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Every known user: added by `add_user`, or named by a membership written.
    users: Interner<UsrId>,
    /// Written through `insert_org`, `set_org_status` and `update_org_fields`, which keep
    /// `orgs_by_status` in step.
    orgs: BTreeMap<OrgId, Organization>,
    /// Every org by status, in id order within each status.
    orgs_by_status: BTreeSet<(OrgStatus, OrgId)>,
    /// The orgs that have had a membership.
    org_ix: Interner<OrgId>,
    pub(crate) slugs: HashMap<Slug, OrgId>,
    rows: Rows,
    /// Membership id to row.
    mem_ix: IdMap<MemId, Ix>,
    /// Every row of an org, in membership id order.
    by_org: BTreeMap<Key, Ix>,
    /// Every row of a user, in membership id order.
    by_user: BTreeMap<Key, Ix>,
    /// Every row of an org by status and role, in membership id order within each.
    by_org_filter: BTreeMap<FilterKey, Ix>,
    /// The tuple of every active row by user, in tuple id order.
    mirrored_by_user: BTreeMap<(Ix, TupId), Ix>,
    /// The tuple of every active row by org and role (its relation), in tuple id order.
    mirrored_by_org: BTreeMap<(Ix, Role, TupId), Ix>,
    /// `(user, org)` to the row of the user's active membership there.
    active: IdMap<(Ix, Ix), Ix>,
    /// Org to the number of its active owner rows.
    active_owners: IdMap<Ix, usize>,
    /// Written through `insert_invitation`, which keeps the two indexes below in step.
    invitations: IdMap<InvId, Invitation>,
    /// Every invitation of an org, in id order.
    org_invitations: BTreeSet<(OrgId, InvId)>,
    /// Every invitation of an org by status, in id order within each status.
    org_invitations_by_status: BTreeSet<(OrgId, InvitationStatus, InvId)>,
    /// Tuples that do not mirror a membership (pre-tuple grants).
    pub(crate) tuples: BTreeMap<TupId, Tuple>,
    /// Natural keys of the explicit tuples.
    pub(crate) tuple_keys: IdMap<TupleKey, TupId>,
    pub(crate) by_subject: BTreeSet<(EntityType, Uuid, TupId)>,
    pub(crate) by_object: BTreeSet<(EntityType, Uuid, TupId)>,
    /// The explicit tuples by object and relation, so that a page of one relation never reads
    /// the object's other relations.
    by_object_relation: BTreeSet<(EntityType, Uuid, Relation, TupId)>,
}

fn key_of(tuple: &Tuple) -> TupleKey {
    (
        tuple.subject_type.clone(),
        tuple.subject_id,
        tuple.relation.clone(),
        tuple.object_type.clone(),
        tuple.object_id,
    )
}

fn optional(ix: Option<Ix>) -> Ix {
    ix.unwrap_or(NONE)
}

impl State {
    // --- users -------------------------------------------------------------------------

    pub(crate) fn has_user(&self, usr: UsrId) -> bool {
        self.users.contains(&usr)
    }

    pub(crate) fn add_user(&mut self, usr: UsrId) {
        self.users.intern(usr);
    }

    // --- orgs ----------------------------------------------------------------------------

    pub(crate) fn org(&self, org: OrgId) -> Option<&Organization> {
        self.orgs.get(&org)
    }

    /// Stores a new org (or replaces one), keeping the status index in step.
    pub(crate) fn insert_org(&mut self, org: Organization) {
        if let Some(old) = self.orgs.get(&org.id) {
            self.orgs_by_status.remove(&(old.status, old.id));
        }
        self.orgs_by_status.insert((org.status, org.id));
        self.orgs.insert(org.id, org);
    }

    /// Moves an org to `status` at `now`, keeping the status index in step.
    pub(crate) fn set_org_status(
        &mut self,
        org: OrgId,
        status: OrgStatus,
        now: OffsetDateTime,
    ) -> Option<Organization> {
        let row = self.orgs.get_mut(&org)?;
        self.orgs_by_status.remove(&(row.status, org));
        row.status = status;
        row.updated_at = now;
        self.orgs_by_status.insert((status, org));
        Some(row.clone())
    }

    /// Sets an org's name and slug at `now` (no index covers them).
    pub(crate) fn update_org_fields(
        &mut self,
        org: OrgId,
        name: Option<OrgName>,
        slug: Option<Slug>,
        now: OffsetDateTime,
    ) -> Option<Organization> {
        let row = self.orgs.get_mut(&org)?;
        row.name = name;
        row.slug = slug;
        row.updated_at = now;
        Some(row.clone())
    }

    /// Up to `limit + 1` orgs after `after`, in id order, with `status` and matching `query`.
    ///
    /// With a status and no query the page is one range of the status index: O(log n + page).
    /// A query is matched row by row: such a page reads every org (of the status, if one is
    /// given) after the cursor until `limit + 1` match, all of them when fewer do.
    pub(crate) fn orgs_page(
        &self,
        after: Option<OrgId>,
        status: Option<OrgStatus>,
        query: Option<&OrgQuery>,
        limit: usize,
    ) -> Vec<Organization> {
        let matches = |org: &&Organization| match query {
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
        };
        let take = limit.saturating_add(1);
        match status {
            None => self
                .orgs
                .range((start_after(after, OrgId::MIN), Bound::Unbounded))
                .map(|(_, org)| org)
                .filter(matches)
                .take(take)
                .cloned()
                .collect(),
            Some(status) => self
                .orgs_by_status
                .range((
                    start_after(after.map(|after| (status, after)), (status, OrgId::MIN)),
                    Bound::Unbounded,
                ))
                .take_while(|(of, _)| *of == status)
                .filter_map(|(_, org)| self.orgs.get(org))
                .filter(matches)
                .take(take)
                .cloned()
                .collect(),
        }
    }

    // --- invitations ---------------------------------------------------------------------

    pub(crate) fn invitation(&self, inv: InvId) -> Option<&Invitation> {
        self.invitations.get(&inv)
    }

    /// Stores a new invitation or replaces one (a status change), keeping the indexes in step.
    pub(crate) fn insert_invitation(&mut self, invitation: Invitation) {
        if let Some(old) = self.invitations.get(&invitation.id) {
            self.org_invitations_by_status
                .remove(&(old.org_id, old.status, old.id));
        }
        self.org_invitations
            .insert((invitation.org_id, invitation.id));
        self.org_invitations_by_status.insert((
            invitation.org_id,
            invitation.status,
            invitation.id,
        ));
        self.invitations.insert(invitation.id, invitation);
    }

    /// Revokes every pending invitation of an org, reading only the pending ones.
    pub(crate) fn revoke_pending_invitations(&mut self, org: OrgId, now: OffsetDateTime) {
        let pending = InvitationStatus::Pending;
        let ids: Vec<InvId> = self
            .org_invitations_by_status
            .range((org, pending, InvId::MIN)..)
            .take_while(|(of, status, _)| *of == org && *status == pending)
            .map(|(_, _, inv)| *inv)
            .collect();
        for inv in ids {
            if let Some(invitation) = self.invitations.get(&inv) {
                let mut ended = invitation.clone();
                ended.status = InvitationStatus::Revoked;
                ended.terminal_at = Some(now);
                ended.terminal_by = None;
                self.insert_invitation(ended);
            }
        }
    }

    /// Up to `limit + 1` invitations of an org after `after`, in id order, with `status`:
    /// one range of an index either way, O(log n + page).
    pub(crate) fn invitations_page(
        &self,
        org: OrgId,
        after: Option<InvId>,
        status: Option<InvitationStatus>,
        limit: usize,
    ) -> Vec<Invitation> {
        let take = limit.saturating_add(1);
        let ids: Vec<InvId> = match status {
            None => self
                .org_invitations
                .range((
                    start_after(after.map(|after| (org, after)), (org, InvId::MIN)),
                    Bound::Unbounded,
                ))
                .take_while(|(of, _)| *of == org)
                .map(|(_, inv)| *inv)
                .take(take)
                .collect(),
            Some(status) => self
                .org_invitations_by_status
                .range((
                    start_after(
                        after.map(|after| (org, status, after)),
                        (org, status, InvId::MIN),
                    ),
                    Bound::Unbounded,
                ))
                .take_while(|(of, with, _)| *of == org && *with == status)
                .map(|(_, _, inv)| *inv)
                .take(take)
                .collect(),
        };
        ids.iter()
            .filter_map(|inv| self.invitations.get(inv).cloned())
            .collect()
    }

    // --- memberships: reads --------------------------------------------------------------

    fn row(&self, ix: Ix) -> Option<&MemRow> {
        self.rows.get(ix as usize)
    }

    fn materialize(&self, row: &MemRow) -> Option<Membership> {
        Some(Membership {
            id: row.id,
            usr_id: self.users.id(row.links.usr)?,
            org_id: self.org_ix.id(row.links.org)?,
            role: row.role,
            status: row.status,
            replaces: self.row(row.links.replaces).map(|old| old.id),
            invited_by: self.users.id(row.links.invited_by),
            removed_by: self.users.id(row.links.removed_by),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// The tuple that mirrors `row`, when it is active.
    fn tuple_of(&self, row: &MemRow) -> Option<Tuple> {
        if row.status != MembershipStatus::Active {
            return None;
        }
        Some(Tuple {
            id: row.tuple_id,
            subject_type: EntityType::usr(),
            subject_id: self.users.id(row.links.usr)?.as_uuid(),
            relation: row.role.relation(),
            object_type: EntityType::org(),
            object_id: self.org_ix.id(row.links.org)?.as_uuid(),
            created_at: row.tuple_at,
            created_by: self.users.id(row.links.tuple_by),
        })
    }

    pub(crate) fn membership(&self, mem: MemId) -> Option<Membership> {
        let ix = *self.mem_ix.get(&mem)?;
        self.materialize(self.row(ix)?)
    }

    fn active_ix(&self, usr: UsrId, org: OrgId) -> Option<Ix> {
        let key = (self.users.get(&usr)?, self.org_ix.get(&org)?);
        self.active.get(&key).copied()
    }

    /// The user's active membership in the org.
    pub(crate) fn active_membership(&self, usr: UsrId, org: OrgId) -> Option<Membership> {
        self.materialize(self.row(self.active_ix(usr, org)?)?)
    }

    /// The id of the user's active membership in the org.
    pub(crate) fn active_id(&self, usr: UsrId, org: OrgId) -> Option<MemId> {
        self.row(self.active_ix(usr, org)?).map(|row| row.id)
    }

    pub(crate) fn active_owners(&self, org: OrgId) -> usize {
        self.org_ix
            .get(&org)
            .and_then(|org| self.active_owners.get(&org))
            .copied()
            .unwrap_or(0)
    }

    /// Up to `limit + 1` memberships of `owner` in `index`, after `after`, in id order.
    ///
    /// A status or role filter is applied row by row: such a page reads every row of the owner
    /// after the cursor until `limit + 1` match. Only `user_memberships` filters this way (a
    /// user's rows are few); an org's filtered pages come from `org_memberships_filtered`.
    fn page(
        &self,
        index: &BTreeMap<Key, Ix>,
        owner: Option<Ix>,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        role: Option<Role>,
        limit: usize,
    ) -> Vec<Membership> {
        let Some(owner) = owner else {
            return Vec::new();
        };
        let start = match after {
            Some(after) => Bound::Excluded(Key::new(owner, after)),
            None => Bound::Included(Key::new(owner, MemId::MIN)),
        };
        index
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| key.owner == owner)
            .filter_map(|(_, ix)| self.row(*ix))
            .filter(|row| status.is_none_or(|wanted| row.status == wanted))
            .filter(|row| role.is_none_or(|wanted| row.role == wanted))
            .take(limit.saturating_add(1))
            .filter_map(|row| self.materialize(row))
            .collect()
    }

    /// A page (plus one row, to tell whether more follow) of an org's memberships.
    ///
    /// O(log n + page) with or without filters: unfiltered, one range of `by_org`; filtered,
    /// the ranges of `by_org_filter` the filter leaves (one with a status and a role, one per
    /// role with a status alone, one per status with a role alone) merged in id order.
    pub(crate) fn org_memberships(
        &self,
        org: OrgId,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        role: Option<Role>,
        limit: usize,
    ) -> Vec<Membership> {
        if status.is_none() && role.is_none() {
            return self.page(
                &self.by_org,
                self.org_ix.get(&org),
                after,
                None,
                None,
                limit,
            );
        }
        let Some(org) = self.org_ix.get(&org) else {
            return Vec::new();
        };
        self.org_memberships_filtered(org, after, status, role, limit)
    }

    /// Up to `limit + 1` rows of an org with `status` and `role` (either may be absent, not
    /// both), after `after`, in id order: at most 6 ranges, `limit + 1` rows read from the
    /// merge plus at most one more per range.
    fn org_memberships_filtered(
        &self,
        org: Ix,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        role: Option<Role>,
        limit: usize,
    ) -> Vec<Membership> {
        let statuses = status
            .as_ref()
            .map_or(MembershipStatus::ALL, std::slice::from_ref);
        let roles = role.as_ref().map_or(Role::ALL, std::slice::from_ref);
        let mut streams: Vec<Stream<'_, (MemId, Ix)>> = Vec::new();
        for &status in statuses {
            for &role in roles {
                let key = |mem| FilterKey {
                    org,
                    status,
                    role,
                    mem,
                };
                let start = start_after(after.map(key), key(MemId::MIN));
                streams.push(Box::new(
                    self.by_org_filter
                        .range((start, Bound::Unbounded))
                        .take_while(move |(found, _)| {
                            found.org == org && found.status == status && found.role == role
                        })
                        .map(|(found, ix)| (found.mem, *ix)),
                ));
            }
        }
        merge_sorted(streams, |(mem, _)| *mem, limit.saturating_add(1))
            .into_iter()
            .filter_map(|(_, ix)| self.membership_at(ix))
            .collect()
    }

    /// A page (plus one row) of a user's memberships.
    pub(crate) fn user_memberships(
        &self,
        usr: UsrId,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        limit: usize,
    ) -> Vec<Membership> {
        self.page(
            &self.by_user,
            self.users.get(&usr),
            after,
            status,
            None,
            limit,
        )
    }

    fn rows_of<'a>(
        &'a self,
        index: &'a BTreeMap<Key, Ix>,
        owner: Ix,
    ) -> impl Iterator<Item = (Ix, &'a MemRow)> + 'a {
        index
            .range(Key::new(owner, MemId::MIN)..)
            .take_while(move |(key, _)| key.owner == owner)
            .filter_map(|(_, ix)| self.row(*ix).map(|row| (*ix, row)))
    }

    // --- memberships: writes -------------------------------------------------------------

    fn count_owner(&mut self, org: Ix, role: Role, status: MembershipStatus, delta: isize) {
        if role == Role::Owner && status == MembershipStatus::Active {
            let entry = self.active_owners.entry(org).or_default();
            *entry = entry.saturating_add_signed(delta);
        }
    }

    /// Inserts a new active membership and its tuple. The user (and `created_by`) must be
    /// known; an unknown one is added.
    pub(crate) fn insert_membership(&mut self, membership: Membership, created_by: Option<UsrId>) {
        let links = self.links(&membership, created_by);
        self.push_row(&membership, links);
    }

    /// The indexes a new row of `membership` refers to, interning any id not seen yet.
    fn links(&mut self, membership: &Membership, created_by: Option<UsrId>) -> Links {
        let usr = self.users.intern(membership.usr_id);
        let org = self.org_ix.intern(membership.org_id);
        let replaces = optional(
            membership
                .replaces
                .and_then(|old| self.mem_ix.get(&old).copied()),
        );
        let invited_by = optional(membership.invited_by.map(|id| self.users.intern(id)));
        let removed_by = optional(membership.removed_by.map(|id| self.users.intern(id)));
        let tuple_by = optional(created_by.map(|id| self.users.intern(id)));
        Links {
            usr,
            org,
            replaces,
            invited_by,
            removed_by,
            tuple_by,
        }
    }

    /// Appends the row of `membership`, whose ids resolve to `links`, and indexes it.
    fn push_row(&mut self, membership: &Membership, links: Links) {
        let Links { usr, org, .. } = links;
        let ix = self.rows.len() as Ix;
        let tuple_id = TupId::new();
        self.rows.push(MemRow {
            id: membership.id,
            created_at: membership.created_at,
            updated_at: membership.updated_at,
            tuple_id,
            tuple_at: membership.created_at,
            links,
            role: membership.role,
            status: membership.status,
        });
        self.mem_ix.insert(membership.id, ix);
        self.by_org.insert(Key::new(org, membership.id), ix);
        self.by_user.insert(Key::new(usr, membership.id), ix);
        self.by_org_filter.insert(
            FilterKey {
                org,
                status: membership.status,
                role: membership.role,
                mem: membership.id,
            },
            ix,
        );
        if membership.status == MembershipStatus::Active {
            self.active.insert((usr, org), ix);
            self.mirror(links, membership.role, tuple_id, ix, true);
        }
        self.count_owner(org, membership.role, membership.status, 1);
    }

    /// Adds (`present`) or removes the mirrored-tuple index entries of an active row.
    fn mirror(&mut self, links: Links, role: Role, tuple_id: TupId, ix: Ix, present: bool) {
        if present {
            self.mirrored_by_user.insert((links.usr, tuple_id), ix);
            self.mirrored_by_org.insert((links.org, role, tuple_id), ix);
        } else {
            self.mirrored_by_user.remove(&(links.usr, tuple_id));
            self.mirrored_by_org.remove(&(links.org, role, tuple_id));
        }
    }

    /// Moves row `ix` to `status`, keeping the indexes and its tuple in step.
    fn set_status(
        &mut self,
        ix: Ix,
        status: MembershipStatus,
        removed_by: Option<UsrId>,
        now: OffsetDateTime,
    ) -> Option<Membership> {
        let removed_by = optional(removed_by.map(|id| self.users.intern(id)));
        let row = self.rows.get(ix as usize)?;
        let (links, mem, role, before) = (row.links, row.id, row.role, row.status);
        let (usr, org, old_tuple) = (links.usr, links.org, row.tuple_id);
        self.count_owner(org, role, before, -1);
        if before == MembershipStatus::Active {
            self.active.remove(&(usr, org));
            self.mirror(links, role, old_tuple, ix, false);
        }
        let filter_key = |status| FilterKey {
            org,
            status,
            role,
            mem,
        };
        self.by_org_filter.remove(&filter_key(before));
        self.by_org_filter.insert(filter_key(status), ix);
        let row = self.rows.get_mut(ix as usize)?;
        row.status = status;
        row.updated_at = now;
        if status == MembershipStatus::Revoked {
            row.links.removed_by = removed_by;
        }
        if status == MembershipStatus::Active {
            // A reactivated row is mirrored by a new tuple.
            row.tuple_id = TupId::new();
            row.tuple_at = now;
            row.links.tuple_by = NONE;
            let new_tuple = row.tuple_id;
            self.active.insert((usr, org), ix);
            self.mirror(links, role, new_tuple, ix, true);
        }
        self.count_owner(org, role, status, 1);
        self.membership_at(ix)
    }

    fn membership_at(&self, ix: Ix) -> Option<Membership> {
        self.materialize(self.row(ix)?)
    }

    /// Moves a membership to `status`, keeping the indexes and its tuple in step.
    pub(crate) fn set_membership_status(
        &mut self,
        mem_id: MemId,
        status: MembershipStatus,
        removed_by: Option<UsrId>,
        now: OffsetDateTime,
    ) -> Option<Membership> {
        let ix = *self.mem_ix.get(&mem_id)?;
        self.set_status(ix, status, removed_by, now)
    }

    /// Revokes every membership of an org that is not revoked yet.
    pub(crate) fn revoke_org_memberships(&mut self, org: OrgId, now: OffsetDateTime) {
        let Some(owner) = self.org_ix.get(&org) else {
            return;
        };
        let live: Vec<Ix> = self
            .rows_of(&self.by_org, owner)
            .filter(|(_, row)| row.status != MembershipStatus::Revoked)
            .map(|(ix, _)| ix)
            .collect();
        for ix in live {
            self.set_status(ix, MembershipStatus::Revoked, None, now);
        }
    }

    /// Revoke-and-re-add: revokes `old` at `at` and inserts `new`, the active row replacing it.
    pub(crate) fn rotate(&mut self, old: &Membership, new: &Membership, at: OffsetDateTime) {
        let old_ix = self.mem_ix.get(&old.id).copied();
        if let Some(ix) = old_ix {
            self.set_status(ix, MembershipStatus::Revoked, None, at);
        }
        // The successor has the old row's user, org and inviter (`Membership::successor`), so
        // it takes the old row's links, with the old row as its predecessor. Looking the ids
        // up again instead made `transfer_ownership`, two rotations, about 10% slower
        // (BENCHMARKS.md, "Side by side: the memory store's hasher").
        let links = match old_ix.and_then(|ix| Some((ix, self.row(ix)?.links))) {
            Some((ix, links)) => Links {
                replaces: ix,
                removed_by: NONE,
                tuple_by: NONE,
                ..links
            },
            None => self.links(new, None),
        };
        self.push_row(new, links);
        debug_assert_eq!(
            self.membership(new.id).as_ref(),
            Some(new),
            "a successor is stored as given"
        );
    }

    // --- tuples ----------------------------------------------------------------------------

    /// Whether an active membership's tuple has this natural key.
    fn mirrors_membership(&self, key: &TupleKey) -> bool {
        let (subject_type, subject, relation, object_type, object) = key;
        if subject_type.as_str() != "usr" || object_type.as_str() != "org" {
            return false;
        }
        let (Ok(usr), Ok(org)) = (
            UsrId::try_from_uuid(*subject),
            OrgId::try_from_uuid(*object),
        ) else {
            return false;
        };
        self.active_ix(usr, org)
            .and_then(|ix| self.row(ix))
            .is_some_and(|row| row.role.as_str() == relation.as_str())
    }

    /// Whether a tuple with this natural key exists (explicit, or mirroring a membership).
    pub(crate) fn has_tuple(&self, key: &TupleKey) -> bool {
        self.mirrors_membership(key) || self.tuple_keys.contains_key(key)
    }

    /// Stores an explicit tuple; returns false if its natural key already exists (explicit or
    /// mirroring a membership).
    pub(crate) fn insert_tuple(&mut self, tuple: Tuple) -> bool {
        let key = key_of(&tuple);
        if self.mirrors_membership(&key) {
            return false;
        }
        // One hash of the key (which holds strings) for both the check and the insert.
        match self.tuple_keys.entry(key) {
            Entry::Occupied(_) => return false,
            Entry::Vacant(entry) => {
                entry.insert(tuple.id);
            }
        }
        self.by_subject
            .insert((tuple.subject_type.clone(), tuple.subject_id, tuple.id));
        self.by_object
            .insert((tuple.object_type.clone(), tuple.object_id, tuple.id));
        self.by_object_relation.insert((
            tuple.object_type.clone(),
            tuple.object_id,
            tuple.relation.clone(),
            tuple.id,
        ));
        self.tuples.insert(tuple.id, tuple);
        true
    }

    fn remove_tuple(&mut self, id: TupId) {
        if let Some(tuple) = self.tuples.remove(&id) {
            self.tuple_keys.remove(&key_of(&tuple));
            self.by_subject
                .remove(&(tuple.subject_type.clone(), tuple.subject_id, tuple.id));
            self.by_object
                .remove(&(tuple.object_type.clone(), tuple.object_id, tuple.id));
            self.by_object_relation.remove(&(
                tuple.object_type,
                tuple.object_id,
                tuple.relation,
                tuple.id,
            ));
        }
    }

    /// Deletes every explicit tuple on an object.
    pub(crate) fn remove_tuples_on(&mut self, object_type: &EntityType, object_id: Uuid) {
        let ids: Vec<TupId> = self
            .explicit_range(&self.by_object, object_type, object_id)
            .collect();
        for id in ids {
            self.remove_tuple(id);
        }
    }

    fn explicit_range<'a>(
        &'a self,
        index: &'a BTreeSet<(EntityType, Uuid, TupId)>,
        kind: &EntityType,
        id: Uuid,
    ) -> impl Iterator<Item = TupId> + 'a {
        let kind = kind.clone();
        index
            .range((kind.clone(), id, TupId::MIN)..)
            .take_while(move |(k, i, _)| *k == kind && *i == id)
            .map(|(_, _, tuple)| *tuple)
    }

    /// Every tuple of a subject, in id order.
    pub(crate) fn tuples_for_subject(
        &self,
        subject_type: &EntityType,
        subject_id: Uuid,
    ) -> Vec<Tuple> {
        let mut found: Vec<Tuple> = self
            .explicit_range(&self.by_subject, subject_type, subject_id)
            .filter_map(|id| self.tuples.get(&id).cloned())
            .collect();
        if subject_type.as_str() == "usr" {
            let usr = UsrId::try_from_uuid(subject_id)
                .ok()
                .and_then(|usr| self.users.get(&usr));
            if let Some(usr) = usr {
                found.extend(
                    self.rows_of(&self.by_user, usr)
                        .filter_map(|(_, row)| self.tuple_of(row)),
                );
            }
        }
        found.sort_by_key(|tuple| tuple.id);
        found
    }

    /// Every tuple on an object, optionally of one relation, in id order.
    pub(crate) fn tuples_for_object(
        &self,
        object_type: &EntityType,
        object_id: Uuid,
        relation: Option<&Relation>,
    ) -> Vec<Tuple> {
        let mut found: Vec<Tuple> = self
            .explicit_range(&self.by_object, object_type, object_id)
            .filter_map(|id| self.tuples.get(&id).cloned())
            .collect();
        if object_type.as_str() == "org" {
            let org = OrgId::try_from_uuid(object_id)
                .ok()
                .and_then(|org| self.org_ix.get(&org));
            if let Some(org) = org {
                found.extend(
                    self.rows_of(&self.by_org, org)
                        .filter_map(|(_, row)| self.tuple_of(row)),
                );
            }
        }
        if let Some(relation) = relation {
            found.retain(|tuple| tuple.relation == *relation);
        }
        found.sort_by_key(|tuple| tuple.id);
        found
    }

    /// The tuple an index entry names.
    fn resolve(&self, found: TupleRef) -> Option<Tuple> {
        match found {
            TupleRef::Explicit(id) => self.tuples.get(&id).cloned(),
            TupleRef::Mirrored(_, ix) => self.tuple_of(self.row(ix)?),
        }
    }

    /// The explicit tuples of `kind` `id` in `index` after `after`, in id order.
    fn explicit_after<'a>(
        &'a self,
        index: &'a BTreeSet<(EntityType, Uuid, TupId)>,
        kind: &EntityType,
        id: Uuid,
        after: Option<TupId>,
    ) -> Stream<'a, TupleRef> {
        let start = start_after(
            after.map(|after| (kind.clone(), id, after)),
            (kind.clone(), id, TupId::MIN),
        );
        let kind = kind.clone();
        Box::new(
            index
                .range((start, Bound::Unbounded))
                .take_while(move |(k, i, _)| *k == kind && *i == id)
                .map(|(_, _, tuple)| TupleRef::Explicit(*tuple)),
        )
    }

    /// Up to `limit + 1` tuples of a subject after `after`, in id order: the page of
    /// `tuples_for_subject`. Two ranges merged (the explicit tuples and, for a user, the
    /// tuples of its active memberships): O(log n + page).
    pub(crate) fn tuples_page_for_subject(
        &self,
        subject_type: &EntityType,
        subject_id: Uuid,
        after: Option<TupId>,
        limit: usize,
    ) -> Vec<Tuple> {
        let mut streams =
            vec![self.explicit_after(&self.by_subject, subject_type, subject_id, after)];
        let usr = (subject_type.as_str() == "usr")
            .then(|| UsrId::try_from_uuid(subject_id).ok())
            .flatten()
            .and_then(|usr| self.users.get(&usr));
        if let Some(usr) = usr {
            let start = start_after(after.map(|after| (usr, after)), (usr, TupId::MIN));
            streams.push(Box::new(
                self.mirrored_by_user
                    .range((start, Bound::Unbounded))
                    .take_while(move |((owner, _), _)| *owner == usr)
                    .map(|((_, tuple), ix)| TupleRef::Mirrored(*tuple, *ix)),
            ));
        }
        merge_sorted(streams, TupleRef::id, limit.saturating_add(1))
            .into_iter()
            .filter_map(|found| self.resolve(found))
            .collect()
    }

    /// Up to `limit + 1` tuples on an object after `after`, optionally of one relation, in id
    /// order: the page of `tuples_for_object`. The explicit tuples are one range (of
    /// `by_object`, or of `by_object_relation` for one relation); an org's membership tuples
    /// are one range per role, only the relation's role when one is given. At most 7 ranges
    /// merged: O(log n + page), never reading another relation's tuples.
    pub(crate) fn tuples_page_for_object(
        &self,
        object_type: &EntityType,
        object_id: Uuid,
        relation: Option<&Relation>,
        after: Option<TupId>,
        limit: usize,
    ) -> Vec<Tuple> {
        let mut streams = vec![match relation {
            None => self.explicit_after(&self.by_object, object_type, object_id, after),
            Some(relation) => {
                let key = |tuple| (object_type.clone(), object_id, relation.clone(), tuple);
                let start = start_after(after.map(key), key(TupId::MIN));
                let (kind, relation) = (object_type.clone(), relation.clone());
                Box::new(
                    self.by_object_relation
                        .range((start, Bound::Unbounded))
                        .take_while(move |(k, i, r, _)| {
                            *k == kind && *i == object_id && *r == relation
                        })
                        .map(|(_, _, _, tuple)| TupleRef::Explicit(*tuple)),
                )
            }
        }];
        let org = (object_type.as_str() == "org")
            .then(|| OrgId::try_from_uuid(object_id).ok())
            .flatten()
            .and_then(|org| self.org_ix.get(&org));
        if let Some(org) = org {
            // A relation that names no role has no membership tuple.
            let roles: Vec<Role> = match relation {
                None => Role::ALL.to_vec(),
                Some(relation) => relation.as_str().parse().into_iter().collect(),
            };
            for role in roles {
                let key = |tuple| (org, role, tuple);
                let start = start_after(after.map(key), key(TupId::MIN));
                streams.push(Box::new(
                    self.mirrored_by_org
                        .range((start, Bound::Unbounded))
                        .take_while(move |((owner, of, _), _)| *owner == org && *of == role)
                        .map(|((_, _, tuple), ix)| TupleRef::Mirrored(*tuple, *ix)),
                ));
            }
        }
        merge_sorted(streams, TupleRef::id, limit.saturating_add(1))
            .into_iter()
            .filter_map(|found| self.resolve(found))
            .collect()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut users = self.users.ids.clone();
        users.sort();
        let mut memberships: Vec<Membership> = self
            .rows
            .iter()
            .filter_map(|row| self.materialize(row))
            .collect();
        memberships.sort_by_key(|row| row.id);
        let mut invitations: Vec<Invitation> = self.invitations.values().cloned().collect();
        invitations.sort_by_key(|row| row.id);
        let mut tuples: Vec<Tuple> = self.tuples.values().cloned().collect();
        tuples.extend(self.rows.iter().filter_map(|row| self.tuple_of(row)));
        tuples.sort_by_key(|tuple| tuple.id);
        Snapshot {
            users,
            orgs: self.orgs.values().cloned().collect(),
            memberships,
            invitations,
            tuples,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rows_read_back_as_the_memberships_written() {
        let mut state = State::default();
        let (owner, inviter) = (UsrId::new(), UsrId::new());
        let (org, at) = (OrgId::new(), datetime!(2026-01-01 00:00 UTC));
        state.add_user(owner);
        state.add_user(inviter);
        let first = Membership::joined(MemId::new(), owner, org, Role::Member, Some(inviter), at);
        state.insert_membership(first.clone(), Some(inviter));
        assert_eq!(state.membership(first.id), Some(first.clone()));
        assert_eq!(state.active_id(owner, org), Some(first.id));

        // A rotation ends the old row and stores the successor exactly as given, linked to it.
        let later = datetime!(2026-01-02 00:00 UTC);
        let next = first.successor(MemId::new(), Role::Owner, later);
        state.rotate(&first, &next, later);
        assert_eq!(state.membership(next.id), Some(next.clone()));
        let ended = state.membership(first.id).expect("the old row is kept");
        assert_eq!(ended.status, MembershipStatus::Revoked);
        assert_eq!(ended.updated_at, later);
        assert_eq!(state.active_id(owner, org), Some(next.id));
        assert_eq!(state.active_owners(org), 1);

        // The successor's tuple is the active one; the ended row mirrors none.
        let tuples = state.tuples_for_object(&EntityType::org(), org.as_uuid(), None);
        assert_eq!(tuples.len(), 1);
        assert_eq!(tuples[0].relation, Role::Owner.relation());
        assert_eq!(tuples[0].created_at, later);
    }

    #[test]
    fn merged_streams_come_out_in_key_order_reading_no_more_than_needed() {
        let read = std::cell::Cell::new(0);
        let counted = |items: Vec<u32>| -> Stream<'_, u32> {
            Box::new(items.into_iter().inspect(|_| read.set(read.get() + 1)))
        };
        let streams = vec![
            counted(vec![1, 4, 7, 10]),
            counted(vec![2, 5, 8]),
            counted(Vec::new()),
            counted(vec![3, 6, 9, 12, 15]),
        ];
        assert_eq!(merge_sorted(streams, |n| *n, 5), vec![1, 2, 3, 4, 5]);
        // The five taken, and one head of each non-empty stream beyond them.
        assert!(read.get() <= 5 + 3, "read {}", read.get());
        let streams = vec![counted(vec![1, 3]), counted(vec![2])];
        assert_eq!(merge_sorted(streams, |n| *n, 10), vec![1, 2, 3]);
    }

    #[test]
    fn pages_follow_membership_id_order_within_their_owner() {
        let mut state = State::default();
        let (orgs, at) = (
            [OrgId::new(), OrgId::new()],
            datetime!(2026-01-01 00:00 UTC),
        );
        let mut mine = Vec::new();
        for n in 0..12 {
            let usr = UsrId::new();
            state.add_user(usr);
            let row = Membership::joined(MemId::new(), usr, orgs[n % 2], Role::Member, None, at);
            state.insert_membership(row.clone(), None);
            if n % 2 == 0 {
                mine.push(row.id);
            }
        }
        mine.sort();
        let ids = |rows: Vec<Membership>| rows.into_iter().map(|row| row.id).collect::<Vec<_>>();
        assert_eq!(
            ids(state.org_memberships(orgs[0], None, None, None, 10)),
            mine
        );
        // A page after an id holds the next ids, plus one to tell that more follow.
        let page = state.org_memberships(orgs[0], Some(mine[1]), None, None, 2);
        assert_eq!(ids(page), mine[2..5]);
    }
}
