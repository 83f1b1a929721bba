//! axum integration for the Flametrench tenancy SDK: what every axum service on the SDK would
//! otherwise write again.
//!
//! - [`ApiError`]: the SDK's errors (and the few a service adds: a malformed body, a missing
//!   credential, an unknown route) as responses, with the status of their
//!   [`ErrorKind`](flametrench_tenancy_core::ErrorKind), the spec's error envelope as the body,
//!   and `Retry-After` on a retryable one.
//! - Extractors that refuse in that envelope rather than axum's plain text: [`Json`] and
//!   [`OptionalJson`] bodies, [`Query`] strings (unknown parameters refused, with the list
//!   queries [`ListMembersQuery`] and [`ListInvitationsQuery`]), and [`Ids`], the typed ids of
//!   a path (`/orgs/{org_id}/members/{mem_id}` as `Ids<(OrgId, MemId)>`), a malformed or
//!   foreign id answering `invalid_id` naming the field.
//!
//! What stays the application's own: who the actor is (its authentication), its routes and its
//! tables.
//!
//! ```
//! use axum::Router;
//! use axum::routing::post;
//! use flametrench_tenancy_axum::{ApiError, Ids, OptionalJson};
//! use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
//! use flametrench_tenancy_core::request::ChangeRoleRequest;
//! use flametrench_tenancy_core::{ChangeRole, Membership, Tenancy};
//!
//! async fn change_role(
//!     axum::extract::State(tenancy): axum::extract::State<Tenancy<'static>>,
//!     Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
//!     OptionalJson(body): OptionalJson<Option<ChangeRoleRequest>>,
//! ) -> Result<axum::Json<Membership>, ApiError> {
//!     let actor = UsrId::new(); // from your authentication
//!     let body = body.ok_or_else(|| ApiError::invalid_request("a body is required"))?;
//!     let input = ChangeRole::new(mem_id, body.into_input()?).in_org(org_id).by(actor);
//!     Ok(axum::Json(tenancy.change_role(input).await?))
//! }
//!
//! let tenancy: Tenancy<'static> = flametrench_tenancy_memory::InMemoryTenancyStore::new().into();
//! let app: Router = Router::new()
//!     .route("/v1/orgs/{org_id}/members/{mem_id}/role", post(change_role))
//!     .fallback(flametrench_tenancy_axum::route_not_found)
//!     .with_state(tenancy);
//! ```

mod error;
mod extract;
mod query;

pub use error::{
    ApiError, INVALID_REQUEST, METHOD_NOT_ALLOWED, NOT_IMPLEMENTED, RETRY_AFTER_SECONDS,
    ROUTE_NOT_FOUND, UNAUTHORIZED, method_not_allowed, route_not_found,
};
pub use extract::{Ids, Json, OptionalJson, PathIds, Query};
pub use query::{
    Check, CheckRequest, LIMIT_RANGE, ListInvitationsQuery, ListMembersQuery, ListOrgsQuery,
    TuplesByObjectQuery, TuplesBySubjectQuery, parse_limit,
};
