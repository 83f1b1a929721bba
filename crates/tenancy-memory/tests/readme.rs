//! The README's dependency snippets are held to the manifests: every workspace package they
//! name exists and is taken from the repository the manifests declare, and every crate a
//! README code block uses is listed in one snippet together with the others it uses.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The fenced blocks of `text` with their info strings.
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((info.trim().to_owned(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(trimmed);
            body.push('\n');
        }
    }
    out
}

/// The value of `key = "…"` in the `[workspace.package]` table of the root manifest.
fn workspace_value(key: &str) -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    manifest
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("{key} in the root manifest"))
}

/// The package names of the workspace's crates.
fn packages() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in ["crates", "examples"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
                continue;
            };
            if let Some(name) = manifest.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
            }) {
                names.insert(name);
            }
        }
    }
    names
}

/// The crates a Rust block uses by path (`flametrench_…`, `tokio`, the driver crates).
fn used(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        let Some((head, _)) = word.split_once("::") else {
            continue;
        };
        if head.starts_with("flametrench_")
            || matches!(head, "tokio" | "deadpool_postgres" | "tokio_postgres")
        {
            out.insert(head.replace('_', "-"));
        }
    }
    out
}

#[test]
fn dependency_snippets_match_the_manifests() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let repository = workspace_value("repository");
    let packages = packages();
    let mut sections: Vec<BTreeSet<String>> = Vec::new();
    for (info, body) in blocks(&readme) {
        if info != "toml" {
            continue;
        }
        let mut listed = BTreeSet::new();
        for line in body.lines() {
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            let name = name.trim().to_owned();
            if name.starts_with("flametrench-") {
                assert!(
                    packages.contains(&name),
                    "README names {name}, which is no workspace package"
                );
                assert!(
                    value.contains(&format!("git = \"{repository}\"")),
                    "README's {name} must come from {repository} until the crates are published: {line}"
                );
            }
            listed.insert(name);
        }
        sections.push(listed);
    }
    assert!(!sections.is_empty(), "the README has dependency snippets");
    for (info, body) in blocks(&readme) {
        // Blocks marked `ignore` show other crates (TLS) and are not compiled.
        if !info.starts_with("rust") || info.contains("ignore") {
            continue;
        }
        let needed = used(&body);
        assert!(
            sections.iter().any(|listed| needed.is_subset(listed)),
            "no README snippet lists every crate this block uses ({needed:?}):\n{body}"
        );
    }
}
