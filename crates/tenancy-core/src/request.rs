//! Request bodies of the spec's OpenAPI (orgs, memberships, invitations) as JSON carries them,
//! and their conversion into the validated inputs of the store operations.
//!
//! Each type deserializes one request body with plain fields: strings, as the wire has them. The
//! schemas allow no additional properties, so an unknown field is refused, like malformed JSON, a
//! body that is not a JSON object, a missing required field, a repeated field, a `null` where the
//! schema has none, or a value of the wrong JSON type: those are the only failures of
//! deserializing, and the SDK has no code for them (a service answers them with a 400 of its own).
//! Every value the SDK validates is checked afterwards, by `into_input`, with the SDK's own
//! constructor, so a bad value fails with the SDK's typed code (`precondition.org_slug_format`,
//! `precondition.invalid_role`, `invalid_id`, …) and never with a deserializer's message. Fields
//! are checked in the order of the schema and the first failure is returned. No input makes a
//! conversion panic, and oversized or hostile strings are refused with typed errors like any other
//! bad value.
//!
//! Ids named by the path (`org_id`, `mem_id`, `inv_id`) are not part of any body: parse them
//! with [`parse_id`] and pass them in. The actor, and for an acceptance the identifier, come
//! from the caller's authenticated session and are never read from a body (the spec's ADR 0009):
//! a body may repeat them, and is refused when it names someone else.
//!
//! | OpenAPI | type | conversion |
//! | --- | --- | --- |
//! | `POST /orgs` (no schema; the `name` and `slug` of ADR 0011) | [`CreateOrgRequest`] | [`CreateOrg`] for the actor |
//! | `UpdateOrgRequest` (v0.2) | [`UpdateOrgRequest`] | [`UpdateOrg`] |
//! | `AddMemberRequest` | [`AddMemberRequest`] | [`AddMember`] recorded as added by the actor |
//! | `ChangeRoleRequest` | [`ChangeRoleRequest`] | the [`Role`] of `change_role` |
//! | `SelfLeaveRequest` | [`SelfLeaveRequest`] | the `transfer_to` of `self_leave` |
//! | `TransferOwnershipRequest` | [`TransferOwnershipRequest`] | [`TransferOwnership`] |
//! | `CreateInvitationRequest` | [`CreateInvitationRequest`] | [`CreateInvitation`] issued by the actor |
//! | `PreTuple` (inside it) | [`PreTupleRequest`] | [`PreTuple`] |
//! | `AcceptInvitationRequest` | [`AcceptInvitationRequest`] | [`AcceptInvitation`] as the session's user, bound by the session's identifier |
//!
//! `admin-remove`, `decline` and `revoke` have no request body in the OpenAPI: their arguments
//! are the path's id and the actor.
//!
//! ```
//! use flametrench_tenancy_core::request::{CreateOrgRequest, CreateInvitationRequest};
//! use flametrench_tenancy_core::ids::{OrgId, UsrId};
//! use flametrench_tenancy_core::TenancyError;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let actor = UsrId::new(); // from the authenticated session
//! let body: CreateOrgRequest = serde_json::from_str(r#"{"name": "Acme", "slug": "acme"}"#)?;
//! let input = body.into_input(actor)?;
//! assert_eq!(input.creator, actor);
//!
//! // A bad value fails with the SDK's code, not with a deserializer's message.
//! let body: CreateOrgRequest = serde_json::from_str(r#"{"slug": "Not A Slug"}"#)?;
//! let error: TenancyError = body.into_input(actor).unwrap_err();
//! assert_eq!(error.code(), "precondition.org_slug_format");
//! assert_eq!(error.kind().http_status(), 400);
//!
//! // What the SDK has no code for is the deserializer's: here an unknown field.
//! assert!(serde_json::from_str::<CreateOrgRequest>(r#"{"title": "Acme"}"#).is_err());
//!
//! let org_id = OrgId::new(); // from the path
//! let body: CreateInvitationRequest = serde_json::from_str(
//!     r#"{"identifier": "bob@example.com", "role": "member", "expires_at": "soon"}"#,
//! )?;
//! let error = body.into_input(org_id, actor).unwrap_err();
//! assert_eq!(error.code(), "precondition.invalid_timestamp");
//! # Ok(()) }
//! ```

use std::fmt;

use flametrench_ids::{InvId, MemId, OrgId, TypedId, UsrId};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{PreconditionReason, TenancyError};
use crate::input::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Patch, TransferOwnership, UpdateOrg,
};
use crate::model::{PreTuple, Role};
use crate::text::{Identifier, OrgName, Slug};

/// Parses the id in `field`, a path segment or a body field, as an id of type `I`.
///
/// ```
/// use flametrench_tenancy_core::ids::OrgId;
/// use flametrench_tenancy_core::request::parse_id;
///
/// let org: OrgId = parse_id("org_id", "org_0190f2a81b3c7abc8123456789abcdef")?;
/// let error = parse_id::<OrgId>("org_id", "usr_0190f2a81b3c7abc8123456789abcdef").unwrap_err();
/// assert_eq!(error.code(), "invalid_id");
/// assert_eq!(error.body().details().and_then(|details| details.field()), Some("org_id"));
/// # Ok::<(), flametrench_tenancy_core::TenancyError>(())
/// ```
///
/// # Errors
///
/// `invalid_id` naming `field` when `text` is not a well-formed id of type `I`.
pub fn parse_id<I: TypedId>(field: &'static str, text: &str) -> Result<I, TenancyError> {
    text.parse::<I>()
        .map_err(|source| TenancyError::invalid_id(field, source))
}

