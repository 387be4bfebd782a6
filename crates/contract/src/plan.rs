//! The launch plan: everything the launcher decides before Python runs, as plain data. The
//! launcher builds it once (its `plan::survey`), applies its process-wide parts, prints it in
//! `--python-info`, and hands it to the runtime library as JSON across the C boundary; the
//! runtime turns it into a `PyConfig`.
//!
//! Format (JSON, [`FORMAT`] = 3): `format`, `python` (X.Y), the bundle's paths ([`BundlePaths`]:
//! `launcher`, `home`, `home_rule`, `executable`, `vendor`, `runtime`, `guard_dir`), `libpython`,
//! `isolation {…}`, `bytecode {shipped_pycs, pycache_prefix, no_cache_reason}`, `child_environment {set {NAME:
//! value}, removed [NAME]}`, `exit_with_parent {state, …}`, `mlx_jit {tmpdir, disable_compile, reason}`,
//! `guard {state, …}`, `log_filter`. Paths are JSON
//! strings, or `{"bytes": [..]}` when not UTF-8. Any change to these fields or to
//! [`crate::abi`] takes a new format number; the runtime refuses a plan of another format and
//! the launcher refuses a runtime stamped with another one. (Format 1 had the same keys; 2
//! is the first built from [`BundlePaths`] and typed X.Y; 3 adds the served port's guard:
//! `guard_dir`, `guard`, and `abi::REPLY_GUARD_FAILED`.)

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::python::PyVersion;

/// The launch-plan format, as a literal for the runtime's stamp (`concat!`).
#[macro_export]
macro_rules! plan_format {
    () => {
        3
    };
}

/// The launch-plan format this build writes and reads.
pub const FORMAT: u32 = plan_format!();

/// Where a bundle's pieces are: shared by the launcher's located layout and the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundlePaths {
    /// The launcher binary, symlinks resolved.
    #[serde(with = "crate::os_serde::path")]
    pub launcher: PathBuf,
    /// Python home (`sys.prefix`), symlinks resolved.
    #[serde(with = "crate::os_serde::path")]
    pub home: PathBuf,
    pub home_rule: HomeRule,
    /// `sys.executable`: what children (mlx-knife's serve worker) are started with.
    #[serde(with = "crate::os_serde::path")]
    pub executable: PathBuf,
    /// `<launcher dir>/_vendor`.
    #[serde(with = "crate::os_serde::path")]
    pub vendor: PathBuf,
    /// `<launcher dir>/libmsty_mlx_runtime.{so,dylib}`: the second stage, next to the
    /// launcher's real path (never looked up through the loader's search path).
    #[serde(with = "crate::os_serde::path")]
    pub runtime: PathBuf,
    /// `<launcher dir>/guard`: the served port's guard, Python files shipped with the launcher
    /// (`msty_mlx_guard.py`, `msty_mlx_guard_app.py`, `sitecustomize.py`).
    #[serde(with = "crate::os_serde::path")]
    pub guard_dir: PathBuf,
}

/// The rule that produced a Python home candidate, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HomeRule {
    /// `MLXK_PYTHON`: an interpreter binary; the home is its prefix (`<home>/bin/python3`).
    #[serde(rename = "MLXK_PYTHON")]
    MlxkPython,
    /// `$RESOURCES_PATH/python`, what Electron passes as `process.resourcesPath`.
    #[serde(rename = "RESOURCES_PATH")]
    ResourcesPath,
    /// `<exe dir>/python`.
    #[serde(rename = "exe-dir")]
    ExeDir,
    /// `<exe dir>/../python`: the shipped layout `Resources/{python, mlxk2/<launcher>}`.
    #[serde(rename = "exe-parent")]
    ExeParent,
}

impl fmt::Display for HomeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HomeRule::MlxkPython => "MLXK_PYTHON",
            HomeRule::ResourcesPath => "$RESOURCES_PATH/python",
            HomeRule::ExeDir => "<exe dir>/python",
            HomeRule::ExeParent => "<exe dir>/../python",
        })
    }
}

