//! The window between an authority check and its write: an actor-checked write decides its
//! actor's authority under the org's lock, so a demotion that commits while the write waits for
//! that lock is seen, and the write is refused. Under the weakening that reads the actor before
//! the lock is granted, the same scenario lets the demoted admin's write through: the test
//! catches it.
//!
//! No timing decides the outcome: the demoting transaction holds the org's lock until the test
//! sees the write waiting for it in `pg_stat_activity`, and only then commits.

use std::time::{Duration, Instant};

use flametrench_tenancy_core::{
    AddMember, ChangeRole, CreateOrg, MemberAction, Membership, MembershipStatus, Result, Role,
    TenancyStore,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, Weakening, weakened};

use crate::support::{database, server, users};

/// How the actor-checked write runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// On a pool: its own transaction.
    Pool,
    /// Inside a caller's READ COMMITTED transaction, in a savepoint.
    Nested,
}

/// Which actor-checked write the demoted admin attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Suspends a member, scoped to the org (the lock taken by the org's id).
    SuspendScoped,
    /// Changes a member's role, unscoped (the lock taken through the membership's row).
    ChangeRoleUnscoped,
}

fn maybe_weakened<'t, 'c>(
    store: PostgresTenancyStore<'t, 'c>,
    weakening: Option<Weakening>,
) -> PostgresTenancyStore<'t, 'c> {
    match weakening {
        Some(weakening) => weakened(store, "public", weakening),
        None => store,
    }
}

async fn attempt(
    store: &PostgresTenancyStore<'_, '_>,
    write: Write,
    (org, member, admin): (
        flametrench_ids::OrgId,
        flametrench_ids::MemId,
        flametrench_ids::UsrId,
    ),
) -> Result<Membership> {
    match write {
        Write::SuspendScoped => {
            store
                .suspend_membership(MemberAction::new(member).in_org(org).by(admin))
                .await
        }
        Write::ChangeRoleUnscoped => {
            store
                .change_role(ChangeRole::new(member, Role::Guest).by(admin))
                .await
        }
    }
}

/// Waits until a backend of this database waits on a lock; false at the deadline.
async fn someone_waits_on_a_lock(checker: &tokio_postgres::Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let row = checker
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'active' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        if row.get::<_, i64>(0) > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// An owner demotes an admin in an open transaction (which holds the org's lock); the admin's
/// actor-checked write on a member starts and waits; the demotion commits. Returns the write's
/// result and the member's row afterwards.
async fn demotion_during_the_write(
    db: &TestDatabase,
    mode: Mode,
    write: Write,
    weakening: Option<Weakening>,
) -> (Result<Membership>, Membership) {
    let setup = PostgresTenancyStore::new(db.pool(1).expect("pool"));
    let [owner, admin, member] = users(&setup, 3).await[..] else {
        unreachable!()
    };
    let org = setup
        .create_org(CreateOrg::new(owner))
        .await
        .expect("org")
        .org
        .id;
    let admin_mem = setup
        .add_member(AddMember::new(org, admin, Role::Admin))
        .await
        .expect("admin")
        .id;
    let member_mem = setup
        .add_member(AddMember::new(org, member, Role::Member))
        .await
        .expect("member")
        .id;
    let checker = db.connect().await.expect("checker");

    let mut demoting_client = db.connect().await.expect("client");
    let mut demoting = demoting_client.transaction().await.expect("begin");
    PostgresTenancyStore::in_transaction(&mut demoting)
        .change_role(ChangeRole::new(admin_mem, Role::Member).by(owner))
        .await
        .expect("the owner demotes the admin");

    let target = (org, member_mem, admin);
    let pool = db.pool(2).expect("pool");
    let mut caller_client = db.connect().await.expect("client");
    let result = {
        let attempt = async {
            match mode {
                Mode::Pool => {
                    let store = maybe_weakened(PostgresTenancyStore::new(pool), weakening);
                    attempt(&store, write, target).await
                }
                Mode::Nested => {
                    let mut tx = caller_client.transaction().await.expect("begin");
                    let result = {
                        let store = maybe_weakened(
                            PostgresTenancyStore::in_transaction(&mut tx),
                            weakening,
                        );
                        attempt(&store, write, target).await
                    };
                    tx.commit().await.expect("the caller commits");
                    result
                }
            }
        };
        let commit_when_waiting = async {
            let waited = someone_waits_on_a_lock(&checker).await;
            demoting.commit().await.expect("the demotion commits");
            waited
        };
        let (result, waited) = tokio::join!(attempt, commit_when_waiting);
        assert!(
            waited,
            "{mode:?} {write:?} {weakening:?}: the write never waited for the org's lock"
        );
        result
    };
    let after = setup
        .get_membership(member_mem, None)
        .await
        .expect("the member's row");
    (result, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demotion_committed_while_the_write_waits_refuses_it() {
    let server = server().await;
    for mode in [Mode::Pool, Mode::Nested] {
        for write in [Write::SuspendScoped, Write::ChangeRoleUnscoped] {
            let db = database(&server).await;
            let (result, after) = demotion_during_the_write(&db, mode, write, None).await;
            let error = result.expect_err("the demoted admin's write is refused");
            assert_eq!(error.code(), "forbidden", "{mode:?} {write:?}: {error:?}");
            assert_eq!(after.status, MembershipStatus::Active, "{mode:?} {write:?}");
            assert_eq!(after.role, Role::Member, "{mode:?} {write:?}");
        }
    }
}

/// The same scenario with the actor read before the lock: the demoted admin's write goes
/// through. This is what the test above is there to catch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_test_fails_when_the_actor_is_read_before_the_lock() {
    let server = server().await;
    for mode in [Mode::Pool, Mode::Nested] {
        for write in [Write::SuspendScoped, Write::ChangeRoleUnscoped] {
            let db = database(&server).await;
            let (result, after) =
                demotion_during_the_write(&db, mode, write, Some(Weakening::ActorBeforeLock)).await;
            if let Err(error) = result {
                panic!(
                    "{mode:?} {write:?}: the weakened store should let the write through: {error:?}"
                );
            }
            // Suspended, or revoked and replaced by the new role's row.
            assert_ne!(after.status, MembershipStatus::Active, "{mode:?} {write:?}");
        }
    }
}
