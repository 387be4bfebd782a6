//! Builds real, relocated bundles for the launcher tests and runs the launcher inside them.
//!
//! The base bundle is made once per test run from a host shared-library CPython
//! (`MLXK2_TEST_PYTHON`, else `PYO3_PYTHON`, else `python3`). The launcher is the same for every
//! Python; the runtime library is built for that Python's X.Y (`MLXK2_TEST_RUNTIME` names a
//! prebuilt one):
//!
//! ```text
//! Resources/python/{bin/python3 (patchelf: $ORIGIN/../lib), lib/libpython3.X.so.1.0, lib/python3.X/}
//! Resources/mlxk2/_vendor/                 fixture wheels from python-fixtures/, installed by pip --target
//! Resources/mlxk2/msty-mlx-studio          the launcher under test
//! Resources/mlxk2/libmsty_mlx_runtime.so   the runtime for this X.Y
//! ```
//!
//! Tests that break a bundle get their own copy made of hard links (cheap, and canonical paths
//! stay inside the copy). Such copies may delete, rename and add files, never edit or chmod one.

// Each test binary and bench uses a part of the harness.
#![allow(dead_code, unused_imports)]

mod bundle;
mod process;
mod real;
mod scratch;

pub use bundle::*;
pub use process::*;
pub use real::*;
pub use scratch::*;

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const LAUNCHER: &str = env!("CARGO_BIN_EXE_msty-mlx-studio");

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

const SCRATCH: &str = env!("CARGO_TARGET_TMPDIR");

pub const RUNTIME_FILE: &str = "libmsty_mlx_runtime.so";

/// The test Python's X.Y (`3.11`), read from the interpreter at run time: one test build serves
/// every CPython. Derefs to `str`.
#[derive(Clone, Copy)]
pub struct Xy;

pub static XY: Xy = Xy;

impl std::ops::Deref for Xy {
    type Target = str;
    fn deref(&self) -> &str {
        &host_python().xy
    }
}

impl fmt::Display for Xy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for Xy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq<&str> for Xy {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

impl PartialEq<Xy> for serde_json::Value {
    fn eq(&self, other: &Xy) -> bool {
        self.as_str() == Some(&**other)
    }
}

impl AsRef<OsStr> for Xy {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(&**self)
    }
}

/// The host CPython the bundles are made from.
#[derive(Debug)]
pub struct HostPython {
    pub executable: PathBuf,
    pub prefix: PathBuf,
    pub version: String,
    pub xy: String,
    pub libdir: PathBuf,
    pub ldlibrary: String,
}

pub fn host_python() -> &'static HostPython {
    static HOST: OnceLock<HostPython> = OnceLock::new();
    HOST.get_or_init(|| {
        let exe = std::env::var_os("MLXK2_TEST_PYTHON")
            .or_else(|| std::env::var_os("PYO3_PYTHON"))
            .unwrap_or_else(|| "python3".into());
        let out = Command::new(&exe)
            .args(["-I", "-c", "import sys, sysconfig; print(sys.base_prefix); print('%d.%d.%d' % sys.version_info[:3]); print(sysconfig.get_config_var('LIBDIR')); print(sysconfig.get_config_var('INSTSONAME')); print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run host python {exe:?}: {e}"));
        assert!(out.status.success(), "host python {exe:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        HostPython {
            prefix: lines[0].into(),
            xy: lines[1].split('.').take(2).collect::<Vec<_>>().join("."),
            version: lines[1].into(),
            libdir: lines[2].into(),
            ldlibrary: lines[3].into(),
            executable: lines[4].into(),
        }
    })
}

