//! `bench`: latency and throughput of the main operations on both stores, round trips per
//! operation on PostgreSQL, the ratio of each latency to a one-round-trip floor, and the memory
//! store's cost as it grows (heap bytes through the counting allocator installed here, in this
//! binary alone; instructions per call under callgrind). A benchmark, never a test: numbers are
//! printed, not asserted. `bench scale` is the exception: cost against size, whose deterministic
//! counts it gates (see `scale.rs`).
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod citus;
mod instructions;
mod overhead;
mod print;
mod proxy;
mod run;
mod scale;
mod scale_load;
mod scale_report;
mod scenarios;
mod timing;

#[global_allocator]
static ALLOCATOR: alloc::CountingAlloc = alloc::CountingAlloc;

/// Benchmark both stores: latency, throughput, round trips, ratios to a one-round-trip floor.
#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    settings: run::Settings,
    #[command(subcommand)]
    section: Option<Section>,
}

#[derive(Subcommand)]
enum Section {
    /// Cost against size: paged reads and single-org writes on orgs of 10 to 1,000,000 members,
    /// gated.
    ///
    /// Each paged read and single-org write on orgs of 10, 10,000 and 1,000,000 members (and
    /// users of 10 and 5,000 memberships, orgs of 10 and 10,000 invitations, installs of
    /// 10,000 to 1,000,000 orgs), on both stores, the sizes interleaved call by call. Gates PostgreSQL's
    /// shared buffers and rows per call (pg_stat_statements) and the memory store's
    /// instructions per call (callgrind) against the smallest size's; exits non-zero on a FAIL.
    Scale(scale::Settings),
    /// Internal: the memory store run that the bench starts under callgrind.
    #[command(hide = true)]
    InstructionsChild {
        #[arg(long)]
        size: usize,
        #[arg(long)]
        iterations: usize,
    },
    /// Internal: the memory store run that `bench scale` starts under callgrind.
    #[command(hide = true)]
    ScaleInstructions {
        #[arg(long)]
        max_members: usize,
        #[arg(long)]
        orgs: usize,
        #[arg(long)]
        calls: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flametrench_harness::block_on("bench failed", async move {
        match cli.section {
            Some(Section::InstructionsChild { size, iterations }) => {
                instructions::instructions_child(size, iterations).await?;
            }
            Some(Section::Scale(settings)) => return scale::run(settings).await,
            Some(Section::ScaleInstructions {
                max_members,
                orgs,
                calls,
            }) => scale::instructions_child(max_members, orgs, calls).await?,
            None => run::run(cli.settings).await?,
        }
        Ok(true)
    })
}
