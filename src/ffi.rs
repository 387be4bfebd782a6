//! Every call across the C boundary, and the only module allowed `unsafe`.
//!
//! CPython's init API (`PyConfig`, `Py_InitializeFromConfig`, `Py_RunMain`), the loader
//! (`dladdr`), the process environment and the parent-death hooks. Each item is a thin safe
//! wrapper; the decisions (which settings, in which order, why) live in `interpreter`,
//! `libpython` and `parent`.

use std::ffi::{CStr, CString, OsStr, c_char, c_int, c_void};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use pyo3::ffi;

use crate::child_env::ChildEnv;

/// A failed CPython start-up step.
#[derive(Debug)]
pub enum StartError {
    /// CPython asked to exit with this code (e.g. `PyStatus_Exit`).
    Exit(c_int),
    /// CPython reported an error at `step`.
    Failed { step: &'static str, detail: String },
}

/// An owned `PyConfig`; `PyConfig_Clear` runs on drop.
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

    /// The integer fields. Pointer fields must only be set through [`Config::set_string`] and
    /// [`Config::set_argv`], which copy the value into CPython-owned memory.
    pub fn fields(&mut self) -> &mut ffi::PyConfig {
        &mut self.raw
    }

    /// Sets a string field from bytes, decoded as CPython decodes the command line.
    pub fn set_string(&mut self, field: ConfigString, value: &OsStr) -> Result<(), StartError> {
        let value = c_string(value, "PyConfig string")?;
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
    pub fn set_argv(&mut self, argv: &[impl AsRef<OsStr>]) -> Result<(), StartError> {
        let owned = argv
            .iter()
            .map(|a| c_string(a.as_ref(), "argv"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pointers: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: the config is live; `pointers` holds `len` valid NUL-terminated strings that
        // outlive the call (CPython copies them).
        let status = unsafe {
            ffi::PyConfig_SetBytesArgv(&mut *self.raw, pointers.len() as ffi::Py_ssize_t, pointers.as_mut_ptr())
        };
        check("PyConfig_SetBytesArgv", status)
    }

    /// `Py_InitializeFromConfig`. The config is cleared afterwards either way.
    pub fn initialize(mut self) -> Result<Interpreter, StartError> {
        // SAFETY: the config is live and initialized; CPython copies what it needs.
        let status = unsafe { ffi::Py_InitializeFromConfig(&mut *self.raw) };
        check("Py_InitializeFromConfig", status)?;
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

/// The running interpreter, on the main thread. `run_main` consumes it, so nothing can touch
/// CPython after it is finalized.
pub struct Interpreter {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Interpreter {
    /// `Py_RunMain`: runs the configured `run_command`, then finalizes. CPython handles
    /// `SystemExit`, tracebacks, flush failures (120) and an unhandled KeyboardInterrupt
    /// (re-raised as SIGINT) exactly as `python3` does.
    pub fn run_main(self) -> c_int {
        // SAFETY: initialized by `Config::initialize`, on this thread, with a run_command set
        // (without one Py_RunMain would start a REPL).
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

/// `Py_GetVersion()`, e.g. `3.11.7 (main, …)`. Callable before initialization.
pub fn python_version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy().into_owned()
}

/// The file the dynamic loader mapped libpython from (`dladdr` on a libpython symbol).
pub fn mapped_libpython() -> Option<PathBuf> {
    let symbol = ffi::Py_GetVersion as *const c_void;
    let mut info = MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `symbol` is a function address inside a loaded object; `info` is writable.
    let found = unsafe { libc::dladdr(symbol, info.as_mut_ptr()) };
    // SAFETY: zero-initialized, and filled in by dladdr when it returns non-zero.
    let info = unsafe { info.assume_init() };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader, valid while mapped.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
}

/// Rewrites the process environment (inherited by CPython's `os.environ` and all children).
pub fn apply_child_env(plan: &ChildEnv) {
    for name in &plan.remove {
        // SAFETY: called from main before CPython starts and before any thread exists; no
        // other code reads or writes the environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
    for (name, value) in &plan.set {
        // SAFETY: as above.
        unsafe { std::env::set_var(name, value) };
    }
}

/// The parent process id.
pub fn parent_pid() -> libc::pid_t {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// Sends SIGTERM to this process (handled by CPython's handler, or fatal before it exists).
pub fn raise_sigterm() {
    // SAFETY: kill on our own pid with a valid signal number.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
}

/// Linux: have the kernel send SIGTERM when the parent exits.
#[cfg(target_os = "linux")]
pub fn set_parent_death_signal() -> std::io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// macOS: a kqueue `EVFILT_PROC`/`NOTE_EXIT` watch on `parent`, served by one thread that
/// raises SIGTERM when the parent exits (macOS has no PR_SET_PDEATHSIG).
#[cfg(target_os = "macos")]
pub fn watch_parent_exit(parent: libc::pid_t) -> std::io::Result<()> {
    use std::io::Error;
    // SAFETY: kqueue has no preconditions.
    let kq = unsafe { libc::kqueue() };
    if kq < 0 {
        return Err(Error::last_os_error());
    }
    let change = libc::kevent {
        ident: parent as libc::uintptr_t,
        filter: libc::EVFILT_PROC,
        flags: libc::EV_ADD | libc::EV_ONESHOT,
        fflags: libc::NOTE_EXIT,
        data: 0,
        udata: std::ptr::null_mut(),
    };
    // SAFETY: one valid change record, no event buffer, no timeout.
    let rc = unsafe { libc::kevent(kq, &change, 1, std::ptr::null_mut(), 0, std::ptr::null()) };
    if rc < 0 {
        let err = Error::last_os_error();
        if err.raw_os_error() == Some(libc::ESRCH) {
            raise_sigterm(); // the parent is already gone
            return Ok(());
        }
        return Err(err);
    }
    std::thread::Builder::new().name("exit-with-parent".into()).spawn(move || {
        loop {
            let mut event = MaybeUninit::<libc::kevent>::zeroed();
            // SAFETY: waits for one event into a writable buffer; `kq` stays open for the
            // life of the process.
            let n = unsafe { libc::kevent(kq, std::ptr::null(), 0, event.as_mut_ptr(), 1, std::ptr::null()) };
            if n > 0 {
                raise_sigterm();
                return;
            }
            if n < 0 && Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return;
            }
        }
    })?;
    Ok(())
}

/// `uname()`: (machine, release, version), for PEP 508 markers.
pub fn uname() -> (String, String, String) {
    let mut raw = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: uname fills the struct it is given; zeroed memory keeps every field terminated.
    let rc = unsafe { libc::uname(raw.as_mut_ptr()) };
    // SAFETY: zero-initialized above and, on success, filled in by uname.
    let raw = unsafe { raw.assume_init() };
    if rc != 0 {
        return Default::default();
    }
    let field = |chars: &[libc::c_char]| {
        let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&raw.machine), field(&raw.release), field(&raw.version))
}
