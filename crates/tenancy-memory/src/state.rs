//! The rows and indexes of the in-memory store, and the mutations that keep them consistent.
//!
//! Memberships are most of a store's memory, so their rows are compact: users and orgs are
//! interned to dense `u32` indexes, a row names its user, org, inviter, remover and
//! predecessor by index, and the tuple that mirrors an active row is kept inline (its id, time
//! and creator). Rows live in one `Vec` and never move out of it (history is kept), so an index
//! into it is a stable row handle. The ordered indexes are keyed by `(owner index, membership
//! id)` and compare ids as `u128`, which keeps keys at 20 bytes and comparisons cheap.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::ops::Bound;

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::{
    EntityType, Invitation, Membership, MembershipStatus, Organization, Relation, Role, Slug,
    Snapshot, Tuple,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::hash::IdMap;

/// A dense index into one of the state's tables.
type Ix = u32;

/// "No row": the index of an absent inviter, remover, predecessor or tuple creator.
const NONE: Ix = Ix::MAX;

/// Dense indexes for ids: the first id interned gets 0, the next 1, and so on.
#[derive(Debug)]
pub(crate) struct Interner<T> {
    ids: Vec<T>,
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

    fn intern(&mut self, id: T) -> Ix {
        // A plain lookup first, not the entry API: most ids interned are already known, and a
        // lookup is inlined where the entry is an out-of-line call; a new id pays for a second
        // hash, which with this hasher costs a few instructions.
        if let Some(ix) = self.get(&id) {
            return ix;
        }
        // Four billion users or orgs would need hundreds of gigabytes of rows first.
        let ix = self.ids.len() as Ix;
        self.ids.push(id);
        self.index.insert(id, ix);
        ix
    }

    fn id(&self, ix: Ix) -> Option<T> {
        self.ids.get(ix as usize).copied()
    }
}

/// A key of the ordered membership indexes: the owning user or org, then the membership id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    owner: Ix,
    mem: [u8; 16],
}

impl Key {
    fn new(owner: Ix, mem: MemId) -> Self {
        Self {
            owner,
            mem: mem.as_uuid().into_bytes(),
        }
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // Big-endian bytes read as u128 order exactly as the UUIDs do.
        self.owner
            .cmp(&other.owner)
            .then_with(|| u128::from_be_bytes(self.mem).cmp(&u128::from_be_bytes(other.mem)))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One membership, compact. The mirrored tuple's fields mean something only while the row is
/// active.
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

/// The indexes a membership row refers to.
#[derive(Debug, Clone, Copy)]
struct Links {
    /// The member.
    usr: Ix,
    /// The org.
    org: Ix,
    /// The row this one replaces, or [`NONE`].
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
/// copy every row each time it doubles: at a million rows one insert would copy about 100 MB
/// while holding the store's lock. Here only the first chunk grows by doubling (so a small store
/// stays small); every later chunk is allocated at its full size once and never moves.
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

#[derive(Debug, Default)]
pub(crate) struct State {
    users: Interner<UsrId>,
    pub(crate) orgs: BTreeMap<OrgId, Organization>,
    org_ix: Interner<OrgId>,
    pub(crate) slugs: HashMap<Slug, OrgId>,
    rows: Rows,
    mem_ix: IdMap<MemId, Ix>,
    by_org: BTreeMap<Key, Ix>,
    by_user: BTreeMap<Key, Ix>,
    /// `(user, org)` to the row of the user's active membership there.
    active: IdMap<(Ix, Ix), Ix>,
    active_owners: IdMap<Ix, usize>,
    pub(crate) invitations: IdMap<InvId, Invitation>,
    pub(crate) org_invitations: BTreeSet<(OrgId, InvId)>,
    /// Tuples that do not mirror a membership (pre-tuple grants).
    pub(crate) tuples: BTreeMap<TupId, Tuple>,
    /// Natural keys of the explicit tuples. Their strings are short validated names (entity
    /// types, relations), which the keyed hasher reads soundly at any length, and hashing them
    /// with SipHash was about 7% of an `accept_invitation` with one pre-tuple.
    pub(crate) tuple_keys: IdMap<TupleKey, TupId>,
    pub(crate) by_subject: BTreeSet<(EntityType, Uuid, TupId)>,
    pub(crate) by_object: BTreeSet<(EntityType, Uuid, TupId)>,
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
    pub(crate) fn org_memberships(
        &self,
        org: OrgId,
        after: Option<MemId>,
        status: Option<MembershipStatus>,
        role: Option<Role>,
        limit: usize,
    ) -> Vec<Membership> {
        self.page(
            &self.by_org,
            self.org_ix.get(&org),
            after,
            status,
            role,
            limit,
        )
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
        // The tuple's creator is usually the member (a new org's owner) or the inviter (every
        // other path), whose index is already at hand; interning is idempotent, so reusing it
        // only saves a lookup.
        let tuple_by = match created_by {
            Some(id) if id == membership.usr_id => usr,
            Some(id) if Some(id) == membership.invited_by => invited_by,
            other => optional(other.map(|id| self.users.intern(id))),
        };
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
        self.rows.push(MemRow {
            id: membership.id,
            created_at: membership.created_at,
            updated_at: membership.updated_at,
            tuple_id: TupId::new(),
            tuple_at: membership.created_at,
            links,
            role: membership.role,
            status: membership.status,
        });
        self.mem_ix.insert(membership.id, ix);
        self.by_org.insert(Key::new(org, membership.id), ix);
        self.by_user.insert(Key::new(usr, membership.id), ix);
        if membership.status == MembershipStatus::Active {
            self.active.insert((usr, org), ix);
        }
        self.count_owner(org, membership.role, membership.status, 1);
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
        let (usr, org, role, before) = (row.links.usr, row.links.org, row.role, row.status);
        self.count_owner(org, role, before, -1);
        if before == MembershipStatus::Active {
            self.active.remove(&(usr, org));
        }
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
            self.active.insert((usr, org), ix);
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
        // The successor has the old row's user, org and inviter, so its links are the old
        // row's indexes (and the old row itself); only a row that is not stored (which callers
        // never pass) needs its ids looked up.
        let links = match old_ix.and_then(|ix| self.row(ix).map(|row| (ix, row))) {
            Some((ix, row)) => Links {
                usr: row.links.usr,
                org: row.links.org,
                replaces: ix,
                invited_by: row.links.invited_by,
                removed_by: NONE,
                tuple_by: NONE,
            },
            None => self.links(new, None),
        };
        self.push_row(new, links);
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
