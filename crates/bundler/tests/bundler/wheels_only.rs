//! Issue 4: `--wheels-only` — resolving for a target platform and X.Y (markers evaluated for the
//! target), linking a macOS launcher with zig or refusing in one line, never running a
//! non-executable interpreter, and its bad inputs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::*;

#[test]
fn wheels_only_for_this_platform_builds_from_a_pyo3_config_file() {
    let cwd = scratch("wheels-only");
    let mut cmd = bundler(&cwd);
    cmd.arg("--from-source")
        .arg("--python")
        .arg(&host_python().executable)
        .arg("--project")
        .arg(project("wo-tree"))
        .arg("--pip-args")
        .arg(offline())
        .env("VENDOR_VIA_WHEELS", "1")
        .env("TARGET_PY_VERSION", XY)
        .env("TARGET_PLATFORM", "linux_x86_64")
        .env("TARGET_ABI", format!("cp{}", XY.replace('.', "")));
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr().contains("--platform") || r.stderr().contains("Installing"), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    assert_eq!(manifest(&out)["python"]["platform_tag"], "linux_x86_64");
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
}

/// A macOS bundle from here: the launcher and runtime are linked with zig (the real build is
/// `launcher-tests/macos-gate.sh`'s); what cannot be built or used is one line saying what to do.
#[test]
fn wheels_only_for_macos_links_here_or_refuses_in_one_line() {
    let tree = project("mac-tree");
    let mac = |cwd: &Path, tag: &str| {
        let mut cmd = bundler(cwd);
        cmd.args(["--quiet", "--wheels-only", "--target-python-version", &*XY, "--target-platform", tag, "--project"])
            .arg(&tree)
            .arg("--pip-args")
            .arg(offline());
        cmd
    };
    // zig not installable: the test's HOME has an empty tool cache, and pip may reach no index.
    let cwd = scratch("mac-no-zig");
    let r = run(mac(&cwd, "macosx_14_0_arm64").arg("--from-source").env("PIP_NO_INDEX", "1"));
    assert_bundler_error(&r, "zig is needed to link for macOS and `");
    let last = r.stderr().lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("-m pip install ziglang==0.17.1` failed: ERROR: ")
            && last.ends_with("or build them on a Mac, add them to a kit (kit add) and pass --launcher-kit DIR"),
        "{last}"
    );
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists());

    for (tag, needle) in [
        (
            "macosx_14_0_universal2",
            "--target-platform `macosx_14_0_universal2`: uv resolves for one architecture at a time; build one bundle per architecture (macosx_14_0_arm64 or _x86_64)",
        ),
        (
            "manylinux_2_28_aarch64",
            "cannot build the launcher and runtime for `manylinux_2_28_aarch64` on this machine: cross builds are for macOS tags",
        ),
    ] {
        let r = run(mac(&scratch("mac-tag"), tag).arg("--from-source"));
        assert_bundler_error(&r, needle);
        assert_eq!(r.stderr().lines().count(), 1, "{tag}: {}", r.stderr());
    }

    // A kit without the macOS target: refused (exit 3), never built instead.
    let r = run(mac(&scratch("mac-so"), "macosx_14_0_arm64").arg("--launcher-kit").arg(test_kit()));
    assert_eq!(r.code, Some(3), "{}", r.stderr());
    assert!(r.stderr().contains("has no files for aarch64-apple-darwin (it has: "), "{}", r.stderr());

    let r = run(bundler(&scratch("mac-no-xy")).args(["--quiet", "--wheels-only", "--project"]).arg(&tree));
    assert_bundler_error(&r, "--wheels-only needs --target-python-version");
}

