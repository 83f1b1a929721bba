//! The routes: one handler per operation of the OpenAPI's tenancy paths.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use flametrench_tenancy_core::ids::{InvId, MemId, OrgId};
use flametrench_tenancy_core::request::{
    AcceptInvitationRequest, AddMemberRequest, ChangeRoleRequest, CreateInvitationRequest,
    CreateOrgRequest, SelfLeaveRequest, TransferOwnershipRequest, UpdateOrgRequest,
};
use flametrench_tenancy_core::{
    AcceptInvitationResult, AdminRemove, ChangeRole, CreateOrgResult, DeclineInvitation,
    Invitation, MemberAction, Membership, Op, OrgAction, Organization, Page, RevokeInvitation,
    SelfLeave, TenancyError, TransferOwnershipResult, Tuple,
};
use flametrench_tenancy_core::{EntityType, uuid};

use crate::authz;
use crate::extract::{Actor, ActorIdentifier, Caller};
use crate::state::AppState;
use crate::state::audit;
use flametrench_tenancy_axum::{
    ApiError, CheckRequest, Ids, Json as JsonBody, ListInvitationsQuery, ListMembersQuery,
    ListOrgsQuery, OptionalJson as OptionalJsonBody, Query as QueryParams, TuplesByObjectQuery,
    TuplesBySubjectQuery, method_not_allowed, route_not_found,
};

type Reply<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// The service's router over `state`: the tenancy paths of the OpenAPI under `/v1` (the spec's
/// servers are `https://{host}/v1`; see the crate docs for the list), JSON in and out, every
/// failure answered with the spec's error envelope.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/v1", routes())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/orgs", post(create_org).get(list_orgs))
        .route("/orgs/{org_id}", get(get_org).put(update_org))
        .route("/orgs/{org_id}/suspend", post(suspend_org))
        .route("/orgs/{org_id}/reinstate", post(reinstate_org))
        .route("/orgs/{org_id}/revoke", post(revoke_org))
        .route("/orgs/{org_id}/members", post(add_member).get(list_members))
        .route("/orgs/{org_id}/members/{mem_id}", get(get_member))
        .route(
            "/orgs/{org_id}/members/{mem_id}/change-role",
            post(change_role),
        )
        .route(
            "/orgs/{org_id}/members/{mem_id}/suspend",
            post(suspend_member),
        )
        .route(
            "/orgs/{org_id}/members/{mem_id}/reinstate",
            post(reinstate_member),
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
        .route(
            "/orgs/{org_id}/invitations",
            post(create_invitation).get(list_invitations),
        )
        .route("/invitations/{inv_id}", get(get_invitation))
        .route("/invitations/{inv_id}/accept", post(accept_invitation))
        .route("/invitations/{inv_id}/decline", post(decline_invitation))
        .route("/invitations/{inv_id}/revoke", post(revoke_invitation))
        .route("/tuples", post(tuple_writes_not_served))
        .route("/tuples/{tup_id}", delete(tuple_writes_not_served))
        .route("/tuples/check", post(check))
        .route("/tuples/by-subject", get(tuples_by_subject))
        .route("/tuples/by-object", get(tuples_by_object))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

fn created<T>(value: T) -> Created<T> {
    Ok((StatusCode::CREATED, Json(value)))
}

/// `POST /orgs`, the transactional handler, written once for both stores: one unit of work
/// holds an audit row, the org with its owner membership, and a second audit row, committed
/// together (on memory, which has no audit table, the unit holds `create_org`); a retryable
/// failure anywhere runs the whole unit again (`Tenancy::in_unit`).
async fn create_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    OptionalJsonBody(body): OptionalJsonBody<CreateOrgRequest>,
) -> Created<CreateOrgResult> {
    let input = body.into_input(actor)?;
    let op = Op::CreateOrg;
    let result = state
        .tenancy()
        .in_unit(|unit| {
            let input = input.clone();
            async move {
                audit(&unit, &format!("{op} requested by {actor}"), None).await?;
                let result = unit.create_org(input).await?;
                audit(
                    &unit,
                    &format!("{op} done for {actor}"),
                    Some(result.org.id),
                )
                .await?;
                Ok(result)
            }
        })
        .await?;
    created(result)
}

