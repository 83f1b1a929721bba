//! "Where the time goes": the parts of a PostgreSQL call outside the SDK's statements.

use flametrench_ids::{OrgId, UsrId};
use flametrench_tenancy_core::TenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, pool_with_queue};

use crate::timing::{Floor, Sample, Timing, pg_error, time_op, uuid_v7};

/// Where a call's time goes outside the SDK's statements: the same primary-key read sent on
/// the floor's connection, through a pool checkout (FIFO and LIFO queue), and as `get_org`;
/// then the server's cost of one row in each table the writes touch, as single prepared
/// INSERTs on the floor's connection.
pub(crate) async fn overhead(
    database: &TestDatabase,
    floor: &Floor,
    store: &PostgresTenancyStore<'static, 'static>,
    org: OrgId,
    iterations: usize,
) -> Result<Vec<Sample>, String> {
    let org_uuid = org.as_uuid();
    let read = "SELECT id, status, name, slug, created_at, updated_at FROM org WHERE id = $1";
    let client = &floor.client;
    let prepared = client.prepare(read).await.map_err(pg_error)?;
    let mut samples = Vec::new();
    samples.push(
        time_op(
            Timing::with_floor(floor),
            "org by id, one connection",
            iterations,
            |_| async {},
            |()| async {
                let _ = client.query_opt(&prepared, &[&org_uuid]).await;
            },
        )
        .await,
    );
    for (label, mode) in [
        (
            "org by id, pool checkout (FIFO)",
            deadpool_postgres::QueueMode::Fifo,
        ),
        (
            "org by id, pool checkout (LIFO)",
            deadpool_postgres::QueueMode::Lifo,
        ),
    ] {
        let pool = pool_with_queue(database.config(), 9, mode).map_err(|e| e.to_string())?;
        // Open every connection and prepare the read on each, as a busy pool would have them.
        let mut held = Vec::new();
        for _ in 0..9 {
            let connection = pool.get().await.map_err(|e| e.to_string())?;
            connection.prepare_cached(read).await.map_err(pg_error)?;
            held.push(connection);
        }
        drop(held);
        let pool = &pool;
        samples.push(
            time_op(
                Timing::with_floor(floor),
                label,
                iterations,
                |_| async {},
                |()| async move {
                    if let Ok(connection) = pool.get().await {
                        if let Ok(statement) = connection.prepare_cached(read).await {
                            let _ = connection.query_opt(&statement, &[&org_uuid]).await;
                        }
                    }
                },
            )
            .await,
        );
    }
    store.get_org(org).await.map_err(|e| e.to_string())?;
    samples.push(
        time_op(
            Timing::with_floor(floor),
            "get_org (the store's pool)",
            iterations,
            |_| async {},
            |()| async {
                let _ = store.get_org(org).await;
            },
        )
        .await,
    );
    // A write's one flight without its writes: BEGIN, the org lock, an owner count and COMMIT,
    // pipelined. What a membership write costs beyond this is its rows.
    let lock = client
        .prepare("SELECT status FROM org WHERE id = $1 FOR NO KEY UPDATE")
        .await
        .map_err(pg_error)?;
    let owners = client
        .prepare(
            "SELECT count(*) FROM mem WHERE org_id = $1 AND status = 'active' AND role = 'owner'",
        )
        .await
        .map_err(pg_error)?;
    let (lock, owners) = (&lock, &owners);
    samples.push(
        time_op(
            Timing::with_floor(floor),
            "BEGIN, lock, read, COMMIT",
            iterations,
            |_| async {},
            |()| async move {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&org_uuid];
                let _ = tokio::join!(
                    client.batch_execute("BEGIN"),
                    client.query(lock, &params),
                    client.query(owners, &params),
                    client.batch_execute("COMMIT"),
                );
            },
        )
        .await,
    );
    let user = UsrId::new().as_uuid();
    client
        .execute(
            "INSERT INTO usr (id, status, created_at, updated_at) VALUES ($1, 'active', now(), now())",
            &[&user],
        )
        .await
        .map_err(pg_error)?;
    // Each row gets fresh ids; the mem rows are revoked history rows of the big org, so that
    // nothing the later measurements read changes.
    let inserts = [
        (
            "insert one org row",
            "INSERT INTO org (id, status, name, created_at, updated_at) \
             VALUES ($1, 'active', 'bench', now(), now()) RETURNING $2::uuid, $3::uuid",
        ),
        (
            "insert one mem row",
            "INSERT INTO mem (id, usr_id, org_id, role, status, created_at, updated_at) \
             VALUES ($1, $3, $2, 'member', 'revoked', now(), now())",
        ),
        (
            "insert one tup row",
            "INSERT INTO tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
             VALUES ($1, 'usr', $3, 'viewer', 'doc', $2, now(), $3)",
        ),
    ];
    for (label, sql) in inserts {
        let statement = client.prepare(sql).await.map_err(pg_error)?;
        let statement = &statement;
        // A tup row's object is fresh each time so that its natural key never repeats.
        let object = |fresh: bool| if fresh { uuid_v7() } else { org_uuid };
        let fresh = label.contains("tup");
        client
            .execute(statement, &[&uuid_v7(), &object(fresh), &user])
            .await
            .map_err(pg_error)?;
        samples.push(
            time_op(
                Timing::with_floor(floor),
                label,
                iterations,
                |_| async move { (uuid_v7(), object(fresh)) },
                |(id, other)| async move {
                    let _ = client.execute(statement, &[&id, &other, &user]).await;
                },
            )
            .await,
        );
    }
    Ok(samples)
}
