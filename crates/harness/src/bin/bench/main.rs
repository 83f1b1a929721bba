//! `bench`: latency and throughput of the main operations on both stores, round trips per
//! operation on PostgreSQL, the ratio of each latency to a one-round-trip floor, and the memory
//! store's cost as it grows (heap bytes through the counting allocator installed here, in this
//! binary alone; instructions per call under callgrind). A benchmark, never a test: numbers are
//! printed, not asserted.
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod instructions;
mod overhead;
mod print;
mod proxy;
mod run;
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
    child: Option<Child>,
}

#[derive(Subcommand)]
enum Child {
    /// Internal: the memory store run that the bench starts under callgrind.
    #[command(hide = true)]
    InstructionsChild {
        #[arg(long)]
        size: usize,
        #[arg(long)]
        iterations: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flametrench_harness::block_on("bench failed", async move {
        match cli.child {
            Some(Child::InstructionsChild { size, iterations }) => {
                instructions::instructions_child(size, iterations).await?;
            }
            None => run::run(cli.settings).await?,
        }
        Ok(true)
    })
}
