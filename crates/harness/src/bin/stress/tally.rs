//! What a stress run saw, and its report.

use std::collections::BTreeMap;

use flametrench_tenancy_core::{Op, TenancyError};

/// What a run saw.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) ops: BTreeMap<Op, u64>,
    pub(crate) errors: BTreeMap<&'static str, u64>,
    pub(crate) untyped: Vec<String>,
    pub(crate) violations: Vec<String>,
    pub(crate) checkpoints: u64,
    /// Rows that successful calls said they created: (table, id), checked against the
    /// database at the end.
    pub(crate) created: Vec<(&'static str, uuid::Uuid)>,
    /// Of `created`, the rows the database does not hold, once the caller checked them
    /// (`None`: not checked, as on the memory store, whose calls cannot lose an answer).
    pub(crate) missing: Option<Vec<String>>,
    /// Calls that ended with an unknown commit outcome, by operation.
    pub(crate) unknown: BTreeMap<Op, u64>,
}

impl Tally {
    /// Counts one call of `op`: its result, and the row it said it created.
    pub(crate) fn record(
        &mut self,
        op: Op,
        result: Result<(), TenancyError>,
        made: Option<(&'static str, uuid::Uuid)>,
    ) {
        *self.ops.entry(op).or_default() += 1;
        self.created.extend(made);
        if let Err(error) = result {
            *self.errors.entry(error.code()).or_default() += 1;
            if error.code() == "storage.commit_outcome_unknown" {
                *self.unknown.entry(op).or_default() += 1;
            }
            if error.code() == "storage.backend" {
                self.untyped.push(format!("{op}: {error:?}"));
            }
        }
    }

    /// The write calls made.
    fn writes(&self) -> u64 {
        self.ops
            .iter()
            .filter(|(op, _)| op.is_write())
            .map(|(_, count)| count)
            .sum()
    }

    /// The percentage of the writes that ended `storage.commit_outcome_unknown`.
    pub(crate) fn unknown_percent(&self) -> f64 {
        let unknown = self
            .errors
            .get("storage.commit_outcome_unknown")
            .copied()
            .unwrap_or(0);
        100.0 * unknown as f64 / self.writes().max(1) as f64
    }

    /// Prints the run's report for `store`.
    pub(crate) fn print(&self, store: &str) {
        println!("stress on {store}: {} checkpoints", self.checkpoints);
        println!("  operations:");
        for (op, count) in &self.ops {
            println!("    {:<28} {count}", op.name());
        }
        println!("  errors by code:");
        for (code, count) in &self.errors {
            println!("    {code:<40} {count}");
        }
        println!("  invariant violations: {}", self.violations.len());
        for violation in self.violations.iter().take(10) {
            println!("    {violation}");
        }
        let writes = self.writes();
        let unknown = self
            .errors
            .get("storage.commit_outcome_unknown")
            .copied()
            .unwrap_or(0);
        println!(
            "  commit outcome unknown: {unknown} of {writes} writes ({:.3} %)",
            100.0 * unknown as f64 / writes.max(1) as f64
        );
        for (op, count) in &self.unknown {
            println!("    {:<28} {count}", op.name());
        }
        match &self.missing {
            Some(missing) => {
                println!(
                    "  created rows checked against the database: {}, missing: {}",
                    self.created.len(),
                    missing.len()
                );
                for row in missing.iter().take(10) {
                    println!("    {row}");
                }
            }
            None => println!(
                "  created rows reported: {} (not checked against storage)",
                self.created.len()
            ),
        }
        println!("  untyped errors: {}", self.untyped.len());
        for error in self.untyped.iter().take(10) {
            println!("    {error}");
        }
    }
}
