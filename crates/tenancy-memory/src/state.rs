//! The rows and indexes of the in-memory store, and the mutations that keep them consistent.
//!
//! # Compact membership rows
//!
//! Memberships are most of a store's memory: every one is kept, ended rows too, as history. So
//! they are not stored as [`Membership`] values but as [`MemRow`]s, which name the user, the
//! org, the predecessor, the inviter, the remover, the mirrored tuple's creator and the user's
//! next older row by `u32` indexes instead of 16-byte ids:
//!
//! - users and orgs are interned ([`Interner`]): the first id seen gets index 0, the next 1,
//!   and the interner maps both ways;
//! - a predecessor is named by its position in [`Rows`], where rows are only appended, so a
//!   position is a stable handle;
//! - an org's rows and their tuples are indexed per group (the org's index with a status and
//!   role, or with a role) in [`Sorted`] chunks whose entries are row positions alone (4 bytes,
//!   ordered by the id of the row there); the user index is keyed by the user's index and the
//!   membership id ([`UserKey`], 20 bytes where two ids take 32); the active map by `(user
//!   index, org index)` (8 bytes where two ids take 32), its values row positions (4 bytes
//!   where an id takes 16).
//!
//! A row is 104 bytes, the mirrored tuple's id and creator included (its time is the row's
//! `updated_at`, see [`MemRow`]), and the ids of the two chunks that hold it and its tuple in the
//! org indexes, so that a write that moves it searches one chunk ([`Places`],
//! `spec/decisions/0022`); a `Membership` alone is 136. Reads turn rows back into values
//! (`materialize`, `tuple_of`).
//!
//! # Flat reads
//!
//! Paged reads range over an ordered index from their cursor and stop after `limit + 1` rows,
//! so a page costs O(log n + page) however large the org, user or object. Filters are indexes
//! too, not scans. An org's rows have one index, `by_org`, one [`Sorted`] group per (org,
//! status, role) in id order: a page filtered by both is one range; one filtered by status, by role
//! or not at all merges the ranges left (6, 3 or 18, less those that never held a row of the
//! org, which [`OrgTally`] records) in id order ([`merge_sorted`]), reading at most one row
//! per range beyond the page. The tuples mirroring active rows are indexed by org and role
//! (their relation, a [`Sorted`] group each) and by user, in tuple id order; orgs in id order
//! and by status (a [`Sorted`] each); invitations by org and status.
//!
//! The org indexes are [`Sorted`] groups rather than one `BTreeMap` because a B-tree's nodes
//! are searched key by key: a write at the end of a million-row org compared against every
//! key of every node on its path (about 60 comparisons, each reading a 24-byte key), where a
//! ten-row org's write compared a handful, so a big org's writes took up to 1.7 times the
//! instructions of a small one's (BENCHMARKS.md, "Scale"). A [`Sorted`] group binary-searches
//! its chunks' first keys, then one chunk, and a small org's group is one chunk; a removal
//! searches only the chunk its row recorded. An object's tuples across relations are merged
//! the same way. Two filters still
//! read row by row, with their bound documented where they are read: `list_orgs`'s `query`
//! (every org after the cursor until the page fills) and `list_memberships_for_user`'s
//! `status` (at most the user's memberships after the cursor).
//!
//! # Users with few rows
//!
//! Most users have a few memberships, and for them the user indexes would cost about as much
//! as the rows they order: an entry in `by_user` (membership id order) and one in
//! `mirrored_by_user` (tuple id order) take some 97 bytes an active row, in B-tree nodes that
//! ascending inserts leave about 6/11 full. So each user's rows are chained newest first
//! ([`UserRows`], [`Links::older`]), and only a user with more than [`FEW_ROWS`] rows has
//! them in the user indexes as well: the row that takes a user past the threshold brings all
//! of its rows in, and as rows are never deleted the user stays indexed. A page of a user's
//! memberships or tuples walks and sorts at most [`FEW_ROWS`] rows below the threshold and
//! ranges over the indexes above it, O(log n + page) either way; `active` still finds a
//! user's active row in an org in one lookup.
//!
//! # Measured
//!
//! Heap bytes per membership, as the bench measures them (BENCHMARKS.md: one org of 1,001,
//! 100,001 or 1,000,001 members, each a user with one row; the rows, mirrored tuples and every
//! index entry, hash-table slack included), step by step from the first version with the
//! filter indexes:
//!
//! | Step                                                   | 1,001 | 100,001 | 1,000,001 |
//! |--------------------------------------------------------|------:|--------:|----------:|
//! | before: an org index by id beside the filter index     |   440 |     418 |       438 |
//! | one org index, by status and role                      |   391 |     369 |       389 |
//! | the tuple's time read from `updated_at`                |   375 |     352 |       373 |
//! | user indexes only past [`FEW_ROWS`] rows                |   289 |     269 |       288 |
//! | org indexes in [`Sorted`] chunks of row positions      |   186 |     166 |       185 |
//! | rows record their chunks; one-chunk groups inline (now) |   195 |     175 |       193 |
//!
//! The last two steps also count for small orgs: a million memberships in orgs of five (where
//! every org pays for its own groups and its org row) take 283 heap bytes each, from 347 with
//! B-trees and 311 before one-chunk groups were stored inline.
//!
//! What remains at a million (estimated from the layouts): the row, 104 bytes; `by_org` and
//! `mirrored_by_org`, about 4 each (a row position in a full chunk); `mem_ix` and `active`,
//! about 44 and 27 (a hash table just past a doubling is half empty; about 28 and 17 at
//! 100,001); the chain heads, 8. An unfiltered `list_members` opens one range per group the org
//! has used where an index by id would be one range; filtered pages open only the groups in
//! use.
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

