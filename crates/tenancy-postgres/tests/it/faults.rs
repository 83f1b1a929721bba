//! Cancellation and cut connections: no partial effect, typed errors, and the pool recovers.

use std::time::Duration;

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{AddMember, CreateOrg, Role, TenancyStore};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::PgProxy;

use crate::support::{database, server, users};
use flametrench_tenancy_core::ChangeRole;
use flametrench_tenancy_postgres::testing::{INVARIANT_QUERIES, InvariantChecker, violations};

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect("count").get(0)
}

#[tokio::test]
async fn dropped_futures_leave_no_partial_effect() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    let pool = db.pool(2).expect("pool");
    let store = PostgresTenancyStore::new(pool);
    let [alice, bob] = users(&store, 2).await[..] else {
        unreachable!()
    };
    let org = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("org")
        .org
        .id;
    let bob_mem = store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("bob")
        .id;
    // Drop change_role at many points of its flight.
    for micros in [0_u64, 50, 100, 200, 400, 800, 1600, 3200] {
        let current = store
            .list_members(
                flametrench_tenancy_core::ListMembers::new(org)
                    .status(flametrench_tenancy_core::MembershipStatus::Active),
            )
            .await
            .expect("list")
            .data
            .into_iter()
            .find(|member| member.usr_id == bob)
            .expect("bob is active")
            .id;
        let _ = tokio::time::timeout(
            Duration::from_micros(micros),
            store.change_role(ChangeRole::new(current, Role::Admin)),
        )
        .await;
        assert_eq!(
            violations(&observer).await.expect("invariant queries"),
            Vec::<String>::new(),
            "after dropping at {micros}µs"
        );
    }
    // The pool still works afterwards.
    store
        .change_role(ChangeRole::new(bob_mem, Role::Guest))
        .await
        .ok();
    store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("pool usable");

    // Nested: a dropped call is rolled back to its savepoint; the caller can commit the rest.
    let mut client = db.connect().await.expect("client");
    let mut tx = client.transaction().await.expect("begin");
    {
        let nested = PostgresTenancyStore::in_transaction(&mut tx);
        let carol = UsrId::new();
        nested.ensure_user(carol).await.expect("carol");
        let _ = tokio::time::timeout(
            Duration::from_micros(1),
            nested.create_org(CreateOrg::new(carol)),
        )
        .await;
        nested
            .create_org(CreateOrg::new(carol))
            .await
            .expect("after a dropped call");
    }
    tx.commit().await.expect("commit");
    assert_eq!(
        violations(&observer).await.expect("invariant queries"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_cut_connection_gives_a_typed_outcome_and_the_pool_recovers() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    let proxy = PgProxy::start(&db.config()).await.expect("proxy");
    let pool = flametrench_tenancy_postgres::testing::pool_for(proxy.config_for(&db.config()), 2)
        .expect("pool");
    let store = PostgresTenancyStore::new(pool);
    let [alice] = users(&store, 1).await[..] else {
        unreachable!()
    };
    let mut cuts = 0;
    for k in 0..12_u64 {
        let extra = UsrId::new();
        store.ensure_user(extra).await.expect("user");
        let org = store
            .create_org(CreateOrg::new(alice))
            .await
            .expect("org")
            .org
            .id;
        proxy.cut_after_client_messages(Some(k));
        let result = store
            .add_member(AddMember::new(org, extra, Role::Admin))
            .await;
        let changed = proxy.did_cut();
        proxy.cut_after_client_messages(None);
        cuts += usize::from(changed);
        match &result {
            // Retried on a fresh connection, or the cut came after the answer.
            Ok(_) => {}
            Err(error) => assert!(
                matches!(
                    error.code(),
                    "storage.connection_lost" | "storage.commit_outcome_unknown"
                ),
                "typed error expected, got {error:?}"
            ),
        }
        let rows = count(
            &observer,
            &format!(
                "SELECT count(*) FROM mem WHERE org_id = '{}'",
                org.as_uuid()
            ),
        )
        .await;
        assert!(rows == 1 || rows == 2, "all or nothing: {rows}");
        if result.is_ok() {
            assert_eq!(rows, 2);
        }
        assert_eq!(
            violations(&observer).await.expect("invariant queries"),
            Vec::<String>::new()
        );
        store.get_org(org).await.expect("the next call succeeds");
    }
    assert!(cuts > 0, "the proxy cut at least one call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_recovers_from_a_server_restart() {
    let server = std::sync::Arc::new(server().await);
    if server.cluster_dir().is_none() {
        eprintln!(
            "NOTICE: restart test needs a throwaway cluster; DATABASE_URL is set, so it only checks recovery after no restart"
        );
    }
    let db = database(&server).await;
    let store = std::sync::Arc::new(PostgresTenancyStore::new(db.pool(4).expect("pool")));
    let [alice] = users(&*store, 1).await[..] else {
        unreachable!()
    };
    let org = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("org")
        .org
        .id;
    let deadline = std::time::Instant::now() + Duration::from_millis(2500);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            while std::time::Instant::now() < deadline {
                let user = UsrId::new();
                let result = async {
                    store.ensure_user(user).await?;
                    let member = store
                        .add_member(AddMember::new(org, user, Role::Member))
                        .await?;
                    store
                        .change_role(ChangeRole::new(member.id, Role::Admin))
                        .await
                }
                .await;
                if let Err(error) = result {
                    codes.push(error.code());
                }
            }
            codes
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if server.cluster_dir().is_some() {
        let restarting = server.clone();
        tokio::task::spawn_blocking(move || restarting.restart())
            .await
            .expect("restart task")
            .expect("restart");
    }
    let mut codes = Vec::new();
    for worker in workers {
        codes.extend(worker.await.expect("worker"));
    }
    for code in &codes {
        assert!(
            matches!(
                *code,
                "storage.connection_lost"
                    | "storage.commit_outcome_unknown"
                    | "storage.retryable_conflict"
            ),
            "untyped or unexpected error during the restart: {code}"
        );
    }
    eprintln!("errors seen across the restart: {codes:?}");
    // The same store, without restarting the process, works again.
    let mut recovered = false;
    for _ in 0..50 {
        if store.get_org(org).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store did not recover after the restart");
    // Pooled connections broken by the restart are discarded as they are met; a write goes
    // through within a few calls (each call already retries on a lost connection).
    let mut written = Err(String::new());
    for _ in 0..10 {
        match store.create_org(CreateOrg::new(alice)).await {
            Ok(_) => {
                written = Ok(());
                break;
            }
            Err(error) => written = Err(format!("{error:?}")),
        }
    }
    assert_eq!(written, Ok(()), "writes work again");
    let checked = InvariantChecker::new(db)
        .check()
        .await
        .expect("the invariant check completes");
    assert_eq!(checked.violations, Vec::<String>::new());
}

/// The invariant checker of the stress runs meets a server restart in the middle of a check,
/// every time (the restart is done from inside the check, after its third query): it must not
/// panic, it reconnects, checks again from the start, and reports what it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariant_checker_survives_a_restart_in_the_middle_of_a_check() {
    let server = std::sync::Arc::new(server().await);
    if server.cluster_dir().is_none() {
        eprintln!(
            "NOTICE: the forced-restart check needs a throwaway cluster; DATABASE_URL is set"
        );
        return;
    }
    let db = database(&server).await;
    let store = PostgresTenancyStore::new(db.pool(2).expect("pool"));
    let [alice] = users(&store, 1).await[..] else {
        unreachable!()
    };
    store.create_org(CreateOrg::new(alice)).await.expect("org");
    let mut checker = InvariantChecker::new(db.clone());
    let restarted = std::sync::atomic::AtomicBool::new(false);
    let checked = checker
        .check_with(|attempt, query| {
            let server = server.clone();
            let due = attempt == 1 && query == 2;
            let restarted = &restarted;
            async move {
                if due {
                    tokio::task::spawn_blocking(move || server.restart())
                        .await
                        .expect("restart task")
                        .expect("restart");
                    restarted.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
        .await
        .expect("the check completes after the restart");
    assert!(restarted.load(std::sync::atomic::Ordering::Relaxed));
    assert!(
        checked.attempts >= 2,
        "the first attempt was cut by the restart: {checked:?}"
    );
    assert_eq!(checked.violations, Vec::<String>::new());
    const {
        assert!(
            INVARIANT_QUERIES > 3,
            "the restart lands before the last query"
        )
    };

    // A check that can never complete fails, naming the cause, instead of passing or panicking.
    drop(store);
    drop(std::sync::Arc::into_inner(server).expect("the last handle on the server"));
    let mut doomed = InvariantChecker::new(db).with_budget(Duration::from_millis(300));
    let error = doomed
        .check()
        .await
        .expect_err("no server: the check must fail");
    assert!(
        error.to_string().contains("invariant check failed"),
        "{error}"
    );
}
