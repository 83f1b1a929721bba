//! Inputs of the store operations that take more than a couple of arguments.
//!
//! Every input is `#[non_exhaustive]`: build it with its constructor and builder methods. Strings
//! inside are already-validated types ([`OrgName`], [`Slug`], [`Identifier`], …) and timestamps
//! are normalized by the constructor ([`normalize_timestamp`]), so an input that exists is well
//! formed.

use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::normalize_timestamp;
use crate::error::{PreconditionReason, TenancyError};
use crate::model::{Cursor, InvitationStatus, MembershipStatus, OrgStatus, PreTuple, Role};
use crate::text::{EntityType, Identifier, OrgName, OrgQuery, Relation, Slug};

/// A tri-state field update: leave unchanged, clear to null, or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Leave the field as it is.
    #[default]
    Unchanged,
    /// Set the field to null.
    Clear,
    /// Set the field to this value.
    Set(T),
}

impl<T> Patch<T> {
    /// The field's new value given its current one.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Unchanged => current,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }

    /// The patch as a reference.
    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Self::Unchanged => Patch::Unchanged,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(value),
        }
    }
}

impl<T> From<Option<T>> for Patch<T> {
    /// `Some(v)` sets `v`; `None` clears the field.
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Clear, Self::Set)
    }
}

/// Input of `create_org`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateOrg {
    /// The creating user, who becomes the first owner.
    pub creator: UsrId,
    /// Display name.
    pub name: Option<OrgName>,
    /// Unique slug.
    pub slug: Option<Slug>,
}

impl CreateOrg {
    /// An org created by `creator`, without name or slug.
    pub fn new(creator: UsrId) -> Self {
        Self {
            creator,
            name: None,
            slug: None,
        }
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: OrgName) -> Self {
        self.name = Some(name);
        self
    }

    /// Sets the slug.
    #[must_use]
    pub fn slug(mut self, slug: Slug) -> Self {
        self.slug = Some(slug);
        self
    }
}

/// Input of `update_org`: each field is left, cleared or set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateOrg {
    /// The org to update.
    pub org_id: OrgId,
    /// The new name.
    pub name: Patch<OrgName>,
    /// The new slug.
    pub slug: Patch<Slug>,
    /// The user asking, when the store is to check their authority: an active owner or admin
    /// of an active org ([`UpdateOrg::by`]).
    pub actor: Option<UsrId>,
}

impl UpdateOrg {
    /// An update of `org_id` that changes nothing yet (it still bumps `updated_at`).
    pub fn new(org_id: OrgId) -> Self {
        Self {
            org_id,
            name: Patch::Unchanged,
            slug: Patch::Unchanged,
            actor: None,
        }
    }

    /// Has the store check, under the org's lock, that `actor` may update the org: an active
    /// owner or admin of it, while it is active
    /// (`spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Sets or clears the name.
    #[must_use]
    pub fn name(mut self, name: Patch<OrgName>) -> Self {
        self.name = name;
        self
    }

    /// Sets or clears the slug.
    #[must_use]
    pub fn slug(mut self, slug: Patch<Slug>) -> Self {
        self.slug = slug;
        self
    }
}

/// The `cursor` and `limit` builders of a listing input, and its `status` builder when the
/// listing filters by a status type.
macro_rules! paging_builders {
    ($name:ident) => {
        impl $name {
            /// Continues after a previous page's `next_cursor`.
            #[must_use]
            pub fn cursor(mut self, cursor: Option<Cursor>) -> Self {
                self.cursor = cursor;
                self
            }

            /// Page size; clamped into `1..=200`, default 50.
            #[must_use]
            pub fn limit(mut self, limit: u32) -> Self {
                self.limit = Some(limit);
                self
            }
        }
    };
    ($name:ident, $status:ty) => {
        paging_builders!($name);

        impl $name {
            /// Only rows with this status.
            #[must_use]
            pub fn status(mut self, status: $status) -> Self {
                self.status = Some(status);
                self
            }
        }
    };
}

