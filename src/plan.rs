//! Building the launch plan ([`msty_mlx_contract::plan::LaunchPlan`]): one function,
//! [`survey`], locates the bundle, checks it in the order a run would, collects every problem
//! and decides every setting, writing nothing (looking is not doing: `--python-info` and a run
//! that then fails leave the disk as they found it). Once the plan is known to run (stage 2
//! loaded), [`prepare`] makes its directories true on disk (the bytecode cache, MLX's kernel
//! dir) and settles what that changes. `main` applies the plan's process-wide parts (child
//! environment, exit-with-parent), the runtime receives it, and `--python-info` prints it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use msty_mlx_contract::exit_code::LauncherExit;
use msty_mlx_contract::plan::{BundlePaths, BytecodePlan, ChildEnv, MlxJit};
pub use msty_mlx_contract::plan::{FORMAT, Isolation, LaunchPlan};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp::{self, RuntimeStamp};

use crate::bytecode;
use crate::child_env;
use crate::failure::Failure;
use crate::guard::{self, GuardPlan};
use crate::layout::{self, Layout, LookupEnv};
use crate::mlx_jit;
use crate::parent;
use crate::python_home::{self, LibpythonFile};
use crate::settings::{self, EXIT_WITH_PARENT};

/// What the plan is built from: the launcher's path and a snapshot of its environment, each
/// setting read and parsed once.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub exe: PathBuf,
    pub lookup: LookupEnv,
    /// `MLXK2_EXIT_WITH_PARENT`, parsed (an unknown word is a problem of the plan).
    pub exit_with_parent: Result<bool, Failure>,
    /// `MLXK2_GUARD`, `MLXK2_SERVE_TOKEN`, `MLXK2_ALLOWED_ORIGINS`, parsed.
    pub guard: Result<GuardPlan, Failure>,
    /// The whole environment (for the child environment plan).
    pub vars: Vec<(OsString, OsString)>,
    /// The user's cache directory, if the environment names one (`~/.cache`,
    /// `~/Library/Caches`, `$XDG_CACHE_HOME`; see [`bytecode::user_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    pub log_filter: Option<String>,
}

impl Inputs {
    pub fn capture(exe: PathBuf, log_filter: Option<String>) -> Inputs {
        let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        Inputs {
            exe,
            lookup: LookupEnv::from_vars(&vars),
            exit_with_parent: settings::switch(EXIT_WITH_PARENT, settings::value(&vars, EXIT_WITH_PARENT), true),
            guard: guard::settings(&vars),
            cache_dir: bytecode::user_cache_dir(&vars),
            vars,
            log_filter,
        }
    }
}

/// How closely to look at files that a run would simply try to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// A run: only that libpython exists (loading it tells the rest, in one line).
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
    pub python: Option<PyVersion>,
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
    let runtime_path = inputs.exe.parent().unwrap_or(Path::new("/")).join(stamp::FILE_NAME);
    let runtime = RuntimeStamp::read(&runtime_path).map_err(|e| runtime_failure(&runtime_path, &e.to_string()));
    let layout = layout::locate(&inputs.exe, &inputs.lookup);
    let exit_with_parent = inputs.exit_with_parent.clone();
    let mut survey = Survey {
        layout: layout.clone(),
        runtime: runtime.clone(),
        python: None,
        libpython: None,
        plan: None,
        problems: Vec::new(),
    };
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
            problems.extend(inputs.guard.clone().err());
            survey.problems = problems;
            return survey;
        }
    };
    if let Err(failure) = &exit_with_parent {
        problems.push(failure.clone());
    }
    if let Err(failure) = &inputs.guard {
        problems.push(failure.clone());
    }

    let runtime_xy = runtime.as_ref().ok().map(|s| s.python);
    let python = match python_home::stdlib_xy(&layout.paths.home, runtime_xy) {
        Ok(xy) => Some(xy),
        Err(found) => {
            problems.push(stdlib_failure(&layout, &found, runtime_xy));
            None
        }
    };
    if let Some(xy) = python {
        match check_libpython(&layout, xy, depth) {
            Ok(file) => survey.libpython = file,
            Err(failure) => problems.push(failure),
        }
    }
    problems.extend(vendor_problem(&layout));
    problems.extend(runtime_problem(&layout, &runtime, python));
    if let Ok(GuardPlan::On { .. }) = &inputs.guard {
        problems.extend(guard::files_problem(&layout.paths.guard_dir));
    }

    let exit_with_parent = *exit_with_parent.as_ref().unwrap_or(&true);
    survey.plan = python.map(|xy| decide(inputs, &layout, xy, exit_with_parent));
    survey.python = python;
    survey.problems = problems;
    survey
}