/// `GET /orgs/{org_id}`: an active member, in an active or a suspended org.
async fn get_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
) -> Reply<Organization> {
    let tenancy = state.tenancy();
    authz::require_org_reader(tenancy, org_id, actor).await?;
    Ok(Json(tenancy.get_org(org_id).await?))
}

/// `PUT /orgs/{org_id}`: an owner or admin of the active org renames it or changes its slug,
/// checked by the SDK. An empty body changes nothing and answers the org as it is (the spec
/// allows that or a 400): a read, gated as the service's other reads of an active org. Its
/// errors carry no `details`: the operation is the v0.2 additions', whose `Error` has none.
async fn update_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
    JsonBody(body): JsonBody<UpdateOrgRequest>,
) -> Reply<Organization> {
    let update = async {
        let unchanged = body.is_empty();
        let input = body.into_input(org_id)?.by(actor);
        let tenancy = state.tenancy();
        if unchanged {
            authz::require_admin_role(authz::reader_role(tenancy, org_id, actor).await?)?;
            return Ok(Json(tenancy.get_org(org_id).await?));
        }
        Ok(Json(tenancy.update_org(input).await?))
    };
    update.await.map_err(ApiError::without_details)
}

/// `POST /orgs/{org_id}/suspend`: an owner, checked by the SDK.
async fn suspend_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
) -> Reply<Organization> {
    let input = OrgAction::new(org_id).by(actor);
    Ok(Json(state.tenancy().suspend_org(input).await?))
}

/// `POST /orgs/{org_id}/reinstate`: an owner, checked by the SDK (the owners of a suspended
/// org keep their authority over its lifecycle).
async fn reinstate_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
) -> Reply<Organization> {
    let input = OrgAction::new(org_id).by(actor);
    Ok(Json(state.tenancy().reinstate_org(input).await?))
}

/// `POST /orgs/{org_id}/revoke`: an owner, checked by the SDK. Terminal.
async fn revoke_org(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
) -> Reply<Organization> {
    let input = OrgAction::new(org_id).by(actor);
    Ok(Json(state.tenancy().revoke_org(input).await?))
}

/// `POST /orgs/{org_id}/members`: an owner or admin, and an owner to add an owner, checked by
/// the SDK, which records the actor as `invited_by`. A body's `invited_by` may repeat the
/// actor, not credit someone else (`forbidden`).
async fn add_member(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
    JsonBody(body): JsonBody<AddMemberRequest>,
) -> Created<Membership> {
    let input = body.into_input(org_id, actor)?.by(actor);
    created(state.tenancy().add_member(input).await?)
}

/// `GET /orgs/{org_id}/members`: an active member of the active org; `cursor`, `limit`,
/// `status`, `role`.
async fn list_members(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
    QueryParams(query): QueryParams<ListMembersQuery>,
) -> Reply<Page<Membership>> {
    let input = query.into_input(org_id)?;
    let tenancy = state.tenancy();
    authz::reader_role(tenancy, org_id, actor).await?;
    Ok(Json(tenancy.list_members(input).await?))
}

/// `GET /orgs/{org_id}/members/{mem_id}`: an active member of the active org. The membership
/// is read first, scoped to the path's org, so one of another org is 404 at the cost of that
/// one read; the gate follows, as the SDK's own checks come after `not_found`.
async fn get_member(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
) -> Reply<Membership> {
    let tenancy = state.tenancy();
    let membership = tenancy.get_membership(mem_id, Some(org_id)).await?;
    authz::reader_role(tenancy, org_id, actor).await?;
    Ok(Json(membership))
}

