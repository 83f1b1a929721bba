//! What the OpenAPI's schemas require of the wire beyond the SDK's own rules, found by the
//! schemathesis run: `updateOrg`'s errors without `details`, and `limit` within its declared
//! range.

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::UsrId;
use serde_json::json;

use crate::support::Service;

#[tokio::test]
async fn update_org_errors_carry_no_details_as_its_error_schema_allows_none() {
    let service = Service::start(AppState::in_memory()).await;
    let alice = UsrId::new();
    let first = service.by(alice).post_empty("/orgs").await.ok(201);
    let second = service.by(alice).post_empty("/orgs").await.ok(201);
    let path = |org: &serde_json::Value| format!("/orgs/{}", org["org"]["id"].as_str().unwrap());
    service
        .by(alice)
        .put(&path(&first), json!({"slug": "acme"}))
        .await
        .ok(200);
    let conflict = service
        .by(alice)
        .put(&path(&second), json!({"slug": "acme"}))
        .await
        .refused(409, "conflict.org_slug");
    assert!(conflict.get("details").is_none(), "{conflict}");
    // A refusal with details elsewhere (v0.1's Error allows them) has none here either.
    let carol = UsrId::new();
    let forbidden = service
        .by(carol)
        .put(&path(&first), json!({"name": "Mine"}))
        .await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    assert!(
        forbidden.body.get("details").is_none(),
        "{}",
        forbidden.body
    );
    let elsewhere = service
        .by(alice)
        .get(&format!("{}/members/mem_x", path(&first)))
        .await
        .refused(400, "invalid_id");
    assert_eq!(elsewhere["details"]["field"], "mem_id");
}

#[tokio::test]
async fn a_limit_outside_the_declared_range_is_refused() {
    let service = Service::start(AppState::in_memory()).await;
    let alice = UsrId::new();
    let org = service.by(alice).post_empty("/orgs").await.ok(201);
    let members = format!("/orgs/{}/members", org["org"]["id"].as_str().unwrap());
    for limit in ["0", "201", "-1", "x"] {
        service
            .by(alice)
            .get(&format!("{members}?limit={limit}"))
            .await
            .refused(400, "invalid_request");
    }
    for limit in ["1", "200"] {
        let page = service
            .by(alice)
            .get(&format!("{members}?limit={limit}"))
            .await
            .ok(200);
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
    }
}
