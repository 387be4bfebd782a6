//! Issue 2 §2 and the bad-input matrix: each case gets its documented exit code and one clear
//! line naming the path or variable — and no foreign code runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

const BAD_ENV: i32 = 80;
const NO_HOME: i32 = 81;
const STDLIB: i32 = 82;
const LIBPYTHON: i32 = 83;
const VENDOR: i32 = 84;
const MLXK2: i32 = 85;
const RUNTIME: i32 = 88;

fn launcher_error(cmd: &mut Command, code: i32, needle: &str) {
    run(cmd).assert_launcher_error(code, needle);
}

#[test]
fn resources_path_empty() {
    launcher_error(base().launcher().arg("report").env("RESOURCES_PATH", ""), BAD_ENV, "RESOURCES_PATH is empty");
}

#[test]
fn resources_path_relative() {
    launcher_error(
        base().launcher().arg("report").env("RESOURCES_PATH", "Resources"),
        BAD_ENV,
        "RESOURCES_PATH is a relative path: `Resources`",
    );
}

#[test]
fn resources_path_missing() {
    launcher_error(
        base().launcher().arg("report").env("RESOURCES_PATH", "/nonexistent/Res"),
        BAD_ENV,
        "`/nonexistent/Res`",
    );
}

#[test]
fn resources_path_is_a_file() {
    let b = base();
    launcher_error(
        b.launcher().arg("report").env("RESOURCES_PATH", b.exe()),
        BAD_ENV,
        "RESOURCES_PATH is not a directory",
    );
}

#[test]
fn resources_path_non_ascii_missing_is_named_exactly() {
    launcher_error(
        base().launcher().arg("report").env("RESOURCES_PATH", "/tmp/Mäx Res ✓"),
        BAD_ENV,
        "`/tmp/Mäx Res ✓`",
    );
}

#[test]
fn resources_path_without_python_and_no_bundle_python_lists_every_candidate() {
    let b = Bundle::copy("nohome");
    fs::remove_dir_all(b.home()).unwrap();
    let res = scratch("empty-res");
    let r = run(b.launcher().arg("report").env("RESOURCES_PATH", &res));
    r.assert_launcher_error(NO_HOME, "no Python home found");
    let err = r.stderr();
    for needle in [
        "MLXK_PYTHON is unset".to_string(),
        format!("$RESOURCES_PATH/python `{}` does not exist", res.join("python").display()),
        format!("<exe dir>/python `{}` does not exist", b.resources().join("mlxk2/python").display()),
        format!("<exe dir>/../python `{}` does not exist", b.home().display()),
    ] {
        assert!(err.contains(&needle), "{needle} not in {err}");
    }
}

#[test]
fn mlxk_python_empty() {
    launcher_error(base().launcher().arg("report").env("MLXK_PYTHON", ""), BAD_ENV, "MLXK_PYTHON is empty");
}

#[test]
fn mlxk_python_relative() {
    launcher_error(
        base().launcher().arg("report").env("MLXK_PYTHON", "python3"),
        BAD_ENV,
        "MLXK_PYTHON is a relative path: `python3`",
    );
}

#[test]
fn mlxk_python_directory() {
    let b = base();
    launcher_error(b.launcher().arg("report").env("MLXK_PYTHON", b.home()), BAD_ENV, "MLXK_PYTHON is a directory");
}

#[test]
fn mlxk_python_without_stdlib() {
    // /usr/bin/env: a real binary whose prefix (/usr) has no stdlib of this X.Y... unless the
    // system has one, in which case a fake prefix makes the same point.
    let fake = scratch("fakeprefix");
    fs::create_dir_all(fake.join("bin")).unwrap();
    fs::write(fake.join("bin/python3"), "").unwrap();
    launcher_error(
        base().launcher().arg("report").env("MLXK_PYTHON", fake.join("bin/python3")),
        STDLIB,
        &format!("`{}`", fake.join(format!("lib/python{XY}")).display()),
    );
}