/// Input of `list_orgs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ListOrgs {
    /// Continue after this cursor.
    pub cursor: Option<Cursor>,
    /// Page size (clamped into `1..=200`, default 50).
    pub limit: Option<u32>,
    /// Only orgs with this status.
    pub status: Option<OrgStatus>,
    /// Only orgs whose name or slug contains this text (ASCII case-insensitive, literal).
    pub query: Option<OrgQuery>,
}

impl ListOrgs {
    /// Every org, first page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only orgs whose name or slug contains `query`.
    #[must_use]
    pub fn query(mut self, query: OrgQuery) -> Self {
        self.query = Some(query);
        self
    }
}

paging_builders!(ListOrgs, OrgStatus);

/// Input of `list_members`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListMembers {
    /// The org whose memberships (history included) are listed.
    pub org_id: OrgId,
    /// Continue after this cursor.
    pub cursor: Option<Cursor>,
    /// Page size (clamped into `1..=200`, default 50).
    pub limit: Option<u32>,
    /// Only memberships with this status.
    pub status: Option<MembershipStatus>,
    /// Only memberships with exactly this role (history included; with `status`, both must
    /// match).
    pub role: Option<Role>,
}

impl ListMembers {
    /// The first page of `org_id`'s memberships.
    pub fn new(org_id: OrgId) -> Self {
        Self {
            org_id,
            cursor: None,
            limit: None,
            status: None,
            role: None,
        }
    }

    /// Only memberships with exactly `role`.
    #[must_use]
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }
}

paging_builders!(ListMembers, MembershipStatus);

/// Input of `list_memberships_for_user`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListMembershipsForUser {
    /// The user whose memberships (across orgs, history included) are listed.
    pub usr_id: UsrId,
    /// Continue after this cursor.
    pub cursor: Option<Cursor>,
    /// Page size (clamped into `1..=200`, default 50).
    pub limit: Option<u32>,
    /// Only memberships with this status.
    pub status: Option<MembershipStatus>,
}

impl ListMembershipsForUser {
    /// The first page of `usr_id`'s memberships.
    pub fn new(usr_id: UsrId) -> Self {
        Self {
            usr_id,
            cursor: None,
            limit: None,
            status: None,
        }
    }
}

paging_builders!(ListMembershipsForUser, MembershipStatus);

/// Input of `list_invitations`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListInvitations {
    /// The org whose invitations are listed.
    pub org_id: OrgId,
    /// Continue after this cursor.
    pub cursor: Option<Cursor>,
    /// Page size (clamped into `1..=200`, default 50).
    pub limit: Option<u32>,
    /// Only invitations with this status (as stored: expiry is lazy).
    pub status: Option<InvitationStatus>,
}

impl ListInvitations {
    /// The first page of `org_id`'s invitations.
    pub fn new(org_id: OrgId) -> Self {
        Self {
            org_id,
            cursor: None,
            limit: None,
            status: None,
        }
    }
}

paging_builders!(ListInvitations, InvitationStatus);

/// Input of `list_tuples_by_subject`: one page of a subject's tuples.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListTuplesBySubject {
    /// The subject's type (`usr` for every tuple this layer writes).
    pub subject_type: EntityType,
    /// The subject's id, as a bare UUID.
    pub subject_id: Uuid,
    /// Continue after this cursor (the `tup_` id of the previous page's last tuple).
    pub cursor: Option<Cursor>,
    /// Page size (clamped into `1..=200`, default 50).
    pub limit: Option<u32>,
}

impl ListTuplesBySubject {
    /// The first page of the tuples of `subject_type` `subject_id`.
    pub fn new(subject_type: EntityType, subject_id: Uuid) -> Self {
        Self {
            subject_type,
            subject_id,
            cursor: None,
            limit: None,
        }
    }
}

paging_builders!(ListTuplesBySubject);

/// Input of `list_tuples_by_object`: one page of the tuples on an object, optionally of one
/// relation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListTuplesByObject {
    /// The object's type.
    pub object_type: EntityType,
    /// The object's id, as a bare UUID.
    pub object_id: Uuid,
    /// Only tuples with this relation.
    pub relation: Option<Relation>,
    /// Continue after this cursor (the `tup_` id of the previous page's last tuple).
    pub cursor: Option<Cursor>,
    /// Page size (clamped into `1..=200`, default 50).
    pub limit: Option<u32>,
}

