//! Issue 2 §3, §4, §7, §9: isolation flags, UTF-8 and unbuffered stdio, no bytecode in the
//! bundle, `_vendor` first with `.pth` files processed, one process, logging.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::*;

#[test]
fn interpreter_is_isolated() {
    let r = run(base().launcher().arg("report"));
    let j = r.json();
    let f = &j["flags"];
    assert_eq!(f["isolated"], 1);
    assert_eq!(f["ignore_environment"], 1);
    assert_eq!(f["no_user_site"], 1);
    assert_eq!(f["inspect"], 0);
    if XY != "3.10" {
        assert_eq!(f["safe_path"], true);
    }
    assert_eq!(j["user_site_enabled"], false);
}

/// Issue 6: no pycs in the bundle → CPython keeps them in the per-user cache (reused on the
/// next start); shipped pycs → used as they are, nothing written anywhere.
#[test]
fn bytecode_goes_to_the_user_cache_or_nowhere() {
    let b = Bundle::copy("pyc-cache");
    let home = scratch("pyc-home");
    let before = b.snapshot();
    let first = run(b.launcher().arg("report").env("HOME", &home)).json();
    let prefix = std::path::PathBuf::from(first["pycache_prefix"].as_str().expect("a pycache prefix"));
    assert!(prefix.starts_with(home.join(".cache/msty-mlx-studio/pycache")), "{}", prefix.display());
    assert!(prefix.to_string_lossy().ends_with(&format!("-py{XY}")));
    assert_eq!(first["dont_write_bytecode"], false);
    let cli_pyc = prefix
        .join(b.vendor().strip_prefix("/").unwrap())
        .join(format!("mlxk2/cli.cpython-{}.pyc", XY.replace('.', "")));
    assert!(cli_pyc.is_file(), "{} not written", cli_pyc.display());
    let written = age(&cli_pyc);
    run(b.launcher().arg("report").env("HOME", &home));
    assert_eq!(std::fs::metadata(&cli_pyc).unwrap().modified().unwrap(), written, "the cached pyc was recompiled");
    assert_eq!(b.snapshot(), before, "written inside the bundle");

    // Shipped (hash-based) pycs: no prefix, no writing, also for children.
    run_ok(
        clean_command(&b.python3())
            .args(["-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"])
            .arg(b.vendor()),
    );
    let home = scratch("pyc-home-shipped");
    let j = run(b.launcher().arg("report").env("HOME", &home)).json();
    assert_eq!(j["pycache_prefix"], serde_json::Value::Null);
    assert_eq!(j["dont_write_bytecode"], true);
    assert_eq!(j["flags"]["dont_write_bytecode"], 1);
    assert_eq!(j["env"]["PYTHONDONTWRITEBYTECODE"], "1");
    assert!(!home.join(".cache/msty-mlx-studio").exists());
}

#[test]
fn vendor_first_then_pth_entries_then_stdlib() {
    let b = base();
    let j = run(b.launcher().arg("report")).json();
    let path: Vec<&str> = j["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let home = b.home();
    let lib = home.join("lib");
    let expected = [
        b.vendor().to_str().unwrap().to_string(),
        b.vendor().join("pthdemo_extra").to_str().unwrap().to_string(),
        lib.join(format!("python{}.zip", XY.replace('.', ""))).to_str().unwrap().to_string(),
        lib.join(format!("python{XY}")).to_str().unwrap().to_string(),
        lib.join(format!("python{XY}/lib-dynload")).to_str().unwrap().to_string(),
        lib.join(format!("python{XY}/site-packages")).to_str().unwrap().to_string(),
    ];
    assert_eq!(path, expected);
    assert_eq!(j["modules"], serde_json::json!(["msty_mlx_guard", "vendor_pth_marker"]), ".pth import line ran once");
}

#[test]
fn utf8_stdio_without_a_utf8_locale() {
    let b = base();
    for lang in [Some("C"), None, Some("POSIX")] {
        let mut cmd = b.launcher();
        cmd.env_remove("LANG").arg("report");
        if let Some(lang) = lang {
            cmd.env("LANG", lang).env("LC_ALL", lang);
        }
        let j = run(&mut cmd).json();
        assert_eq!(j["stdout_encoding"], "utf-8", "LANG={lang:?}");
        assert_eq!(j["stderr_encoding"], "utf-8", "LANG={lang:?}");
        assert_eq!(j["filesystem_encoding"], "utf-8", "LANG={lang:?}");
        // Non-ASCII output survives byte-exact.
        let r = run(b.launcher().env_remove("LANG").args(["print", "Grüße ✓"]));
        assert_eq!(r.stdout(), "Grüße ✓\n");
    }
}

#[test]
fn stdout_is_not_held_back() {
    let mut child = base().launcher().arg("handshake").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    // "a" must arrive while the process still waits for our line: nothing buffers it.
    read_until(&mut out, b"a", Duration::from_secs(20));
    assert!(child.try_wait().unwrap().is_none());
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    read_until(&mut out, b"b", Duration::from_secs(20));
    assert!(wait_timeout(&mut child, Duration::from_secs(20)).unwrap().success());
    let j = run(base().launcher().arg("report")).json();
    assert_eq!(j["stdout_write_through"], true);
}

#[test]
fn nothing_is_written_into_the_bundle() {
    let b = Bundle::copy("nowrite");
    let before = b.snapshot();
    let base_before = base().snapshot();
    // Imports of vendored modules without pycs, in the launcher and in every kind of child.
    for args in [
        &["import", "pthdemo_mod", "json", "mlxk2.child"][..],
        &["child"],
        &["child-module"],
        &["worker"],
        &["multiprocessing"],
        &["--check-mlx-stack"],
    ] {
        let r = run(b.launcher().args(args));
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr());
    }
    assert_eq!(b.snapshot(), before, "files appeared inside the bundle");
    assert_eq!(base().snapshot(), base_before, "files appeared inside the shared bundle");
}

#[test]
fn the_spawned_process_is_the_python_process() {
    let child = base().launcher().arg("report").stdout(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["pid"], pid, "a wrapper process sits between the caller and Python");
    // Python owns SIGINT (KeyboardInterrupt) and ignores SIGPIPE, as python3 does.
    assert_eq!(j["sigint_raises_keyboard_interrupt"], true);
    assert_eq!(j["sigpipe_ignored"], true);
}

#[test]
fn debug_logging_explains_path_decisions_on_stderr_only() {
    let b = base();
    let r = run(b.launcher().arg("report").env("MLXK2_LAUNCHER_LOG", "debug"));
    assert_eq!(r.code, Some(0));
    r.json(); // stdout is still pure JSON
    let err = r.stderr();
    for needle in [
        format!("home={}", b.home().display()),
        "rule=<exe dir>/../python".to_string(),
        "MLXK_PYTHON is unset".into(),
        "RESOURCES_PATH is unset".into(),
        format!("sys.path[0] = {}", b.vendor().display()),
        "exit with parent".into(),
    ] {
        assert!(err.contains(&needle), "{needle:?} not in debug log:\n{err}");
    }
    let quiet = run(b.launcher().arg("report").env("MLXK2_LAUNCHER_LOG", ""));
    assert!(quiet.stderr.is_empty());
}
