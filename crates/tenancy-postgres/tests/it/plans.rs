//! Plan shapes: statements prepared, and their generic plans cached, while the tables were
//! nearly empty keep using indexes once the tables have grown. Counted with the server's
//! per-table sequential-scan counters, not timed.

use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, ListMembers, PreTuple,
    Role, TenancyStore, TransferOwnership,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use time::{Duration, OffsetDateTime};
use tokio_postgres::Client;

use crate::support::{database, server, users};

/// Every write that touches memberships or tuples, and a keyset page with a cursor.
async fn round<S: TenancyStore>(store: &S) {
    let people = users(store, 5).await;
    let created = store
        .create_org(CreateOrg::new(people[0]))
        .await
        .expect("create_org");
    let org = created.org.id;
    let mut members = Vec::new();
    for person in &people[1..4] {
        members.push(
            store
                .add_member(AddMember::new(org, *person, Role::Member))
                .await
                .expect("add_member"),
        );
    }
    let admin = store
        .change_role(members[0].id, Role::Admin)
        .await
        .expect("change_role");
    store
        .suspend_membership(members[1].id)
        .await
        .expect("suspend");
    store
        .reinstate_membership(members[1].id)
        .await
        .expect("reinstate");
    store
        .admin_remove(members[1].id, people[0])
        .await
        .expect("admin_remove");
    let moved = store
        .transfer_ownership(TransferOwnership::new(
            org,
            created.owner_membership.id,
            admin.id,
        ))
        .await
        .expect("transfer");
    store
        .self_leave(moved.from_membership.id, None)
        .await
        .expect("self_leave");
    let identifier = Identifier::new("plans@example.com").expect("identifier");
    let grant =
        PreTuple::new("viewer", "doc", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa").expect("pre-tuple");
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                org,
                identifier.clone(),
                Role::Member,
                people[0],
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation input")
            .pre_tuples([grant])
            .expect("pre_tuples"),
        )
        .await
        .expect("invite");
    store
        .accept_invitation(AcceptInvitation::as_user(
            invitation.id,
            people[4],
            identifier,
        ))
        .await
        .expect("accept");
    let first = store
        .list_members(ListMembers::new(org).limit(2))
        .await
        .expect("first page");
    store
        .list_members(ListMembers::new(org).limit(2).cursor(first.next_cursor))
        .await
        .expect("second page");
}

/// Sequential scans so far of `mem`, `tup` and `inv`.
async fn seq_scans(checker: &Client) -> Vec<(String, i64)> {
    checker
        .query(
            "SELECT relname::text, seq_scan FROM pg_stat_user_tables \
             WHERE relname IN ('mem', 'tup', 'inv') ORDER BY relname",
            &[],
        )
        .await
        .expect("scan counters")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

// Open finding: with the fixes of spec/postgres.md ("Statements per write") no statement
// scans `tup` or `inv`, but one sequential scan of `mem` appears in the third round after the
// growth (none in the warm-up rounds or the first two after). Which statement it is, and why it
// appears only then, is not known yet; run with `-- --ignored plans --nocapture`.
#[ignore = "open finding: one sequential scan of mem appears in the third round after growth"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_made_on_small_tables_use_indexes_after_growth() {
    let server = server().await;
    let db = database(&server).await;
    let checker = db.connect().await.expect("checker");
    let has_flush = checker
        .query_one(
            "SELECT to_regproc('pg_stat_force_next_flush') IS NOT NULL",
            &[],
        )
        .await
        .expect("catalog")
        .get::<_, bool>(0);
    if !has_flush {
        eprintln!("skipped: the server predates pg_stat_force_next_flush (PostgreSQL 15)");
        return;
    }
    // No autoanalyze: it would replan the cached statements and hide a plan made while small.
    checker
        .batch_execute(
            "ALTER TABLE mem SET (autovacuum_enabled = false); \
             ALTER TABLE tup SET (autovacuum_enabled = false); \
             ALTER TABLE inv SET (autovacuum_enabled = false)",
        )
        .await
        .expect("autovacuum off");
    // One pooled connection, so every statement is prepared, and its plan cached, on it.
    let pool = db.pool(1).expect("pool");
    let store = PostgresTenancyStore::new(pool.clone());
    // The plan cache settles on a generic plan after five executions.
    for _ in 0..8 {
        round(&store).await;
    }
    // Grow the tables behind the cached plans' backs.
    checker
        .batch_execute(
            "INSERT INTO org (id, status, created_at, updated_at) \
               VALUES ('0190f2a8-1b3c-7abc-8123-bbbbbbbbbbbb', 'active', now(), now()); \
             WITH fresh AS (INSERT INTO usr (id, status, created_at, updated_at) \
               SELECT gen_random_uuid(), 'active', now(), now() FROM generate_series(1, 30000) \
               RETURNING id) \
             INSERT INTO mem (id, usr_id, org_id, role, status, created_at, updated_at) \
               SELECT gen_random_uuid(), id, '0190f2a8-1b3c-7abc-8123-bbbbbbbbbbbb', 'member', \
                      'active', now(), now() FROM fresh; \
             INSERT INTO tup (id, subject_type, subject_id, relation, object_type, object_id, created_at) \
               SELECT gen_random_uuid(), 'usr', gen_random_uuid(), 'viewer', 'doc', gen_random_uuid(), now() \
               FROM generate_series(1, 30000); \
             SELECT pg_stat_force_next_flush()",
        )
        .await
        .expect("growth");
    let flush = || async {
        let connection = pool.get().await.expect("pooled connection");
        connection
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await
            .expect("flush");
        connection.batch_execute("SELECT 1").await.expect("flush");
        drop(connection);
        checker
            .batch_execute("SELECT pg_stat_force_next_flush(); SELECT 1")
            .await
            .expect("flush");
        // The counters are published when each backend goes idle.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        checker
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .expect("fresh counters");
    };
    flush().await;
    let before = seq_scans(&checker).await;
    for _ in 0..3 {
        round(&store).await;
    }
    flush().await;
    let after = seq_scans(&checker).await;
    assert_eq!(before.len(), 3, "counters of mem, tup and inv: {before:?}");
    assert_eq!(
        after, before,
        "a statement scanned a whole table after growth (before, after)"
    );
}
