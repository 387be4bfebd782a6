//! Every call across the C boundary in the runtime, and its only module allowed `unsafe`: the
//! exported entry points (see `msty_mlx_contract::abi`) and CPython's init API (`PyConfig`,
//! `Py_InitializeFromConfig`, `Py_RunMain`). Thin safe wrappers; the decisions live in `start`.

use std::ffi::{CStr, CString, OsStr, OsString, c_char, c_int, c_void};
use std::mem::MaybeUninit;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use msty_mlx_contract::abi::ReplyFn;
use msty_mlx_contract::plan::Isolation;
use pyo3::ffi;

/// `abi::StampFn`: the stamp, also readable in the file without loading it.
#[unsafe(no_mangle)]
pub extern "C" fn msty_mlx_runtime_stamp() -> *const c_char {
    crate::STAMP.as_ptr()
}

/// `abi::EntryFn`.
///
/// # Safety
/// `plan` points at `plan_len` readable bytes; `argv` at `argc` NUL-terminated strings; `reply`
/// is callable with `ctx` during this call. Must be called on the main thread, once, with the
/// home's libpython loaded `RTLD_GLOBAL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn msty_mlx_runtime_main(
    action: u32,
    plan_format: u32,
    plan: *const u8,
    plan_len: usize,
    argc: c_int,
    argv: *const *const c_char,
    reply: ReplyFn,
    ctx: *mut c_void,
) -> c_int {
    let plan = if plan.is_null() {
        &[][..]
    } else {
        // SAFETY: the caller passes `plan_len` readable bytes (function contract).
        unsafe { std::slice::from_raw_parts(plan, plan_len) }
    };
    let argv: Vec<OsString> = (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: `argv` holds `argc` valid NUL-terminated strings (function contract).
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    let mut send = |kind: u32, data: &[u8]| {
        // SAFETY: `reply` and `ctx` are valid for this call (function contract); `data` is
        // readable for its length during the callback.
        unsafe { reply(ctx, kind, data.as_ptr(), data.len()) }
    };
    crate::main_entry(action, plan_format, plan, &argv, &mut send)
}

/// Raises SIGINT in this process: CPython's C handler only marks it, and the main thread's
/// Python handler runs at its next bytecode boundary (`start::redeliver_lost_sigint`).
pub fn raise_sigint() {
    // SAFETY: raise(3) has no memory-safety preconditions; SIGINT's disposition decides the effect.
    unsafe { libc::raise(libc::SIGINT) };
}

// The exported entry points have exactly the signatures the launcher calls them with.
const _: msty_mlx_contract::abi::EntryFn = msty_mlx_runtime_main;
const _: msty_mlx_contract::abi::StampFn = msty_mlx_runtime_stamp;

/// A failed CPython start-up step.
#[derive(Debug)]
pub enum StartError {
    /// CPython asked to exit with this code (e.g. `PyStatus_Exit`).
    Exit(c_int),
    /// CPython reported an error at `step`.
    Failed { step: &'static str, detail: String },
    /// Start-up failed because a SIGINT arrived (a KeyboardInterrupt is pending).
    Interrupted(String),
}

/// An owned `PyConfig`; `PyConfig_Clear` runs on drop. Only integer fields are set directly
/// (`set_flags`); strings go through CPython's setters, which own what they allocate.
pub struct Config {
    raw: Box<ffi::PyConfig>,
}

/// The string fields the launcher sets.
#[derive(Clone, Copy, Debug)]
pub enum ConfigString {
    Home,
    Executable,
    RunCommand,
    PycachePrefix,
}

impl Config {
    /// `PyConfig_InitPythonConfig`: the regular (not "isolated") preset. The isolated preset
    /// leaves the locale unconfigured (ASCII stdio under C.UTF-8) and signal handlers off; the
    /// launcher isolates by explicit fields instead.
    pub fn python() -> Config {
        let mut raw: Box<MaybeUninit<ffi::PyConfig>> = Box::new(MaybeUninit::uninit());
        // SAFETY: PyConfig_InitPythonConfig fully initializes the struct it is given and needs
        // no initialized runtime.
        unsafe { ffi::PyConfig_InitPythonConfig(raw.as_mut_ptr()) };
        // SAFETY: initialized just above; MaybeUninit<T> has T's layout.
        let raw = unsafe { Box::from_raw(Box::into_raw(raw).cast::<ffi::PyConfig>()) };
        Config { raw }
    }

    /// The isolation settings (integer fields only; no pointer field is touched).
    pub fn set_flags(&mut self, isolation: &Isolation) {
        let c = &mut *self.raw;
        c.isolated = isolation.isolated.into();
        c.use_environment = isolation.use_environment.into();
        c.user_site_directory = isolation.user_site_directory.into();
        #[cfg(Py_3_11)]
        if let Some(safe_path) = isolation.safe_path {
            c.safe_path = safe_path.into();
        }
        c.parse_argv = isolation.parse_argv.into();
        c.install_signal_handlers = isolation.install_signal_handlers.into();
        c.write_bytecode = isolation.write_bytecode.into();
        c.buffered_stdio = isolation.buffered_stdio.into();
        c.pathconfig_warnings = isolation.pathconfig_warnings.into();
    }

    /// Sets a string field from bytes, decoded as CPython decodes the command line.
    pub fn set_string(&mut self, field: ConfigString, value: &OsStr) -> Result<(), StartError> {
        let value = c_string(value, field.step())?;
        let config: *mut ffi::PyConfig = &mut *self.raw;
        // SAFETY: `config` points at a live, initialized PyConfig; the field pointer is
        // derived from it; `value` is NUL-terminated and outlives the call (CPython copies it).
        let status = unsafe {
            let slot = match field {
                ConfigString::Home => &raw mut (*config).home,
                ConfigString::Executable => &raw mut (*config).executable,
                ConfigString::RunCommand => &raw mut (*config).run_command,
                ConfigString::PycachePrefix => &raw mut (*config).pycache_prefix,
            };
            ffi::PyConfig_SetBytesString(config, slot, value.as_ptr())
        };
        check(field.step(), status)
    }

    /// `sys.argv`, byte-exact: undecodable bytes become surrogate escapes, as in `python3`.
    pub fn set_argv(&mut self, argv: &[OsString]) -> Result<(), StartError> {
        let owned = argv.iter().map(|a| c_string(a, "argv")).collect::<Result<Vec<_>, _>>()?;
        let mut pointers: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: the config is live; `pointers` holds `len` valid NUL-terminated strings that
        // outlive the call (CPython copies them).
        let status = unsafe {
            ffi::PyConfig_SetBytesArgv(&mut *self.raw, pointers.len() as ffi::Py_ssize_t, pointers.as_mut_ptr())
        };
        check("PyConfig_SetBytesArgv", status)
    }

    /// `Py_InitializeFromConfig`. The config is cleared afterwards either way.
    pub fn initialize(self) -> Result<Interpreter, StartError> {
        // SAFETY: the config is live and initialized; CPython copies what it needs.
        let status = unsafe { ffi::Py_InitializeFromConfig(&*self.raw) };
        if let Err(error) = check("Py_InitializeFromConfig", status) {
            return Err(match keyboard_interrupt_pending() {
                true => StartError::Interrupted(format!("{error:?}")),
                false => error,
            });
        }
        Ok(Interpreter { _not_send: std::marker::PhantomData })
    }
}

impl ConfigString {
    fn step(self) -> &'static str {
        match self {
            ConfigString::Home => "PyConfig.home",
            ConfigString::Executable => "PyConfig.executable",
            ConfigString::RunCommand => "PyConfig.run_command",
            ConfigString::PycachePrefix => "PyConfig.pycache_prefix",
        }
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // SAFETY: the struct was initialized by PyConfig_InitPythonConfig; Clear frees the
        // strings CPython allocated and may be called once per init.
        unsafe { ffi::PyConfig_Clear(&mut *self.raw) }
    }
}

/// After a failed start: whether the failure is a KeyboardInterrupt raised by CPython's own
/// SIGINT handler (e.g. while `site` was being imported). Only asked when this thread has a
/// thread state; before that no Python exception can exist.
fn keyboard_interrupt_pending() -> bool {
    // SAFETY: PyThreadState_GetUnchecked only reads the current thread-state pointer (NULL
    // before the core is up) and never fails.
    if unsafe { ffi::compat::PyThreadState_GetUnchecked() }.is_null() {
        return false;
    }
    // SAFETY: this thread has a thread state and holds the GIL (the failed start never
    // released it); the exception type objects exist once a thread state does.
    unsafe { !ffi::PyErr_Occurred().is_null() && ffi::PyErr_ExceptionMatches(ffi::PyExc_KeyboardInterrupt) != 0 }
}

/// The running interpreter, on the main thread. `run_main` and `finalize` consume it, so
/// nothing can touch CPython after it is finalized.
pub struct Interpreter {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Interpreter {
    /// `Py_RunMain`: runs the configured `run_command`, then finalizes. CPython handles
    /// `SystemExit`, tracebacks, flush failures (120) and an unhandled KeyboardInterrupt
    /// (re-raised as SIGINT) exactly as `python3` does.
    pub fn run_main(self) -> c_int {
        // SAFETY: initialized by `Config::initialize`, on this thread, with a run_command set
        // (the only caller sets one; without it Py_RunMain would start a REPL).
        unsafe { ffi::Py_RunMain() }
    }

    /// `Py_FinalizeEx`, for modes that ran their own code instead of `run_main`.
    pub fn finalize(self) -> c_int {
        // SAFETY: initialized, not yet finalized (consumed here), called on the main thread.
        unsafe { ffi::Py_FinalizeEx() }
    }
}

fn check(step: &'static str, status: ffi::PyStatus) -> Result<(), StartError> {
    // SAFETY: PyStatus_* only inspect the value passed in.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { ffi::PyStatus_IsExit(status) } != 0 {
        return Err(StartError::Exit(status.exitcode));
    }
    let text = |p: *const c_char| {
        // SAFETY: CPython sets func/err_msg to static NUL-terminated strings or NULL.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let detail = match (text(status.func), text(status.err_msg)) {
        (Some(func), Some(msg)) => format!("{func}: {msg}"),
        (None, Some(msg)) => msg,
        (func, None) => func.unwrap_or_else(|| "unknown error".into()),
    };
    Err(StartError::Failed { step, detail })
}

fn c_string(value: &OsStr, what: &'static str) -> Result<CString, StartError> {
    CString::new(value.as_bytes()).map_err(|_| StartError::Failed {
        step: what,
        detail: format!("`{}` contains a NUL byte", value.to_string_lossy()),
    })
}
