//! The launch plan: everything the launcher decides before Python runs, as plain data, built by
//! one function ([`survey`]). `main` applies its process-wide parts (child environment,
//! exit-with-parent), the runtime library receives it as JSON across the C boundary and turns
//! it into a `PyConfig`, and `--python-info` prints it. One source for every setting.
//!
//! Format (JSON, [`FORMAT`] = 1): `format`, `python` (X.Y), `launcher`, `home`, `home_rule`,
//! `executable`, `libpython`, `vendor`, `runtime`, `isolation {…}`, `bytecode {shipped_pycs,
//! pycache_prefix, no_cache_reason}`, `child_environment {set {NAME: value}, removed [NAME]}`, `exit_with_parent
//! {state, …}`, `log_filter`. Paths are JSON strings, or `{"bytes": [..]}` when not UTF-8. Any
//! change to these fields or to [`crate::abi`] takes a new format number; the runtime refuses a
//! plan of another format and the launcher refuses a runtime stamped with another one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bytecode::{self, BytecodePlan};
use crate::child_env::{self, ChildEnv};
use crate::exit_code::LauncherExit;
use crate::failure::Failure;
use crate::layout::{self, HomeRule, Layout, LookupEnv};
use crate::parent::{self, ParentWatch};
use crate::python_home::{self, LibpythonFile};
use crate::runtime_stamp::{self, RuntimeStamp};
use crate::settings::{self, EXIT_WITH_PARENT};

/// The launch-plan format, as a literal for the runtime's stamp (`concat!`).
#[macro_export]
macro_rules! plan_format {
    () => {
        1
    };
}

/// The launch-plan format this build writes and reads.
pub const FORMAT: u32 = plan_format!();

/// Everything a run needs, decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchPlan {
    pub format: u32,
    /// The home's Python X.Y (its stdlib; the runtime and libpython must match it).
    pub python: String,
    #[serde(with = "crate::os_serde::path")]
    pub launcher: PathBuf,
    /// `sys.prefix`.
    #[serde(with = "crate::os_serde::path")]
    pub home: PathBuf,
    pub home_rule: HomeRule,
    /// `sys.executable`: what children (mlx-knife's serve worker) are started with.
    #[serde(with = "crate::os_serde::path")]
    pub executable: PathBuf,
    /// Opened by absolute path with `RTLD_NOW | RTLD_GLOBAL`.
    #[serde(with = "crate::os_serde::path")]
    pub libpython: PathBuf,
    #[serde(with = "crate::os_serde::path")]
    pub vendor: PathBuf,
    #[serde(with = "crate::os_serde::path")]
    pub runtime: PathBuf,
    pub isolation: Isolation,
    pub bytecode: BytecodePlan,
    pub child_environment: ChildEnv,
    pub exit_with_parent: ParentWatch,
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
    pub fn for_python(xy: &str) -> Isolation {
        Isolation {
            isolated: true,
            use_environment: false,
            user_site_directory: false,
            safe_path: (xy != "3.10").then_some(true),
            parse_argv: false,
            install_signal_handlers: true,
            write_bytecode: false,
            buffered_stdio: false,
            pathconfig_warnings: false,
        }
    }
}

/// What the plan is built from: the launcher's path and a snapshot of its environment.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub exe: PathBuf,
    pub lookup: LookupEnv,
    pub exit_with_parent: Option<OsString>,
    /// The whole environment (for the child environment plan).
    pub vars: Vec<(OsString, OsString)>,
    /// The user's cache directory, if the environment names one (`~/.cache`,
    /// `~/Library/Caches`, `$XDG_CACHE_HOME`; see [`bytecode::user_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    pub log_filter: Option<String>,
}

impl Inputs {
    pub fn capture(exe: &Path, log_filter: Option<String>) -> Inputs {
        let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        Inputs {
            exe: exe.to_path_buf(),
            lookup: LookupEnv::from_process(),
            exit_with_parent: std::env::var_os(EXIT_WITH_PARENT),
            cache_dir: bytecode::user_cache_dir(&vars),
            vars,
            log_filter,
        }
    }
}

/// How closely to look at files that a run would simply try to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// A run: only that libpython exists (loading it tells the rest, in one line); the
    /// bytecode cache is created and tried (an unusable one means no caching).
    Run,
    /// `--python-info`: also read libpython's header and SONAME / install id.
    Describe,
}

/// Everything found, and every problem, in the order a run checks them.
#[derive(Debug)]
pub struct Survey {
    pub layout: Result<Layout, Failure>,
    pub runtime: Result<RuntimeStamp, Failure>,
    /// The home's X.Y, when its stdlib could be identified.
    pub python: Option<String>,
    /// Read only at [`Depth::Describe`].
    pub libpython: Option<LibpythonFile>,
    pub plan: Option<LaunchPlan>,
    pub problems: Vec<Failure>,
}

impl Survey {
    /// The plan, or the first problem: what a run does.
    pub fn into_runnable(mut self) -> Result<LaunchPlan, Failure> {
        if !self.problems.is_empty() {
            return Err(self.problems.swap_remove(0));
        }
        self.plan.ok_or_else(|| Failure::new(LauncherExit::StdlibMissing, "no launch plan", "run with --python-info"))
    }
}