/// Everything a run needs, decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchPlan {
    pub format: u32,
    /// The home's Python X.Y (its stdlib; the runtime and libpython must match it).
    pub python: PyVersion,
    #[serde(flatten)]
    pub paths: BundlePaths,
    /// Opened by absolute path with `RTLD_NOW | RTLD_GLOBAL`.
    #[serde(with = "crate::os_serde::path")]
    pub libpython: PathBuf,
    pub isolation: Isolation,
    pub bytecode: BytecodePlan,
    pub child_environment: ChildEnv,
    pub exit_with_parent: ParentWatch,
    pub mlx_jit: MlxJit,
    pub guard: GuardPlan,
    /// `MLXK2_LAUNCHER_LOG`, validated: the runtime logs with the same filter.
    pub log_filter: Option<String>,
}

/// The `PyConfig` isolation settings, each with its reason (applied in this order by the
/// runtime, all before the first string setter pre-initializes CPython).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// No cwd or script dir on `sys.path`, no user site.
    pub isolated: bool,
    /// `false`: the caller's `PYTHON*` variables change nothing.
    pub use_environment: bool,
    pub user_site_directory: bool,
    /// Never prepend the cwd. `None` on Python 3.10, which has no such setting (isolation
    /// already keeps the cwd off `sys.path` there).
    pub safe_path: Option<bool>,
    /// `false`: argv is mlxk2's, never python's options.
    pub parse_argv: bool,
    /// SIGINT → KeyboardInterrupt, SIGPIPE ignored, as in `python3`.
    pub install_signal_handlers: bool,
    /// Always `false` (`-B` in `sys.flags`, inherited by multiprocessing's children); the
    /// launcher itself writes into the per-user `pycache_prefix` through
    /// `sys.dont_write_bytecode` when the bytecode plan has one.
    pub write_bytecode: bool,
    /// `false`: Electron sees each log line as it is written.
    pub buffered_stdio: bool,
    /// `false`: problems are reported by the launcher, in one line.
    pub pathconfig_warnings: bool,
}

impl Isolation {
    pub fn for_python(python: PyVersion) -> Isolation {
        Isolation {
            isolated: true,
            use_environment: false,
            user_site_directory: false,
            safe_path: python.has_safe_path().then_some(true),
            parse_argv: false,
            install_signal_handlers: true,
            write_bytecode: false,
            buffered_stdio: false,
            pathconfig_warnings: false,
        }
    }
}

/// Where bytecode comes from and goes to, for one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BytecodePlan {
    /// `_vendor` carries pycs for this X.Y.
    pub shipped_pycs: bool,
    /// Where new pycs are written (never inside the bundle); `None` = write none.
    #[serde(with = "crate::os_serde::opt_path")]
    pub pycache_prefix: Option<PathBuf>,
    /// Why no pycs are cached although none are shipped (no cache directory, an untrusted or
    /// unusable one); `None` when caching or with shipped pycs. Informational: the runtime
    /// does not read it.
    pub no_cache_reason: Option<String>,
}

impl BytecodePlan {
    pub fn write_bytecode(&self) -> bool {
        self.pycache_prefix.is_some()
    }
}

/// Where MLX's CPU JIT may load compiled kernels from (the launcher's `mlx_jit`): the temp dir
/// as it is, our own (`tmpdir`), or nowhere (`disable_compile`). Applied through the child
/// environment, which the launcher's own process gets first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlxJit {
    /// `TMPDIR` for the launcher and its children, when the caller's temp dir is not safe.
    #[serde(with = "crate::os_serde::opt_path")]
    pub tmpdir: Option<PathBuf>,
    /// `MLX_DISABLE_COMPILE=1`: no safe directory at all.
    pub disable_compile: bool,
    /// Why the caller's temp dir is not used; `None` when it is.
    pub reason: Option<String>,
}

/// What to change in the process environment that children inherit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildEnv {
    /// Variables set (replacing any previous value).
    #[serde(with = "crate::os_serde::pairs")]
    pub set: Vec<(OsString, OsString)>,
    /// Variables of the caller that are removed.
    #[serde(rename = "removed", with = "crate::os_serde::strings")]
    pub remove: Vec<OsString>,
}

