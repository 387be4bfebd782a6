//! Issue 26: the served port's guard as the launcher sets it up, with the fixture mlxk2 (the
//! requests themselves are tested on the real stack, `launcher-tests/real/guard.rs`): where the
//! token goes, the fail-closed listener check in the launcher and in a child, the settings'
//! one-line refusals, a bundle without the guard, the opt-out, `--python-info`; and the guard's
//! own Python unit tests (`guard/tests`).

use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::*;

const TOKEN: &str = "launcher-test-token-0123456789abcdef";

#[test]
fn the_token_reaches_only_python_children_and_goes_no_further() {
    let b = base();
    let r = run(b.launcher().env("MLXK2_SERVE_TOKEN", TOKEN).arg("token-trail"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["stderr"], "", "{j}");
    let not_held = json!({ "os_environ": false, "started_with": false });
    assert_eq!(j["launcher_os_environ"], false, "the launcher's interpreter still has it: {j}");
    // A python3 started through subprocess (as mlx-knife starts its serve worker) is given it,
    // and its guard takes it out of its environment before any other code runs.
    assert_eq!(j["python_child"], json!({ "os_environ": false, "started_with": true }), "{j}");
    assert_eq!(j["python_grandchild"], not_held, "{j}");
    assert_eq!(j["env_child"], false, "a non-Python child got it: {j}");
    assert_eq!(j["multiprocessing_child"], not_held, "{j}");
    assert!(!r.stdout().contains(TOKEN) && !r.stderr().contains(TOKEN));
}

#[test]
fn a_listener_the_guard_is_not_in_ends_the_process_with_89() {
    let b = base();
    for (args, what) in [
        (&["listen"][..], "a python3 child"),
        (&["listen", "here"], "the launcher's interpreter"),
        (&["listen", "spawn"], "a multiprocessing spawn child"),
        (&["listen", "forkserver"], "a child of multiprocessing's fork server"),
    ] {
        let r = run(b.launcher().args(args));
        assert_eq!(r.code, Some(89), "{what}: {}", r.stderr());
        let line = r.stderr();
        assert!(
            line.starts_with("msty-mlx-studio: error: a server in this process (pid ")
                && line.contains("started listening on ('127.0.0.1', ")
                && line.contains("but the served port's guard did not attach")
                && line.ends_with("or set MLXK2_GUARD=off to serve unguarded\n")
                && line.lines().count() == 1,
            "{what}: {line}"
        );
        assert_eq!(r.stdout(), "", "{what}: nothing listened");
        // The opt-out is mlx-knife's (here the fixture's) own behaviour.
        let off = run(b.launcher().env("MLXK2_GUARD", "off").args(args));
        assert_eq!((off.code, off.stdout()), (Some(0), "listening\n".into()), "{what}: {}", off.stderr());
    }
}

/// A python3 child that skips `sitecustomize` (`-I`, `-E`, `-S`: as mlx-knife's worker would be
/// if it isolated itself, its bootstrap putting mlxk2's directory on `sys.path` by hand) runs the
/// guard all the same: its `-c` command starts it first, so a listener there still ends with 89.
#[test]
fn an_isolated_python_child_runs_the_guard_too() {
    let b = base();
    for flags in [&["-I", "-c"][..], &["-E", "-c"], &["-S", "-c"], &["-sIBc"], &["-X", "utf8", "-E", "-c"]] {
        let r = run(b.launcher().arg("listen").args(flags));
        assert_eq!(r.code, Some(89), "{flags:?}: {}", r.stderr());
        assert!(r.stderr().contains("but the served port's guard did not attach"), "{flags:?}: {}", r.stderr());
        assert_eq!(r.stdout(), "", "{flags:?}: it listened");
    }
    // An isolated child that does not serve runs as before, with its own `from __future__`.
    let code = "from __future__ import annotations\nimport sys\nif True:\n    print(sys.flags.isolated, sys.argv)";
    let r = run(b.launcher().args(["python", "-I", "-c", code, "a"]));
    assert_eq!((r.code, r.stdout()), (Some(0), "1 ['-c', 'a']\n".to_string()), "{}", r.stderr());
    // Handed the token like any python3 child, it takes it out of its environment first.
    let code = "import os; print('MLXK2_SERVE_TOKEN' in os.environ, 'msty_mlx_guard' in __import__('sys').modules)";
    let r = run(b.launcher().env("MLXK2_SERVE_TOKEN", TOKEN).args(["python", "-I", "-c", code]));
    assert_eq!((r.code, r.stdout()), (Some(0), "False True\n".to_string()), "{}", r.stderr());
}

#[test]
fn unusable_settings_are_one_line_and_exit_80_before_python_runs() {
    let b = base();
    for (vars, line) in [
        (
            vec![("MLXK2_SERVE_TOKEN", "short")],
            "MLXK2_SERVE_TOKEN is 5 characters long; use at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (the Electron module makes one)",
        ),
        (
            vec![("MLXK2_SERVE_TOKEN", "has white space in it, 0123456789")],
            "MLXK2_SERVE_TOKEN contains white space; use at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (the Electron module makes one)",
        ),
        (
            vec![("MLXK2_ALLOWED_ORIGINS", "app://msty, null")],
            "MLXK2_ALLOWED_ORIGINS has `null`, the origin of sandboxed frames, file: pages and redirects, which any page can produce; list origins as scheme://host[:port], comma-separated: app://msty,http://localhost:5173",
        ),
        (
            vec![("MLXK2_GUARD", "off"), ("MLXK2_ALLOWED_ORIGINS", "app://msty")],
            "MLXK2_ALLOWED_ORIGINS is set, but MLXK2_GUARD=off turns off the guard that would use it; unset MLXK2_ALLOWED_ORIGINS, or unset MLXK2_GUARD",
        ),
        (
            vec![("MLXK2_GUARD", "maybe")],
            "MLXK2_GUARD has an unknown value `maybe`; use MLXK2_GUARD=1 or MLXK2_GUARD=0, or unset it",
        ),
    ] {
        let mut cmd = b.launcher();
        cmd.env("MLXK2_LAUNCHER_LOG", "debug").arg("report");
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, Some(80), "{vars:?}: {}", r.stderr());
        assert_eq!(r.stdout(), "");
        let stderr = r.stderr();
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("msty-mlx-studio: error: ")).collect();
        assert_eq!(errors, [format!("msty-mlx-studio: error: {line}")], "{vars:?}");
        assert!(!r.stderr().contains("libpython loaded"), "{vars:?}: refused only after loading Python");
    }
}

