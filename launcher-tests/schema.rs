//! The JSON Schemas shipped in docs/schemas/, loaded offline (their `$ref`s resolve to the
//! files beside them) and applied to real outputs with the `jsonschema` crate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

const BASE: &str = "https://msty-mlx-studio.invalid/schemas/";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas")
}

/// Serves `…/schemas/NAME` from docs/schemas/NAME; anything else is refused (no network).
struct Files;

impl jsonschema::Retrieve for Files {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().strip_prefix(BASE).ok_or_else(|| format!("not one of ours: {uri}"))?;
        Ok(serde_json::from_slice(&std::fs::read(dir().join(name))?)?)
    }
}

/// The schema `NAME.schema.json`, compiled.
pub fn validator(name: &str) -> jsonschema::Validator {
    let file = dir().join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_retriever(Files)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every error of `value` against schema `name`, one per line (empty: valid).
pub fn errors(name: &str, value: &Value) -> String {
    validator(name).iter_errors(value).map(|e| format!("{} at {}\n", e, e.instance_path())).collect()
}

/// Panics with every error when `value` does not match schema `name`.
pub fn assert_valid(name: &str, value: &Value) {
    let errors = errors(name, value);
    assert!(errors.is_empty(), "{name} schema:\n{errors}in {value:#}");
}
