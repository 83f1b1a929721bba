//! Single-org calls on Citus stay on the org's worker and commit in one phase, as Citus itself
//! reports: the two-phase commits it records (`pg_dist_transaction`, with its recovery paused so
//! that no record is cleared during the test), and the commands it sends to the nodes
//! (`citus.log_remote_commands`, read from the notices of a caller's connection). The same
//! calls without delegation to the org's worker are shown to fail both checks.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use flametrench_ids::{OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, AdminRemove, ChangeRole, CreateInvitation, CreateOrg,
    DeclineInvitation, Identifier, ListMembers, MemberAction, OrgAction, OrgName, Patch, PreTuple,
    RevokeInvitation, Role, SelfLeave, Slug, TenancyStore, TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{
    TestCitus, TestPostgres, Weakening, install_weakened_functions, weakened,
};
use futures_util::StreamExt;
use time::{Duration, OffsetDateTime};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::support::{Target, citus, citus_schema, or_skip};

/// What Citus did for each call: its name, the two-phase participants the coordinator
/// prepared for it, and those the workers prepared (a worker coordinates a two-phase commit of
/// its own when a statement it runs reaches other nodes).
type Prepared = Vec<(&'static str, i64, i64)>;

/// Runs every single-org write once, scoped to its org and actor-checked, plus the calls that
/// cross shards by nature, recording after each how many two-phase participants the store's
/// one connection left in `pg_dist_transaction`.
#[allow(clippy::too_many_lines)]
async fn prepared_per_call<S: TenancyStore>(
    store: &S,
    admin: &Client,
    workers: &[Client],
    pid: i32,
) -> Prepared {
    let mut seen = Vec::new();
    let count = || async {
        let coordinator = admin
            .query_one(
                "SELECT count(*) FROM pg_dist_transaction WHERE gid LIKE $1",
                &[&format!("citus\\_%\\_{pid}\\_%")],
            )
            .await
            .expect("pg_dist_transaction")
            .get::<_, i64>(0);
        let mut on_workers = 0;
        for worker in workers {
            on_workers += worker
                .query_one("SELECT count(*) FROM pg_dist_transaction", &[])
                .await
                .expect("a worker's pg_dist_transaction")
                .get::<_, i64>(0);
        }
        (coordinator, on_workers)
    };
    macro_rules! call {
        ($name:literal, $call:expr) => {{
            let before = count().await;
            let value = $call.await.expect($name);
            let after = count().await;
            seen.push(($name, after.0 - before.0, after.1 - before.1));
            value
        }};
    }
    let (alice, bob, carol, dave) = (UsrId::new(), UsrId::new(), UsrId::new(), UsrId::new());
    call!("ensure_user", store.ensure_user(alice));
    for user in [bob, carol, dave] {
        store.ensure_user(user).await.expect("a user");
    }
    let created = call!("create_org", store.create_org(CreateOrg::new(alice)));
    let org = created.org.id;
    call!(
        "create_org with a slug",
        store.create_org(CreateOrg::new(alice).slug(Slug::new(format!("r{pid}")).expect("slug")))
    );
    call!(
        "update_org",
        store.update_org(
            UpdateOrg::new(org)
                .name(Patch::Set(OrgName::new("Acme").expect("name")))
                .by(alice)
        )
    );
    let bob_mem = call!(
        "add_member",
        store.add_member(AddMember::new(org, bob, Role::Member).by(alice))
    );
    let dave_mem = call!(
        "add_member",
        store.add_member(AddMember::new(org, dave, Role::Member))
    );
    let bob_mem = call!(
        "change_role",
        store.change_role(
            ChangeRole::new(bob_mem.id, Role::Admin)
                .in_org(org)
                .by(alice)
        )
    );
    call!(
        "suspend_membership",
        store.suspend_membership(MemberAction::new(bob_mem.id).in_org(org).by(alice))
    );
    call!(
        "reinstate_membership",
        store.reinstate_membership(MemberAction::new(bob_mem.id).in_org(org).by(alice))
    );
    let expires = OffsetDateTime::now_utc() + Duration::days(1);
    let identifier = Identifier::new("carol@example.com").expect("identifier");
    // Carol's invitations: one to accept, one to decline, one to revoke.
    let invite = || {
        CreateInvitation::new(org, identifier.clone(), Role::Member, alice, expires)
            .expect("invitation input")
    };
    let invitation = call!("create_invitation", store.create_invitation(invite()));
    let declined = store
        .create_invitation(invite())
        .await
        .expect("a second invitation");
    call!(
        "decline_invitation",
        store.decline_invitation(
            DeclineInvitation::new(declined.id)
                .in_org(org)
                .by(carol)
                .bound_to(identifier.clone())
        )
    );
    let revoked = store
        .create_invitation(invite())
        .await
        .expect("a third invitation");
    call!(
        "revoke_invitation",
        store.revoke_invitation(RevokeInvitation::new(revoked.id, alice).in_org(org))
    );
    call!(
        "accept_invitation",
        store.accept_invitation(
            AcceptInvitation::as_user(invitation.id, carol, identifier.clone()).in_org(org)
        )
    );
    let erin = UsrId::new();
    store.ensure_user(erin).await.expect("erin");
    let erins = Identifier::new("erin@example.com").expect("identifier");
    let elsewhere = store
        .create_invitation(
            CreateInvitation::new(org, erins.clone(), Role::Member, alice, expires)
                .expect("invitation input")
                .pre_tuples([PreTuple::new(
                    "editor",
                    "proj",
                    "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa",
                )
                .expect("a pre-tuple")])
                .expect("pre-tuples"),
        )
        .await
        .expect("an invitation with a pre-tuple on a project");
    call!(
        "accept_invitation with a pre-tuple elsewhere",
        store.accept_invitation(AcceptInvitation::as_user(elsewhere.id, erin, erins).in_org(org))
    );
    call!(
        "admin_remove",
        store.admin_remove(AdminRemove::new(dave_mem.id, bob).in_org(org))
    );
    let moved = call!(
        "transfer_ownership",
        store.transfer_ownership(
            TransferOwnership::new(org, created.owner_membership.id, bob_mem.id).by(alice)
        )
    );
    call!(
        "self_leave",
        store.self_leave(
            SelfLeave::new(moved.from_membership.id)
                .in_org(org)
                .by(alice)
        )
    );
    call!(
        "suspend_org",
        store.suspend_org(OrgAction::new(org).by(bob))
    );
    call!(
        "reinstate_org",
        store.reinstate_org(OrgAction::new(org).by(bob))
    );
    call!("revoke_org", store.revoke_org(OrgAction::new(org).by(bob)));
    seen
}

/// The calls that cross shards by nature (`DISTRIBUTED.md`, "What it costs").
const CROSS_SHARD: [&str; 3] = [
    "ensure_user",
    "create_org with a slug",
    "accept_invitation with a pre-tuple elsewhere",
];

/// Pauses Citus's recovery of two-phase commits on every node, which clears the records of
/// committed ones, until dropped.
struct RecoveryPaused(Vec<Client>);

impl RecoveryPaused {
    async fn new(cluster: &TestCitus) -> Self {
        let mut clients = Vec::new();
        for config in cluster.node_configs() {
            let client = TestPostgres::connect(&config).await.expect("a connection");
            // ALTER SYSTEM runs alone, outside any transaction block.
            client
                .batch_execute("ALTER SYSTEM SET citus.recover_2pc_interval = -1")
                .await
                .expect("pause recovery");
            client
                .batch_execute("SELECT pg_reload_conf()")
                .await
                .expect("reload");
            clients.push(client);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Self(clients)
    }
}

impl Drop for RecoveryPaused {
    fn drop(&mut self) {
        let reset = async {
            for client in &self.0 {
                let _ = client
                    .batch_execute("ALTER SYSTEM RESET citus.recover_2pc_interval")
                    .await;
                let _ = client.batch_execute("SELECT pg_reload_conf()").await;
            }
        };
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(reset));
    }
}

/// The calls over a pool of one connection, as `prepared_per_call`.
async fn over_a_pool(cluster: &TestCitus, weakening: Option<Weakening>) -> Prepared {
    let target = Target::Citus(cluster.fresh_schema().await.expect("a distributed schema"));
    let Target::Citus(schema) = &target else {
        unreachable!("a Citus target");
    };
    if let Some(weakening) = weakening {
        let mut client = target.connect().await;
        install_weakened_functions(&mut client, schema.name(), weakening)
            .await
            .expect("the weakened store's functions");
    }
    let mut workers = Vec::new();
    for config in cluster.node_configs().iter().skip(1) {
        workers.push(TestPostgres::connect(config).await.expect("a worker"));
    }
    let pool = target.pool(1);
    let pid: i32 = pool
        .get()
        .await
        .expect("the pool's connection")
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("its pid")
        .get(0);
    let store = target.adapt(PostgresTenancyStore::new(pool));
    let store = match weakening {
        Some(weakening) => weakened(store, schema.name(), weakening),
        None => store,
    };
    let admin = cluster.connect().await.expect("a connection");
    prepared_per_call(&store, &admin, &workers, pid).await
}

/// A cluster of this test's own: a worker's two-phase records are counted node-wide, so no
/// other test may write there. With `CITUS_URL` the cluster is shared and only the
/// coordinator's records (filtered by the store's backend) are counted.
async fn own_cluster() -> Option<TestCitus> {
    or_skip(TestCitus::start().await)
}

/// The single-org calls that the checks below are shown to catch when weakened.
const CAUGHT: [&str; 4] = [
    "create_org",
    "add_member",
    "change_role",
    "transfer_ownership",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_org_writes_commit_in_one_phase_on_one_worker_on_citus() {
    let Some(cluster) = own_cluster().await else {
        return;
    };
    let counts_workers = cluster.node_configs().len() > 1;
    if !counts_workers {
        eprintln!("the workers of CITUS_URL's cluster are not counted");
    }
    let _paused = RecoveryPaused::new(&cluster).await;
    let seen = over_a_pool(&cluster, None).await;
    for (call, prepared, on_workers) in &seen {
        if CROSS_SHARD.contains(call) {
            assert!(*prepared > 0, "{call} crosses shards: {seen:?}");
        } else {
            assert_eq!(*prepared, 0, "{call} committed in two phases: {seen:?}");
            assert_eq!(*on_workers, 0, "{call} left its worker: {seen:?}");
        }
    }
    // The check catches two-phase commits: without delegation, Citus commits each write that
    // has an `INSERT` in a CTE in two phases.
    let undelegated = over_a_pool(&cluster, Some(Weakening::Undelegated)).await;
    let two_phase: Vec<&str> = undelegated
        .iter()
        .filter(|(call, prepared, _)| *prepared > 0 && !CROSS_SHARD.contains(call))
        .map(|(call, _, _)| *call)
        .collect();
    for call in CAUGHT {
        assert!(two_phase.contains(&call), "{call}: {undelegated:?}");
    }
    // And the workers' own: delegated, but planned by Citus on the worker, those writes copy
    // their CTEs' intermediate results to every node, in a commit the worker runs in two
    // phases.
    if counts_workers {
        let planned = over_a_pool(&cluster, Some(Weakening::ThroughCitusPlanner)).await;
        let left: Vec<&str> = planned
            .iter()
            .filter(|(call, _, on_workers)| *on_workers > 0 && !CROSS_SHARD.contains(call))
            .map(|(call, _, _)| *call)
            .collect();
        for call in CAUGHT {
            assert!(left.contains(&call), "{call}: {planned:?}");
        }
    }
}

/// The nodes a caller's connection sent commands to, and whether it prepared any: what Citus
/// reports through `citus.log_remote_commands`.
#[derive(Debug, Default)]
struct Remote {
    servers: BTreeSet<String>,
    prepared: bool,
    /// The commands that name the store's schema: its statements and function calls, not the
    /// transaction's own (`BEGIN`, savepoints, `COMMIT`).
    statements: Vec<String>,
}

/// A connection whose notices are collected.
async fn noting(target: &Target) -> (Client, Arc<Mutex<Vec<String>>>) {
    let Target::Citus(schema) = target else {
        unreachable!("a Citus target");
    };
    let (client, mut connection) = schema.config().connect(NoTls).await.expect("connect");
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&notices);
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                let line = format!("{} | {}", notice.message(), notice.detail().unwrap_or(""));
                sink.lock().expect("notices").push(line);
            }
        }
    });
    client
        .batch_execute("SET citus.log_remote_commands = on")
        .await
        .expect("log remote commands");
    (client, notices)
}

