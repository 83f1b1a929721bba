//! `cargo xtask bench`: latency and throughput of the main operations on both stores, round
//! trips per operation on PostgreSQL, the ratio of each latency to a one-round-trip floor, and
//! the memory store's cost as it grows. A benchmark, never a test: numbers are printed, not
//! asserted.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, EntityType, Identifier, ListMembers,
    ListOrgs, OrgName, OrgQuery, PreTuple, Relation, Role, TenancyStore, TransferOwnership,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{PgProxy, TestPostgres};
use time::OffsetDateTime;

/// Counts live heap bytes, for the memory store's bytes per membership.
pub(crate) struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Latencies of one operation.
struct Sample {
    op: &'static str,
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// The floor, timed once before each call of this operation (PostgreSQL only).
    floor: Vec<Duration>,
    /// With several clients: from the common start to this client's last call's end.
    span: Option<(Instant, Instant)>,
}

/// The one-round-trip floor: a prepared single-row `INSERT` in autocommit on its own
/// connection. Timed between the calls of every operation, so that each ratio compares times
/// taken in the same seconds: on a shared machine the server's speed drifts within a run.
pub(crate) struct Floor {
    client: tokio_postgres::Client,
    insert: tokio_postgres::Statement,
}

impl Floor {
    async fn new(client: tokio_postgres::Client) -> Result<Self, String> {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS bench_floor (id uuid PRIMARY KEY, at timestamptz NOT NULL)",
            )
            .await
            .map_err(pg_error)?;
        let insert = client
            .prepare("INSERT INTO bench_floor (id, at) VALUES ($1, now())")
            .await
            .map_err(pg_error)?;
        Ok(Self { client, insert })
    }

    /// One floor call, timed; `None` if it failed (so it is left out of the median).
    async fn time(&self) -> Option<Duration> {
        let id = uuid_v7();
        let start = Instant::now();
        let done = self.client.execute(&self.insert, &[&id]).await.is_ok();
        done.then(|| start.elapsed())
    }
}

fn median(latencies: &[Duration]) -> Option<Duration> {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

impl Sample {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }

    fn ops_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn identifier() -> Identifier {
    Identifier::new("bench@example.com").unwrap_or_else(|_| unreachable!("valid"))
}

fn expires() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(1)
}

/// Set in the child process that runs under callgrind: calls are polled synchronously inside
/// [`ft_callgrind_measure`], and each operation ends with [`ft_callgrind_dump`].
static UNDER_CALLGRIND: AtomicBool = AtomicBool::new(false);

/// Runs `call` once. Under `valgrind --tool=callgrind --collect-atstart=no
/// --toggle-collect=ft_callgrind_measure` the instructions executed in here, and nothing else,
/// are counted. The symbol is unmangled so that the toggle matches this function alone.
#[allow(unsafe_code)] // `no_mangle` is an unsafe attribute; the name is unique in the binary.
#[unsafe(no_mangle)]
#[inline(never)]
pub(crate) fn ft_callgrind_measure(call: &mut dyn FnMut()) {
    call();
}

/// Marks the end of one operation's calls: `--dump-before=ft_callgrind_dump` writes the counts
/// gathered since the previous dump to their own file.
#[allow(unsafe_code)] // As above.
#[unsafe(no_mangle)]
#[inline(never)]
pub(crate) fn ft_callgrind_dump() {
    std::hint::black_box(());
}

/// Polls `future` to completion on this thread inside [`ft_callgrind_measure`]. The memory
/// store's futures complete on their first poll; re-polling a pending one is allowed anyway.
fn measure_sync<F: std::future::Future<Output = ()>>(future: F) {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    ft_callgrind_measure(&mut || while future.as_mut().poll(&mut context).is_pending() {});
}

/// How [`time_op`] runs: alone (optionally timing the floor before every call), or as one of
/// several clients that start each operation together.
#[derive(Clone, Copy, Default)]
struct Timing<'a> {
    /// Time the floor before every call (PostgreSQL, one client).
    floor: Option<&'a Floor>,
    /// Several clients: every client prepares all its inputs, then waits here, so that the
    /// operation's calls of all clients run at the same time.
    start_together: Option<&'a tokio::sync::Barrier>,
}

impl<'a> Timing<'a> {
    fn with_floor(floor: &'a Floor) -> Self {
        Self {
            floor: Some(floor),
            start_together: None,
        }
    }
}

