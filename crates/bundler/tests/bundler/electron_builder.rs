//! Issues 19 and 28: packaging/electron-builder.json checked against electron-builder's own
//! JSON Schema (`scheme.json` of the npm package `app-builder-lib`, fetched with `npm pack`,
//! no Electron download), its `mac.sign` function parsed by Node, and the facts of
//! app-builder-lib's source that function relies on. With the bundler's tests because
//! packaging/ is the kit around the bundler's output: electron-builder copies
//! `dist-ext-python/msty-mlx-studio` into the app, and the function signs in the order
//! `build-external-python verify --sign-list` gives. The function itself is driven in
//! verify's tests (`sign_function`).
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

/// The files of app-builder-lib read here: its schema, and the source of the signing steps.
const READ: [&str; 3] = ["package/scheme.json", "package/out/macPackager.js", "package/out/mac/MacTargetHelper.js"];

/// A file of [`READ`], from the npm registry once, then from the cache.
fn app_builder_lib(file: &str) -> PathBuf {
    // One download at a time: the tests of this file run in parallel.
    static FETCHING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = FETCHING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("msty-mlx-studio/npm")
        .join(APP_BUILDER_LIB.replace('@', "-"));
    if !READ.iter().all(|f| dir.join(f).is_file()) {
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
        run_ok(Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(&download).args(READ));
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&download, &dir).unwrap();
    }
    dir.join(file)
}

/// electron-builder's configuration schema.
fn schema() -> Value {
    let mut schema = serde_json::from_slice(&fs::read(app_builder_lib("package/scheme.json")).unwrap()).unwrap();
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
    assert_eq!(mac["sign"], "./packaging/sign.js");
    assert_eq!(mac["entitlements"], "packaging/entitlements.electron.plist");
    assert_eq!(mac["entitlementsInherit"], "packaging/entitlements.electron.plist");
    assert_eq!(mac["signIgnore"], json!(["/Contents/Resources/python/", "/Contents/Resources/mlxk2/"]));
    assert_eq!(mac["notarize"], true);
    assert_eq!(config["forceCodeSigning"], true);
    // Nothing signs in afterPack any more (no identity there), and gatekeeperAssess is read nowhere.
    assert_eq!((&config["afterPack"], &mac["gatekeeperAssess"]), (&Value::Null, &Value::Null));
    assert_eq!(
        config["extraResources"],
        json!([{ "from": "python", "to": "python" }, { "from": "dist-ext-python/msty-mlx-studio", "to": "mlxk2" }])
    );
    for path in ["packaging/entitlements.plist", mac["entitlements"].as_str().unwrap(), mac["sign"].as_str().unwrap()] {
        assert!(Path::new(REPO).join(path).is_file(), "{path}");
    }
    // The schema is strict: a misspelt key is refused, so the check above means something.
    let mut wrong = config.clone();
    wrong["mac"]["entitlementInherit"] = json!("packaging/entitlements.plist");
    assert!(errors(&validator, &wrong).contains("entitlementInherit"), "{}", errors(&validator, &wrong));
    for script in ["packaging/sign.js", "packaging/test/as-electron-builder.js"] {
        run_ok(Command::new("node").arg("--check").arg(Path::new(REPO).join(script)));
    }
}

/// What packaging/sign.js relies on, read in app-builder-lib 26.18.1's own source: the call
/// `customSign(opts, packager)` (its `opts` osx-sign's), made before notarization; the
/// notarization credentials it reads (sign.js checks the same ones); and the warning that
/// skips notarization without them (what sign.js turns into a failure).
#[test]
fn sign_js_matches_electron_builders_signing_source() {
    let packager = fs::read_to_string(app_builder_lib("package/out/macPackager.js")).unwrap();
    let helper = fs::read_to_string(app_builder_lib("package/out/mac/MacTargetHelper.js")).unwrap();
    assert!(packager.contains("customSign ? Promise.resolve(customSign(opts, this))"), "the mac.sign call changed");
    let signed = packager.find("await this.doSign(signOptions, config, identity);").expect("doSign");
    let notarized = packager.find("await this.helper.notarizeIfProvided(appPath);").expect("notarizeIfProvided");
    assert!(signed < notarized, "electron-builder notarizes after signing");
    for opt in
        ["identity: identity ? identity.hash || identity.name : undefined", "keychain: keychainFile || undefined"]
    {
        assert!(helper.contains(opt), "{opt}");
    }
    assert!(helper.contains(r#""skipped macOS notarization""#));
    // The variables electron-builder reads for notarization, and the sets sign.js requires.
    let mut read: Vec<String> = helper
        .match_indices("process.env.APPLE_")
        .map(|(at, _)| {
            helper[at + "process.env.".len()..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect()
        })
        .collect();
    read.sort();
    read.dedup();
    let sets = run_ok(Command::new("node").arg("-e").arg(format!(
        "console.log(JSON.stringify(require({:?}).NOTARIZE_CREDENTIALS))",
        Path::new(REPO).join("packaging/sign.js")
    )));
    let sets: Vec<Vec<String>> = serde_json::from_slice(&sets.stdout).unwrap();
    let mut required: Vec<String> = sets.concat();
    // APPLE_KEYCHAIN only names the keychain that holds APPLE_KEYCHAIN_PROFILE.
    required.push("APPLE_KEYCHAIN".into());
    required.sort();
    assert_eq!(read, required);
}
