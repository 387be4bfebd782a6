//! Starting the embedded CPython from the launch plan: the `PyConfig` sequence (the settings
//! and their reasons are in `msty_mlx_contract::plan::Isolation`), then `_vendor` first on
//! `sys.path`.

use std::ffi::{CStr, OsStr, OsString};

use msty_mlx_contract::plan::{GUARD_API, GuardPlan, LaunchPlan};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyType};

use crate::ffi::{Config, ConfigString, Interpreter, StartError, raise_sigint};

/// What `Py_RunMain` executes for a run: exactly what a console script does with `main`.
pub const RUN_MLXK2: &str = "import sys\nfrom mlxk2.cli import main\nsys.exit(main())\n";

/// A Python file of this crate (`src/python/`, linted by ruff: `launcher-tests/run-all.sh`) as
/// the NUL-terminated source `py.run` takes.
macro_rules! python_file {
    ($path:literal) => {
        match CStr::from_bytes_with_nul(concat!(include_str!($path), "\0").as_bytes()) {
            Ok(source) => source,
            Err(_) => panic!(concat!($path, " holds a NUL byte")),
        }
    };
}

/// `put_first(vendor)`: `_vendor` at the front of `sys.path` as a site directory (`.pth`
/// files processed), ahead of the stdlib and the interpreter's own site-packages — the order
/// `PYTHONPATH=<_vendor>` gives the children.
const VENDOR_FIRST: &CStr = python_file!("python/vendor_first.py");

/// `install(bx, version_info)`: with the per-user cache, two repairs of CPython's importlib
/// (3.10–3.13) — a short write is an error instead of a torn pyc, and a torn pyc is recompiled
/// instead of failing every later start — each checked against the running CPython first (the
/// file says how and why).
const IMPORTLIB_REPAIRS: &CStr = python_file!("python/importlib_repairs.py");

/// Runs one of this crate's Python files in a namespace of its own; returns the namespace.
fn run_file<'py>(py: Python<'py>, source: &CStr) -> PyResult<Bound<'py, PyDict>> {
    let namespace = PyDict::new(py);
    py.run(source, Some(&namespace), None)?;
    Ok(namespace)
}

/// Installs the importlib repairs, or logs why not: they are an optimisation's safety net, so
/// nothing about them may stop a start — except a KeyboardInterrupt (Ctrl-C, the app stopping
/// us), which is not theirs to swallow. The interpreter writes nothing before this runs
/// (`write_bytecode=0` during start-up).
fn repair_importlib(py: Python<'_>) -> PyResult<()> {
    let installed = || -> PyResult<Option<String>> {
        let sys = py.import("sys")?;
        let importlib = sys.getattr("modules")?.get_item("_frozen_importlib_external")?;
        let install = run_file(py, IMPORTLIB_REPAIRS)?.get_item("install")?;
        let Some(install) = install else { return Ok(Some("importlib_repairs.py has no install()".into())) };
        install.call1((importlib, sys.getattr("version_info")?))?.extract()
    };
    match installed() {
        Ok(None) => tracing::debug!("importlib repairs installed (short pyc writes, torn pycs)"),
        Ok(Some(why)) => tracing::warn!("importlib repairs skipped, running without them: {why}"),
        Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => return Err(e),
        Err(e) => tracing::warn!("importlib repairs skipped, running without them: {e}"),
    }
    Ok(())
}

/// cpython#95959: a KeyboardInterrupt raised where CPython cannot propagate it (a weakref
/// callback run by importlib while mlxk2 imports, a `__del__`) is printed as "Exception
/// ignored" and dropped — the Ctrl-C or the app's stop is lost, and `serve` then runs forever
/// holding its port (~0.4 % of SIGINTs during start-up). This `sys.unraisablehook` keeps
/// CPython's report (the previous hook) and raises SIGINT again, so whatever handler is
/// installed by then (the default KeyboardInterrupt, mlx-knife's supervisor teardown) gets it
/// in the main flow. Native on purpose: a Python hook would take the new KeyboardInterrupt at
/// its own next bytecode boundary, where it would be dropped again; from C the signal is only
/// marked, and the interrupted code takes it once the callback has returned.
fn redeliver_lost_sigint(py: Python<'_>) -> PyResult<()> {
    let sys = py.import("sys")?;
    let previous = sys.getattr("unraisablehook")?.unbind();
    let hook =
        PyCFunction::new_closure(py, Some(c"redeliver_lost_sigint"), None, move |args, _kwargs| -> PyResult<()> {
            let py = args.py();
            let unraisable = args.get_item(0)?;
            previous.call1(py, (&unraisable,))?;
            let kind = unraisable.getattr("exc_type")?;
            if let Ok(kind) = kind.cast::<PyType>()
                && kind.is_subclass_of::<PyKeyboardInterrupt>()?
            {
                tracing::debug!("a KeyboardInterrupt was dropped by CPython (cpython#95959); raising SIGINT again");
                raise_sigint();
            }
            Ok(())
        })?;
    sys.setattr("unraisablehook", hook)
}

