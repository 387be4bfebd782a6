//! The second stage: load the home's libpython and the runtime library, and hand the runtime
//! the launch plan.
//!
//! libpython is opened by absolute path from the chosen home (`RTLD_NOW | RTLD_GLOBAL`, so the
//! runtime and CPython's extension modules resolve their `Py*` symbols against it) and its
//! `Py_GetVersion()` must name the home's X.Y; the loader's search path never takes part, so a
//! system libpython cannot be picked. The runtime comes from next to the launcher's real path
//! and must carry this launcher's plan format and the same X.Y (its stamp was already checked
//! in the file; it is asked again once loaded).

use std::ffi::OsString;

use serde_json::Value;

use crate::failure::Failure;
use crate::plan::{self, FORMAT, LaunchPlan};
use crate::python_home;
use crate::sys::{self, Library, RuntimeEntry};
use msty_mlx_contract::abi;
use msty_mlx_contract::exit_code::{INTERRUPTED, LauncherExit};
use msty_mlx_contract::stamp::RuntimeStamp;

/// libpython and the runtime, loaded and matched.
pub struct Python {
    /// `Py_GetVersion()`, e.g. `3.11.7 (main, …) [GCC …]`.
    pub version: String,
    entry: RuntimeEntry,
}

/// Loads libpython, then the runtime, checking each against the plan.
pub fn load(plan: &LaunchPlan) -> Result<Python, Failure> {
    let libpython_failure = |problem: String| {
        Failure::new(
            LauncherExit::Libpython,
            format!("cannot use the home's libpython `{}`: {problem}", plan.libpython.display()),
            format!("restore the shared libpython of the bundled Python {} there", plan.python),
        )
    };
    crate::library_file::check_loadable(&plan.libpython).map_err(|e| libpython_failure(format!("it {e}")))?;
    let libpython = Library::open(&plan.libpython, true).map_err(libpython_failure)?;
    let version = libpython.python_version().map_err(|e| libpython_failure(format!("not a libpython ({e})")))?;
    if python_home::version_xy(&version) != Some(plan.python) {
        return Err(libpython_failure(format!(
            "it is Python {}, but the home's standard library is Python {}",
            version.split_whitespace().next().unwrap_or(&version),
            plan.python
        )));
    }
    tracing::debug!(path = %plan.libpython.display(), %version, "libpython loaded");

    crate::library_file::check_loadable(&plan.paths.runtime)
        .map_err(|e| plan::runtime_failure(&plan.paths.runtime, &e))?;
    let runtime = Library::open(&plan.paths.runtime, false)
        .map_err(|e| plan::runtime_failure(&plan.paths.runtime, &format!("cannot be loaded ({e})")))?;
    let stamp = runtime
        .runtime_stamp()
        .map_err(|e| plan::runtime_failure(&plan.paths.runtime, &format!("is not a runtime library ({e})")))
        .and_then(|line| {
            RuntimeStamp::parse(&line).map_err(|e| plan::runtime_failure(&plan.paths.runtime, &e.to_string()))
        })?;
    if stamp.plan_format != FORMAT || stamp.python != plan.python {
        return Err(plan::runtime_failure(
            &plan.paths.runtime,
            &format!(
                "is stamped plan format {} for Python {}; this launcher needs format {FORMAT} for Python {}",
                stamp.plan_format, stamp.python, plan.python
            ),
        ));
    }
    let entry = runtime
        .runtime_entry()
        .map_err(|e| plan::runtime_failure(&plan.paths.runtime, &format!("has no entry point ({e})")))?;
    tracing::debug!(path = %plan.paths.runtime.display(), runtime = %stamp.line(), "runtime loaded");
    Ok(Python { version, entry })
}

impl Python {
    /// Runs `mlxk2.cli.main`; the process exit status CPython decided.
    pub fn run_mlxk2(self, plan: &LaunchPlan, argv: &[OsString]) -> Result<i32, Failure> {
        let (status, _) = self.call(abi::ACTION_RUN_MLXK2, plan, argv)?;
        Ok(status)
    }

    /// Imports `mlx.core` and `mlx_lm`: per module `{version, file}` or the exception text.
    pub fn import_check(self, plan: &LaunchPlan, argv: &[OsString]) -> Result<Value, Failure> {
        let (_, replies) = self.call(abi::ACTION_IMPORT_CHECK, plan, argv)?;
        let data =
            replies.0.into_iter().find_map(|(kind, data)| (kind == abi::REPLY_IMPORTS).then_some(data)).ok_or_else(
                || {
                    Failure::new(
                        LauncherExit::InterpreterStart,
                        "the import check returned nothing",
                        "run with MLXK2_LAUNCHER_LOG=debug",
                    )
                },
            )?;
        serde_json::from_slice(&data).map_err(|e| {
            Failure::new(
                LauncherExit::InterpreterStart,
                format!("the import check returned bad JSON ({e})"),
                "run with MLXK2_LAUNCHER_LOG=debug",
            )
        })
    }

    fn call(&self, action: u32, plan: &LaunchPlan, argv: &[OsString]) -> Result<(i32, sys::Replies), Failure> {
        let json = serde_json::to_vec(plan).map_err(|e| {
            Failure::new(LauncherExit::Runtime, format!("cannot encode the launch plan ({e})"), "report this as a bug")
        })?;
        let (status, replies) = self.entry.call(action, FORMAT, &json, argv).map_err(|e| {
            Failure::new(
                LauncherExit::InterpreterStart,
                format!("cannot pass the arguments to CPython: {e}"),
                "remove NUL bytes from the arguments",
            )
        })?;
        for (kind, data) in &replies.0 {
            let text = String::from_utf8_lossy(data);
            match *kind {
                abi::REPLY_PLAN_REJECTED => {
                    return Err(plan::runtime_failure(
                        &plan.paths.runtime,
                        &format!("refused the launch plan: {text}"),
                    ));
                }
                abi::REPLY_START_FAILED => {
                    return Err(Failure::new(
                        LauncherExit::InterpreterStart,
                        format!("CPython failed to start: {text}"),
                        "run with MLXK2_LAUNCHER_LOG=debug for the start-up decisions",
                    ));
                }
                abi::REPLY_GUARD_FAILED => {
                    return Err(Failure::new(
                        LauncherExit::Guard,
                        format!("the served port's guard `{}` could not be loaded: {text}", plan.paths.guard_dir.display()),
                        "rebuild the bundle with build-external-python, or set MLXK2_GUARD=off to run mlx-knife unguarded",
                    ));
                }
                abi::REPLY_INTERRUPTED => {
                    // Ctrl-C or an app quitting early is not a broken bundle: end as python3 does.
                    tracing::debug!("start interrupted by SIGINT: {text}");
                    sys::die_by_signal(libc::SIGINT);
                    std::process::exit(INTERRUPTED.into());
                }
                _ => {}
            }
        }
        Ok((status, replies))
    }
}
