//! Project automation, run through cargo: `cargo xtask ci` runs the gates CI runs;
//! `cargo xtask conformance` runs the backends' conformance test targets and prints the runner's
//! report; `cargo xtask bench|bench-lock-cost|stress` run the harness binaries of
//! `crates/harness`; `cargo xtask package` packages every crate and builds each one alone;
//! `cargo xtask api` writes (or with `--check` compares) the public API listings of `api/`.
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand, ValueEnum};

mod api;
mod api_render;
mod ci;
mod conformance;
mod fuzz_api;
mod openapi;
mod package;
#[cfg(test)]
mod tidy;

#[derive(Parser)]
#[command(about = "Flametrench Rust SDK project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the conformance corpora (upstream, the project's, and any --fixtures) against stores:
    /// the backends' own conformance test targets, with the runner's per-file report.
    Conformance {
        /// Which stores to run.
        #[arg(long, value_enum, default_value = "all")]
        store: Store,
        /// Another corpus directory in the upstream layout (repeatable).
        #[arg(long = "fixtures")]
        fixtures: Vec<PathBuf>,
        /// Write the full report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Many clients run a random mix of operations on a few orgs; invariants are checked
    /// (the harness's `stress` binary; `--help` lists its flags).
    #[command(disable_help_flag = true)]
    Stress(Forwarded),
    /// Benchmark both stores: latency, throughput, round trips, ratios to a one-round-trip floor
    /// (the harness's `bench` binary, in release mode; `--help` lists its flags).
    #[command(disable_help_flag = true)]
    Bench(Forwarded),
    /// What the per-org lock rows cost each PostgreSQL write, side by side in one run (the
    /// harness's `bench-lock-cost` binary, in release mode; `--help` lists its flags).
    #[command(disable_help_flag = true)]
    BenchLockCost(Forwarded),
    /// Write each published crate's public API listing to `api/<crate>.txt` (from rustdoc's
    /// JSON output); with `--check`, compare instead and fail on a difference.
    Api {
        /// Compare with the committed listings instead of writing them.
        #[arg(long)]
        check: bool,
    },
    /// Package every crate and build each packaged crate on its own.
    Package,
    /// Fuzz the example service with schemathesis from the spec's OpenAPI (bundled under
    /// `target/openapi/`), on the memory store and on a throwaway PostgreSQL cluster; fails on
    /// any finding outside the committed baseline.
    FuzzApi {
        /// Which stores to run.
        #[arg(long, value_enum, default_value = "all")]
        store: Store,
        /// Test cases per operation and phase (schemathesis's `--max-examples`).
        #[arg(long, default_value_t = 100)]
        max_examples: u32,
        /// The random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Merge this run's failures into the baseline instead of failing on them.
        #[arg(long)]
        update_baseline: bool,
    },
    /// Write the OpenAPI bundle the fuzzing reads to `target/openapi/` and print its path.
    Openapi,
    /// Run CI: format, clippy, docs, the README's test command, conformance, the stress runs,
    /// the examples and packaging (`.ci/run` calls this after installing what is missing).
    Ci,
}

/// The arguments of a harness binary, passed on as they are.
#[derive(clap::Args)]
struct Forwarded {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// Which stores to run.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Store {
    Memory,
    Postgres,
    /// The PostgreSQL store on Citus, in the distributed layout (conformance only).
    Citus,
    All,
}

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cargo that runs xtask (`CARGO`), so that every task uses the same toolchain, in the
/// workspace root.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace());
    command
}

/// Runs `command`; whether it succeeded.
fn succeeds(command: &mut Command) -> bool {
    command.status().is_ok_and(|status| status.success())
}

/// Runs the harness binary `bin` with `args`, in release mode for the benchmarks.
fn harness(bin: &str, release: bool, args: &[OsString]) -> bool {
    let mut command = cargo();
    command.args(["run", "--quiet", "-p", "flametrench-harness"]);
    if release {
        command.arg("--release");
    }
    succeeds(command.args(["--bin", bin, "--"]).args(args))
}

fn main() -> ExitCode {
    let ok = match Cli::parse().task {
        Task::Conformance {
            store,
            fixtures,
            json,
        } => conformance::run(store, &fixtures, json.as_deref()),
        Task::Stress(forwarded) => harness("stress", false, &forwarded.args),
        Task::Bench(forwarded) => harness("bench", true, &forwarded.args),
        Task::BenchLockCost(forwarded) => harness("bench-lock-cost", true, &forwarded.args),
        Task::Api { check } => api::run(&workspace(), check),
        Task::Package => package::run(),
        Task::FuzzApi {
            store,
            max_examples,
            seed,
            update_baseline,
        } => fuzz_api::run(&fuzz_api::Options {
            store,
            max_examples,
            seed,
            update_baseline,
        }),
        Task::Openapi => {
            let workspace = workspace();
            match openapi::write(&workspace, &openapi::folder(&workspace)) {
                Ok(path) => {
                    println!("{}", path.display());
                    true
                }
                Err(error) => {
                    eprintln!("openapi: {error}");
                    false
                }
            }
        }
        Task::Ci => ci::run(),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
