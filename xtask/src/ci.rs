//! `cargo xtask ci`: the CI steps, run in order through the cargo that runs xtask.

/// One CI step: what it is, cargo's arguments, and an environment variable to set.
type Step = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

/// The CI steps, in order: the one definition of CI (`.ci/run` installs what is missing, then
/// runs `cargo xtask ci`). The tests step is the README's test command.
pub(crate) const CI_STEPS: &[Step] = &[
    ("format", &["fmt", "--all", "--", "--check"], None),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        None,
    ),
    (
        "docs",
        &["doc", "--workspace", "--no-deps"],
        Some(("RUSTDOCFLAGS", "-D warnings")),
    ),
    (
        "public API listings (api/)",
        &["xtask", "api", "--check"],
        None,
    ),
    (
        "tests (the README's test command)",
        &["test", "--workspace"],
        None,
    ),
    (
        "conformance",
        &["xtask", "conformance", "--store", "all"],
        None,
    ),
    (
        "stress, the server restarted in the middle of a checkpoint",
        &[
            "xtask",
            "stress",
            "--store",
            "all",
            "--clients",
            "8",
            "--seconds",
            "10",
            "--seed",
            "1",
            "--restart",
        ],
        None,
    ),
    (
        "stress, a pool of 2 with a backend killed every 1-15 ms, at most 0.1 % of writes unknown",
        &[
            "xtask",
            "stress",
            "--store",
            "postgres",
            "--clients",
            "8",
            "--pool-size",
            "2",
            "--seconds",
            "20",
            "--seed",
            "2",
            "--kill-backends-ms",
            "1",
            "--kill-backends-max-ms",
            "15",
            "--max-unknown-percent",
            "0.1",
        ],
        None,
    ),
    (
        "stress on Citus, backends of the coordinator and the workers killed every 10-60 ms, \
         at most 2 % of writes unknown",
        &[
            "xtask",
            "stress",
            "--store",
            "citus",
            "--clients",
            "8",
            "--pool-size",
            "4",
            "--seconds",
            "20",
            "--seed",
            "3",
            "--kill-backends-ms",
            "10",
            "--kill-backends-max-ms",
            "60",
            "--max-unknown-percent",
            "2",
        ],
        None,
    ),
    // The debug build, unlike `cargo xtask bench`: a release build of the harness takes minutes,
    // and what is gated are counts held to the smallest size's, which either build shows. Both
    // stores: the memory store's instructions per call under callgrind (valgrind is on every
    // machine this runs on), PostgreSQL's blocks and rows per call.
    (
        "scale: paged reads and single-org writes on orgs of 10 and 2,000 members, their \
         deterministic gates (instructions per call on memory, blocks and rows on PostgreSQL)",
        &[
            "run",
            "--quiet",
            "-p",
            "flametrench-harness",
            "--bin",
            "bench",
            "--",
            "scale",
            "--store",
            "all",
            "--max-members",
            "2000",
            "--orgs",
            "20000",
            "--iterations",
            "10",
            "--instructions",
            "5",
        ],
        None,
    ),
    (
        "fuzz-api: schemathesis against the example service on both stores, nothing outside \
         the baseline",
        &["xtask", "fuzz-api", "--store", "all"],
        None,
    ),
    ("examples", &["run", "--example", "quickstart"], None),
    (
        "examples",
        &[
            "run",
            "-p",
            "flametrench-tenancy-postgres",
            "--example",
            "postgres",
        ],
        None,
    ),
    (
        "examples",
        &[
            "run",
            "-p",
            "flametrench-tenancy-postgres",
            "--example",
            "bootstrap",
        ],
        None,
    ),
    ("packaging", &["xtask", "package"], None),
];

/// Runs every step in order, stopping at the first that fails; whether all passed. Prints
/// each step's wall time as it ends, and all of them, with the total, at the end.
pub(crate) fn run() -> bool {
    let started = std::time::Instant::now();
    let mut times: Vec<(&str, std::time::Duration)> = Vec::new();
    let mut passed = true;
    for (what, args, env) in CI_STEPS {
        println!("== {what}: cargo {}", args.join(" "));
        let step = std::time::Instant::now();
        let mut command = crate::cargo();
        command.args(*args);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        let ok = crate::succeeds(&mut command);
        times.push((what, step.elapsed()));
        println!("-- {what}: {:.1} s", step.elapsed().as_secs_f64());
        if !ok {
            println!("failed: {what}: cargo {}", args.join(" "));
            passed = false;
            break;
        }
    }
    println!("== step times");
    for (what, took) in &times {
        println!("{:>8.1} s  {what}", took.as_secs_f64());
    }
    println!("{:>8.1} s  total", started.elapsed().as_secs_f64());
    passed
}
