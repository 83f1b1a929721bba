//! The documents state facts the code can check; these tests keep them true:
//!
//! - `CONFORMANCE.md`'s table counts the project's fixture files and cases as they are, and
//!   the upstream ids and tenancy rows as the pinned manifest has them;
//! - `ARCHITECTURE.md`'s crate map names every crate of the workspace (under `crates/` and
//!   `examples/`), and every project crate each one depends on.

use std::path::{Path, PathBuf};

use flametrench_conformance::{CaseManifest, Corpus};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The files and cases column of the table row of `CONFORMANCE.md` that starts with `label`.
fn table_counts(doc: &str, label: &str) -> (usize, usize) {
    let row = doc
        .lines()
        .find(|line| line.starts_with(&format!("| {label}")))
        .unwrap_or_else(|| panic!("CONFORMANCE.md has no row for {label}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let number = |cell: &str| {
        cell.parse::<usize>()
            .unwrap_or_else(|_| panic!("{label}: {cell:?} is not a count"))
    };
    (number(cells[2]), number(cells[3]))
}

#[test]
fn the_conformance_table_counts_the_fixtures_as_they_are() {
    let root = workspace();
    let doc = read(&root.join("CONFORMANCE.md"));

    let project = Corpus::load(root.join("conformance")).expect("the project's corpus");
    let cases: usize = project.files.iter().map(|file| file.tests.len()).sum();
    assert_eq!(
        table_counts(&doc, "project (`conformance/`)"),
        (project.files.len(), cases),
        "CONFORMANCE.md's project row"
    );

    let manifest = CaseManifest::load(&root.join("conformance/upstream-manifest.json"))
        .expect("the upstream manifest");
    for (label, dir) in [
        ("upstream ids", "fixtures/ids/"),
        ("upstream tenancy", "fixtures/tenancy/"),
    ] {
        let files: Vec<_> = manifest
            .files
            .iter()
            .filter(|file| file.path.starts_with(dir))
            .collect();
        let cases = files.iter().map(|file| file.cases.len()).sum();
        assert_eq!(
            table_counts(&doc, label),
            (files.len(), cases),
            "CONFORMANCE.md's {label} row"
        );
    }
}

#[test]
fn the_crate_map_names_every_crate_and_its_project_dependencies() {
    let root = workspace();
    let doc = read(&root.join("ARCHITECTURE.md"));
    let map = doc
        .split("```")
        .nth(1)
        .expect("ARCHITECTURE.md opens with a crate map in a code block");
    let mut seen = 0;
    let dirs = ["crates", "examples"].map(|dir| root.join(dir));
    let entries = dirs.iter().flat_map(|dir| {
        std::fs::read_dir(dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .flatten()
    });
    for entry in entries {
        let manifest = entry.path().join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let text = read(&manifest);
        let name = text
            .lines()
            .find_map(|line| line.strip_prefix("name = "))
            .map(|name| name.trim_matches('"'))
            .unwrap_or_else(|| panic!("{}: no package name", manifest.display()));
        // Its line: the crate's name, then (after "->") the project crates it depends on.
        let line = map
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("the crate map leaves out {name}"));
        let shown = line.split_once("->").map_or("", |(_, deps)| deps);
        // Its dependencies outside `[dev-dependencies]`.
        let normal = text.split("[dev-dependencies]").next().unwrap_or_default();
        for dependency in normal
            .lines()
            .filter_map(|line| line.split(['.', ' ', '=']).next())
            .filter(|dep| dep.starts_with("flametrench-") && *dep != name)
        {
            assert!(
                shown.split([',', ' ']).any(|word| word == dependency),
                "the crate map does not show {name} depending on {dependency}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} crates found");
}