/// The launch plan for a located home of Python `xy`: the settings, the bytecode plan, where
/// MLX may JIT, and the children's environment that follows from both.
fn decide(inputs: &Inputs, layout: &Layout, xy: PyVersion, exit_with_parent: bool) -> LaunchPlan {
    let cache_dir = inputs.cache_dir.as_deref();
    let bytecode = bytecode::plan(&layout.paths.vendor, &layout.paths.home, xy, cache_dir);
    let mlx_jit = mlx_jit::plan(&inputs.vars, cache_dir);
    // An unusable guard setting is already a problem; the plan then shows the guard on, as
    // it would be without the setting.
    let guard = inputs.guard.clone().unwrap_or(GuardPlan::On { token: false, allowed_origins: Vec::new() });
    LaunchPlan {
        format: FORMAT,
        python: xy,
        libpython: python_home::libpython_path(&layout.paths.home, xy),
        paths: layout.paths.clone(),
        isolation: Isolation::for_python(xy),
        child_environment: children(inputs, &layout.paths, &guard, &bytecode, &mlx_jit),
        bytecode,
        exit_with_parent: parent::planned(exit_with_parent),
        mlx_jit,
        guard,
        log_filter: inputs.log_filter.clone(),
    }
}

/// The second half of a run's planning, once the plan is known to run: the bytecode cache and
/// MLX's kernel directory are created (each trust-checked again right before use) and, where
/// that fails, their decisions and the children's environment change as the survey's would have
/// for the same disk.
pub fn prepare(inputs: &Inputs, plan: LaunchPlan) -> LaunchPlan {
    let cache_dir = inputs.cache_dir.as_deref();
    let bytecode = bytecode::prepare(&plan.paths.vendor, &plan.paths.home, plan.python, cache_dir);
    let mlx_jit = mlx_jit::prepare(&inputs.vars, cache_dir);
    let child_environment = children(inputs, &plan.paths, &plan.guard, &bytecode, &mlx_jit);
    LaunchPlan { bytecode, mlx_jit, child_environment, ..plan }
}

/// The children's environment for these guard, bytecode and MLX decisions.
fn children(
    inputs: &Inputs,
    paths: &BundlePaths,
    guard: &GuardPlan,
    bytecode: &BytecodePlan,
    mlx_jit: &MlxJit,
) -> ChildEnv {
    let mut extra = mlx_jit::variables(mlx_jit);
    extra.extend(guard::child_variables(guard));
    let guard_dir = matches!(guard, GuardPlan::On { .. }).then_some(paths.guard_dir.as_path());
    child_env::plan(inputs.vars.iter().cloned(), &paths.vendor, guard_dir, bytecode.pycache_prefix.as_deref(), extra)
}

/// A run only needs libpython to exist (loading it tells the rest, in one line); a
/// description also reads its headers.
fn check_libpython(layout: &Layout, xy: PyVersion, depth: Depth) -> Result<Option<LibpythonFile>, Failure> {
    let libpython = python_home::libpython_path(&layout.paths.home, xy);
    let checked = match depth {
        Depth::Run => match std::fs::metadata(&libpython) {
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(python_home::LibpythonProblem::Missing),
            Err(e) => Err(python_home::LibpythonProblem::Unreadable(e.to_string())),
        },
        Depth::Describe => python_home::inspect(&libpython, xy).map(Some),
    };
    checked.map_err(|problem| libpython_failure(&libpython, &problem, xy, layout))
}

