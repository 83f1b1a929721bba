//! `test-postgres`: starts the tests' throwaway PostgreSQL cluster, prints its connection string
//! on one line of standard output, and keeps it until standard input closes; then stops it and
//! removes its files. `cargo xtask fuzz-api` runs the example service on it.
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::io::{Read, Write};
use std::process::ExitCode;

use flametrench_tenancy_postgres::testing::TestPostgres;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let server = match TestPostgres::start().await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("test-postgres: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{}", server.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    // Wait for the caller to close standard input (or to exit); dropping the server stops it.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    ExitCode::SUCCESS
}