impl ListTuplesByObject {
    /// The first page of the tuples on `object_type` `object_id`, of every relation.
    pub fn new(object_type: EntityType, object_id: Uuid) -> Self {
        Self {
            object_type,
            object_id,
            relation: None,
            cursor: None,
            limit: None,
        }
    }

    /// Only tuples with `relation`.
    #[must_use]
    pub fn relation(mut self, relation: Relation) -> Self {
        self.relation = Some(relation);
        self
    }
}

paging_builders!(ListTuplesByObject);

/// Input of `add_member`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddMember {
    /// The org to join.
    pub org_id: OrgId,
    /// The user to add.
    pub usr_id: UsrId,
    /// The role to give.
    pub role: Role,
    /// Who added the user.
    pub invited_by: Option<UsrId>,
    /// Whether the store checks `invited_by`'s authority, under the org's lock, as for an
    /// invitation ([`AddMember::by`]).
    pub checked: bool,
}

impl AddMember {
    /// Adds `usr_id` to `org_id` with `role`.
    pub fn new(org_id: OrgId, usr_id: UsrId, role: Role) -> Self {
        Self {
            org_id,
            usr_id,
            role,
            invited_by: None,
            checked: false,
        }
    }

    /// Records who added the user, without checking their authority (it undoes
    /// [`AddMember::by`]'s check).
    #[must_use]
    pub fn invited_by(mut self, invited_by: UsrId) -> Self {
        self.invited_by = Some(invited_by);
        self.checked = false;
        self
    }

    /// Records `actor` as who added the user and has the store check, under the org's lock,
    /// that `actor` may: an active owner or admin of the active org, and an owner to add an
    /// owner (`spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.invited_by = Some(actor);
        self.checked = true;
        self
    }
}

/// Input of `transfer_ownership`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferOwnership {
    /// The org.
    pub org_id: OrgId,
    /// The current owner's active membership; it becomes `member`.
    pub from_mem_id: MemId,
    /// The receiving active membership; it becomes `owner`.
    pub to_mem_id: MemId,
    /// The user asking, when the store is to check their authority: an active owner of the
    /// active org ([`TransferOwnership::by`]).
    pub actor: Option<UsrId>,
}

impl TransferOwnership {
    /// Transfers ownership of `org_id` from one membership to another.
    pub fn new(org_id: OrgId, from_mem_id: MemId, to_mem_id: MemId) -> Self {
        Self {
            org_id,
            from_mem_id,
            to_mem_id,
            actor: None,
        }
    }

    /// Has the store check, under the org's lock, that `actor` is an active owner of the
    /// active org (`spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// Input of `suspend_org`, `reinstate_org` and `revoke_org`: the org, and who asks.
///
/// ```
/// use flametrench_tenancy_core::OrgAction;
/// use flametrench_tenancy_core::ids::{OrgId, UsrId};
///
/// let (org, owner) = (OrgId::new(), UsrId::new());
/// let unchecked = OrgAction::new(org); // the caller decided who may
/// let checked = OrgAction::new(org).by(owner); // the store decides, under the org's lock
/// assert_eq!(checked.actor, Some(owner));
/// assert_eq!(unchecked.actor, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrgAction {
    /// The org.
    pub org_id: OrgId,
    /// The user asking, when the store is to check their authority: an active owner of the
    /// org ([`OrgAction::by`]).
    pub actor: Option<UsrId>,
}

impl OrgAction {
    /// The transition of `org_id`, authorized by the caller.
    pub fn new(org_id: OrgId) -> Self {
        Self {
            org_id,
            actor: None,
        }
    }

    /// Has the store check, under the org's lock, that `actor` is an active owner of the org
    /// (`spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.actor = Some(actor);
        self
    }
}

impl From<OrgId> for OrgAction {
    fn from(org_id: OrgId) -> Self {
        Self::new(org_id)
    }
}