fn parse_role(text: &str) -> Result<Role, TenancyError> {
    text.parse()
}

/// An RFC 3339 date-time (the OpenAPI's `Timestamp`), brought into the stored form by the
/// input's constructor.
fn parse_timestamp(text: &str) -> Result<OffsetDateTime, TenancyError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| TenancyError::precondition(PreconditionReason::InvalidTimestamp))
}

/// A field that may be left out (unchanged), `null` (cleared) or a value (set).
fn patch<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Patch<String>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Patch::from)
}

/// An optional field whose value, when present, is a string: `null` is refused, as the schema
/// does not allow it.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// Declares a request type and its `Deserialize`: through a private twin that carries the
/// field attributes and refuses unknown fields, and from a JSON object only (the derive alone
/// would also read an array as the fields in order, and every request schema is an object).
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[serde($($serde:tt)*)])*
                pub $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Wire {
                    $(
                        $(#[serde($($serde)*)])*
                        $field: $ty,
                    )*
                }

                struct Object;

                impl<'de> Visitor<'de> for Object {
                    type Value = Wire;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }

                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Wire, A::Error> {
                        Wire::deserialize(MapAccessDeserializer::new(map))
                    }
                }

                let wire = deserializer.deserialize_map(Object)?;
                Ok(Self {
                    $($field: wire.$field,)*
                })
            }
        }
    };
}

/// The `Debug` text of a field holding personal data: whether it is present, never its value.
fn redacted(value: Option<&String>) -> &'static str {
    match value {
        Some(_) => "Some(<redacted>)",
        None => "None",
    }
}

request_body! {
    /// The body of `POST /orgs`: an optional display name and slug.
    ///
    /// The OpenAPI's `createOrg` declares no request body; these are the two org fields of the
    /// spec's ADR 0011, with the rules of `UpdateOrgRequest`. A `null` is the same as leaving the
    /// field out, and the whole body may be left out (`CreateOrgRequest::default()`).
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub struct CreateOrgRequest {
        /// The display name ([`OrgName`]).
        #[serde(default)]
        pub name: Option<String>,
        /// The slug ([`Slug`]).
        #[serde(default)]
        pub slug: Option<String>,
    }
}

impl CreateOrgRequest {
    /// The input of `create_org`, created by `creator`, the session's user.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_name`; `precondition.org_slug_format`.
    pub fn into_input(self, creator: UsrId) -> Result<CreateOrg, TenancyError> {
        let mut input = CreateOrg::new(creator);
        if let Some(name) = self.name {
            input = input.name(OrgName::new(name)?);
        }
        if let Some(slug) = self.slug {
            input = input.slug(Slug::new(slug)?);
        }
        Ok(input)
    }
}

request_body! {
    /// The OpenAPI's `UpdateOrgRequest` (v0.2), the body of `PUT /orgs/{org_id}`: a left-out field
    /// is kept, `null` clears it, a string sets it.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub struct UpdateOrgRequest {
        /// The new display name ([`OrgName`]).
        #[serde(default, deserialize_with = "patch")]
        pub name: Patch<String>,
        /// The new slug ([`Slug`]).
        #[serde(default, deserialize_with = "patch")]
        pub slug: Patch<String>,
    }
}

impl UpdateOrgRequest {
    /// Whether the body changes nothing (`{}`). The spec lets a server answer such a body with
    /// the current org or with a 400; `update_org` would still bump `updated_at`.
    pub fn is_empty(&self) -> bool {
        matches!(
            (&self.name, &self.slug),
            (Patch::Unchanged, Patch::Unchanged)
        )
    }

    /// The input of `update_org` for the org `org_id` of the path.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_name`; `precondition.org_slug_format`.
    pub fn into_input(self, org_id: OrgId) -> Result<UpdateOrg, TenancyError> {
        let name = match self.name {
            Patch::Unchanged => Patch::Unchanged,
            Patch::Clear => Patch::Clear,
            Patch::Set(name) => Patch::Set(OrgName::new(name)?),
        };
        let slug = match self.slug {
            Patch::Unchanged => Patch::Unchanged,
            Patch::Clear => Patch::Clear,
            Patch::Set(slug) => Patch::Set(Slug::new(slug)?),
        };
        Ok(UpdateOrg::new(org_id).name(name).slug(slug))
    }
}

request_body! {
    /// The OpenAPI's `AddMemberRequest`, the body of `POST /orgs/{org_id}/members`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct AddMemberRequest {
        /// The user to add, a `usr_` id.
        pub usr_id: String,
        /// The role to give ([`Role`]).
        pub role: String,
        /// Who adds the user, a `usr_` id. The addition is always recorded as the actor's: this
        /// field may only repeat the actor.
        #[serde(default)]
        pub invited_by: Option<String>,
    }
}

impl AddMemberRequest {
    /// The input of `add_member` into the org `org_id` of the path, recorded as added by
    /// `actor`, the session's user. Who may add whom is the caller's decision (the store does
    /// not authorize `add_member`).
    ///
    /// # Errors
    ///
    /// `invalid_id` (`usr_id`, `invited_by`); `precondition.invalid_role`; `forbidden` when
    /// `invited_by` names someone other than `actor`.
    pub fn into_input(self, org_id: OrgId, actor: UsrId) -> Result<AddMember, TenancyError> {
        let usr_id = parse_id("usr_id", &self.usr_id)?;
        let role = parse_role(&self.role)?;
        if let Some(text) = &self.invited_by {
            let invited_by: UsrId = parse_id("invited_by", text)?;
            if invited_by != actor {
                return Err(TenancyError::Forbidden);
            }
        }
        Ok(AddMember::new(org_id, usr_id, role).invited_by(actor))
    }
}

