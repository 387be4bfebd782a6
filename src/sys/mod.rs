//! Every call across the C boundary on the launcher's side, and the only module of this crate
//! whose code is `unsafe` throughout: here the loader (`dlopen`/`dlsym`), the runtime's entry
//! point and the process environment; in `process.rs` `fork`, signals and the parent-death hooks.
//! Each item is a thin wrapper; the decisions (what to load, when, why) live in `stage2`,
//! `parent` and `child_env`. A wrapper whose soundness depends on its caller (what a loaded
//! library is, whether other threads exist) is an `unsafe fn` with a `# Safety` section; its
//! callers (`main`, `stage2`, `diagnostics`) call it in an `unsafe {}` that says why the contract
//! holds there, each under an `#[allow(unsafe_code)]` on that statement or function alone (the
//! crate denies it).

use std::ffi::{CStr, CString, OsString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::child_env::ChildEnv;
use msty_mlx_contract::abi;

mod process;
pub use process::*;

// The loader flags are the target's own constants, never Linux's numbers on macOS (issue 19):
// macOS RTLD_GLOBAL is 0x8 and RTLD_LOCAL 0x4, glibc's are 0x100 and 0; RTLD_NOW is 0x2 on both.
// Checked wherever the launcher is compiled for that OS (the macOS gate links it for arm64).
#[cfg(target_os = "macos")]
const _: () = assert!(libc::RTLD_NOW == 0x2 && libc::RTLD_GLOBAL == 0x8 && libc::RTLD_LOCAL == 0x4);
#[cfg(target_os = "linux")]
const _: () = assert!(libc::RTLD_NOW == 0x2 && libc::RTLD_GLOBAL == 0x100 && libc::RTLD_LOCAL == 0);

/// A shared library loaded with `dlopen`. Never closed: CPython's code and data live in it for
/// the rest of the process.
pub struct Library {
    handle: *mut c_void,
    pub path: PathBuf,
}

impl Library {
    /// `dlopen(path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL))` by absolute path, so the
    /// loader's search path (a system libpython, `LD_LIBRARY_PATH`) never takes part. `Err` is
    /// the loader's own message.
    ///
    /// # Safety
    ///
    /// Loading runs the library's initializers in this process, and with `global` its symbols
    /// take part in resolving every library loaded after it. The caller vouches for the file:
    /// it is the library the caller means to run code from, named by a path only the bundle's
    /// owner controls, and its initializers are sound to run at this point.
    pub unsafe fn open(path: &Path, global: bool) -> Result<Library, String> {
        let c_path =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| "the path contains a NUL byte".to_string())?;
        let flags = libc::RTLD_NOW | if global { libc::RTLD_GLOBAL } else { libc::RTLD_LOCAL };
        // SAFETY: `c_path` is NUL-terminated and lives across the call; running the library's
        // initializers is what the caller vouched for.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), flags) };
        if handle.is_null() {
            return Err(last_dl_error());
        }
        Ok(Library { handle, path: path.to_path_buf() })
    }

    fn symbol(&self, name: &CStr) -> Result<*mut c_void, String> {
        // SAFETY: clears the thread's pending loader error, so the next dlerror() is ours.
        unsafe { libc::dlerror() };
        // SAFETY: `handle` came from a successful dlopen and is never closed; `name` is
        // NUL-terminated.
        let address = unsafe { libc::dlsym(self.handle, name.as_ptr()) };
        if address.is_null() {
            return Err(format!("no symbol `{}` ({})", name.to_string_lossy(), last_dl_error()));
        }
        Ok(address)
    }

    /// `Py_GetVersion()` of a loaded libpython (callable before initialization).
    ///
    /// # Safety
    ///
    /// `self` is a CPython 3 libpython, whose `Py_GetVersion` is `const char *(void)` and
    /// returns a static NUL-terminated string. Whatever another library exports under that
    /// name would be called through that type all the same.
    pub unsafe fn python_version(&self) -> Result<String, String> {
        let address = self.symbol(c"Py_GetVersion")?;
        // SAFETY: the address is `Py_GetVersion`'s, from dlsym, in a libpython (the caller's
        // word), where it has this signature in every CPython 3.x.
        let get_version: unsafe extern "C" fn() -> *const c_char = unsafe { std::mem::transmute(address) };
        // SAFETY: returns a pointer to a static NUL-terminated string.
        Ok(unsafe { CStr::from_ptr(get_version()) }.to_string_lossy().into_owned())
    }

    /// The runtime's stamp line, asked from the loaded library itself.
    ///
    /// # Safety
    ///
    /// `self` is a msty-mlx-studio runtime library (of any build or plan format): its
    /// `msty_mlx_runtime_stamp` is `abi::StampFn` and returns a static NUL-terminated string.
    pub unsafe fn runtime_stamp(&self) -> Result<String, String> {
        let address = self.symbol(abi::STAMP_SYMBOL)?;
        // SAFETY: the stamp function of a runtime (the caller's word) has `abi::StampFn`'s
        // signature in every plan format.
        let stamp: abi::StampFn = unsafe { std::mem::transmute(address) };
        // SAFETY: returns a pointer to a static NUL-terminated string.
        Ok(unsafe { CStr::from_ptr(stamp()) }.to_string_lossy().into_owned())
    }

    /// The runtime's entry point.
    ///
    /// # Safety
    ///
    /// `self` is a runtime whose own stamp ([`Library::runtime_stamp`], asked from the loaded
    /// library) names this launcher's plan format: only for that format is
    /// `msty_mlx_runtime_main` the `abi::EntryFn` this launcher calls, reading the plans it
    /// writes. The stamp string is the only evidence of the symbol's type: nothing else can
    /// check it.
    pub unsafe fn runtime_entry(&self) -> Result<RuntimeEntry, String> {
        let address = self.symbol(abi::ENTRY_SYMBOL)?;
        // SAFETY: the entry of a runtime stamped with this launcher's plan format (the caller's
        // word) has `abi::EntryFn`'s signature.
        Ok(RuntimeEntry { function: unsafe { std::mem::transmute::<*mut c_void, abi::EntryFn>(address) } })
    }
}

