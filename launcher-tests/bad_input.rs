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

fn launcher_error(cmd: &mut Command, code: i32, needle: &str) {
    run(cmd).assert_launcher_error(code, needle);
}

#[test]
fn resources_path_empty() {
    launcher_error(base().launcher().arg("report").env("RESOURCES_PATH", ""), BAD_ENV, "RESOURCES_PATH is empty");
}

#[test]
fn resources_path_relative() {
    launcher_error(base().launcher().arg("report").env("RESOURCES_PATH", "Resources"), BAD_ENV, "RESOURCES_PATH is a relative path: `Resources`");
}

#[test]
fn resources_path_missing() {
    launcher_error(base().launcher().arg("report").env("RESOURCES_PATH", "/nonexistent/Res"), BAD_ENV, "`/nonexistent/Res`");
}

#[test]
fn resources_path_is_a_file() {
    let b = base();
    launcher_error(b.launcher().arg("report").env("RESOURCES_PATH", b.exe()), BAD_ENV, "RESOURCES_PATH is not a directory");
}

#[test]
fn resources_path_non_ascii_missing_is_named_exactly() {
    launcher_error(base().launcher().arg("report").env("RESOURCES_PATH", "/tmp/Mäx Res ✓"), BAD_ENV, "`/tmp/Mäx Res ✓`");
}

#[test]
fn resources_path_without_python_and_no_bundle_python_lists_every_candidate() {
    let b = Bundle::copy("nohome");
    fs::remove_dir_all(b.home()).unwrap();
    let res = scratch("empty-res");
    let r = run(b.launcher().arg("report").env("RESOURCES_PATH", &res));
    if !system_has_libpython() {
        // Without any libpython the loader stops first (status 127, its own line; README).
        return assert_loader_refused(&r);
    }
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
    launcher_error(base().launcher().arg("report").env("MLXK_PYTHON", "python3"), BAD_ENV, "MLXK_PYTHON is a relative path: `python3`");
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
    launcher_error(b.launcher().arg("report"), STDLIB, &format!("no Python {XY} standard library at `{}`", b.home().join(format!("lib/python{XY}")).display()));
}

#[test]
fn stdlib_of_another_version_only() {
    let b = Bundle::copy("otherstdlib");
    let other = if XY == "3.12" { "3.11" } else { "3.12" };
    fs::rename(b.home().join(format!("lib/python{XY}")), b.home().join(format!("lib/python{other}"))).unwrap();
    launcher_error(b.launcher().arg("report"), STDLIB, &format!("lib/python{XY}`"));
}

fn soname() -> String {
    format!("libpython{XY}.so.1.0")
}

fn system_has_libpython() -> bool {
    let out = Command::new("/sbin/ldconfig").arg("-p").output().or_else(|_| Command::new("ldconfig").arg("-p").output());
    out.map(|o| String::from_utf8_lossy(&o.stdout).contains(&soname())).unwrap_or(false)
}

#[test]
fn libpython_missing() {
    let b = Bundle::copy("nolib");
    fs::remove_file(b.home().join("lib").join(soname())).unwrap();
    let r = run(b.launcher().arg("report"));
    if system_has_libpython() {
        // The loader silently took the system's copy: the launcher must refuse it.
        r.assert_launcher_error(LIBPYTHON, &format!("not from the bundle (`{}` is missing", b.home().join("lib").join(soname()).display()));
    } else {
        assert_loader_refused(&r);
    }
}

/// Nothing of ours runs before the dynamic loader: its one line names the library, status 127
/// (README, exit codes).
fn assert_loader_refused(r: &Run) {
    assert_eq!(r.code, Some(127), "{}", r.stderr());
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    assert!(r.stderr().contains(&format!("{}: cannot open shared object file", soname())), "{}", r.stderr());
}

/// Another pyenv-style CPython on this machine, of a different X.Y, for mismatch cases.
fn other_libpython() -> Option<PathBuf> {
    let versions = host_python().prefix.parent()?.to_path_buf();
    fs::read_dir(versions).ok()?.filter_map(Result::ok).find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let xy: String = name.split('.').take(2).collect::<Vec<_>>().join(".");
        (xy != *XY && name.starts_with("3.1")).then(|| e.path().join(format!("lib/libpython{xy}.so.1.0"))).filter(|p| p.exists())
    })
}

#[test]
fn libpython_of_another_version_is_refused() {
    let Some(other) = other_libpython() else {
        panic!("this test needs a second shared CPython next to {:?} (pyenv)", host_python().prefix);
    };
    let b = Bundle::copy("wronglib");
    let lib = b.home().join("lib").join(soname());
    fs::remove_file(&lib).unwrap();
    fs::copy(&other, &lib).unwrap();
    let r = run(b.launcher().arg("report"));
    // Either the loader refuses the foreign library's symbols, or the launcher refuses its version.
    if r.code == Some(LIBPYTHON) {
        r.assert_launcher_error(LIBPYTHON, &format!("but this launcher was built for Python {XY}"));
    } else {
        assert_eq!(r.code, Some(127), "{}", r.stderr());
        assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    }
}

#[test]
fn ld_library_path_cannot_swap_libpython() {
    let Some(other) = other_libpython() else { panic!("needs a second shared CPython (pyenv)") };
    let evil = scratch("evil-ld");
    fs::copy(other, evil.join(soname())).unwrap();
    let r = run(base().launcher().arg("report").env("LD_LIBRARY_PATH", &evil));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["version"], XY);
}

#[test]
fn vendor_missing() {
    let b = Bundle::copy("novendor");
    fs::remove_dir_all(b.vendor()).unwrap();
    launcher_error(b.launcher().arg("report"), VENDOR, &format!("no `_vendor` directory at `{}`", b.vendor().display()));
}

#[test]
fn mlxk2_missing() {
    let b = Bundle::copy("nomlxk2");
    fs::remove_dir_all(b.vendor().join("mlxk2")).unwrap();
    launcher_error(b.launcher().arg("report"), MLXK2, &format!("no `mlxk2` package in `{}`", b.vendor().display()));
}

#[test]
fn exit_with_parent_unknown_value() {
    launcher_error(base().launcher().arg("report").env("MLXK2_EXIT_WITH_PARENT", "sometimes"), BAD_ENV, "MLXK2_EXIT_WITH_PARENT has an unknown value `sometimes`");
}

#[test]
fn launcher_log_bad_filter() {
    launcher_error(base().launcher().arg("report").env("MLXK2_LAUNCHER_LOG", "debug,[[["), BAD_ENV, "MLXK2_LAUNCHER_LOG is not a valid filter");
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
    assert_eq!(j["modules"], serde_json::json!([ "vendor_pth_marker" ]));
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
    for key in ["path", "executable", "prefix", "flags", "stdout_encoding", "dont_write_bytecode", "pycache_prefix", "modules", "user_site_enabled"] {
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
