//! `cargo xtask package`: `cargo package` verifies each crate by building the packaged sources
//! alone, against the other workspace crates as packaged, so a file a crate needs but does not
//! ship fails here.
//!
//! Cargo unpacks the packaged workspace crates under its home's registry sources, by version: a
//! copy left by an earlier run of the same version would be verified instead of the current
//! sources. So the run uses a throwaway cargo home, made anew each time under the target
//! directory, and the user's own home is only read: its configuration (a registry mirror, say;
//! never its credentials) and its registry index and downloaded crates are copied in, so that
//! the run needs nothing from the network that the user's cargo would not fetch anyway.

use std::path::{Path, PathBuf};

/// The configuration files of a cargo home.
const CONFIG_FILES: [&str; 2] = ["config.toml", "config"];

/// The parts of a cargo home's registry that spare a download: the index and the `.crate`
/// files. The unpacked sources (`registry/src`) are what must start empty.
const REGISTRY_PARTS: [&str; 2] = ["registry/index", "registry/cache"];

/// Packages every publishable crate with a throwaway cargo home; whether all verified.
pub(crate) fn run() -> bool {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace().join("target"));
    let target = std::path::absolute(&target).unwrap_or(target);
    let _ = std::fs::remove_dir_all(target.join("package"));
    let home = target.join("xtask-cargo-home");
    if let Err(error) = throwaway_home(&home) {
        eprintln!("the throwaway cargo home {}: {error}", home.display());
        return false;
    }
    println!("packaging with the throwaway cargo home {}", home.display());
    let packaged = crate::succeeds(
        crate::cargo()
            .args(["package", "--workspace", "--allow-dirty"])
            .args(["--exclude", "xtask", "--exclude", "flametrench-harness"])
            .env("CARGO_HOME", &home),
    );
    let _ = std::fs::remove_dir_all(&home);
    packaged
}

/// The user's cargo home: `CARGO_HOME`, or `~/.cargo`.
fn user_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// Makes `home` a fresh cargo home with the user's configuration and registry downloads.
fn throwaway_home(home: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home)?;
    let Some(user) = user_home() else {
        return Ok(());
    };
    for name in CONFIG_FILES {
        let config = user.join(name);
        if config.is_file() {
            std::fs::copy(&config, home.join(name))?;
        }
    }
    for part in REGISTRY_PARTS {
        copy_tree(&user.join(part), &home.join(part))?;
    }
    Ok(())
}

/// Copies the files and directories under `from` to `to` (links are left out); nothing when
/// `from` does not exist.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if !from.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
