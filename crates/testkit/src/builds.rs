//! The workspace's binaries a test drives but its own package does not build: built through
//! cargo once per test process into `target/test-runtime/` (a target directory of their own, so
//! that a running `cargo test` holding `target/` does not block them), with the test's profile
//! — release for the benchmarks, like the binaries they measure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{REPO, host_python, kept, scratch_root};

pub const RUNTIME_FILE: &str = "libmsty_mlx_runtime.so";

/// `cargo build --locked --quiet ARGS` into `target/test-runtime/` with the test's profile,
/// `env` applied to the command; returns the profile's output directory.
fn cargo_build(what: &str, args: &[&str], env: impl FnOnce(&mut Command)) -> PathBuf {
    let target = Path::new(REPO).join("target/test-runtime");
    let release = !cfg!(debug_assertions);
    let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.current_dir(REPO)
        .args(["build", "--locked", "--quiet"])
        .args(args)
        .arg("--target-dir")
        .arg(&target)
        .args(release.then_some("--release"));
    env(&mut cmd);
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run cargo to build {what}: {e}"));
    assert!(out.status.success(), "building {what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    target.join(if release { "release" } else { "debug" })
}

/// The runtime library for the test Python: `MLXK2_TEST_RUNTIME`, else built once per X.Y with
/// cargo (`PYO3_PYTHON` = the test Python) and copied aside so that builds for other versions
/// cannot replace it under a running test.
pub fn runtime() -> &'static Path {
    static RUNTIME: OnceLock<PathBuf> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        kept(|| {
            if let Some(given) = std::env::var_os("MLXK2_TEST_RUNTIME") {
                return PathBuf::from(given);
            }
            let host = host_python();
            let what = format!("the runtime for {:?}", host.executable);
            let built = cargo_build(&what, &["-p", "msty-mlx-runtime"], |cmd| {
                cmd.env("PYO3_PYTHON", &host.executable).env_remove("PYO3_CONFIG_FILE");
            })
            .join(RUNTIME_FILE);
            let kept = scratch_root().join(format!("py{}-{}-runtime", host.xy, std::process::id())).join(RUNTIME_FILE);
            fs::create_dir_all(kept.parent().unwrap()).unwrap();
            fs::copy(&built, &kept).unwrap();
            let stamp = msty_mlx_contract::stamp::RuntimeStamp::read(&kept).unwrap();
            assert_eq!(stamp.python.to_string(), host.xy, "a concurrent build replaced the runtime; run again");
            kept
        })
    })
}

/// The bundler's executable (`build-external-python`), for tests outside its package: verify's
/// (its front end) and the real stack's. The bundler's own tests use cargo's build of it.
pub fn bundler() -> &'static Path {
    static BUNDLER: OnceLock<PathBuf> = OnceLock::new();
    BUNDLER.get_or_init(|| {
        let args = ["-p", "msty-mlx-bundler", "--bin", "build-external-python"];
        cargo_build("build-external-python", &args, |_| {}).join("build-external-python")
    })
}

/// The launcher (`msty-mlx-studio`), for tests outside its package: the bundler's, which put it
/// into bundles. The launcher's own tests use cargo's build of it.
pub fn launcher() -> &'static Path {
    static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();
    LAUNCHER.get_or_init(|| {
        let args = ["-p", "msty-mlx-studio", "--bin", "msty-mlx-studio"];
        cargo_build("the launcher", &args, |_| {}).join("msty-mlx-studio")
    })
}
