//! The demotion window, through the service: an admin's request (suspend a member, change a
//! member's role) is sent while the admin's demotion commits before the write takes the org's
//! lock. The service reads no role before the write and the SDK decides the actor's authority
//! under the lock, so the request answers 403 `forbidden` and the member is unchanged.
//!
//! No timing decides the outcome. On PostgreSQL the demoting transaction holds the org's lock
//! until the test sees the service's backend waiting for it in `pg_stat_activity`, and only
//! then commits. On memory a lock hook, run just before the write takes the store's lock,
//! performs the demotion.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flametrench_example_service::AppState;
use flametrench_tenancy_core::ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{AddMember, ChangeRole, CreateOrg, Op, Role, Tenancy, TenancyStore};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::TestPostgres;
use serde_json::json;

use crate::support::{Answer, Service};

/// An org with an owner, an admin and a member.
#[derive(Debug, Clone, Copy)]
struct Scene {
    org: OrgId,
    owner: UsrId,
    admin: UsrId,
    admin_mem: MemId,
    member_mem: MemId,
}

impl Scene {
    /// Sets the org up through the SDK, behind the service's back.
    async fn new(tenancy: &Tenancy<'_>) -> Self {
        let (owner, admin, member) = (UsrId::new(), UsrId::new(), UsrId::new());
        for user in [owner, admin, member] {
            tenancy.ensure_user(user).await.unwrap();
        }
        let org = tenancy
            .create_org(CreateOrg::new(owner))
            .await
            .unwrap()
            .org
            .id;
        let admin_mem = tenancy
            .add_member(AddMember::new(org, admin, Role::Admin).by(owner))
            .await
            .unwrap()
            .id;
        let member_mem = tenancy
            .add_member(AddMember::new(org, member, Role::Member).by(owner))
            .await
            .unwrap()
            .id;
        Self {
            org,
            owner,
            admin,
            admin_mem,
            member_mem,
        }
    }

    /// The owner's demotion of the admin to a plain member.
    fn demotion(&self) -> ChangeRole {
        ChangeRole::new(self.admin_mem, Role::Member)
            .in_org(self.org)
            .by(self.owner)
    }

    /// The admin's role, read through `tenancy`.
    async fn admin_role(&self, tenancy: &Tenancy<'_>) -> Option<Role> {
        tenancy
            .org_access(self.org, self.admin)
            .await
            .unwrap()
            .role()
    }
}

/// The admin's request on the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// `POST /orgs/{org_id}/members/{mem_id}/suspend`.
    SuspendMember,
    /// `POST /orgs/{org_id}/members/{mem_id}/change-role` to `guest`.
    ChangeRole,
}

impl Request {
    const ALL: [Self; 2] = [Self::SuspendMember, Self::ChangeRole];

    /// The SDK operation the request's write is.
    fn op(self) -> Op {
        match self {
            Self::SuspendMember => Op::SuspendMembership,
            Self::ChangeRole => Op::ChangeRole,
        }
    }

    async fn send(self, service: &Service, scene: Scene) -> Answer {
        let member = format!("/orgs/{}/members/{}", scene.org, scene.member_mem);
        let admin = service.by(scene.admin);
        match self {
            Self::SuspendMember => admin.post_empty(&format!("{member}/suspend")).await,
            Self::ChangeRole => {
                admin
                    .post(
                        &format!("{member}/change-role"),
                        json!({ "new_role": "guest" }),
                    )
                    .await
            }
        }
    }
}

/// Before the request: the admin reads the org through the service (which registers them)
/// and holds the admin role.
async fn admin_stands(service: &Service, tenancy: &Tenancy<'_>, scene: Scene) {
    service
        .by(scene.admin)
        .get(&format!("/orgs/{}", scene.org))
        .await
        .ok(200);
    assert_eq!(scene.admin_role(tenancy).await, Some(Role::Admin));
}

