//! The schemathesis baseline (`fuzz/baseline.json`), entry by entry: every accepted finding is
//! a status the OpenAPI does not list for its operation, answered with the SDK's documented
//! code for the error at hand, which the entry names (`code`). Each entry is provoked here on a
//! fresh service and its status and code asserted; an entry without a way to provoke it here,
//! or of another kind of finding, fails the test.

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::{InvId, MemId, OrgId, UsrId};
use serde_json::{Value, json};

use crate::support::{Answer, Service};

/// The system caller's token of these services.
const SYSTEM: &str = "system-token";

/// One org with an owner (alice), a member (bob), an outsider (carol) and a pending
/// invitation.
struct World {
    service: Service,
    alice: UsrId,
    bob: UsrId,
    carol: UsrId,
    org: String,
    alice_mem: String,
    bob_mem: String,
    inv: String,
}

impl World {
    async fn new() -> Self {
        let service = Service::start(AppState::in_memory().with_system_token(SYSTEM)).await;
        let (alice, bob, carol) = (UsrId::new(), UsrId::new(), UsrId::new());
        // A user is registered by its first request.
        for user in [bob, carol] {
            service
                .by(user)
                .get("/orgs/org_x")
                .await
                .refused(400, "invalid_id");
        }
        let created = service.by(alice).post_empty("/orgs").await.ok(201);
        let org = created["org"]["id"].as_str().unwrap().to_owned();
        let alice_mem = created["owner_membership"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let added = service
            .by(alice)
            .post(
                &format!("/orgs/{org}/members"),
                json!({"usr_id": bob.to_string(), "role": "member"}),
            )
            .await
            .ok(201);
        let bob_mem = added["id"].as_str().unwrap().to_owned();
        let invited = service
            .by(alice)
            .post(&format!("/orgs/{org}/invitations"), invitation())
            .await
            .ok(201);
        let inv = invited["id"].as_str().unwrap().to_owned();
        Self {
            service,
            alice,
            bob,
            carol,
            org,
            alice_mem,
            bob_mem,
            inv,
        }
    }

    /// Sends `method path` with `body` as `actor` (`None`: the system caller).
    async fn send(&self, actor: Option<UsrId>, method: &str, path: &str, body: Value) -> Answer {
        let caller = match actor {
            Some(actor) => self.service.by(actor),
            None => self.service.anonymous(Some(SYSTEM)),
        };
        match method {
            "GET" => caller.get(path).await,
            "PUT" => caller.put(path, body).await,
            _ if body.is_null() => caller.post_empty(path).await,
            _ => caller.post(path, body).await,
        }
    }

    /// Suspends the org, as its owner.
    async fn suspend_org(&self) {
        let path = format!("/orgs/{}/suspend", self.org);
        self.service.by(self.alice).post_empty(&path).await.ok(200);
    }

    /// Suspends bob's membership, as the owner.
    async fn suspend_bob(&self) {
        let path = format!("/orgs/{}/members/{}/suspend", self.org, self.bob_mem);
        self.service.by(self.alice).post_empty(&path).await.ok(200);
    }

    /// Revokes the invitation, as the owner.
    async fn revoke_inv(&self) {
        let path = format!("/invitations/{}/revoke", self.inv);
        self.service.by(self.alice).post_empty(&path).await.ok(200);
    }
}

fn invitation() -> Value {
    json!({"identifier": "dave@example.com", "role": "member", "expires_at": "2999-01-01T00:00:00Z"})
}

/// A valid body for the operation, or null for none.
fn body(world: &World, operation: &str) -> Value {
    match operation {
        "PUT /orgs/{org_id}" => json!({"name": "Renamed"}),
        "POST /orgs/{org_id}/members" => {
            json!({"usr_id": world.carol.to_string(), "role": "member"})
        }
        "POST /orgs/{org_id}/members/{mem_id}/change-role" => json!({"new_role": "admin"}),
        "POST /orgs/{org_id}/transfer-ownership" => {
            json!({"from_mem_id": world.alice_mem, "to_mem_id": world.bob_mem})
        }
        "POST /orgs/{org_id}/invitations" => invitation(),
        "POST /invitations/{inv_id}/accept" => json!({}),
        _ => Value::Null,
    }
}

/// The operation's path with the ids given.
fn path(operation: &str, org: &str, mem: &str, inv: &str) -> String {
    let template = operation
        .split_once(' ')
        .map_or(operation, |(_, path)| path);
    template
        .replace("{org_id}", org)
        .replace("{mem_id}", mem)
        .replace("{inv_id}", inv)
}

/// Provokes `status` on `operation` on a fresh world; `None` when nothing here does.
async fn provoke(operation: &str, status: u16) -> Option<Answer> {
    let world = World::new().await;
    let w = &world;
    let method = operation.split_once(' ')?.0;
    let (org, mem, inv) = (w.org.as_str(), w.bob_mem.as_str(), w.inv.as_str());
    let alice = Some(w.alice);
    let at = |org: &str, mem: &str, inv: &str| path(operation, org, mem, inv);
    let send = |actor: Option<UsrId>, path: String| {
        let body = body(w, operation);
        async move { w.send(actor, method, &path, body).await }
    };
    let org_uuid = org.trim_start_matches("org_");
    Some(match (operation, status) {
        // No credentials.
        (_, 401) => {
            let caller = w.service.anonymous(None);
            match method {
                "GET" => caller.get(&at(org, mem, inv)).await,
                "PUT" => caller.put(&at(org, mem, inv), body(w, operation)).await,
                _ => caller.post_empty(&at(org, mem, inv)).await,
            }
        }
        // A body or query of the wrong shape, a cursor that is not the listed entity's id.
        ("POST /orgs", 400) => w.send(alice, method, "/orgs", json!({"nme": "typo"})).await,
        ("GET /orgs", 400) => send(None, "/orgs?cursor=x".into()).await,
        ("GET /orgs/{org_id}/members" | "GET /orgs/{org_id}/invitations", 400) => {
            send(alice, format!("{}?cursor=x", at(org, mem, inv))).await
        }
        ("GET /tuples/by-subject", 400) => {
            send(
                alice,
                "/tuples/by-subject?subject_type=usr&subject_id=x".into(),
            )
            .await
        }
        ("GET /tuples/by-object", 400) => {
            send(
                alice,
                "/tuples/by-object?object_type=org&object_id=x".into(),
            )
            .await
        }
        // A path id that is not a well-formed id of its type.
        (op, 400) if op.contains("{inv_id}") => send(alice, at(org, mem, "inv_x")).await,
        (op, 400) if op.contains("{mem_id}") => send(alice, at(org, "mem_x", inv)).await,
        (op, 400) if op.contains("{org_id}") => send(alice, at("org_x", mem, inv)).await,
        // Ids that name nothing.
        (op, 404) if op.contains("{inv_id}") => {
            send(alice, at(org, mem, &InvId::new().to_string())).await
        }
        (op, 404) if op.contains("{mem_id}") => {
            send(alice, at(org, &MemId::new().to_string(), inv)).await
        }
        ("POST /orgs/{org_id}/transfer-ownership", 404) => {
            let body = json!({"from_mem_id": w.alice_mem, "to_mem_id": MemId::new().to_string()});
            w.send(alice, method, &at(org, mem, inv), body).await
        }
        (op, 404) if op.contains("{org_id}") => {
            send(alice, at(&OrgId::new().to_string(), mem, inv)).await
        }
        // A caller without the authority: a user for the system's read, an outsider, a plain
        // member, another user's tuples or acceptance.
        ("GET /orgs", 403) => send(alice, "/orgs".into()).await,
        ("GET /tuples/by-subject", 403) => {
            let query = format!("subject_type=usr&subject_id={}", w.alice.as_uuid());
            send(Some(w.carol), format!("/tuples/by-subject?{query}")).await
        }
        ("GET /tuples/by-object", 403) => {
            let query = format!("object_type=org&object_id={org_uuid}");
            send(Some(w.carol), format!("/tuples/by-object?{query}")).await
        }
        ("POST /tuples/check", 403) => {
            let body = json!({"subject_type": "usr", "subject_id": w.alice.as_uuid().to_string(),
                              "object_type": "org", "object_id": org_uuid, "relation": "owner"});
            w.send(Some(w.carol), method, "/tuples/check", body).await
        }
        ("POST /invitations/{inv_id}/accept", 403) => {
            let body = json!({"as_usr_id": w.alice.to_string(),
                              "accepting_identifier": "dave@example.com"});
            w.send(Some(w.carol), method, &at(org, mem, inv), body)
                .await
        }
        ("POST /orgs/{org_id}/members/{mem_id}/self-leave", 403) => {
            send(Some(w.carol), at(org, mem, inv)).await
        }
        (
            "GET /orgs/{org_id}"
            | "GET /invitations/{inv_id}"
            | "GET /orgs/{org_id}/members"
            | "GET /orgs/{org_id}/members/{mem_id}"
            | "POST /invitations/{inv_id}/decline",
            403,
        ) => send(Some(w.carol), at(org, mem, inv)).await,
        // Reinstating needs a suspended target before authority is asked.
        ("POST /orgs/{org_id}/reinstate", 403) => {
            w.suspend_org().await;
            send(Some(w.bob), at(org, mem, inv)).await
        }
        ("POST /orgs/{org_id}/members/{mem_id}/reinstate", 403) => {
            w.suspend_bob().await;
            send(Some(w.bob), at(org, mem, inv)).await
        }
        (_, 403) => send(Some(w.bob), at(org, &w.alice_mem, inv)).await,
        // State the operation cannot apply to.
        ("GET /orgs/{org_id}/members" | "GET /orgs/{org_id}/invitations", 409)
        | ("POST /orgs/{org_id}/invitations" | "POST /orgs/{org_id}/suspend", 409) => {
            w.suspend_org().await;
            send(alice, at(org, mem, inv)).await
        }
        (
            "POST /orgs/{org_id}/revoke" | "POST /orgs/{org_id}/members/{mem_id}/admin-remove",
            409,
        ) => {
            send(alice, at(org, mem, inv)).await.ok(200);
            send(alice, at(org, mem, inv)).await
        }
        ("POST /orgs/{org_id}/members/{mem_id}/suspend", 409)
        | ("POST /orgs/{org_id}/members/{mem_id}/change-role", 409) => {
            w.suspend_bob().await;
            send(alice, at(org, mem, inv)).await
        }
        (
            "POST /orgs/{org_id}/reinstate" | "POST /orgs/{org_id}/members/{mem_id}/reinstate",
            409,
        ) => send(alice, at(org, mem, inv)).await,
        ("POST /orgs/{org_id}/transfer-ownership", 409) => {
            let body = json!({"from_mem_id": w.bob_mem, "to_mem_id": w.alice_mem});
            w.send(alice, method, &at(org, mem, inv), body).await
        }
        ("POST /invitations/{inv_id}/decline" | "POST /invitations/{inv_id}/revoke", 409) => {
            w.revoke_inv().await;
            send(alice, at(org, mem, inv)).await
        }
        _ => return None,
    })
}

#[tokio::test]
async fn every_baseline_entry_is_an_undocumented_status_the_sdk_answers_with_its_code() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/baseline.json"))
        .unwrap();
    let baseline: Value = serde_json::from_str(&text).unwrap();
    let entries = baseline["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    let mut wrong = Vec::new();
    for entry in entries {
        let operation = entry["operation"].as_str().unwrap();
        assert_eq!(
            (entry["check"].as_str(), entry["failure"].as_str()),
            (Some("status_code_conformance"), Some("UndefinedStatusCode")),
            "only undocumented statuses may be accepted: {entry}"
        );
        let status: u16 = entry["signature"].as_str().unwrap().parse().unwrap();
        let code = entry["code"]
            .as_str()
            .unwrap_or_else(|| panic!("an entry names no code: {entry}"));
        let Some(answer) = provoke(operation, status).await else {
            wrong.push(format!("{operation} {status}: nothing here provokes it"));
            continue;
        };
        if (answer.status, answer.body["code"].as_str()) == (status, Some(code)) {
            answer.refused(status, code);
        } else {
            wrong.push(format!(
                "{operation} {status}: wanted {code}, got {} {}",
                answer.status, answer.body
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
