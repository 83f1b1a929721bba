//! Request bodies and queries as the OpenAPI has them, and their conversion into the SDK's
//! validated inputs.
//!
//! Every field the SDK validates is read as a plain string and handed to the SDK's own
//! constructor, so a bad value answers with the SDK's typed code (`precondition.org_slug_format`,
//! `precondition.invalid_role`, `invalid_id`, …) instead of a deserializer's message. Only what
//! the SDK has no error for (malformed JSON, a missing field, a value of the wrong JSON type, an
//! unknown field: the schemas allow no additional properties) is `invalid_request`.

use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::time::OffsetDateTime;
use flametrench_tenancy_core::time::format_description::well_known::Rfc3339;
use flametrench_tenancy_core::{
    CreateInvitation, CreateOrg, Cursor, Identifier, ListMembers, MembershipStatus, OrgName,
    PreTuple, Role, Slug, TenancyError,
};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::parse_id;

/// `POST /orgs`: both fields optional (a `null` is the same as leaving the field out).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrgRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    slug: Option<String>,
}

impl CreateOrgRequest {
    /// The input of `create_org`, created by `creator`.
    pub(crate) fn into_input(self, creator: UsrId) -> Result<CreateOrg, TenancyError> {
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

/// `AddMemberRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMemberRequest {
    usr_id: String,
    role: String,
    #[serde(default)]
    invited_by: Option<String>,
}

/// An [`AddMemberRequest`], validated.
pub(crate) struct NewMember {
    pub(crate) usr_id: UsrId,
    pub(crate) role: Role,
    pub(crate) invited_by: Option<UsrId>,
}

impl AddMemberRequest {
    pub(crate) fn validate(self) -> Result<NewMember, TenancyError> {
        Ok(NewMember {
            usr_id: parse_id("usr_id", &self.usr_id)?,
            role: self.role.parse()?,
            invited_by: self
                .invited_by
                .map(|text| parse_id("invited_by", &text))
                .transpose()?,
        })
    }
}

/// `ChangeRoleRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRoleRequest {
    new_role: String,
}

impl ChangeRoleRequest {
    pub(crate) fn new_role(&self) -> Result<Role, TenancyError> {
        self.new_role.parse()
    }
}

/// `SelfLeaveRequest`: `transferTo` names the successor by user id.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelfLeaveRequest {
    #[serde(default, rename = "transferTo")]
    transfer_to: Option<String>,
}

impl SelfLeaveRequest {
    pub(crate) fn transfer_to(&self) -> Result<Option<UsrId>, TenancyError> {
        self.transfer_to
            .as_deref()
            .map(|text| parse_id("transferTo", text))
            .transpose()
    }
}

/// `TransferOwnershipRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferOwnershipRequest {
    from_mem_id: String,
    to_mem_id: String,
}

impl TransferOwnershipRequest {
    /// The two membership ids, `from` then `to`.
    pub(crate) fn mem_ids(&self) -> Result<(MemId, MemId), TenancyError> {
        Ok((
            parse_id("from_mem_id", &self.from_mem_id)?,
            parse_id("to_mem_id", &self.to_mem_id)?,
        ))
    }
}

/// `PreTuple`, inside a `CreateInvitationRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreTupleRequest {
    relation: String,
    object_type: String,
    object_id: String,
}

/// `CreateInvitationRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvitationRequest {
    identifier: String,
    role: String,
    #[serde(default)]
    pre_tuples: Vec<PreTupleRequest>,
    expires_at: String,
}

impl CreateInvitationRequest {
    /// The input of `create_invitation` into `org_id`, issued by `invited_by`.
    pub(crate) fn into_input(
        self,
        org_id: OrgId,
        invited_by: UsrId,
    ) -> Result<CreateInvitation, ApiError> {
        let identifier = Identifier::new(self.identifier)?;
        let role: Role = self.role.parse()?;
        // The SDK takes a parsed instant; a string that is not one has no SDK error.
        let expires_at = OffsetDateTime::parse(&self.expires_at, &Rfc3339)
            .map_err(|_| ApiError::invalid_request("expires_at: not an RFC 3339 timestamp"))?;
        let pre_tuples = self
            .pre_tuples
            .iter()
            .map(|grant| PreTuple::new(&grant.relation, &grant.object_type, &grant.object_id))
            .collect::<Result<Vec<_>, _>>()?;
        let input = CreateInvitation::new(org_id, identifier, role, invited_by, expires_at)?
            .pre_tuples(pre_tuples)?;
        Ok(input)
    }
}

/// `AcceptInvitationRequest`. The service accepts as the actor, with the identifier of the
/// `x-actor-identifier` header: `as_usr_id` may only repeat the actor, and
/// `accepting_identifier` is refused (ADR 0009: it must come from the authenticated session).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptInvitationRequest {
    #[serde(default)]
    as_usr_id: Option<String>,
    #[serde(default)]
    accepting_identifier: Option<serde_json::Value>,
}

impl AcceptInvitationRequest {
    /// Checks the body against the actor: `forbidden` when `as_usr_id` names someone else.
    pub(crate) fn check(&self, actor: UsrId) -> Result<(), ApiError> {
        if self.accepting_identifier.is_some() {
            return Err(ApiError::invalid_request(
                "accepting_identifier is taken from the x-actor-identifier header, never from \
                 the body",
            ));
        }
        if let Some(text) = &self.as_usr_id {
            let as_usr_id: UsrId = parse_id("as_usr_id", text)?;
            if as_usr_id != actor {
                return Err(TenancyError::Forbidden.into());
            }
        }
        Ok(())
    }
}

/// The query of `GET /orgs/{org_id}/members`: `cursor`, `limit`, `status`, `role`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListMembersQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

impl ListMembersQuery {
    /// The input of `list_members` for `org_id`. The SDK clamps `limit` into `1..=200`.
    pub(crate) fn into_input(self, org_id: OrgId) -> Result<ListMembers, ApiError> {
        let mut input = ListMembers::new(org_id).cursor(self.cursor.map(Cursor::new));
        if let Some(limit) = self.limit {
            let limit = limit
                .parse::<u32>()
                .map_err(|_| ApiError::invalid_request("limit: not a whole number"))?;
            input = input.limit(limit);
        }
        if let Some(status) = self.status {
            input = input.status(status.parse::<MembershipStatus>()?);
        }
        if let Some(role) = self.role {
            input = input.role(role.parse::<Role>()?);
        }
        Ok(input)
    }
}
