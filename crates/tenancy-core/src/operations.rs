//! The operation table: every tenancy operation, written once.
//!
//! [`tenancy_operations!`](crate::tenancy_operations) hands the table to a macro of the
//! caller's, which generates what each operation needs: this crate generates
//! [`TenancyStore`](crate::TenancyStore), [`DynTenancyStore`](crate::dynamic::DynTenancyStore) with its
//! impls, and [`Op`]; the PostgreSQL store takes its savepoint and span labels from [`Op`], and
//! the conformance runner its dispatch from the table. Adding an operation means adding it here
//! and implementing it in each store.

/// Calls `$callback!` with every tenancy operation, in the order of the spec's operation list.
///
/// Each entry is the method's documentation, then `read` or `write`, the [`Op`] variant, the
/// method name, its arguments after `&self`, and what it returns on success:
///
/// ```text
/// /// Reads an org. …
/// read GetOrg get_org(org_id: $crate::ids::OrgId) -> $crate::Organization;
/// ```
///
/// Types are written with `$crate::` paths so that the callback may expand anywhere.
#[macro_export]
macro_rules! tenancy_operations {
    ($callback:path) => {
        $callback! {
            /// Registers a user id so that memberships, invitations and tuples may reference it.
            /// Idempotent. References to unregistered users fail with `not_found` (user).
            ///
            /// # Errors
            ///
            /// Storage errors only.
            write EnsureUser ensure_user(usr_id: $crate::ids::UsrId) -> ();
            /// Creates an active org with the creator as its first owner.
            ///
            /// # Errors
            ///
            /// `not_found` (unknown creator); `conflict.org_slug` when another org, of any status,
            /// holds the slug.
            write CreateOrg create_org(input: $crate::CreateOrg) -> $crate::CreateOrgResult;
            /// Reads an org.
            ///
            /// # Errors
            ///
            /// `not_found`.
            read GetOrg get_org(org_id: $crate::ids::OrgId) -> $crate::Organization;
            /// Sets or clears an org's name and slug; always bumps `updated_at`.
            ///
            /// Authorization: with [`UpdateOrg::by`](crate::UpdateOrg::by), the actor must be
            /// an active owner or admin of the active org, checked under the org's lock in the
            /// same round trip (`spec/decisions/0016-actor-checks.md`); without it, none (the
            /// caller decides who may rename an org).
            ///
            /// # Errors
            ///
            /// `not_found`; `already_terminal` for a revoked org; with an actor,
            /// `precondition.org_not_active` for a suspended org and `forbidden`;
            /// `conflict.org_slug`.
            write UpdateOrg update_org(input: $crate::UpdateOrg) -> $crate::Organization;
            /// Lists every org of the install (an admin-only read: the store does no authorization).
            ///
            /// # Errors
            ///
            /// `precondition.invalid_cursor`.
            read ListOrgs list_orgs(input: $crate::ListOrgs) -> $crate::Page<$crate::Organization>;
            /// Suspends an active org; memberships and tuples are kept.
            ///
            /// Authorization: with [`OrgAction::by`](crate::OrgAction::by), the actor must be an
            /// active owner of the org, checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); without it, none (the caller decides who
            /// may suspend an org).
            ///
            /// # Errors
            ///
            /// `not_found`; `already_terminal` when revoked; `precondition.invalid_transition` when
            /// already suspended; with an actor, `forbidden`.
            write SuspendOrg suspend_org(input: $crate::OrgAction) -> $crate::Organization;
            /// Reinstates a suspended org.
            ///
            /// Authorization: with [`OrgAction::by`](crate::OrgAction::by), the actor must be an
            /// active owner of the org, checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); without it, none (the caller decides who
            /// may reinstate an org).
            ///
            /// # Errors
            ///
            /// `not_found`; `already_terminal` when revoked; `precondition.invalid_transition` when
            /// active; with an actor, `forbidden`.
            write ReinstateOrg reinstate_org(input: $crate::OrgAction) -> $crate::Organization;
            /// Revokes an org: every active or suspended membership is revoked, every tuple on the org
            /// deleted and every pending invitation revoked, in one step.
            ///
            /// Authorization: with [`OrgAction::by`](crate::OrgAction::by), the actor must be an
            /// active owner of the org, checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); without it, none (the caller decides who
            /// may revoke an org).
            ///
            /// # Errors
            ///
            /// `not_found`; `already_terminal` when already revoked; with an actor, `forbidden`.
            write RevokeOrg revoke_org(input: $crate::OrgAction) -> $crate::Organization;
            /// Adds an active membership and its tuple.
            ///
            /// Authorization: with [`AddMember::by`](crate::AddMember::by), the actor (recorded as
            /// `invited_by`) must be an active owner or admin of the org, and an owner to add an
            /// owner, checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); with
            /// [`AddMember::invited_by`](crate::AddMember::invited_by) alone, `invited_by` is
            /// recorded, not checked.
            ///
            /// # Errors
            ///
            /// `not_found` (org, user, or `invited_by`); `precondition.org_not_active`; checked,
            /// `forbidden` and `forbidden.role_hierarchy`; `conflict.duplicate_membership`.
            write AddMember add_member(input: $crate::AddMember) -> $crate::Membership;
            /// Reads a membership. With `org_id`, a membership of another org is `not_found`, as an
            /// unknown id is.
            ///
            /// # Errors
            ///
            /// `not_found`.
            read GetMembership get_membership(mem_id: $crate::ids::MemId, org_id: Option<$crate::ids::OrgId>) -> $crate::Membership;
            /// Lists an org's memberships of every status (history included), in id order.
            ///
            /// # Errors
            ///
            /// `not_found` (org); `precondition.invalid_cursor`.
            read ListMembers list_members(input: $crate::ListMembers) -> $crate::Page<$crate::Membership>;
            /// Lists a user's memberships across orgs (history included), in id order.
            ///
            /// # Errors
            ///
            /// `not_found` (user); `precondition.invalid_cursor`.
            read ListMembershipsForUser list_memberships_for_user(input: $crate::ListMembershipsForUser) -> $crate::Page<$crate::Membership>;
            /// Changes a member's role by revoke-and-re-add; returns the new row.
            /// Scoped with `in_org`, a membership of another org is `not_found`, nothing written.
            ///
            /// Authorization: with [`ChangeRole::by`](crate::ChangeRole::by), the actor must be an
            /// active owner or admin of the active org, and an owner to change an owner's role or
            /// to grant `owner`, checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); without it, none.
            ///
            /// # Errors
            ///
            /// `not_found`; `precondition.mem_not_active`; with an actor,
            /// `precondition.org_not_active`, `forbidden` and `forbidden.role_hierarchy`;
            /// `forbidden.sole_owner`.
            write ChangeRole change_role(input: $crate::ChangeRole) -> $crate::Membership;
            /// Suspends an active membership in place and deletes its tuple.
            /// Scoped with `in_org`, a membership of another org is `not_found`, nothing written.
            ///
            /// Authorization: with [`MemberAction::by`](crate::MemberAction::by), the actor must be
            /// an active owner or admin of the active org, and an owner to suspend an owner,
            /// checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); without it, none.
            ///
            /// # Errors
            ///
            /// `not_found`; `precondition.mem_not_active`; with an actor,
            /// `precondition.org_not_active`, `forbidden` and `forbidden.role_hierarchy`;
            /// `forbidden.sole_owner`.
            write SuspendMembership suspend_membership(input: $crate::MemberAction) -> $crate::Membership;
            /// Reinstates a suspended membership in place and restores its tuple.
            /// Scoped with `in_org`, a membership of another org is `not_found`, nothing written.
            ///
            /// Authorization: with [`MemberAction::by`](crate::MemberAction::by), as for
            /// `suspend_membership`; without it, none.
            ///
            /// # Errors
            ///
            /// `not_found`; `precondition.invalid_transition`; `precondition.org_not_active`;
            /// with an actor, `forbidden` and `forbidden.role_hierarchy`;
            /// `conflict.duplicate_membership`.
            write ReinstateMembership reinstate_membership(input: $crate::MemberAction) -> $crate::Membership;
            /// The member leaves (`removed_by` stays null). The last owner must name a successor by
            /// user id in `transfer_to`, who is promoted to owner in the same step.
            /// Scoped with `in_org`, a membership of another org is `not_found`, nothing written.
            ///
            /// Authorization: with [`SelfLeave::by`](crate::SelfLeave::by), the store checks that the
            /// actor is the member, with the write; without it, the caller must make sure the one
            /// asking is the member.
            ///
            /// # Errors
            ///
            /// `not_found`; `precondition.mem_not_active`; `precondition.self_transfer`;
            /// `forbidden.sole_owner`; `not_found` when `transfer_to` has no active membership;
            /// with an actor, `forbidden` (after `precondition.mem_not_active`).
            write SelfLeave self_leave(input: $crate::SelfLeave) -> $crate::Membership;
            /// An owner or admin removes a member (`removed_by` = the admin), checked under the
            /// org's lock.
            /// Scoped with `in_org`, a membership of another org is `not_found`, nothing written.
            ///
            /// # Errors
            ///
            /// `not_found`; `precondition.mem_not_active`; `forbidden`; `forbidden.role_hierarchy`;
            /// `precondition.scope_mismatch`.
            write AdminRemove admin_remove(input: $crate::AdminRemove) -> $crate::Membership;
            /// Makes `to` an owner and `from` a member, both by revoke-and-re-add, in one step.
            ///
            /// Authorization: with [`TransferOwnership::by`](crate::TransferOwnership::by), the
            /// actor must be an active owner of the active org, checked under the org's lock in
            /// the same round trip (`spec/decisions/0016-actor-checks.md`); without it, none (the
            /// spec gives the transfer to the current owner).
            ///
            /// # Errors
            ///
            /// `not_found` (org, from, to); `precondition.from_not_active`, `to_not_active`,
            /// `org_mismatch`, `from_not_owner`, `self_transfer`; with an actor,
            /// `precondition.org_not_active` and `forbidden`.
            write TransferOwnership transfer_ownership(input: $crate::TransferOwnership) -> $crate::TransferOwnershipResult;
            /// Creates a pending invitation. Its `expires_at` is written and returned exactly as the
            /// input holds it, already normalized by [`CreateInvitation::new`](crate::CreateInvitation::new) (whose own error is
            /// `precondition.timestamp_out_of_range`).
            ///
            /// Authorization: `invited_by` must be an active owner or admin of the org, read under
            /// the org's lock, and only an owner may invite an owner
            /// (`spec/decisions/0012-invitation-authority.md`).
            ///
            /// # Errors
            ///
            /// `not_found` (org, `invited_by`); `precondition.org_not_active`;
            /// `precondition.past_expiration`; `forbidden`; `forbidden.role_hierarchy`.
            write CreateInvitation create_invitation(input: $crate::CreateInvitation) -> $crate::Invitation;
            /// Reads an invitation (an expired one still reads `pending`). With `org_id`, an
            /// invitation of another org is `not_found`, as an unknown id is.
            ///
            /// # Errors
            ///
            /// `not_found`.
            read GetInvitation get_invitation(inv_id: $crate::ids::InvId, org_id: Option<$crate::ids::OrgId>) -> $crate::Invitation;
            /// Lists an org's invitations in id order.
            ///
            /// # Errors
            ///
            /// `not_found` (org); `precondition.invalid_cursor`.
            read ListInvitations list_invitations(input: $crate::ListInvitations) -> $crate::Page<$crate::Invitation>;
            /// Accepts an invitation atomically: membership, its tuple, every pre-tuple, and the
            /// invitation's transition, or nothing. Without `as_usr_id` a new user is registered.
            /// Scoped with `in_org`, an invitation of another org is `not_found`, nothing written.
            ///
            /// Authorization: the identifier binding only. `accepting_identifier` must come from the
            /// authenticated session, never from a request body.
            ///
            /// # Errors
            ///
            /// `not_found` (invitation, user); `conflict.invitation_not_pending`;
            /// `conflict.invitation_expired`; `precondition.identifier_binding_required`;
            /// `precondition.identifier_mismatch`; `precondition.org_not_active`;
            /// `conflict.duplicate_membership`.
            write AcceptInvitation accept_invitation(input: $crate::AcceptInvitation) -> $crate::AcceptInvitationResult;
            /// Declines a pending invitation, optionally recording who declined.
            /// Scoped with `in_org`, an invitation of another org is `not_found`, nothing written.
            ///
            /// Authorization: with [`DeclineInvitation::by`](crate::DeclineInvitation::by) or
            /// [`DeclineInvitation::bound_to`](crate::DeclineInvitation::bound_to), the decliner
            /// must be the invitee (the session's identifier is the invitation's) or an active
            /// owner or admin of the org, checked under the org's lock in the same round trip
            /// (`spec/decisions/0016-actor-checks.md`); without them, none.
            ///
            /// # Errors
            ///
            /// `not_found` (invitation, user); `conflict.invitation_not_pending`; checked,
            /// `forbidden` (an actor given) or `precondition.identifier_mismatch` (an identifier
            /// alone).
            write DeclineInvitation decline_invitation(input: $crate::DeclineInvitation) -> $crate::Invitation;
            /// Revokes a pending invitation on behalf of an admin.
            /// Scoped with `in_org`, an invitation of another org is `not_found`, nothing written.
            ///
            /// Authorization: `admin_usr_id` must be an active owner or admin of the invitation's
            /// org, read under the org's lock. The checks run in order: the invitation exists, the
            /// actor exists, the invitation is pending, the actor holds that authority
            /// (`spec/decisions/0012-invitation-authority.md`).
            ///
            /// # Errors
            ///
            /// `not_found` (invitation, user); `conflict.invitation_not_pending`; `forbidden`.
            write RevokeInvitation revoke_invitation(input: $crate::RevokeInvitation) -> $crate::Invitation;
            /// Every tuple of a subject, across all orgs and objects, in id order, in one answer.
            ///
            /// Kept for callers that want the whole set; its cost grows with the subject's tuples.
            /// [`list_tuples_by_subject`](crate::TenancyStore::list_tuples_by_subject) reads the
            /// same tuples a page at a time, at a cost per call that does not grow with the
            /// subject.
            ///
            /// # Errors
            ///
            /// Storage errors only.
            read ListTuplesForSubject list_tuples_for_subject(subject_type: $crate::EntityType, subject_id: $crate::uuid::Uuid) -> Vec<$crate::Tuple>;
            /// Every tuple on an object, optionally only one relation, in id order, in one answer.
            ///
            /// Kept for callers that want the whole set; its cost grows with the object's tuples.
            /// [`list_tuples_by_object`](crate::TenancyStore::list_tuples_by_object) reads the
            /// same tuples a page at a time, at a cost per call that does not grow with the
            /// object.
            ///
            /// # Errors
            ///
            /// Storage errors only.
            read ListTuplesForObject list_tuples_for_object(object_type: $crate::EntityType, object_id: $crate::uuid::Uuid, relation: Option<$crate::Relation>) -> Vec<$crate::Tuple>;
            /// One page of a subject's tuples, across all orgs and objects: the tuples
            /// [`list_tuples_for_subject`](crate::TenancyStore::list_tuples_for_subject) returns,
            /// in the same id order. Keyset on the tuple id: `limit` is clamped into `1..=200`
            /// (default 50, [`rules::page_limit`](crate::backend::rules::page_limit)) and the cursor is
            /// the wire `tup_` id of the previous page's last tuple, returned only when another
            /// tuple follows. An unknown subject has an empty page, not `not_found`.
            ///
            /// # Errors
            ///
            /// `precondition.invalid_cursor` for a cursor that is not a well-formed `tup_` id
            /// (another prefix included).
            read ListTuplesBySubject list_tuples_by_subject(input: $crate::ListTuplesBySubject) -> $crate::Page<$crate::Tuple>;
            /// One page of the tuples on an object, optionally only one relation: the tuples
            /// [`list_tuples_for_object`](crate::TenancyStore::list_tuples_for_object) returns,
            /// in the same id order. Keyset on the tuple id: `limit` is clamped into `1..=200`
            /// (default 50, [`rules::page_limit`](crate::backend::rules::page_limit)) and the cursor is
            /// the wire `tup_` id of the previous page's last tuple, returned only when another
            /// tuple follows. An unknown object has an empty page, not `not_found`.
            ///
            /// # Errors
            ///
            /// `precondition.invalid_cursor` for a cursor that is not a well-formed `tup_` id
            /// (another prefix included).
            read ListTuplesByObject list_tuples_by_object(input: $crate::ListTuplesByObject) -> $crate::Page<$crate::Tuple>;
            /// The user's active membership in the org, if any, in one indexed lookup. An unknown
            /// org or user has none. The org's status is not consulted: a member of a suspended
            /// org keeps an active membership. For a permission check,
            /// [`org_access`](crate::TenancyStore::org_access) answers with the org's status in
            /// the same single read.
            ///
            /// # Errors
            ///
            /// Storage errors only.
            read ActiveMembership active_membership(org_id: $crate::ids::OrgId, usr_id: $crate::ids::UsrId) -> Option<$crate::Membership>;
            /// The org's status and the user's active membership in it, in one read: the
            /// permission question that also sees a suspended org
            /// ([`OrgAccess::role`](crate::OrgAccess::role) is `None` there). An unknown org
            /// has no status and no membership.
            ///
            /// # Errors
            ///
            /// Storage errors only.
            read OrgAccess org_access(org_id: $crate::ids::OrgId, usr_id: $crate::ids::UsrId) -> $crate::OrgAccess;
            /// Whether the subject holds any of `relations` on the object: the set form of the
            /// spec's `check`, over the tuples (membership tuples and pre-tuple grants alike),
            /// one lookup per relation on the tuples' natural key. Tuples outlive
            /// `suspend_org`: where a suspended org must refuse access, check its status too.
            ///
            /// # Errors
            ///
            /// `precondition.empty_relation_set` for no relations;
            /// `precondition.too_many_relations` for more than
            /// [`MAX_CHECK_RELATIONS`](crate::backend::rules::MAX_CHECK_RELATIONS).
            read CheckAny check_any(subject_type: $crate::EntityType, subject_id: $crate::uuid::Uuid, relations: Vec<$crate::Relation>, object_type: $crate::EntityType, object_id: $crate::uuid::Uuid) -> bool;
        }
    };
}

