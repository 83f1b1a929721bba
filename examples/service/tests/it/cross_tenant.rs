//! Cross-tenant requests: every route that names a membership, sent under org A's path for a
//! membership of org B, answers 404 `not_found` (membership) with the envelope and changes
//! nothing. The service passes the path's org to the SDK (`in_org`, the scoped read) and reads
//! nothing first, so on PostgreSQL each such request costs exactly one round trip, counted by
//! a proxy between the service's pool and the server.

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{ListMembers, Membership, Page};
use flametrench_tenancy_postgres::testing::{PgProxy, TestPostgres, pool_for};
use serde_json::{Value, json};

use crate::support::{Answer, Service, text};

/// Two orgs of the same service: Alice owns A; Bob owns B, where Carol is an active member
/// and Dave a suspended one.
struct Tenants {
    alice: UsrId,
    carol: UsrId,
    org_a: String,
    org_b: OrgId,
    carol_in_b: MemId,
    dave_in_b: MemId,
}

/// Sets the tenants up over HTTP, which also registers every user with the service.
async fn tenants(service: &Service) -> Tenants {
    let (alice, bob, carol, dave) = (UsrId::new(), UsrId::new(), UsrId::new(), UsrId::new());
    let org_a = service.by(alice).post_empty("/orgs").await.ok(201);
    let org_a = text(&org_a["org"]["id"]).to_owned();
    let org_b = service.by(bob).post_empty("/orgs").await.ok(201);
    let org_b = text(&org_b["org"]["id"]).to_owned();
    for stranger in [carol, dave] {
        service
            .by(stranger)
            .get(&format!("/orgs/{org_b}"))
            .await
            .refused(403, "forbidden");
    }
    let members_b = format!("/orgs/{org_b}/members");
    let mut added = Vec::new();
    for user in [carol, dave] {
        let membership = service
            .by(bob)
            .post(
                &members_b,
                json!({ "usr_id": user.to_string(), "role": "member" }),
            )
            .await
            .ok(201);
        added.push(text(&membership["id"]).parse::<MemId>().unwrap());
    }
    let (carol_in_b, dave_in_b) = (added[0], added[1]);
    let suspended = service
        .by(bob)
        .post_empty(&format!("{members_b}/{dave_in_b}/suspend"))
        .await
        .ok(200);
    assert_eq!(suspended["status"], "suspended");
    Tenants {
        alice,
        carol,
        org_a,
        org_b: org_b.parse().unwrap(),
        carol_in_b,
        dave_in_b,
    }
}

/// One request of a route that names a membership, under org A's path.
struct Attempt {
    route: &'static str,
    actor: UsrId,
    target: MemId,
    /// `None` for the GET; a POST's body otherwise (`Value::Null` for none).
    body: Option<Value>,
}

impl Attempt {
    /// Every member route, each aimed at a membership of B that the route could otherwise
    /// act on: A's owner changes, suspends and removes Carol, reinstates Dave and reads
    /// Carol's membership; Carol, its very member, leaves through A's path.
    fn every(tenants: &Tenants) -> Vec<Self> {
        let post = |route, actor, target, body| Self {
            route,
            actor,
            target,
            body: Some(body),
        };
        let (alice, carol) = (tenants.alice, tenants.carol);
        let (carol_in_b, dave_in_b) = (tenants.carol_in_b, tenants.dave_in_b);
        vec![
            post(
                "change-role",
                alice,
                carol_in_b,
                json!({ "new_role": "admin" }),
            ),
            post("suspend", alice, carol_in_b, Value::Null),
            post("reinstate", alice, dave_in_b, Value::Null),
            post("admin-remove", alice, carol_in_b, Value::Null),
            post("self-leave", carol, carol_in_b, Value::Null),
            Self {
                route: "",
                actor: alice,
                target: carol_in_b,
                body: None,
            },
        ]
    }

    fn name(&self) -> &'static str {
        if self.body.is_none() {
            "get member"
        } else {
            self.route
        }
    }

    async fn send(&self, service: &Service, org_a: &str) -> Answer {
        let member = format!("/orgs/{org_a}/members/{}", self.target);
        let caller = service.by(self.actor);
        match &self.body {
            None => caller.get(&member).await,
            Some(Value::Null) => caller.post_empty(&format!("{member}/{}", self.route)).await,
            Some(body) => {
                caller
                    .post(&format!("{member}/{}", self.route), body.clone())
                    .await
            }
        }
    }
}

/// Every membership of B, history included: a write would change a row or add one.
async fn rows_of_b(state: &AppState, org_b: OrgId) -> Page<Membership> {
    state
        .tenancy()
        .list_members(ListMembers::new(org_b).limit(200))
        .await
        .unwrap()
}

/// Sends every attempt and checks its refusal and that nothing changed; with `proxy`, each
/// request (the statements already prepared on the connection by an earlier pass) must cost
/// exactly one round trip.
async fn refuse_every_attempt(
    state: &AppState,
    service: &Service,
    tenants: &Tenants,
    proxy: Option<&PgProxy>,
) {
    let before = rows_of_b(state, tenants.org_b).await;
    assert_eq!(before.data.len(), 3, "Bob, Carol and Dave");
    for attempt in Attempt::every(tenants) {
        let row = state
            .tenancy()
            .get_membership(attempt.target, None)
            .await
            .unwrap();
        if let Some(proxy) = proxy {
            proxy.reset();
        }
        let answer = attempt.send(service, &tenants.org_a).await;
        let round_trips = proxy.map(|proxy| proxy.stats().round_trips);
        let name = attempt.name();
        let envelope = answer.refused(404, "not_found");
        assert_eq!(envelope["details"]["entity"], "membership", "{name}");
        if let Some(round_trips) = round_trips {
            assert_eq!(round_trips, 1, "{name} took {round_trips} round trips");
        }
        let after = state
            .tenancy()
            .get_membership(attempt.target, None)
            .await
            .unwrap();
        assert_eq!(after, row, "{name} changed the membership");
    }
    assert_eq!(rows_of_b(state, tenants.org_b).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_tenant_member_routes_are_not_found_on_memory() {
    let state = AppState::in_memory();
    let service = Service::start(state.clone()).await;
    let tenants = tenants(&service).await;
    refuse_every_attempt(&state, &service, &tenants, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_tenant_member_routes_are_not_found_in_one_round_trip_on_postgres() {
    let server = TestPostgres::start().await.unwrap();
    let database = server.fresh_database().await.unwrap();
    let proxy = PgProxy::start(&database.config()).await.unwrap();
    // One connection, so that every request runs on the one the passes before have warmed.
    let pool = pool_for(proxy.config_for(&database.config()), 1).unwrap();
    let state = AppState::on_postgres(pool).await.unwrap();
    let service = Service::start(state.clone()).await;
    // The set-up opens the connection and registers every actor with the service.
    let tenants = tenants(&service).await;
    // The first pass prepares each statement the attempts use once on the connection (one
    // more round trip the first time, as the SDK's own round-trip test allows); the second is
    // counted.
    refuse_every_attempt(&state, &service, &tenants, None).await;
    refuse_every_attempt(&state, &service, &tenants, Some(&proxy)).await;
}