use crate::sorted::{Keyed, Places, Sorted};
use std::hash::Hash;
use std::ops::Bound;

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::backend::Snapshot;
use flametrench_tenancy_core::{
    EntityType, Invitation, InvitationStatus, Membership, MembershipStatus, OrgName, OrgQuery,
    OrgStatus, Organization, Relation, Role, Slug, Tuple,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// A hash map keyed by ids, dense indexes or tuple keys, with foldhash and a random seed.
pub(crate) type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A dense index into one of the state's tables.
type Ix = u32;

/// "No row": the index of an absent inviter, remover, predecessor or tuple creator. A sentinel
/// rather than `Option<Ix>`, which is twice the size: [`Links`] would grow from 28 bytes to 56.
const NONE: Ix = Ix::MAX;

/// Dense indexes for ids: the first id interned gets 0, the next 1, and so on.
#[derive(Debug, Clone)]
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

/// A key of the user index: the user, then the membership id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct UserKey {
    usr: Ix,
    mem: MemId,
}

/// A group of the org index: the org and a (status, role), whose rows are one [`Sorted`] in
/// membership id order.
type OrgGroup = (Ix, MembershipStatus, Role);

/// What the store keeps per org beside its rows' index entries.
#[derive(Debug, Clone, Copy, Default)]
struct OrgTally {
    /// The number of the org's active owner rows.
    active_owners: u32,
    /// The (status, role) groups of `State::by_org` that have held a row of the org, one bit
    /// each ([`group_bit`]), so that a read opens only those ranges. A group that empties
    /// keeps its bit (its range is then opened and found empty): a row never leaves the index,
    /// it only moves between groups.
    groups: u32,
}

/// The bit of the group (`status`, `role`) in [`OrgTally::groups`]: 18 groups in a `u32`.
fn group_bit(status: MembershipStatus, role: Role) -> u32 {
    // Both enums are fieldless, so `as` gives each variant its index in declaration order,
    // and every (status, role) pair its own bit.
    1 << (status as u32 * Role::ALL.len() as u32 + role as u32)
}

// A new status or role must still leave a bit for every group.
const _: () = assert!(MembershipStatus::ALL.len() * Role::ALL.len() <= u32::BITS as usize);

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

/// Merges `streams`, each sorted by `key`, into one stream in `key` order. Taking `n` items
/// reads at most `n` items plus the head of each stream. A stream is dropped once it is
/// empty, so each step compares only the heads of the streams that still have items.
fn merge_sorted<T, K: Ord, I: Iterator<Item = T>>(
    streams: impl IntoIterator<Item = I>,
    key: impl Fn(&T) -> K,
) -> impl Iterator<Item = T> {
    // Each stream with its head: the next item it gives, already read.
    let mut heads: Vec<(T, I)> = streams
        .into_iter()
        .filter_map(|mut stream| Some((stream.next()?, stream)))
        .collect();
    std::iter::from_fn(move || {
        let at = (0..heads.len()).min_by_key(|&at| key(&heads[at].0))?;
        let (head, stream) = &mut heads[at];
        match stream.next() {
            Some(next) => Some(std::mem::replace(head, next)),
            None => Some(heads.swap_remove(at).0),
        }
    })
}

