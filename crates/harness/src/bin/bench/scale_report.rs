//! The tables of `bench scale` and its plot of p50 against size, an SVG written by hand.

use std::fmt::Write as _;
use std::path::Path;

use crate::scale::{
    Expect, INSTRUCTION_GROWTH, K_BLOCKS, K_ROWS, Measured, Probe, UNPAGED_CALLS, Verdict,
};
use crate::timing::micros;

/// `n` with thousands separators.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A size with what it counts: "10,000 members".
fn size_label(probe: Probe, size: usize) -> String {
    format!("{} {}", thousands(size), probe.spec().axis.noun())
}

/// A cell's p50 in µs, and its ratio to the smallest size's.
fn p50_and_ratio(measured: &Measured, at: usize) -> (String, String) {
    let p50 = |at: usize| measured.cells.get(at).and_then(|cell| cell.p50());
    match (p50(at), p50(0)) {
        (Some(p50), Some(base)) => (
            format!("{:.1}", micros(p50)),
            format!("{:.2}", micros(p50) / micros(base).max(1e-9)),
        ),
        (Some(p50), None) => (format!("{:.1}", micros(p50)), "-".into()),
        (None, _) => ("-".into(), "-".into()),
    }
}

/// A verdict as the gate column shows it; whether it is a FAIL.
fn gate(verdict: Verdict, expect: Expect) -> (String, bool) {
    match verdict {
        Verdict::Smallest => (String::new(), false),
        Verdict::Pass => ("PASS".into(), false),
        Verdict::Fail(why) => (format!("FAIL ({why})"), true),
        Verdict::Ungated => (
            match expect {
                Expect::Unpaged => "not gated: returns every row",
                Expect::PerMember | Expect::Flat => "not gated",
            }
            .into(),
            false,
        ),
        Verdict::UngatedHere(why) => (format!("not gated: {why}"), false),
        Verdict::Uncounted => ("-".into(), false),
    }
}

/// Prints each failed cell's first failure under the table.
fn print_failures(measured: &[Measured]) {
    for row in measured {
        for cell in &row.cells {
            if let Some(failure) = &cell.first_failure {
                println!(
                    "  {} at {}: {} of the calls failed, first: {failure}",
                    row.probe.label(),
                    size_label(row.probe, cell.size),
                    cell.failures
                );
            }
        }
    }
}

/// Prints the PostgreSQL table and the `revoke_org` rows; whether every gate passed.
pub(crate) fn print_postgres(measured: &[Measured], iterations: usize) -> bool {
    println!(
        "\npostgres, cost against size: p50 of {iterations} calls per size, sizes interleaved \
         ({UNPAGED_CALLS} for the unpaged reads, size by size); blocks (shared buffers hit or \
         read), rows and statements per call from pg_stat_statements, every statement of the \
         call summed"
    );
    println!(
        "  gate, at each size against the smallest: blocks/call <= smallest + {K_BLOCKS}, \
         rows/call <= smallest + {K_ROWS}"
    );
    println!(
        "  {:<44} {:>18} {:>10} {:>10} {:>11} {:>9} {:>10}  gate",
        "operation", "size", "p50 µs", "x smallest", "blocks/call", "rows/call", "stmts/call"
    );
    let mut passed = true;
    for row in measured
        .iter()
        .filter(|row| row.probe.spec().expect != Expect::PerMember)
    {
        for (at, cell) in row.cells.iter().enumerate() {
            let (p50, ratio) = p50_and_ratio(row, at);
            let (verdict, failed) = gate(row.postgres_verdict(at), row.probe.spec().expect);
            passed &= !failed;
            println!(
                "  {:<44} {:>18} {:>10} {:>10} {:>11.1} {:>9.1} {:>10.1}  {verdict}",
                if at == 0 {
                    row.probe.label()
                } else {
                    String::new()
                },
                size_label(row.probe, cell.size),
                p50,
                ratio,
                cell.per_call(cell.blocks),
                cell.per_call(cell.rows),
                cell.per_call(cell.statements),
            );
        }
    }
    println!(
        "\npostgres, revoke_org by the members it revokes: one call per size, timed; it holds \
         the org's lock from its first statement to its commit, so its time is how long the \
         org's writers wait"
    );
    println!(
        "  {:<18} {:>12} {:>24} {:>12} {:>12}",
        "size", "µs", "µs per 100,000 members", "blocks/call", "rows/call"
    );
    for row in measured
        .iter()
        .filter(|row| row.probe.spec().expect == Expect::PerMember)
    {
        for (at, cell) in row.cells.iter().enumerate() {
            let (_, failed) = gate(row.postgres_verdict(at), row.probe.spec().expect);
            passed &= !failed;
            let took = cell.p50().map_or(f64::NAN, micros);
            println!(
                "  {:<18} {:>12.1} {:>24.1} {:>12.1} {:>12.1}",
                size_label(row.probe, cell.size),
                took,
                took * 100_000.0 / cell.size as f64,
                cell.per_call(cell.blocks),
                cell.per_call(cell.rows),
            );
        }
    }
    print_failures(measured);
    passed
}

