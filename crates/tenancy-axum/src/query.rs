//! The list queries of the OpenAPI's paged routes and the tuple check's body, refusing unknown
//! parameters and fields, and their conversion into the SDK's inputs.
//!
//! `status` and `role` go through the SDK's parsers, so a bad value answers with the SDK's typed
//! code; only what the SDK has no error for (an unknown parameter, a `limit` that is not a
//! number) is [`INVALID_REQUEST`](crate::INVALID_REQUEST).

use flametrench_tenancy_core::ids::OrgId;
use flametrench_tenancy_core::{
    Cursor, EntityType, InvitationStatus, ListInvitations, ListMembers, ListOrgs,
    ListTuplesByObject, ListTuplesBySubject, MembershipStatus, OrgQuery, OrgStatus, Relation, Role,
    parse_object_id,
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
    /// The page size (`1..=200`, as the OpenAPI declares it).
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
    /// `invalid_request` for a `limit` that is not a whole number in `1..=200`; the SDK's code for a bad
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
    /// The page size (`1..=200`, as the OpenAPI declares it).
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
    /// `invalid_request` for a `limit` that is not a whole number in `1..=200`; the SDK's code for a bad
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

/// The `limit` range the OpenAPI's `Limit` parameter declares (`minimum: 1`, `maximum: 200`).
/// The SDK's inputs clamp a limit into the same range; on the wire a value outside it is
/// refused, as the schema says.
pub const LIMIT_RANGE: std::ops::RangeInclusive<u32> = 1..=200;

/// A `limit` parameter: a whole number in [`LIMIT_RANGE`], or `invalid_request`.
///
/// # Errors
///
/// `invalid_request` for a value that is not a whole number, or is outside [`LIMIT_RANGE`].
///
/// ```
/// use flametrench_tenancy_axum::parse_limit;
///
/// assert_eq!(parse_limit(Some("200".into())).unwrap(), Some(200));
/// assert!(parse_limit(Some("201".into())).is_err());
/// assert!(parse_limit(Some("0".into())).is_err());
/// assert_eq!(parse_limit(None).unwrap(), None);
/// ```
pub fn parse_limit(limit: Option<String>) -> Result<Option<u32>, ApiError> {
    limit
        .map(|limit| match limit.parse::<u32>() {
            Ok(limit) if LIMIT_RANGE.contains(&limit) => Ok(limit),
            Ok(_) => Err(ApiError::invalid_request("limit: not within 1 to 200")),
            Err(_) => Err(ApiError::invalid_request("limit: not a whole number")),
        })
        .transpose()
}

/// The query of `GET /orgs` (v0.4): `cursor`, `limit`, `query`, `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ListOrgsQuery {
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The page size (`1..=200`, as the OpenAPI declares it).
    #[serde(default)]
    pub limit: Option<String>,
    /// A substring of the org's name or slug.
    #[serde(default)]
    pub query: Option<String>,
    /// An org status filter.
    #[serde(default)]
    pub status: Option<String>,
}

impl ListOrgsQuery {
    /// The input of `list_orgs`.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a `limit` that is not a whole number in `1..=200`; the SDK's code for a bad
    /// `query` or `status`.
    pub fn into_input(self) -> Result<ListOrgs, ApiError> {
        let mut input = ListOrgs::new().cursor(self.cursor.map(Cursor::new));
        if let Some(limit) = parse_limit(self.limit)? {
            input = input.limit(limit);
        }
        if let Some(query) = self.query {
            input = input.query(OrgQuery::new(query)?);
        }
        if let Some(status) = self.status {
            input = input.status(status.parse::<OrgStatus>()?);
        }
        Ok(input)
    }
}

/// The query of `GET /tuples/by-subject`: `subject_type`, `subject_id`, `cursor`, `limit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TuplesBySubjectQuery {
    /// The subject's type (`usr`).
    pub subject_type: String,
    /// The subject's id (a bare UUID or a prefixed id).
    pub subject_id: String,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The page size (`1..=200`, as the OpenAPI declares it).
    #[serde(default)]
    pub limit: Option<String>,
}

