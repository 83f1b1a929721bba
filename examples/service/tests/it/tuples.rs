//! `GET /orgs` for the system caller only, the tuple reads (a user's own, an org's for its
//! owners and admins, any for the system), and the tuple writes not served.

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::UsrId;
use serde_json::json;

use crate::support::Service;

const SYSTEM: &str = "system-s3cret";

#[tokio::test]
async fn list_orgs_is_for_the_system_caller_only() {
    let service = Service::start(AppState::in_memory().with_system_token(SYSTEM)).await;
    let alice = UsrId::new();
    let org = service.by(alice).post_empty("/orgs").await.ok(201);
    service
        .by(alice)
        .get("/orgs")
        .await
        .refused(403, "forbidden");
    let page = service
        .anonymous(Some(SYSTEM))
        .get("/orgs?limit=10")
        .await
        .ok(200);
    assert_eq!(page["data"][0]["id"], org["org"]["id"]);
    assert_eq!(page["page"]["next_cursor"], serde_json::Value::Null);
    service
        .anonymous(Some(SYSTEM))
        .get("/orgs?bogus=1")
        .await
        .refused(400, "invalid_request");
    // Without a configured system token, that token is no credential at all.
    let plain = Service::start(AppState::in_memory()).await;
    plain
        .anonymous(Some(SYSTEM))
        .get("/orgs")
        .await
        .refused(401, "unauthorized");
}

#[tokio::test]
async fn tuple_reads_are_a_users_own_an_orgs_admins_or_the_systems() {
    let service = Service::start(AppState::in_memory().with_system_token(SYSTEM)).await;
    let (alice, bob) = (UsrId::new(), UsrId::new());
    service
        .by(bob)
        .get("/orgs/org_0190f2a81b3c7abc8123456789abcdef")
        .await;
    let created = service.by(alice).post_empty("/orgs").await.ok(201);
    let org = created["org"]["id"].as_str().unwrap().to_owned();
    service
        .by(alice)
        .post(
            &format!("/orgs/{org}/members"),
            json!({"usr_id": bob.to_string(), "role": "member"}),
        )
        .await
        .ok(201);
    let own = |usr: UsrId| {
        json!({"subject_type": "usr", "subject_id": usr.to_string(), "relation": "owner",
               "object_type": "org", "object_id": org})
    };
    // Check: a user about itself, or the system about anyone.
    let answer = service
        .by(alice)
        .post("/tuples/check", own(alice))
        .await
        .ok(200);
    assert_eq!(answer["allowed"], true);
    let answer = service
        .by(bob)
        .post("/tuples/check", own(bob))
        .await
        .ok(200);
    assert_eq!(answer["allowed"], false);
    service
        .by(bob)
        .post("/tuples/check", own(alice))
        .await
        .refused(403, "forbidden");
    let answer = service
        .anonymous(Some(SYSTEM))
        .post("/tuples/check", own(alice))
        .await
        .ok(200);
    assert_eq!(answer["allowed"], true);
    let mut both = own(alice);
    both["relations"] = json!(["owner"]);
    service
        .by(alice)
        .post("/tuples/check", both)
        .await
        .refused(400, "invalid_request");
    // By subject: a user's own tuples.
    let page = service
        .by(bob)
        .get(&format!(
            "/tuples/by-subject?subject_type=usr&subject_id={bob}"
        ))
        .await
        .ok(200);
    assert_eq!(page["data"][0]["relation"], "member");
    service
        .by(bob)
        .get(&format!(
            "/tuples/by-subject?subject_type=usr&subject_id={alice}"
        ))
        .await
        .refused(403, "forbidden");
    // By object: an org's owners and admins, or the system.
    let by_org = format!("/tuples/by-object?object_type=org&object_id={org}");
    let page = service.by(alice).get(&by_org).await.ok(200);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    service.by(bob).get(&by_org).await.refused(403, "forbidden");
    service.anonymous(Some(SYSTEM)).get(&by_org).await.ok(200);
    service
        .by(alice)
        .get("/tuples/by-object?object_type=proj&object_id=0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")
        .await
        .refused(403, "forbidden");
}

#[tokio::test]
async fn tuple_writes_are_not_served() {
    let service = Service::start(AppState::in_memory()).await;
    let alice = UsrId::new();
    service
        .by(alice)
        .post("/tuples", json!({"subject_type": "usr"}))
        .await
        .refused(501, "not_implemented");
    service
        .by(alice)
        .delete("/tuples/tup_0190f2a81b3c7abc8123456789abcdef")
        .await
        .refused(501, "not_implemented");
    // Credentials first, as on every route.
    service
        .anonymous(None)
        .delete("/tuples/tup_0190f2a81b3c7abc8123456789abcdef")
        .await
        .refused(401, "unauthorized");
}