/// The `in_org` builder of an input naming an entity of an org.
macro_rules! in_org_builder {
    ($name:ident, $entity:literal) => {
        impl $name {
            #[doc = concat!("Scopes the call to `org_id`: ", $entity, " of another org (or of no org by that id) is")]
            /// answered exactly as an unknown id (`not_found`, nothing written). The store
            /// decides it in the same round trip, under `org_id`'s lock.
            #[must_use]
            pub fn in_org(mut self, org_id: OrgId) -> Self {
                self.org_id = Some(org_id);
                self
            }
        }
    };
}

/// Input of `suspend_membership` and `reinstate_membership`: the membership, the org the
/// caller believes it belongs to, and who asks.
///
/// ```
/// use flametrench_tenancy_core::MemberAction;
/// use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
///
/// let (mem, org, admin) = (MemId::new(), OrgId::new(), UsrId::new());
/// let input = MemberAction::new(mem).in_org(org).by(admin);
/// assert_eq!((input.org_id, input.actor), (Some(org), Some(admin)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberAction {
    /// The membership.
    pub mem_id: MemId,
    /// The org the caller believes the membership belongs to ([`MemberAction::in_org`]).
    pub org_id: Option<OrgId>,
    /// The user asking, when the store is to check their authority
    /// ([`MemberAction::by`]).
    pub actor: Option<UsrId>,
}

impl MemberAction {
    /// The write on `mem_id`, unscoped and authorized by the caller.
    pub fn new(mem_id: MemId) -> Self {
        Self {
            mem_id,
            org_id: None,
            actor: None,
        }
    }

    /// Has the store check, under the org's lock, that `actor` may act on the membership: an
    /// active owner or admin of the active org, and an owner to act on an owner
    /// (`spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.actor = Some(actor);
        self
    }
}

impl From<MemId> for MemberAction {
    fn from(mem_id: MemId) -> Self {
        Self::new(mem_id)
    }
}

in_org_builder!(MemberAction, "a membership");

/// Input of `change_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeRole {
    /// The active membership whose role changes.
    pub mem_id: MemId,
    /// The role it gets.
    pub new_role: Role,
    /// The org the caller believes the membership belongs to ([`ChangeRole::in_org`]).
    pub org_id: Option<OrgId>,
    /// The user asking, when the store is to check their authority ([`ChangeRole::by`]).
    pub actor: Option<UsrId>,
}

impl ChangeRole {
    /// Gives `mem_id` the role `new_role`, unscoped and authorized by the caller.
    pub fn new(mem_id: MemId, new_role: Role) -> Self {
        Self {
            mem_id,
            new_role,
            org_id: None,
            actor: None,
        }
    }

    /// Has the store check, under the org's lock, that `actor` may make the change: an active
    /// owner or admin of the active org, and an owner to change an owner's role or to grant
    /// `owner` (`spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.actor = Some(actor);
        self
    }
}

in_org_builder!(ChangeRole, "a membership");

/// Input of `self_leave`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelfLeave {
    /// The leaving member's active membership. Its user is the one asking: checked by the
    /// store with [`SelfLeave::by`], by the caller otherwise.
    pub mem_id: MemId,
    /// The successor the last owner names, promoted to owner in the same step.
    pub transfer_to: Option<UsrId>,
    /// The org the caller believes the membership belongs to ([`SelfLeave::in_org`]).
    pub org_id: Option<OrgId>,
    /// The user asking, when the store is to check that it is the member
    /// ([`SelfLeave::by`]).
    pub actor: Option<UsrId>,
}

impl SelfLeave {
    /// The member of `mem_id` leaves.
    pub fn new(mem_id: MemId) -> Self {
        Self {
            mem_id,
            transfer_to: None,
            org_id: None,
            actor: None,
        }
    }

    /// Has the store check, with the write, that `actor` is the membership's user: a leave is
    /// the member's own act (`forbidden` otherwise; `spec/decisions/0016-actor-checks.md`).
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Names the user promoted to owner should the leaver be the last owner (a `UsrId`, or an
    /// `Option<UsrId>` relayed as it came).
    #[must_use]
    pub fn transfer_to(mut self, usr_id: impl Into<Option<UsrId>>) -> Self {
        self.transfer_to = usr_id.into();
        self
    }
}

in_org_builder!(SelfLeave, "a membership");

/// Input of `admin_remove`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminRemove {
    /// The membership removed.
    pub mem_id: MemId,
    /// The owner or admin removing it; always checked, under the org's lock.
    pub admin_usr_id: UsrId,
    /// The org the caller believes the membership belongs to ([`AdminRemove::in_org`]).
    pub org_id: Option<OrgId>,
}

