//! Issue 25: launcher kits. A bundle takes its launcher and runtime from a kit (checked, and
//! recorded in the manifest), a kit that lacks the X.Y or whose file changed is refused with
//! exit 3 and leaves nothing behind, and without a kit the bundler refuses instead of
//! compiling. Issue 27: the build's summary on a closed stdout, verify's exit on EPIPE, the
//! pinned uv checked by content.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::*;

/// A kit holding the test launcher and the test runtime for this X.Y (this machine's target)
/// and the served port's guard, made with `kit add` as `packaging/release.sh` makes release
/// kits (`kit build` adds the guard itself).
fn own_kit(name: &str) -> PathBuf {
    let kit = scratch(name).join("kit");
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let mut cmd = Command::new(BUILD_EXTERNAL_PYTHON);
    cmd.args(["kit", "add"])
        .arg(&kit)
        .args(["--target", &target, "--built-on", &target, "--linker", "cc", "--commit", &"0".repeat(40), "--launcher"])
        .arg(launcher())
        .arg("--runtime")
        .arg(format!("{XY}={}", runtime().display()));
    for file in msty_mlx_contract::plan::GUARD_FILES {
        cmd.arg("--file").arg(format!("guard/{file}={}", Path::new(REPO).join("guard").join(file).display()));
    }
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    kit
}

/// The quick build, from a kit instead of loose files.
fn from_kit(cwd: &Path, kit: &Path) -> Command {
    let mut cmd = kit_only(cwd, kit);
    cmd.arg("--python").arg(&host_python().executable);
    cmd
}

/// Offline, from `kit`, no interpreter named.
fn kit_only(cwd: &Path, kit: &Path) -> Command {
    let mut cmd = bundler(cwd);
    cmd.arg("--quiet").arg("--pip-args").arg(offline()).arg("--launcher-kit").arg(kit);
    cmd
}

#[test]
fn a_bundle_takes_its_launcher_from_a_kit_and_records_the_kit() {
    let kit = own_kit("kit-ok");
    let cwd = scratch("kit-build");
    let r = run(from_kit(&cwd, &kit).arg("--project").arg(project("kit-tree")));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    assert_eq!(fs::read(out.join("msty-mlx-studio")).unwrap(), fs::read(launcher()).unwrap());
    assert_eq!(fs::read(out.join(RUNTIME_FILE)).unwrap(), fs::read(runtime()).unwrap());
    let m = manifest(&out);
    assert_eq!(m["kit"]["dir"], kit.to_str().unwrap());
    assert_eq!(m["kit"]["commit"], "0".repeat(40));
    assert_eq!(m["kit"]["files"].as_array().unwrap().len(), 5, "launcher, runtime, guard: {}", m["kit"]);
    assert_eq!(m["launcher"]["linker"], "cc");
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
}

#[test]
fn a_changed_kit_file_or_a_missing_xy_is_refused_with_exit_3_and_nothing_left_behind() {
    let kit = own_kit("kit-bad");
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let file = kit.join(format!("{target}/py{XY}/{RUNTIME_FILE}"));
    let good = fs::read(&file).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x01;
    fs::write(&file, &bad).unwrap();
    let other = other_xy();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--python".into(), host_python().executable.to_string_lossy().into_owned()],
            format!("py{XY}/{RUNTIME_FILE}` does not match its SHA-256 in kit-manifest.json"),
        ),
        (
            ["--wheels-only", "--target-platform", "linux_x86_64", "--target-python-version", other]
                .map(String::from)
                .to_vec(),
            format!("has no runtime for Python {other} on {target} (it has: {XY})"),
        ),
    ];
    for (args, needle) in cases {
        let cwd = scratch("kit-refused");
        let r = run(kit_only(&cwd, &kit).args(&args).arg("--project").arg(project("kit-bad-tree")));
        assert_eq!(r.code, Some(3), "{needle}: {}", r.stderr());
        assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
        let last = r.stderr();
        assert!(last.starts_with("build-external-python: error: the launcher kit") && last.contains(&needle), "{last}");
        assert!(!cwd.join("dist-ext-python").exists(), "the refusal comes before anything is written");
    }
    // `kit check` says the same (exit 3); `sha256sum -c` agrees.
    let r = run(Command::new(BUILD_EXTERNAL_PYTHON).args(["kit", "check"]).arg(&kit));
    assert_eq!(r.code, Some(3), "{}", r.stderr());
    assert!(r.stderr().contains("does not match its SHA-256"), "{}", r.stderr());
    let sums = run(Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(&kit));
    assert_ne!(sums.code, Some(0));
    fs::write(&file, &good).unwrap();
    assert_eq!(run(Command::new(BUILD_EXTERNAL_PYTHON).args(["kit", "check"]).arg(&kit)).code, Some(0));
    assert_eq!(run(Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(&kit)).code, Some(0));
}

#[test]
fn without_a_kit_the_bundler_refuses_instead_of_compiling() {
    let cwd = scratch("no-kit");
    let mut cmd = bundler(&cwd);
    cmd.args(["--quiet", "--python"])
        .arg(&host_python().executable)
        .arg("--pip-args")
        .arg(offline())
        .arg("--project")
        .arg(project("no-kit-tree"));
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(3), "{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.starts_with("build-external-python: error: no launcher kit installed with this bundler (looked in `")
            && err.contains("share/msty-mlx-studio/kit`")
            && err.trim_end().ends_with(
                "install the msty-mlx-studio wheel, pass --launcher-kit DIR, or --from-source in a checkout"
            ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!cwd.join("dist-ext-python").exists());
}

/// Issue 27: `println!` of the summary panicked (exit 101) on a closed stdout; the build's exit
/// stands whatever the reader does.
#[test]
fn the_build_summary_on_a_closed_stdout_keeps_exit_0() {
    let cwd = scratch("epipe-build");
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(project("epipe-tree")).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take()); // the reader is gone before the summary is written
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(cwd.join("dist-ext-python/msty-mlx-studio/bundle-manifest.json").is_file());
}

