//! A consistent copy of every row of a store, and the invariant checks run over it.

use std::collections::{HashMap, HashSet};

use flametrench_ids::{MemId, OrgId, UsrId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{
    Invitation, InvitationStatus, Membership, MembershipStatus, OrgStatus, Organization, Role,
    Tuple,
};

/// Every row of a store at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Registered users.
    pub users: Vec<UsrId>,
    /// Orgs, in id order.
    pub orgs: Vec<Organization>,
    /// Memberships (history included), in id order.
    pub memberships: Vec<Membership>,
    /// Invitations, in id order.
    pub invitations: Vec<Invitation>,
    /// Tuples, in id order.
    pub tuples: Vec<Tuple>,
}

impl Snapshot {
    /// Checks the tenancy invariants and describes every violation (empty when all hold):
    ///
    /// - every org with an active membership has an active owner, and no revoked org has one;
    /// - every active membership has exactly one `(usr, role, org)` tuple and every membership
    ///   tuple (a role relation from a `usr` on an `org`) an active membership;
    /// - at most one active membership per (user, org);
    /// - `replaces` chains are well formed: each row is replaced at most once, by a row of the
    ///   same user and org created no earlier, superseded rows are revoked, no cycles;
    /// - every accepted invitation has a membership of its accepting user in its org, created
    ///   when it was accepted;
    /// - no invitation is still pending in a revoked org.
    pub fn check_invariants(&self) -> Vec<String> {
        let mut violations = Vec::new();
        let orgs: HashMap<OrgId, &Organization> =
            self.orgs.iter().map(|org| (org.id, org)).collect();
        let memberships: HashMap<MemId, &Membership> =
            self.memberships.iter().map(|row| (row.id, row)).collect();

        let mut active_per_pair: HashMap<(UsrId, OrgId), usize> = HashMap::new();
        let mut active_orgs: HashSet<OrgId> = HashSet::new();
        let mut owned_orgs: HashSet<OrgId> = HashSet::new();
        for row in self
            .memberships
            .iter()
            .filter(|row| row.status == MembershipStatus::Active)
        {
            *active_per_pair.entry((row.usr_id, row.org_id)).or_default() += 1;
            active_orgs.insert(row.org_id);
            if row.role == Role::Owner {
                owned_orgs.insert(row.org_id);
            }
            match orgs.get(&row.org_id) {
                Some(org) if org.status == OrgStatus::Revoked => violations.push(format!(
                    "active membership {} in revoked org {}",
                    row.id, row.org_id
                )),
                None => violations.push(format!(
                    "membership {} in unknown org {}",
                    row.id, row.org_id
                )),
                Some(_) => {}
            }
        }
        for org in &active_orgs {
            if !owned_orgs.contains(org) {
                violations.push(format!("org {org} has active members but no active owner"));
            }
        }
        for ((usr, org), count) in &active_per_pair {
            if *count > 1 {
                violations.push(format!(
                    "user {usr} has {count} active memberships in org {org}"
                ));
            }
        }

        // Duality: membership tuples versus active memberships.
        let mut tuple_counts: HashMap<(Uuid, &str, Uuid), usize> = HashMap::new();
        for tuple in &self.tuples {
            if tuple.subject_type.as_str() == "usr"
                && tuple.object_type.as_str() == "org"
                && Role::is_role_name(tuple.relation.as_str())
            {
                *tuple_counts
                    .entry((tuple.subject_id, tuple.relation.as_str(), tuple.object_id))
                    .or_default() += 1;
            }
        }
        let mut expected: HashSet<(Uuid, &str, Uuid)> = HashSet::new();
        for row in self
            .memberships
            .iter()
            .filter(|row| row.status == MembershipStatus::Active)
        {
            let key = (
                row.usr_id.as_uuid(),
                row.role.as_str(),
                row.org_id.as_uuid(),
            );
            expected.insert(key);
            match tuple_counts.get(&key).copied().unwrap_or(0) {
                1 => {}
                n => violations.push(format!(
                    "active membership {} has {n} membership tuples",
                    row.id
                )),
            }
        }
        for (key, _) in tuple_counts
            .iter()
            .filter(|(key, _)| !expected.contains(*key))
        {
            violations.push(format!(
                "membership tuple ({}, {}, {}) has no active membership",
                key.0, key.1, key.2
            ));
        }

        // Replacement chains.
        let mut replaced_by: HashMap<MemId, MemId> = HashMap::new();
        for row in &self.memberships {
            let Some(previous) = row.replaces else {
                continue;
            };
            if let Some(other) = replaced_by.insert(previous, row.id) {
                violations.push(format!(
                    "membership {previous} is replaced by both {other} and {}",
                    row.id
                ));
            }
            match memberships.get(&previous) {
                None => {
                    violations.push(format!("membership {} replaces unknown {previous}", row.id))
                }
                Some(old) => {
                    if old.status != MembershipStatus::Revoked {
                        violations.push(format!("superseded membership {previous} is not revoked"));
                    }
                    if old.usr_id != row.usr_id || old.org_id != row.org_id {
                        violations.push(format!(
                            "membership {} replaces {previous} of another user or org",
                            row.id
                        ));
                    }
                    if old.created_at > row.created_at {
                        violations.push(format!(
                            "membership {} is older than {previous}, which it replaces",
                            row.id
                        ));
                    }
                }
            }
        }
        // Cycles: walk each chain once, remembering finished rows, so the check is linear.
        let mut finished: HashSet<MemId> = HashSet::new();
        for row in &self.memberships {
            let mut path = HashSet::new();
            let mut cursor = Some(row.id);
            while let Some(id) = cursor {
                if finished.contains(&id) {
                    break;
                }
                if !path.insert(id) {
                    violations.push(format!("replaces chain through {} has a cycle", row.id));
                    break;
                }
                cursor = memberships.get(&id).and_then(|m| m.replaces);
            }
            finished.extend(path);
        }

        // Pending invitations outlive no revoked org: revoking an org revokes them.
        for invitation in self
            .invitations
            .iter()
            .filter(|inv| inv.status == InvitationStatus::Pending)
        {
            if orgs
                .get(&invitation.org_id)
                .is_some_and(|org| org.status == OrgStatus::Revoked)
            {
                violations.push(format!(
                    "pending invitation {} in revoked org {}",
                    invitation.id, invitation.org_id
                ));
            }
        }

        // Accepted invitations.
        let joined_at: HashSet<(UsrId, OrgId, time::OffsetDateTime)> = self
            .memberships
            .iter()
            .map(|row| (row.usr_id, row.org_id, row.created_at))
            .collect();
        for invitation in self
            .invitations
            .iter()
            .filter(|inv| inv.status == InvitationStatus::Accepted)
        {
            let Some(user) = invitation.invited_user_id else {
                violations.push(format!(
                    "accepted invitation {} has no invited_user_id",
                    invitation.id
                ));
                continue;
            };
            let joined = invitation
                .terminal_at
                .is_some_and(|at| joined_at.contains(&(user, invitation.org_id, at)));
            if !joined {
                violations.push(format!(
                    "accepted invitation {} has no membership created when it was accepted",
                    invitation.id
                ));
            }
        }
        violations
    }
}
