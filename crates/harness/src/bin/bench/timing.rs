//! How the bench times a call: one operation's samples, the one-round-trip floor timed between
//! calls, the start-together barrier of concurrent clients, and the callgrind hooks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use flametrench_ids::UsrId;
use flametrench_tenancy_postgres::testing::PgProxy;

/// Latencies of one operation.
pub(crate) struct Sample {
    /// The operation's name in the tables.
    pub(crate) op: &'static str,
    /// Each call's time.
    pub(crate) latencies: Vec<Duration>,
    /// The calls' total time.
    pub(crate) elapsed: Duration,
    /// The floor, timed once before each call of this operation (PostgreSQL only).
    pub(crate) floor: Vec<Duration>,
    /// With several clients: from the common start to this client's last call's end.
    pub(crate) span: Option<(Instant, Instant)>,
    /// With a [`Pairing`]: which side each call and floor time was taken on.
    pub(crate) sides: Option<Sides>,
}

/// What a paired sample keeps besides its latencies, whose `i`-th call ran on side `i % 2`.
#[derive(Default)]
pub(crate) struct Sides {
    /// The side of each floor time (a failed floor call leaves no time).
    floors: Vec<usize>,
    /// The round trips and statements the side's proxy counted for each call.
    counts: Vec<(u64, u64)>,
}

/// The one-round-trip floor: a prepared single-row `INSERT` in autocommit on its own
/// connection. Timed between the calls of every operation, so that each ratio compares times
/// taken in the same seconds: on a shared machine the server's speed drifts within a run.
pub(crate) struct Floor {
    /// The floor's own connection, which "where the time goes" sends its statements on too.
    pub(crate) client: tokio_postgres::Client,
    insert: tokio_postgres::Statement,
}

impl Floor {
    /// Creates the floor's table on `client`'s database and prepares its `INSERT`.
    pub(crate) async fn new(client: tokio_postgres::Client) -> Result<Self, String> {
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

/// The median of `latencies` (`None` when empty).
pub(crate) fn median(latencies: &[Duration]) -> Option<Duration> {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied()
}

impl Sample {
    /// The latency at quantile `p` (0 to 1).
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Calls per second of the calls' own time.
    pub(crate) fn ops_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The median round trips and statements of the calls on `side` of a [`Pairing`] (the
    /// first call on a connection also prepares its statements, one trip more).
    pub(crate) fn counts_on(&self, side: usize) -> Option<(u64, u64)> {
        let sides = self.sides.as_ref()?;
        let (mut trips, mut stmts): (Vec<u64>, Vec<u64>) =
            sides.counts.iter().skip(side).step_by(2).copied().unzip();
        trips.sort_unstable();
        stmts.sort_unstable();
        Some((*trips.get(trips.len() / 2)?, *stmts.get(stmts.len() / 2)?))
    }

    /// The calls (and floor times) taken on `side` of a [`Pairing`], as a sample of their own;
    /// `None` when the sample was not paired.
    pub(crate) fn side(&self, side: usize) -> Option<Sample> {
        let sides = self.sides.as_ref()?;
        let latencies: Vec<Duration> = self
            .latencies
            .iter()
            .skip(side)
            .step_by(2)
            .copied()
            .collect();
        let floor = self
            .floor
            .iter()
            .zip(&sides.floors)
            .filter(|(_, on)| **on == side)
            .map(|(value, _)| *value)
            .collect();
        Some(Sample {
            op: self.op,
            elapsed: latencies.iter().sum(),
            latencies,
            floor,
            span: None,
            sides: None,
        })
    }
}

/// Two stores on one database timed call by call: the calls of an operation alternate
/// between them, each after a floor time on its own side, so that drift during the run
/// (table growth, autovacuum, a neighbour's load) falls on both sides alike.
#[derive(Clone, Copy)]
pub(crate) struct Pairing<'a> {
    /// The floor of each side.
    pub(crate) floors: [&'a Floor; 2],
    /// The proxy each side's store and floor go through, which counts each call's trips.
    pub(crate) proxies: [&'a PgProxy; 2],
    /// Which side the next store call goes to (read by [`Paired`]).
    pub(crate) side: &'a AtomicUsize,
}

/// A store that sends each call to one of two stores, the one [`Pairing::side`] names when
/// the call is made. Both stores see the same data.
pub(crate) struct Paired<'a, S> {
    pub(crate) stores: [S; 2],
    pub(crate) side: &'a AtomicUsize,
}

impl<S> Paired<'_, S> {
    fn current(&self) -> &S {
        &self.stores[self.side.load(Ordering::Relaxed) % 2]
    }
}

macro_rules! paired_store {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl<S: flametrench_tenancy_core::TenancyStore> flametrench_tenancy_core::TenancyStore
            for Paired<'_, S>
        {
            $(
                fn $name(
                    &self,
                    $($arg: $ty),*
                ) -> impl std::future::Future<Output = flametrench_tenancy_core::Result<$ret>> + Send
                {
                    self.current().$name($($arg),*)
                }
            )*
        }
    };
}

flametrench_tenancy_core::tenancy_operations!(paired_store);

/// `duration` in microseconds.
pub(crate) fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Set in the child process that runs under callgrind: calls are polled synchronously inside
/// [`ft_callgrind_measure`], and each operation ends with [`ft_callgrind_dump`].
pub(crate) static UNDER_CALLGRIND: AtomicBool = AtomicBool::new(false);

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
pub(crate) fn measure_sync<F: std::future::Future<Output = ()>>(future: F) {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    ft_callgrind_measure(&mut || while future.as_mut().poll(&mut context).is_pending() {});
}

/// How [`time_op`] runs: alone (optionally timing the floor before every call), or as one of
/// several clients that start each operation together.
#[derive(Clone, Copy, Default)]
pub(crate) struct Timing<'a> {
    /// Time the floor before every call (PostgreSQL, one client).
    pub(crate) floor: Option<&'a Floor>,
    /// Several clients: every client prepares all its inputs, then waits here, so that the
    /// operation's calls of all clients run at the same time.
    pub(crate) start_together: Option<&'a tokio::sync::Barrier>,
    /// Alternate the calls between the two stores of a [`Paired`] store, timing each side's
    /// floor before each of its calls.
    pub(crate) pairing: Option<Pairing<'a>>,
}