/// Names of the top-level entries of a dist dir's `_vendor`.
fn vendor_names(out: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(out.join("_vendor")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// A kit of stand-ins for the macOS launcher files, linked by zig in a second: an arm64 executable
/// and an arm64 dylib carrying the runtime stamp for `xy` (minimum macOS 14.0). They pass the
/// bundler's launcher check (Mach-O for the tag's architecture, no libpython, the stamp) and
/// are never run; the real cross build is the macOS gate's (minutes, not needed to test
/// resolution).
fn macos_launcher_standins(xy: &str) -> PathBuf {
    let dir = scratch("macos-standins");
    let stamp = msty_mlx_contract::stamp::RuntimeStamp {
        plan_format: msty_mlx_contract::plan::FORMAT,
        python: xy.parse().unwrap(),
        version: "0.0.0-standin".into(),
    };
    fs::write(dir.join("main.c"), "int main(void) { return 0; }\n").unwrap();
    fs::write(
        dir.join("stamp.c"),
        format!("__attribute__((used)) const char msty_mlx_runtime_stamp[] = \"{}\";\n", stamp.line()),
    )
    .unwrap();
    for (out, args) in
        [("msty-mlx-studio", &["main.c"][..]), ("libmsty_mlx_runtime.dylib", &["-shared", "stamp.c"][..])]
    {
        run_ok(zig_cc().args(["-target", "aarch64-macos.14.0", "-o", out]).args(args).current_dir(&dir));
    }
    let kit = dir.join("kit");
    make_kit(&kit, "aarch64-apple-darwin", &dir.join("msty-mlx-studio"), xy, &dir.join("libmsty_mlx_runtime.dylib"));
    kit
}

#[test]
fn wheels_only_evaluates_markers_for_the_target_not_this_machine() {
    // From Linux on CPython XY, for macOS arm64 on the other X.Y: markers must be evaluated for
    // the target (pip evaluates them for the machine it runs on).
    let cwd = scratch("markers");
    fs::write(cwd.join("reqs.txt"), "markerdemo\n").unwrap();
    let target_xy = other_xy();
    let mut cmd = bundler(&cwd);
    cmd.args([
        "--quiet",
        "--wheels-only",
        "--target-python-version",
        target_xy,
        "--target-platform",
        "macosx_14_0_arm64",
        "--requirements",
        "reqs.txt",
        "--project",
    ])
    .arg(project("markers-tree"))
    .arg("--pip-args")
    .arg(offline())
    .arg("--launcher-kit")
    .arg(macos_launcher_standins(target_xy));
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let names = vendor_names(&out);
    let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    // Darwin-only: mlx's mlx-metal (a macOS-tagged wheel) and markerdemo's mdep-darwin (tagged
    // for an older macOS than the target: MACOSX_DEPLOYMENT_TARGET accepts it).
    assert!(has("mlx_metal-0.29.3.dist-info") && out.join("_vendor/mlx/lib/mlx.metallib").is_file(), "{names:?}");
    assert!(has("mdep_darwin-1.0.dist-info"), "{names:?}");
    assert!(!has("mdep_linux"), "a Linux-only dependency in a macOS bundle: {names:?}");
    let (wanted, unwanted) =
        if target_xy == "3.11" { ("mdep_py311", "mdep_py312") } else { ("mdep_py312", "mdep_py311") };
    assert!(has(wanted) && !has(unwanted), "python_version markers for {target_xy} (host {XY}): {names:?}");
    let m = manifest(&out);
    assert_eq!(m["installer"]["python_platform"], "aarch64-apple-darwin");
    assert_eq!(m["installer"]["macosx_deployment_target"], "14.0");
    assert_eq!(m["python"]["version"], target_xy);
    assert_eq!(m["sanity_check"], "skipped: the bundle targets macosx_14_0_arm64 and cannot run on this machine");
    // The host CPython XY cannot compile bytecode for another X.Y; one of the target's may exist.
    let pyc = out.join(format!("_vendor/markerdemo/__pycache__/__init__.cpython-{}.pyc", target_xy.replace('.', "")));
    assert_eq!(m["bytecode"] == "unchecked-hash", pyc.is_file(), "{}", m["bytecode"]);
    if !pyc.is_file() {
        assert!(
            r.stdout().contains(&format!("bytecode: none in the bundle: no CPython {target_xy} on this machine")),
            "{}",
            r.stdout()
        );
    }
}

#[test]
fn wheels_only_never_executes_a_non_executable_python() {
    // A prefix with a python3 that cannot be executed (mode 0644) and lib/python3.X: X.Y is read
    // from the directory, nothing runs it, and the sanity check is skipped with the reason.
    let prefix = scratch("noexec-prefix").join("python");
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::create_dir_all(prefix.join(format!("lib/python{XY}"))).unwrap();
    let python3 = prefix.join("bin/python3");
    fs::copy(&host_python().executable, &python3).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&python3, fs::Permissions::from_mode(0o644)).unwrap();
    let cwd = scratch("noexec");
    let mut cmd = bundler(&cwd);
    cmd.args(["--wheels-only", "--target-platform", "linux_x86_64", "--python"])
        .arg(&python3)
        .arg("--project")
        .arg(project("noexec-tree"))
        .arg("--pip-args")
        .arg(offline())
        .arg("--launcher-kit")
        .arg(test_kit());
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!r.stderr().contains("Permission denied"), "{}", r.stderr());
    let why = format!("skipped: `{}` is not executable (wheels-only mode never makes it so)", python3.display());
    assert!(r.stdout().contains(&format!("sanity check: {why}")), "{}", r.stdout());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let m = manifest(&out);
    assert_eq!(m["sanity_check"], why.as_str());
    assert_eq!(m["python"]["version"], XY);
    assert_eq!(m["installer"]["python_platform"], "x86_64-unknown-linux-gnu");
    // Bytecode from a host CPython XY (the test's own, on PATH), not from --python.
    assert_eq!(m["bytecode"], "unchecked-hash");
    assert!(
        r.stdout().contains(&format!("compiled with `{}", host_python().executable.parent().unwrap().display())),
        "{}",
        r.stdout()
    );
    assert!(out.join(format!("_vendor/mlxk2/__pycache__/cli.cpython-{}.pyc", XY.replace('.', ""))).is_file());
    // The bundle still runs against a real home of that X.Y.
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
}

