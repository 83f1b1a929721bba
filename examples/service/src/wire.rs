//! The queries of `GET /orgs/{org_id}/members` and `GET /orgs/{org_id}/invitations` and their
//! conversion into the SDK's inputs.
//!
//! The request bodies are the SDK's own types
//! ([`flametrench_tenancy_core::request`]): each reads the OpenAPI schema's fields as plain
//! strings and hands them to the SDK's constructors, so a bad value answers with the SDK's typed
//! code. The query follows the same rule: `status` and `role` go through the SDK's parsers, and
//! only what the SDK has no error for (an unknown parameter, a `limit` that is not a number) is
//! `invalid_request`.

use flametrench_tenancy_core::ids::OrgId;
use flametrench_tenancy_core::{
    Cursor, InvitationStatus, ListInvitations, ListMembers, MembershipStatus, Role,
};
use serde::Deserialize;

use crate::error::ApiError;

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
        if let Some(limit) = parse_limit(self.limit)? {
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

/// The query of `GET /orgs/{org_id}/invitations`: `cursor`, `limit`, `status`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListInvitationsQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

impl ListInvitationsQuery {
    /// The input of `list_invitations` for `org_id`. The SDK clamps `limit` into `1..=200`.
    pub(crate) fn into_input(self, org_id: OrgId) -> Result<ListInvitations, ApiError> {
        let mut input = ListInvitations::new(org_id).cursor(self.cursor.map(Cursor::new));
        if let Some(limit) = parse_limit(self.limit)? {
            input = input.limit(limit);
        }
        if let Some(status) = self.status {
            input = input.status(status.parse::<InvitationStatus>()?);
        }
        Ok(input)
    }
}

/// A `limit` parameter: a whole number, or `invalid_request` (the SDK has no code for it).
fn parse_limit(limit: Option<String>) -> Result<Option<u32>, ApiError> {
    limit
        .map(|limit| {
            limit
                .parse::<u32>()
                .map_err(|_| ApiError::invalid_request("limit: not a whole number"))
        })
        .transpose()
}
