//! The integration over HTTP, in-process: statuses, envelopes, `Retry-After`, and the
//! extractors' refusals.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use flametrench_tenancy_axum::{
    ApiError, Ids, Json, ListMembersQuery, OptionalJson, Query, method_not_allowed, route_not_found,
};
use flametrench_tenancy_core::ids::{MemId, OrgId};
use flametrench_tenancy_core::request::CreateOrgRequest;
use flametrench_tenancy_core::{ConflictKind, Entity, RetryScope, TenancyError};
use serde_json::Value;
use tower::ServiceExt;

async fn member(Ids((org, mem)): Ids<(OrgId, MemId)>) -> String {
    format!("{org} {mem}")
}

async fn org(Ids(org): Ids<OrgId>) -> String {
    org.to_string()
}

async fn members(
    Ids(org): Ids<OrgId>,
    Query(query): Query<ListMembersQuery>,
) -> Result<String, ApiError> {
    let input = query.into_input(org)?;
    Ok(format!("{:?}", input.limit))
}

async fn create(OptionalJson(body): OptionalJson<CreateOrgRequest>) -> String {
    format!("{:?}", body.name)
}

async fn strict(Json(body): Json<CreateOrgRequest>) -> String {
    format!("{:?}", body.slug)
}

async fn fails(axum::extract::Path(what): axum::extract::Path<String>) -> Result<String, ApiError> {
    let error = match what.as_str() {
        "missing" => TenancyError::not_found(Entity::Membership),
        "busy" => TenancyError::RetryableConflict {
            kind: ConflictKind::Deadlock,
            scope: RetryScope::Call,
            source: Box::new(std::io::Error::other("deadlock")),
        },
        _ => TenancyError::Forbidden,
    };
    Err(error.into())
}

fn app() -> Router {
    Router::new()
        .route("/orgs/{org_id}", get(org))
        .route("/orgs/{org_id}/members", get(members))
        .route("/orgs/{org_id}/members/{mem_id}", get(member))
        .route("/orgs", post(create))
        .route("/strict", post(strict))
        .route("/fails/{what}", get(fails))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn send(method: &str, uri: &str, body: &str) -> (StatusCode, Option<String>, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = app().oneshot(request).await.expect("response");
    let status = response.status();
    let retry = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, retry, String::from_utf8_lossy(&bytes).into_owned())
}

fn envelope(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("{body}: {error}"))
}

const ORG: &str = "org_0190f2a81b3c7abc8123456789abcdef";
const MEM: &str = "mem_0190f2a81b3c7abc8123456789abcdef";

#[tokio::test]
async fn typed_path_ids_are_read_by_their_names_and_refused_in_the_envelope() {
    let (status, _, body) = send("GET", &format!("/orgs/{ORG}/members/{MEM}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{ORG} {MEM}"));
    // Another type's id, and garbage: invalid_id naming the field.
    for (uri, field) in [
        (format!("/orgs/{ORG}/members/{ORG}"), "mem_id"),
        (format!("/orgs/{MEM}"), "org_id"),
        ("/orgs/not-an-id".to_owned(), "org_id"),
    ] {
        let (status, _, body) = send("GET", &uri, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let body = envelope(&body);
        assert_eq!(body["code"], "invalid_id", "{uri}");
        assert_eq!(body["details"]["field"], field, "{uri}");
    }
}

#[tokio::test]
async fn queries_and_bodies_are_refused_in_the_envelope() {
    let (status, _, body) = send("GET", &format!("/orgs/{ORG}/members?limit=5"), "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Some(5)"));
    for query in ["bogus=1", "limit=many"] {
        let (status, _, body) = send("GET", &format!("/orgs/{ORG}/members?{query}"), "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(envelope(&body)["code"], "invalid_request", "{query}");
    }
    // The SDK's own code for a value it validates.
    let (status, _, body) = send("GET", &format!("/orgs/{ORG}/members?role=king"), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(envelope(&body)["code"], "precondition.invalid_role");
    // An optional body may be left out; a given one must be valid, and known fields only.
    let (status, _, body) = send("POST", "/orgs", "  ").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "None"));
    let (status, _, body) = send("POST", "/orgs", r#"{"name": "Acme"}"#).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Some(\"Acme\")"));
    for bad in ["{", r#"{"title": "Acme"}"#, "[]"] {
        let (status, _, body) = send("POST", "/orgs", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(envelope(&body)["code"], "invalid_request", "{bad}");
    }
    let (status, _, body) = send("POST", "/strict", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(envelope(&body)["code"], "invalid_request");
}

#[tokio::test]
async fn sdk_errors_answer_with_their_status_envelope_and_retry_after() {
    let mut seen = Vec::new();
    for what in ["missing", "busy", "refused"] {
        let (status, retry, body) = send("GET", &format!("/fails/{what}"), "").await;
        let code = envelope(&body)["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push((status, retry, code));
    }
    seen.sort_by_key(|(status, _, _)| status.as_u16());
    assert_eq!(
        seen,
        vec![
            (StatusCode::FORBIDDEN, None, "forbidden".to_owned()),
            (StatusCode::NOT_FOUND, None, "not_found".to_owned()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("1".to_owned()),
                "storage.retryable_conflict".to_owned()
            ),
        ]
    );
    // The fallbacks.
    let (status, _, body) = send("GET", "/nowhere", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(envelope(&body)["code"], "route_not_found");
    let (status, _, body) = send("DELETE", "/orgs", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(envelope(&body)["code"], "method_not_allowed");
}
