//! The bench's two parts, the memory store's and PostgreSQL's, and the concurrent clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flametrench_harness::Store;
use flametrench_ids::{OrgId, UsrId};
use flametrench_tenancy_core::{AddMember, CreateOrg, Role, TenancyStore};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::TestPostgres;

use crate::alloc::live_bytes;
use crate::instructions::instructions;
use crate::overhead::overhead;
use crate::print::{print_concurrent, print_instructions, print_samples};
use crate::proxy::{count_trips, distance};
use crate::scenarios::{org_of, org_with_members, single_client, user};
use crate::timing::{Floor, Sample, Timing};

/// What the bench measures: its command line.
#[derive(clap::Args)]
pub(crate) struct Settings {
    /// Which stores to measure.
    #[arg(long, value_enum, default_value = "all")]
    store: Store,
    /// Timed calls per operation.
    #[arg(long, default_value_t = 300)]
    iterations: usize,
    /// Memberships of the big org in PostgreSQL (for list_members).
    #[arg(long, default_value_t = 100_000)]
    big: usize,
    /// Memory store sizes (memberships in one org) to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    memory_sizes: Vec<usize>,
    /// Calls per operation counted under callgrind for instructions per call (0 skips).
    #[arg(long, default_value_t = 200)]
    instructions: usize,
    /// Also measure every PostgreSQL operation through a proxy adding this round-trip time,
    /// in microseconds, beside the same proxy adding none (0 skips it).
    #[arg(long, default_value_t = 0)]
    rtt_us: u64,
}

/// Runs the bench: the memory part, then the PostgreSQL part, as `settings` asks.
pub(crate) async fn run(settings: Settings) -> Result<(), String> {
    let Settings {
        store,
        iterations,
        big,
        memory_sizes,
        instructions: counted,
        rtt_us,
    } = settings;
    println!(
        "machine: {} cores; iterations per operation: {iterations}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    if store.memory() {
        memory_part(iterations, &memory_sizes, counted).await?;
    }
    if store.postgres() {
        postgres_part(iterations, big, rtt_us).await?;
    }
    if store.citus() {
        // On a single-threaded runtime, where the proxies count round trips exactly (see
        // `on_one_thread`).
        on_one_thread("the Citus comparison", || {
            crate::citus::run(iterations, rtt_us)
        })?;
    }
    Ok(())
}

/// Members per org in [`small_orgs_bytes`].
const SMALL_ORG: usize = 5;

