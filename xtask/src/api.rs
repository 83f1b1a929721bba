//! `cargo xtask api`: a listing of each published crate's public API, one item a line, from
//! rustdoc's JSON output, written to `api/<crate>.txt`; `--check` compares instead of writing,
//! so that CI shows an API change as a diff of those files.
//!
//! rustdoc's JSON output is unstable: it is asked of the workspace's own toolchain with
//! `RUSTC_BOOTSTRAP=1`, and the listing refuses a format version other than [`FORMAT`] rather
//! than guess at it (a toolchain update that changes it updates this file and the listings in
//! one change).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api_render::{args, function, generics, last, ty};

/// The rustdoc JSON format version this listing reads.
const FORMAT: u64 = 57;

/// The published crates: package name, library name.
const CRATES: [(&str, &str); 6] = [
    ("flametrench-ids", "flametrench_ids"),
    ("flametrench-tenancy-core", "flametrench_tenancy_core"),
    ("flametrench-tenancy-memory", "flametrench_tenancy_memory"),
    (
        "flametrench-tenancy-postgres",
        "flametrench_tenancy_postgres",
    ),
    ("flametrench-conformance", "flametrench_conformance"),
    ("flametrench-tenancy-axum", "flametrench_tenancy_axum"),
];

/// Writes (or with `check`, compares) every crate's listing; whether all went well.
pub(crate) fn run(root: &Path, check: bool) -> bool {
    let mut ok = true;
    for (package, lib) in CRATES {
        let listing = match listing(root, package, lib) {
            Ok(listing) => listing,
            Err(why) => {
                eprintln!("api: {package}: {why}");
                return false;
            }
        };
        let file = root.join("api").join(format!("{package}.txt"));
        if check {
            let committed = std::fs::read_to_string(&file).unwrap_or_default();
            if committed != listing {
                eprintln!(
                    "api: {package}'s public API differs from {} (run `cargo xtask api` and commit the diff):",
                    file.display()
                );
                print_diff(&committed, &listing);
                ok = false;
            }
        } else if let Err(error) =
            std::fs::create_dir_all(root.join("api")).and_then(|()| std::fs::write(&file, &listing))
        {
            eprintln!("api: {}: {error}", file.display());
            ok = false;
        }
    }
    ok
}

/// The lines only one side has.
fn print_diff(committed: &str, listing: &str) {
    let old: BTreeSet<&str> = committed.lines().collect();
    let new: BTreeSet<&str> = listing.lines().collect();
    for line in old.difference(&new) {
        eprintln!("  - {line}");
    }
    for line in new.difference(&old) {
        eprintln!("  + {line}");
    }
}

/// The listing of one crate: its rustdoc JSON, walked from the crate root.
fn listing(root: &Path, package: &str, lib: &str) -> Result<String, String> {
    let target: PathBuf = root.join("target").join("api");
    let status = crate::cargo()
        .args(["rustdoc", "-q", "--lib", "-p", package])
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|error| error.to_string())?;
    if !status.success() {
        return Err("rustdoc failed".into());
    }
    let path = target.join("doc").join(format!("{lib}.json"));
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
    if doc["format_version"].as_u64() != Some(FORMAT) {
        return Err(format!(
            "rustdoc JSON format {} (this listing reads {FORMAT})",
            doc["format_version"]
        ));
    }
    let mut lines = BTreeSet::new();
    let walker = Walker {
        index: &doc["index"],
    };
    walker.item(&doc["root"], lib, &mut lines);
    Ok(lines.into_iter().map(|line| line + "\n").collect())
}

/// Walks the item tree of one crate's rustdoc JSON.
struct Walker<'d> {
    index: &'d Value,
}

