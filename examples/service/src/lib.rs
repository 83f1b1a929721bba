//! An example JSON service over the Flametrench tenancy SDK: the OpenAPI's paths for orgs,
//! memberships and invitations, on the in-memory store or on PostgreSQL, in one axum router.
//!
//! It shows what an adopter writes around the SDK: who the actor is, which authorization reads
//! to make before an operation the SDK does not guard, how every error becomes a status and the
//! spec's error envelope, and how a handler runs its own SQL and SDK calls in one transaction.
//!
//! ```no_run
//! use flametrench_example_service::{StartError, router, state_from_env};
//!
//! # async fn run() -> Result<(), StartError> {
//! // PostgreSQL when DATABASE_URL is set, otherwise a new in-memory store.
//! let state = state_from_env().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, router(state)).await?;
//! # Ok(()) }
//! ```
//!
//! # The actor
//!
//! Every request names its actor in the header `x-actor: usr_<32 hex>`. The header stands in
//! for the adopter's authentication (a session cookie, a bearer token): the service trusts it
//! as is, which no real service may do. A missing or malformed header answers 401
//! `unauthorized`. The SDK's calls may only name registered users, so the service registers the
//! actor with `ensure_user` the first time the process sees it; a user who is to be added with
//! `POST /orgs/{org_id}/members` must therefore have made one request first.
//!
//! Accepting an invitation binds it to the identifier the session has verified (ADR 0009): the
//! header `x-actor-identifier` stands in for that verified email address. The identifier is
//! never taken from the body: a body's `accepting_identifier` may only repeat the header's
//! (otherwise 409 `precondition.identifier_mismatch`; without the header the acceptance is
//! unbound, 409 `precondition.identifier_binding_required`), and its `as_usr_id` may only repeat
//! the actor (otherwise 403 `forbidden`). The same header lets the invitee read and decline the
//! invitation.
//!
//! # Endpoints
//!
//! | method and path | body | success | who may call |
//! | --- | --- | --- | --- |
//! | `POST /orgs` | optional `{name, slug}` | 201 `CreateOrgResponse` | anyone (the actor becomes the owner) |
//! | `GET /orgs/{org_id}` | | 200 `Organization` | an active member |
//! | `PUT /orgs/{org_id}` | `UpdateOrgRequest` | 200 `Organization` (`{}` changes nothing) | an owner or admin |
//! | `POST /orgs/{org_id}/members` | `AddMemberRequest` (`invited_by` may only repeat the actor) | 201 `Membership` | an owner or admin; an owner to add an owner |
//! | `GET /orgs/{org_id}/members?cursor&limit&status&role` | | 200 `MembershipPage` | an active member |
//! | `POST /orgs/{org_id}/members/{mem_id}/change-role` | `ChangeRoleRequest` | 200 `Membership` | an owner or admin; an owner to make or change an owner |
//! | `POST /orgs/{org_id}/members/{mem_id}/self-leave` | optional `SelfLeaveRequest` (`transferTo`) | 200 `Membership` | the member |
//! | `POST /orgs/{org_id}/members/{mem_id}/admin-remove` | | 200 `Membership` | an owner or admin (the SDK checks the ranks) |
//! | `POST /orgs/{org_id}/transfer-ownership` | `TransferOwnershipRequest` | 200 `TransferOwnershipResponse` | the owner of `from_mem_id` |
//! | `POST /orgs/{org_id}/invitations` | `CreateInvitationRequest` | 201 `Invitation` | an owner or admin, checked by the SDK |
//! | `GET /invitations/{inv_id}` | | 200 `Invitation` | the invitee, or an owner or admin of the org |
//! | `POST /invitations/{inv_id}/accept` | optional `AcceptInvitationRequest` | 200 `AcceptInvitationResponse` | the invitee |
//! | `POST /invitations/{inv_id}/decline` | | 200 `Invitation` | the invitee, or an owner or admin of the org |
//! | `POST /invitations/{inv_id}/revoke` | | 200 `Invitation` | an owner or admin, checked by the SDK |
//!
//! The gates are the service's own reads: `check_any` over the org's membership tuples for
//! "an active member" and for the invitation's admins, `active_membership` where the actor's
//! role matters. Each gate looks the org up first, so an unknown org is 404 `not_found` for
//! everyone; a refusal is 403 `forbidden`, or `forbidden.role_hierarchy` when an admin tries to
//! grant or change `owner`. Reads keep working on a suspended org (its tuples are kept), and its
//! writes answer whatever the SDK answers, `precondition.org_not_active` for most.
//!
//! Bodies are read as JSON whatever their content type, so `curl -d` needs no header; the
//! optional ones may be left empty.
//!
//! # Errors
//!
//! Every error of the SDK answers with `error.kind().http_status()` and `error.body()`, the
//! spec's envelope `{"code", "message", "details"?}`: 404 `not_found`; 409 for conflicts and for
//! state that forbids the call (`forbidden.sole_owner`, `precondition.org_not_active`, the
//! identifier-binding failures); 403 `forbidden`, `forbidden.role_hierarchy`; 400 for bad input;
//! 503 and 500 for storage (the source is logged to standard error, never sent).
//!
//! The bodies are the SDK's request types ([`flametrench_tenancy_core::request`]), which hand
//! every value the SDK validates to the SDK's own constructor, so it answers with the SDK's
//! code: a malformed id in a path or body is 400 `invalid_id`, a bad slug
//! `precondition.org_slug_format`, an unknown role `precondition.invalid_role`, a timestamp that
//! is not RFC 3339 `precondition.invalid_timestamp`, an unknown status
//! `precondition.invalid_status`, and so on. What the SDK has no error for is 400 with the
//! service's own code `invalid_request`: malformed JSON, a body that is not an object, a missing
//! field or one of the wrong JSON type, an unknown field (the schemas allow none), a `limit`
//! that is not a number. The service's other codes are 401 `unauthorized`, 404
//! `route_not_found` and 405 `method_not_allowed`.
//!
//! # One transaction
//!
//! `POST /orgs` is written once against a unit of work: an audit row, `create_org`, a second
//! audit row, then commit. On PostgreSQL the unit is a transaction from
//! [`PostgresTenancyStore::begin`](flametrench_tenancy_postgres::PostgresTenancyStore::begin):
//! the SDK's calls go through a [`Tenancy`](flametrench_tenancy_core::Tenancy) handle on it (each
//! nested in a savepoint), the service's inserts into its own table `audit_log` through
//! `caller_client()`, and a failure anywhere rolls back all three. On memory there is no
//! transaction and no audit table, and the handler is `create_org` alone.
//!
//! # Stores
//!
//! [`state_from_env`] picks PostgreSQL when `DATABASE_URL` is set (it runs `migrate` and creates
//! `audit_log` at start-up) and a new in-memory store otherwise; [`AppState::in_memory`] and
//! [`AppState::on_postgres`] build either directly. `cargo run -p flametrench-example-service`
//! listens on `127.0.0.1:3000`, or on the port in `PORT`.

mod authz;
mod error;
mod extract;
mod routes;
mod state;
mod wire;

pub use extract::{ACTOR_HEADER, ACTOR_IDENTIFIER_HEADER};
pub use routes::router;
pub use state::{AUDIT_LOG_DDL, AppState, StartError, state_from_env};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