/// The runtime library for the test Python: `MLXK2_TEST_RUNTIME`, else built once per X.Y with
/// cargo (`PYO3_PYTHON` = the test Python) into `target/test-runtime/` — with the release
/// profile for the benchmarks, like the launcher they measure — and copied aside so that builds
/// for other versions cannot replace it under a running test.
pub fn runtime() -> &'static Path {
    static RUNTIME: OnceLock<PathBuf> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        kept(|| {
            if let Some(given) = std::env::var_os("MLXK2_TEST_RUNTIME") {
                return PathBuf::from(given);
            }
            let host = host_python();
            let target = Path::new(REPO).join("target/test-runtime");
            let cargo = option_env!("CARGO").unwrap_or("cargo");
            let release = !cfg!(debug_assertions);
            let out = Command::new(cargo)
                .current_dir(REPO)
                .args(["build", "--locked", "--quiet", "-p", "msty-mlx-runtime", "--target-dir"])
                .arg(&target)
                .args(release.then_some("--release"))
                .env("PYO3_PYTHON", &host.executable)
                .env_remove("PYO3_CONFIG_FILE")
                .output()
                .unwrap_or_else(|e| panic!("cannot run cargo to build the runtime: {e}"));
            assert!(
                out.status.success(),
                "building the runtime for {:?} failed:\n{}",
                host.executable,
                String::from_utf8_lossy(&out.stderr)
            );
            let built = target.join(if release { "release" } else { "debug" }).join(RUNTIME_FILE);
            let kept =
                Path::new(SCRATCH).join(format!("py{}-{}-runtime", host.xy, std::process::id())).join(RUNTIME_FILE);
            fs::create_dir_all(kept.parent().unwrap()).unwrap();
            fs::copy(&built, &kept).unwrap();
            let stamp = msty_mlx_contract::stamp::RuntimeStamp::read(&kept).unwrap();
            assert_eq!(stamp.python.to_string(), host.xy, "a concurrent build replaced the runtime; run again");
            kept
        })
    })
}

/// The bundler's executable (`build-external-python`, its own crate: the launcher package
/// never depends on it), built once per test run with the test's profile into
/// `target/test-runtime/`, beside the runtime builds.
pub fn bundler() -> &'static Path {
    static BUNDLER: OnceLock<PathBuf> = OnceLock::new();
    BUNDLER.get_or_init(|| {
        kept(|| {
            let target = Path::new(REPO).join("target/test-runtime");
            let release = !cfg!(debug_assertions);
            let out = Command::new(option_env!("CARGO").unwrap_or("cargo"))
                .current_dir(REPO)
                .args([
                    "build",
                    "--locked",
                    "--quiet",
                    "-p",
                    "msty-mlx-bundler",
                    "--bin",
                    "build-external-python",
                    "--target-dir",
                ])
                .arg(&target)
                .args(release.then_some("--release"))
                .output()
                .unwrap_or_else(|e| panic!("cannot run cargo to build the bundler: {e}"));
            assert!(
                out.status.success(),
                "building build-external-python failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            target.join(if release { "release" } else { "debug" }).join("build-external-python")
        })
    })
}

/// A directory holding the launcher under test and the test runtime, as `cargo build
/// --release` leaves them in `target/release/` (for the bundler's `--launcher DIR`).
pub fn launcher_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            let dir = scratch("launcher-files");
            fs::copy(LAUNCHER, dir.join("msty-mlx-studio")).unwrap();
            fs::copy(runtime(), dir.join(RUNTIME_FILE)).unwrap();
            copy_guard(&dir.join("guard"));
            dir
        })
    })
}

/// A directory holding only `uv` (a link to the uv the bundler itself would use: on PATH, or the
/// pinned version installed once into the user cache), for the bundler tests' PATH.
pub fn uv_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            use msty_mlx_bundler::uv;
            let found = uv::find_or_install(uv::tools_dir().as_deref(), &|line| eprintln!("harness: {line}"))
                .unwrap_or_else(|e| panic!("the bundler tests need uv {}: {e:#}", uv::UV_PIN));
            let dir = scratch("uv-bin");
            std::os::unix::fs::symlink(&found.program, dir.join("uv")).unwrap();
            dir
        })
    })
}