request_body! {
    /// The OpenAPI's `ChangeRoleRequest`, the body of
    /// `POST /orgs/{org_id}/members/{mem_id}/change-role`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct ChangeRoleRequest {
        /// The new role ([`Role`]).
        pub new_role: String,
    }
}

impl ChangeRoleRequest {
    /// The role argument of `change_role(mem_id, new_role)`; `mem_id` is the path's.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_role`.
    pub fn into_input(self) -> Result<Role, TenancyError> {
        parse_role(&self.new_role)
    }
}

request_body! {
    /// The OpenAPI's `SelfLeaveRequest`, the optional body of
    /// `POST /orgs/{org_id}/members/{mem_id}/self-leave`: the org's sole owner names a successor
    /// by user id in `transferTo`. A left-out body is `SelfLeaveRequest::default()`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub struct SelfLeaveRequest {
        /// The successor, a `usr_` id (the JSON field `transferTo`); `null` is the same as leaving
        /// it out.
        #[serde(default, rename = "transferTo")]
        pub transfer_to: Option<String>,
    }
}

impl SelfLeaveRequest {
    /// The `transfer_to` argument of `self_leave(mem_id, transfer_to)`; `mem_id` is the path's.
    /// That the actor is the member leaving is the caller's check (the store cannot know who
    /// asks).
    ///
    /// # Errors
    ///
    /// `invalid_id` (`transferTo`).
    pub fn into_input(self) -> Result<Option<UsrId>, TenancyError> {
        self.transfer_to
            .as_deref()
            .map(|text| parse_id("transferTo", text))
            .transpose()
    }
}

request_body! {
    /// The OpenAPI's `TransferOwnershipRequest`, the body of
    /// `POST /orgs/{org_id}/transfer-ownership`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct TransferOwnershipRequest {
        /// The current owner's membership, a `mem_` id.
        pub from_mem_id: String,
        /// The receiving membership, a `mem_` id.
        pub to_mem_id: String,
    }
}

impl TransferOwnershipRequest {
    /// The input of `transfer_ownership` in the org `org_id` of the path. That the actor holds
    /// `from_mem_id` is the caller's check.
    ///
    /// # Errors
    ///
    /// `invalid_id` (`from_mem_id`, `to_mem_id`).
    pub fn into_input(self, org_id: OrgId) -> Result<TransferOwnership, TenancyError> {
        let from_mem_id: MemId = parse_id("from_mem_id", &self.from_mem_id)?;
        let to_mem_id: MemId = parse_id("to_mem_id", &self.to_mem_id)?;
        Ok(TransferOwnership::new(org_id, from_mem_id, to_mem_id))
    }
}

request_body! {
    /// The OpenAPI's `PreTuple`, one grant of a [`CreateInvitationRequest`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct PreTupleRequest {
        /// The relation granted.
        pub relation: String,
        /// The object's type.
        pub object_type: String,
        /// The object's id: a UUID, or an id `prefix_<32 hex>`.
        pub object_id: String,
    }
}

impl PreTupleRequest {
    /// The grant, checked by [`PreTuple::new`].
    ///
    /// # Errors
    ///
    /// `precondition.invalid_relation`; `precondition.invalid_object_type`;
    /// `precondition.invalid_object_id`; `precondition.invalid_pre_tuple`.
    pub fn into_input(self) -> Result<PreTuple, TenancyError> {
        PreTuple::new(&self.relation, &self.object_type, &self.object_id)
    }
}

request_body! {
    /// The OpenAPI's `CreateInvitationRequest`, the body of `POST /orgs/{org_id}/invitations`.
    ///
    /// Its `Debug` output leaves the identifier (personal data) out.
    #[derive(Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct CreateInvitationRequest {
        /// The invitee's email or handle ([`Identifier`]).
        pub identifier: String,
        /// The role granted on acceptance ([`Role`]).
        pub role: String,
        /// Grants materialized on acceptance; left out, none.
        #[serde(default)]
        pub pre_tuples: Vec<PreTupleRequest>,
        /// When the invitation stops being acceptable, an RFC 3339 date-time.
        pub expires_at: String,
    }
}

impl fmt::Debug for CreateInvitationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateInvitationRequest")
            .field("identifier", &format_args!("<redacted>"))
            .field("role", &self.role)
            .field("pre_tuples", &self.pre_tuples)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl CreateInvitationRequest {
    /// The input of `create_invitation` into the org `org_id` of the path, issued by
    /// `invited_by`, the session's user. Repeated pre-tuples collapse into one.
    ///
    /// # Errors
    ///
    /// `precondition.invalid_identifier`; `precondition.invalid_role`; a pre-tuple's errors
    /// ([`PreTupleRequest::into_input`]); `precondition.too_many_pre_tuples`;
    /// `precondition.invalid_timestamp` when `expires_at` is not an RFC 3339 date-time and
    /// `precondition.timestamp_out_of_range` when it lies outside the stored range. Whether it
    /// is in the future is the store's check (`precondition.past_expiration`).
    pub fn into_input(
        self,
        org_id: OrgId,
        invited_by: UsrId,
    ) -> Result<CreateInvitation, TenancyError> {
        let identifier = Identifier::new(self.identifier)?;
        let role = parse_role(&self.role)?;
        let pre_tuples = self
            .pre_tuples
            .into_iter()
            .map(PreTupleRequest::into_input)
            .collect::<Result<Vec<_>, _>>()?;
        let expires_at = parse_timestamp(&self.expires_at)?;
        CreateInvitation::new(org_id, identifier, role, invited_by, expires_at)?
            .pre_tuples(pre_tuples)
    }
}

