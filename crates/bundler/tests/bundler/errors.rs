//! Issues 4 and 18: bad input is one error line (the last on stderr, whatever came before it),
//! exit 1 (2 for usage), and nothing at the output path.

use std::fs;
use std::path::Path;

use crate::harness::*;

#[test]
fn bad_inputs_are_one_line_errors() {
    let tree = project("bad-tree");
    let wh = wheelhouse();
    let not_a_zip = scratch("notzip").join("mlx-custom.whl");
    fs::write(&not_a_zip, "not a zip").unwrap();
    let txt = scratch("txt").join("mlx.txt");
    fs::write(&txt, "x").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--python".into(), "/nonexistent/bin/python3".into()],
            "`/nonexistent/bin/python3` (--python/EMBEDDED_PYTHON) does not exist".into(),
        ),
        (
            vec!["--mlx-wheel".into(), "/nonexistent/mlx.whl".into()],
            "wheel `/nonexistent/mlx.whl` does not exist".into(),
        ),
        (vec!["--mlx-wheel".into(), txt.to_str().unwrap().into()], "is not a wheel (the name must end in .whl)".into()),
        (vec!["--mlx-wheel".into(), not_a_zip.to_str().unwrap().into()], "is not a wheel (not a zip archive)".into()),
        (
            vec!["--mlx-wheel".into(), wh.macos_mlx.to_str().unwrap().into()],
            format!("(cp312-cp312-macosx_14_0_arm64) does not fit Python {XY}"),
        ),
        (vec!["--mlx-lm-wheel".into(), wh.custom_mlx.to_str().unwrap().into()], "custom mlx-lm wheel".into()),
        (vec!["--project".into(), "./no/such/dir".into()], "no such directory".into()),
        (vec!["--requirements".into(), "/nonexistent/reqs.txt".into()], "cannot read the requirements file".into()),
    ];
    for (args, needle) in cases {
        let cwd = scratch("bad");
        let mut cmd = bundler(&cwd);
        cmd.arg("--quiet").arg("--pip-args").arg(offline()).args(&args);
        for (flag, default) in [
            ("--python", host_python().executable.clone()),
            ("--launcher-kit", test_kit().to_path_buf()),
            ("--project", tree.clone()),
        ] {
            if args[0] != flag {
                cmd.arg(flag).arg(default);
            }
        }
        let r = run(&mut cmd);
        assert_bundler_error(&r, &needle);
        assert_eq!(r.stderr().lines().count(), 1, "{args:?}: {}", r.stderr());
        assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists(), "{args:?}");
    }
    if Path::new("/usr/bin/python3.11").exists() {
        let cwd = scratch("static");
        let r = run(bundler(&cwd).args(["--quiet", "--python", "/usr/bin/python3.11", "--project"]).arg(&tree));
        assert_bundler_error(&r, "has no shared libpython at `/usr/lib/libpython3.11.so.1.0`");
    }
}

#[test]
fn pip_args_that_uv_does_not_take_are_refused_by_name() {
    let tree = project("pipargs-tree");
    for (args, needle) in [
        (
            format!("{} --prefer-binary", offline()),
            "PIP_ARGS: `--prefer-binary` is not passed on: uv's pip interface, which installs the bundle, does not take it",
        ),
        ("--timeout=5".to_string(), "PIP_ARGS: `--timeout` is not passed on"),
        (
            "--platform macosx_14_0_arm64".to_string(),
            "PIP_ARGS: `--platform` is set by the bundler; use --target-platform",
        ),
        ("--target /tmp/elsewhere".to_string(), "PIP_ARGS: `--target` is set by the bundler"),
        ("--find-links 'unterminated".to_string(), "cannot be split like a shell would"),
    ] {
        let cwd = scratch("pipargs");
        let mut cmd = bundler(&cwd);
        cmd.arg("--quiet")
            .arg("--python")
            .arg(&host_python().executable)
            .arg("--project")
            .arg(&tree)
            .arg("--launcher-kit")
            .arg(test_kit())
            .env("PIP_ARGS", &args);
        let r = run(&mut cmd);
        assert_bundler_error(&r, needle);
        assert_eq!(r.stderr().lines().count(), 1, "{args}: {}", r.stderr());
        assert!(!cwd.join("dist-ext-python").exists(), "{args}: something was written");
    }
}