/// The start of a keyset range: just after `after`, or at `first` for the first page.
fn start_after<K>(after: Option<K>, first: K) -> Bound<K> {
    match after {
        Some(after) => Bound::Excluded(after),
        None => Bound::Included(first),
    }
}

/// One membership and the tuple that mirrors it while it is active (`tuple_id` and
/// `links.tuple_by` mean something only then).
#[derive(Debug, Clone)]
pub(crate) struct MemRow {
    id: MemId,
    created_at: OffsetDateTime,
    /// For an active row, when it became active (its insert or its reinstatement), which is
    /// when its tuple was written: the tuple's `created_at`, so that no field holds it twice.
    updated_at: OffsetDateTime,
    tuple_id: TupId,
    links: Links,
    /// The chunk of its `State::by_org` group that holds the row ([`Sorted::remove`]'s hint).
    org_chunk: u32,
    /// While the row is active, the chunk of its `State::mirrored_by_org` group that holds its
    /// tuple.
    tuple_chunk: u32,
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
    /// The user's next older row, in `State::rows`, or [`NONE`]: the links that chain a
    /// user's rows newest first ([`UserRows`]).
    older: Ix,
}

/// A user with at most this many rows (ended ones included) is read by walking its rows; one
/// with more also has them in the user indexes (`State::by_user`, `State::mirrored_by_user`).
const FEW_ROWS: u32 = 16;

/// A user's membership rows, chained newest first through [`Links::older`].
#[derive(Debug, Clone, Copy)]
struct UserRows {
    /// The newest row, in `State::rows`, or [`NONE`].
    newest: Ix,
    /// How many rows the user has. Rows are never deleted, so once a user has more than
    /// [`FEW_ROWS`] it stays indexed.
    count: u32,
}

impl UserRows {
    const EMPTY: Self = Self {
        newest: NONE,
        count: 0,
    };

    fn indexed(self) -> bool {
        self.count > FEW_ROWS
    }
}

/// Rows per chunk of [`Rows`] once the first chunk is full.
const CHUNK: usize = 1 << 13;

/// The membership rows, in insertion order, in chunks of [`CHUNK`] rows. A single `Vec` would
/// copy every row each time it doubles (at a million rows one insert would copy about 100 MB
/// while holding the store's lock) and leave up to half its capacity unused. Here only the
/// first chunk grows by doubling, so a small store stays small; every later chunk is allocated
/// at its full size once and never moves.
#[derive(Debug, Default, Clone)]
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
#[derive(Debug, Default, Clone)]
pub(crate) struct State {
    /// Moves on with every write (`InMemoryTenancyStore::write`): what a unit of work checks
    /// at commit.
    pub(crate) version: u64,
    /// Every known user: added by `add_user`, or named by a membership written.
    users: Interner<UsrId>,
    /// Written through `insert_org`, `set_org_status` and `update_org_fields`, which keep
    /// `org_order` and `orgs_by_status` in step.
    orgs: IdMap<OrgId, Organization>,
    /// Every org, in id order.
    org_order: Sorted<OrgId, OrgId>,
    /// Every org of each status, in id order.
    orgs_by_status: IdMap<OrgStatus, Sorted<OrgId, OrgId>>,
    /// The orgs that have had a membership.
    org_ix: Interner<OrgId>,
    pub(crate) slugs: HashMap<Slug, OrgId>,
    rows: Rows,
    /// Membership id to row.
    mem_ix: IdMap<MemId, Ix>,
    /// Every row of an org by status and role, in membership id order within each: the only
    /// index of an org's rows.
    by_org: IdMap<OrgGroup, Sorted<u128, Ix>>,
    /// Each user's rows, by user index (up to the highest user with a row).
    user_rows: Vec<UserRows>,
    /// Every row of a user with more than [`FEW_ROWS`] rows, in membership id order.
    by_user: BTreeMap<UserKey, Ix>,
    /// The tuple of every active row of a user with more than [`FEW_ROWS`] rows, by user, in
    /// tuple id order.
    mirrored_by_user: BTreeMap<(Ix, TupId), Ix>,
    /// The tuple of every active row by org and role (its relation), in tuple id order.
    mirrored_by_org: IdMap<(Ix, Role), Sorted<u128, Ix>>,
    /// `(user, org)` to the row of the user's active membership there.
    active: IdMap<(Ix, Ix), Ix>,
    /// Every org with rows to its [`OrgTally`].
    org_tallies: IdMap<Ix, OrgTally>,
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

/// Removes the row whose key is `key` from the group `group` of `index`, searching the chunk
/// `hint` first, and the group once it is empty.
fn remove_from<G: Eq + Hash, K: Ord + Copy>(
    index: &mut IdMap<G, Sorted<K, Ix>>,
    group: G,
    key: &K,
    hint: u32,
    places: &mut impl Places<Ix, K>,
) {
    if let Entry::Occupied(mut entry) = index.entry(group) {
        entry.get_mut().remove(key, Some(hint), places);
        if entry.get().is_empty() {
            entry.remove();
        }
    }
}

/// The entries of an org index: row positions, keyed by the row's id (`by_org`) or, with
/// `TUPLES`, by its tuple's id (`mirrored_by_org`); each row records the chunk that holds it
/// (`MemRow::org_chunk`, `MemRow::tuple_chunk`).
struct RowPlaces<'a, const TUPLES: bool>(&'a mut Rows);