/// Locates, validates and plans, collecting every problem instead of stopping at the first.
pub fn survey(inputs: &Inputs, depth: Depth) -> Survey {
    let mut problems = Vec::new();
    let runtime_path = inputs.exe.parent().unwrap_or(Path::new("/")).join(runtime_stamp::FILE_NAME);
    let runtime = RuntimeStamp::read(&runtime_path).map_err(|e| runtime_failure(&runtime_path, &e.to_string()));
    let layout = layout::locate(&inputs.exe, &inputs.lookup);
    let exit_with_parent = settings::switch(EXIT_WITH_PARENT, inputs.exit_with_parent.as_deref(), true);
    let mut survey = Survey { layout: layout.clone(), runtime: runtime.clone(), python: None, libpython: None, plan: None, problems: Vec::new() };
    let layout = match layout {
        Ok(layout) => {
            for c in &layout.candidates {
                tracing::debug!(rule = %c.rule, path = ?c.path, rejected = ?c.rejected, "candidate");
            }
            layout
        }
        Err(failure) => {
            problems.push(failure);
            problems.extend(exit_with_parent.err());
            survey.problems = problems;
            return survey;
        }
    };
    if let Err(failure) = &exit_with_parent {
        problems.push(failure.clone());
    }

    let runtime_xy = runtime.as_ref().ok().map(|s| s.python.as_str());
    let python = match python_home::stdlib_xy(&layout.home, runtime_xy) {
        Ok(xy) => Some(xy),
        Err(found) => {
            problems.push(stdlib_failure(&layout, &found, runtime_xy));
            None
        }
    };
    if let Some(xy) = &python {
        let libpython = python_home::libpython_path(&layout.home, xy);
        let checked = match depth {
            Depth::Run => match std::fs::metadata(&libpython) {
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(python_home::LibpythonProblem::Missing),
                Err(e) => Err(python_home::LibpythonProblem::Unreadable(e.to_string())),
            },
            Depth::Describe => python_home::inspect(&libpython, xy).map(Some),
        };
        match checked {
            Ok(file) => survey.libpython = file,
            Err(problem) => problems.push(libpython_failure(&libpython, &problem, xy, &layout)),
        }
    }
    if !layout.vendor.is_dir() {
        problems.push(Failure::new(
            LauncherExit::VendorMissing,
            format!("no `_vendor` directory at `{}`", layout.vendor.display()),
            "rebuild the bundle with build-external-python; the launcher must sit next to _vendor",
        ));
    } else if !layout.vendor.join("mlxk2").is_dir() {
        problems.push(Failure::new(
            LauncherExit::Mlxk2Missing,
            format!("no `mlxk2` package in `{}`", layout.vendor.display()),
            "vendor mlx-knife into _vendor (build-external-python)",
        ));
    }
    match (&runtime, &python) {
        (Err(failure), _) => problems.push(failure.clone()),
        (Ok(stamp), _) if stamp.plan_format != FORMAT => problems.push(runtime_failure(
            &layout.runtime,
            &format!("reads launch plans of format {}, this launcher writes format {FORMAT}", stamp.plan_format),
        )),
        (Ok(stamp), Some(xy)) if stamp.python != *xy => problems.push(Failure::new(
            LauncherExit::Runtime,
            format!(
                "the runtime `{}` is built for Python {}, but the home `{}` (chosen by {}) holds Python {xy}",
                layout.runtime.display(),
                stamp.python,
                layout.home.display(),
                layout.home_rule
            ),
            format!("rebuild it for Python {xy}: PYO3_PYTHON={} cargo build --release", layout.executable.display()),
        )),
        _ => {}
    }

    if let Some(xy) = &python {
        let bytecode = bytecode::plan(&layout.vendor, &layout.home, xy, inputs.cache_dir.as_deref(), depth == Depth::Run);
        let child_environment = child_env::plan(inputs.vars.iter().cloned(), &layout.vendor, bytecode.pycache_prefix.as_deref());
        survey.plan = Some(LaunchPlan {
            format: FORMAT,
            python: xy.clone(),
            launcher: layout.exe.clone(),
            libpython: python_home::libpython_path(&layout.home, xy),
            home: layout.home.clone(),
            home_rule: layout.home_rule,
            executable: layout.executable.clone(),
            vendor: layout.vendor.clone(),
            runtime: layout.runtime.clone(),
            isolation: Isolation::for_python(xy),
            bytecode,
            child_environment,
            exit_with_parent: parent::planned(*exit_with_parent.as_ref().unwrap_or(&true)),
            log_filter: inputs.log_filter.clone(),
        });
    }
    survey.python = python;
    survey.problems = problems;
    survey
}