#[test]
fn a_bundle_without_the_guard_stops_with_89_or_runs_with_the_opt_out() {
    let b = Bundle::copy("no-guard");
    fs::remove_file(b.guard().join("msty_mlx_guard_app.py")).unwrap();
    let r = run(b.launcher().arg("report"));
    assert_eq!(r.code, Some(89), "{}", r.stderr());
    let missing = b.guard().join("msty_mlx_guard_app.py");
    assert_eq!(
        r.stderr(),
        format!(
            "msty-mlx-studio: error: the served port's guard `{}` is missing; rebuild the bundle with build-external-python (it puts guard/ next to the launcher), or set MLXK2_GUARD=off to run mlx-knife unguarded\n",
            missing.display()
        )
    );
    let info = run(b.launcher().arg("--python-info"));
    assert_eq!(info.code, Some(2));
    assert!(info.json()["problems"][0].as_str().unwrap().contains("msty_mlx_guard_app.py` is missing"));
    // Off: no guard anywhere, children's PYTHONPATH is _vendor alone (mlx-knife's own setting).
    let off = run(b.launcher().env("MLXK2_GUARD", "off").arg("child"));
    assert_eq!(off.code, Some(0), "{}", off.stderr());
    let j = off.json();
    assert_eq!(j["env"]["PYTHONPATH"], b.vendor().to_str().unwrap());
    assert_eq!(j["modules"], json!([]), "no guard and no sitecustomize in the child");
    let off = run(b.launcher().env("MLXK2_GUARD", "off").arg("report")).json();
    assert_eq!(off["modules"], json!(["vendor_pth_marker"]), "no guard in the launcher's interpreter");
}

#[test]
fn python_info_shows_the_guard_and_never_the_token() {
    let b = base();
    let r = run(b
        .launcher()
        .env("MLXK2_SERVE_TOKEN", TOKEN)
        .env("MLXK2_ALLOWED_ORIGINS", "HTTP://LocalHost:5173/ app://msty")
        .env("MLXK2_SERVE_TOKEN_REQUIRED", "stale")
        .arg("--python-info"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!r.stdout().contains(TOKEN), "the token is printed");
    let j: Value = r.json();
    let guard = json!({ "state": "on", "token": true, "allowed_origins": ["http://localhost:5173", "app://msty"] });
    assert_eq!(j["guard"], guard);
    assert_eq!(j["plan"]["guard"], guard);
    assert_eq!(j["plan"]["guard_dir"], b.guard().to_str().unwrap());
    let set = &j["child_environment"]["set"];
    assert_eq!(set["MLXK2_SERVE_TOKEN_REQUIRED"], "1");
    assert_eq!(set["MLXK2_ALLOWED_ORIGINS"], "http://localhost:5173,app://msty");
    assert_eq!(set["PYTHONPATH"], b.pythonpath());
    // Without a token, the caller's stale marker is removed rather than passed on.
    let j = run(b.launcher().env("MLXK2_SERVE_TOKEN_REQUIRED", "1").arg("--python-info")).json();
    assert!(j["child_environment"]["removed"].as_array().unwrap().contains(&"MLXK2_SERVE_TOKEN_REQUIRED".into()));
    assert_eq!(j["guard"], json!({ "state": "on", "token": false, "allowed_origins": [] }));
    let j = run(b.launcher().env("MLXK2_GUARD", "0").arg("--python-info")).json();
    assert_eq!(j["guard"], json!({ "state": "off" }));
    assert_eq!(j["child_environment"]["set"]["PYTHONPATH"], b.vendor().to_str().unwrap());
}

/// The guard's Python unit tests (`guard/tests/*.py`, stdlib unittest) with the test CPython:
/// isolated, and writing no bytecode into the checkout.
#[test]
fn the_guards_python_unit_tests_pass() {
    let dir = std::path::Path::new(REPO).join("guard/tests");
    let mut files: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "py"));
    files.sort();
    assert!(!files.is_empty(), "no tests in {}", dir.display());
    for file in files {
        let out = Command::new(&host_python().executable).arg("-I").arg("-B").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}:\n{stderr}", file.display());
        let ran = stderr.lines().find_map(|l| l.strip_prefix("Ran ")?.split(' ').next()?.parse::<u32>().ok());
        assert!(ran.is_some_and(|n| n > 0) && stderr.ends_with("OK\n"), "{}: no test ran:\n{stderr}", file.display());
    }
}