impl TuplesBySubjectQuery {
    /// The input of `list_tuples_by_subject`.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a `limit` that is not a whole number in `1..=200`; the SDK's code for a bad
    /// subject type or id.
    pub fn into_input(self) -> Result<ListTuplesBySubject, ApiError> {
        let subject_type = self.subject_type.parse::<EntityType>()?;
        let subject_id = parse_object_id(&self.subject_id)?;
        let mut input =
            ListTuplesBySubject::new(subject_type, subject_id).cursor(self.cursor.map(Cursor::new));
        if let Some(limit) = parse_limit(self.limit)? {
            input = input.limit(limit);
        }
        Ok(input)
    }
}

/// The query of `GET /tuples/by-object`: `object_type`, `object_id`, `relation`, `cursor`,
/// `limit`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TuplesByObjectQuery {
    /// The object's type (`org`, `proj`, …).
    pub object_type: String,
    /// The object's id (a bare UUID or a prefixed id).
    pub object_id: String,
    /// Only this relation.
    #[serde(default)]
    pub relation: Option<String>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The page size (`1..=200`, as the OpenAPI declares it).
    #[serde(default)]
    pub limit: Option<String>,
}

impl TuplesByObjectQuery {
    /// The input of `list_tuples_by_object`.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a `limit` that is not a whole number in `1..=200`; the SDK's code for a bad
    /// object type, id or relation.
    pub fn into_input(self) -> Result<ListTuplesByObject, ApiError> {
        let object_type = self.object_type.parse::<EntityType>()?;
        let object_id = parse_object_id(&self.object_id)?;
        let mut input =
            ListTuplesByObject::new(object_type, object_id).cursor(self.cursor.map(Cursor::new));
        if let Some(relation) = self.relation {
            input = input.relation(relation.parse::<Relation>()?);
        }
        if let Some(limit) = parse_limit(self.limit)? {
            input = input.limit(limit);
        }
        Ok(input)
    }
}

/// The body of `POST /tuples/check` (`CheckRequest`): a subject, EITHER one `relation` OR a
/// non-empty `relations` array, and an object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckRequest {
    /// The subject's type (`usr`).
    pub subject_type: String,
    /// The subject's id.
    pub subject_id: String,
    /// One relation.
    #[serde(default)]
    pub relation: Option<String>,
    /// Several relations, any of which satisfies the check.
    #[serde(default)]
    pub relations: Option<Vec<String>>,
    /// The object's type.
    pub object_type: String,
    /// The object's id.
    pub object_id: String,
}

/// A [`CheckRequest`] validated: the arguments of `check_any`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// The subject's type.
    pub subject_type: EntityType,
    /// The subject's id.
    pub subject_id: flametrench_tenancy_core::uuid::Uuid,
    /// The relations, any of which satisfies the check.
    pub relations: Vec<Relation>,
    /// The object's type.
    pub object_type: EntityType,
    /// The object's id.
    pub object_id: flametrench_tenancy_core::uuid::Uuid,
}

impl CheckRequest {
    /// The validated check.
    ///
    /// # Errors
    ///
    /// `invalid_request` unless exactly one of `relation` and `relations` is given; the SDK's
    /// code for a bad type, id or relation.
    pub fn into_check(self) -> Result<Check, ApiError> {
        let relations = match (self.relation, self.relations) {
            (Some(relation), None) => vec![relation],
            (None, Some(relations)) => relations,
            _ => {
                return Err(ApiError::invalid_request(
                    "give exactly one of relation and relations",
                ));
            }
        };
        Ok(Check {
            subject_type: self.subject_type.parse()?,
            subject_id: parse_object_id(&self.subject_id)?,
            relations: relations
                .into_iter()
                .map(|relation| relation.parse::<Relation>())
                .collect::<Result<_, _>>()?,
            object_type: self.object_type.parse()?,
            object_id: parse_object_id(&self.object_id)?,
        })
    }
}