fn last_dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated, thread-local message.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown loader error".into();
    }
    // SAFETY: non-NULL, NUL-terminated, valid until the next dl* call on this thread.
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

/// The runtime's `msty_mlx_runtime_main`.
pub struct RuntimeEntry {
    function: abi::EntryFn,
}

/// What the runtime sent back during one call.
#[derive(Debug, Default)]
pub struct Replies(pub Vec<(u32, Vec<u8>)>);

/// Why [`RuntimeEntry::call`] did not call the entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallRefused {
    /// An argument holds a NUL byte, which a C string cannot carry.
    NulInArgument,
    /// More arguments than a C `int` counts.
    TooManyArguments,
    /// The entry point was already called in this process (CPython initializes once).
    AlreadyCalled,
}

impl std::fmt::Display for CallRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallRefused::NulInArgument => "an argument contains a NUL byte",
            CallRefused::TooManyArguments => "too many arguments",
            CallRefused::AlreadyCalled => "the runtime's entry point was already called in this process",
        })
    }
}

impl RuntimeEntry {
    /// Calls the entry point on this thread; returns CPython's exit status and the replies the
    /// runtime sent.
    ///
    /// The runtime initializes CPython, which happens once per process: a second call is
    /// refused ([`CallRefused::AlreadyCalled`]), whichever entry it is made through. Arguments
    /// that C cannot carry are refused before that, and do not use up the one call.
    ///
    /// # Safety
    ///
    /// The runtime runs CPython on the calling thread (`abi::EntryFn`'s contract): call it on
    /// the process's main thread, with the libpython the runtime was loaded against opened
    /// `RTLD_GLOBAL` before it (a [`Library`] is never closed, so it still is).
    pub unsafe fn call(
        &self,
        action: u32,
        plan_format: u32,
        plan: &[u8],
        argv: &[OsString],
    ) -> Result<(i32, Replies), CallRefused> {
        let owned = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| CallRefused::NulInArgument)?;
        let mut pointers: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
        pointers.push(std::ptr::null());
        let argc = c_int::try_from(owned.len()).map_err(|_| CallRefused::TooManyArguments)?;
        static CALLED: AtomicBool = AtomicBool::new(false);
        if CALLED.swap(true, Ordering::SeqCst) {
            return Err(CallRefused::AlreadyCalled);
        }
        let mut replies = Replies::default();
        // SAFETY: `plan` and the argv strings outlive the call (the runtime copies what it
        // keeps); `collect_reply` matches `abi::ReplyFn` and receives `&mut replies` as its
        // context, which lives across the call; the entry's signature is `abi::EntryFn`
        // (`runtime_entry`'s contract); the first call in this process (`CALLED`); thread and
        // libpython are the caller's word.
        let status = unsafe {
            (self.function)(
                action,
                plan_format,
                plan.as_ptr(),
                plan.len(),
                argc,
                pointers.as_ptr(),
                collect_reply,
                (&raw mut replies).cast::<c_void>(),
            )
        };
        Ok((status, replies))
    }
}

/// The `reply` callback: copies the data into the `Replies` behind `ctx`.
unsafe extern "C" fn collect_reply(ctx: *mut c_void, kind: u32, data: *const u8, len: usize) {
    // SAFETY: `ctx` is the `&mut Replies` passed by `RuntimeEntry::call`, alive for the call.
    let replies = unsafe { &mut *ctx.cast::<Replies>() };
    let bytes = if data.is_null() || len == 0 {
        Vec::new()
    } else {
        // SAFETY: the runtime passes `len` readable bytes at `data`, valid during this call.
        unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
    };
    replies.0.push((kind, bytes));
}