impl AdminRemove {
    /// `admin_usr_id` removes `mem_id`.
    pub fn new(mem_id: MemId, admin_usr_id: UsrId) -> Self {
        Self {
            mem_id,
            admin_usr_id,
            org_id: None,
        }
    }
}

in_org_builder!(AdminRemove, "a membership");

/// Input of `decline_invitation`.
///
/// Unchecked by default, as the spec has it. [`DeclineInvitation::bound_to`] and
/// [`DeclineInvitation::by`] have the store check, under the org's lock, that the decliner is
/// the invitee (the identifier binding, as in `accept_invitation`) or, given with `by`, an
/// active owner or admin of the org (`spec/decisions/0016-actor-checks.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeclineInvitation {
    /// The invitation.
    pub inv_id: InvId,
    /// Who declined, recorded as `terminal_by` (may be none: an anonymous decline).
    pub as_usr_id: Option<UsrId>,
    /// The identifier of the decliner's authenticated session, compared byte for byte with
    /// the invitation's ([`DeclineInvitation::bound_to`]).
    pub identifier: Option<Identifier>,
    /// Whether `as_usr_id` is an actor whose authority may allow the decline
    /// ([`DeclineInvitation::by`]); a decliner recorded with
    /// [`DeclineInvitation::as_user`] is only recorded.
    pub by_actor: bool,
    /// The org the caller believes the invitation belongs to
    /// ([`DeclineInvitation::in_org`]).
    pub org_id: Option<OrgId>,
}

impl DeclineInvitation {
    /// Declines `inv_id` anonymously, unchecked.
    pub fn new(inv_id: InvId) -> Self {
        Self {
            inv_id,
            as_usr_id: None,
            identifier: None,
            by_actor: false,
            org_id: None,
        }
    }

    /// Records `usr_id` (a `UsrId`, or an `Option<UsrId>` relayed as it came) as who declined.
    /// Only recorded: its authority allows nothing (use [`DeclineInvitation::by`] for that).
    #[must_use]
    pub fn as_user(mut self, usr_id: impl Into<Option<UsrId>>) -> Self {
        self.as_usr_id = usr_id.into();
        self.by_actor = false;
        self
    }

    /// Records `actor` as who declined and has the store check that the decline is theirs to
    /// make: the session's identifier (when given with [`DeclineInvitation::bound_to`]) is the
    /// invitation's, or `actor` is an active owner or admin of the org; otherwise `forbidden`.
    #[must_use]
    pub fn by(mut self, actor: UsrId) -> Self {
        self.as_usr_id = Some(actor);
        self.by_actor = true;
        self
    }

    /// Has the store check the identifier binding: `identifier`, from the authenticated
    /// session, must be the invitation's (`precondition.identifier_mismatch` otherwise, unless
    /// [`DeclineInvitation::by`] names an owner or admin of the org).
    #[must_use]
    pub fn bound_to(mut self, identifier: Identifier) -> Self {
        self.identifier = Some(identifier);
        self
    }

    /// Whether the store checks the decliner: [`DeclineInvitation::by`] or
    /// [`DeclineInvitation::bound_to`] was given.
    pub fn is_checked(&self) -> bool {
        self.by_actor || self.identifier.is_some()
    }
}

in_org_builder!(DeclineInvitation, "an invitation");

/// Input of `revoke_invitation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevokeInvitation {
    /// The pending invitation.
    pub inv_id: InvId,
    /// The owner or admin revoking it; always checked, under the org's lock.
    pub admin_usr_id: UsrId,
    /// The org the caller believes the invitation belongs to
    /// ([`RevokeInvitation::in_org`]).
    pub org_id: Option<OrgId>,
}

