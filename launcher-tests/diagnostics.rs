//! Issue 3: `--python-info`, `--mlx-info`, `--pkg-info NAME`, `--check-mlx-stack`.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::harness::*;

fn diag(b: &Bundle, args: &[&str]) -> (Run, Value) {
    let r = run(b.launcher().args(args));
    assert!(
        r.stdout.ends_with(b"\n") && r.stdout.iter().filter(|&&c| c == b'\n').count() == 1,
        "one JSON line: {}",
        r.stdout()
    );
    let j = r.json();
    (r, j)
}

fn path(p: PathBuf) -> Value {
    Value::from(p.to_str().unwrap())
}

/// Removes a dist-info of `_vendor` (installed by pip) and installs `fixture` instead.
fn replace_fixture(b: &Bundle, dist_info_prefix: &str, fixture: &str) {
    remove_dist_info(b, dist_info_prefix);
    install_fixtures(&b.vendor(), &[fixture]);
}

fn dist_info(b: &Bundle, prefix: &str) -> PathBuf {
    fs::read_dir(b.vendor())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with(prefix) && n.ends_with(".dist-info")
        })
        .unwrap_or_else(|| panic!("no {prefix}*.dist-info"))
}

fn remove_dist_info(b: &Bundle, prefix: &str) {
    fs::remove_dir_all(dist_info(b, prefix)).unwrap();
}

#[test]
fn flags_count_only_as_the_first_argument() {
    let b = base();
    for flag in ["--mlx-info", "--python-info", "--pkg-info", "--check-mlx-stack"] {
        let r = run(b.launcher().args(["report", flag]));
        assert_eq!(r.code, Some(0), "{}", r.stderr());
        assert_eq!(r.json()["argv_text"][2], flag, "passed through to mlxk2");
    }
    // mlxk2's own --version and --help are not ours.
    assert_eq!(run(b.launcher().arg("--version")).stdout(), "msty-mlx-studio 0.0.1.dev0+fixture\n");
}