/// Heap bytes per membership when `size` memberships are spread over orgs of [`SMALL_ORG`]
/// (an owner and four members), as most orgs are: every org costs its own index groups, which
/// one big org shares among all its members. Users are made first and not counted.
async fn small_orgs_bytes(size: usize) -> Result<f64, String> {
    let store = InMemoryTenancyStore::new();
    let mut people = Vec::with_capacity(size);
    for _ in 0..size {
        people.push(user(&store).await);
    }
    let before = live_bytes();
    for team in people.chunks(SMALL_ORG) {
        let created = store
            .create_org(CreateOrg::new(team[0]))
            .await
            .map_err(|e| e.to_string())?;
        for &member in &team[1..] {
            store
                .add_member(AddMember::new(created.org.id, member, Role::Member))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(live_bytes().saturating_sub(before) as f64 / size.max(1) as f64)
}

/// The memory store: growth, bytes per membership, latencies, instructions, 8 clients.
async fn memory_part(
    iterations: usize,
    memory_sizes: &[usize],
    counted: usize,
) -> Result<(), String> {
    for &size in memory_sizes {
        // Users first, then the memberships, so that each is measured on its own.
        let store = InMemoryTenancyStore::new();
        let start = live_bytes();
        let mut people = Vec::with_capacity(size + 1);
        for _ in 0..=size {
            people.push(user(&store).await);
        }
        let list_bytes = people.capacity() * std::mem::size_of::<UsrId>();
        let with_users = live_bytes();
        let org = org_of(&store, &people).await;
        let with_memberships = live_bytes();
        drop(people);
        let rows = (size + 1) as f64;
        println!(
            "\nmemory store with {} memberships: {:.0} heap bytes per membership (rows, mirrored \
             tuples, indexes), {:.0} per user",
            size + 1,
            with_memberships.saturating_sub(with_users) as f64 / rows,
            with_users.saturating_sub(start).saturating_sub(list_bytes) as f64 / rows
        );
        let samples = single_client(&store, iterations, org, Timing::default()).await;
        print_samples(
            &format!("memory store, {size} memberships in one org, 1 client"),
            &samples,
            &[],
        );
    }
    if let Some(&size) = memory_sizes.iter().max() {
        let bytes = small_orgs_bytes(size).await?;
        println!(
            "\nmemory store with {size} memberships in orgs of {SMALL_ORG}: {bytes:.0} heap bytes per \
             membership (the orgs, rows, mirrored tuples and indexes)"
        );
    }
    if counted > 0 {
        let sizes = memory_sizes.to_vec();
        match tokio::task::spawn_blocking(move || instructions(&sizes, counted))
            .await
            .map_err(|e| e.to_string())?
        {
            Ok(table) => print_instructions(memory_sizes, &table),
            Err(error) => println!("\ninstruction counts skipped: {error}"),
        }
    }
    let memory = Arc::new(InMemoryTenancyStore::new());
    let (big_org, _, _) = org_with_members(&*memory, 100_000).await;
    print_concurrent(
        "memory store, 8 concurrent clients (each on its own orgs; big org: 100,000 members)",
        &concurrent(memory, 8, iterations * 10, big_org).await,
    );
    Ok(())
}

/// The PostgreSQL store: round trips, the floor, latencies against a big org, 8 clients.
async fn postgres_part(iterations: usize, big: usize, rtt_us: u64) -> Result<(), String> {
    let server = TestPostgres::start().await.map_err(|e| e.to_string())?;
    // Counted on a single-threaded runtime (`on_one_thread`).
    let trips = on_one_thread("the round-trip count", || count_trips(&server))?;
    let database = server.fresh_database().await.map_err(|e| e.to_string())?;
    let pool = database.pool(9).map_err(|e| e.to_string())?;
    let client = database.connect().await.map_err(|e| e.to_string())?;
    // A big org for list_members, built with one INSERT rather than one call per row.
    let store = PostgresTenancyStore::new(pool.clone());
    let (big_org, _, _) = org_with_members(&store, 0).await;
    client
        .batch_execute(&format!(
            "INSERT INTO usr (id, status, created_at, updated_at) SELECT gen_random_uuid(), 'active', now(), now() FROM generate_series(1, {big});
             INSERT INTO mem (id, usr_id, org_id, role, status, created_at, updated_at)
               SELECT gen_random_uuid(), u.id, '{org}', 'member', 'active', now(), now() FROM usr u WHERE u.id NOT IN (SELECT usr_id FROM mem);
             ANALYZE",
            org = big_org.as_uuid()
        ))
        .await
        .map_err(|e| e.to_string())?;
    let floor = Floor::new(database.connect().await.map_err(|e| e.to_string())?).await?;
    let samples = overhead(&database, &floor, &store, big_org, iterations).await?;
    print_samples(
        "postgres, where the time goes (one client; each ratio against the floor timed between its calls)",
        &samples,
        &[],
    );
    let samples = single_client(&store, iterations, big_org, Timing::with_floor(&floor)).await;
    print_samples(
        &format!("postgres with a pool, 1 client (big org: {big} members)"),
        &samples,
        &trips,
    );
    if rtt_us > 0 {
        distance(&database, big_org, iterations, rtt_us).await?;
    }
    print_concurrent(
        &format!(
            "postgres with a pool of 9, 8 concurrent clients (each on its own orgs; big org: {big} members)"
        ),
        &concurrent(
            Arc::new(PostgresTenancyStore::new(pool)),
            8,
            iterations,
            big_org,
        )
        .await,
    );
    Ok(())
}

/// Every operation of [`single_client`] with `clients` clients at once, each on its own orgs
/// (the big org is shared by the list calls). For each operation every client prepares its
/// inputs, then all start together; the aggregate rate is all clients' calls over the time
/// from that start to the last client's last call, and p50/p99 are over every call.
pub(crate) async fn concurrent<S: TenancyStore + 'static>(
    store: Arc<S>,
    clients: usize,
    iterations: usize,
    big_org: OrgId,
) -> Vec<(&'static str, f64, Duration, Duration)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(clients));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let timing = Timing {
                start_together: Some(&barrier),
                ..Timing::default()
            };
            single_client(&*store, iterations, big_org, timing).await
        }));
    }
    let mut per_client = Vec::new();
    for task in tasks {
        if let Ok(samples) = task.await {
            per_client.push(samples);
        }
    }
    let Some(first) = per_client.first() else {
        return Vec::new();
    };
    let ops: Vec<&'static str> = first.iter().map(|sample| sample.op).collect();
    ops.into_iter()
        .map(|op| {
            let mut latencies = Vec::new();
            let mut span: Option<(Instant, Instant)> = None;
            for sample in per_client
                .iter()
                .filter_map(|samples| samples.iter().find(|sample| sample.op == op))
            {
                latencies.extend_from_slice(&sample.latencies);
                if let Some((began, ended)) = sample.span {
                    span = Some(match span {
                        Some((start, end)) => (start.min(began), end.max(ended)),
                        None => (began, ended),
                    });
                }
            }
            let wall = span.map_or(Duration::ZERO, |(start, end)| end.duration_since(start));
            let calls = latencies.len();
            let merged = Sample {
                op,
                latencies,
                elapsed: wall,
                floor: Vec::new(),
                span: None,
                sides: None,
            };
            (
                op,
                calls as f64 / wall.as_secs_f64().max(1e-9),
                merged.percentile(0.5),
                merged.percentile(0.99),
            )
        })
        .collect()
}

/// Runs `job` on a single-threaded runtime of a thread of its own: there a flight's requests are
/// written together, where on a multi-threaded one the connection task may flush a pipelined
/// flight in pieces, which a proxy cannot tell from a client that waited. `what` names the job
/// should it panic.
fn on_one_thread<F: std::future::Future<Output = Result<T, String>>, T: Send>(
    what: &str,
    job: impl FnOnce() -> F + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?
                    .block_on(job())
            })
            .join()
            .unwrap_or_else(|_| Err(format!("{what} panicked")))
    })
}
