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
use std::marker::PhantomData;

use serde_json::Value;

use crate::failure::Failure;
use crate::plan::{self, FORMAT, LaunchPlan};
use crate::python_home;
use crate::sys::{self, Library, RuntimeEntry};
use msty_mlx_contract::abi;
use msty_mlx_contract::exit_code::{INTERRUPTED, LauncherExit};
use msty_mlx_contract::stamp::RuntimeStamp;

/// libpython and the runtime, loaded and matched. Neither `Send` nor `Sync`: it stays on the
/// thread that loaded it, the main thread (`main::run`), where CPython must run.
pub struct Python {
    /// `Py_GetVersion()`, e.g. `3.11.7 (main, …) [GCC …]`.
    pub version: String,
    entry: RuntimeEntry,
    main_thread_only: PhantomData<*const ()>,
}

/// Stage 2 for a runnable plan, and the run made ready: libpython and the runtime loaded, then
/// the caches prepared (nothing is written before stage 2 is known to load), then the
/// children's environment applied to this process.
///
/// # Safety
///
/// As [`sys::apply_child_env`]: this process has one thread.
#[allow(unsafe_code)]
pub unsafe fn load_prepared(inputs: &plan::Inputs, plan: LaunchPlan) -> Result<(Python, LaunchPlan), Failure> {
    let python = load(&plan)?;
    let plan = plan::prepare(inputs, plan);
    // SAFETY: one thread (the caller's word).
    unsafe { sys::apply_child_env(&plan.child_environment) };
    Ok((python, plan))
}

/// Loads libpython, then the runtime, checking each against the plan.
#[allow(unsafe_code)] // Loading libraries: each `unsafe` below says what vouches for the file.
pub fn load(plan: &LaunchPlan) -> Result<Python, Failure> {
    let libpython_failure = |problem: String| {
        Failure::new(
            LauncherExit::Libpython,
            format!("cannot use the home's libpython `{}`: {problem}", plan.libpython.display()),
            format!("restore the shared libpython of the bundled Python {} there", plan.python),
        )
    };
    crate::library_file::check_loadable(&plan.libpython).map_err(|e| libpython_failure(format!("it {e}")))?;
    // SAFETY: `plan.libpython` is the home's own `lib/libpython3.X`, named by absolute path
    // from the chosen home (never the loader's search path) and checked loadable: a CPython
    // library, whose initializers are CPython's.
    let libpython = unsafe { Library::open(&plan.libpython, true) }.map_err(libpython_failure)?;
    // SAFETY: as above: a libpython.
    let version =
        unsafe { libpython.python_version() }.map_err(|e| libpython_failure(format!("not a libpython ({e})")))?;
    if python_home::version_xy(&version) != Some(plan.python) {
        return Err(libpython_failure(format!(
            "it is Python {}, but the home's standard library is Python {}",
            version.split_whitespace().next().unwrap_or(&version),
            plan.python
        )));
    }
    tracing::debug!(path = %plan.libpython.display(), %version, "libpython loaded");

    let runtime_failure = |problem: &str| plan::runtime_failure(&plan.paths.runtime, problem);
    crate::library_file::check_loadable(&plan.paths.runtime).map_err(|e| runtime_failure(&e))?;
    // SAFETY: the runtime next to the launcher's real path, whose file carries a runtime stamp
    // for this plan format and X.Y (the survey read it) and checked loadable: a msty-mlx-studio
    // runtime, whose initializers are Rust's and whose stamp function is `abi::StampFn`.
    let runtime = unsafe { Library::open(&plan.paths.runtime, false) }
        .map_err(|e| runtime_failure(&format!("cannot be loaded ({e})")))?;
    // SAFETY: as above: a runtime.
    let stamp = unsafe { runtime.runtime_stamp() }
        .map_err(|e| runtime_failure(&format!("is not a runtime library ({e})")))
        .and_then(|line| RuntimeStamp::parse(&line).map_err(|e| runtime_failure(&e.to_string())))?;
    if stamp.plan_format != FORMAT || stamp.python != plan.python {
        return Err(runtime_failure(&format!(
            "is stamped plan format {} for Python {}; this launcher needs format {FORMAT} for Python {}",
            stamp.plan_format, stamp.python, plan.python
        )));
    }
    // SAFETY: the loaded library's own stamp, just read, names this launcher's plan format.
    let entry =
        unsafe { runtime.runtime_entry() }.map_err(|e| runtime_failure(&format!("has no entry point ({e})")))?;
    tracing::debug!(path = %plan.paths.runtime.display(), runtime = %stamp.line(), "runtime loaded");
    Ok(Python { version, entry, main_thread_only: PhantomData })
}