/// Times `iterations` runs of `call` after preparing each with `setup` (untimed).
async fn time_op<P, SF, C, CF, T>(
    timing: Timing<'_>,
    op: &'static str,
    iterations: usize,
    setup: P,
    call: C,
) -> Sample
where
    P: Fn(usize) -> SF,
    SF: std::future::Future<Output = T>,
    C: Fn(T) -> CF,
    CF: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(iterations);
    let mut floor_latencies = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut ready = Vec::new();
    let mut span = None;
    if let Some(barrier) = timing.start_together {
        for index in 0..iterations {
            ready.push(setup(index).await);
        }
        // A client that failed would leave the others waiting for ever: go on after a minute.
        let _ = tokio::time::timeout(Duration::from_secs(60), barrier.wait()).await;
        span = Some((Instant::now(), Instant::now()));
    }
    let mut ready = ready.into_iter();
    for index in 0..iterations {
        let prepared = match ready.next() {
            Some(prepared) => prepared,
            None => setup(index).await,
        };
        if let Some(floor) = timing.floor {
            floor_latencies.extend(floor.time().await);
        }
        let start = Instant::now();
        if UNDER_CALLGRIND.load(Ordering::Relaxed) {
            measure_sync(call(prepared));
        } else {
            call(prepared).await;
        }
        let took = start.elapsed();
        elapsed += took;
        latencies.push(took);
    }
    if UNDER_CALLGRIND.load(Ordering::Relaxed) {
        ft_callgrind_dump();
    }
    if let Some((_, end)) = span.as_mut() {
        *end = Instant::now();
    }
    if let Some(barrier) = timing.start_together {
        // Nobody prepares the next operation while others still run this one.
        let _ = tokio::time::timeout(Duration::from_secs(60), barrier.wait()).await;
    }
    Sample {
        op,
        latencies,
        elapsed,
        floor: floor_latencies,
        span,
    }
}

async fn user<S: TenancyStore>(store: &S) -> UsrId {
    let id = UsrId::new();
    let _ = store.ensure_user(id).await;
    id
}

async fn org_with_members<S: TenancyStore>(
    store: &S,
    members: usize,
) -> (OrgId, MemId, Vec<MemId>) {
    let owner = user(store).await;
    let created = store
        .create_org(CreateOrg::new(owner))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ids = Vec::new();
    for _ in 0..members {
        let member = user(store).await;
        if let Ok(m) = store
            .add_member(AddMember::new(created.org.id, member, Role::Member))
            .await
        {
            ids.push(m.id);
        }
    }
    (created.org.id, created.owner_membership.id, ids)
}

