//! Issue 2 §1, issue 10 §5: the Python home and `_vendor` come from the launcher's real path and
//! the rules `MLXK_PYTHON`, `$RESOURCES_PATH/python`, `<exe dir>/python`, `<exe dir>/../python`;
//! any home of the runtime's X.Y works, its libpython loaded from that home.

use std::fs;
use std::os::unix::fs::symlink;

use crate::harness::*;

#[test]
fn shipped_layout_runs_mlxk2_from_vendor() {
    let b = base();
    let r = run(b.launcher().arg("report"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["prefix"], b.home().to_str().unwrap());
    assert_eq!(j["base_prefix"], b.home().to_str().unwrap());
    assert_eq!(j["executable"], b.python3().to_str().unwrap());
    assert_eq!(j["version"], XY);
    assert!(j["mlxk2_file"].as_str().unwrap().starts_with(b.vendor().to_str().unwrap()));
    assert!(r.stderr.is_empty(), "quiet by default: {}", r.stderr());
}

#[test]
fn resources_path_chooses_the_home() {
    let b = base();
    // Electron's process.resourcesPath, spelled through a symlink: the same bundle.
    let alias = scratch("res-alias").join("Resources");
    symlink(b.resources(), &alias).unwrap();
    let r = run(b.launcher().arg("report").env("RESOURCES_PATH", &alias).env("MLXK2_LAUNCHER_LOG", "debug"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr().contains("rule=$RESOURCES_PATH/python"), "{}", r.stderr());
    assert_eq!(r.json()["prefix"], b.home().to_str().unwrap());
}

/// The libpython mapped into the `report` process (from its /proc/self/maps).
fn mapped_libpython(report: &serde_json::Value) -> String {
    report["maps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .find(|m| m.contains("libpython"))
        .unwrap()
        .to_string()
}

#[test]
fn resources_path_of_another_bundle_runs_that_bundles_python() {
    // A real copy (not hard links), so the canonical paths differ.
    let other = scratch("other-res").join("Resources");
    std::fs::create_dir_all(&other).unwrap();
    run_ok(std::process::Command::new("cp").arg("-a").arg(base().home()).arg(&other));
    let r = run(base().launcher().arg("report").env("RESOURCES_PATH", &other));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["prefix"], other.join("python").to_str().unwrap());
    assert_eq!(j["executable"], other.join("python/bin/python3").to_str().unwrap());
    assert_eq!(mapped_libpython(&j), other.join(format!("python/lib/libpython{XY}.so.1.0")).to_str().unwrap());
}

#[test]
fn exe_dir_python_is_found() {
    let b = Bundle::copy("exedir");
    fs::rename(b.home(), b.resources().join("mlxk2/python")).unwrap();
    let r = run(b.launcher().arg("report"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["prefix"], b.resources().join("mlxk2/python").to_str().unwrap());
}

#[test]
fn mlxk_python_names_the_interpreter() {
    let b = base();
    let alias = scratch("mlxkpy").join("py");
    symlink(b.home(), &alias).unwrap();
    let interpreter = alias.join("bin/python3");
    let r = run(b.launcher().arg("report").env("MLXK_PYTHON", &interpreter).env("RESOURCES_PATH", scratch("ignored")));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["prefix"], b.home().to_str().unwrap());
    assert_eq!(j["executable"], interpreter.to_str().unwrap());
}

#[test]
fn mlxk_python_of_another_installation_is_used() {
    // The host's own pyenv CPython, not relocated at all: same X.Y as the runtime.
    let host = host_python();
    let r = run(base().launcher().arg("report").env("MLXK_PYTHON", &host.executable));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["prefix"], host.prefix.to_str().unwrap());
    assert_eq!(mapped_libpython(&j), host.prefix.join(format!("lib/libpython{XY}.so.1.0")).to_str().unwrap());
    assert!(j["mlxk2_file"].as_str().unwrap().starts_with(base().vendor().to_str().unwrap()));
}

#[test]
fn through_a_symlink_the_real_location_counts_and_argv0_is_as_invoked() {
    let b = base();
    let dir = scratch("symlink");
    let link = dir.join("mlx-studio-link");
    symlink(b.exe(), &link).unwrap();
    let r = run(clean_command(&link).arg("report"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["argv_text"][0], link.to_str().unwrap());
    assert_eq!(j["prefix"], b.home().to_str().unwrap());
}

#[test]
fn through_path_argv0_is_the_bare_name() {
    let b = base();
    let dir = scratch("pathdir");
    symlink(b.exe(), dir.join("msty-mlx-studio")).unwrap();
    let mut cmd = clean_command(std::path::Path::new("msty-mlx-studio"));
    cmd.env("PATH", format!("{}:/usr/bin:/bin", dir.display())).arg("--version");
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.stdout(), "msty-mlx-studio 0.0.1.dev0+fixture\n");
}

#[test]
fn spaces_and_non_ascii_in_the_bundle_path() {
    let root = scratch("spaces").join("Mäx Studio ✓/My App.app/Contents");
    fs::create_dir_all(&root).unwrap();
    link_tree(&base().root, &root);
    let b = Bundle { root };
    let r = run(b.launcher().arg("report").env("RESOURCES_PATH", b.resources()));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["prefix"], b.home().to_str().unwrap());
    assert_eq!(j["path"][0], b.vendor().to_str().unwrap());
}