impl Walker<'_> {
    fn get(&self, id: &Value) -> Option<&Value> {
        self.index.get(id.to_string())
    }

    /// Lists the item `id` as `path`, and what it holds.
    fn item(&self, id: &Value, path: &str, out: &mut BTreeSet<String>) {
        let Some(item) = self.get(id) else { return };
        let Some((kind, inner)) = item["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        match kind.as_str() {
            "module" => {
                if path.contains("::") {
                    out.insert(format!("mod {path}"));
                }
                for child in inner["items"].as_array().into_iter().flatten() {
                    self.child(child, path, out);
                }
            }
            "struct" | "enum" | "union" => {
                out.insert(format!("{kind} {path}{}", generics(&inner["generics"])));
                let fields = inner["kind"]["plain"]["fields"].as_array();
                let variants = inner["variants"].as_array();
                for member in fields.into_iter().chain(variants).flatten() {
                    self.member(member, path, out);
                }
                for imp in inner["impls"].as_array().into_iter().flatten() {
                    self.impl_block(imp, path, out);
                }
            }
            "trait" => {
                out.insert(format!("trait {path}{}", generics(&inner["generics"])));
                for member in inner["items"].as_array().into_iter().flatten() {
                    self.member(member, path, out);
                }
            }
            "function" => {
                out.insert(format!("fn {path}{}", function(inner)));
            }
            "constant" => {
                out.insert(format!("const {path}: {}", ty(&inner["type"])));
            }
            "static" => {
                out.insert(format!("static {path}: {}", ty(&inner["type"])));
            }
            "type_alias" => {
                out.insert(format!("type {path} = {}", ty(&inner["type"])));
            }
            "macro" | "proc_macro" => {
                out.insert(format!("macro {path}"));
            }
            other => {
                out.insert(format!("{other} {path}"));
            }
        }
    }

    /// A public item of a module, under the module's `prefix`: re-exports under their new name.
    fn child(&self, id: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        let Some(child) = self.get(id) else { return };
        if child["visibility"] != "public" {
            return;
        }
        if let Some(using) = child["inner"].get("use") {
            let name = using["name"].as_str().unwrap_or_default();
            let target = &using["id"];
            match (self.get(target), using["is_glob"].as_bool()) {
                (Some(module), Some(true)) => {
                    for item in module["inner"]["module"]["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        self.child(item, prefix, out);
                    }
                }
                (Some(_), _) => self.item(target, &format!("{prefix}::{name}"), out),
                (None, _) => {
                    out.insert(format!(
                        "pub use {prefix}::{name} = {}",
                        using["source"].as_str().unwrap_or("?")
                    ));
                }
            }
        } else {
            let name = child["name"].as_str().unwrap_or_default();
            self.item(id, &format!("{prefix}::{name}"), out);
        }
    }

    /// A field, variant, method or associated item of `owner`.
    fn member(&self, id: &Value, owner: &str, out: &mut BTreeSet<String>) {
        let Some(member) = self.get(id) else { return };
        let name = member["name"].as_str().unwrap_or("_");
        let Some((kind, inner)) = member["inner"].as_object().and_then(|o| o.iter().next()) else {
            return;
        };
        let line = match kind.as_str() {
            "struct_field" if member["visibility"] == "public" => {
                format!("field {owner}.{name}: {}", ty(inner))
            }
            "variant" => format!("variant {owner}::{name}"),
            "function" => format!("fn {owner}::{name}{}", function(inner)),
            "assoc_const" => format!("const {owner}::{name}: {}", ty(&inner["type"])),
            "assoc_type" => format!("type {owner}::{name}"),
            _ => return,
        };
        out.insert(line);
    }

    /// An impl block of `owner`: its trait, or its public inherent items.
    fn impl_block(&self, id: &Value, owner: &str, out: &mut BTreeSet<String>) {
        let Some(imp) = self.get(id).map(|item| &item["inner"]["impl"]) else {
            return;
        };
        if imp["is_synthetic"] == true || !imp["blanket_impl"].is_null() {
            return;
        }
        if let Some(name) = imp["trait"]["path"].as_str() {
            // A marker trait that derives add, internal to the compiler: nothing to a caller.
            if name != "StructuralPartialEq" {
                let trait_ = format!("{}{}", last(name), args(&imp["trait"]["args"]));
                out.insert(format!("impl {trait_} for {}", ty(&imp["for"])));
            }
            return;
        }
        for item in imp["items"].as_array().into_iter().flatten() {
            if self
                .get(item)
                .is_some_and(|member| member["visibility"] == "public")
            {
                self.member(item, owner, out);
            }
        }
    }
}
