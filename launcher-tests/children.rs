//! Issue 2 §6: every child started through `sys.executable` — subprocess `-c`, `-m`,
//! mlx-knife's supervised-worker pattern, multiprocessing spawn — sees the bundle's Python,
//! `_vendor` first, no user site, no bytecode writing, and none of the caller's PYTHON* vars.

use std::path::Path;

use crate::harness::*;

fn check_child(command: &str) {
    let b = base();
    let evil = scratch("child-evil");
    let r = run(b
        .launcher()
        .arg(command)
        .env("PYTHONHOME", &evil)
        .env("PYTHONPATH", &evil)
        .env("PYTHONINSPECT", "1")
        .env("PYTHONUSERBASE", &evil));
    assert_eq!(r.code, Some(0), "{command}: {}", r.stderr());
    let j = r.json();
    let launcher_pid = j["pid"].as_i64().unwrap();
    assert_eq!(j["executable"], b.python3().to_str().unwrap(), "{command}");
    assert_eq!(j["prefix"], b.home().to_str().unwrap(), "{command}");
    let mut path: Vec<&str> = j["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(!path.contains(&evil.to_str().unwrap()), "{command}: {path:?}");
    // The served port's guard runs in every kind of child: through its sitecustomize (the guard
    // first on PYTHONPATH), or in multiprocessing's (`-I`, like the launcher) through the
    // command line the launcher's guard gives them.
    let guard = b.guard();
    let modules = &j["modules"];
    assert!(modules.as_array().unwrap().contains(&"msty_mlx_guard".into()), "{command}: {modules}");
    if command != "multiprocessing" {
        assert!(modules.as_array().unwrap().contains(&"sitecustomize".into()), "{command}: {modules}");
        let at = path.iter().position(|p| Path::new(p) == guard).unwrap_or_else(|| panic!("{command}: {path:?}"));
        assert_eq!(path.get(at + 1), Some(&b.vendor().to_str().unwrap()), "{command}: guard, then _vendor: {path:?}");
    }
    path.retain(|p| Path::new(p) != guard);
    // Python 3.10 has no safe-path mode: `-c`/`-m` children get '' or the cwd first, as they
    // did under the bash launcher.
    let cwd = j["cwd"].as_str().unwrap();
    let first = path.iter().find(|p| !p.is_empty() && (XY != "3.10" || **p != cwd)).unwrap();
    assert_eq!(*first, b.vendor().to_str().unwrap(), "{command}: {path:?}");
    if XY != "3.10" {
        assert_eq!(path[0], b.vendor().to_str().unwrap(), "{command}: cwd on a child's sys.path");
    }
    assert!(j["mlxk2_file"].as_str().unwrap().starts_with(b.vendor().to_str().unwrap()));
    assert_eq!(j["flags"]["no_user_site"], 1, "{command}");
    assert_eq!(j["flags"]["inspect"], 0, "{command}");
    // The fixture bundle ships no pycs: children share the launcher's per-user cache — except
    // multiprocessing's, which copy the launcher's flags (`-I -B`) and so write none at all.
    let cache = j["env"]["PYTHONPYCACHEPREFIX"].as_str().expect("PYTHONPYCACHEPREFIX").to_string();
    assert!(!cache.starts_with(b.root.to_str().unwrap()), "{command}: cache inside the bundle");
    if command == "multiprocessing" {
        assert_eq!(j["dont_write_bytecode"], true);
    } else {
        assert_eq!(j["pycache_prefix"], cache.as_str(), "{command}");
    }
    let env = &j["env"];
    assert_eq!(env["PYTHONPATH"], b.pythonpath(), "{command}");
    assert_eq!(env["PYTHONNOUSERSITE"], "1");
    assert!(env.get("PYTHONDONTWRITEBYTECODE").is_none());
    assert!(env.get("PYTHONHOME").is_none(), "{command}: PYTHONHOME leaked");
    assert!(env.get("PYTHONINSPECT").is_none(), "{command}: PYTHONINSPECT leaked");
    assert!(env.get("PYTHONUSERBASE").is_none(), "{command}: PYTHONUSERBASE leaked");
    let _ = launcher_pid;
}

#[test]
fn subprocess_dash_c() {
    check_child("child");
}

#[test]
fn subprocess_dash_m() {
    check_child("child-module");
}

#[test]
fn supervised_worker_in_a_new_session() {
    check_child("worker");
}

#[test]
fn multiprocessing_spawn() {
    check_child("multiprocessing");
}

#[test]
fn the_launcher_itself_sees_the_same_environment() {
    let b = base();
    let j = run(b.launcher().arg("report").env("PYTHONHOME", "/evil")).json();
    assert_eq!(j["env"]["PYTHONPATH"], b.pythonpath());
    assert!(j["env"].get("PYTHONHOME").is_none());
}
