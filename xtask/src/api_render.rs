//! How `cargo xtask api` writes types and signatures from rustdoc's JSON: as Rust writes them,
//! with paths by their last segment.

use serde_json::Value;

/// A path's last segment.
pub(crate) fn last(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// A function's signature after its name.
pub(crate) fn function(inner: &Value) -> String {
    let header = &inner["header"];
    let inputs: Vec<String> = inner["sig"]["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| format!("{}: {}", pair[0].as_str().unwrap_or("_"), ty(&pair[1])))
        .collect();
    let output = match &inner["sig"]["output"] {
        Value::Null => String::new(),
        output => format!(" -> {}", ty(output)),
    };
    let prefix = [
        ("is_const", "const "),
        ("is_async", "async "),
        ("is_unsafe", "unsafe "),
    ]
    .iter()
    .filter(|(flag, _)| header[flag] == true)
    .map(|(_, word)| *word)
    .collect::<String>();
    format!(
        "{}({}){output}{}",
        generics(&inner["generics"]),
        inputs.join(", "),
        if prefix.is_empty() {
            String::new()
        } else {
            format!(" [{}]", prefix.trim_end())
        }
    )
}

/// The names of generic parameters, as `<A, B>`.
pub(crate) fn generics(generics: &Value) -> String {
    let names: Vec<&str> = generics["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|param| {
            param["kind"]
                .get("type")
                .is_none_or(|t| t["is_synthetic"] != true)
        })
        .filter_map(|param| param["name"].as_str())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("<{}>", names.join(", "))
    }
}

/// Generic arguments, as `<A, B>`.
pub(crate) fn args(args: &Value) -> String {
    let Some(angle) = args.get("angle_bracketed") else {
        return match args.get("parenthesized") {
            Some(p) => format!("({})", list(&p["inputs"])),
            None => String::new(),
        };
    };
    let mut all: Vec<String> = angle["args"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|arg| match arg.as_object().and_then(|o| o.iter().next()) {
            Some((kind, value)) if kind == "type" => ty(value),
            Some((_, value)) => value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
            None => "?".into(),
        })
        .collect();
    for constraint in angle["constraints"].as_array().into_iter().flatten() {
        let bound = &constraint["binding"]["equality"]["type"];
        all.push(format!(
            "{} = {}",
            constraint["name"].as_str().unwrap_or("?"),
            ty(bound)
        ));
    }
    if all.is_empty() {
        String::new()
    } else {
        format!("<{}>", all.join(", "))
    }
}

/// Types, comma-separated.
fn list(types: &Value) -> String {
    types
        .as_array()
        .into_iter()
        .flatten()
        .map(ty)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type, as Rust writes it (paths by their last segment).
pub(crate) fn ty(value: &Value) -> String {
    let Some((kind, t)) = value.as_object().and_then(|o| o.iter().next()) else {
        return "?".into();
    };
    match kind.as_str() {
        "resolved_path" => format!(
            "{}{}",
            last(t["path"].as_str().unwrap_or("?")),
            args(&t["args"])
        ),
        "generic" | "primitive" => t.as_str().unwrap_or("?").to_owned(),
        "borrowed_ref" => {
            let lifetime = t["lifetime"]
                .as_str()
                .map(|l| format!("{l} "))
                .unwrap_or_default();
            let mutable = if t["is_mutable"] == true { "mut " } else { "" };
            format!("&{lifetime}{mutable}{}", ty(&t["type"]))
        }
        "tuple" => format!("({})", list(t)),
        "slice" => format!("[{}]", ty(t)),
        "array" => format!("[{}; {}]", ty(&t["type"]), t["len"].as_str().unwrap_or("?")),
        "impl_trait" | "dyn_trait" => {
            let bounds = if kind == "impl_trait" {
                t
            } else {
                &t["traits"]
            };
            let names: Vec<String> = bounds
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|bound| {
                    let path = bound
                        .get("trait_bound")
                        .map(|b| &b["trait"])
                        .or_else(|| bound.get("trait"))?;
                    Some(format!(
                        "{}{}",
                        last(path["path"].as_str()?),
                        args(&path["args"])
                    ))
                })
                .collect();
            format!(
                "{} {}",
                if kind == "impl_trait" { "impl" } else { "dyn" },
                names.join(" + ")
            )
        }
        "qualified_path" => format!(
            "<{}>::{}",
            ty(&t["self_type"]),
            t["name"].as_str().unwrap_or("?")
        ),
        "raw_pointer" => format!(
            "*{} {}",
            if t["is_mutable"] == true {
                "mut"
            } else {
                "const"
            },
            ty(&t["type"])
        ),
        "function_pointer" => format!(
            "fn({})",
            list(
                &t["sig"]["inputs"]
                    .as_array()
                    .map(|i| Value::from(i.iter().map(|p| p[1].clone()).collect::<Vec<_>>()))
                    .unwrap_or_default()
            )
        ),
        "infer" => "_".into(),
        other => format!("<{other}>"),
    }
}
