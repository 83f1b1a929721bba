//! The routes: one handler per operation of the OpenAPI's tenancy paths.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use flametrench_tenancy_core::ids::{InvId, MemId, OrgId};
use flametrench_tenancy_core::request::{
    AcceptInvitationRequest, AddMemberRequest, ChangeRoleRequest, CreateInvitationRequest,
    CreateOrgRequest, SelfLeaveRequest, TransferOwnershipRequest, UpdateOrgRequest, parse_id,
};
use flametrench_tenancy_core::{
    AcceptInvitationResult, CreateOrgResult, Invitation, Membership, Op, Organization, Page,
    TenancyError, TransferOwnershipResult,
};

use crate::authz;
use crate::error::{self, ApiError};
use crate::extract::{Actor, ActorIdentifier, JsonBody, OptionalJsonBody, QueryParams};
use crate::state::AppState;
use crate::wire::ListMembersQuery;
use flametrench_tenancy_core::{AdminRemove, ChangeRole, DeclineInvitation, RevokeInvitation, SelfLeave};

type Reply<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// The service's router over `state`: the tenancy paths of the OpenAPI (see the crate docs for
/// the list), JSON in and out, every failure answered with the spec's error envelope.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/orgs", post(create_org))
        .route("/orgs/{org_id}", get(get_org).put(update_org))
        .route("/orgs/{org_id}/members", post(add_member).get(list_members))
        .route(
            "/orgs/{org_id}/members/{mem_id}/change-role",
            post(change_role),
        )
        .route(
            "/orgs/{org_id}/members/{mem_id}/self-leave",
            post(self_leave),
        )
        .route(
            "/orgs/{org_id}/members/{mem_id}/admin-remove",
            post(admin_remove),
        )
        .route(
            "/orgs/{org_id}/transfer-ownership",
            post(transfer_ownership),
        )
        .route("/orgs/{org_id}/invitations", post(create_invitation))
        .route("/invitations/{inv_id}", get(get_invitation))
        .route("/invitations/{inv_id}/accept", post(accept_invitation))
        .route("/invitations/{inv_id}/decline", post(decline_invitation))
        .route("/invitations/{inv_id}/revoke", post(revoke_invitation))
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

fn created<T>(value: T) -> Created<T> {
    Ok((StatusCode::CREATED, Json(value)))
}

fn org_path(org_id: &str) -> Result<OrgId, TenancyError> {
    parse_id("org_id", org_id)
}

fn member_path((org_id, mem_id): &(String, String)) -> Result<(OrgId, MemId), TenancyError> {
    Ok((org_path(org_id)?, parse_id("mem_id", mem_id)?))
}

fn invitation_path(inv_id: &str) -> Result<InvId, TenancyError> {
    parse_id("inv_id", inv_id)
}

/// `POST /orgs`, the transactional handler: on PostgreSQL one transaction holds an audit row,
/// the org with its owner membership, and a second audit row, committed together; on memory it
/// is `create_org` alone.
async fn create_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    OptionalJsonBody(body): OptionalJsonBody<CreateOrgRequest>,
) -> Created<CreateOrgResult> {
    let input = body.into_input(actor)?;
    let op = Op::CreateOrg;
    let work = state.begin().await?;
    work.audit(&format!("{op} requested by {actor}"), None)
        .await?;
    let result = work.tenancy().create_org(input).await?;
    work.audit(&format!("{op} done for {actor}"), Some(result.org.id))
        .await?;
    work.commit().await?;
    created(result)
}

/// `GET /orgs/{org_id}`: any active member.
async fn get_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(org_id): Path<String>,
) -> Reply<Organization> {
    let org_id = org_path(&org_id)?;
    let org = authz::require_member(state.tenancy(), org_id, actor).await?;
    Ok(Json(org))
}

/// `PUT /orgs/{org_id}`: an owner or admin renames the org or changes its slug. An empty body
/// changes nothing and answers the org as it is (the spec allows that or a 400).
async fn update_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<UpdateOrgRequest>,
) -> Reply<Organization> {
    let org_id = org_path(&org_id)?;
    let unchanged = body.is_empty();
    let input = body.into_input(org_id)?;
    let tenancy = state.tenancy();
    authz::require_admin(tenancy, org_id, actor).await?;
    if unchanged {
        return Ok(Json(tenancy.get_org(org_id).await?));
    }
    Ok(Json(tenancy.update_org(input).await?))
}

/// `POST /orgs/{org_id}/members`: an owner or admin; only an owner adds an owner. The addition
/// is recorded as the actor's: a body's `invited_by` may repeat the actor, not credit someone
/// else (`forbidden`).
async fn add_member(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<AddMemberRequest>,
) -> Created<Membership> {
    let org_id = org_path(&org_id)?;
    let input = body.into_input(org_id, actor)?;
    let tenancy = state.tenancy();
    let admin = authz::require_admin(tenancy, org_id, actor).await?;
    authz::check_grant(&admin, input.role)?;
    created(tenancy.add_member(input).await?)
}

