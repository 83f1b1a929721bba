//! The service's scenario over HTTP, on the in-memory store and on PostgreSQL: an org, an
//! invitation accepted, role changes, suspensions, members and invitations listed, the org's
//! lifecycle, the refusals (sole owner, forbidden writes decided by the SDK, the service's own
//! read gates, not found, invalid bodies) and, on PostgreSQL, the audit rows of the
//! transactional `POST /orgs`.

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::time::OffsetDateTime;
use flametrench_tenancy_core::uuid::Uuid;
use flametrench_tenancy_postgres::testing::TestPostgres;
use serde_json::{Value, json};

use crate::support::{Service, text};

const EXPIRES_AT: &str = "2099-01-01T00:00:00Z";

/// What the scenario leaves for the store-specific checks.
struct Outcome {
    org_id: String,
    alice: UsrId,
}

/// The whole scenario; every step checks status and body.
async fn scenario(state: AppState) -> Outcome {
    let service = Service::start(state).await;
    let (alice, bob, carol, dave) = (UsrId::new(), UsrId::new(), UsrId::new(), UsrId::new());
    let (alice_id, bob_id, carol_id, dave_id) = (
        alice.to_string(),
        bob.to_string(),
        carol.to_string(),
        dave.to_string(),
    );

    // No actor, or one that is not a user id: 401 with an envelope.
    service
        .anonymous(None)
        .post("/orgs", json!({}))
        .await
        .refused(401, "unauthorized");
    service
        .anonymous(Some("usr_nope"))
        .get("/orgs/org_nope")
        .await
        .refused(401, "unauthorized");

    // Invalid bodies: the SDK's code where it has one, `invalid_request` otherwise.
    let bad_slug = service
        .by(alice)
        .post("/orgs", json!({ "name": "Acme", "slug": "Not A Slug" }))
        .await
        .refused(400, "precondition.org_slug_format");
    assert_eq!(bad_slug["details"]["reason"], "org_slug_format");
    service
        .by(alice)
        .post_raw("/orgs", r#"{"name": "Acme""#)
        .await
        .refused(400, "invalid_request");
    service
        .by(alice)
        .post("/orgs", json!({ "title": "Acme" }))
        .await
        .refused(400, "invalid_request");
    service
        .by(alice)
        .post("/orgs", json!({ "slug": 7 }))
        .await
        .refused(400, "invalid_request");
    service
        .by(alice)
        .post("/orgs", json!(["Acme", "acme"]))
        .await
        .refused(400, "invalid_request");

    // Alice creates the org and owns it.
    let created = service
        .by(alice)
        .post("/orgs", json!({ "name": "Acme", "slug": "acme" }))
        .await
        .ok(201);
    let org_id = text(&created["org"]["id"]).to_owned();
    let org = format!("/orgs/{org_id}");
    assert_eq!(created["org"]["status"], "active");
    assert_eq!(created["org"]["slug"], "acme");
    assert_eq!(created["owner_membership"]["role"], "owner");
    assert_eq!(created["owner_membership"]["usr_id"], alice_id.as_str());
    assert_eq!(created["owner_membership"]["invited_by"], Value::Null);
    let alice_owner = text(&created["owner_membership"]["id"]).to_owned();
    service
        .by(alice)
        .post("/orgs", json!({ "slug": "acme" }))
        .await
        .refused(409, "conflict.org_slug");
    // An org without name or slug, and an empty body: both allowed.
    let anonymous_org = service.by(dave).post_empty("/orgs").await.ok(201);
    assert_eq!(anonymous_org["org"]["slug"], Value::Null);

    // Reading the org: members only; an unknown org is 404 for anyone; a bad id 400.
    let read = service.by(alice).get(&org).await.ok(200);
    assert_eq!(read["id"], org_id.as_str());
    assert_eq!(read["name"], "Acme");
    service.by(dave).get(&org).await.refused(403, "forbidden");
    let unknown = service
        .by(alice)
        .get(&format!("/orgs/{}", OrgId::new()))
        .await
        .refused(404, "not_found");
    assert_eq!(unknown["details"]["entity"], "org");
    let malformed = service
        .by(alice)
        .get("/orgs/org_nope")
        .await
        .refused(400, "invalid_id");
    assert_eq!(malformed["details"]["field"], "org_id");
    service
        .by(alice)
        .get(&format!("/orgs/{alice_id}"))
        .await
        .refused(400, "invalid_id");

    // Renaming: an owner or admin; `{}` changes nothing; a taken slug is a conflict.
    service
        .by(dave)
        .put(&org, json!({ "name": "Mine" }))
        .await
        .refused(403, "forbidden");
    service
        .by(alice)
        .put(&org, json!({ "slug": "Bad Slug" }))
        .await
        .refused(400, "precondition.org_slug_format");
    service
        .by(alice)
        .put(&org, json!({ "status": "revoked" }))
        .await
        .refused(400, "invalid_request");
    let renamed = service
        .by(alice)
        .put(&org, json!({ "name": "Acme Corp", "slug": "acme-corp" }))
        .await
        .ok(200);
    assert_eq!(renamed["name"], "Acme Corp");
    assert_eq!(renamed["slug"], "acme-corp");
    let unchanged = service.by(alice).put(&org, json!({})).await.ok(200);
    assert_eq!(unchanged, renamed);
    let anonymous_path = format!("/orgs/{}", text(&anonymous_org["org"]["id"]));
    service
        .by(dave)
        .put(&anonymous_path, json!({ "slug": "acme-corp" }))
        .await
        .refused(409, "conflict.org_slug");
    let cleared = service
        .by(alice)
        .put(&org, json!({ "name": null }))
        .await
        .ok(200);
    assert_eq!(cleared["name"], Value::Null);
    assert_eq!(cleared["slug"], "acme-corp");

    // Alice invites Bob; outsiders may not invite, and bad fields use the SDK's codes.
    let invitations = format!("{org}/invitations");
    let invite_bob =
        json!({ "identifier": "bob@example.com", "role": "member", "expires_at": EXPIRES_AT });
    service
        .by(dave)
        .post(&invitations, invite_bob.clone())
        .await
        .refused(403, "forbidden");
    service
        .by(alice)
        .post(
            &invitations,
            json!({ "identifier": "bob@example.com", "role": "root", "expires_at": EXPIRES_AT }),
        )
        .await
        .refused(400, "precondition.invalid_role");
    service
        .by(alice)
        .post(
            &invitations,
            json!({ "identifier": "bob@example.com", "role": "member", "expires_at": "soon" }),
        )
        .await
        .refused(400, "precondition.invalid_timestamp");
    service
        .by(alice)
        .post(
            &invitations,
            json!({ "identifier": "bob@example.com", "role": "member", "expires_at": "2001-01-01T00:00:00Z" }),
        )
        .await
        .refused(400, "precondition.past_expiration");
    let invitation = service
        .by(alice)
        .post(&invitations, invite_bob)
        .await
        .ok(201);
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["invited_by"], alice_id.as_str());
    let bob_invitation = format!("/invitations/{}", text(&invitation["id"]));

    // Bob reads it as the invitee; without his verified identifier he is a stranger.
    let seen = service
        .by(bob)
        .verified("bob@example.com")
        .get(&bob_invitation)
        .await
        .ok(200);
    assert_eq!(seen["identifier"], "bob@example.com");
    service
        .by(bob)
        .get(&bob_invitation)
        .await
        .refused(403, "forbidden");

    // Accepting binds to the session's identifier, never to the body's.
    let accept = format!("{bob_invitation}/accept");
    service
        .by(bob)
        .post_empty(&accept)
        .await
        .refused(409, "precondition.identifier_binding_required");
    service
        .by(bob)
        .verified("eve@example.com")
        .post_empty(&accept)
        .await
        .refused(409, "precondition.identifier_mismatch");
    // A body's identifier binds nothing: without the session's, the acceptance is unbound.
    service
        .by(bob)
        .post(
            &accept,
            json!({ "accepting_identifier": "bob@example.com" }),
        )
        .await
        .refused(409, "precondition.identifier_binding_required");
    service
        .by(bob)
        .verified("bob@example.com")
        .post(
            &accept,
            json!({ "accepting_identifier": "eve@example.com" }),
        )
        .await
        .refused(409, "precondition.identifier_mismatch");
    service
        .by(bob)
        .verified("bob@example.com")
        .post(&accept, json!({ "as_usr_id": carol_id }))
        .await
        .refused(403, "forbidden");
    service
        .by(bob)
        .verified("bob@example.com")
        .post(
            &accept,
            json!({ "as_usr_id": bob_id, "on_behalf_of": carol_id }),
        )
        .await
        .refused(400, "invalid_request");
    let accepted = service
        .by(bob)
        .verified("bob@example.com")
        .post(
            &accept,
            json!({ "as_usr_id": bob_id, "accepting_identifier": "bob@example.com" }),
        )
        .await
        .ok(200);
    assert_eq!(accepted["invitation"]["status"], "accepted");
    assert_eq!(accepted["invitation"]["invited_user_id"], bob_id.as_str());
    assert_eq!(accepted["membership"]["usr_id"], bob_id.as_str());
    assert_eq!(accepted["membership"]["role"], "member");
    assert_eq!(accepted["materialized_tuples"], json!([]));
    let bob_member = text(&accepted["membership"]["id"]).to_owned();
    service
        .by(bob)
        .verified("bob@example.com")
        .post_empty(&accept)
        .await
        .refused(409, "conflict.invitation_not_pending");

    // Alice makes Bob an admin: a new row replaces the old one.
    let change_role = |mem: &str| format!("{org}/members/{mem}/change-role");
    service
        .by(alice)
        .post(&change_role(&bob_member), json!({ "new_role": "root" }))
        .await
        .refused(400, "precondition.invalid_role");
    let promoted = service
        .by(alice)
        .post(&change_role(&bob_member), json!({ "new_role": "admin" }))
        .await
        .ok(200);
    assert_eq!(promoted["role"], "admin");
    assert_eq!(promoted["status"], "active");
    assert_eq!(promoted["replaces"], bob_member.as_str());
    let bob_admin = text(&promoted["id"]).to_owned();
    service
        .by(alice)
        .post(&change_role(&bob_member), json!({ "new_role": "guest" }))
        .await
        .refused(409, "precondition.mem_not_active");

    // Bob, an admin, adds Carol (registered by her first request); he may not make an owner.
    service.by(carol).get(&org).await.refused(403, "forbidden");
    let members = format!("{org}/members");
    service
        .by(bob)
        .post(&members, json!({ "usr_id": "usr_nope", "role": "member" }))
        .await
        .refused(400, "invalid_id");
    service
        .by(bob)
        .post(&members, json!({ "usr_id": dave_id, "role": "owner" }))
        .await
        .refused(403, "forbidden.role_hierarchy");
    service
        .by(bob)
        .post(
            &members,
            json!({ "usr_id": carol_id, "role": "member", "invited_by": alice_id }),
        )
        .await
        .refused(403, "forbidden");
    let carol_membership = service
        .by(bob)
        .post(&members, json!({ "usr_id": carol_id, "role": "member" }))
        .await
        .ok(201);
    assert_eq!(carol_membership["invited_by"], bob_id.as_str());
    let carol_member = text(&carol_membership["id"]).to_owned();
    service
        .by(bob)
        .post(&members, json!({ "usr_id": carol_id, "role": "guest" }))
        .await
        .refused(409, "conflict.duplicate_membership");

    // Any member lists members, history included, with filters and pages.
    let everyone = service.by(carol).get(&members).await.ok(200);
    assert_eq!(everyone["data"].as_array().unwrap().len(), 4);
    assert_eq!(everyone["page"]["next_cursor"], Value::Null);
    let active = service
        .by(carol)
        .get(&format!("{members}?status=active"))
        .await
        .ok(200);
    assert_eq!(active["data"].as_array().unwrap().len(), 3);
    let admins = service
        .by(carol)
        .get(&format!("{members}?role=admin"))
        .await
        .ok(200);
    assert_eq!(admins["data"][0]["id"], bob_admin.as_str());
    let first = service
        .by(carol)
        .get(&format!("{members}?limit=3"))
        .await
        .ok(200);
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    let cursor = text(&first["page"]["next_cursor"]).to_owned();
    let rest = service
        .by(carol)
        .get(&format!("{members}?limit=3&cursor={cursor}"))
        .await
        .ok(200);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["page"]["next_cursor"], Value::Null);
    service
        .by(carol)
        .get(&format!("{members}?status=bogus"))
        .await
        .refused(400, "precondition.invalid_status");
    service
        .by(carol)
        .get(&format!("{members}?limit=many"))
        .await
        .refused(400, "invalid_request");
    service
        .by(dave)
        .get(&members)
        .await
        .refused(403, "forbidden");

    // Any member reads one membership of the org; an unknown one is 404, a bad id 400.
    let member = |mem: &str| format!("{org}/members/{mem}");
    let read_bob = service.by(carol).get(&member(&bob_admin)).await.ok(200);
    assert_eq!(read_bob["role"], "admin");
    assert_eq!(read_bob["usr_id"], bob_id.as_str());
    service
        .by(dave)
        .get(&member(&bob_admin))
        .await
        .refused(403, "forbidden");
    let unknown_member = service
        .by(carol)
        .get(&member(&MemId::new().to_string()))
        .await
        .refused(404, "not_found");
    assert_eq!(unknown_member["details"]["entity"], "membership");
    service
        .by(carol)
        .get(&member("mem_nope"))
        .await
        .refused(400, "invalid_id");

    // A plain member may neither remove, nor add, nor change roles, nor suspend (the SDK
    // decides each, with the actor).
    let admin_remove = |mem: &str| format!("{org}/members/{mem}/admin-remove");
    service
        .by(carol)
        .post_empty(&admin_remove(&bob_admin))
        .await
        .refused(403, "forbidden");
    service
        .by(carol)
        .post(&members, json!({ "usr_id": dave_id, "role": "member" }))
        .await
        .refused(403, "forbidden");
    service
        .by(carol)
        .post(&change_role(&carol_member), json!({ "new_role": "admin" }))
        .await
        .refused(403, "forbidden");
    let suspend = |mem: &str| format!("{org}/members/{mem}/suspend");
    let reinstate = |mem: &str| format!("{org}/members/{mem}/reinstate");
    service
        .by(carol)
        .post_empty(&suspend(&bob_admin))
        .await
        .refused(403, "forbidden");

    // An admin suspends and reinstates a member, but not an owner; a suspended member holds
    // no role.
    service
        .by(bob)
        .post_empty(&suspend(&alice_owner))
        .await
        .refused(403, "forbidden.role_hierarchy");
    service
        .by(bob)
        .post(&change_role(&alice_owner), json!({ "new_role": "member" }))
        .await
        .refused(403, "forbidden.role_hierarchy");
    let suspended_carol = service
        .by(bob)
        .post_empty(&suspend(&carol_member))
        .await
        .ok(200);
    assert_eq!(suspended_carol["id"], carol_member.as_str());
    assert_eq!(suspended_carol["status"], "suspended");
    service.by(carol).get(&org).await.refused(403, "forbidden");
    service
        .by(bob)
        .post_empty(&suspend(&carol_member))
        .await
        .refused(409, "precondition.mem_not_active");
    let reinstated_carol = service
        .by(bob)
        .post_empty(&reinstate(&carol_member))
        .await
        .ok(200);
    assert_eq!(reinstated_carol["id"], carol_member.as_str());
    assert_eq!(reinstated_carol["status"], "active");
    service.by(carol).get(&org).await.ok(200);

    // The sole owner may not just leave; nobody leaves for someone else.
    let self_leave = |mem: &str| format!("{org}/members/{mem}/self-leave");
    service
        .by(alice)
        .post_empty(&self_leave(&alice_owner))
        .await
        .refused(409, "forbidden.sole_owner");
    service
        .by(alice)
        .post(&self_leave(&alice_owner), json!({ "transferTo": null }))
        .await
        .refused(409, "forbidden.sole_owner");
    service
        .by(bob)
        .post_empty(&self_leave(&alice_owner))
        .await
        .refused(403, "forbidden");

    // Revoking is for admins (the SDK decides); declining for the invitee.
    let invite_dave =
        json!({ "identifier": "dave@example.com", "role": "guest", "expires_at": EXPIRES_AT });
    let to_revoke = service
        .by(alice)
        .post(&invitations, invite_dave.clone())
        .await
        .ok(201);
    let revoke = format!("/invitations/{}/revoke", text(&to_revoke["id"]));
    service
        .by(carol)
        .post_empty(&revoke)
        .await
        .refused(403, "forbidden");
    let revoked = service.by(bob).post_empty(&revoke).await.ok(200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["terminal_by"], bob_id.as_str());
    let to_decline = service
        .by(alice)
        .post(&invitations, invite_dave)
        .await
        .ok(201);
    let decline = format!("/invitations/{}/decline", text(&to_decline["id"]));
    service
        .by(carol)
        .post_empty(&decline)
        .await
        .refused(403, "forbidden");
    service
        .by(carol)
        .verified("carol@example.com")
        .post_empty(&decline)
        .await
        .refused(403, "forbidden");
    let declined = service
        .by(dave)
        .verified("dave@example.com")
        .post_empty(&decline)
        .await
        .ok(200);
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["terminal_by"], dave_id.as_str());
    service
        .by(alice)
        .get(&format!("/invitations/{}", text(&to_decline["id"])))
        .await
        .ok(200);
    service
        .by(alice)
        .get("/invitations/inv_nope")
        .await
        .refused(400, "invalid_id");

    // Owners and admins list the org's invitations, with filters; members may not.
    let listed = service.by(alice).get(&invitations).await.ok(200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    let revoked_only = service
        .by(bob)
        .get(&format!("{invitations}?status=revoked"))
        .await
        .ok(200);
    assert_eq!(revoked_only["data"].as_array().unwrap().len(), 1);
    assert_eq!(revoked_only["data"][0]["terminal_by"], bob_id.as_str());
    let first_invitation = service
        .by(bob)
        .get(&format!("{invitations}?limit=1"))
        .await
        .ok(200);
    assert_eq!(first_invitation["data"].as_array().unwrap().len(), 1);
    assert!(first_invitation["page"]["next_cursor"].is_string());
    service
        .by(carol)
        .get(&invitations)
        .await
        .refused(403, "forbidden");
    service
        .by(alice)
        .get(&format!("{invitations}?status=bogus"))
        .await
        .refused(400, "precondition.invalid_status");
    service
        .by(alice)
        .get(&format!("{invitations}?limit=many"))
        .await
        .refused(400, "invalid_request");

    // Bob removes Carol as an admin.
    let removed = service
        .by(bob)
        .post_empty(&admin_remove(&carol_member))
        .await
        .ok(200);
    assert_eq!(removed["status"], "revoked");
    assert_eq!(removed["removed_by"], bob_id.as_str());

    // Ownership passes from Alice to Bob; only an owner may hand it over (the SDK decides).
    let transfer = format!("{org}/transfer-ownership");
    let handover = json!({ "from_mem_id": alice_owner, "to_mem_id": bob_admin });
    service
        .by(bob)
        .post(&transfer, handover.clone())
        .await
        .refused(403, "forbidden");
    let transferred = service.by(alice).post(&transfer, handover).await.ok(200);
    assert_eq!(transferred["to_membership"]["role"], "owner");
    assert_eq!(transferred["to_membership"]["usr_id"], bob_id.as_str());
    assert_eq!(transferred["from_membership"]["role"], "member");
    let alice_member = text(&transferred["from_membership"]["id"]).to_owned();
    let left = service
        .by(alice)
        .post_empty(&self_leave(&alice_member))
        .await
        .ok(200);
    assert_eq!(left["status"], "revoked");
    assert_eq!(left["removed_by"], Value::Null);
    service.by(alice).get(&org).await.refused(403, "forbidden");

    // The org's lifecycle is its owners' (the SDK decides). A suspended org still reads for
    // its members; its members and invitations do not (the service's gate sees the org's
    // status), and its writes answer what the SDK answers.
    let bob_owner = text(&transferred["to_membership"]["id"]).to_owned();
    let suspend_org = format!("{org}/suspend");
    let reinstate_org = format!("{org}/reinstate");
    service
        .by(dave)
        .post_empty(&suspend_org)
        .await
        .refused(403, "forbidden");
    let suspended = service.by(bob).post_empty(&suspend_org).await.ok(200);
    assert_eq!(suspended["status"], "suspended");
    let read = service.by(bob).get(&org).await.ok(200);
    assert_eq!(read["status"], "suspended");
    service
        .by(bob)
        .get(&members)
        .await
        .refused(409, "precondition.org_not_active");
    service
        .by(bob)
        .get(&member(&bob_owner))
        .await
        .refused(409, "precondition.org_not_active");
    service
        .by(bob)
        .get(&invitations)
        .await
        .refused(409, "precondition.org_not_active");
    service
        .by(dave)
        .get(&members)
        .await
        .refused(403, "forbidden");
    service
        .by(bob)
        .put(&org, json!({ "name": "Renamed" }))
        .await
        .refused(409, "precondition.org_not_active");
    service
        .by(bob)
        .post(&members, json!({ "usr_id": dave_id, "role": "member" }))
        .await
        .refused(409, "precondition.org_not_active");
    service
        .by(bob)
        .post(
            &invitations,
            json!({ "identifier": "erin@example.com", "role": "member", "expires_at": EXPIRES_AT }),
        )
        .await
        .refused(409, "precondition.org_not_active");
    service
        .by(bob)
        .post_empty(&suspend_org)
        .await
        .refused(409, "precondition.invalid_transition");
    let reinstated = service.by(bob).post_empty(&reinstate_org).await.ok(200);
    assert_eq!(reinstated["status"], "active");
    service.by(bob).get(&members).await.ok(200);
    service
        .by(dave)
        .post_empty(&format!("{org}/revoke"))
        .await
        .refused(403, "forbidden");
    let revoked_org = service
        .by(bob)
        .post_empty(&format!("{org}/revoke"))
        .await
        .ok(200);
    assert_eq!(revoked_org["status"], "revoked");
    service.by(bob).get(&org).await.refused(403, "forbidden");
    service
        .by(bob)
        .post_empty(&reinstate_org)
        .await
        .refused(409, "already_terminal");

    // Paths and methods the service does not serve.
    service
        .by(bob)
        .get("/nowhere")
        .await
        .refused(404, "route_not_found");
    service
        .by(bob)
        .put("/orgs", json!({}))
        .await
        .refused(405, "method_not_allowed");
    // `GET /orgs` is served, to the system caller only.
    service.by(bob).get("/orgs").await.refused(403, "forbidden");

    Outcome { org_id, alice }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_on_memory() {
    scenario(AppState::in_memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_on_postgres() {
    let server = TestPostgres::start().await.unwrap();
    let database = server.fresh_database().await.unwrap();
    let state = AppState::on_postgres(database.pool(4).unwrap())
        .await
        .unwrap();
    let outcome = scenario(state).await;

    // The audit rows of the two successful `POST /orgs`, each pair committed in its org's
    // transaction (one `now()`); the duplicate slug's first row was rolled back with it.
    let client = database.connect().await.unwrap();
    let rows = client
        .query("SELECT what, org_id, at FROM audit_log ORDER BY id", &[])
        .await
        .unwrap();
    let rows: Vec<(String, Option<Uuid>, OffsetDateTime)> = rows
        .iter()
        .map(|row| (row.get("what"), row.get("org_id"), row.get("at")))
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let org_uuid = outcome.org_id.parse::<OrgId>().unwrap().as_uuid();
    let alice = outcome.alice;
    assert_eq!(rows[0].0, format!("create_org requested by {alice}"));
    assert_eq!(rows[0].1, None);
    assert_eq!(rows[1].0, format!("create_org done for {alice}"));
    assert_eq!(rows[1].1, Some(org_uuid));
    assert_eq!(rows[0].2, rows[1].2, "one transaction, one now()");
    assert!(rows[2].0.starts_with("create_org requested by "));
    assert!(rows[3].1.is_some());
    assert_ne!(rows[3].1, Some(org_uuid));

    // The org committed with them.
    let org = client
        .query_one("SELECT count(*) AS n FROM org WHERE id = $1", &[&org_uuid])
        .await
        .unwrap();
    assert_eq!(org.get::<_, i64>("n"), 1);
}