/// `--python-info`'s proof that a run would get past stage 2: [`load`] itself, in a child
/// process that ends right after, so that nothing it loads reaches this process and a crash
/// while loading ends only the child. `Err` is the failure a run would stop with.
///
/// # Safety
///
/// As [`sys::in_child`]: this process has one thread.
#[allow(unsafe_code)]
pub unsafe fn prove_loadable(plan: &LaunchPlan) -> Result<(), Failure> {
    let crashed = |how: String| {
        plan::runtime_failure(
            &plan.paths.runtime,
            &format!(
                "cannot be loaded: loading it and libpython `{}` in a test process {how}",
                plan.libpython.display()
            ),
        )
    };
    // SAFETY: one thread (the caller's word).
    let proof = unsafe { sys::in_child(|| load(plan).err().map(|f| encode(&f)).unwrap_or_default()) };
    match proof {
        Err(e) => Err(crashed(format!("could not be run ({e})"))),
        Ok((failure, sys::ChildEnd::Exited(0))) if failure.is_empty() => Ok(()),
        Ok((failure, sys::ChildEnd::Exited(0))) => Err(decode(&failure).unwrap_or_else(|| crashed("failed".into()))),
        Ok((_, sys::ChildEnd::Exited(status))) => Err(crashed(format!("exited with status {status}"))),
        Ok((_, sys::ChildEnd::Signaled(signal))) => Err(crashed(format!("was killed by signal {signal}"))),
    }
}

/// A failure as bytes for the pipe from [`prove_loadable`]'s child: code, message and hint,
/// NUL-separated (no path holds a NUL).
fn encode(failure: &Failure) -> Vec<u8> {
    format!("{}\0{}\0{}", failure.exit.code(), failure.message, failure.hint).into_bytes()
}

fn decode(bytes: &[u8]) -> Option<Failure> {
    let text = String::from_utf8_lossy(bytes);
    let mut parts = text.splitn(3, '\0');
    let code: u8 = parts.next()?.parse().ok()?;
    let exit = LauncherExit::ALL.into_iter().find(|e| e.code() == code)?;
    Some(Failure::new(exit, parts.next()?, parts.next()?))
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

    /// The one call of the runtime's entry.
    #[allow(unsafe_code)] // The entry point: see the SAFETY line.
    fn call(self, action: u32, plan: &LaunchPlan, argv: &[OsString]) -> Result<(i32, sys::Replies), Failure> {
        let json = serde_json::to_vec(plan).map_err(|e| {
            Failure::new(LauncherExit::Runtime, format!("cannot encode the launch plan ({e})"), "report this as a bug")
        })?;
        // SAFETY: `self` was made by `load`, which opened libpython `RTLD_GLOBAL` before the
        // runtime, and cannot leave the thread that loaded it (not `Send`): `main::run`'s,
        // which the C `main` runs on the process's main thread.
        let called = unsafe { self.entry.call(action, FORMAT, &json, argv) };
        let (status, replies) = called.map_err(|refused| {
            let (what, hint) = match refused {
                sys::CallRefused::NulInArgument => {
                    ("cannot pass the arguments to CPython", "remove NUL bytes from the arguments")
                }
                sys::CallRefused::TooManyArguments => ("cannot pass the arguments to CPython", "pass fewer arguments"),
                sys::CallRefused::AlreadyCalled => ("cannot start CPython twice", "report this as a bug"),
            };
            Failure::new(LauncherExit::InterpreterStart, format!("{what}: {refused}"), hint)
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
                        format!(
                            "the served port's guard `{}` could not be loaded: {text}",
                            plan.paths.guard_dir.display()
                        ),
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
