//! The tenancy entities (organizations, memberships, invitations, tuples) and their enums.

use std::fmt;
use std::str::FromStr;

use flametrench_ids::{InvId, MemId, OrgId, TupId, TypedId, UsrId, decode_any};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{PreconditionReason, TenancyError};
use crate::text::{EntityType, Identifier, OrgName, Relation, Slug};

macro_rules! string_enum {
    (
        $(#[$doc:meta])* $name:ident, $invalid:ident {
            $($(#[$vdoc:meta])* $variant:ident => $text:literal,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$(Self::$variant,)*];

            /// The lowercase wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = TenancyError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(TenancyError::precondition(PreconditionReason::$invalid)),
                }
            }
        }
    };
}

string_enum! {
    /// A membership role. `owner`, `admin`, `member` and `guest` are ranked for
    /// `admin_remove`; `viewer` and `editor` are object-scoped and unranked.
    Role, InvalidRole {
        /// Full control, including ownership transfer.
        Owner => "owner",
        /// Administers members below owner.
        Admin => "admin",
        /// A regular member.
        Member => "member",
        /// A limited member.
        Guest => "guest",
        /// Read access, object-scoped.
        Viewer => "viewer",
        /// Write access, object-scoped.
        Editor => "editor",
    }
}

impl Role {
    /// The administrative rank used by `admin_remove` (owner 4, admin 3, member 2, guest 1);
    /// `None` for the unranked `viewer` and `editor`.
    pub const fn rank(self) -> Option<u8> {
        match self {
            Self::Owner => Some(4),
            Self::Admin => Some(3),
            Self::Member => Some(2),
            Self::Guest => Some(1),
            Self::Viewer | Self::Editor => None,
        }
    }

    /// The relation of the membership tuple that mirrors a membership with this role.
    pub fn relation(self) -> Relation {
        // Every role name is a valid relation; the table test in this module pins it.
        Relation(self.as_str().into())
    }

    /// Whether `relation` is the name of a role (and so a membership-tuple relation on an org).
    pub fn is_role_name(relation: &str) -> bool {
        Self::ALL.iter().any(|role| role.as_str() == relation)
    }
}

string_enum! {
    /// The lifecycle state of an organization.
    OrgStatus, InvalidStatus {
        /// Normal operation.
        Active => "active",
        /// Temporarily disabled; memberships and tuples are kept.
        Suspended => "suspended",
        /// Terminal: kept for audit, accepts no change.
        Revoked => "revoked",
    }
}

string_enum! {
    /// The lifecycle state of a membership.
    MembershipStatus, InvalidStatus {
        /// Grants access; mirrored by exactly one membership tuple.
        Active => "active",
        /// Access withheld; can be reinstated in place.
        Suspended => "suspended",
        /// Terminal: left, removed, or superseded by a role change.
        Revoked => "revoked",
    }
}

string_enum! {
    /// The lifecycle state of an invitation. Only `pending` is not terminal.
    InvitationStatus, InvalidStatus {
        /// Waiting for the invitee.
        Pending => "pending",
        /// Accepted: the membership exists.
        Accepted => "accepted",
        /// Declined by the invitee.
        Declined => "declined",
        /// Withdrawn by an admin (or by revoking the org).
        Revoked => "revoked",
        /// Expired. This SDK expires lazily and never writes this status itself; rows written
        /// by other tools may carry it.
        Expired => "expired",
    }
}

/// An organization (`org_`), the unit of tenancy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// The org's id.
    pub id: OrgId,
    /// Display name, if any.
    pub name: Option<OrgName>,
    /// URL-safe unique handle, if any.
    pub slug: Option<Slug>,
    /// Lifecycle state.
    pub status: OrgStatus,
    /// When the org was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the org last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A membership (`mem_`): one user's role in one org. Role changes revoke the row and insert a
