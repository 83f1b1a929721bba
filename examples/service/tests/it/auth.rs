//! The stand-in for authentication: a bearer token, by default the user's id, or a token of a
//! table the service was given; the tenancy paths are served under `/v1` only.

use std::collections::HashMap;

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::UsrId;

use crate::support::Service;

#[tokio::test]
async fn a_bearer_token_names_the_actor_and_anything_else_is_unauthorized() {
    let service = Service::start(AppState::in_memory()).await;
    let alice = UsrId::new();
    let org = service.by(alice).post_empty("/orgs").await.ok(201);
    assert_eq!(org["owner_membership"]["usr_id"], alice.to_string());
    for raw in [
        None,
        Some("not-a-user"),
        Some("org_0190f2a81b3c7abc8123456789abcdef"),
    ] {
        service
            .anonymous(raw)
            .post_empty("/orgs")
            .await
            .refused(401, "unauthorized");
    }
}

#[tokio::test]
async fn with_a_token_table_only_its_tokens_are_accepted() {
    let alice = UsrId::new();
    let tokens = HashMap::from([("s3cret".to_owned(), alice)]);
    let service = Service::start(AppState::in_memory().with_tokens(tokens)).await;
    let org = service
        .anonymous(Some("s3cret"))
        .post_empty("/orgs")
        .await
        .ok(201);
    assert_eq!(org["owner_membership"]["usr_id"], alice.to_string());
    // A user's id is no token once a table is given.
    service
        .by(alice)
        .post_empty("/orgs")
        .await
        .refused(401, "unauthorized");
}

#[tokio::test]
async fn the_tenancy_paths_are_served_under_v1_only() {
    let service = Service::start(AppState::in_memory()).await;
    let alice = UsrId::new();
    service
        .by(alice)
        .post_empty("/../orgs")
        .await
        .refused(404, "route_not_found");
}