#[test]
fn wheels_only_bad_inputs_are_one_line_errors_and_leave_the_output_alone() {
    let tree = project("wo-bad-tree");
    let cwd = scratch("wo-bad");
    // An existing bundle that each failed --clean build must leave as it was.
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("keep"), "the previous bundle").unwrap();
    let before = contents(&cwd.join("dist-ext-python"));
    let fake_prefix = scratch("wo-bad-prefix");
    fs::create_dir_all(fake_prefix.join("bin")).unwrap();
    fs::create_dir_all(fake_prefix.join(format!("lib/python{}", other_xy()))).unwrap();
    fs::write(fake_prefix.join("bin/python3"), "").unwrap();
    let linux = ["--target-platform", "linux_x86_64"];
    let cases: Vec<(Vec<String>, String, String)> = vec![
        (vec!["--target-platform".into(), "win_amd64".into()], offline(), "--target-platform `win_amd64` is not a wheel platform tag this bundler can resolve for; use one of: macosx_X_Y_arm64".into()),
        (vec!["--target-python-version".into(), "3.6".into()], offline(), "uv pip install failed (exit status: 1): No solution found when resolving dependencies".into()),
        (vec!["--target-python-version".into(), "3".into()], offline(), "--target-python-version `3` must be 3.Y".into()),
        (vec!["--target-abi".into(), "abi3".into()], offline(), "--target-abi `abi3`: uv resolves for CPython".into()),
        (vec!["--python".into(), fake_prefix.join("bin/python3").to_str().unwrap().into()], offline(), format!("--target-python-version is {XY} but the interpreter `{}` is Python {}", fake_prefix.join("bin/python3").display(), other_xy())),
        // A requirement with wheels for another platform only.
        (linux.iter().map(|s| s.to_string()).chain(["--requirements".into(), "reqs-metal.txt".into()]).collect(), offline(), "has no wheels with a matching platform tag".into()),
        // No network (nothing listens on port 9) and an empty uv cache.
        (linux.iter().map(|s| s.to_string()).collect(), format!("--index-url http://127.0.0.1:9/simple --find-links {}", scratch("empty-links").display()), "no network? pass PIP_ARGS='--no-index --find-links DIR' with a wheelhouse".into()),
    ];
    fs::write(cwd.join("reqs-metal.txt"), "mlx-metal\n").unwrap();
    for (args, pip_args, needle) in cases {
        let mut cmd = bundler(&cwd);
        // --from-source: each case fails before the launcher step (a kit is checked first).
        cmd.args(["--quiet", "--clean", "--wheels-only", "--from-source", "--project"])
            .arg(&tree)
            .arg("--pip-args")
            .arg(&pip_args);
        if !args.iter().any(|a| a == "--target-python-version") {
            cmd.args(["--target-python-version", &XY]);
        }
        let r = run(cmd.args(&args));
        assert_bundler_error(&r, &needle);
        assert_eq!(r.stderr().lines().count(), 1, "{args:?}: {}", r.stderr());
        assert_eq!(contents(&cwd.join("dist-ext-python")), before, "{args:?}: the output changed");
    }
}
