//! Lock and statement timeouts firing inside an operation: a typed retryable error, no partial
//! effect, and a caller's transaction that stays usable.

use flametrench_tenancy_core::{
    AddMember, CreateOrg, MembershipStatus, Role, TenancyError, TenancyStore,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::violations;

use crate::support::{database, server, users};
use flametrench_tenancy_core::ChangeRole;

#[tokio::test]
async fn timeouts_are_typed_and_leave_nothing_behind() {
    let server = server().await;
    let db = database(&server).await;
    let setup = PostgresTenancyStore::new(db.pool(2).expect("pool"));
    let [alice, bob] = users(&setup, 2).await[..] else {
        unreachable!()
    };
    let org = setup
        .create_org(CreateOrg::new(alice))
        .await
        .expect("org")
        .org
        .id;
    let member = setup
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("member");

    // Another session holds the org row.
    let mut blocker = db.connect().await.expect("blocker");
    let hold = blocker.transaction().await.expect("begin");
    hold.execute(
        "SELECT 1 FROM org WHERE id = $1 FOR UPDATE",
        &[&org.as_uuid()],
    )
    .await
    .expect("lock the org");

    for (setting, kind) in [
        ("lock_timeout", "lock_timeout"),
        ("statement_timeout", "statement_timeout"),
    ] {
        // A pool whose sessions time out: retried, then reported as retryable.
        let mut config = db.config();
        config.options(format!("-c {setting}=50"));
        let pool = flametrench_tenancy_postgres::testing::pool_for(config, 1).expect("pool");
        let store = PostgresTenancyStore::new(pool);
        let error = store
            .change_role(ChangeRole::new(member.id, Role::Admin))
            .await
            .expect_err("blocked");
        match &error {
            TenancyError::RetryableConflict { kind: found, .. } => assert_eq!(found.as_str(), kind),
            other => panic!("{setting}: expected a retryable conflict, got {other:?}"),
        }
        assert!(error.is_retryable());

        // Inside a caller's transaction: the savepoint is rolled back, the transaction lives on.
        let mut client = db.connect().await.expect("client");
        let mut tx = client.transaction().await.expect("begin");
        tx.batch_execute(&format!("SET LOCAL {setting} = '50ms'"))
            .await
            .expect("set timeout");
        {
            let nested = PostgresTenancyStore::in_transaction(&mut tx);
            let error = nested
                .change_role(ChangeRole::new(member.id, Role::Admin))
                .await
                .expect_err("blocked");
            assert_eq!(
                error.code(),
                "storage.retryable_conflict",
                "nested {setting}: {error:?}"
            );
        }
        tx.batch_execute("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0")
            .await
            .expect("usable");
        tx.query_one("SELECT 1", &[]).await.expect("still usable");
        tx.commit().await.expect("commit");
    }

    drop(hold);
    let unchanged = setup
        .get_membership(member.id, None)
        .await
        .expect("membership");
    assert_eq!(
        (unchanged.status, unchanged.role),
        (MembershipStatus::Active, Role::Member)
    );
    let checker = db.connect().await.expect("checker");
    assert_eq!(
        violations(&checker).await.expect("invariants"),
        Vec::<String>::new()
    );
    setup
        .change_role(ChangeRole::new(member.id, Role::Admin))
        .await
        .expect("works once the lock is gone");
}