impl<'a> Timing<'a> {
    /// Alone, timing `floor` before every call.
    pub(crate) fn with_floor(floor: &'a Floor) -> Self {
        Self {
            floor: Some(floor),
            ..Self::default()
        }
    }

    /// Alone, alternating the calls between the sides of `pairing`.
    pub(crate) fn paired(pairing: Pairing<'a>) -> Self {
        Self {
            pairing: Some(pairing),
            ..Self::default()
        }
    }
}

/// Times `iterations` runs of `call` after preparing each with `setup` (untimed).
pub(crate) async fn time_op<P, SF, C, CF, T>(
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
    let mut sides = Sides::default();
    for index in 0..iterations {
        // With a pairing, the side this call (and its setup) goes to.
        let side = index % 2;
        if let Some(pairing) = timing.pairing {
            // The call's setup goes through the call's own side, so that both sides' calls
            // find their connections as warm: a side whose backends sat idle while the other
            // side set up was measured slower for the heavier writes.
            pairing.side.store(side, Ordering::Relaxed);
        }
        let prepared = match ready.next() {
            Some(prepared) => prepared,
            None => setup(index).await,
        };
        if let Some(floor) = timing.floor {
            floor_latencies.extend(floor.time().await);
        }
        if let Some(pairing) = timing.pairing {
            if let Some(took) = pairing.floors[side].time().await {
                floor_latencies.push(took);
                sides.floors.push(side);
            }
            pairing.proxies[side].reset();
        }
        let start = Instant::now();
        if UNDER_CALLGRIND.load(Ordering::Relaxed) {
            measure_sync(call(prepared));
        } else {
            call(prepared).await;
        }
        let took = start.elapsed();
        if let Some(pairing) = timing.pairing {
            let counted = pairing.proxies[side].stats();
            sides.counts.push((counted.round_trips, counted.statements));
        }
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
        sides: timing.pairing.map(|_| sides),
    }
}

/// A driver error with the server's message, when there is one.
pub(crate) fn pg_error(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// A fresh UUIDv7.
pub(crate) fn uuid_v7() -> uuid::Uuid {
    UsrId::new().as_uuid()
}
