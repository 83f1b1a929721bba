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
    EntityType, Invitation, Membership, MembershipStatus, Organization, Relation, Role, Slug,
    Snapshot, Tuple,
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
    pub(crate) orgs: BTreeMap<OrgId, Organization>,
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
    /// `(user, org)` to the row of the user's active membership there.
    active: IdMap<(Ix, Ix), Ix>,
    /// Org to the number of its active owner rows.
    active_owners: IdMap<Ix, usize>,
    pub(crate) invitations: IdMap<InvId, Invitation>,
    pub(crate) org_invitations: BTreeSet<(OrgId, InvId)>,
    /// Tuples that do not mirror a membership (pre-tuple grants).
    pub(crate) tuples: BTreeMap<TupId, Tuple>,
    /// Natural keys of the explicit tuples.
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
