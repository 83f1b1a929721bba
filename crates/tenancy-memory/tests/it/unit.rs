//! Units of work on the memory store: calls through a unit commit as one, nobody else sees
//! them before, a unit dropped or rolled back leaves the store as it was, a unit that lost a
//! race with another write is refused at commit, and `in_unit` runs it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    AddMember, CreateOrg, ListOrgs, Role, Tenancy, TenancyStore, UNIT_ATTEMPTS,
};
use flametrench_tenancy_memory::{InMemoryTenancyStore, InMemoryUnit};

async fn users(store: &InMemoryTenancyStore, count: usize) -> Vec<UsrId> {
    let mut out = Vec::new();
    for _ in 0..count {
        let usr = UsrId::new();
        store.ensure_user(usr).await.expect("user");
        out.push(usr);
    }
    out
}

#[tokio::test]
async fn a_units_calls_commit_as_one_and_are_seen_only_then() {
    let store = InMemoryTenancyStore::new();
    let tenancy = Tenancy::new(store.clone());
    let [alice, bob] = users(&store, 2).await[..] else {
        unreachable!()
    };
    let before = store.snapshot();
    let unit = tenancy.begin().await.expect("begin");
    let org = unit
        .create_org(CreateOrg::new(alice))
        .await
        .expect("create")
        .org
        .id;
    unit.add_member(AddMember::new(org, bob, Role::Admin))
        .await
        .expect("add");
    // The unit sees its work; nobody else does.
    assert_eq!(unit.get_org(org).await.expect("the unit's own org").id, org);
    let outside = tenancy.get_org(org).await.expect_err("not yet committed");
    assert_eq!(outside.code(), "not_found");
    assert_eq!(store.snapshot(), before);
    let seen = unit
        .downcast_ref::<InMemoryUnit>()
        .expect("a memory unit")
        .snapshot();
    assert_eq!(seen.memberships.len(), before.memberships.len() + 2);
    unit.clone().commit().await.expect("commit");
    assert_eq!(tenancy.get_org(org).await.expect("committed").id, org);
    assert_eq!(
        tenancy
            .active_membership(org, bob)
            .await
            .expect("read")
            .map(|m| m.role),
        Some(Role::Admin)
    );
    assert!(store.snapshot().check_invariants().is_empty());
    // An ended unit takes no more calls.
    let error = unit.get_org(org).await.expect_err("ended");
    assert_eq!(error.code(), "storage.not_supported");
}

#[tokio::test]
async fn a_unit_dropped_or_rolled_back_leaves_the_store_as_it_was() {
    let store = InMemoryTenancyStore::new();
    let tenancy = Tenancy::new(store.clone());
    let [alice] = users(&store, 1).await[..] else {
        unreachable!()
    };
    tenancy
        .create_org(CreateOrg::new(alice))
        .await
        .expect("org");
    let before = store.snapshot();
    {
        let unit = tenancy.begin().await.expect("begin");
        unit.create_org(CreateOrg::new(alice))
            .await
            .expect("create");
    }
    assert_eq!(store.snapshot(), before, "a dropped unit");
    let unit = tenancy.begin().await.expect("begin");
    unit.create_org(CreateOrg::new(alice))
        .await
        .expect("create");
    unit.rollback().await.expect("rollback");
    assert_eq!(store.snapshot(), before, "a rolled-back unit");
}

#[tokio::test]
async fn a_unit_that_lost_a_race_is_refused_and_in_unit_runs_it_again() {
    let store = InMemoryTenancyStore::new();
    let tenancy = Tenancy::new(store.clone());
    let [alice, bob] = users(&store, 2).await[..] else {
        unreachable!()
    };
    // Another caller writes while a unit is open: the unit's commit is refused, retryably.
    let unit = tenancy.begin().await.expect("begin");
    unit.create_org(CreateOrg::new(alice))
        .await
        .expect("create");
    tenancy
        .create_org(CreateOrg::new(bob))
        .await
        .expect("another write");
    let error = unit.commit().await.expect_err("a lost race");
    assert_eq!(error.code(), "storage.retryable_conflict");
    assert!(error.needs_transaction_restart());
    assert_eq!(
        tenancy
            .list_orgs(ListOrgs::new())
            .await
            .expect("list")
            .data
            .len(),
        1,
        "the refused unit wrote nothing"
    );

    // in_unit: the first attempt loses the same race, the second commits.
    let attempts = Arc::new(AtomicU32::new(0));
    let org = tenancy
        .in_unit(|unit| {
            let (tenancy, attempts) = (tenancy.clone(), attempts.clone());
            async move {
                let org = unit.create_org(CreateOrg::new(alice)).await?.org;
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    tenancy.create_org(CreateOrg::new(bob)).await?;
                }
                Ok(org)
            }
        })
        .await
        .expect("the second attempt commits");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(tenancy.get_org(org.id).await.expect("committed").id, org.id);
    assert!(store.snapshot().check_invariants().is_empty());
}

#[tokio::test]
async fn in_unit_stops_at_an_error_that_running_again_cannot_cure() {
    let store = InMemoryTenancyStore::new();
    let tenancy = Tenancy::new(store.clone());
    let before = store.snapshot();
    let attempts = AtomicU32::new(0);
    let error = tenancy
        .in_unit(|unit| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async move { unit.create_org(CreateOrg::new(UsrId::new())).await }
        })
        .await
        .expect_err("an unknown creator");
    assert_eq!(error.code(), "not_found");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(store.snapshot(), before);

    // A unit that always loses its race gives up after the bounded attempts.
    let [alice] = users(&store, 1).await[..] else {
        unreachable!()
    };
    let attempts = AtomicU32::new(0);
    let error = tenancy
        .in_unit(|unit| {
            attempts.fetch_add(1, Ordering::SeqCst);
            let tenancy = tenancy.clone();
            async move {
                unit.create_org(CreateOrg::new(alice)).await?;
                tenancy.create_org(CreateOrg::new(alice)).await?;
                Ok(())
            }
        })
        .await
        .expect_err("never commits");
    assert_eq!(error.code(), "storage.retryable_conflict");
    assert_eq!(attempts.load(Ordering::SeqCst), UNIT_ATTEMPTS);
}