/// What the notices since `from` say of the commands sent for the store's schema `schema`.
fn remote(notices: &Mutex<Vec<String>>, from: usize, schema: &str) -> Remote {
    let notices = notices.lock().expect("notices");
    let mut remote = Remote::default();
    for line in &notices[from..] {
        if let Some(server) = line.split("on server ").nth(1) {
            let server = server.split_whitespace().next().unwrap_or_default();
            remote.servers.insert(server.to_owned());
            if line.contains(schema) {
                remote.statements.push(line.clone());
            }
        }
        remote.prepared |= line.contains("PREPARE TRANSACTION");
    }
    remote
}

/// One call in a caller's transaction of its own on the noting connection: what Citus sent.
macro_rules! in_own_transaction {
    ($client:expr, $notices:expr, $target:expr, $weakening:expr, |$store:ident| $call:expr) => {{
        let from = $notices.lock().expect("notices").len();
        let mut tx = $client.transaction().await.expect("begin");
        {
            let $store = $target.adapt(PostgresTenancyStore::in_transaction(&mut tx));
            let $store = match ($weakening, &$target) {
                (Some(weakening), Target::Citus(schema)) => {
                    weakened($store, schema.name(), weakening)
                }
                _ => $store,
            };
            $call.await.expect("the call");
        }
        tx.commit().await.expect("commit");
        let Target::Citus(schema) = &$target else {
            unreachable!("a Citus target");
        };
        remote(&$notices, from, schema.name())
    }};
}