request_body! {
    /// The OpenAPI's `AcceptInvitationRequest`, the optional body of
    /// `POST /invitations/{inv_id}/accept`. A left-out body is
    /// `AcceptInvitationRequest::default()`.
    ///
    /// The acceptance is always made as the session's user and bound by the session's identifier
    /// (ADR 0009): [`into_input`](Self::into_input) takes both, and the body may only repeat them.
    /// No acceptance is ever built from the body alone. Its `Debug` output leaves the identifier
    /// (personal data) out.
    #[derive(Clone, PartialEq, Eq, Default)]
    #[non_exhaustive]
    pub struct AcceptInvitationRequest {
        /// The accepting user, a `usr_` id; may only name the session's user. `null` is the same as
        /// leaving it out.
        #[serde(default)]
        pub as_usr_id: Option<String>,
        /// The accepting user's identifier; may only repeat the session's. It is never what the
        /// invitation is compared with: the session's identifier is. Unlike `as_usr_id`, it may not
        /// be `null`.
        #[serde(default, deserialize_with = "present")]
        pub accepting_identifier: Option<String>,
    }
}

impl fmt::Debug for AcceptInvitationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptInvitationRequest")
            .field("as_usr_id", &self.as_usr_id)
            .field(
                "accepting_identifier",
                &format_args!("{}", redacted(self.accepting_identifier.as_ref())),
            )
            .finish()
    }
}

impl AcceptInvitationRequest {
    /// The input of `accept_invitation` for the invitation `inv_id` of the path, as
    /// `session_user`, bound by `session_identifier`: the identifier the session has verified
    /// (an email address, a handle), or `None` when it has none, which the store then refuses
    /// with `precondition.identifier_binding_required`.
    ///
    /// ```
    /// use flametrench_tenancy_core::Identifier;
    /// use flametrench_tenancy_core::ids::{InvId, UsrId};
    /// use flametrench_tenancy_core::request::AcceptInvitationRequest;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (inv_id, bob) = (InvId::new(), UsrId::new());
    /// let verified = Identifier::new("bob@example.com")?;
    ///
    /// let body = AcceptInvitationRequest::default(); // no body
    /// let input = body.into_input(inv_id, bob, Some(verified.clone()))?;
    /// assert_eq!(input.as_usr_id, Some(bob));
    /// assert_eq!(input.accepting_identifier, Some(verified.clone()));
    ///
    /// // A body cannot speak for another identifier than the session's.
    /// let body: AcceptInvitationRequest =
    ///     serde_json::from_str(r#"{"accepting_identifier": "eve@example.com"}"#)?;
    /// let error = body.into_input(inv_id, bob, Some(verified)).unwrap_err();
    /// assert_eq!(error.code(), "precondition.identifier_mismatch");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_id` (`as_usr_id`); `forbidden` when `as_usr_id` names someone other than
    /// `session_user`; `precondition.invalid_identifier` when `accepting_identifier` is not a
    /// valid identifier, and `precondition.identifier_mismatch` when it differs from
    /// `session_identifier` byte for byte. A body's `accepting_identifier` without a session
    /// identifier is ignored: the store refuses the acceptance as unbound.
    pub fn into_input(
        self,
        inv_id: InvId,
        session_user: UsrId,
        session_identifier: Option<Identifier>,
    ) -> Result<AcceptInvitation, TenancyError> {
        if let Some(text) = &self.as_usr_id {
            let as_usr_id: UsrId = parse_id("as_usr_id", text)?;
            if as_usr_id != session_user {
                return Err(TenancyError::Forbidden);
            }
        }
        if let Some(text) = self.accepting_identifier {
            let claimed = Identifier::new(text)?;
            if session_identifier
                .as_ref()
                .is_some_and(|verified| *verified != claimed)
            {
                return Err(TenancyError::precondition(
                    PreconditionReason::IdentifierMismatch,
                ));
            }
        }
        Ok(AcceptInvitation::with_parts(
            inv_id,
            Some(session_user),
            session_identifier,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MAX_TIMESTAMP;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};
    use time::macros::datetime;

    const USR: &str = "usr_0190f2a81b3c7abc8123456789abcdef";
    const OTHER_USR: &str = "usr_0190f2a81b3c7abc8123456789abcde0";
    const MEM: &str = "mem_0190f2a81b3c7abc8123456789abcdef";
    const OTHER_MEM: &str = "mem_0190f2a81b3c7abc8123456789abcde0";
    const OBJECT: &str = "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa";

    fn parse<T: DeserializeOwned>(body: Value) -> T {
        match serde_json::from_value(body.clone()) {
            Ok(request) => request,
            Err(error) => panic!("{body} does not parse: {error}"),
        }
    }

    fn refused<T: DeserializeOwned + fmt::Debug>(body: Value) {
        let parsed = serde_json::from_value::<T>(body.clone());
        assert!(parsed.is_err(), "{body} parsed: {parsed:?}");
    }

    fn code<T: fmt::Debug>(result: Result<T, TenancyError>) -> &'static str {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(error) => error.code(),
        }
    }

    fn usr(text: &str) -> UsrId {
        text.parse().unwrap_or_else(|_| panic!("{text}"))
    }

