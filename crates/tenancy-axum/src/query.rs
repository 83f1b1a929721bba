//! The list queries of the OpenAPI's paged routes, refusing unknown parameters, and their
//! conversion into the SDK's inputs.
//!
//! `status` and `role` go through the SDK's parsers, so a bad value answers with the SDK's typed
//! code; only what the SDK has no error for (an unknown parameter, a `limit` that is not a
//! number) is [`INVALID_REQUEST`](crate::INVALID_REQUEST).

use flametrench_tenancy_core::ids::OrgId;
use flametrench_tenancy_core::{
    Cursor, InvitationStatus, ListInvitations, ListMembers, MembershipStatus, Role,
};
use serde::Deserialize;

use crate::error::ApiError;

/// The query of `GET /orgs/{org_id}/members`: `cursor`, `limit`, `status`, `role`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListMembersQuery {
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The page size (clamped by the SDK into `1..=200`).
    #[serde(default)]
    pub limit: Option<String>,
    /// A membership status filter.
    #[serde(default)]
    pub status: Option<String>,
    /// A role filter.
    #[serde(default)]
    pub role: Option<String>,
}

impl ListMembersQuery {
    /// The input of `list_members` for `org_id`.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a `limit` that is not a whole number; the SDK's code for a bad
    /// `status` or `role`.
    pub fn into_input(self, org_id: OrgId) -> Result<ListMembers, ApiError> {
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListInvitationsQuery {
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The page size (clamped by the SDK into `1..=200`).
    #[serde(default)]
    pub limit: Option<String>,
    /// An invitation status filter.
    #[serde(default)]
    pub status: Option<String>,
}

impl ListInvitationsQuery {
    /// The input of `list_invitations` for `org_id`.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a `limit` that is not a whole number; the SDK's code for a bad
    /// `status`.
    pub fn into_input(self, org_id: OrgId) -> Result<ListInvitations, ApiError> {
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

/// A `limit` parameter: a whole number (the SDK clamps it), or `invalid_request`.
///
/// # Errors
///
/// `invalid_request` for a value that is not a whole number that fits in a `u32`.
pub fn parse_limit(limit: Option<String>) -> Result<Option<u32>, ApiError> {
    limit
        .map(|limit| {
            limit
                .parse::<u32>()
                .map_err(|_| ApiError::invalid_request("limit: not a whole number"))
        })
        .transpose()
}