/// A fresh distributed schema on `cluster` with two users and an org the first owns, made
/// through a pool store: the schema, that store, the users and the org.
async fn two_users_and_an_org(
    cluster: &TestCitus,
) -> (
    Target,
    PostgresTenancyStore<'static, 'static>,
    [UsrId; 2],
    OrgId,
) {
    let target = citus_schema(cluster).await;
    let setup = target.adapt(PostgresTenancyStore::new(target.pool(2)));
    let users = [UsrId::new(), UsrId::new()];
    for user in users {
        setup.ensure_user(user).await.expect("a user");
    }
    let org = setup
        .create_org(CreateOrg::new(users[0]))
        .await
        .expect("an org")
        .org
        .id;
    (target, setup, users, org)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_org_calls_in_a_callers_transaction_reach_one_worker_on_citus() {
    let Some(cluster) = citus().await else {
        return;
    };
    for weakening in [None, Some(Weakening::Undelegated)] {
        let (target, setup, [alice, bob], org) = two_users_and_an_org(&cluster).await;
        let (mut client, notices) = noting(&target).await;
        let added = in_own_transaction!(client, notices, target, weakening, |store| store
            .add_member(AddMember::new(org, bob, Role::Member).by(alice)));
        let mem = setup
            .active_membership(org, bob)
            .await
            .expect("read")
            .expect("bob's membership")
            .id;
        let changed = in_own_transaction!(client, notices, target, weakening, |store| store
            .change_role(ChangeRole::new(mem, Role::Admin).in_org(org).by(alice)));
        let read = in_own_transaction!(client, notices, target, weakening, |store| store
            .org_access(org, bob));
        let listed = in_own_transaction!(client, notices, target, weakening, |store| store
            .list_members(ListMembers::new(org)));
        for (call, remote) in [
            ("add_member", &added),
            ("change_role", &changed),
            ("org_access", &read),
            ("list_members", &listed),
        ] {
            if weakening.is_none() {
                assert_eq!(remote.servers.len(), 1, "{call}: {remote:?}");
                assert!(!remote.prepared, "{call}: {remote:?}");
            }
        }
        if weakening.is_some() {
            // Without delegation the writes are planned through the coordinator and committed
            // in two phases: the check sees it.
            assert!(added.prepared && changed.prepared, "{added:?} {changed:?}");
        }
    }
}

/// An invitation's ending (a revocation, a checked decline) is one command to the org's worker
/// on Citus: the function of its facts form, which takes the org's lock, writes and returns
/// what its guard saw. The actor's read goes to the `usr` reference table. Without the
/// functions, the same calls send the org's lock, the write and its context apart: the count
/// sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_ending_is_one_command_to_its_worker_on_citus() {
    let Some(cluster) = citus().await else {
        return;
    };
    for weakening in [None, Some(Weakening::Undelegated)] {
        let (target, setup, [alice, carol], org) = two_users_and_an_org(&cluster).await;
        let expires = OffsetDateTime::now_utc() + Duration::days(1);
        let identifier = Identifier::new("carol@example.com").expect("identifier");
        let mut invitations = Vec::new();
        for _ in 0..2 {
            let input =
                CreateInvitation::new(org, identifier.clone(), Role::Member, alice, expires)
                    .expect("invitation input");
            invitations.push(
                setup
                    .create_invitation(input)
                    .await
                    .expect("an invitation")
                    .id,
            );
        }
        let (mut client, notices) = noting(&target).await;
        let revoked = in_own_transaction!(client, notices, target, weakening, |store| store
            .revoke_invitation(RevokeInvitation::new(invitations[0], alice).in_org(org)));
        let declined = in_own_transaction!(client, notices, target, weakening, |store| store
            .decline_invitation(
                DeclineInvitation::new(invitations[1])
                    .in_org(org)
                    .by(carol)
                    .bound_to(identifier.clone())
            ));
        for (call, remote) in [
            ("revoke_invitation", &revoked),
            ("decline_invitation", &declined),
        ] {
            // The actor's read, which Citus answers from the coordinator's copy of the
            // reference table when the coordinator is in its metadata (as on the test's
            // cluster), and sends to a worker otherwise.
            let (user_reads, to_workers): (Vec<&String>, Vec<&String>) = remote
                .statements
                .iter()
                .partition(|line| line.contains("issuing SELECT 1 FROM") && line.contains(".usr"));
            if weakening.is_none() {
                assert!(user_reads.len() <= 1, "{call}: {remote:#?}");
                assert_eq!(to_workers.len(), 1, "{call}: {remote:#?}");
                assert!(
                    to_workers[0].contains("ft_end_invitation_facts"),
                    "{call}: {remote:#?}"
                );
                assert!(!remote.prepared, "{call}: {remote:?}");
            } else {
                assert!(to_workers.len() >= 3, "{call}: {remote:#?}");
            }
        }
    }
}