/// After the request: refused as the SDK refuses an actor without authority, the member's
/// row as it was, and the demotion committed.
async fn refused_and_unchanged(
    answer: Answer,
    tenancy: &Tenancy<'_>,
    scene: Scene,
    member_before: &flametrench_tenancy_core::Membership,
    request: Request,
) {
    answer.refused(403, "forbidden");
    let member_after = tenancy
        .get_membership(scene.member_mem, None)
        .await
        .unwrap();
    assert_eq!(
        &member_after, member_before,
        "{request:?} changed the member"
    );
    assert_eq!(
        scene.admin_role(tenancy).await,
        Some(Role::Member),
        "{request:?}: the demotion did not commit"
    );
}

/// Waits until a backend of this database waits on a lock; false at the deadline.
async fn someone_waits_on_a_lock(
    checker: &flametrench_tenancy_postgres::tokio_postgres::Client,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let row = checker
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'active' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demotion_committed_while_the_request_waits_refuses_it_on_postgres() {
    let server = TestPostgres::start().await.unwrap();
    let database = server.fresh_database().await.unwrap();
    let state = AppState::on_postgres(database.pool(4).unwrap())
        .await
        .unwrap();
    let service = Service::start(state.clone()).await;
    let tenancy = state.tenancy();
    let checker = database.connect().await.unwrap();
    for request in Request::ALL {
        let scene = Scene::new(tenancy).await;
        admin_stands(&service, tenancy, scene).await;
        let member_before = tenancy
            .get_membership(scene.member_mem, None)
            .await
            .unwrap();

        // The owner demotes the admin in a transaction of their own, on a connection outside
        // the service's pool: it holds the org's lock until it commits.
        let mut client = database.connect().await.unwrap();
        let mut demoting = client.transaction().await.unwrap();
        PostgresTenancyStore::in_transaction(&mut demoting)
            .change_role(scene.demotion())
            .await
            .unwrap();

        let sent = tokio::spawn({
            let service = service.clone();
            async move { request.send(&service, scene).await }
        });
        assert!(
            someone_waits_on_a_lock(&checker).await,
            "{request:?}: the service's write never waited for the org's lock"
        );
        assert!(!sent.is_finished(), "{request:?} answered while waiting");
        demoting.commit().await.unwrap();
        let answer = sent.await.unwrap();
        refused_and_unchanged(answer, tenancy, scene, &member_before, request).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demotion_committed_before_the_lock_refuses_the_request_on_memory() {
    let store = InMemoryTenancyStore::new();
    // The same state without the hook: for the set-up, the demotion and the checks.
    let plain = Tenancy::new(store.clone());
    for request in Request::ALL {
        let scene = Scene::new(&plain).await;
        // The hook stands in for the concurrent transaction: the first time an actor-checked
        // write is about to take the store's lock, the demotion commits.
        let hooked_ops = Arc::new(Mutex::new(Vec::new()));
        let hooked = store.with_lock_hook({
            let (demoting, hooked_ops) = (store.clone(), hooked_ops.clone());
            move |op| {
                let (demoting, hooked_ops) = (demoting.clone(), hooked_ops.clone());
                Box::pin(async move {
                    let first = {
                        let mut ops = hooked_ops.lock().unwrap();
                        ops.push(op);
                        ops.len() == 1
                    };
                    if first {
                        demoting.change_role(scene.demotion()).await.unwrap();
                    }
                })
            }
        });
        let service = Service::start(AppState::on_memory(hooked)).await;
        admin_stands(&service, &plain, scene).await;
        let member_before = plain.get_membership(scene.member_mem, None).await.unwrap();

        let answer = request.send(&service, scene).await;
        assert_eq!(
            *hooked_ops.lock().unwrap(),
            [request.op()],
            "the hook ran once, before the request's write"
        );
        refused_and_unchanged(answer, &plain, scene, &member_before, request).await;
    }
}
