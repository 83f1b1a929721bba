//! `stress --kill-backends-ms N [--kill-backends-max-ms M]`: terminates a random client
//! backend of the test database every N ms (or every uniformly drawn N..=M ms) from a side
//! connection (on Citus, of a node drawn at random: the coordinator's are the store's
//! connections, a worker's those the coordinator opened for it), and checks afterwards that
//! every row a call reported created is in the database.

use std::time::{Duration, Instant};

use flametrench_tenancy_postgres::testing::TestPostgres;
use tokio_postgres::Config;

/// Terminates one random client backend of a node drawn from `nodes` (never its own
/// connection) after each interval drawn uniformly from `(least, most)` until `deadline`;
/// returns how many it terminated. Its connections are made again when they break.
pub(crate) async fn kill_backends(
    nodes: Vec<Config>,
    (least, most): (Duration, Duration),
    deadline: Instant,
) -> u64 {
    let mut killed = 0;
    let mut clients: Vec<Option<tokio_postgres::Client>> = nodes.iter().map(|_| None).collect();
    let span = most.saturating_sub(least).as_micros() as u64;
    while Instant::now() < deadline {
        let extra = if span == 0 {
            0
        } else {
            (uuid::Uuid::new_v4().as_u128() as u64) % (span + 1)
        };
        tokio::time::sleep(least + Duration::from_micros(extra)).await;
        let node = (uuid::Uuid::new_v4().as_u128() as usize) % nodes.len().max(1);
        let (Some(config), Some(client)) = (nodes.get(node), clients.get_mut(node)) else {
            continue;
        };
        if client
            .as_ref()
            .is_none_or(|client: &tokio_postgres::Client| client.is_closed())
        {
            *client = TestPostgres::connect(config).await.ok();
        }
        let Some(side) = client.as_ref() else {
            continue;
        };
        let terminated = side
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND backend_type = 'client backend' ORDER BY random() LIMIT 1) x",
                &[],
            )
            .await;
        match terminated {
            Ok(row) => killed += row.get::<_, i64>(0) as u64,
            Err(_) => *client = None,
        }
    }
    killed
}

/// Of the rows calls reported created, those the database `config` connects to does not hold.
pub(crate) async fn missing_rows(
    config: &Config,
    created: &[(&'static str, uuid::Uuid)],
) -> Result<Vec<String>, String> {
    let client = TestPostgres::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    for table in ["mem", "inv"] {
        let ids: Vec<uuid::Uuid> = created
            .iter()
            .filter(|(kind, _)| *kind == table)
            .map(|(_, id)| *id)
            .collect();
        let rows = client
            .query(
                &format!("SELECT id FROM {table} WHERE id = ANY($1)"),
                &[&ids],
            )
            .await
            .map_err(|e| e.to_string())?;
        let found: std::collections::HashSet<uuid::Uuid> =
            rows.iter().map(|row| row.get(0)).collect();
        missing.extend(
            ids.iter()
                .filter(|id| !found.contains(id))
                .map(|id| format!("{table} {id} was reported created but is not there")),
        );
    }
    Ok(missing)
}
