//! An example JSON service over the Flametrench tenancy SDK: the OpenAPI's paths for orgs,
//! memberships and invitations, on the in-memory store or on PostgreSQL, in one axum router.
//!
//! It shows what an adopter writes around the SDK: who the actor is, handing the actor and the
//! path's org to the SDK so that it decides who may write in the write's own round trip (the
//! service reads no role first), the service's own gate on its reads, how every error becomes a
//! status and the spec's error envelope, and how a handler runs its own SQL and SDK calls in
//! one transaction.
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
//! Every request carries the OpenAPI's bearer authentication, `Authorization: Bearer <token>`,
//! a stand-in for the adopter's identity layer: by default the token is the user's id
//! (`Bearer usr_<32 hex>`), trusted as is, which no real service may do; with a token table
//! ([`AppState::with_tokens`], or `FLAMETRENCH_TOKENS` / `FLAMETRENCH_TOKENS_FILE` for
//! [`state_from_env`]) only its tokens are accepted. A missing, malformed or unknown token
//! answers 401 `unauthorized`. Every path is under `/v1`, as the spec's servers are. The SDK's calls may only name registered users, so the service registers the
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
//! Every path below is under `/v1`.
//!
//! | method and path | body | success | who may call |
//! | --- | --- | --- | --- |
//! | `POST /orgs` | optional `{name, slug}` | 201 `CreateOrgResponse` | anyone (the actor becomes the owner) |
//! | `GET /orgs/{org_id}` | | 200 `Organization` | an active member, the org active or suspended |
//! | `PUT /orgs/{org_id}` | `UpdateOrgRequest` | 200 `Organization` (`{}` changes nothing) | an owner or admin of the active org (SDK) |
//! | `POST /orgs/{org_id}/suspend` | | 200 `Organization` | an owner (SDK) |
//! | `POST /orgs/{org_id}/reinstate` | | 200 `Organization` | an owner (SDK) |
//! | `POST /orgs/{org_id}/revoke` | | 200 `Organization` | an owner (SDK) |
//! | `POST /orgs/{org_id}/members` | `AddMemberRequest` (`invited_by` may only repeat the actor) | 201 `Membership` | an owner or admin of the active org; an owner to add an owner (SDK) |
//! | `GET /orgs/{org_id}/members?cursor&limit&status&role` | | 200 `MembershipPage` | an active member of the active org |
//! | `GET /orgs/{org_id}/members/{mem_id}` | | 200 `Membership` | an active member of the active org |
//! | `POST /orgs/{org_id}/members/{mem_id}/change-role` | `ChangeRoleRequest` | 200 `Membership` | an owner or admin of the active org; an owner to grant `owner` or change an owner's role (SDK) |
//! | `POST /orgs/{org_id}/members/{mem_id}/suspend` | | 200 `Membership` | an owner or admin of the active org; an owner to suspend an owner (SDK) |
//! | `POST /orgs/{org_id}/members/{mem_id}/reinstate` | | 200 `Membership` | as suspend (SDK) |
//! | `POST /orgs/{org_id}/members/{mem_id}/self-leave` | optional `SelfLeaveRequest` (`transferTo`) | 200 `Membership` | the member (the SDK) |
//! | `POST /orgs/{org_id}/members/{mem_id}/admin-remove` | | 200 `Membership` | an owner or admin above the target's rank (SDK) |
//! | `POST /orgs/{org_id}/transfer-ownership` | `TransferOwnershipRequest` | 200 `TransferOwnershipResponse` | an owner of the active org, for any owner's membership (SDK) |
//! | `POST /orgs/{org_id}/invitations` | `CreateInvitationRequest` | 201 `Invitation` | an owner or admin of the active org; an owner to invite an owner (SDK) |
//! | `GET /orgs/{org_id}/invitations?cursor&limit&status` | | 200 `InvitationPage` | an owner or admin of the active org |
//! | `GET /invitations/{inv_id}` | | 200 `Invitation` | the invitee, or an owner or admin of the active org |
//! | `POST /invitations/{inv_id}/accept` | optional `AcceptInvitationRequest` | 200 `AcceptInvitationResponse` | the invitee (SDK, by the identifier binding) |
//! | `POST /invitations/{inv_id}/decline` | | 200 `Invitation` | the invitee, or an owner or admin of the org (SDK) |
//! | `POST /invitations/{inv_id}/revoke` | | 200 `Invitation` | an owner or admin of the org (SDK) |
//! | `GET /orgs` (v0.4) | query `cursor`, `limit`, `query`, `status` | 200 `OrgPage` | the system caller only (ADR 0025: the one cross-tenant read), by its token ([`AppState::with_system_token`], `FLAMETRENCH_SYSTEM_TOKEN`) |
//! | `POST /tuples/check` | `CheckRequest` | 200 `CheckResponse` (`matched_tuple_id` null) | a user about its own tuples, or the system |
//! | `GET /tuples/by-subject` | query `subject_type`, `subject_id`, `cursor`, `limit` | 200 `TuplePage` | a user for its own tuples, or the system |
//! | `GET /tuples/by-object` | query `object_type`, `object_id`, `relation`, `cursor`, `limit` | 200 `TuplePage` | for an org, an owner or admin of the active org; the system for any object |
//! | `POST /tuples`, `DELETE /tuples/{tup_id}` | | 501 `not_implemented` | nobody: tuple writes are not the tenancy SDK's, and serving them raw would let a client forge `(usr, owner, org)` tuples |
//!
//! **Writes: the SDK decides.** "(SDK)" marks a rule the store checks itself: the handler
//! passes the actor (`.by(actor)`, or as the admin of `admin_remove` and `revoke_invitation`
//! and the issuer of `create_invitation`) and, on every path that names a membership
//! (`/orgs/{org_id}/members/{mem_id}…`), the path's org (`in_org`); the store decides both
//! under the org's lock, in the same round trip as the write
//! (`spec/decisions/0016-actor-checks.md`, `0017-org-scoped-calls.md`). The paths
//! `/invitations/{inv_id}…` name no org, so those calls are unscoped: the org the SDK checks
//! the actor in is the invitation's own. The service makes no authorization read before these
//! writes, so no role it read can be stale by the time the write runs: an admin demoted while
//! their request waits for the lock is refused. The answers are the SDK's, in its order: 404
//! `not_found` for an unknown org, membership or invitation, and for a membership of another
//! org exactly as for an unknown id; then the target's state (409 `precondition.mem_not_active`,
//! …); then the org's (409 `precondition.org_not_active` in a suspended org, whose owners may
//! still reinstate or revoke it); then 403 `forbidden` for an actor without the authority,
//! `forbidden.role_hierarchy` for one of too low a rank.
//!
//! `self-leave` is checked the same way: the SDK refuses with 403 unless the membership is the
//! actor's (`SelfLeave::by`).
//!
//! **Reads: the service decides**, in one `org_access` round trip (the org's status and the
//! actor's active membership, read together): an unknown org is 404 `not_found`, an actor
//! without an active membership 403 `forbidden`, and a member of a suspended org 409
//! `precondition.org_not_active` (its members and invitations are frozen with it; the org
//! itself still reads, so they see why). `GET /orgs/{org_id}/members/{mem_id}` reads the
//! membership first, scoped to the org, so that one of another org is 404 in one round trip,
//! as with the SDK's writes; the gate follows. `GET /invitations/{inv_id}` passes the invitee
//! (`x-actor-identifier` is the invitation's) without a gate.
//!
//! Bodies are read as JSON whatever their content type, so `curl -d` needs no header; the
//! optional ones may be left empty.
//!
//! # Errors
//!
//! Responses, extractors and fallbacks come from the SDK's axum integration
//! ([`flametrench_tenancy_axum`]): every error of the SDK answers with
//! `error.kind().http_status()` and `error.body()`, the spec's envelope
//! `{"code", "message", "details"?}`: 404 `not_found`; 409 for conflicts and for state that
//! forbids the call (`forbidden.sole_owner`, `precondition.org_not_active`, the
//! identifier-binding failures); 403 `forbidden`, `forbidden.role_hierarchy`; 400 for bad input
//! (a path id that is not of its type: `invalid_id` naming the field); 503 with `Retry-After`
//! and 500 for storage (the source is logged to standard error, never sent).
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
//! `POST /orgs` is written once, for both stores, as a unit of work run by
//! [`Tenancy::in_unit`](flametrench_tenancy_core::Tenancy::in_unit): an audit row, `create_org`,
//! a second audit row. The SDK's calls go through the [`Unit`](flametrench_tenancy_core::Unit);
//! on PostgreSQL the service's inserts into its own table `audit_log` go through the unit's
//! transaction (`StoreTransaction::client`, their errors classified by
//! [`classify`](flametrench_tenancy_postgres::classify)), and a failure anywhere rolls back all
//! three; a retryable one runs the unit again. On memory there is no audit table, and the unit
//! holds `create_org` alone.
//!
//! # Stores
//!
//! [`state_from_env`] picks PostgreSQL when `DATABASE_URL` is set (it runs `migrate` and creates
//! `audit_log` at start-up) and a new in-memory store otherwise; [`AppState::in_memory`],
//! [`AppState::on_memory`] (over a store of the caller's) and [`AppState::on_postgres`] build
//! either directly. `cargo run -p flametrench-example-service`
//! listens on `127.0.0.1:3000`, or on the port in `PORT`.

mod authz;
mod extract;
mod routes;
mod state;

pub use extract::{ACTOR_HEADER, ACTOR_IDENTIFIER_HEADER};
pub use routes::router;
pub use state::{AUDIT_LOG_DDL, AppState, StartError, state_from_env};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
