//! Benchmarks and stress runs of the Flametrench stores, as three binaries:
//!
//! - `bench`: latency, throughput and round trips of both stores, ratios to a one-round-trip
//!   floor, the memory store's heap bytes (through a counting allocator installed in that
//!   binary only) and instructions per call (under callgrind);
//! - `bench-lock-cost`: what the per-org lock rows cost each PostgreSQL write;
//! - `stress`: many clients on a few orgs, with the invariants checked at checkpoints.
//!
//! `cargo xtask bench|bench-lock-cost|stress ARGS` runs them (`bench` and `bench-lock-cost` in
//! release mode); so does `cargo run -p flametrench-harness --release --bin NAME -- ARGS`. This
//! library holds what the binaries share. Benchmarks print numbers; they assert nothing.

use std::future::Future;
use std::process::ExitCode;

/// Which stores a run measures or stresses (`--store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// The in-memory store.
    Memory,
    /// The PostgreSQL store, on a throwaway cluster (or `DATABASE_URL`).
    Postgres,
    /// The PostgreSQL store on Citus, in the distributed layout, on a throwaway cluster of a
    /// coordinator and two workers (or `CITUS_URL`): the stress run, and the bench's
    /// comparison with one node. `all` leaves it out.
    Citus,
    /// The memory store and the PostgreSQL store on one node.
    All,
}

impl Store {
    /// Whether the memory store takes part.
    pub fn memory(self) -> bool {
        matches!(self, Self::Memory | Self::All)
    }

    /// Whether the PostgreSQL store on one node takes part.
    pub fn postgres(self) -> bool {
        matches!(self, Self::Postgres | Self::All)
    }

    /// Whether the PostgreSQL store on Citus takes part.
    pub fn citus(self) -> bool {
        self == Self::Citus
    }
}

/// Runs `job` on a multi-threaded runtime. Success when it returns `Ok(true)`; `Ok(false)` is a
/// failure the job has reported itself, and an error is printed after `what` ("bench failed").
pub fn block_on(what: &str, job: impl Future<Output = Result<bool, String>>) -> ExitCode {
    let outcome = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime
            .block_on(job)
            .map_err(|error| format!("{what}: {error}")),
        Err(error) => Err(error.to_string()),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