#[test]
fn uv_missing_and_not_installable_is_one_line() {
    // No uv on PATH, a python3 without the uv module whose pip cannot reach PyPI, an empty cache.
    let cwd = scratch("no-uv");
    let bin = scratch("no-uv-bin");
    fs::write(bin.join("python3"), "#!/bin/sh\necho 'ERROR: No matching distribution found for uv' >&2\nexit 1\n")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bin.join("python3"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = bundler(&cwd);
    cmd.env("PATH", &bin)
        .args(["--quiet", "--wheels-only", "--target-python-version", &XY, "--project"])
        .arg(project("no-uv-tree"))
        .arg("--launcher-kit")
        .arg(test_kit());
    let r = run(&mut cmd);
    assert_bundler_error(
        &r,
        &format!(
            "uv {} is needed: none found (PATH: no `uv`; python3 -m uv: no `uv` module)",
            msty_mlx_bundler::uv::UV_PIN
        ),
    );
    assert!(
        r.stderr().contains("-m pip install uv==")
            && r.stderr().contains("ERROR: No matching distribution found for uv")
            && r.stderr().contains("put uv"),
        "{}",
        r.stderr()
    );
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    assert!(!cwd.join("dist-ext-python").exists());
}

/// Issue 18 item 5: whatever comes before it (progress headers, uv's and cargo's output, clap's
/// usage, the sanity report), a failure's LAST stderr line is the one error line. Run without
/// `--quiet`, as a packager does.
#[test]
fn every_failure_ends_with_the_one_error_line() {
    let tree = project("last-line-tree");
    let wh = wheelhouse();
    let cwd = scratch("last-line");
    let last_line = |r: &Run| r.stderr().lines().last().unwrap_or("").to_string();

    // Usage errors: clap's usage text, then the line; exit 2.
    for (args, needle) in [
        (&["--bogus"][..], "unexpected argument '--bogus' found"),
        (&["--clean=maybe"][..], "'--clean'"),
        (&["--python"][..], "a value is required for '--python <PATH>'"),
        (&["verify"][..], "the following required arguments were not provided: <DIR>"),
    ] {
        let r = run(bundler(&cwd).args(args));
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr());
        let last = last_line(&r);
        assert!(last.starts_with("build-external-python: error: ") && last.contains(needle), "{args:?}: {last}");
        if args[0] == "--bogus" {
            assert!(r.stderr().contains("Usage: build-external-python"), "the usage is shown: {}", r.stderr());
        }
        assert!(r.stdout().is_empty(), "{args:?}: {}", r.stdout());
    }

    // A missing interpreter, after the progress header.
    let r = run(bundler(&cwd).args(["--python", "/nonexistent/bin/python3", "--project"]).arg(&tree));
    assert_bundler_error(&r, "`/nonexistent/bin/python3` (--python/EMBEDDED_PYTHON) does not exist");
    assert!(r.stderr().contains("==> ["), "progress came first: {}", r.stderr());

    // uv failing, after uv's own output.
    let reqs = cwd.join("reqs.txt");
    fs::write(&reqs, "no-such-package-anywhere==1.0\n").unwrap();
    let r = run(loud(&cwd).arg("--project").arg(&tree).arg("--requirements").arg(&reqs));
    assert_bundler_error(&r, "uv pip install failed");
    assert!(r.stderr().lines().count() > 1, "{}", r.stderr());

    // The sanity check failing, after its one-line report.
    let r = run(loud(&cwd).arg("--project").arg(&tree).env("MLX_WHEEL", &wh.raising_mlx));
    assert_bundler_error(&r, "the bundle fails --check-mlx-stack");
    let report = r.stderr().lines().find(|l| l.starts_with("    --check-mlx-stack answered: {")).map(String::from);
    assert!(report.is_some_and(|l| l.contains("\"checks\"")), "the report, on one line: {}", r.stderr());
    assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists());
}