/// An org created by `people[0]` with every other person as a member.
async fn org_of<S: TenancyStore>(store: &S, people: &[UsrId]) -> OrgId {
    let Some((owner, members)) = people.split_first() else {
        panic!("an org needs an owner");
    };
    let created = store
        .create_org(CreateOrg::new(*owner))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for member in members {
        store
            .add_member(AddMember::new(created.org.id, *member, Role::Member))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    created.org.id
}

/// Every benchmarked operation, timed one at a time on `store`.
async fn single_client<S: TenancyStore>(
    store: &S,
    iterations: usize,
    big_org: OrgId,
    timing: Timing<'_>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let alice = user(store).await;
    samples.push(
        time_op(
            timing,
            "create_org",
            iterations,
            |_| async {},
            |()| async {
                let _ = store.create_org(CreateOrg::new(alice)).await;
            },
        )
        .await,
    );
    let (org, _, _) = org_with_members(store, 0).await;
    samples.push(
        time_op(
            timing,
            "add_member",
            iterations,
            |_| user(store),
            |member| async move {
                let _ = store
                    .add_member(AddMember::new(org, member, Role::Member))
                    .await;
            },
        )
        .await,
    );
    let (_, _, members) = org_with_members(store, iterations).await;
    samples.push(
        time_op(
            timing,
            "change_role",
            iterations,
            |i| {
                let member = members[i];
                async move { member }
            },
            |member| async move {
                let _ = store.change_role(member, Role::Admin).await;
            },
        )
        .await,
    );
    let grant = PreTuple::new("viewer", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")
        .unwrap_or_else(|e| panic!("{e}"));
    samples.push(
        time_op(
            timing,
            "create_invitation",
            iterations,
            |_| async {},
            |()| {
                let grant = grant.clone();
                async move {
                    let input =
                        CreateInvitation::new(org, identifier(), Role::Member, alice, expires())
                            .and_then(|input| input.pre_tuples([grant]))
                            .unwrap_or_else(|e| panic!("{e}"));
                    let _ = store.create_invitation(input).await;
                }
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "accept_invitation",
            iterations,
            |_| {
                let grant = grant.clone();
                async move {
                    let invitee = user(store).await;
                    let input =
                        CreateInvitation::new(org, identifier(), Role::Member, alice, expires())
                            .and_then(|input| input.pre_tuples([grant]))
                            .unwrap_or_else(|e| panic!("{e}"));
                    (
                        store
                            .create_invitation(input)
                            .await
                            .map(|inv| inv.id)
                            .unwrap_or_else(|e| panic!("{e}")),
                        invitee,
                    )
                }
            },
            |(invitation, invitee)| async move {
                let _ = store
                    .accept_invitation(AcceptInvitation::as_user(invitation, invitee, identifier()))
                    .await;
            },
        )
        .await,
    );
    let (_, _, leavers) = org_with_members(store, iterations).await;
    samples.push(
        time_op(
            timing,
            "self_leave",
            iterations,
            |i| {
                let member = leavers[i];
                async move { member }
            },
            |member| async move {
                let _ = store.self_leave(member, None).await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "transfer_ownership",
            iterations,
            |_| async {
                let (org, owner, members) = org_with_members(store, 1).await;
                (org, owner, members[0])
            },
            |(org, from, to)| async move {
                let _ = store
                    .transfer_ownership(TransferOwnership::new(org, from, to))
                    .await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "get_org",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store.get_org(org).await;
            },
        )
        .await,
    );
    // The authorization reads beside the plain read they are held to (at most 1.1x).
    let (read_org, owner_mem, _) = org_with_members(store, 1).await;
    let owner = match store.get_membership(owner_mem).await {
        Ok(membership) => membership.usr_id,
        Err(_) => alice,
    };
    samples.push(
        time_op(
            timing,
            "get_membership",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store.get_membership(owner_mem).await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "active_membership",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store.active_membership(read_org, owner).await;
            },
        )
        .await,
    );
    let wanted: Vec<Relation> = ["owner", "admin"]
        .into_iter()
        .filter_map(|name| Relation::new(name).ok())
        .collect();
    samples.push(
        time_op(
            timing,
            "check_any (owner, admin)",
            iterations,
            |_| async { wanted.clone() },
            |relations| async move {
                let _ = store
                    .check_any(
                        EntityType::usr(),
                        owner.as_uuid(),
                        relations,
                        EntityType::org(),
                        read_org.as_uuid(),
                    )
                    .await;
            },
        )
        .await,
    );
    let (thousand, _, _) = org_with_members(store, 1000).await;
    samples.push(
        time_op(
            timing,
            "list_members (50 of 1,000)",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store
                    .list_members(ListMembers::new(thousand).limit(50))
                    .await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "list_members (50 of big org)",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store
                    .list_members(ListMembers::new(big_org).limit(50))
                    .await;
            },
        )
        .await,
    );
    samples.push(
        time_op(
            timing,
            "list_tuples_for_subject",
            iterations,
            |_| async {},
            |()| async move {
                let _ = store
                    .list_tuples_for_subject(EntityType::usr(), alice.as_uuid())
                    .await;
            },
        )
        .await,
    );
    let query = OrgQuery::new("acme").unwrap_or_else(|e| panic!("{e}"));
    let _ = store
        .create_org(
            CreateOrg::new(alice).name(OrgName::new("Acme 7").unwrap_or_else(|e| panic!("{e}"))),
        )
        .await;
    samples.push(
        time_op(
            timing,
            "list_orgs (query)",
            iterations.min(200),
            |_| async {},
            |()| {
                let query = query.clone();
                async move {
                    let _ = store
                        .list_orgs(ListOrgs::new().query(query).limit(50))
                        .await;
                }
            },
        )
        .await,
    );
    samples
}

/// Every operation of [`single_client`] with `clients` clients at once, each on its own orgs
/// (the big org is shared by the list calls). For each operation every client prepares its
/// inputs, then all start together; the aggregate rate is all clients' calls over the time
/// from that start to the last client's last call, and p50/p99 are over every call.
async fn concurrent<S: TenancyStore + 'static>(
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
                floor: None,
                start_together: Some(&barrier),
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

/// Prints the table of [`concurrent`].
fn print_concurrent(title: &str, rows: &[(&'static str, f64, Duration, Duration)]) {
    println!("\n{title}");
    println!(
        "  {:<30} {:>12} {:>10} {:>10}",
        "operation", "ops/s (all)", "p50 µs", "p99 µs"
    );
    for (op, rate, p50, p99) in rows {
        println!(
            "  {op:<30} {rate:>12.0} {:>10.1} {:>10.1}",
            micros(*p50),
            micros(*p99)
        );
    }
}

fn print_samples(title: &str, samples: &[Sample], trips: &[(&'static str, u64, u64)]) {
    println!("\n{title}");
    println!(
        "  {:<30} {:>10} {:>10} {:>10} {:>8} {:>6} {:>6}",
        "operation", "ops/s", "p50 µs", "p99 µs", "p50/floor", "trips", "stmts"
    );
    for sample in samples {
        let ratio = median(&sample.floor)
            .map(|floor| {
                format!(
                    "{:.2}",
                    micros(sample.percentile(0.5)) / micros(floor).max(1e-9)
                )
            })
            .unwrap_or_else(|| "-".into());
        let (rt, st) = trips
            .iter()
            .find(|(op, _, _)| sample.op.starts_with(op))
            .map(|(_, rt, st)| (rt.to_string(), st.to_string()))
            .unwrap_or_else(|| ("-".into(), "-".into()));
        println!(
            "  {:<30} {:>10.0} {:>10.1} {:>10.1} {:>8} {:>6} {:>6}",
            sample.op,
            sample.ops_per_second(),
            micros(sample.percentile(0.5)),
            micros(sample.percentile(0.99)),
            ratio,
            rt,
            st
        );
    }
}

/// Round trips and statements of one call of each write, through the proxy.
async fn count_trips(server: &TestPostgres) -> Result<Vec<(&'static str, u64, u64)>, String> {
    let database = server.fresh_database().await.map_err(|e| e.to_string())?;
    let proxy = PgProxy::start(&database.config())
        .await
        .map_err(|e| e.to_string())?;
    let pool =
        flametrench_tenancy_postgres::testing::pool_for(proxy.config_for(&database.config()), 1)
            .map_err(|e| e.to_string())?;
    drop(pool.get().await.map_err(|e| e.to_string())?);
    let store = PostgresTenancyStore::new(pool);
    // The first pass prepares the statements on the pooled connection; the second is counted.
    let _ = trip_pass(&store, &proxy).await?;
    trip_pass(&store, &proxy).await
}

async fn trip_pass(
    store: &PostgresTenancyStore<'static, 'static>,
    proxy: &PgProxy,
) -> Result<Vec<(&'static str, u64, u64)>, String> {
    let mut out = Vec::new();
    let alice = user(store).await;
    let bob = user(store).await;
    macro_rules! measure {
        ($name:literal, $call:expr) => {{
            proxy.reset();
            let value = $call.await.map_err(|e| e.to_string())?;
            let stats = proxy.stats();
            out.push(($name, stats.round_trips, stats.statements));
            value
        }};
    }
    let created = measure!("create_org", store.create_org(CreateOrg::new(alice)));
    let member = measure!(
        "add_member",
        store.add_member(AddMember::new(created.org.id, bob, Role::Member))
    );
    let member = measure!("change_role", store.change_role(member.id, Role::Admin));
    let grant = PreTuple::new("viewer", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")
        .map_err(|e| e.to_string())?;
    let carol = user(store).await;
    let invitation = measure!(
        "create_invitation",
        store.create_invitation(
            CreateInvitation::new(created.org.id, identifier(), Role::Member, alice, expires())
                .and_then(|input| input.pre_tuples([grant]))
                .map_err(|e| e.to_string())?
        )
    );
    measure!(
        "accept_invitation",
        store.accept_invitation(AcceptInvitation::as_user(
            invitation.id,
            carol,
            identifier()
        ))
    );
    let moved = measure!(
        "transfer_ownership",
        store.transfer_ownership(TransferOwnership::new(
            created.org.id,
            created.owner_membership.id,
            member.id
        ))
    );
    measure!(
        "self_leave",
        store.self_leave(moved.from_membership.id, None)
    );
    measure!("get_org", store.get_org(created.org.id));
    measure!(
        "list_members",
        store.list_members(ListMembers::new(created.org.id).limit(50))
    );
    measure!(
        "list_tuples_for_subject",
        store.list_tuples_for_subject(EntityType::usr(), alice.as_uuid())
    );
    measure!("list_orgs", store.list_orgs(ListOrgs::new().limit(50)));
    Ok(out)
}

/// Where a call's time goes outside the SDK's statements: the same primary-key read sent on
/// the floor's connection, through a pool checkout (FIFO and LIFO queue), and as `get_org`;
/// then the server's cost of one row in each table the writes touch, as single prepared
/// INSERTs on the floor's connection.
async fn overhead(
    database: &flametrench_tenancy_postgres::testing::TestDatabase,
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
        let pool =
            flametrench_tenancy_postgres::testing::pool_with_queue(database.config(), 9, mode)
                .map_err(|e| e.to_string())?;
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
    // The first flight of a two-flight write without its writes: BEGIN, the org lock and an
    // owner count pipelined, then COMMIT. What a membership write costs beyond this is its rows.
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
            "BEGIN, lock, read | COMMIT",
            iterations,
            |_| async {},
            |()| async move {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&org_uuid];
                let _ = tokio::join!(
                    client.batch_execute("BEGIN"),
                    client.query(lock, &params),
                    client.query(owners, &params),
                );
                let _ = client.batch_execute("COMMIT").await;
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

/// A driver error with the server's message, when there is one.
fn pg_error(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

fn uuid_v7() -> uuid::Uuid {
    UsrId::new().as_uuid()
}

/// What `cargo xtask bench` measures.
pub(crate) struct Settings {
    /// Measure the memory store.
    pub(crate) memory: bool,
    /// Measure the PostgreSQL store.
    pub(crate) postgres: bool,
    /// Timed calls per operation.
    pub(crate) iterations: usize,
    /// Memberships of the big PostgreSQL org.
    pub(crate) big: usize,
    /// Memory store sizes.
    pub(crate) memory_sizes: Vec<usize>,
    /// Calls per operation under callgrind (0 skips the instruction counts).
    pub(crate) instructions: usize,
    /// Also measure through a proxy that adds this round-trip time (0 skips it).
    pub(crate) rtt_us: u64,
}

pub(crate) async fn run(settings: Settings) -> Result<(), String> {
    let Settings {
        memory: with_memory,
        postgres: with_postgres,
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

    if with_memory {
        memory_part(iterations, &memory_sizes, counted).await?;
    }
    if with_postgres {
        postgres_part(iterations, big, rtt_us).await?;
    }
    Ok(())
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

/// Every operation at two distances from the server, in one run: through the test proxy as
/// it is, and through a proxy that delivers each chunk `rtt_us / 2` after it arrived in each
/// direction, with the floor timed through the same proxy each time. The growth table compares
/// each operation's p50 growth with the floor's: a one-flight call grows like the floor.
async fn distance(
    database: &flametrench_tenancy_postgres::testing::TestDatabase,
    big_org: OrgId,
    iterations: usize,
    rtt_us: u64,
) -> Result<(), String> {
    use flametrench_tenancy_postgres::testing::{PgProxy, pool_for};
    let mut runs = Vec::new();
    for one_way in [Duration::ZERO, Duration::from_micros(rtt_us / 2)] {
        let proxy = PgProxy::start_with_latency(&database.config(), one_way)
            .await
            .map_err(|e| e.to_string())?;
        let config = proxy.config_for(&database.config());
        let store =
            PostgresTenancyStore::new(pool_for(config.clone(), 2).map_err(|e| e.to_string())?);
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(pg_error)?;
        tokio::spawn(connection);
        let floor = Floor::new(client).await?;
        let samples = single_client(&store, iterations, big_org, Timing::with_floor(&floor)).await;
        print_samples(
            &format!(
                "postgres with a pool through the proxy, {} µs added per round trip, 1 client",
                2 * one_way.as_micros()
            ),
            &samples,
            &[],
        );
        runs.push(samples);
    }
    let (near, far) = (&runs[0], &runs[1]);
    println!(
        "\ngrowth from 0 to {rtt_us} µs added per round trip: each p50's growth over the floor's \
         (one flight grows like the floor: 1.0)"
    );
    println!(
        "  {:<30} {:>12} {:>12} {:>10}",
        "operation", "p50 growth", "floor growth", "ratio"
    );
    for (a, b) in near.iter().zip(far.iter()) {
        let grown = micros(b.percentile(0.5)) - micros(a.percentile(0.5));
        let floor_grown = match (median(&a.floor), median(&b.floor)) {
            (Some(x), Some(y)) => micros(y) - micros(x),
            _ => f64::NAN,
        };
        println!(
            "  {:<30} {:>10.1}µs {:>10.1}µs {:>10.2}",
            a.op,
            grown,
            floor_grown,
            grown / floor_grown
        );
    }
    Ok(())
}

/// The PostgreSQL store: round trips, the floor, latencies against a big org, 8 clients.
async fn postgres_part(iterations: usize, big: usize, rtt_us: u64) -> Result<(), String> {
    let server = TestPostgres::start().await.map_err(|e| e.to_string())?;
    // Counted on a single-threaded runtime, where a flight's requests are written together: on
    // a multi-threaded one the connection task may flush a pipelined flight in pieces, which
    // the proxy cannot tell from a client that waited.
    let trips = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?
                    .block_on(count_trips(&server))
            })
            .join()
            .unwrap_or_else(|_| Err("the round-trip count panicked".into()))
    })?;
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

/// The child side of the instruction counts: builds a memory store with `size` memberships in
/// one org, runs every operation `iterations` times, and prints the operations in order, one
/// per line. Meant to run under callgrind, started by [`instructions`].
pub(crate) async fn instructions_child(size: usize, iterations: usize) -> Result<(), String> {
    let store = InMemoryTenancyStore::new();
    let (org, _, _) = org_with_members(&store, size).await;
    UNDER_CALLGRIND.store(true, Ordering::Relaxed);
    // The harness's own cost per call: polling a future that does nothing.
    let empty = time_op(
        Timing::default(),
        "(harness: empty call)",
        iterations,
        |_| async {},
        |()| async {},
    )
    .await;
    let samples = single_client(&store, iterations, org, Timing::default()).await;
    for sample in std::iter::once(empty).chain(samples) {
        println!("op {}", sample.op);
    }
    Ok(())
}

/// Instructions per call of each operation, per store size: one callgrind run per size.
fn instructions(sizes: &[usize], iterations: usize) -> Result<Vec<(String, Vec<f64>)>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("ft-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    for (column, size) in sizes.iter().enumerate() {
        let out = dir.join(format!("size-{size}"));
        let output = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--collect-atstart=no")
            .arg("--toggle-collect=ft_callgrind_measure")
            .arg("--dump-before=ft_callgrind_dump")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&exe)
            .args(["bench-instructions-child", "--size"])
            .arg(size.to_string())
            .arg("--iterations")
            .arg(iterations.to_string())
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "callgrind run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let ops: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("op ").map(str::to_owned))
            .collect();
        for (index, op) in ops.iter().enumerate() {
            let total = dump_total(&out, index + 1)?;
            let per_call = total as f64 / iterations as f64;
            match table.iter_mut().find(|(name, _)| name == op) {
                Some((_, row)) => row.push(per_call),
                None if column == 0 => table.push((op.clone(), vec![per_call])),
                None => return Err(format!("operation {op} missing from an earlier run")),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(table)
}

/// The instruction total of callgrind's dump number `part` of the run written to `base`.
fn dump_total(base: &Path, part: usize) -> Result<u64, String> {
    let path = format!("{}.{part}", base.display());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{path}: no instruction total"))
}

fn print_instructions(sizes: &[usize], table: &[(String, Vec<f64>)]) {
    println!("\nmemory store, instructions per call (callgrind), by memberships in the store");
    print!("  {:<30}", "operation");
    for size in sizes {
        print!(" {size:>12}");
    }
    println!(" {:>10}", "last/prev");
    for (op, row) in table {
        print!("  {op:<30}");
        for value in row {
            print!(" {value:>12.0}");
        }
        let growth = match row.as_slice() {
            [.., prev, last] if *prev > 0.0 => format!("{:.2}", last / prev),
            _ => "-".into(),
        };
        println!(" {growth:>10}");
    }
}