fn stdlib_failure(layout: &Layout, found: &[String], runtime_xy: Option<&str>) -> Failure {
    let lib = layout.home.join("lib");
    let chosen = format!("home chosen by {}", layout.home_rule);
    match (found, runtime_xy) {
        ([], Some(xy)) => Failure::new(
            LauncherExit::StdlibMissing,
            format!("no Python standard library at `{}` ({chosen})", python_home::stdlib_dir(&layout.home, xy).display()),
            format!("bundle a Python {xy} there, or point RESOURCES_PATH/MLXK_PYTHON at a Python {xy} home"),
        ),
        ([], None) => Failure::new(
            LauncherExit::StdlibMissing,
            format!("no Python standard library under `{}` (no python3.X/encodings; {chosen})", lib.display()),
            "bundle a shared-library CPython there (python-build-standalone), or point RESOURCES_PATH/MLXK_PYTHON at one",
        ),
        (many, want) => Failure::new(
            LauncherExit::StdlibMissing,
            format!(
                "`{}` holds the standard libraries of Python {} and the runtime {} ({chosen})",
                lib.display(),
                many.join(", "),
                match want {
                    Some(xy) => format!("is built for Python {xy}"),
                    None => "cannot tell which one is meant".into(),
                }
            ),
            "keep one Python in the home, or rebuild the runtime for the one to use",
        ),
    }
}

fn libpython_failure(path: &Path, problem: &python_home::LibpythonProblem, xy: &str, layout: &Layout) -> Failure {
    Failure::new(
        LauncherExit::Libpython,
        format!("the home's libpython `{}` {problem} (home chosen by {})", path.display(), layout.home_rule),
        format!("restore the shared libpython of the bundled Python {xy} there"),
    )
}

/// A runtime problem: one line naming the file, and how to rebuild it.
pub fn runtime_failure(path: &Path, problem: &str) -> Failure {
    Failure::new(
        LauncherExit::Runtime,
        format!("the runtime library `{}` {problem}", path.display()),
        "rebuild it next to the launcher: PYO3_PYTHON=<bundled python3> cargo build --release, or build-external-python",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(name: &str, stamp: Option<&str>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mlxk2-plan-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("Resources/mlxk2/_vendor/mlxk2")).unwrap();
        fs::create_dir_all(dir.join("Resources/python/lib/python3.11/encodings")).unwrap();
        fs::create_dir_all(dir.join("Resources/python/bin")).unwrap();
        fs::write(dir.join("Resources/python/lib").join(python_home::libpython_file_name("3.11")), "").unwrap();
        if let Some(line) = stamp {
            fs::write(dir.join("Resources/mlxk2").join(runtime_stamp::FILE_NAME), format!("\0{line}\0")).unwrap();
        }
        dir.canonicalize().unwrap()
    }

    fn inputs(dir: &Path) -> Inputs {
        Inputs { exe: dir.join("Resources/mlxk2/msty-mlx-studio"), ..Inputs::default() }
    }

    #[test]
    fn a_healthy_tree_plans_and_round_trips() {
        let dir = tree("ok", Some(&format!("msty-mlx-runtime-stamp:plan={FORMAT};python=3.11;version=0.2.0")));
        let mut i = inputs(&dir);
        i.vars = vec![("PYTHONHOME".into(), "/x".into())];
        let plan = survey(&i, Depth::Run).into_runnable().unwrap();
        assert_eq!(plan.python, "3.11");
        assert_eq!(plan.isolation.safe_path, Some(true));
        assert_eq!(plan.libpython, dir.join("Resources/python/lib").join(python_home::libpython_file_name("3.11")));
        assert_eq!(plan.child_environment.remove, [OsString::from("PYTHONHOME")]);
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<LaunchPlan>(&text).unwrap(), plan);
        assert_eq!(Isolation::for_python("3.10").safe_path, None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn runtime_problems_name_the_file() {
        for (name, stamp, needle) in [
            ("missing", None, "does not exist"),
            ("format", Some("msty-mlx-runtime-stamp:plan=999;python=3.11;version=9"), "format 999"),
            ("xy", Some("msty-mlx-runtime-stamp:plan=1;python=3.12;version=9"), "built for Python 3.12, but the home"),
            ("corrupt", Some("garbage"), "no runtime stamp inside"),
        ] {
            let dir = tree(name, stamp);
            let err = survey(&inputs(&dir), Depth::Run).into_runnable().unwrap_err();
            assert_eq!(err.exit, LauncherExit::Runtime, "{name}");
            assert!(err.message.contains(runtime_stamp::FILE_NAME) && err.message.contains(needle), "{name}: {err}");
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn every_problem_is_collected_in_run_order() {
        let dir = tree("many", None);
        fs::remove_dir_all(dir.join("Resources/mlxk2/_vendor/mlxk2")).unwrap();
        fs::remove_file(dir.join("Resources/python/lib").join(python_home::libpython_file_name("3.11"))).unwrap();
        let mut i = inputs(&dir);
        i.exit_with_parent = Some("maybe".into());
        let s = survey(&i, Depth::Run);
        let codes: Vec<u8> = s.problems.iter().map(|p| p.exit.code()).collect();
        assert_eq!(codes, [80, 83, 85, 88]);
        assert!(s.plan.is_some(), "a plan is still described");
        fs::remove_dir_all(&dir).unwrap();
    }
}