/// [`RowPlaces`] of `by_org`, keyed by the row's id.
const BY_ROW_ID: bool = false;

/// [`RowPlaces`] of `mirrored_by_org`, keyed by the row's tuple's id.
const BY_TUPLE_ID: bool = true;

impl<const TUPLES: bool> Places<Ix, u128> for RowPlaces<'_, TUPLES> {
    fn key(&self, ix: Ix) -> u128 {
        if TUPLES {
            tuple_key(self.0, ix)
        } else {
            mem_key(self.0, ix)
        }
    }

    fn place(&mut self, ix: Ix, chunk: u32) {
        if let Some(row) = self.0.get_mut(ix as usize) {
            if TUPLES {
                row.tuple_chunk = chunk;
            } else {
                row.org_chunk = chunk;
            }
        }
    }
}

/// The id of the row at `ix`.
fn mem_id_at(rows: &Rows, ix: Ix) -> MemId {
    rows.get(ix as usize).map_or(MemId::MIN, |row| row.id)
}

/// The id of the tuple mirroring the row at `ix`.
fn tuple_id_at(rows: &Rows, ix: Ix) -> TupId {
    rows.get(ix as usize).map_or(TupId::MIN, |row| row.tuple_id)
}

/// The key of `by_org`'s entry for the row at `ix`: its id as a `u128`, which orders as the id
/// does and compares as one native integer (the chunks' first keys are compared on every step
/// of a search).
fn mem_key(rows: &Rows, ix: Ix) -> u128 {
    mem_id_at(rows, ix).as_uuid().as_u128()
}

/// The key of `mirrored_by_org`'s entry for the row at `ix`: its tuple's id as a `u128`.
fn tuple_key(rows: &Rows, ix: Ix) -> u128 {
    tuple_id_at(rows, ix).as_uuid().as_u128()
}

