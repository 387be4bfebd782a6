//! Issue 18 §3: the JSON the app parses matches the schemas shipped in docs/schemas/, for
//! healthy and broken bundles alike; and the schemas are strict enough to refuse a wrong type
//! or a missing key (each is tried on a real answer with one thing broken).

use std::fs;

use serde_json::Value;

use crate::harness::*;
use crate::schema::{assert_valid, errors};

fn answer(b: &Bundle, args: &[&str], code: i32) -> Value {
    let r = run(b.launcher().args(args));
    assert_eq!(r.code, Some(code), "{args:?}: {}", r.stderr());
    r.json()
}

/// The bundles the answers come from: healthy, and broken in the ways the exit codes name.
fn broken_bundles() -> Vec<(&'static str, Bundle)> {
    let no_runtime = Bundle::copy("schema-no-runtime");
    fs::remove_file(no_runtime.runtime()).unwrap();
    let no_libpython = Bundle::copy("schema-no-libpython");
    fs::remove_file(no_libpython.home().join("lib").join(format!("libpython{XY}.so.1.0"))).unwrap();
    let no_home = Bundle::copy("schema-no-home");
    fs::remove_dir_all(no_home.home()).unwrap();
    let no_mlx = Bundle::copy("schema-no-mlx");
    for entry in fs::read_dir(no_mlx.vendor()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("mlx-") {
            fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    vec![("no runtime", no_runtime), ("no libpython", no_libpython), ("no home", no_home), ("no mlx", no_mlx)]
}

#[test]
fn python_info_matches_its_schema_healthy_and_broken() {
    assert_valid("python-info", &answer(base(), &["--python-info"], 0));
    let mut odd = base().launcher();
    odd.args(["--python-info"]).env("MLXK2_EXIT_WITH_PARENT", "maybe");
    assert_valid("python-info", &run(&mut odd).json());
    for (what, b) in broken_bundles() {
        let j = answer(&b, &["--python-info"], if what == "no mlx" { 0 } else { 2 });
        assert_valid("python-info", &j);
        assert_eq!(j["ok"], what == "no mlx", "{what}");
    }
}

#[test]
fn pkg_info_and_mlx_info_match_their_schema_with_the_error_shape() {
    let b = base();
    let mlx = answer(b, &["--mlx-info"], 0);
    assert!(mlx["backends"].is_object());
    assert_valid("pkg-info", &mlx);
    assert_valid("pkg-info", &answer(b, &["--pkg-info", "mlx_lm"], 0));
    assert_valid("pkg-info", &answer(b, &["--pkg-info", "not-installed"], 2));
    assert_valid("pkg-info", &answer(b, &["--pkg-info"], 2));
    let dup = Bundle::copy("schema-dup");
    let dist = dup.vendor().join("mlx-0.29.3.dist-info");
    link_tree(&dist, &dup.vendor().join("MLX-0.29.3.dist-info"));
    let j = answer(&dup, &["--mlx-info"], 2);
    assert_eq!(j["details"]["kind"], "duplicate");
    assert_valid("pkg-info", &j);
    let bad = Bundle::copy("schema-malformed");
    let metadata = bad.vendor().join("mlx_lm-0.28.1.dist-info/METADATA");
    fs::remove_file(&metadata).unwrap();
    fs::write(&metadata, "no headers here\n").unwrap();
    let j = answer(&bad, &["--pkg-info", "mlx-lm"], 2);
    assert_eq!(j["details"]["kind"], "malformed");
    assert_valid("pkg-info", &j);
}

#[test]
fn check_mlx_stack_matches_its_schema_healthy_and_broken() {
    assert_valid("check-mlx-stack", &answer(base(), &["--check-mlx-stack"], 0));
    for (what, b) in broken_bundles() {
        let j = answer(&b, &["--check-mlx-stack"], 2);
        assert_eq!(j["ok"], false, "{what}");
        assert_valid("check-mlx-stack", &j);
    }
}

/// One real answer per schema, then one key removed and one value of the wrong type: both
/// must be refused.
#[test]
fn the_schemas_refuse_a_missing_key_and_a_wrong_type() {
    let b = base();
    let cases = [
        ("python-info", answer(b, &["--python-info"], 0), "home_rule", Value::from(7)),
        ("pkg-info", answer(b, &["--mlx-info"], 0), "version", Value::from(1)),
        ("pkg-info", answer(b, &["--pkg-info", "nope"], 2), "error", Value::Null),
        ("check-mlx-stack", answer(b, &["--check-mlx-stack"], 0), "checks", Value::from("none")),
    ];
    for (schema, good, key, wrong) in cases {
        assert!(errors(schema, &good).is_empty(), "{schema}: {}", errors(schema, &good));
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(key);
        assert!(!errors(schema, &missing).is_empty(), "{schema} accepted an answer without `{key}`");
        let mut mistyped = good.clone();
        mistyped[key] = wrong.clone();
        assert!(!errors(schema, &mistyped).is_empty(), "{schema} accepted `{key}`: {wrong}");
    }
    let mut plan = answer(b, &["--python-info"], 0);
    plan["plan"]["isolation"]["isolated"] = Value::from("yes");
    assert!(!errors("python-info", &plan).is_empty(), "a mistyped plan field passed");
    let mut stack = answer(b, &["--check-mlx-stack"], 0);
    stack["error"] = Value::from("ok is true but an error is set");
    assert!(!errors("check-mlx-stack", &stack).is_empty(), "ok with an error passed");
}
