//! Issue 19: packaging/electron-builder.json checked against electron-builder's own JSON
//! Schema (`scheme.json` of the npm package `app-builder-lib`, fetched with `npm pack`, no
//! Electron download), and its afterPack hook parsed by Node. With the bundler's tests because
//! packaging/ is the kit around the bundler's output: electron-builder copies
//! `dist-ext-python/msty-mlx-studio` into the app, and the hook signs in the order
//! `build-external-python verify --sign-list` gives.
//!
//! Needs: npm and the npm registry (the package is cached in
//! `~/.cache/msty-mlx-studio/npm`), node.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::*;

/// The app-builder-lib of electron-builder 26.
const APP_BUILDER_LIB: &str = "app-builder-lib@26.18.1";

/// electron-builder's configuration schema, from the npm registry once, then from the cache.
fn schema() -> Value {
    let dir = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("msty-mlx-studio/npm")
        .join(APP_BUILDER_LIB.replace('@', "-"));
    let file = dir.join("package/scheme.json");
    if !file.is_file() {
        let download = dir.with_extension("tmp");
        let _ = fs::remove_dir_all(&download);
        fs::create_dir_all(&download).unwrap();
        let out = run_ok(
            Command::new("npm")
                .args(["pack", "--silent", APP_BUILDER_LIB, "--pack-destination"])
                .arg(&download)
                .current_dir(&download),
        );
        let tarball = download.join(String::from_utf8_lossy(&out.stdout).trim());
        run_ok(Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(&download).arg("package/scheme.json"));
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&download, &dir).unwrap();
    }
    let mut schema = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    encode_refs(&mut schema);
    schema
}

/// The schema names TypeScript types in its `$ref`s (`#/definitions/Record<string,string>`),
/// which are not URI references as draft 7 requires: percent-encoded, they resolve to the same
/// definitions (JSON Pointer fragments are percent-decoded).
fn encode_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(r) if key == "$ref" => *r = percent_encode(r),
                    other => encode_refs(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(encode_refs),
        _ => {}
    }
}

/// Every byte a URI fragment may not hold, percent-encoded (RFC 3986).
fn percent_encode(r: &str) -> String {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&b);
    r.bytes().map(|b| if allowed(b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn config_path() -> PathBuf {
    Path::new(REPO).join("packaging/electron-builder.json")
}

/// Every schema error of `config`, one per line.
fn errors(validator: &jsonschema::Validator, config: &Value) -> String {
    validator.iter_errors(config).map(|e| format!("{e} at {}\n", e.instance_path())).collect()
}

#[test]
fn electron_builder_config_matches_electron_builders_schema() {
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft7).build(&schema()).unwrap();
    let config: Value = serde_json::from_slice(&fs::read(config_path()).unwrap()).unwrap();
    assert_eq!(errors(&validator, &config), "");
    // What the guide relies on, spelled as electron-builder spells it.
    let mac = &config["mac"];
    assert_eq!(mac["hardenedRuntime"], true);
    assert_eq!(mac["entitlements"], "packaging/entitlements.plist");
    assert_eq!(mac["entitlementsInherit"], "packaging/entitlements.plist");
    assert_eq!(
        config["extraResources"],
        json!([{ "from": "python", "to": "python" }, { "from": "dist-ext-python/msty-mlx-studio", "to": "mlxk2" }])
    );
    for path in ["packaging/entitlements.plist", config["afterPack"].as_str().unwrap()] {
        assert!(Path::new(REPO).join(path).is_file(), "{path}");
    }
    // The schema is strict: a misspelt key is refused, so the check above means something.
    let mut wrong = config.clone();
    wrong["mac"]["entitlementInherit"] = json!("packaging/entitlements.plist");
    assert!(errors(&validator, &wrong).contains("entitlementInherit"), "{}", errors(&validator, &wrong));
    run_ok(Command::new("node").arg("--check").arg(Path::new(REPO).join("packaging/sign-resources.js")));
}
