//! Instructions per call of the memory store, counted by callgrind in a child process: this
//! binary again, as `bench instructions-child`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use flametrench_tenancy_memory::InMemoryTenancyStore;

use crate::scenarios::{org_with_members, single_client};
use crate::timing::{Timing, UNDER_CALLGRIND, time_op};

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
pub(crate) fn instructions(
    sizes: &[usize],
    iterations: usize,
) -> Result<Vec<(String, Vec<f64>)>, String> {
    let dir = std::env::temp_dir().join(format!("ft-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    for (column, size) in sizes.iter().enumerate() {
        let out = dir.join(format!("size-{size}"));
        let args = [
            "instructions-child".to_owned(),
            "--size".to_owned(),
            size.to_string(),
            "--iterations".to_owned(),
            iterations.to_string(),
        ];
        let stdout = callgrind(&args, &out)?;
        let ops: Vec<String> = stdout
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

/// Runs this binary again with `args` under callgrind, counting only the instructions inside
/// `ft_callgrind_measure`, each `ft_callgrind_dump` starting a new dump (`out.1`, `out.2`, ...);
/// the child's standard output.
pub(crate) fn callgrind(args: &[String], out: &Path) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=ft_callgrind_measure")
        .arg("--dump-before=ft_callgrind_dump")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(args)
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "callgrind run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The instruction total of callgrind's dump number `part` of the run written to `base`.
pub(crate) fn dump_total(base: &Path, part: usize) -> Result<u64, String> {
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
