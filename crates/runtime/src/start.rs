//! Starting the embedded CPython from the launch plan: the `PyConfig` sequence (the settings
//! and their reasons are in `msty_mlx_contract::plan::Isolation`), then `_vendor` first on
//! `sys.path`.

use std::ffi::{OsStr, OsString};

use msty_mlx_contract::plan::{GUARD_API, GuardPlan, LaunchPlan};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyType};

use crate::ffi::{Config, ConfigString, Interpreter, StartError, raise_sigint};

/// What `Py_RunMain` executes for a run: exactly what a console script does with `main`.
pub const RUN_MLXK2: &str = "import sys\nfrom mlxk2.cli import main\nsys.exit(main())\n";

/// Puts `_vendor` at the front of `sys.path` the way a site directory is added (`.pth` files
/// processed), ahead of the stdlib and the interpreter's own site-packages — the order
/// `PYTHONPATH=<_vendor>` gives the children — and lets the launcher write bytecode when (and
/// only when) a per-user pycache prefix is set.
///
/// With the per-user cache, two repairs of CPython's importlib (3.10–3.13), found by the
/// full-file-system fault test: its `_write_atomic` ignores a short write, so a file system
/// that fills up mid-write gets a torn pyc renamed into place; and a torn pyc whose header
/// still matches its source makes every later import of that module fail with `EOFError:
/// marshal data too short`, i.e. every later start. Here a short write is an `OSError` (the
/// temporary file is removed; CPython then skips that pyc, as for any write error), and a pyc
/// that does not unmarshal is removed and the source compiled, as if there were no pyc. The
/// interpreter writes nothing before this runs (`write_bytecode=0` during start-up).
const VENDOR_FIRST: &std::ffi::CStr = c"
import site, sys
rest = [p for p in sys.path if p != vendor]
sys.path[:] = rest
site.addsitedir(vendor)
sys.path[:] = sys.path[len(rest):] + rest
sys.dont_write_bytecode = not write_to_prefix
if write_to_prefix:
    def _repair(bx):
        os, io = bx._os, bx._io
        def _write_atomic(path, data, mode=0o666):
            tmp = '{}.{}'.format(path, id(path))
            fd = os.open(tmp, os.O_EXCL | os.O_CREAT | os.O_WRONLY, mode & 0o666)
            try:
                with io.FileIO(fd, 'wb') as file:
                    view = memoryview(data)
                    while view:
                        n = file.write(view)
                        if not n:
                            raise OSError('short write to ' + tmp)
                        view = view[n:]
                os.replace(tmp, path)
            except OSError:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        get_code = bx.SourceLoader.get_code
        def get_code_or_compile(self, fullname):
            try:
                return get_code(self, fullname)
            except (EOFError, ValueError, TypeError):
                source = self.get_filename(fullname)
                try:
                    os.unlink(bx.cache_from_source(source))
                except (NotImplementedError, OSError):
                    pass
                return self.source_to_code(self.get_data(source), source)
        bx._write_atomic = _write_atomic
        bx.SourceLoader.get_code = get_code_or_compile
    _repair(sys.modules['_frozen_importlib_external'])
    del _repair
";

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

/// Loads the served port's guard from its directory (which stays off the launcher's own
/// `sys.path`) and starts it before mlx-knife runs: `guard/msty_mlx_guard.py` says what it does.
const GUARD_START: &std::ffi::CStr = c"
import sys
sys.path.insert(0, guard)
try:
    import msty_mlx_guard
finally:
    sys.path.remove(guard)
msty_mlx_guard.launcher_start(api)
";

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
            let globals = PyDict::new(py);
            // As `str` (os.fsdecode): pyo3 would turn a `Path` into `pathlib.Path`, and
            // importing pathlib costs a third of the start-up (callgrind).
            globals.set_item("vendor", plan.paths.vendor.as_os_str())?;
            globals.set_item("write_to_prefix", plan.bytecode.pycache_prefix.is_some())?;
            py.run(VENDOR_FIRST, Some(&globals), None)?;
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
        let globals = PyDict::new(py);
        globals.set_item("guard", plan.paths.guard_dir.as_os_str())?;
        globals.set_item("api", GUARD_API)?;
        py.run(GUARD_START, Some(&globals), None)
    })
    .map_err(|e| {
        Python::attach(|py| {
            if e.is_instance_of::<PyKeyboardInterrupt>(py) {
                StartFailure::Interrupted("KeyboardInterrupt while starting the guard".into())
            } else {
                StartFailure::Guard(e.to_string())
            }
        })
    })
}