#[test]
fn stdlib_missing() {
    let b = Bundle::copy("nostdlib");
    fs::remove_dir_all(b.home().join(format!("lib/python{XY}"))).unwrap();
    launcher_error(
        b.launcher().arg("report"),
        STDLIB,
        &format!("no Python standard library at `{}`", b.home().join(format!("lib/python{XY}")).display()),
    );
}

/// Another pyenv-style shared-library CPython of a different X.Y on this machine: its prefix.
fn other_python() -> PathBuf {
    let versions = host_python().prefix.parent().unwrap().to_path_buf();
    fs::read_dir(&versions)
        .unwrap()
        .filter_map(Result::ok)
        .find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let xy: String = name.split('.').take(2).collect::<Vec<_>>().join(".");
            let lib = e.path().join(format!("lib/libpython{xy}.so.1.0"));
            (xy != *XY && ["3.10", "3.11", "3.12", "3.13"].contains(&xy.as_str()) && lib.exists()).then(|| e.path())
        })
        .unwrap_or_else(|| {
            panic!("this test needs a second shared CPython 3.10–3.13 next to {:?} (pyenv)", host_python().prefix)
        })
}

fn other_libpython() -> PathBuf {
    let prefix = other_python();
    fs::read_dir(prefix.join("lib"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("libpython3.") && n.ends_with(".so.1.0")
        })
        .unwrap()
}

#[test]
fn a_home_of_another_python_needs_another_runtime() {
    // MLXK_PYTHON may choose any home; this runtime is built for one X.Y.
    let prefix = other_python();
    let other_xy = fs::read_dir(prefix.join("lib"))
        .unwrap()
        .filter_map(Result::ok)
        .find_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("libpython").and_then(|r| r.strip_suffix(".so.1.0")).map(String::from)
        })
        .unwrap();
    let python = prefix.join(format!("bin/python{other_xy}"));
    let r = run(base().launcher().arg("report").env("MLXK_PYTHON", &python));
    r.assert_launcher_error(RUNTIME, &format!("the runtime `{}` is built for Python {XY}, but the home `{}` (chosen by MLXK_PYTHON) holds Python {other_xy}", base().runtime().display(), prefix.display()));
    assert!(r.stderr().contains(&format!("PYO3_PYTHON={}", python.display())), "{}", r.stderr());
    let j = run(base().launcher().arg("--python-info").env("MLXK_PYTHON", &python)).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["python_version"], other_xy.as_str());
}

fn soname() -> String {
    format!("libpython{XY}.so.1.0")
}

/// A launcher failure about the home's libpython: 83, one line naming the file — never the
/// loader's status 127 or its message, never a signal.
fn assert_libpython_error(b: &Bundle, needle: &str) {
    let lib = b.home().join("lib").join(soname());
    let r = run(b.launcher().arg("report"));
    assert_eq!(r.signal, None);
    r.assert_launcher_error(LIBPYTHON, &format!("`{}`", lib.display()));
    assert!(r.stderr().contains(needle), "{needle:?} not in {}", r.stderr());
    // The native flags still answer, naming the file among the problems.
    let info = run(b.launcher().arg("--python-info"));
    assert_eq!(info.code, Some(2));
    let j = info.json();
    assert_eq!(j["ok"], false);
    let problems = j["problems"].to_string();
    assert!(problems.contains(&lib.display().to_string()), "{problems}");
    assert_eq!(run(b.launcher().arg("--mlx-info")).code, Some(0));
    let check = run(b.launcher().arg("--check-mlx-stack"));
    assert_eq!(check.code, Some(2));
    assert!(check.json()["error"].as_str().unwrap().contains(&lib.display().to_string()));
}

#[test]
fn libpython_missing_is_ours_to_report_not_the_loaders() {
    // Debian's own libpython3.11 in the loader cache is never picked: loading is by path.
    let b = Bundle::copy("nolib");
    fs::remove_file(b.home().join("lib").join(soname())).unwrap();
    assert_libpython_error(&b, "does not exist");
}