#[test]
fn python_info_describes_the_run_without_starting_python() {
    let b = base();
    let (r, j) = diag(b, &["--python-info"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr.is_empty(), "{}", r.stderr());
    assert_eq!(j["ok"], true);
    assert_eq!(j["problems"], serde_json::json!([]));
    assert_eq!(j["python_version"], XY);
    assert_eq!(j["launcher_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["platform"], "linux");
    assert_eq!(j["executable"], path(b.python3()));
    assert_eq!(j["prefix"], path(b.home()));
    assert_eq!(j["base_prefix"], path(b.home()));
    assert_eq!(j["home"], path(b.home()));
    assert_eq!(j["home_rule"], "exe-parent");
    assert_eq!(j["vendor"], path(b.vendor()));
    // libpython and the runtime are described from their files, neither is loaded.
    assert_eq!(j["libpython"]["path"], path(b.home().join(format!("lib/libpython{XY}.so.1.0"))));
    assert_eq!(j["libpython"]["version"], XY);
    assert_eq!(j["libpython"]["soname"], format!("libpython{XY}.so.1.0"));
    assert_eq!(j["runtime"]["path"], path(b.runtime()));
    assert_eq!(j["runtime"]["python"], XY);
    assert_eq!(j["runtime"]["plan_format"], msty_mlx_contract::plan::FORMAT);
    assert_eq!(j["runtime"]["version"], env!("CARGO_PKG_VERSION"));
    // The isolation settings are the plan's, the ones the runtime applies.
    let isolation = &j["isolation"];
    assert_eq!(isolation, &j["plan"]["isolation"]);
    assert_eq!(
        (isolation["isolated"].clone(), isolation["use_environment"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );
    assert_eq!(isolation["user_site_directory"], false);
    assert_eq!(isolation["write_bytecode"], false);
    assert_eq!(
        isolation["safe_path"],
        if XY == "3.10" { Value::Null } else { Value::Bool(true) },
        "no safe_path on 3.10"
    );
    // The fixture bundle ships no pycs: they are kept in the per-user cache.
    assert_eq!(j["bytecode"]["shipped_pycs"], false);
    assert!(j["bytecode"]["pycache_prefix"].as_str().unwrap().contains("/.cache/msty-mlx-studio/pycache/"));
    assert_eq!(j["exit_with_parent"]["enabled"], true);
    assert_eq!(j["exit_with_parent"]["watch"]["state"], "armed");
    let rules: Vec<&str> = j["candidates"].as_array().unwrap().iter().map(|c| c["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["MLXK_PYTHON", "RESOURCES_PATH", "exe-dir", "exe-parent"]);
    assert_eq!(j["candidates"][0]["rejected"], "MLXK_PYTHON is unset");
    assert_eq!(j["candidates"][3]["rejected"], Value::Null);
    assert_eq!(j["child_environment"]["set"]["PYTHONPATH"], b.pythonpath());
    // The plan is the whole decision, in its documented format.
    let plan = &j["plan"];
    assert_eq!(plan["format"], msty_mlx_contract::plan::FORMAT);
    assert_eq!(plan["python"], XY);
    assert_eq!(plan["libpython"], j["libpython"]["path"]);
    assert_eq!(plan["runtime"], path(b.runtime()));
    assert_eq!(plan["child_environment"], j["child_environment"]);
    assert_eq!(plan["bytecode"], j["bytecode"]);
    // The predicted sys.path is the one the interpreter really gets.
    let real = run(b.launcher().arg("report")).json();
    assert_eq!(j["sys_path"], real["path"]);
}

#[test]
fn python_info_names_the_rule_and_parent_setting() {
    let b = base();
    let (_, j) = diag(b, &["--python-info"]);
    assert_eq!(j["home_rule"], "exe-parent");
    let r = run(b
        .launcher()
        .arg("--python-info")
        .env("RESOURCES_PATH", b.resources())
        .env("MLXK2_EXIT_WITH_PARENT", "0")
        .env("PYTHONHOME", "/x"));
    let j = r.json();
    assert_eq!(j["home_rule"], "RESOURCES_PATH");
    assert_eq!(j["exit_with_parent"]["enabled"], false);
    assert_eq!(j["exit_with_parent"]["watch"]["state"], "disabled");
    assert_eq!(j["child_environment"]["removed"], serde_json::json!(["PYTHONHOME"]));
}

#[test]
fn python_info_on_a_broken_bundle_lists_the_problems() {
    let b = Bundle::copy("info-broken");
    fs::remove_dir_all(b.home().join(format!("lib/python{XY}"))).unwrap();
    fs::remove_dir_all(b.vendor().join("mlxk2")).unwrap();
    let (r, j) = diag(&b, &["--python-info"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(j["ok"], false);
    let problems: Vec<&str> = j["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains(&format!(
            "no Python standard library at `{}`",
            b.home().join(format!("lib/python{XY}")).display()
        )),
        "{problems:?}"
    );
    assert!(problems[1].contains("no `mlxk2` package"), "{problems:?}");

    let (r, j) = diag(base(), &["--python-info"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(j["ok"], true);
    let r = run(base().launcher().arg("--python-info").env("RESOURCES_PATH", "relative"));
    assert_eq!(r.code, Some(2));
    let j = r.json();
    assert_eq!(j["ok"], false);
    assert!(j["problems"][0].as_str().unwrap().contains("RESOURCES_PATH is a relative path"));
    assert_eq!(j["home"], Value::Null);
}

#[test]
fn mlx_info_reads_the_vendored_dist_info() {
    let b = base();
    let (r, j) = diag(b, &["--mlx-info"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(j["package"], "mlx");
    assert_eq!(j["version"], "0.29.3");
    assert_eq!(j["module_file"], path(b.vendor().join("mlx")));
    assert_eq!(j["dist_info"], path(b.vendor().join("mlx-0.29.3.dist-info")));
    assert_eq!(j["requires_python"], ">=3.9");
    assert_eq!(j["requires_dist"][1], "mlx-cpu==0.29.3; extra == \"cpu\"");
    assert_eq!(j["installer"], "pip");
    assert_eq!(j["backends"]["mlx-cpu"]["version"], "0.29.3");
    assert!(j["backends"].get("mlx-metal").is_none());
    let (_, same) = diag(b, &["--pkg-info", "mlx"]);
    assert_eq!(same, j);
}

#[test]
fn pkg_info_normalises_names() {
    let b = base();
    let (r, first) = diag(b, &["--pkg-info", "mlx_lm"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(first["package"], "mlx-lm");
    assert_eq!(first["version"], "0.28.1");
    assert_eq!(first["module_file"], path(b.vendor().join("mlx_lm")));
    for spelling in ["mlx-lm", "MLX.LM", "Mlx__Lm"] {
        assert_eq!(diag(b, &["--pkg-info", spelling]).1, first, "{spelling}");
    }
    // A module file, not a package; from RECORD when top_level.txt is absent.
    let (_, cpu) = diag(b, &["--pkg-info", "mlx-cpu"]);
    assert_eq!(cpu["module_file"], path(b.vendor().join("mlx")));
    let (_, pth) = diag(b, &["--pkg-info", "pthdemo"]);
    assert!(pth["module_file"].as_str().unwrap().starts_with(b.vendor().to_str().unwrap()));
}

#[test]
fn pkg_info_unknown_or_missing_name() {
    let b = base();
    let (r, j) = diag(b, &["--pkg-info", "torch"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(j["error"], format!("package `torch` is not installed in `{}`", b.vendor().display()));
    assert_eq!(j["searched"], path(b.vendor()));
    let (r, j) = diag(b, &["--pkg-info"]);
    assert_eq!(r.code, Some(2));
    assert!(j["error"].as_str().unwrap().contains("needs a package name"));
}

#[test]
fn duplicate_dist_infos_are_an_error_naming_both() {
    let b = Bundle::copy("dup");
    // A custom wheel installed over the PyPI one by a second pip run elsewhere, then merged.
    let other = scratch("dup-other");
    install_fixtures(&other, &["mlx-new"]);
    fs::rename(other.join("mlx-0.30.0.dist-info"), b.vendor().join("mlx-0.30.0.dist-info")).unwrap();
    let (r, j) = diag(&b, &["--mlx-info"]);
    assert_eq!(r.code, Some(2));
    let error = j["error"].as_str().unwrap();
    assert!(error.contains("installed more than once"), "{error}");
    assert!(error.contains("mlx-0.29.3.dist-info") && error.contains("mlx-0.30.0.dist-info"), "{error}");
    let (r, j) = diag(&b, &["--check-mlx-stack"]);
    assert_eq!(r.code, Some(2));
    let check = j["checks"].as_array().unwrap().iter().find(|c| c["name"] == "no duplicate dist-infos").unwrap();
    assert_eq!(check["ok"], false);
    assert!(check["detail"].as_str().unwrap().contains("mlx-0.30.0.dist-info"));
}

#[test]
fn missing_or_garbage_metadata_names_the_file() {
    let b = Bundle::copy("badmeta");
    let lm = dist_info(&b, "mlx_lm-");
    fs::remove_file(lm.join("METADATA")).unwrap();
    let (r, j) = diag(&b, &["--pkg-info", "mlx-lm"]);
    assert_eq!(r.code, Some(2));
    assert!(
        j["error"].as_str().unwrap().starts_with(&format!("cannot read `{}`", lm.join("METADATA").display())),
        "{j}"
    );

    let mlx = dist_info(&b, "mlx-0");
    fs::remove_file(mlx.join("METADATA")).unwrap(); // never edit a hard-linked file in place
    fs::write(mlx.join("METADATA"), b"\x00\xffgarbage\nwithout headers\n").unwrap();
    let (r, j) = diag(&b, &["--mlx-info"]);
    assert_eq!(r.code, Some(2));
    assert!(
        j["error"].as_str().unwrap().starts_with(&format!("malformed `{}`", mlx.join("METADATA").display())),
        "{j}"
    );
    fs::remove_file(mlx.join("METADATA")).unwrap();
    fs::write(mlx.join("METADATA"), "this is not metadata\n").unwrap();
    let (r, j) = diag(&b, &["--mlx-info"]);
    assert_eq!(r.code, Some(2));
    assert!(j["error"].as_str().unwrap().contains("line 1 is not a `Name: value` header"), "{j}");
    assert!(r.stderr.is_empty(), "no crash output: {}", r.stderr());
}

fn check<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {j}"))
}

#[test]
fn check_mlx_stack_on_a_healthy_stack() {
    let b = base();
    let (r, j) = diag(b, &["--check-mlx-stack"]);
    assert_eq!(r.code, Some(0), "{j}\n{}", r.stderr());
    assert_eq!(j["ok"], true);
    assert_eq!(j["error"], Value::Null);
    assert_eq!(j["mlx"]["version"], "0.29.3");
    assert_eq!(j["mlx"]["file"], path(b.vendor().join("mlx/core.py")));
    assert_eq!(j["mlx_lm"]["version"], "0.28.1");
    assert_eq!(j["mlx_lm"]["file"], path(b.vendor().join("mlx_lm/__init__.py")));
    let names: Vec<&str> = j["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "no duplicate dist-infos",
            "mlx installed",
            "mlx-lm requirements on mlx",
            "mlx-knife requirements on mlx",
            "mlx-cpu matches mlx",
            "import mlx.core",
            "mlx.core is the installed mlx",
            "import mlx_lm",
            "mlx_lm is the installed mlx-lm",
        ]
    );
    // Markers are evaluated for this platform; extras and false markers are skipped.
    assert_eq!(
        check(&j, "mlx-lm requirements on mlx")["detail"],
        "mlx 0.29.3 satisfies `mlx>=0.29.0; platform_system == \"Linux\"` (mlx-lm 0.28.1)"
    );
    // What the imports printed went to stderr.
    assert!(r.stderr().contains("mlx_lm fixture: imported"), "{}", r.stderr());
}

/// The documented order: native checks with no Python loaded, then the import step.
#[test]
fn check_mlx_stack_runs_the_native_checks_before_loading_python() {
    let r = run(base().launcher().arg("--check-mlx-stack").env("MLXK2_LAUNCHER_LOG", "debug"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let err = r.stderr();
    let at = |needle: &str| err.find(needle).unwrap_or_else(|| panic!("no {needle:?} in {err}"));
    assert!(at("native checks done") < at("libpython loaded"), "{err}");
}

#[test]
fn check_mlx_stack_backend_skew() {
    let b = Bundle::copy("skew");
    replace_fixture(&b, "mlx_cpu-", "mlx-cpu-skew");
    let (r, j) = diag(&b, &["--check-mlx-stack"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(j["ok"], false);
    let c = check(&j, "mlx-cpu matches mlx");
    assert_eq!((c["ok"].clone(), c["detail"].as_str().unwrap()), (Value::Bool(false), "mlx-cpu 0.29.1 != mlx 0.29.3"));
    assert!(j["error"].as_str().unwrap().contains("mlx-cpu 0.29.1 != mlx 0.29.3"));
}

#[test]
fn check_mlx_stack_requirement_not_met() {
    let b = Bundle::copy("oldmlx");
    replace_fixture(&b, "mlx-0", "mlx-old");
    let (r, j) = diag(&b, &["--check-mlx-stack"]);
    assert_eq!(r.code, Some(2));
    let c = check(&j, "mlx-lm requirements on mlx");
    assert_eq!(c["ok"], false);
    assert_eq!(c["detail"], "mlx 0.28.0 does not satisfy `mlx>=0.29.0; platform_system == \"Linux\"` (mlx-lm 0.28.1)");
    assert_eq!(check(&j, "mlx-knife requirements on mlx")["ok"], true);
    assert_eq!(check(&j, "mlx-cpu matches mlx")["ok"], false);
}

#[test]
fn check_mlx_stack_import_failure_is_reported() {
    let b = Bundle::copy("raises");
    fs::remove_dir_all(b.vendor().join("mlx")).unwrap();
    replace_fixture(&b, "mlx-0", "mlx-raises");
    let (r, j) = diag(&b, &["--check-mlx-stack"]);
    assert_eq!(r.code, Some(2));
    let c = check(&j, "import mlx.core");
    assert_eq!(c["ok"], false);
    assert_eq!(c["detail"], "ImportError: libmlx.so: cannot open shared object file: No such file or directory");
    assert!(j["error"].as_str().unwrap().contains("libmlx.so"));
    assert_eq!(j["mlx"], Value::Null);
    assert_eq!(j["mlx_lm"]["version"], "0.28.1");
}

#[test]
fn native_flags_work_without_mlxk2_or_stdlib() {
    let b = Bundle::copy("nomlxk2-diag");
    fs::remove_dir_all(b.vendor().join("mlxk2")).unwrap();
    assert_eq!(diag(&b, &["--mlx-info"]).0.code, Some(0));
    assert_eq!(diag(&b, &["--pkg-info", "mlx_lm"]).0.code, Some(0));
    let (r, j) = diag(&b, &["--python-info"]);
    assert_eq!((r.code, j["ok"].clone()), (Some(2), Value::Bool(false)));

    let b = Bundle::copy("nostdlib-diag");
    fs::remove_dir_all(b.home().join(format!("lib/python{XY}"))).unwrap();
    assert_eq!(diag(&b, &["--mlx-info"]).1["version"], "0.29.3");
    let (r, j) = diag(&b, &["--check-mlx-stack"]);
    assert_eq!(r.code, Some(2));
    assert_eq!(check(&j, "mlx-lm requirements on mlx")["ok"], true, "native checks still ran");
    assert!(check(&j, "import mlx.core, mlx_lm")["detail"].as_str().unwrap().contains("standard library"));
}

#[test]
fn logs_stay_on_stderr() {
    let b = base();
    for args in [&["--python-info"][..], &["--mlx-info"], &["--check-mlx-stack"]] {
        let r = run(b.launcher().args(args).env("MLXK2_LAUNCHER_LOG", "debug"));
        r.json();
        assert!(!r.stderr.is_empty(), "{args:?}");
    }
}
