//! The rows and indexes of the in-memory store, and the mutations that keep them consistent.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use flametrench_ids::{InvId, MemId, OrgId, TupId, UsrId};
use flametrench_tenancy_core::{
    EntityType, Invitation, Membership, MembershipStatus, Organization, Relation, Role, Slug,
    Snapshot, Tuple,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// The tuple that mirrors an active membership; kept on the membership row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MembershipTuple {
    pub(crate) id: TupId,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) created_by: Option<UsrId>,
}

#[derive(Debug, Clone)]
pub(crate) struct MemRow {
    pub(crate) membership: Membership,
    /// Present exactly when the membership is active.
    pub(crate) tuple: Option<MembershipTuple>,
}

impl MemRow {
    fn tuple(&self) -> Option<Tuple> {
        let meta = self.tuple?;
        Some(Tuple {
            id: meta.id,
            subject_type: EntityType::usr(),
            subject_id: self.membership.usr_id.as_uuid(),
            relation: self.membership.role.relation(),
            object_type: EntityType::org(),
            object_id: self.membership.org_id.as_uuid(),
            created_at: meta.created_at,
            created_by: meta.created_by,
        })
    }
}

/// The natural key of a tuple.
pub(crate) type TupleKey = (EntityType, Uuid, Relation, EntityType, Uuid);

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) users: HashSet<UsrId>,
    pub(crate) orgs: BTreeMap<OrgId, Organization>,
    pub(crate) slugs: HashMap<Slug, OrgId>,
    pub(crate) memberships: HashMap<MemId, MemRow>,
    pub(crate) org_memberships: BTreeSet<(OrgId, MemId)>,
    pub(crate) user_memberships: BTreeSet<(UsrId, MemId)>,
    pub(crate) active: HashMap<(UsrId, OrgId), MemId>,
    pub(crate) active_owners: HashMap<OrgId, usize>,
    pub(crate) invitations: HashMap<InvId, Invitation>,
    pub(crate) org_invitations: BTreeSet<(OrgId, InvId)>,
    /// Tuples that do not mirror a membership (pre-tuple grants).
    pub(crate) tuples: BTreeMap<TupId, Tuple>,
    pub(crate) tuple_keys: HashMap<TupleKey, TupId>,
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

impl State {
    pub(crate) fn active_owners(&self, org: OrgId) -> usize {
        self.active_owners.get(&org).copied().unwrap_or(0)
    }

    fn count_owner(&mut self, membership: &Membership, delta: isize) {
        if membership.role == Role::Owner && membership.status == MembershipStatus::Active {
            let entry = self.active_owners.entry(membership.org_id).or_default();
            *entry = entry.saturating_add_signed(delta);
        }
    }

    /// Inserts a new active membership and its tuple.
    pub(crate) fn insert_membership(&mut self, membership: Membership, created_by: Option<UsrId>) {
        let tuple = MembershipTuple {
            id: TupId::new(),
            created_at: membership.created_at,
            created_by,
        };
        self.count_owner(&membership, 1);
        self.active
            .insert((membership.usr_id, membership.org_id), membership.id);
        self.org_memberships
            .insert((membership.org_id, membership.id));
        self.user_memberships
            .insert((membership.usr_id, membership.id));
        self.memberships.insert(
            membership.id,
            MemRow {
                membership,
                tuple: Some(tuple),
            },
        );
    }

    /// Moves a membership to `status`, keeping the indexes and its tuple in step.
    pub(crate) fn set_membership_status(
        &mut self,
        mem_id: MemId,
        status: MembershipStatus,
        removed_by: Option<UsrId>,
        now: OffsetDateTime,
    ) -> Option<Membership> {
        let before = self.memberships.get(&mem_id)?.membership.clone();
        self.count_owner(&before, -1);
        if before.status == MembershipStatus::Active {
            self.active.remove(&(before.usr_id, before.org_id));
        }
        let row = self.memberships.get_mut(&mem_id)?;
        row.membership.status = status;
        row.membership.updated_at = now;
        if status == MembershipStatus::Revoked {
            row.membership.removed_by = removed_by;
        }
        row.tuple = match status {
            MembershipStatus::Active => Some(MembershipTuple {
                id: TupId::new(),
                created_at: now,
                created_by: None,
            }),
            _ => None,
        };
        let after = row.membership.clone();
        if status == MembershipStatus::Active {
            self.active.insert((after.usr_id, after.org_id), after.id);
        }
        self.count_owner(&after, 1);
        Some(after)
    }

    /// Revoke-and-re-add: revokes `old` and inserts an active row with `new_role` replacing it.
    pub(crate) fn rotate(
        &mut self,
        old: &Membership,
        new_role: Role,
        now: OffsetDateTime,
    ) -> Membership {
        self.set_membership_status(old.id, MembershipStatus::Revoked, None, now);
        let new = old.successor(MemId::new(), new_role, now);
        self.insert_membership(new.clone(), None);
        new
    }

    /// Whether a tuple with this natural key exists (explicit or mirroring a membership).
    pub(crate) fn has_tuple(&self, key: &TupleKey) -> bool {
        if self.tuple_keys.contains_key(key) {
            return true;
        }
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
        self.active
            .get(&(usr, org))
            .and_then(|id| self.memberships.get(id))
            .is_some_and(|row| row.membership.role.as_str() == relation.as_str())
    }

    /// Stores an explicit tuple; returns false if its natural key already exists.
    pub(crate) fn insert_tuple(&mut self, tuple: Tuple) -> bool {
        let key = key_of(&tuple);
        if self.has_tuple(&key) {
            return false;
        }
        self.tuple_keys.insert(key, tuple.id);
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
            if let Ok(usr) = UsrId::try_from_uuid(subject_id) {
                found.extend(
                    self.user_memberships
                        .range((usr, MemId::MIN)..)
                        .take_while(|(user, _)| *user == usr)
                        .filter_map(|(_, mem)| self.memberships.get(mem).and_then(MemRow::tuple)),
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
            if let Ok(org) = OrgId::try_from_uuid(object_id) {
                found.extend(
                    self.org_memberships
                        .range((org, MemId::MIN)..)
                        .take_while(|(owner, _)| *owner == org)
                        .filter_map(|(_, mem)| self.memberships.get(mem).and_then(MemRow::tuple)),
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
        let mut users: Vec<UsrId> = self.users.iter().copied().collect();
        users.sort();
        let mut memberships: Vec<Membership> = self
            .memberships
            .values()
            .map(|row| row.membership.clone())
            .collect();
        memberships.sort_by_key(|row| row.id);
        let mut invitations: Vec<Invitation> = self.invitations.values().cloned().collect();
        invitations.sort_by_key(|row| row.id);
        let mut tuples: Vec<Tuple> = self.tuples.values().cloned().collect();
        tuples.extend(self.memberships.values().filter_map(MemRow::tuple));
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