/// new one that `replaces` it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The membership's id.
    pub id: MemId,
    /// The member.
    pub usr_id: UsrId,
    /// The org.
    pub org_id: OrgId,
    /// The member's role.
    pub role: Role,
    /// Lifecycle state.
    pub status: MembershipStatus,
    /// The previous row of the role-change chain, if this row replaced one.
    pub replaces: Option<MemId>,
    /// Who added the member (`None` for an org creator).
    pub invited_by: Option<UsrId>,
    /// Who removed the member: `None` for a self-leave, the admin for an admin removal.
    pub removed_by: Option<UsrId>,
    /// When the row was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the row last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Membership {
    /// A new active membership with no predecessor (the root of a `replaces` chain), created
    /// and last updated at `at`.
    pub fn joined(
        id: MemId,
        usr_id: UsrId,
        org_id: OrgId,
        role: Role,
        invited_by: Option<UsrId>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            usr_id,
            org_id,
            role,
            status: MembershipStatus::Active,
            replaces: None,
            invited_by,
            removed_by: None,
            created_at: at,
            updated_at: at,
        }
    }

    /// The creation time of a row that replaces this one: `now`, but never earlier than this
    /// row's own creation, so `created_at` never decreases along a `replaces` chain even if
    /// clocks step back or concurrent calls read the clock in one order and write in another.
    pub fn successor_time(&self, now: OffsetDateTime) -> OffsetDateTime {
        now.max(self.created_at)
    }

    /// The active row `id` that replaces this one with `role` (revoke-and-re-add): same user,
    /// org and inviter, created at `at` but never earlier than this row.
    pub fn successor(&self, id: MemId, role: Role, at: OffsetDateTime) -> Self {
        let at = self.successor_time(at);
        Self {
            replaces: Some(self.id),
            ..Self::joined(id, self.usr_id, self.org_id, role, self.invited_by, at)
        }
    }
}

/// A grant declared on an invitation and materialized as a tuple on acceptance.
///
/// Deserializing goes through [`PreTuple::new`], so JSON can never carry a grant the
/// constructor refuses (such as an `owner` relation on an `org`: a forged membership), and
/// `object_id` may be written in any of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "PreTupleWire")]
pub struct PreTuple {
    /// The relation granted.
    pub relation: Relation,
    /// The object's type.
    pub object_type: EntityType,
    /// The object's id, as a bare UUID.
    pub object_id: Uuid,
}

impl PreTuple {
    /// Builds a pre-tuple from its three strings. `object_id` may be a canonical UUID (either
    /// case) or an id `prefix_<32 lowercase hex>`.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_relation`, `precondition.invalid_object_type`,
    /// `precondition.invalid_object_id`, or `precondition.invalid_pre_tuple` when the grant
    /// would forge a membership tuple (a role name on an `org` object).
    pub fn new(relation: &str, object_type: &str, object_id: &str) -> Result<Self, TenancyError> {
        let relation = Relation::new(relation)?;
        let object_type = EntityType::new(object_type)?;
        let object_id = parse_object_id(object_id)?;
        Self::from_parts(relation, object_type, object_id)
    }

    /// Builds a pre-tuple from validated parts.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_pre_tuple` when the grant would forge a membership tuple.
    pub fn from_parts(
        relation: Relation,
        object_type: EntityType,
        object_id: Uuid,
    ) -> Result<Self, TenancyError> {
        if object_type.as_str() == "org" && Role::is_role_name(relation.as_str()) {
            return Err(TenancyError::precondition(
                PreconditionReason::InvalidPreTuple,
            ));
        }
        Ok(Self {
            relation,
            object_type,
            object_id,
        })
    }
}

/// A pre-tuple as JSON carries it, before [`PreTuple::new`] checks it.
#[derive(Deserialize)]
struct PreTupleWire {
    relation: String,
    object_type: String,
    object_id: String,
}

impl TryFrom<PreTupleWire> for PreTuple {
    type Error = TenancyError;