/// Prints the memory store's table and the `revoke_org` rows; whether every gate passed.
pub(crate) fn print_memory(measured: &[Measured], iterations: usize, counted: usize) -> bool {
    println!(
        "\nmemory store, cost against size: p50 of {iterations} calls per size, sizes \
         interleaved ({UNPAGED_CALLS} for the unpaged reads, size by size); instructions per \
         call under callgrind, the median of {counted} calls per size, counted apart"
    );
    println!(
        "  gate, at each size against the smallest: instructions/call <= {INSTRUCTION_GROWTH} x \
         smallest"
    );
    println!(
        "  {:<44} {:>18} {:>10} {:>10} {:>13} {:>10}  gate",
        "operation", "size", "p50 µs", "x smallest", "instr/call", "x smallest"
    );
    let instructions = |row: &Measured, at: usize| row.cells.get(at).and_then(|c| c.instructions);
    let mut passed = true;
    for row in measured
        .iter()
        .filter(|row| row.probe.spec().expect != Expect::PerMember)
    {
        for (at, cell) in row.cells.iter().enumerate() {
            let (p50, ratio) = p50_and_ratio(row, at);
            let (verdict, failed) = gate(row.memory_verdict(at), row.probe.spec().expect);
            passed &= !failed;
            let (count, growth) = match (instructions(row, at), instructions(row, 0)) {
                (Some(count), Some(base)) => (
                    format!("{count:.0}"),
                    format!("{:.2}", count / base.max(1.0)),
                ),
                _ => ("-".into(), "-".into()),
            };
            println!(
                "  {:<44} {:>18} {:>10} {:>10} {:>13} {:>10}  {verdict}",
                if at == 0 {
                    row.probe.label()
                } else {
                    String::new()
                },
                size_label(row.probe, cell.size),
                p50,
                ratio,
                count,
                growth,
            );
        }
    }
    println!("\nmemory store, revoke_org by the members it revokes: one call per size");
    println!(
        "  {:<18} {:>12} {:>24} {:>14} {:>26}",
        "size", "µs", "µs per 100,000 members", "instr/call", "instr per 100,000 members"
    );
    for row in measured
        .iter()
        .filter(|row| row.probe.spec().expect == Expect::PerMember)
    {
        for (at, cell) in row.cells.iter().enumerate() {
            let (_, failed) = gate(row.memory_verdict(at), row.probe.spec().expect);
            passed &= !failed;
            let took = cell.p50().map_or(f64::NAN, micros);
            let per_member = 100_000.0 / cell.size as f64;
            let (count, scaled) = match cell.instructions {
                Some(count) => (format!("{count:.0}"), format!("{:.0}", count * per_member)),
                None => ("-".into(), "-".into()),
            };
            println!(
                "  {:<18} {:>12.1} {:>24.1} {:>14} {:>26}",
                size_label(row.probe, cell.size),
                took,
                took * per_member,
                count,
                scaled,
            );
        }
    }
    print_failures(measured);
    passed
}

// ---------------------------------------------------------------------------------------
// The plot.

/// Line colours, then dashes once they run out.
const COLOURS: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];
const DASHES: [&str; 2] = ["", "6,3"];

const WIDTH: f64 = 1280.0;
const PANEL: f64 = 560.0;
const LEFT: f64 = 90.0;
const PLOT_WIDTH: f64 = 680.0;
const TOP: f64 = 50.0;
const PLOT_HEIGHT: f64 = 440.0;
const LEGEND_X: f64 = LEFT + PLOT_WIDTH + 40.0;

/// Text made safe inside SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole decades around `low..=high` (positive), as exponents.
fn decades(low: f64, high: f64) -> (i32, i32) {
    let low = low.max(1e-3).log10().floor() as i32;
    let high = high.max(1e-3).log10().ceil() as i32;
    (low, high.max(low + 1))
}

