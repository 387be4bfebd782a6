//! Starting the embedded CPython for mlxk2: the configuration, in order, with the reason for
//! each setting, then `Py_RunMain`.

use std::ffi::{OsStr, OsString};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::bytecode::BytecodePlan;
use crate::exit_code::LauncherExit;
use crate::ffi::{Config, ConfigString, Interpreter, StartError};
use crate::layout::{Failure, Layout};

/// What `Py_RunMain` executes: exactly what a console script does with `main`.
const RUN_MLXK2: &str = "import sys\nfrom mlxk2.cli import main\nsys.exit(main())\n";

/// Puts `_vendor` at the front of `sys.path` the way a site directory is added (`.pth` files
/// processed), ahead of the stdlib and the interpreter's own site-packages — the order
/// `PYTHONPATH=<_vendor>` gives the children — and lets the launcher write bytecode when (and
/// only when) a per-user pycache prefix is set.
const VENDOR_FIRST: &std::ffi::CStr = c"
import site, sys
rest = [p for p in sys.path if p != vendor]
sys.path[:] = rest
site.addsitedir(vendor)
sys.path[:] = sys.path[len(rest):] + rest
sys.dont_write_bytecode = not write_to_prefix
";

/// Starts CPython isolated, with `argv` as `sys.argv`, and `_vendor` first on `sys.path`.
pub fn start(layout: &Layout, bytecode: &BytecodePlan, argv: &[OsString], run_command: &str) -> Result<Interpreter, Failure> {
    let mut config = Config::python();
    let fields = config.fields();
    // All flags are set before the first string setter: that call pre-initializes CPython from
    // these values, and a flag set later no longer keeps e.g. PYTHONUTF8 from being read.
    fields.isolated = 1; // no cwd/script dir on sys.path, no user site
    fields.use_environment = 0; // the caller's PYTHON* variables change nothing
    fields.user_site_directory = 0;
    #[cfg(Py_3_11)]
    {
        fields.safe_path = 1; // never prepend the cwd (`-c` would)
    }
    fields.parse_argv = 0; // argv is mlxk2's, never python's options
    fields.install_signal_handlers = 1; // SIGINT → KeyboardInterrupt, SIGPIPE ignored, as python3
    // A signed bundle must never be written: pycs go to the per-user cache or nowhere. The flag
    // stays "don't write" (-B) because children that copy the interpreter's flags (multiprocessing
    // spawn: `-I -B`) ignore PYTHONPYCACHEPREFIX and would write next to the sources; the
    // launcher itself writes into the prefix through `sys.dont_write_bytecode` (bootstrap).
    fields.write_bytecode = 0;
    fields.buffered_stdio = 0; // Electron sees each log line as it is written
    fields.pathconfig_warnings = 0; // problems are reported by the launcher, in one line

    let step = |e| start_failure(e);
    config.set_string(ConfigString::Home, layout.home.as_os_str()).map_err(step)?;
    config.set_string(ConfigString::Executable, layout.executable.as_os_str()).map_err(step)?;
    config.set_argv(argv).map_err(step)?;
    if let Some(prefix) = &bytecode.pycache_prefix {
        config.set_string(ConfigString::PycachePrefix, prefix.as_os_str()).map_err(step)?;
    }
    config.set_string(ConfigString::RunCommand, OsStr::new(run_command)).map_err(step)?;
    let interpreter = config.initialize().map_err(step)?;

    Python::attach(|py| -> PyResult<()> {
        let globals = PyDict::new(py);
        // As `str` (os.fsdecode): pyo3 would turn a `Path` into `pathlib.Path`, and importing
        // pathlib costs a third of the start-up (callgrind).
        globals.set_item("vendor", layout.vendor.as_os_str())?;
        globals.set_item("write_to_prefix", bytecode.write_bytecode())?;
        py.run(VENDOR_FIRST, Some(&globals), None)?;
        for (i, entry) in py.import("sys")?.getattr("path")?.try_iter()?.enumerate() {
            tracing::debug!("sys.path[{i}] = {}", entry?);
        }
        Ok(())
    })
    .map_err(|e| {
        Failure::new(
            LauncherExit::InterpreterStart,
            format!("could not put `{}` on sys.path: {e}", layout.vendor.display()),
            "check the .pth files in _vendor",
        )
    })?;
    Ok(interpreter)
}

/// Runs `mlxk2.cli.main` and returns the process exit status CPython decided.
pub fn run_mlxk2(layout: &Layout, bytecode: &BytecodePlan, argv: &[OsString]) -> Result<i32, Failure> {
    let interpreter = start(layout, bytecode, argv, RUN_MLXK2)?;
    tracing::debug!("running mlxk2.cli.main");
    Ok(interpreter.run_main())
}

fn start_failure(error: StartError) -> Failure {
    match error {
        StartError::Exit(code) => Failure::new(
            LauncherExit::InterpreterStart,
            format!("CPython exited with status {code} while starting"),
            "run with MLXK2_LAUNCHER_LOG=debug for the start-up decisions",
        ),
        StartError::Failed { step, detail } => Failure::new(
            LauncherExit::InterpreterStart,
            format!("CPython failed to start at {step}: {detail}"),
            "run with MLXK2_LAUNCHER_LOG=debug for the start-up decisions",
        ),
    }
}