/// `POST /orgs/{org_id}/members/{mem_id}/change-role`: an owner or admin, and an owner to
/// grant `owner` or change an owner's role, checked by the SDK.
async fn change_role(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
    JsonBody(body): JsonBody<ChangeRoleRequest>,
) -> Reply<Membership> {
    let input = ChangeRole::new(mem_id, body.into_input()?)
        .in_org(org_id)
        .by(actor);
    Ok(Json(state.tenancy().change_role(input).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/suspend`: an owner or admin, and an owner to suspend
/// an owner, checked by the SDK.
async fn suspend_member(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
) -> Reply<Membership> {
    let input = MemberAction::new(mem_id).in_org(org_id).by(actor);
    Ok(Json(state.tenancy().suspend_membership(input).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/reinstate`: as suspending, checked by the SDK.
async fn reinstate_member(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
) -> Reply<Membership> {
    let input = MemberAction::new(mem_id).in_org(org_id).by(actor);
    Ok(Json(state.tenancy().reinstate_membership(input).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/self-leave`: the member alone (the SDK checks that the
/// membership is the actor's, with the write); the sole owner names a successor in
/// `transferTo`.
async fn self_leave(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
    OptionalJsonBody(body): OptionalJsonBody<SelfLeaveRequest>,
) -> Reply<Membership> {
    let input = SelfLeave::new(mem_id)
        .transfer_to(body.into_input()?)
        .in_org(org_id)
        .by(actor);
    Ok(Json(state.tenancy().self_leave(input).await?))
}

/// `POST /orgs/{org_id}/members/{mem_id}/admin-remove`: an owner or admin, above the target's
/// rank, checked by the SDK.
async fn admin_remove(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids((org_id, mem_id)): Ids<(OrgId, MemId)>,
) -> Reply<Membership> {
    let input = AdminRemove::new(mem_id, actor).in_org(org_id);
    Ok(Json(state.tenancy().admin_remove(input).await?))
}

/// `POST /orgs/{org_id}/transfer-ownership`: an owner of the active org, checked by the SDK.
/// Any owner may hand over any owner's ownership (decision 0016), not only their own.
async fn transfer_ownership(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
    JsonBody(body): JsonBody<TransferOwnershipRequest>,
) -> Reply<TransferOwnershipResult> {
    let input = body.into_input(org_id)?.by(actor);
    Ok(Json(state.tenancy().transfer_ownership(input).await?))
}

/// `POST /orgs/{org_id}/invitations`, issued by the actor. The SDK itself requires an owner or
/// admin (only an owner invites an owner), under the org's lock (ADR 0012).
async fn create_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
    JsonBody(body): JsonBody<CreateInvitationRequest>,
) -> Created<Invitation> {
    let input = body.into_input(org_id, actor)?;
    created(state.tenancy().create_invitation(input).await?)
}

/// `GET /orgs/{org_id}/invitations`: an owner or admin of the active org; `cursor`, `limit`,
/// `status`.
async fn list_invitations(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(org_id): Ids<OrgId>,
    QueryParams(query): QueryParams<ListInvitationsQuery>,
) -> Reply<Page<Invitation>> {
    let input = query.into_input(org_id)?;
    let tenancy = state.tenancy();
    authz::require_admin_role(authz::reader_role(tenancy, org_id, actor).await?)?;
    Ok(Json(tenancy.list_invitations(input).await?))
}

/// `GET /invitations/{inv_id}`: the invitee (by `x-actor-identifier`), or an owner or admin of
/// the org while it is active.
async fn get_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    ActorIdentifier(identifier): ActorIdentifier,
    Ids(inv_id): Ids<InvId>,
) -> Reply<Invitation> {
    let tenancy = state.tenancy();
    let invitation = tenancy.get_invitation(inv_id, None).await?;
    authz::may_read_invitation(tenancy, &invitation, actor, identifier.as_ref()).await?;
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
    Ids(inv_id): Ids<InvId>,
    OptionalJsonBody(body): OptionalJsonBody<AcceptInvitationRequest>,
) -> Reply<AcceptInvitationResult> {
    let input = body.into_input(inv_id, actor, identifier)?;
    Ok(Json(state.tenancy().accept_invitation(input).await?))
}

/// `POST /invitations/{inv_id}/decline`: the invitee (by `x-actor-identifier`) or an owner or
/// admin of the org, checked by the SDK, and recorded as `terminal_by`.
async fn decline_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    ActorIdentifier(identifier): ActorIdentifier,
    Ids(inv_id): Ids<InvId>,
) -> Reply<Invitation> {
    let mut input = DeclineInvitation::new(inv_id).by(actor);
    if let Some(identifier) = identifier {
        input = input.bound_to(identifier);
    }
    Ok(Json(state.tenancy().decline_invitation(input).await?))
}

/// `POST /invitations/{inv_id}/revoke`: the SDK requires an owner or admin of the org, under
/// the org's lock (ADR 0012).
async fn revoke_invitation(
    State(state): State<AppState>,
    Actor(actor): Actor,
    Ids(inv_id): Ids<InvId>,
) -> Reply<Invitation> {
    let input = RevokeInvitation::new(inv_id, actor);
    Ok(Json(state.tenancy().revoke_invitation(input).await?))
}

/// `GET /orgs` (v0.4, ADR 0025): the one cross-tenant read, for the system caller only (the
/// configured system token); a user is 403 `forbidden`.
async fn list_orgs(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListOrgsQuery>,
) -> Reply<Page<Organization>> {
    let Caller::System = caller else {
        return Err(TenancyError::Forbidden.into());
    };
    Ok(Json(state.tenancy().list_orgs(query.into_input()?).await?))
}

/// `POST /tuples` and `DELETE /tuples/{tup_id}`: not served. Tuple writes are not the tenancy
/// SDK's, and serving them raw would let a client forge `(usr, owner, org)` tuples. A caller
/// without credentials is answered 401 first, as on every route.
async fn tuple_writes_not_served(_caller: Caller) -> ApiError {
    ApiError::not_implemented("tuple writes are not served by this service")
}

/// Whether `caller` may read the tuples of `subject`: the system, or the user itself.
fn may_read_subject(
    caller: &Caller,
    subject_type: &EntityType,
    subject_id: uuid::Uuid,
) -> Result<(), ApiError> {
    match caller {
        Caller::System => Ok(()),
        Caller::User(usr) if *subject_type == EntityType::usr() && usr.as_uuid() == subject_id => {
            Ok(())
        }
        Caller::User(_) => Err(TenancyError::Forbidden.into()),
    }
}

/// `POST /tuples/check`: the system, or a user about its own tuples.
async fn check(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CheckRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let check = body.into_check()?;
    may_read_subject(&caller, &check.subject_type, check.subject_id)?;
    let allowed = state
        .tenancy()
        .check_any(
            check.subject_type,
            check.subject_id,
            check.relations,
            check.object_type,
            check.object_id,
        )
        .await?;
    Ok(Json(
        serde_json::json!({ "allowed": allowed, "matched_tuple_id": null }),
    ))
}

/// `GET /tuples/by-subject`: the system, or a user listing its own tuples.
async fn tuples_by_subject(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<TuplesBySubjectQuery>,
) -> Reply<Page<Tuple>> {
    let input = query.into_input()?;
    may_read_subject(&caller, &input.subject_type, input.subject_id)?;
    Ok(Json(state.tenancy().list_tuples_by_subject(input).await?))
}

/// `GET /tuples/by-object`: the system; or, for an org, an owner or admin of that active org.
async fn tuples_by_object(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<TuplesByObjectQuery>,
) -> Reply<Page<Tuple>> {
    let input = query.into_input()?;
    if let Caller::User(actor) = caller {
        let org = (input.object_type == EntityType::org())
            .then(|| OrgId::try_from_uuid(input.object_id).ok())
            .flatten()
            .ok_or(TenancyError::Forbidden)?;
        authz::require_admin_role(authz::reader_role(state.tenancy(), org, actor).await?)?;
    }
    Ok(Json(state.tenancy().list_tuples_by_object(input).await?))
}
