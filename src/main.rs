//! msty-mlx-studio: the app's mlx-knife launcher. Locates the bundle next to itself, answers
//! its own diagnostics natively, or loads the home's libpython and the runtime library and runs
//! `mlxk2.cli.main` in an embedded, isolated CPython in this very process.

#![deny(unsafe_code)]
// The process is about to answer in a millisecond or to become CPython, which sets up its own
// signal handling: std's start-up (a read of /proc/self/maps for the main thread's stack
// guard, an alternate signal stack, SIGSEGV/SIGBUS handlers) would be most of the launcher's
// own cost for `--mlx-info`. Its two promises that matter are kept by `sys::prepare_process`:
// fds 0–2 are open, SIGPIPE is ignored. (A test build keeps the harness's own `main`: `cargo
// test --bins` must run tests, not the launcher; this file has none, its logic is the library's.)
#![cfg_attr(not(test), no_main)]

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use msty_mlx_contract::exit_code::LauncherExit;
use msty_mlx_logging as logging;
use msty_mlx_studio::failure::Failure;
use msty_mlx_studio::plan::{self, Depth, Inputs};
use msty_mlx_studio::{LAUNCHER_NAME, diagnostics, parent, stage2, sys};

/// The C entry point, in place of std's `lang_start`.
#[cfg(not(test))]
#[allow(unsafe_code)]
mod entry {
    use std::ffi::{c_char, c_int};

    // SAFETY: the C runtime calls `main` once, on the main thread; `#![no_main]` leaves no
    // other `main` symbol in this executable. argv is read through std (`args_os`), which
    // captures it from the loader on every platform we build for.
    #[unsafe(no_mangle)]
    extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
        super::main()
    }
}

fn main() -> ! {
    sys::prepare_process();
    let argv: Vec<OsString> = std::env::args_os().collect();
    // `process::exit` flushes std's stdout buffer (returning from C `main` would not).
    match run(argv) {
        Ok(status) => std::process::exit(status),
        Err(failure) => {
            // Never panic on a closed or broken stderr: the exit code still tells.
            let _ = writeln!(std::io::stderr(), "{LAUNCHER_NAME}: error: {failure}");
            std::process::exit(failure.exit.code().into())
        }
    }
}

/// Locate → (our own diagnostics flag?) → plan → libpython + runtime → prepare → child
/// environment → exit-with-parent → CPython runs mlxk2.
fn run(argv: Vec<OsString>) -> Result<i32, Failure> {
    let log = logging::init();
    if let Some(warning) = &log.warning {
        let _ = writeln!(std::io::stderr(), "{LAUNCHER_NAME}: warning: {warning}");
    }
    let exe = self_path()?;
    // Answered before anything else can fail, and without loading Python, so they also
    // describe a broken bundle. Each reads only the inputs its answer needs.
    if let Some(flag) = diagnostics::recognise(&argv) {
        return Ok(diagnostics::answer(flag, exe, log.filter, &argv));
    }
    let inputs = Inputs::capture(exe, log.filter);
    let plan = plan::survey(&inputs, Depth::Run).into_runnable()?;
    tracing::debug!(home = %plan.paths.home.display(), rule = %plan.paths.home_rule, python = %plan.python, "launch plan");
    // Known to run once loaded: only then is anything written (the caches' directories).
    // SAFETY: no other thread exists yet: loading libpython and the runtime runs only their
    // initializers, which start none; the first thread is the macOS parent watch, armed below;
    // CPython starts later still.
    #[allow(unsafe_code)]
    let (python, plan) = unsafe { stage2::load_prepared(&inputs, plan)? };
    parent::arm(plan.exit_with_parent);
    python.run_mlxk2(&plan, &argv)
}

/// The launcher's real path, symlinks resolved: Linux's `/proc/self/exe` already is one;
/// macOS's `_NSGetExecutablePath` may name a symlink, so it is canonicalized there.
fn self_path() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe();
    let exe = if cfg!(target_os = "linux") { exe } else { exe.and_then(|p| p.canonicalize()) };
    exe.map_err(|e| {
        Failure::new(
            LauncherExit::SelfLocation,
            format!("cannot determine the launcher's own path ({e})"),
            "run it from a mounted, readable location",
        )
    })
}