/// `start(guard, api)`: the served port's guard, loaded into this interpreter before mlx-knife
/// runs (the file says how).
const GUARD_START: &CStr = python_file!("python/guard_start.py");

/// Why CPython did not come up.
pub enum StartFailure {
    /// A SIGINT arrived during start-up (Ctrl-C, an app quitting early): not a broken bundle.
    Interrupted(String),
    Failed(String),
    /// The served port's guard could not be loaded or refused this launcher.
    Guard(String),
}

/// Starts CPython as the plan says, with `argv` as `sys.argv` and `_vendor` first on `sys.path`.
/// `run_command` is what `Py_RunMain` will run (`None`: the caller runs its own code and
/// finalizes).
pub fn start(plan: &LaunchPlan, argv: &[OsString], run_command: Option<&str>) -> Result<Interpreter, StartFailure> {
    let mut config = Config::python();
    // Every flag before the first string setter: that call pre-initializes CPython from these
    // values, and a flag set later no longer keeps e.g. PYTHONUTF8 from being read.
    config.set_flags(&plan.isolation);
    let failed = |e: StartError| match e {
        StartError::Interrupted(detail) => StartFailure::Interrupted(detail),
        StartError::Exit(code) => StartFailure::Failed(format!("CPython exited with status {code} while starting")),
        StartError::Failed { step, detail } => StartFailure::Failed(format!("at {step}: {detail}")),
    };
    config.set_string(ConfigString::Home, plan.paths.home.as_os_str()).map_err(failed)?;
    config.set_string(ConfigString::Executable, plan.paths.executable.as_os_str()).map_err(failed)?;
    config.set_argv(argv).map_err(failed)?;
    if let Some(prefix) = &plan.bytecode.pycache_prefix {
        config.set_string(ConfigString::PycachePrefix, prefix.as_os_str()).map_err(failed)?;
    }
    if let Some(command) = run_command {
        config.set_string(ConfigString::RunCommand, OsStr::new(command)).map_err(failed)?;
    }
    let interpreter = config.initialize().map_err(failed)?;

    Python::attach(|py| {
        let vendor_first = || -> PyResult<()> {
            let put_first = run_file(py, VENDOR_FIRST)?.get_item("put_first")?;
            let put_first = put_first.ok_or_else(|| PyRuntimeError::new_err("vendor_first.py has no put_first()"))?;
            // As `str` (os.fsdecode): pyo3 would turn a `Path` into `pathlib.Path`, and
            // importing pathlib costs a third of the start-up (callgrind).
            put_first.call1((plan.paths.vendor.as_os_str(),))?;
            // Bytecode is written when (and only when) a per-user pycache prefix is set.
            let write_to_prefix = plan.bytecode.pycache_prefix.is_some();
            py.import("sys")?.setattr("dont_write_bytecode", !write_to_prefix)?;
            if write_to_prefix {
                repair_importlib(py)?;
            }
            redeliver_lost_sigint(py)?;
            for (i, entry) in py.import("sys")?.getattr("path")?.try_iter()?.enumerate() {
                tracing::debug!("sys.path[{i}] = {}", entry?);
            }
            Ok(())
        };
        vendor_first().map_err(|e| {
            if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                StartFailure::Interrupted("KeyboardInterrupt while adding _vendor to sys.path".into())
            } else {
                StartFailure::Failed(format!(
                    "could not put `{}` on sys.path: {e}; check the .pth files in _vendor",
                    plan.paths.vendor.display()
                ))
            }
        })
    })?;
    if run_command.is_some() && matches!(plan.guard, GuardPlan::On { .. }) {
        start_guard(plan)?;
    }
    Ok(interpreter)
}

/// Runs [`GUARD_START`]; a failure is the guard's (exit 89), a SIGINT an interruption.
fn start_guard(plan: &LaunchPlan) -> Result<(), StartFailure> {
    Python::attach(|py| {
        let started = || -> PyResult<()> {
            let start = run_file(py, GUARD_START)?.get_item("start")?;
            let start = start.ok_or_else(|| PyRuntimeError::new_err("guard_start.py has no start()"))?;
            start.call1((plan.paths.guard_dir.as_os_str(), GUARD_API)).map(drop)
        };
        started().map_err(|e| {
            if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                StartFailure::Interrupted("KeyboardInterrupt while starting the guard".into())
            } else {
                StartFailure::Guard(e.to_string())
            }
        })
    })
}