impl RevokeInvitation {
    /// `admin_usr_id` revokes `inv_id`.
    pub fn new(inv_id: InvId, admin_usr_id: UsrId) -> Self {
        Self {
            inv_id,
            admin_usr_id,
            org_id: None,
        }
    }
}

in_org_builder!(RevokeInvitation, "an invitation");

/// Input of `create_invitation`. Duplicate pre-tuples collapse into one when added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateInvitation {
    /// The org to invite into.
    pub org_id: OrgId,
    /// The invitee's email or handle.
    pub identifier: Identifier,
    /// The role granted on acceptance.
    pub role: Role,
    /// Who issues the invitation.
    pub invited_by: UsrId,
    /// When the invitation stops being acceptable, in the stored form (UTC, whole
    /// microseconds, within the range of [`normalize_timestamp`]). [`CreateInvitation::new`]
    /// puts it in that form; a value assigned here directly must come from
    /// [`normalize_timestamp`], or stores may read it back differently or refuse it.
    pub expires_at: OffsetDateTime,
    /// Grants materialized on acceptance, distinct, at most [`CreateInvitation::MAX_PRE_TUPLES`].
    pub pre_tuples: Vec<PreTuple>,
}

impl CreateInvitation {
    /// The most pre-tuples one invitation may carry.
    pub const MAX_PRE_TUPLES: usize = 64;

    /// An invitation without pre-tuples, expiring at `expires_at` brought into the stored
    /// form: truncated to whole microseconds toward the past and converted to UTC, so every
    /// store returns and reads back exactly the value the input holds.
    ///
    /// ```
    /// use flametrench_tenancy_core::{CreateInvitation, Identifier, Role, TenancyError};
    /// use flametrench_tenancy_core::ids::{OrgId, UsrId};
    /// use time::macros::datetime;
    ///
    /// let (org, inviter) = (OrgId::new(), UsrId::new());
    /// let bob = Identifier::new("bob@example.com")?;
    /// let at = datetime!(2031-03-01 09:00:00.123_456_789 +01:00);
    /// let input = CreateInvitation::new(org, bob.clone(), Role::Member, inviter, at)?;
    /// assert_eq!(input.expires_at, datetime!(2031-03-01 08:00:00.123_456 UTC));
    ///
    /// let too_late = datetime!(9999-12-31 23:00:00 -01:00);
    /// let error = CreateInvitation::new(org, bob, Role::Member, inviter, too_late).unwrap_err();
    /// assert_eq!(error.code(), "precondition.timestamp_out_of_range");
    /// # Ok::<(), TenancyError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `precondition.timestamp_out_of_range` when `expires_at` is outside
    /// [`MIN_TIMESTAMP`](crate::MIN_TIMESTAMP)`..=`[`MAX_TIMESTAMP`](crate::MAX_TIMESTAMP).
    /// Whether it is in the future is the store's check (`precondition.past_expiration`),
    /// against its clock.
    pub fn new(
        org_id: OrgId,
        identifier: Identifier,
        role: Role,
        invited_by: UsrId,
        expires_at: OffsetDateTime,
    ) -> Result<Self, TenancyError> {
        Ok(Self {
            org_id,
            identifier,
            role,
            invited_by,
            expires_at: normalize_timestamp(expires_at)?,
            pre_tuples: Vec::new(),
        })
    }

    /// Sets the pre-tuples, dropping repeats (the first occurrence keeps its place).
    ///
    /// # Errors
    ///
    /// `precondition.too_many_pre_tuples` when more than [`Self::MAX_PRE_TUPLES`] distinct
    /// pre-tuples remain.
    pub fn pre_tuples(
        mut self,
        pre_tuples: impl IntoIterator<Item = PreTuple>,
    ) -> Result<Self, TenancyError> {
        let mut distinct: Vec<PreTuple> = Vec::new();
        for pre_tuple in pre_tuples {
            if !distinct.contains(&pre_tuple) {
                if distinct.len() == Self::MAX_PRE_TUPLES {
                    return Err(TenancyError::precondition(
                        PreconditionReason::TooManyPreTuples,
                    ));
                }
                distinct.push(pre_tuple);
            }
        }
        self.pre_tuples = distinct;
        Ok(self)
    }
}