/// A power of ten as a tick label: 0.01, 1, 1k, 10M.
fn decade_label(exponent: i32) -> String {
    match exponent {
        e if e < 0 => format!("{}", 10f64.powi(e)),
        e if e < 3 => format!("{}", 10i64.pow(e as u32)),
        e if e < 6 => format!("{}k", 10i64.pow(e as u32 - 3)),
        e if e < 9 => format!("{}M", 10i64.pow(e as u32 - 6)),
        e => format!("1e{e}"),
    }
}

/// One panel: p50 against size on log axes, one line per probe, the legend at its right.
fn panel(svg: &mut String, top: f64, title: &str, measured: &[Measured]) {
    let points: Vec<(usize, Vec<(f64, f64)>)> = measured
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let line = row
                .cells
                .iter()
                .filter_map(|cell| Some((cell.size as f64, micros(cell.p50()?).max(1e-3))))
                .collect();
            (index, line)
        })
        .collect();
    let all = || points.iter().flat_map(|(_, line)| line.iter());
    let (x_low, x_high) = decades(
        all().map(|p| p.0).fold(f64::INFINITY, f64::min),
        all().map(|p| p.0).fold(0.0, f64::max),
    );
    let (y_low, y_high) = decades(
        all().map(|p| p.1).fold(f64::INFINITY, f64::min),
        all().map(|p| p.1).fold(0.0, f64::max),
    );
    let x = |size: f64| {
        LEFT + (size.log10() - f64::from(x_low)) / f64::from(x_high - x_low) * PLOT_WIDTH
    };
    let y = |p50: f64| {
        top + TOP + PLOT_HEIGHT
            - (p50.log10() - f64::from(y_low)) / f64::from(y_high - y_low) * PLOT_HEIGHT
    };
    let bottom = top + TOP + PLOT_HEIGHT;
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-size="16" font-weight="bold">{}</text>"#,
        top + 28.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{:.1}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" fill="none" stroke="#333"/>"##,
        top + TOP
    );
    for exponent in x_low..=x_high {
        let at = x(10f64.powi(exponent));
        let _ = writeln!(
            svg,
            r##"<line x1="{at:.1}" y1="{:.1}" x2="{at:.1}" y2="{bottom:.1}" stroke="#ddd"/><text x="{at:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"##,
            top + TOP,
            bottom + 18.0,
            decade_label(exponent)
        );
    }
    for exponent in y_low..=y_high {
        let at = y(10f64.powi(exponent));
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"##,
            LEFT + PLOT_WIDTH,
            LEFT - 8.0,
            at + 4.0,
            decade_label(exponent)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="middle">size: members, memberships, invitations or orgs, as the legend says (log)</text>"#,
        LEFT + PLOT_WIDTH / 2.0,
        bottom + 40.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="24" y="{:.1}" font-size="13" text-anchor="middle" transform="rotate(-90 24 {:.1})">p50 µs (log)</text>"#,
        top + TOP + PLOT_HEIGHT / 2.0,
        top + TOP + PLOT_HEIGHT / 2.0
    );
    for (index, line) in &points {
        let colour = COLOURS[index % COLOURS.len()];
        let dash = DASHES[(index / COLOURS.len()) % DASHES.len()];
        let path: Vec<String> = line
            .iter()
            .map(|(size, p50)| format!("{:.1},{:.1}", x(*size), y(*p50)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
            path.join(" ")
        );
        for (size, p50) in line {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(*size),
                y(*p50)
            );
        }
        let row = top + TOP + 6.0 + *index as f64 * 18.0;
        let probe = measured[*index].probe;
        let _ = writeln!(
            svg,
            r#"<line x1="{LEGEND_X}" y1="{row:.1}" x2="{:.1}" y2="{row:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}" font-size="12">{} [{}]</text>"#,
            LEGEND_X + 24.0,
            LEGEND_X + 30.0,
            row + 4.0,
            escape(&probe.label()),
            probe.spec().axis.noun()
        );
    }
}

/// Writes the plot of p50 against size, one panel per store, to `path`.
pub(crate) fn write_plot(path: &Path, panels: &[(&str, Vec<Measured>)]) -> Result<(), String> {
    let height = PANEL * panels.len().max(1) as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    for (index, (store, measured)) in panels.iter().enumerate() {
        panel(
            &mut svg,
            index as f64 * PANEL,
            &format!(
                "{store}: p50 against size (log-log); a flat line costs the same at every size"
            ),
            measured,
        );
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg).map_err(|error| format!("{}: {error}", path.display()))
}