macro_rules! op_is_write {
    (read) => {
        false
    };
    (write) => {
        true
    };
}

macro_rules! define_op {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// Every tenancy operation, by the name of its [`TenancyStore`](crate::TenancyStore)
        /// method: the labels of savepoints, spans and conformance fixtures.
        ///
        /// Exhaustive on purpose: a new operation is a new required method of
        /// [`TenancyStore`](crate::TenancyStore), which every store must implement, so it is
        /// a breaking change either way; a `match` over `Op` then fails to compile until it
        /// covers the new operation, as harnesses and dispatch tables should.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $variant,
            )*
        }

        impl Op {
            /// Every operation, in the table's order.
            pub const ALL: &'static [Op] = &[$(Op::$variant),*];

            /// The operation's method name, such as `suspend_org`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Op::$variant => stringify!($name),)*
                }
            }

            /// Whether the operation writes (a read never changes a row).
            pub const fn is_write(self) -> bool {
                match self {
                    $(Op::$variant => op_is_write!($kind),)*
                }
            }

            /// The operation of a method name.
            pub fn from_name(name: &str) -> Option<Op> {
                Op::ALL.iter().copied().find(|op| op.name() == name)
            }
        }

        impl std::fmt::Display for Op {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

crate::tenancy_operations!(define_op);

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn the_table_names_every_operation_once() {
        assert_eq!(Op::ALL.len(), 31);
        let mut names: Vec<&str> = Op::ALL.iter().map(|op| op.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Op::ALL.len());
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(*op));
            assert_eq!(op.to_string(), op.name());
        }
        assert_eq!(Op::from_name("transition_org"), None);
        assert_eq!(Op::SuspendOrg.name(), "suspend_org");
        assert!(Op::AcceptInvitation.is_write());
        assert!(!Op::ListTuplesForObject.is_write());
        let writes = Op::ALL.iter().filter(|op| op.is_write()).count();
        assert_eq!(writes, 17);
    }
}