/// An org id as its own key.
fn itself(org: OrgId) -> OrgId {
    org
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
            let (status, id) = (old.status, old.id);
            self.unlist_status(status, id);
        }
        self.orgs_by_status
            .entry(org.status)
            .or_default()
            .insert(org.id, &mut Keyed(itself));
        self.org_order.insert(org.id, &mut Keyed(itself));
        self.orgs.insert(org.id, org);
    }

    /// Takes `org` out of the index of `status`.
    fn unlist_status(&mut self, status: OrgStatus, org: OrgId) {
        if let Some(listed) = self.orgs_by_status.get_mut(&status) {
            listed.remove(&org, None, &mut Keyed(itself));
        }
    }

    /// Moves an org to `status` at `now`, keeping the status index in step.
    pub(crate) fn set_org_status(
        &mut self,
        org: OrgId,
        status: OrgStatus,
        now: OffsetDateTime,
    ) -> Option<Organization> {
        let before = self.orgs.get(&org)?.status;
        self.unlist_status(before, org);
        self.orgs_by_status
            .entry(status)
            .or_default()
            .insert(org, &mut Keyed(itself));
        let row = self.orgs.get_mut(&org)?;
        row.status = status;
        row.updated_at = now;
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
                .org_order
                .after(after, itself)
                .filter_map(|org| self.orgs.get(&org))
                .filter(matches)
                .take(take)
                .cloned()
                .collect(),
            Some(status) => self
                .orgs_by_status
                .get(&status)
                .into_iter()
                .flat_map(|listed| listed.after(after, itself))
                .filter_map(|org| self.orgs.get(&org))
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
            created_at: row.updated_at,
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
            .and_then(|org| self.org_tallies.get(&org))
            .map_or(0, |tally| tally.active_owners as usize)
    }

    /// The ranges of `by_org` of `org` with a status in `statuses` and a role in `roles`, each
    /// after `after`, in key order, leaving out the groups that never held a row of the org.
    fn org_groups<'a>(
        &'a self,
        org: Ix,
        statuses: &'a [MembershipStatus],
        roles: &'a [Role],
        after: Option<MemId>,
    ) -> impl Iterator<Item = impl Iterator<Item = (MemId, Ix)> + 'a> + 'a {
        let held = self.org_tallies.get(&org).map_or(0, |tally| tally.groups);
        statuses
            .iter()
            .flat_map(move |&status| roles.iter().map(move |&role| (status, role)))
            .filter(move |&(status, role)| held & group_bit(status, role) != 0)
            .map(move |(status, role)| self.org_group(org, status, role, after))
    }

    /// The rows of an org with one status and role after `after`, in id order: one range of
    /// `by_org`, O(log n) to open.
    fn org_group(
        &self,
        org: Ix,
        status: MembershipStatus,
        role: Role,
        after: Option<MemId>,
    ) -> impl Iterator<Item = (MemId, Ix)> + '_ {
        self.by_org
            .get(&(org, status, role))
            .into_iter()
            .flat_map(move |group| {
                let after = after.map(|id| id.as_uuid().as_u128());
                group.after(after, |ix| mem_key(&self.rows, ix))
            })
            .map(|ix| (mem_id_at(&self.rows, ix), ix))
    }

    /// A page (plus one row, to tell whether more follow) of an org's memberships, with
    /// `status` and `role` when given, in id order.
    ///
    /// O(log n + page) with or without filters: the ranges of `by_org` the filter leaves (one
    /// with a status and a role, 6 with a status alone, 3 with a role alone, all 18 without a
    /// filter; only those that have held a row of the org) merged in id order, reading
    /// `limit + 1` rows plus at most one more per range.
    pub(crate) fn org_memberships(
        &self,
        org: OrgId,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        role: Option<Role>,
        limit: usize,
    ) -> Vec<Membership> {
        let Some(org) = self.org_ix.get(&org) else {
            return Vec::new();
        };
        let statuses = status
            .as_ref()
            .map_or(MembershipStatus::ALL, std::slice::from_ref);
        let roles = role.as_ref().map_or(Role::ALL, std::slice::from_ref);
        let groups = self.org_groups(org, statuses, roles, after);
        merge_sorted(groups, |(mem, _)| *mem)
            .take(limit.saturating_add(1))
            .filter_map(|(_, ix)| self.membership_at(ix))
            .collect()
    }

    /// A page (plus one row) of a user's memberships, with `status` when given, in id order.
    ///
    /// A user with at most [`FEW_ROWS`] rows is read by walking and sorting its rows. Beyond,
    /// the page is a range of `by_user`, O(log n + page) without a filter; the status filter is
    /// applied row by row, so such a page reads every row of the user after the cursor until
    /// `limit + 1` match (a user's rows are few).
    pub(crate) fn user_memberships(
        &self,
        usr: UsrId,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        limit: usize,
    ) -> Vec<Membership> {
        let Some(usr) = self.users.get(&usr) else {
            return Vec::new();
        };
        let wanted = |row: &&MemRow| status.is_none_or(|wanted| row.status == wanted);
        let take = limit.saturating_add(1);
        if self.user_rows(usr).indexed() {
            let key = |mem| UserKey { usr, mem };
            return self
                .by_user
                .range((
                    start_after(after.map(key), key(MemId::MIN)),
                    Bound::Unbounded,
                ))
                .take_while(|(key, _)| key.usr == usr)
                .filter_map(|(_, ix)| self.row(*ix))
                .filter(wanted)
                .take(take)
                .filter_map(|row| self.materialize(row))
                .collect();
        }
        let mut rows: Vec<&MemRow> = self
            .walk_user(usr)
            .map(|(_, row)| row)
            .filter(|row| after.is_none_or(|after| row.id > after))
            .filter(wanted)
            .collect();
        rows.sort_unstable_by_key(|row| row.id);
        rows.into_iter()
            .take(take)
            .filter_map(|row| self.materialize(row))
            .collect()
    }

    /// The user's [`UserRows`].
    fn user_rows(&self, usr: Ix) -> UserRows {
        self.user_rows
            .get(usr as usize)
            .copied()
            .unwrap_or(UserRows::EMPTY)
    }

    /// Every row of a user, newest first, along the links of its rows: for a user with at most
    /// [`FEW_ROWS`] rows (more would be a long walk).
    fn walk_user(&self, usr: Ix) -> impl Iterator<Item = (Ix, &MemRow)> + '_ {
        let mut next = self.user_rows(usr).newest;
        std::iter::from_fn(move || {
            let ix = next;
            let row = self.row(ix)?;
            next = row.links.older;
            Some((ix, row))
        })
    }

    /// The tuples of a user's active rows after `after`, in tuple id order: a range of
    /// `mirrored_by_user`, or for a user with at most [`FEW_ROWS`] rows its rows walked and
    /// sorted.
    fn user_tuples(&self, usr: Ix, after: Option<TupId>) -> Stream<'_, TupleRef> {
        if self.user_rows(usr).indexed() {
            let start = start_after(after.map(|after| (usr, after)), (usr, TupId::MIN));
            return Box::new(
                self.mirrored_by_user
                    .range((start, Bound::Unbounded))
                    .take_while(move |((owner, _), _)| *owner == usr)
                    .map(|((_, tuple), ix)| TupleRef::Mirrored(*tuple, *ix)),
            );
        }
        let mut found: Vec<TupleRef> = self
            .walk_user(usr)
            .filter(|(_, row)| row.status == MembershipStatus::Active)
            .filter(|(_, row)| after.is_none_or(|after| row.tuple_id > after))
            .map(|(ix, row)| TupleRef::Mirrored(row.tuple_id, ix))
            .collect();
        found.sort_unstable_by_key(TupleRef::id);
        Box::new(found.into_iter())
    }

    // --- memberships: writes -------------------------------------------------------------

    /// Tallies a row of `org` entering (`delta` 1) or leaving (-1) the group (`status`,
    /// `role`).
    fn tally(&mut self, org: Ix, status: MembershipStatus, role: Role, delta: i32) {
        let tally = self.org_tallies.entry(org).or_default();
        if delta > 0 {
            tally.groups |= group_bit(status, role);
        }
        if role == Role::Owner && status == MembershipStatus::Active {
            tally.active_owners = tally.active_owners.saturating_add_signed(delta);
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
            older: NONE,
        }
    }

    /// Appends the row of `membership`, whose ids resolve to `links`, and indexes it.
    fn push_row(&mut self, membership: &Membership, links: Links) {
        debug_assert!(
            membership.status != MembershipStatus::Active
                || membership.updated_at == membership.created_at,
            "a new active row was last updated when it was created, as was its tuple"
        );
        let Links { usr, org, .. } = links;
        let ix = self.rows.len() as Ix;
        let tuple_id = TupId::new();
        if self.user_rows.len() <= usr as usize {
            self.user_rows.resize(usr as usize + 1, UserRows::EMPTY);
        }
        let user = &mut self.user_rows[usr as usize];
        let older = std::mem::replace(&mut user.newest, ix);
        user.count = user.count.saturating_add(1);
        let user = *user;
        self.rows.push(MemRow {
            id: membership.id,
            created_at: membership.created_at,
            updated_at: membership.updated_at,
            tuple_id,
            links: Links { older, ..links },
            // Both placed below, by the inserts that index the row.
            org_chunk: 0,
            tuple_chunk: 0,
            role: membership.role,
            status: membership.status,
        });
        self.mem_ix.insert(membership.id, ix);
        self.by_org
            .entry((org, membership.status, membership.role))
            .or_default()
            .insert(ix, &mut RowPlaces::<BY_ROW_ID>(&mut self.rows));
        if membership.status == MembershipStatus::Active {
            self.active.insert((usr, org), ix);
            self.mirrored_by_org
                .entry((org, membership.role))
                .or_default()
                .insert(ix, &mut RowPlaces::<BY_TUPLE_ID>(&mut self.rows));
        }
        self.tally(org, membership.status, membership.role, 1);
        if user.indexed() {
            // The row that takes the user past `FEW_ROWS` brings all of its rows into the
            // user indexes; a later one brings itself.
            let rows: Vec<Ix> = if user.count == FEW_ROWS + 1 {
                self.walk_user(usr).map(|(ix, _)| ix).collect()
            } else {
                vec![ix]
            };
            for ix in rows {
                self.index_for_user(ix);
            }
        }
    }

    /// Adds row `ix` to the user indexes (`by_user`, and `mirrored_by_user` when active).
    fn index_for_user(&mut self, ix: Ix) {
        let Some(row) = self.row(ix) else {
            return;
        };
        let (usr, mem, tuple_id) = (row.links.usr, row.id, row.tuple_id);
        if row.status == MembershipStatus::Active {
            self.mirrored_by_user.insert((usr, tuple_id), ix);
        }
        self.by_user.insert(UserKey { usr, mem }, ix);
    }

    /// Adds (`present`) or removes the mirrored-tuple index entries of an active row.
    fn mirror(&mut self, links: Links, role: Role, tuple_id: TupId, ix: Ix, present: bool) {
        let indexed = self.user_rows(links.usr).indexed();
        if present {
            if indexed {
                self.mirrored_by_user.insert((links.usr, tuple_id), ix);
            }
            self.mirrored_by_org
                .entry((links.org, role))
                .or_default()
                .insert(ix, &mut RowPlaces::<BY_TUPLE_ID>(&mut self.rows));
        } else {
            if indexed {
                self.mirrored_by_user.remove(&(links.usr, tuple_id));
            }
            let hint = self.row(ix).map_or(0, |row| row.tuple_chunk);
            remove_from(
                &mut self.mirrored_by_org,
                (links.org, role),
                &tuple_id.as_uuid().as_u128(),
                hint,
                &mut RowPlaces::<BY_TUPLE_ID>(&mut self.rows),
            );
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
        let org_chunk = row.org_chunk;
        let (usr, org, old_tuple) = (links.usr, links.org, row.tuple_id);
        self.tally(org, before, role, -1);
        if before == MembershipStatus::Active {
            self.active.remove(&(usr, org));
            self.mirror(links, role, old_tuple, ix, false);
        }
        remove_from(
            &mut self.by_org,
            (org, before, role),
            &mem.as_uuid().as_u128(),
            org_chunk,
            &mut RowPlaces::<BY_ROW_ID>(&mut self.rows),
        );
        self.by_org
            .entry((org, status, role))
            .or_default()
            .insert(ix, &mut RowPlaces::<BY_ROW_ID>(&mut self.rows));
        let row = self.rows.get_mut(ix as usize)?;
        row.status = status;
        row.updated_at = now;
        if status == MembershipStatus::Revoked {
            row.links.removed_by = removed_by;
        }
        if status == MembershipStatus::Active {
            // A reactivated row is mirrored by a new tuple.
            row.tuple_id = TupId::new();
            row.links.tuple_by = NONE;
            let new_tuple = row.tuple_id;
            self.active.insert((usr, org), ix);
            self.mirror(links, role, new_tuple, ix, true);
        }
        self.tally(org, status, role, 1);
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

    /// Revokes every membership of an org that is not revoked yet, reading only those.
    pub(crate) fn revoke_org_memberships(&mut self, org: OrgId, now: OffsetDateTime) {
        let Some(org) = self.org_ix.get(&org) else {
            return;
        };
        let statuses = [MembershipStatus::Active, MembershipStatus::Suspended];
        let live: Vec<Ix> = self
            .org_groups(org, &statuses, Role::ALL, None)
            .flatten()
            .map(|(_, ix)| ix)
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
                    self.user_tuples(usr, None)
                        .filter_map(|found| self.resolve(found)),
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
                    self.org_groups(org, &[MembershipStatus::Active], Role::ALL, None)
                        .flatten()
                        .filter_map(|(_, ix)| self.tuple_of(self.row(ix)?)),
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
            streams.push(self.user_tuples(usr, after));
        }
        merge_sorted(streams, TupleRef::id)
            .take(limit.saturating_add(1))
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
                if let Some(group) = self.mirrored_by_org.get(&(org, role)) {
                    streams.push(Box::new(
                        group
                            .after(after.map(|id| id.as_uuid().as_u128()), |ix| {
                                tuple_key(&self.rows, ix)
                            })
                            .map(|ix| TupleRef::Mirrored(tuple_id_at(&self.rows, ix), ix)),
                    ));
                }
            }
        }
        merge_sorted(streams, TupleRef::id)
            .take(limit.saturating_add(1))
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
            orgs: self
                .org_order
                .after(None, itself)
                .filter_map(|org| self.orgs.get(&org).cloned())
                .collect(),
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
        let merged: Vec<u32> = merge_sorted(streams, |n| *n).take(5).collect();
        assert_eq!(merged, vec![1, 2, 3, 4, 5]);
        // The five taken, and one head of each non-empty stream beyond them.
        assert!(read.get() <= 5 + 3, "read {}", read.get());
        let streams = vec![counted(vec![1, 3]), counted(vec![2])];
        let merged: Vec<u32> = merge_sorted(streams, |n| *n).take(10).collect();
        assert_eq!(merged, vec![1, 2, 3]);
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

    #[test]
    fn a_user_past_few_rows_has_every_row_in_the_user_indexes() {
        let mut state = State::default();
        let (usr, at) = (UsrId::new(), datetime!(2026-01-01 00:00 UTC));
        state.add_user(usr);
        let entries = |state: &State| {
            let ix = state.users.get(&usr).expect("interned");
            let rows = state.by_user.keys().filter(|key| key.usr == ix).count();
            let tuples = state.mirrored_by_user.keys().filter(|key| key.0 == ix);
            (rows, tuples.count())
        };
        let mut suspended = 0;
        for n in 1..=FEW_ROWS + 2 {
            let row = Membership::joined(MemId::new(), usr, OrgId::new(), Role::Member, None, at);
            state.insert_membership(row.clone(), None);
            if n % 3 == 0 {
                state.set_membership_status(row.id, MembershipStatus::Suspended, None, at);
                suspended += 1;
            }
            let expected = if n > FEW_ROWS {
                (n as usize, (n - suspended) as usize)
            } else {
                (0, 0)
            };
            assert_eq!(entries(&state), expected, "after {n} rows");
        }
    }

    /// Every row records the chunks that hold it and its tuple, through the splits, merges and
    /// dropped chunks of a big org's groups, so that a write's removal searches one chunk.
    #[test]
    fn rows_record_the_chunks_that_hold_them() {
        let mut state = State::default();
        let (org, at) = (OrgId::new(), datetime!(2026-01-01 00:00 UTC));
        let ids: Vec<MemId> = (0..3_000)
            .map(|_| {
                let row =
                    Membership::joined(MemId::new(), UsrId::new(), org, Role::Member, None, at);
                state.insert_membership(row.clone(), None);
                row.id
            })
            .collect();
        let check = |state: &State, step: &str| {
            for (ix, row) in state.rows.iter().enumerate() {
                let ix = ix as Ix;
                let group = &state.by_org[&(row.links.org, row.status, row.role)];
                let holding = group.chunk_holding(ix, |ix| mem_key(&state.rows, ix));
                assert_eq!(holding, Some(row.org_chunk), "{step}: row {ix}");
                if row.status == MembershipStatus::Active {
                    let group = &state.mirrored_by_org[&(row.links.org, row.role)];
                    let holding = group.chunk_holding(ix, |ix| tuple_key(&state.rows, ix));
                    assert_eq!(holding, Some(row.tuple_chunk), "{step}: tuple of row {ix}");
                }
            }
        };
        check(&state, "appended");
        // Suspend in a scattered order (middle inserts split the suspended group's chunks and
        // thin the active group's), reinstate most of them (new tuples, appended), then revoke
        // a stretch (chunks emptied and merged).
        let scattered = |n: usize| (n * 7_919) % ids.len();
        for n in 0..2_000 {
            state.set_membership_status(ids[scattered(n)], MembershipStatus::Suspended, None, at);
        }
        check(&state, "suspended");
        for n in 0..1_500 {
            state.set_membership_status(ids[scattered(n)], MembershipStatus::Active, None, at);
        }
        check(&state, "reinstated");
        for id in &ids[500..2_500] {
            state.set_membership_status(*id, MembershipStatus::Revoked, None, at);
        }
        check(&state, "revoked");
        // Role changes (revoke-and-re-add) of the rows left active, into a second role's
        // groups; a second org beside; then the whole org revoked.
        let active: Vec<Membership> = ids
            .iter()
            .filter_map(|id| state.membership(*id))
            .filter(|row| row.status == MembershipStatus::Active)
            .collect();
        for old in active.iter().step_by(2) {
            state.rotate(old, &old.successor(MemId::new(), Role::Admin, at), at);
        }
        let other = OrgId::new();
        for _ in 0..300 {
            let row = Membership::joined(MemId::new(), UsrId::new(), other, Role::Guest, None, at);
            state.insert_membership(row, None);
        }
        check(&state, "rotated");
        state.revoke_org_memberships(org, at);
        check(&state, "org revoked");
    }
}
