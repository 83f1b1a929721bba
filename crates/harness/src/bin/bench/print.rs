//! The bench's tables.

use std::time::Duration;

use crate::timing::{Sample, median, micros};

/// Prints the table of [`concurrent`](crate::run::concurrent).
pub(crate) fn print_concurrent(title: &str, rows: &[(&'static str, f64, Duration, Duration)]) {
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

/// Prints one table of samples: rates, p50 and p99, the ratio to the floor timed between the
/// calls when there is one, and the round trips and statements counted for the operation.
pub(crate) fn print_samples(title: &str, samples: &[Sample], trips: &[(&'static str, u64, u64)]) {
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

/// Prints the instructions per call of each operation, one column per store size.
pub(crate) fn print_instructions(sizes: &[usize], table: &[(String, Vec<f64>)]) {
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