fn vendor_problem(layout: &Layout) -> Option<Failure> {
    let vendor = &layout.paths.vendor;
    if !vendor.is_dir() {
        Some(Failure::new(
            LauncherExit::VendorMissing,
            format!("no `_vendor` directory at `{}`", vendor.display()),
            "rebuild the bundle with build-external-python; the launcher must sit next to _vendor",
        ))
    } else if !vendor.join("mlxk2").is_dir() {
        Some(Failure::new(
            LauncherExit::Mlxk2Missing,
            format!("no `mlxk2` package in `{}`", vendor.display()),
            "vendor mlx-knife into _vendor (build-external-python)",
        ))
    } else {
        None
    }
}

/// The runtime must exist, read this launcher's plan format, and be built for the home's X.Y.
fn runtime_problem(
    layout: &Layout,
    runtime: &Result<RuntimeStamp, Failure>,
    python: Option<PyVersion>,
) -> Option<Failure> {
    let paths = &layout.paths;
    match (runtime, python) {
        (Err(failure), _) => Some(failure.clone()),
        (Ok(stamp), _) if stamp.plan_format != FORMAT => Some(runtime_failure(
            &paths.runtime,
            &format!("reads launch plans of format {}, this launcher writes format {FORMAT}", stamp.plan_format),
        )),
        (Ok(stamp), Some(xy)) if stamp.python != xy => Some(Failure::new(
            LauncherExit::Runtime,
            format!(
                "the runtime `{}` is built for Python {}, but the home `{}` (chosen by {}) holds Python {xy}",
                paths.runtime.display(),
                stamp.python,
                paths.home.display(),
                paths.home_rule
            ),
            format!("rebuild it for Python {xy}: PYO3_PYTHON={} cargo build --release", paths.executable.display()),
        )),
        _ => None,
    }
}

fn stdlib_failure(layout: &Layout, found: &[PyVersion], runtime_xy: Option<PyVersion>) -> Failure {
    let lib = layout.paths.home.join("lib");
    let chosen = format!("home chosen by {}", layout.paths.home_rule);
    match (found, runtime_xy) {
        ([], Some(xy)) => Failure::new(
            LauncherExit::StdlibMissing,
            format!(
                "no Python standard library at `{}` ({chosen})",
                python_home::stdlib_dir(&layout.paths.home, xy).display()
            ),
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
                many.iter().map(PyVersion::to_string).collect::<Vec<_>>().join(", "),
                match want {
                    Some(xy) => format!("is built for Python {xy}"),
                    None => "cannot tell which one is meant".into(),
                }
            ),
            "keep one Python in the home, or rebuild the runtime for the one to use",
        ),
    }
}