/// Input of `accept_invitation`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptInvitation {
    /// The invitation.
    pub inv_id: InvId,
    /// The accepting existing user; `None` mints a new user.
    pub as_usr_id: Option<UsrId>,
    /// The identifier of the accepting user's authenticated session; required with
    /// `as_usr_id` and compared byte for byte with the invitation's.
    pub accepting_identifier: Option<Identifier>,
    /// The org the caller believes the invitation belongs to
    /// ([`AcceptInvitation::in_org`]).
    pub org_id: Option<OrgId>,
}

impl AcceptInvitation {
    /// Accepts `inv_id` for a new user (the mint path).
    pub fn new_user(inv_id: InvId) -> Self {
        Self {
            inv_id,
            as_usr_id: None,
            accepting_identifier: None,
            org_id: None,
        }
    }

    /// Accepts `inv_id` as the existing user `as_usr_id`, whose authenticated session proves
    /// `accepting_identifier`.
    pub fn as_user(inv_id: InvId, as_usr_id: UsrId, accepting_identifier: Identifier) -> Self {
        Self {
            inv_id,
            as_usr_id: Some(as_usr_id),
            accepting_identifier: Some(accepting_identifier),
            org_id: None,
        }
    }

    /// A fully specified acceptance, for callers relaying raw inputs (the identifier may be
    /// missing, which `accept_invitation` then reports).
    pub fn with_parts(
        inv_id: InvId,
        as_usr_id: Option<UsrId>,
        accepting_identifier: Option<Identifier>,
    ) -> Self {
        Self {
            inv_id,
            as_usr_id,
            accepting_identifier,
            org_id: None,
        }
    }
}

in_org_builder!(AcceptInvitation, "an invitation");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MAX_TIMESTAMP, MIN_TIMESTAMP};
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn pre_tuples_collapse_and_are_bounded() {
        let input = CreateInvitation::new(
            OrgId::new(),
            Identifier::new("a@example.com").unwrap(),
            Role::Member,
            UsrId::new(),
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let grant =
            PreTuple::new("editor", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa").unwrap();
        let other =
            PreTuple::new("viewer", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa").unwrap();
        let input = input
            .pre_tuples([grant.clone(), other.clone(), grant.clone()])
            .unwrap();
        assert_eq!(input.pre_tuples, vec![grant, other]);
        let many = (0..65).map(|n| {
            PreTuple::new(
                "editor",
                "proj",
                &format!("0190f2a8-1b3c-7abc-8123-{n:012x}"),
            )
            .unwrap()
        });
        assert_eq!(
            input.pre_tuples(many).unwrap_err().code(),
            "precondition.too_many_pre_tuples"
        );
    }

    #[test]
    fn expiry_is_normalized_or_refused() {
        let build = |at: OffsetDateTime| {
            CreateInvitation::new(
                OrgId::new(),
                Identifier::new("a@example.com").unwrap(),
                Role::Member,
                UsrId::new(),
                at,
            )
        };
        let input = build(datetime!(2030-05-05 05:05:05.999_999_999 -07:00)).unwrap();
        assert_eq!(input.expires_at, datetime!(2030-05-05 12:05:05.999_999 UTC));
        assert!(input.expires_at.offset().is_utc());
        assert_eq!(build(MAX_TIMESTAMP).unwrap().expires_at, MAX_TIMESTAMP);
        assert_eq!(build(MIN_TIMESTAMP).unwrap().expires_at, MIN_TIMESTAMP);
        for at in [
            MIN_TIMESTAMP - Duration::microseconds(1),
            datetime!(-9999-01-01 00:00 UTC),
            datetime!(9999-12-31 23:00:00 -01:00),
        ] {
            assert_eq!(
                build(at).unwrap_err().code(),
                "precondition.timestamp_out_of_range"
            );
        }
    }

    #[test]
    fn patch_applies() {
        assert_eq!(Patch::Unchanged.apply(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Clear.apply(Some(1)), None);
        assert_eq!(Patch::Set(2).apply(None), Some(2));
    }
}