/// `GET /orgs/{org_id}/members`: any active member; `cursor`, `limit`, `status`, `role`.
async fn list_members(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(org_id): Path<String>,
    QueryParams(query): QueryParams<ListMembersQuery>,
) -> Reply<Page<Membership>> {
    let org_id = org_path(&org_id)?;
    let input = query.into_input(org_id)?;
    let tenancy = state.tenancy();
    authz::require_member(tenancy, org_id, actor).await?;
    Ok(Json(tenancy.list_members(input).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/change-role`: an owner or admin; only an owner makes
/// an owner or changes an owner's role.
async fn change_role(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(path): Path<(String, String)>,
    JsonBody(body): JsonBody<ChangeRoleRequest>,
) -> Reply<Membership> {
    let (org_id, mem_id) = member_path(&path)?;
    let new_role = body.into_input()?;
    let tenancy = state.tenancy();
    let admin = authz::require_admin(tenancy, org_id, actor).await?;
    let target = authz::membership_in(tenancy, org_id, mem_id).await?;
    authz::check_grant(&admin, new_role)?;
    authz::check_grant(&admin, target.role)?;
    Ok(Json(tenancy.change_role(ChangeRole::new(mem_id, new_role)).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/self-leave`: the member alone; the sole owner names a
/// successor in `transferTo`.
async fn self_leave(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(path): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<SelfLeaveRequest>,
) -> Reply<Membership> {
    let (org_id, mem_id) = member_path(&path)?;
    let transfer_to = body.into_input()?;
    let tenancy = state.tenancy();
    let membership = authz::membership_in(tenancy, org_id, mem_id).await?;
    if membership.usr_id != actor {
        return Err(TenancyError::Forbidden.into());
    }
    Ok(Json(tenancy.self_leave(SelfLeave::new(mem_id).transfer_to(transfer_to)).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/admin-remove`: an owner or admin; the SDK then checks
/// the role hierarchy.
async fn admin_remove(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(path): Path<(String, String)>,
) -> Reply<Membership> {
    let (org_id, mem_id) = member_path(&path)?;
    let tenancy = state.tenancy();
    authz::require_admin(tenancy, org_id, actor).await?;
    authz::membership_in(tenancy, org_id, mem_id).await?;
    Ok(Json(tenancy.admin_remove(AdminRemove::new(mem_id, actor)).await?))
}

/// `POST /orgs/{org_id}/transfer-ownership`: an owner hands over their own ownership, so
/// `from_mem_id` must be the actor's owner membership.
async fn transfer_ownership(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<TransferOwnershipRequest>,
) -> Reply<TransferOwnershipResult> {
    let org_id = org_path(&org_id)?;
    let input = body.into_input(org_id)?;
    let tenancy = state.tenancy();
    let owner = authz::require_owner(tenancy, org_id, actor).await?;
    if owner.id != input.from_mem_id {
        return Err(TenancyError::Forbidden.into());
    }
    Ok(Json(tenancy.transfer_ownership(input).await?))
}

/// `POST /orgs/{org_id}/invitations`, issued by the actor. The SDK itself requires an owner or
/// admin (only an owner invites an owner), under the org's lock (ADR 0012), so the service
/// does not ask first.
async fn create_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(org_id): Path<String>,
    JsonBody(body): JsonBody<CreateInvitationRequest>,
) -> Created<Invitation> {
    let org_id = org_path(&org_id)?;
    let input = body.into_input(org_id, actor)?;
    created(state.tenancy().create_invitation(input).await?)
}

/// `GET /invitations/{inv_id}`: the invitee (by `x-actor-identifier`) or an owner or admin of
/// the org.
async fn get_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    ActorIdentifier(identifier): ActorIdentifier,
    Path(inv_id): Path<String>,
) -> Reply<Invitation> {
    let inv_id = invitation_path(&inv_id)?;
    let tenancy = state.tenancy();
    let invitation = tenancy.get_invitation(inv_id, None).await?;
    authz::may_handle_invitation(tenancy, &invitation, actor, identifier.as_ref()).await?;
    Ok(Json(invitation))
}

/// `POST /invitations/{inv_id}/accept`, as the actor, bound by the `x-actor-identifier` header
/// (never by the body: ADR 0009). Without the header the SDK answers
/// `precondition.identifier_binding_required`; with another identifier,
/// `precondition.identifier_mismatch`. A body may repeat the actor (`as_usr_id`, else
/// `forbidden`) and the header's identifier (`accepting_identifier`, else
/// `precondition.identifier_mismatch`), never replace them.
async fn accept_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    ActorIdentifier(identifier): ActorIdentifier,
    Path(inv_id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<AcceptInvitationRequest>,
) -> Reply<AcceptInvitationResult> {
    let inv_id = invitation_path(&inv_id)?;
    let input = body.into_input(inv_id, actor, identifier)?;
    Ok(Json(state.tenancy().accept_invitation(input).await?))
}

/// `POST /invitations/{inv_id}/decline`: the invitee (by `x-actor-identifier`) or an owner or
/// admin of the org, recorded as `terminal_by`.
async fn decline_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    ActorIdentifier(identifier): ActorIdentifier,
    Path(inv_id): Path<String>,
) -> Reply<Invitation> {
    let inv_id = invitation_path(&inv_id)?;
    let tenancy = state.tenancy();
    let invitation = tenancy.get_invitation(inv_id, None).await?;
    authz::may_handle_invitation(tenancy, &invitation, actor, identifier.as_ref()).await?;
    Ok(Json(tenancy.decline_invitation(DeclineInvitation::new(inv_id).as_user(actor)).await?))
}

/// `POST /invitations/{inv_id}/revoke`: the SDK requires an owner or admin of the org, under
/// the org's lock (ADR 0012).
async fn revoke_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Path(inv_id): Path<String>,
) -> Reply<Invitation> {
    let inv_id = invitation_path(&inv_id)?;
    Ok(Json(
        state.tenancy().revoke_invitation(RevokeInvitation::new(inv_id, actor)).await?,
    ))
}