    /// Strings no field accepts as given, each with the code the SDK answers for an id field.
    fn hostile_strings() -> Vec<String> {
        vec![
            String::new(),
            " ".into(),
            "\0".into(),
            "a\0b".into(),
            "x".repeat(1 << 20),
            "é".repeat(100_000),
            "_".repeat(70_000),
            "usr_".repeat(10_000),
            format!("{USR}\0"),
            format!(" {USR}"),
            USR.to_uppercase(),
            "\u{202e}usr_0190f2a81b3c7abc8123456789abcdef".into(),
            "\u{1F600}".repeat(1000),
            "9999-12-31T23:59:60Z".into(),
            "+10000-01-01T00:00:00Z".into(),
        ]
    }

    #[test]
    fn parse_id_names_the_field() {
        let id: MemId = parse_id("mem_id", MEM).unwrap();
        assert_eq!(id.to_string(), MEM);
        for text in hostile_strings().iter().map(String::as_str).chain([USR]) {
            let error = parse_id::<MemId>("mem_id", text).unwrap_err();
            assert_eq!(error.code(), "invalid_id");
            assert_eq!(
                error.body().details().and_then(|d| d.field()),
                Some("mem_id")
            );
        }
    }

    #[test]
    fn create_org() {
        let actor = UsrId::new();
        let input = parse::<CreateOrgRequest>(json!({ "name": "Acme", "slug": "acme" }))
            .into_input(actor)
            .unwrap();
        assert_eq!(input.creator, actor);
        assert_eq!(input.name.as_ref().map(OrgName::as_str), Some("Acme"));
        assert_eq!(input.slug.as_ref().map(Slug::as_str), Some("acme"));
        for body in [json!({}), json!({ "name": null, "slug": null })] {
            let input = parse::<CreateOrgRequest>(body).into_input(actor).unwrap();
            assert_eq!((input.name, input.slug), (None, None));
        }
        assert_eq!(
            CreateOrgRequest::default().into_input(actor).unwrap(),
            CreateOrg::new(actor)
        );
        // An empty name is a name (the spec does not forbid it); an empty slug is not a slug.
        let empty = parse::<CreateOrgRequest>(json!({ "name": "" }))
            .into_input(actor)
            .unwrap();
        assert_eq!(empty.name.as_ref().map(OrgName::as_str), Some(""));
        let cases = [
            (
                json!({ "slug": "Not A Slug" }),
                "precondition.org_slug_format",
            ),
            (json!({ "slug": "" }), "precondition.org_slug_format"),
            (
                json!({ "slug": "a".repeat(64) }),
                "precondition.org_slug_format",
            ),
            (json!({ "slug": "-acme" }), "precondition.org_slug_format"),
            (json!({ "name": "a\0b" }), "precondition.invalid_name"),
            (
                json!({ "name": "a".repeat(1025) }),
                "precondition.invalid_name",
            ),
            // Fields are checked in order: the name first.
            (
                json!({ "name": "a\0", "slug": "BAD" }),
                "precondition.invalid_name",
            ),
        ];
        for (body, expected) in cases {
            let request = parse::<CreateOrgRequest>(body.clone());
            assert_eq!(code(request.into_input(actor)), expected, "{body}");
        }
        refused::<CreateOrgRequest>(json!({ "title": "Acme" }));
        refused::<CreateOrgRequest>(json!({ "slug": 7 }));
        refused::<CreateOrgRequest>(json!({ "name": ["Acme"] }));
        refused::<CreateOrgRequest>(json!([]));
        refused::<CreateOrgRequest>(json!(null));
        assert!(serde_json::from_str::<CreateOrgRequest>(r#"{"slug":"a","slug":"b"}"#).is_err());
    }

    #[test]
    fn update_org() {
        let org_id = OrgId::new();
        let input = parse::<UpdateOrgRequest>(json!({ "name": "New", "slug": null }))
            .into_input(org_id)
            .unwrap();
        assert_eq!(input.org_id, org_id);
        assert_eq!(input.name, Patch::Set(OrgName::new("New").unwrap()));
        assert_eq!(input.slug, Patch::Clear);
        let request = parse::<UpdateOrgRequest>(json!({ "slug": "acme" }));
        assert!(!request.is_empty());
        let input = request.into_input(org_id).unwrap();
        assert_eq!(input.name, Patch::Unchanged);
        assert_eq!(input.slug, Patch::Set(Slug::new("acme").unwrap()));
        let empty = parse::<UpdateOrgRequest>(json!({}));
        assert!(empty.is_empty());
        assert_eq!(empty, UpdateOrgRequest::default());
        assert_eq!(empty.into_input(org_id).unwrap(), UpdateOrg::new(org_id));
        assert!(!parse::<UpdateOrgRequest>(json!({ "name": null })).is_empty());
        let cases = [
            (json!({ "slug": "Acme" }), "precondition.org_slug_format"),
            (json!({ "slug": "" }), "precondition.org_slug_format"),
            (json!({ "name": "\0" }), "precondition.invalid_name"),
            (
                json!({ "name": "n".repeat(5000) }),
                "precondition.invalid_name",
            ),
        ];
        for (body, expected) in cases {
            let request = parse::<UpdateOrgRequest>(body.clone());
            assert_eq!(code(request.into_input(org_id)), expected, "{body}");
        }
        refused::<UpdateOrgRequest>(json!({ "status": "active" }));
        refused::<UpdateOrgRequest>(json!({ "slug": false }));
        refused::<UpdateOrgRequest>(json!({ "name": {} }));
    }

    #[test]
    fn add_member() {
        let (org_id, actor) = (OrgId::new(), usr(OTHER_USR));
        let input = parse::<AddMemberRequest>(json!({ "usr_id": USR, "role": "admin" }))
            .into_input(org_id, actor)
            .unwrap();
        assert_eq!(
            input,
            AddMember::new(org_id, usr(USR), Role::Admin).invited_by(actor)
        );
        for invited_by in [json!(null), json!(OTHER_USR)] {
            let body = json!({ "usr_id": USR, "role": "guest", "invited_by": invited_by });
            let input = parse::<AddMemberRequest>(body)
                .into_input(org_id, actor)
                .unwrap();
            assert_eq!(input.invited_by, Some(actor));
        }
        let cases = [
            (
                json!({ "usr_id": "usr_nope", "role": "member" }),
                "invalid_id",
            ),
            (json!({ "usr_id": MEM, "role": "member" }), "invalid_id"),
            (
                json!({ "usr_id": USR, "role": "root" }),
                "precondition.invalid_role",
            ),
            (
                json!({ "usr_id": USR, "role": "Owner" }),
                "precondition.invalid_role",
            ),
            (
                json!({ "usr_id": USR, "role": "member", "invited_by": "x" }),
                "invalid_id",
            ),
            (
                json!({ "usr_id": USR, "role": "member", "invited_by": USR }),
                "forbidden",
            ),
        ];
        for (body, expected) in cases {
            let request = parse::<AddMemberRequest>(body.clone());
            assert_eq!(code(request.into_input(org_id, actor)), expected, "{body}");
        }
        let error = parse::<AddMemberRequest>(json!({ "usr_id": USR, "role": "member",
            "invited_by": "nope" }))
        .into_input(org_id, actor)
        .unwrap_err();
        assert_eq!(
            error.body().details().and_then(|d| d.field()),
            Some("invited_by")
        );
        refused::<AddMemberRequest>(json!({ "usr_id": USR }));
        // Every schema is an object: the fields in order, as an array, are no request.
        refused::<AddMemberRequest>(json!([USR, "member"]));
        refused::<AddMemberRequest>(json!([USR, "member", null]));
        refused::<AddMemberRequest>(json!({ "role": "member" }));
        refused::<AddMemberRequest>(json!({ "usr_id": USR, "role": "member", "org_id": "x" }));
        refused::<AddMemberRequest>(json!({ "usr_id": 1, "role": "member" }));
        refused::<AddMemberRequest>(json!({ "usr_id": USR, "role": null }));
    }

    #[test]
    fn change_role() {
        for role in Role::ALL {
            let request = parse::<ChangeRoleRequest>(json!({ "new_role": role.as_str() }));
            assert_eq!(request.into_input().unwrap(), *role);
        }
        for bad in ["root", "", "OWNER", " owner", "owner\0"] {
            let request = parse::<ChangeRoleRequest>(json!({ "new_role": bad }));
            assert_eq!(
                code(request.into_input()),
                "precondition.invalid_role",
                "{bad}"
            );
        }
        refused::<ChangeRoleRequest>(json!({}));
        refused::<ChangeRoleRequest>(json!({ "new_role": "admin", "role": "admin" }));
        refused::<ChangeRoleRequest>(json!({ "new_role": null }));
    }

    #[test]
    fn self_leave() {
        assert_eq!(SelfLeaveRequest::default().into_input().unwrap(), None);
        for body in [json!({}), json!({ "transferTo": null })] {
            assert_eq!(parse::<SelfLeaveRequest>(body).into_input().unwrap(), None);
        }
        let request = parse::<SelfLeaveRequest>(json!({ "transferTo": USR }));
        assert_eq!(request.into_input().unwrap(), Some(usr(USR)));
        for bad in [json!(MEM), json!("usr_nope")] {
            let request = parse::<SelfLeaveRequest>(json!({ "transferTo": bad }));
            let error = request.into_input().unwrap_err();
            assert_eq!(error.code(), "invalid_id");
            assert_eq!(
                error.body().details().and_then(|d| d.field()),
                Some("transferTo")
            );
        }
        // The wire name is `transferTo`, as the OpenAPI spells it.
        refused::<SelfLeaveRequest>(json!({ "transfer_to": USR }));
        refused::<SelfLeaveRequest>(json!({ "transferTo": 5 }));
    }

    #[test]
    fn transfer_ownership() {
        let org_id = OrgId::new();
        let request = parse::<TransferOwnershipRequest>(
            json!({ "from_mem_id": MEM, "to_mem_id": OTHER_MEM }),
        );
        let input = request.into_input(org_id).unwrap();
        assert_eq!(
            input,
            TransferOwnership::new(org_id, MEM.parse().unwrap(), OTHER_MEM.parse().unwrap())
        );
        for (body, field) in [
            (
                json!({ "from_mem_id": USR, "to_mem_id": OTHER_MEM }),
                "from_mem_id",
            ),
            (
                json!({ "from_mem_id": MEM, "to_mem_id": "mem_" }),
                "to_mem_id",
            ),
        ] {
            let error = parse::<TransferOwnershipRequest>(body)
                .into_input(org_id)
                .unwrap_err();
            assert_eq!(error.code(), "invalid_id");
            assert_eq!(error.body().details().and_then(|d| d.field()), Some(field));
        }
        refused::<TransferOwnershipRequest>(json!({ "from_mem_id": MEM }));
        refused::<TransferOwnershipRequest>(
            json!({ "from_mem_id": MEM, "to_mem_id": OTHER_MEM, "org_id": "x" }),
        );
    }

    fn pre_tuple(relation: &str, object_type: &str, object_id: &str) -> Value {
        json!({ "relation": relation, "object_type": object_type, "object_id": object_id })
    }

    fn invitation(fields: Value) -> Value {
        let mut body = json!({
            "identifier": "bob@example.com",
            "role": "member",
            "expires_at": "2030-01-01T00:00:00Z",
        });
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        body
    }

    #[test]
    fn create_invitation() {
        let (org_id, actor) = (OrgId::new(), UsrId::new());
        let grant = json!({ "relation": "editor", "object_type": "proj", "object_id": OBJECT });
        let body = invitation(json!({
            "expires_at": "2030-05-05T05:05:05.999999999-07:00",
            "pre_tuples": [grant, grant, { "relation": "viewer", "object_type": "proj",
                "object_id": "proj_0190f2a81b3c7abc8123aaaaaaaaaaaa" }],
        }));
        let input = parse::<CreateInvitationRequest>(body)
            .into_input(org_id, actor)
            .unwrap();
        assert_eq!(input.org_id, org_id);
        assert_eq!(input.invited_by, actor);
        assert_eq!(input.identifier.as_str(), "bob@example.com");
        assert_eq!(input.role, Role::Member);
        assert_eq!(input.expires_at, datetime!(2030-05-05 12:05:05.999_999 UTC));
        assert_eq!(
            input.pre_tuples,
            vec![
                PreTuple::new("editor", "proj", OBJECT).unwrap(),
                PreTuple::new("viewer", "proj", OBJECT).unwrap(),
            ]
        );
        let plain = parse::<CreateInvitationRequest>(invitation(json!({})))
            .into_input(org_id, actor)
            .unwrap();
        assert!(plain.pre_tuples.is_empty());
        let latest = parse::<CreateInvitationRequest>(invitation(
            json!({ "expires_at": "9999-12-31T23:59:59.999999Z" }),
        ))
        .into_input(org_id, actor)
        .unwrap();
        assert_eq!(latest.expires_at, MAX_TIMESTAMP);

        let many: Vec<Value> = (0..65)
            .map(|n| {
                json!({ "relation": "editor", "object_type": "proj",
                    "object_id": format!("0190f2a8-1b3c-7abc-8123-{n:012x}") })
            })
            .collect();
        let same: Vec<Value> = (0..10_000).map(|_| grant.clone()).collect();
        let cases = [
            (
                json!({ "identifier": "" }),
                "precondition.invalid_identifier",
            ),
            (
                json!({ "identifier": "b".repeat(321) }),
                "precondition.invalid_identifier",
            ),
            (
                json!({ "identifier": "bob\0@example.com" }),
                "precondition.invalid_identifier",
            ),
            (json!({ "role": "root" }), "precondition.invalid_role"),
            (
                json!({ "expires_at": "soon" }),
                "precondition.invalid_timestamp",
            ),
            (
                json!({ "expires_at": "" }),
                "precondition.invalid_timestamp",
            ),
            (
                json!({ "expires_at": "2030-01-01" }),
                "precondition.invalid_timestamp",
            ),
            (
                json!({ "expires_at": "2030-01-01T00:00:00" }),
                "precondition.invalid_timestamp",
            ),
            (
                json!({ "expires_at": "2030-02-30T00:00:00Z" }),
                "precondition.invalid_timestamp",
            ),
            (
                json!({ "expires_at": "9999-12-31T23:00:00-01:00" }),
                "precondition.timestamp_out_of_range",
            ),
            (
                json!({ "pre_tuples": [pre_tuple("x", "proj", OBJECT)] }),
                "precondition.invalid_relation",
            ),
            (
                json!({ "pre_tuples": [pre_tuple("editor", "project", OBJECT)] }),
                "precondition.invalid_object_type",
            ),
            (
                json!({ "pre_tuples": [pre_tuple("editor", "proj", "nope")] }),
                "precondition.invalid_object_id",
            ),
            (
                json!({ "pre_tuples": [pre_tuple("owner", "org", OBJECT)] }),
                "precondition.invalid_pre_tuple",
            ),
            (
                json!({ "pre_tuples": many }),
                "precondition.too_many_pre_tuples",
            ),
            // Fields are checked in the schema's order.
            (
                json!({ "identifier": "", "role": "root", "expires_at": "soon" }),
                "precondition.invalid_identifier",
            ),
            (
                json!({ "role": "root", "expires_at": "soon" }),
                "precondition.invalid_role",
            ),
        ];
        for (fields, expected) in cases {
            let request = parse::<CreateInvitationRequest>(invitation(fields.clone()));
            assert_eq!(
                code(request.into_input(org_id, actor)),
                expected,
                "{fields}"
            );
        }
        // Repeats collapse before the limit is counted.
        let input = parse::<CreateInvitationRequest>(invitation(json!({ "pre_tuples": same })))
            .into_input(org_id, actor)
            .unwrap();
        assert_eq!(input.pre_tuples.len(), 1);

        refused::<CreateInvitationRequest>(json!({ "identifier": "a@b", "role": "member" }));
        refused::<CreateInvitationRequest>(invitation(json!({ "invited_by": USR })));
        refused::<CreateInvitationRequest>(invitation(json!({ "pre_tuples": null })));
        refused::<CreateInvitationRequest>(invitation(json!({ "expires_at": 1_900_000_000 })));
        refused::<CreateInvitationRequest>(invitation(json!({
            "pre_tuples": [{ "relation": "editor", "object_type": "proj", "object_id": OBJECT,
                "subject_id": OBJECT }],
        })));
    }

    #[test]
    fn create_invitation_debug_hides_the_identifier() {
        let request = parse::<CreateInvitationRequest>(invitation(json!({})));
        let text = format!("{request:?}");
        assert!(!text.contains("bob"), "{text}");
        assert!(text.contains("member"), "{text}");
    }

    #[test]
    fn accept_invitation() {
        let (inv_id, bob) = (InvId::new(), usr(USR));
        let verified = Identifier::new("bob@example.com").unwrap();
        let bound = AcceptInvitation::as_user(inv_id, bob, verified.clone());
        for body in [
            json!({}),
            json!({ "as_usr_id": null }),
            json!({ "as_usr_id": USR }),
            json!({ "accepting_identifier": "bob@example.com" }),
            json!({ "as_usr_id": USR, "accepting_identifier": "bob@example.com" }),
        ] {
            let request = parse::<AcceptInvitationRequest>(body.clone());
            let input = request
                .into_input(inv_id, bob, Some(verified.clone()))
                .unwrap();
            assert_eq!(input, bound, "{body}");
        }
        // Without a session identifier the input is unbound, whatever the body claims: the
        // store refuses it (`precondition.identifier_binding_required`).
        for body in [
            json!({}),
            json!({ "accepting_identifier": "bob@example.com" }),
        ] {
            let input = parse::<AcceptInvitationRequest>(body)
                .into_input(inv_id, bob, None)
                .unwrap();
            assert_eq!(input, AcceptInvitation::with_parts(inv_id, Some(bob), None));
        }
        let cases = [
            (json!({ "as_usr_id": OTHER_USR }), "forbidden"),
            (json!({ "as_usr_id": "usr_nope" }), "invalid_id"),
            (json!({ "as_usr_id": MEM }), "invalid_id"),
            (
                json!({ "accepting_identifier": "eve@example.com" }),
                "precondition.identifier_mismatch",
            ),
            (
                json!({ "accepting_identifier": "BOB@example.com" }),
                "precondition.identifier_mismatch",
            ),
            (
                json!({ "accepting_identifier": "" }),
                "precondition.invalid_identifier",
            ),
            (
                json!({ "accepting_identifier": "b".repeat(100_000) }),
                "precondition.invalid_identifier",
            ),
        ];
        for (body, expected) in cases {
            let request = parse::<AcceptInvitationRequest>(body.clone());
            assert_eq!(
                code(request.into_input(inv_id, bob, Some(verified.clone()))),
                expected,
                "{body}"
            );
        }
        refused::<AcceptInvitationRequest>(json!({ "usr_id": USR }));
        refused::<AcceptInvitationRequest>(json!({ "accepting_identifier": null }));
        refused::<AcceptInvitationRequest>(json!({ "accepting_identifier": ["bob"] }));
        let request =
            parse::<AcceptInvitationRequest>(json!({ "accepting_identifier": "bob@example.com" }));
        assert!(!format!("{request:?}").contains("bob"));
    }

    /// Every string field of every request, fed hostile strings: each conversion returns, and
    /// a failure is a typed code of the SDK.
    #[test]
    fn hostile_strings_give_typed_errors() {
        let (org_id, inv_id, actor) = (OrgId::new(), InvId::new(), usr(USR));
        let verified = Some(Identifier::new("bob@example.com").unwrap());
        let codes = |result: Result<(), TenancyError>| match result {
            Ok(()) => None,
            Err(error) => Some(error.code()),
        };
        for text in hostile_strings() {
            let s = json!(text);
            let outcomes = [
                codes(
                    parse::<CreateOrgRequest>(json!({ "name": s }))
                        .into_input(actor)
                        .map(drop),
                ),
                codes(
                    parse::<CreateOrgRequest>(json!({ "slug": s }))
                        .into_input(actor)
                        .map(drop),
                ),
                codes(
                    parse::<UpdateOrgRequest>(json!({ "name": s, "slug": s }))
                        .into_input(org_id)
                        .map(drop),
                ),
                codes(
                    parse::<AddMemberRequest>(json!({ "usr_id": s, "role": "member" }))
                        .into_input(org_id, actor)
                        .map(drop),
                ),
                codes(
                    parse::<AddMemberRequest>(json!({ "usr_id": USR, "role": s }))
                        .into_input(org_id, actor)
                        .map(drop),
                ),
                codes(
                    parse::<ChangeRoleRequest>(json!({ "new_role": s }))
                        .into_input()
                        .map(drop),
                ),
                codes(
                    parse::<SelfLeaveRequest>(json!({ "transferTo": s }))
                        .into_input()
                        .map(drop),
                ),
                codes(
                    parse::<TransferOwnershipRequest>(json!({ "from_mem_id": s, "to_mem_id": s }))
                        .into_input(org_id)
                        .map(drop),
                ),
                codes(
                    parse::<CreateInvitationRequest>(invitation(json!({ "identifier": s })))
                        .into_input(org_id, actor)
                        .map(drop),
                ),
                codes(
                    parse::<CreateInvitationRequest>(invitation(json!({ "expires_at": s })))
                        .into_input(org_id, actor)
                        .map(drop),
                ),
                codes(
                    parse::<CreateInvitationRequest>(invitation(json!({ "pre_tuples": [
                        { "relation": s, "object_type": s, "object_id": s }] })))
                    .into_input(org_id, actor)
                    .map(drop),
                ),
                codes(
                    parse::<AcceptInvitationRequest>(json!({ "as_usr_id": s }))
                        .into_input(inv_id, actor, verified.clone())
                        .map(drop),
                ),
                codes(
                    parse::<AcceptInvitationRequest>(json!({ "accepting_identifier": s }))
                        .into_input(inv_id, actor, verified.clone())
                        .map(drop),
                ),
            ];
            let preview: String = text.chars().take(24).collect();
            for outcome in outcomes.iter().flatten() {
                assert!(
                    *outcome == "invalid_id" || outcome.starts_with("precondition."),
                    "{preview:?}: {outcome}"
                );
            }
        }
    }
}