    fn try_from(wire: PreTupleWire) -> Result<Self, Self::Error> {
        PreTuple::new(&wire.relation, &wire.object_type, &wire.object_id)
    }
}

/// Parses a tuple object (or subject) id: a canonical hyphenated UUID (either case), 32 hex
/// digits without hyphens (the bare form the spec allows since v0.2.0-rc.4), or
/// `prefix_<32 hex>`.
///
/// # Errors
///
/// `precondition.invalid_object_id` for anything else.
pub fn parse_object_id(text: &str) -> Result<Uuid, TenancyError> {
    let invalid = || TenancyError::precondition(PreconditionReason::InvalidObjectId);
    if text.contains('_') {
        return decode_any(text)
            .map(|decoded| decoded.uuid)
            .map_err(|_| invalid());
    }
    let canonical = text.len() == 36
        && text.bytes().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        });
    let bare = text.len() == 32 && text.bytes().all(|byte| byte.is_ascii_hexdigit());
    if !canonical && !bare {
        return Err(invalid());
    }
    Uuid::try_parse(text).map_err(|_| invalid())
}

/// An authorization tuple (`tup_`): `subject` has `relation` on `object`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tuple {
    /// The tuple's id.
    pub id: TupId,
    /// The subject's type (`usr` for every tuple this layer writes).
    pub subject_type: EntityType,
    /// The subject's id, as a bare UUID.
    pub subject_id: Uuid,
    /// The relation.
    pub relation: Relation,
    /// The object's type.
    pub object_type: EntityType,
    /// The object's id, as a bare UUID.
    pub object_id: Uuid,
    /// When the tuple was written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who caused the tuple to be written, if known.
    pub created_by: Option<UsrId>,
}

/// An invitation (`inv_`) to join an org with a role and optional pre-declared grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The invitation's id.
    pub id: InvId,
    /// The org the invitee joins.
    pub org_id: OrgId,
    /// The invitee's email or handle (personal data: redacted in `Debug`).
    pub identifier: Identifier,
    /// The role granted on acceptance.
    pub role: Role,
    /// Lifecycle state (expiry is lazy: an expired invitation still reads `pending`).
    pub status: InvitationStatus,
    /// Grants materialized for the accepting user.
    pub pre_tuples: Vec<PreTuple>,
    /// Who issued the invitation.
    pub invited_by: UsrId,
    /// The user who accepted it.
    pub invited_user_id: Option<UsrId>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops being acceptable.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it left `pending`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub terminal_at: Option<OffsetDateTime>,
    /// Who moved it out of `pending`, if known.
    pub terminal_by: Option<UsrId>,
}

/// The result of `create_org`: the org and its creator's owner membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateOrgResult {
    /// The new org.
    pub org: Organization,
    /// The creator's owner membership.
    pub owner_membership: Membership,
}

/// The result of `transfer_ownership`: the two new chain rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOwnershipResult {
    /// The former owner's new `member` row.
    pub from_membership: Membership,
    /// The new owner's `owner` row.
    pub to_membership: Membership,
}

/// What `org_access` answers: an org's status and a user's active membership in it, read
/// together, so that a permission check sees a suspended org.
///
/// ```
/// use flametrench_tenancy_core::{OrgAccess, OrgStatus};
///
/// let none = OrgAccess { org_status: Some(OrgStatus::Suspended), membership: None };
/// assert_eq!(none.role(), None);
/// assert!(!none.org_is_active());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgAccess {
    /// The org's status; `None` when no org has that id.
    pub org_status: Option<OrgStatus>,
    /// The user's active membership in the org, if any (an org of any status keeps its
    /// members' rows until it is revoked).
    pub membership: Option<Membership>,
}

impl OrgAccess {
    /// Whether the org exists and is active.
    pub fn org_is_active(&self) -> bool {
        self.org_status == Some(OrgStatus::Active)
    }

