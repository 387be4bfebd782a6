//! msty-mlx-studio: the app's mlx-knife launcher. Locates the bundle next to itself, then runs
//! `mlxk2.cli.main` in an embedded, isolated CPython in this very process.

#![deny(unsafe_code)]

mod diagnostics;
#[allow(unsafe_code)]
mod ffi;
mod interpreter;
mod libpython;
mod parent;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use msty_mlx_studio::exit_code::{self, LauncherExit};
use msty_mlx_studio::layout::{self, Failure, LookupEnv};
use msty_mlx_studio::settings::{self, EXIT_WITH_PARENT};
use msty_mlx_studio::{BUILT_FOR_PYTHON, LAUNCHER_NAME, bytecode, child_env, logging};

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match run(argv) {
        Ok(status) => std::process::exit(status),
        Err(failure) => {
            // Never panic on a closed or broken stderr: the exit code still tells.
            let _ = writeln!(std::io::stderr(), "{LAUNCHER_NAME}: error: {failure}");
            ExitCode::from(failure.exit.code())
        }
    }
}

/// Locate → (our own diagnostics flag?) → validate → child environment → exit-with-parent →
/// CPython runs mlxk2.
fn run(argv: Vec<OsString>) -> Result<i32, Failure> {
    logging::init()?;
    let exe = self_path()?;
    // Answered before anything can fail, so they also describe a broken bundle.
    if let Some(flag) = diagnostics::recognise(&argv) {
        return Ok(diagnostics::answer(flag, &exe, &argv));
    }
    let layout = runnable_layout(&exe)?;
    let exit_with_parent = settings::switch(EXIT_WITH_PARENT, std::env::var_os(EXIT_WITH_PARENT).as_deref(), true)?;
    let bytecode = bytecode::plan(&layout.vendor, &layout.home, BUILT_FOR_PYTHON, dirs::cache_dir().as_deref());
    tracing::debug!(?bytecode, "bytecode");
    // The environment is rewritten while this is the only thread (the macOS parent watch
    // starts one).
    ffi::apply_child_env(&child_env::plan(std::env::vars_os(), &layout.vendor, bytecode.pycache_prefix.as_deref()));
    parent::arm(exit_with_parent);
    interpreter::run_mlxk2(&layout, &bytecode, &argv)
}

/// The located bundle, once everything CPython needs is known to be there: the stdlib of our
/// X.Y, `_vendor/mlxk2`, and the bundle's own libpython mapped.
fn runnable_layout(exe: &std::path::Path) -> Result<layout::Layout, Failure> {
    let layout = layout::locate(exe, &LookupEnv::from_process())?;
    tracing::debug!(home = %layout.home.display(), rule = %layout.home_rule, "python home");
    for c in &layout.candidates {
        tracing::debug!(rule = %c.rule, path = ?c.path, rejected = ?c.rejected, "candidate");
    }
    if let Some(problem) = layout::validate(&layout, BUILT_FOR_PYTHON).into_iter().next() {
        return Err(problem);
    }
    libpython::check(&libpython::mapped(), &layout, BUILT_FOR_PYTHON)?;
    Ok(layout)
}

/// The launcher's real path (`/proc/self/exe`, `_NSGetExecutablePath`), symlinks resolved.
fn self_path() -> Result<std::path::PathBuf, Failure> {
    std::env::current_exe().and_then(|p| p.canonicalize()).map_err(|e| {
        Failure::new(
            LauncherExit::SelfLocation,
            format!("cannot determine the launcher's own path ({e})"),
            "run it from a mounted, readable location",
        )
    })
}