/// Rewrites the process environment (inherited by CPython's `os.environ` and all children).
///
/// # Safety
///
/// `std::env::set_var`'s: no other thread may read or write the environment meanwhile (a
/// `getenv` in another thread could read memory this frees). Call it while this is the
/// process's only thread — before exit-with-parent's watcher (macOS) and CPython start.
pub unsafe fn apply_child_env(plan: &ChildEnv) {
    for name in &plan.remove {
        // SAFETY: no other thread touches the environment (the caller's word).
        unsafe { std::env::remove_var(name) };
    }
    for (name, value) in &plan.set {
        // SAFETY: as above.
        unsafe { std::env::set_var(name, value) };
    }
}

/// Each call whose soundness is the caller's to ensure does not compile outside `unsafe`
/// (E0133): the contracts above cannot be skipped by accident. `cargo test --doc`
/// (run-all.sh) compiles each of these and expects it to fail — stable rustdoc does not check
/// the error code, so the last block makes the same calls inside `unsafe` and must compile.
///
/// ```compile_fail,E0133
/// let _ = msty_mlx_studio::sys::Library::open(std::path::Path::new("/lib/libpython3.11.so"), true);
/// ```
/// ```compile_fail,E0133
/// fn f(libpython: &msty_mlx_studio::sys::Library) -> Result<String, String> {
///     libpython.python_version()
/// }
/// ```
/// ```compile_fail,E0133
/// fn f(runtime: &msty_mlx_studio::sys::Library) -> Result<String, String> {
///     runtime.runtime_stamp()
/// }
/// ```
/// ```compile_fail,E0133
/// fn f(runtime: &msty_mlx_studio::sys::Library) -> Result<msty_mlx_studio::sys::RuntimeEntry, String> {
///     runtime.runtime_entry()
/// }
/// ```
/// ```compile_fail,E0133
/// fn f(entry: &msty_mlx_studio::sys::RuntimeEntry) {
///     let _ = entry.call(1, 2, b"{}", &[]);
/// }
/// ```
/// ```compile_fail,E0133
/// msty_mlx_studio::sys::apply_child_env(&Default::default());
/// ```
/// ```compile_fail,E0133
/// let _ = msty_mlx_studio::sys::in_child(Vec::new);
/// ```
/// ```no_run
/// use msty_mlx_studio::sys::{self, Library, RuntimeEntry};
/// fn f(library: &Library, entry: &RuntimeEntry) {
///     // SAFETY: never run (a compile check).
///     unsafe {
///         let _ = Library::open(std::path::Path::new("/lib/libpython3.11.so"), true);
///         let _ = (library.python_version(), library.runtime_stamp(), library.runtime_entry());
///         let _ = entry.call(1, 2, b"{}", &[]);
///         sys::apply_child_env(&Default::default());
///         let _ = sys::in_child(Vec::new);
///     }
/// }
/// ```
#[cfg(doctest)]
pub struct CallersStateTheInvariant;

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    /// The guard of the one call: arguments C cannot carry are refused without using it up;
    /// the first call goes through (its replies collected); every later one is refused, through
    /// any entry. The entry here is a stand-in with `abi::EntryFn`'s signature: the real one
    /// starts CPython, which the launcher tests drive in their own processes.
    #[test]
    fn the_runtime_entry_is_called_once_per_process() {
        use std::sync::atomic::AtomicU32;
        static CALLS: AtomicU32 = AtomicU32::new(0);
        unsafe extern "C" fn entry(
            _action: u32,
            _format: u32,
            _plan: *const u8,
            _len: usize,
            argc: c_int,
            _argv: *const *const c_char,
            reply: abi::ReplyFn,
            ctx: *mut c_void,
        ) -> c_int {
            CALLS.fetch_add(1, Ordering::SeqCst);
            // SAFETY: `reply` and `ctx` are the ones `RuntimeEntry::call` passed; the data is
            // two readable bytes.
            unsafe { reply(ctx, 7, b"hi".as_ptr(), 2) };
            argc
        }
        let (first, second) = (RuntimeEntry { function: entry }, RuntimeEntry { function: entry });
        let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        // SAFETY: the stand-in touches nothing but its reply callback and a counter.
        let call = |e: &RuntimeEntry, args: &[OsString]| unsafe { e.call(1, 2, b"{}", args) };
        let nul = vec![OsString::from_vec(b"a\0b".to_vec())];
        assert_eq!(call(&first, &nul).unwrap_err(), CallRefused::NulInArgument);
        let (status, replies) = call(&first, &argv(&["msty-mlx-studio", "serve"])).unwrap();
        assert_eq!((status, replies.0), (2, vec![(7, b"hi".to_vec())]));
        assert_eq!(call(&first, &argv(&["x"])).unwrap_err(), CallRefused::AlreadyCalled);
        assert_eq!(call(&second, &argv(&["x"])).unwrap_err(), CallRefused::AlreadyCalled);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }
}