    /// The role the user holds with effect: their active membership's role in an active org,
    /// `None` otherwise (no org, no membership, or a suspended or revoked org).
    pub fn role(&self) -> Option<Role> {
        if self.org_is_active() {
            self.membership.as_ref().map(|membership| membership.role)
        } else {
            None
        }
    }
}

/// The result of `accept_invitation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptInvitationResult {
    /// The invitation, now `accepted`.
    pub invitation: Invitation,
    /// The new membership.
    pub membership: Membership,
    /// The pre-tuples written by this acceptance (one per distinct pre-tuple not already held).
    pub materialized_tuples: Vec<Tuple>,
}

/// An opaque pagination cursor. Pass a page's `next_cursor` back to get the next page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// Wraps a cursor string received from a caller; it is checked when used.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The cursor that continues after `id`.
    pub fn after<I: TypedId>(id: I) -> Self {
        Self(id.to_string())
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id this cursor continues after.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_cursor` when the cursor is not a well-formed id of type `I`.
    pub fn position<I: TypedId>(&self) -> Result<I, TenancyError> {
        self.0
            .parse::<I>()
            .map_err(|_| TenancyError::precondition(PreconditionReason::InvalidCursor))
    }

    /// Whether the cursor is empty: a query string's `cursor=` reads as the first page.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of a listing, ordered by id. Serializes as `{"data": [...], "page": {"next_cursor": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page.
    pub data: Vec<T>,
    /// The cursor for the next page; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

#[derive(Serialize, Deserialize)]
struct PageInfo {
    next_cursor: Option<Cursor>,
}

#[derive(Serialize)]
struct PageRef<'a, T> {
    data: &'a [T],
    page: PageInfo,
}

#[derive(Deserialize)]
struct PageOwned<T> {
    data: Vec<T>,
    page: PageInfo,
}

impl<T: Serialize> Serialize for Page<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PageRef {
            data: &self.data,
            page: PageInfo {
                next_cursor: self.next_cursor.clone(),
            },
        }
        .serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Page<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let page = PageOwned::deserialize(deserializer)?;
        Ok(Self {
            data: page.data,
            next_cursor: page.page.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_is_a_relation() {
        for role in Role::ALL {
            assert_eq!(role.relation().as_str(), role.as_str());
            assert_eq!(role.as_str().parse::<Role>().unwrap(), *role);
        }
        assert_eq!(
            "root".parse::<Role>().unwrap_err().code(),
            "precondition.invalid_role"
        );
    }

    #[test]
    fn pre_tuple_object_ids() {
        let bare = PreTuple::new("editor", "proj", "0190F2A8-1B3C-7ABC-8123-AAAAAAAAAAAA").unwrap();
        let prefixed =
            PreTuple::new("editor", "proj", "proj_0190f2a81b3c7abc8123aaaaaaaaaaaa").unwrap();
        assert_eq!(bare, prefixed);
        let user = UsrId::new();
        assert_eq!(parse_object_id(&user.to_string()).unwrap(), user.as_uuid());
        // The bare 32-hex form is accepted (spec v0.2.0-rc.4).
        assert_eq!(
            PreTuple::new("editor", "proj", "0190f2a81b3c7abc8123aaaaaaaaaaaa").unwrap(),
            prefixed
        );
        for bad in [
            "",
            "nope",
            "0190f2a81b3c7abc8123aaaaaaaaaaa",
            "0190f2a81b3c7abc8123aaaaaaaaaaaaa",
            "0190f2a81b3c7abc8123aaaaaaaaaaag",
            "{0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa}",
        ] {
            assert_eq!(
                PreTuple::new("editor", "proj", bad).unwrap_err().code(),
                "precondition.invalid_object_id",
                "{bad}"
            );
        }
        assert_eq!(
            PreTuple::new("owner", "org", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")
                .unwrap_err()
                .code(),
            "precondition.invalid_pre_tuple"
        );
        assert!(PreTuple::new("billing", "org", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa").is_ok());
    }
}