/// Issue 27: on EPIPE verify exited 0 whatever it had found; a bundle with errors stays exit 1.
#[test]
fn verify_on_a_closed_stdout_keeps_its_verdict() {
    let dir = scratch("epipe-verify");
    fs::create_dir_all(dir.join("_vendor")).unwrap();
    fs::copy(launcher(), dir.join("msty-mlx-studio")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("_vendor/outside")).unwrap();
    for (args, want) in [(&["verify"][..], 1), (&["verify", "--json"][..], 1)] {
        let mut child = Command::new(BUILD_EXTERNAL_PYTHON)
            .args(args)
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(want), "{args:?}: {err}");
    }
}

/// Issue 27: any uv on PATH at or above the pin was used; now only the pinned bytes are.
#[test]
fn a_uv_on_path_that_is_not_the_pinned_build_is_passed_over() {
    let bin = scratch("fake-uv-bin");
    fs::write(bin.join("uv"), "#!/bin/sh\necho 'uv 0.13.9'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bin.join("uv"), fs::Permissions::from_mode(0o755)).unwrap();
    let cwd = scratch("fake-uv");
    let mut cmd = quick(&cwd);
    let path = cmd.get_envs().find(|(k, _)| *k == "PATH").and_then(|(_, v)| v).unwrap().to_string_lossy().into_owned();
    cmd.env("PATH", format!("{}:{path}", bin.display())).arg("--project").arg(project("fake-uv-tree"));
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let m = manifest(&cwd.join("dist-ext-python/msty-mlx-studio"));
    assert_eq!(m["installer"]["source"], "pinned install", "{}", m["installer"]);
    let digest = m["installer"]["sha256"].as_str().unwrap();
    assert_ne!(digest, msty_mlx_bundler::digest::sha256_hex(&fs::read(bin.join("uv")).unwrap()));
    assert_eq!(digest, msty_mlx_bundler::tools::uv_pins().unwrap().binaries[0].sha256);
}

/// A runtime stamped for another X.Y, listed (with its true digest) as this X.Y's: the stamp
/// check refuses it (before kits, `--launcher DIR` with loose files checked the same).
#[test]
fn a_kit_runtime_stamped_for_another_xy_is_refused() {
    use msty_mlx_bundler::digest::sha256_hex;
    let kit = own_kit("kit-stale");
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let path = format!("{target}/py{XY}/{RUNTIME_FILE}");
    let old = fs::read(kit.join(&path)).unwrap();
    let mut bytes = old.clone();
    let from = format!("python={XY};");
    let at = bytes.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
    bytes[at..at + from.len()].copy_from_slice(format!("python={};", other_xy()).as_bytes());
    fs::write(kit.join(&path), &bytes).unwrap();
    let manifest =
        fs::read_to_string(kit.join("kit-manifest.json")).unwrap().replace(&sha256_hex(&old), &sha256_hex(&bytes));
    fs::write(kit.join("kit-manifest.json"), &manifest).unwrap();
    let sums = fs::read_to_string(kit.join("SHA256SUMS")).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, "kit-manifest.json")) => format!("{}  kit-manifest.json\n", sha256_hex(manifest.as_bytes())),
            Some((_, p)) if p == path => format!("{}  {p}\n", sha256_hex(&bytes)),
            _ => format!("{l}\n"),
        })
        .collect();
    fs::write(kit.join("SHA256SUMS"), sums).unwrap();
    let cwd = scratch("kit-stale-build");
    let r = run(from_kit(&cwd, &kit).arg("--project").arg(project("kit-stale-tree")));
    assert_eq!(r.code, Some(3), "{}", r.stderr());
    let err = r.stderr();
    assert!(
        err.contains(&format!(
            "is stamped `msty-mlx-runtime-stamp:plan={};python={};",
            msty_mlx_contract::plan::FORMAT,
            other_xy()
        )) && err.contains(&format!("the bundle needs Python {XY}")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `kit add` refuses files that are not what they claim: Linux files for a macOS target.
#[test]
fn kit_add_refuses_binaries_of_another_target() {
    let kit = scratch("kit-wrong-target").join("kit");
    let r = run(Command::new(BUILD_EXTERNAL_PYTHON)
        .args(["kit", "add"])
        .arg(&kit)
        .args([
            "--target",
            "aarch64-apple-darwin",
            "--built-on",
            "x",
            "--linker",
            "cc",
            "--commit",
            &"0".repeat(40),
            "--launcher",
        ])
        .arg(launcher())
        .arg("--runtime")
        .arg(format!("{XY}={}", runtime().display())));
    assert_eq!(r.code, Some(1), "{}", r.stderr());
    assert!(
        r.stderr()
            .contains(&format!("is built for {}-unknown-linux-gnu, not aarch64-apple-darwin", std::env::consts::ARCH)),
        "{}",
        r.stderr()
    );
}