/// The files of the guard directory (`BundlePaths::guard_dir`), the same for every target and X.Y:
/// the bundler copies them beside the launcher, a launcher kit carries them.
pub const GUARD_FILES: [&str; 3] = ["msty_mlx_guard.py", "msty_mlx_guard_app.py", "sitecustomize.py"];

/// The guard's Python API this launcher's runtime calls (`msty_mlx_guard.API`; a guard file of
/// another API is refused with exit 89).
pub const GUARD_API: u32 = 1;

/// The served port's guard (docs/security.md, "The served port"): a Host, Origin and token check
/// in front of the ASGI app of every process that serves HTTP under the launcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum GuardPlan {
    /// Loaded by the launcher's interpreter before mlx-knife runs, and through `sitecustomize`
    /// (the guard directory first on `PYTHONPATH`) by every python3 child.
    On {
        /// `MLXK2_SERVE_TOKEN` is set (its value is never part of the plan): every request
        /// must carry it, and serving beyond loopback is allowed.
        token: bool,
        /// `MLXK2_ALLOWED_ORIGINS`, normalized (`scheme://host[:port]`, lower case, no default port).
        allowed_origins: Vec<String>,
    },
    /// `MLXK2_GUARD=off`: mlx-knife's own behaviour (any Origin, any Host, no token).
    Off,
}

/// What the launcher does about its parent's death.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ParentWatch {
    /// SIGTERM follows the death of `parent_pid`.
    Armed { parent_pid: i32 },
    /// Turned off by `MLXK2_EXIT_WITH_PARENT=0`.
    Disabled,
    /// The parent is already init/launchd (nothing to follow: daemonized or orphaned).
    ParentIsInit,
    /// The OS refused, or has no mechanism here.
    Unavailable,
}

impl LaunchPlan {
    /// The plan as the runtime receives it.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain data with string keys into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a plan sent by the launcher.
    pub fn from_json(bytes: &[u8]) -> Result<LaunchPlan, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_round_trips_with_flat_paths() {
        let python = PyVersion::new(3, 11);
        let plan = LaunchPlan {
            format: FORMAT,
            python,
            paths: BundlePaths {
                launcher: "/R/mlxk2/msty-mlx-studio".into(),
                home: "/R/python".into(),
                home_rule: HomeRule::ExeParent,
                executable: "/R/python/bin/python3".into(),
                vendor: "/R/mlxk2/_vendor".into(),
                runtime: "/R/mlxk2/libmsty_mlx_runtime.so".into(),
                guard_dir: "/R/mlxk2/guard".into(),
            },
            libpython: "/R/python/lib/libpython3.11.so.1.0".into(),
            isolation: Isolation::for_python(python),
            bytecode: BytecodePlan { shipped_pycs: true, pycache_prefix: None, no_cache_reason: None },
            child_environment: ChildEnv {
                set: vec![("PYTHONNOUSERSITE".into(), "1".into())],
                remove: vec!["PYTHONHOME".into()],
            },
            exit_with_parent: ParentWatch::Armed { parent_pid: 7 },
            mlx_jit: MlxJit { tmpdir: None, disable_compile: false, reason: None },
            guard: GuardPlan::On { token: true, allowed_origins: vec!["app://msty".into()] },
            log_filter: None,
        };
        let json: serde_json::Value = serde_json::from_slice(&plan.to_json()).unwrap();
        assert_eq!(json["launcher"], "/R/mlxk2/msty-mlx-studio");
        assert_eq!(json["home_rule"], "exe-parent");
        assert_eq!(json["python"], "3.11");
        assert_eq!(json["exit_with_parent"]["state"], "armed");
        assert_eq!(json["guard"], serde_json::json!({"state": "on", "token": true, "allowed_origins": ["app://msty"]}));
        assert_eq!(LaunchPlan::from_json(&plan.to_json()).unwrap(), plan);
        assert_eq!(Isolation::for_python(PyVersion::new(3, 10)).safe_path, None);
    }
}