#[test]
fn libpython_unreadable() {
    // Tests run as root, which reads any file: a directory in its place cannot be read.
    let b = Bundle::copy("unreadable-lib");
    let lib = b.home().join("lib").join(soname());
    fs::remove_file(&lib).unwrap();
    fs::create_dir(&lib).unwrap();
    assert_libpython_error(&b, "Is a directory");
}

#[test]
fn libpython_not_a_shared_library() {
    let b = Bundle::copy("garbage-lib");
    let lib = b.home().join("lib").join(soname());
    fs::remove_file(&lib).unwrap();
    fs::write(&lib, b"this is not a library\n").unwrap();
    assert_libpython_error(&b, "libpython");
    let j = run(b.launcher().arg("--python-info")).json();
    assert!(j["problems"].to_string().contains("is not a shared library"), "{}", j["problems"]);
}

#[test]
fn libpython_truncated_is_refused_before_the_loader_can_crash() {
    // glibc maps segments past the end of a truncated file (SIGBUS on first touch).
    let b = Bundle::copy("truncated-lib");
    let lib = b.home().join("lib").join(soname());
    let bytes = fs::read(&lib).unwrap();
    fs::remove_file(&lib).unwrap();
    fs::write(&lib, &bytes[..200_000]).unwrap();
    assert_libpython_error(&b, "is truncated: a loadable segment ends at byte");
}

#[test]
fn libpython_of_another_version_is_refused() {
    let b = Bundle::copy("wronglib");
    let lib = b.home().join("lib").join(soname());
    fs::remove_file(&lib).unwrap();
    fs::copy(other_libpython(), &lib).unwrap();
    assert_libpython_error(&b, &format!("but the home's standard library is Python {XY}"));
    let j = run(b.launcher().arg("--python-info")).json();
    assert!(j["problems"].to_string().contains("is Python 3."), "{}", j["problems"]);
}

#[test]
fn ld_library_path_cannot_swap_libpython() {
    let evil = scratch("evil-ld");
    fs::copy(other_libpython(), evil.join(soname())).unwrap();
    let r = run(base().launcher().arg("report").env("LD_LIBRARY_PATH", &evil));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["version"], XY);
}

#[test]
fn vendor_missing() {
    let b = Bundle::copy("novendor");
    fs::remove_dir_all(b.vendor()).unwrap();
    launcher_error(
        b.launcher().arg("report"),
        VENDOR,
        &format!("no `_vendor` directory at `{}`", b.vendor().display()),
    );
}

#[test]
fn mlxk2_missing() {
    let b = Bundle::copy("nomlxk2");
    fs::remove_dir_all(b.vendor().join("mlxk2")).unwrap();
    launcher_error(b.launcher().arg("report"), MLXK2, &format!("no `mlxk2` package in `{}`", b.vendor().display()));
}

#[test]
fn exit_with_parent_unknown_value() {
    launcher_error(
        base().launcher().arg("report").env("MLXK2_EXIT_WITH_PARENT", "sometimes"),
        BAD_ENV,
        "MLXK2_EXIT_WITH_PARENT has an unknown value `sometimes`",
    );
}

/// A debugging aid never stops a run or spoils a diagnostics answer: one warning line.
#[test]
fn launcher_log_bad_filter_is_a_warning() {
    for args in [&["report"][..], &["--python-info"], &["--mlx-info"]] {
        let r = run(base().launcher().args(args).env("MLXK2_LAUNCHER_LOG", "debug,mlx=loud"));
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr());
        let err = r.stderr();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("msty-mlx-studio: warning: MLXK2_LAUNCHER_LOG is not a valid filter `debug,mlx=loud`"),
            "{err}"
        );
        if args[0] == "--python-info" {
            assert_eq!(r.json()["ok"], true);
        }
    }
}

