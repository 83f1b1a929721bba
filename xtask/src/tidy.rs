//! Tidy checks: xtask stays a small dispatcher that links nothing of the project, CI runs the
//! README's test command, and the runner reads the variables xtask sets.

use std::path::{Path, PathBuf};

/// The most lines a file under `xtask/` may have.
const MAX_LINES: usize = 300;

fn xtask_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The dependency names of a manifest: the keys of every `[...dependencies]` table, and the
/// tables named `[...dependencies.NAME]`.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            in_dependencies = header.ends_with("dependencies");
            if let Some((table, name)) = header.rsplit_once('.') {
                if table.ends_with("dependencies") {
                    names.push(name.trim_matches('"').to_owned());
                }
            }
        } else if in_dependencies && !line.is_empty() && !line.starts_with('#') {
            // `name = ...`, `name.workspace = true`, `"name" = ...`.
            if let Some((key, _)) = line.split_once('=') {
                let name = key.trim().trim_matches('"');
                names.push(name.split('.').next().unwrap_or(name).to_owned());
            }
        }
    }
    names
}

#[test]
fn no_xtask_file_is_over_the_limit() {
    let mut files = Vec::new();
    files_under(&xtask_dir(), &mut files);
    assert!(files.iter().any(|file| file.ends_with("src/main.rs")));
    let long: Vec<String> = files
        .iter()
        .map(|file| (file, read(file).lines().count()))
        .filter(|(_, lines)| *lines > MAX_LINES)
        .map(|(file, lines)| format!("{}: {lines} lines", file.display()))
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn xtask_links_no_project_crate_and_no_runtime() {
    let names = dependencies(&read(&xtask_dir().join("Cargo.toml")));
    assert!(names.iter().any(|name| name == "clap"), "{names:?}");
    let linked: Vec<&String> = names
        .iter()
        .filter(|name| name.starts_with("flametrench") || name.starts_with("tokio"))
        .collect();
    assert!(linked.is_empty(), "xtask depends on {linked:?}");
}

#[test]
fn the_dependency_reader_sees_every_form() {
    let manifest = "[dependencies]\nclap.workspace = true\n\"tokio\" = \"1\"\n\n\
                    [dev-dependencies.flametrench-ids]\npath = \"x\"\n\
                    [target.'cfg(unix)'.build-dependencies]\ntokio-util = \"1\"\n";
    let names = dependencies(manifest);
    assert_eq!(names, ["clap", "tokio", "flametrench-ids", "tokio-util"]);
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read(&xtask_dir().join("../README.md"));
    let command = readme
        .lines()
        .find_map(|line| line.strip_prefix("cargo test"))
        .map(|rest| rest.split('#').next().unwrap_or_default())
        .expect("the README shows a `cargo test` command");
    let args: Vec<&str> = std::iter::once("test")
        .chain(command.split_whitespace())
        .collect();
    assert!(
        crate::ci::CI_STEPS
            .iter()
            .any(|(_, step, _)| *step == args.as_slice()),
        "no CI step runs `cargo {}`",
        args.join(" ")
    );
}

#[test]
fn the_runner_reads_the_variables_xtask_sets() {
    let mut sources = Vec::new();
    files_under(&xtask_dir().join("../crates/conformance/src"), &mut sources);
    let text: String = sources.iter().map(|file| read(file)).collect();
    for name in [
        crate::conformance::REPORT_ENV,
        crate::conformance::FIXTURES_ENV,
    ] {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "the runner reads {name}"
        );
    }
}

#[test]
fn a_bare_cargo_test_covers_the_sdk_crates_only() {
    let manifest = read(&xtask_dir().join("../Cargo.toml"));
    let members = manifest
        .split_once("default-members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("the workspace lists its default members");
    for left_out in ["*", "harness", "xtask", "examples"] {
        assert!(!members.contains(left_out), "{left_out} in {members}");
    }
}