fn libpython_failure(path: &Path, problem: &python_home::LibpythonProblem, xy: PyVersion, layout: &Layout) -> Failure {
    Failure::new(
        LauncherExit::Libpython,
        format!("the home's libpython `{}` {problem} (home chosen by {})", path.display(), layout.paths.home_rule),
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

    fn tree(name: &str, stamp: Option<&str>) -> crate::test_dir::TestDir {
        let dir = crate::test_dir::test_dir(&format!("plan-{name}"));
        fs::create_dir_all(dir.join("Resources/mlxk2/_vendor/mlxk2")).unwrap();
        fs::create_dir_all(dir.join("Resources/python/lib/python3.11/encodings")).unwrap();
        fs::create_dir_all(dir.join("Resources/python/bin")).unwrap();
        fs::write(dir.join("Resources/python/lib").join(PyVersion::new(3, 11).libpython_file_name()), "").unwrap();
        fs::create_dir_all(dir.join("Resources/mlxk2/guard")).unwrap();
        for file in guard::FILES {
            fs::write(dir.join("Resources/mlxk2/guard").join(file), "").unwrap();
        }
        if let Some(line) = stamp {
            fs::write(dir.join("Resources/mlxk2").join(stamp::FILE_NAME), format!("\0{line}\0")).unwrap();
        }
        dir
    }

    fn inputs(dir: &Path) -> Inputs {
        Inputs {
            exe: dir.join("Resources/mlxk2/msty-mlx-studio"),
            lookup: LookupEnv::default(),
            exit_with_parent: Ok(true),
            guard: Ok(GuardPlan::On { token: false, allowed_origins: Vec::new() }),
            vars: Vec::new(),
            cache_dir: None,
            log_filter: None,
        }
    }

    #[test]
    fn a_healthy_tree_plans_and_round_trips() {
        let dir = tree("ok", Some(&format!("msty-mlx-runtime-stamp:plan={FORMAT};python=3.11;version=0.2.0")));
        let mut i = inputs(&dir);
        i.vars = vec![("PYTHONHOME".into(), "/x".into())];
        let plan = survey(&i, Depth::Run).into_runnable().unwrap();
        assert_eq!(plan.python, PyVersion::new(3, 11));
        assert_eq!(plan.isolation.safe_path, Some(true));
        assert_eq!(plan.libpython, dir.join("Resources/python/lib").join(PyVersion::new(3, 11).libpython_file_name()));
        assert_eq!(plan.child_environment.remove, [OsString::from("PYTHONHOME")]);
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<LaunchPlan>(&text).unwrap(), plan);
    }

    #[test]
    fn runtime_problems_name_the_file() {
        let other_xy = format!("msty-mlx-runtime-stamp:plan={FORMAT};python=3.12;version=9");
        for (name, stamp, needle) in [
            ("missing", None, "does not exist"),
            ("format", Some("msty-mlx-runtime-stamp:plan=999;python=3.11;version=9"), "format 999"),
            ("xy", Some(other_xy.as_str()), "built for Python 3.12, but the home"),
            ("corrupt", Some("garbage"), "no runtime stamp inside"),
        ] {
            let dir = tree(name, stamp);
            let err = survey(&inputs(&dir), Depth::Run).into_runnable().unwrap_err();
            assert_eq!(err.exit, LauncherExit::Runtime, "{name}");
            assert!(err.message.contains(stamp::FILE_NAME) && err.message.contains(needle), "{name}: {err}");
        }
    }

    /// Looking is not doing: the survey of a run writes nothing (the caches' directories are
    /// only described), [`prepare`] creates them and describes the same plan.
    #[test]
    fn the_survey_writes_nothing_and_prepare_makes_it_true() {
        let dir = tree("pure", Some(&format!("msty-mlx-runtime-stamp:plan={FORMAT};python=3.11;version=0.2.0")));
        let temp = dir.join("tmp");
        fs::create_dir(&temp).unwrap();
        let mut i = inputs(&dir);
        i.cache_dir = Some(dir.join("cache"));
        i.vars = vec![("TMPDIR".into(), temp.clone().into_os_string())];
        let plan = survey(&i, Depth::Run).into_runnable().unwrap();
        let prefix = plan.bytecode.pycache_prefix.clone().expect("a cache is planned");
        assert!(!dir.join("cache").exists() && !temp.join("mlx").exists(), "the survey wrote");
        let prepared = prepare(&i, plan.clone());
        assert_eq!(prepared, plan, "the same decisions, now true on disk");
        assert!(prefix.join(bytecode::MARKER).is_file() && temp.join("mlx").is_dir());
        // What cannot be made true changes the plan as the survey would have: a file where
        // the cache's directory would go means no caching, for the children too.
        let mut i = i.clone();
        i.cache_dir = Some(dir.join("blocked"));
        let plan = survey(&i, Depth::Run).into_runnable().unwrap();
        fs::write(dir.join("blocked"), b"").unwrap();
        let prepared = prepare(&i, plan);
        assert_eq!(prepared.bytecode.pycache_prefix, None);
        assert!(prepared.child_environment.set.contains(&("PYTHONDONTWRITEBYTECODE".into(), "1".into())));
    }

    #[test]
    fn every_problem_is_collected_in_run_order() {
        let dir = tree("many", None);
        fs::remove_dir_all(dir.join("Resources/mlxk2/_vendor/mlxk2")).unwrap();
        fs::remove_file(dir.join("Resources/python/lib").join(PyVersion::new(3, 11).libpython_file_name())).unwrap();
        fs::remove_dir_all(dir.join("Resources/mlxk2/guard")).unwrap();
        let mut i = inputs(&dir);
        i.exit_with_parent = settings::switch(EXIT_WITH_PARENT, Some("maybe".as_ref()), true);
        let s = survey(&i, Depth::Run);
        let codes: Vec<u8> = s.problems.iter().map(|p| p.exit.code()).collect();
        assert_eq!(codes, [80, 83, 85, 88, 89]);
        assert!(s.plan.is_some(), "a plan is still described");
    }
}