/// Files that announce themselves in `marker` if Python ever runs them.
fn plant_hostile(dir: &Path, marker: &Path) {
    let payload = format!("open({:?}, 'a').write(__name__ + '\\n')\n", marker.to_str().unwrap());
    fs::create_dir_all(dir.join("mlxk2")).unwrap();
    fs::write(dir.join("mlxk2/__init__.py"), &payload).unwrap();
    fs::write(dir.join("mlxk2/cli.py"), format!("{payload}def main():\n    print('HOSTILE')\n")).unwrap();
    for module in ["sitecustomize.py", "usercustomize.py", "mlx.py", "site.py", "encodings.py", "json.py"] {
        fs::write(dir.join(module), &payload).unwrap();
    }
}

#[test]
fn hostile_cwd_is_never_imported() {
    let cwd = scratch("hostile-cwd");
    let marker = scratch("marker").join("ran");
    plant_hostile(&cwd, &marker);
    let r = run(base().launcher().arg("report").current_dir(&cwd));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!marker.exists(), "foreign code ran: {:?}", fs::read_to_string(&marker));
    let j = r.json();
    assert!(j["path"].as_array().unwrap().iter().all(|p| p != "" && p != cwd.to_str().unwrap()), "{}", j["path"]);
    assert!(j["mlxk2_file"].as_str().unwrap().starts_with(base().vendor().to_str().unwrap()));
    assert_eq!(j["modules"], serde_json::json!(["msty_mlx_guard", "vendor_pth_marker"]));
}

#[test]
fn poisoned_python_variables_change_nothing() {
    let evil = scratch("evil");
    let marker = scratch("marker").join("ran");
    plant_hostile(&evil, &marker);
    let b = base();
    let home = scratch("poison-home"); // one HOME, so both runs share the bytecode cache path
    let clean = run(b.launcher().arg("report").env("HOME", &home)).json();
    let mut cmd = b.launcher();
    cmd.arg("report").env("HOME", &home);
    for (k, v) in [
        ("PYTHONHOME", evil.to_str().unwrap()),
        ("PYTHONPATH", evil.to_str().unwrap()),
        ("PYTHONSTARTUP", evil.join("sitecustomize.py").to_str().unwrap()),
        ("PYTHONUSERBASE", evil.to_str().unwrap()),
        ("PYTHONSAFEPATH", "0"),
        ("PYTHONINSPECT", "1"),
        ("PYTHONOPTIMIZE", "2"),
        ("PYTHONVERBOSE", "1"),
        ("PYTHONUTF8", "0"),
        ("PYTHONIOENCODING", "latin-1"),
        ("PYTHONWARNINGS", "error"),
        ("PYTHONDONTWRITEBYTECODE", ""),
        ("PYTHONPYCACHEPREFIX", evil.to_str().unwrap()),
        ("PYTHONNOUSERSITE", ""),
        ("PYTHONEXECUTABLE", "/evil/python"),
        ("PYTHONPLATLIBDIR", "evil"),
    ] {
        cmd.env(k, v);
    }
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr.is_empty(), "{}", r.stderr());
    assert!(!marker.exists(), "foreign code ran");
    let j = r.json();
    for key in [
        "path",
        "executable",
        "prefix",
        "flags",
        "stdout_encoding",
        "dont_write_bytecode",
        "pycache_prefix",
        "modules",
        "user_site_enabled",
    ] {
        assert_eq!(j[key], clean[key], "{key} changed under poisoned PYTHON* variables");
    }
}

#[test]
fn user_base_with_usercustomize_is_ignored() {
    let base_dir = scratch("userbase");
    let marker = scratch("marker").join("ran");
    let site = base_dir.join(format!("lib/python{XY}/site-packages"));
    plant_hostile(&site, &marker);
    let home = scratch("userhome");
    let local_site = home.join(format!(".local/lib/python{XY}/site-packages"));
    plant_hostile(&local_site, &marker);
    let r = run(base().launcher().arg("report").env("PYTHONUSERBASE", &base_dir).env("HOME", &home));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!marker.exists(), "user site code ran");
    assert_eq!(r.json()["user_site_enabled"], false);
}
