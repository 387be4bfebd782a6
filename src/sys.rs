//! Every call across the C boundary on the launcher's side, and the only module of this crate
//! whose code is `unsafe` throughout: the loader (`dlopen`/`dlsym`), the runtime's entry point,
//! the process environment, `fork`, signals, and the parent-death hooks. Each item is a thin
//! wrapper; the decisions (what to load, when, why) live in `stage2`, `parent` and `child_env`.
//! A wrapper whose soundness depends on its caller (what a loaded library is, whether other
//! threads exist) is an `unsafe fn` with a `# Safety` section; its callers (`main`, `stage2`,
//! `diagnostics`) call it in an `unsafe {}` that says why the contract holds there, each under
//! an `#[allow(unsafe_code)]` on that statement or function alone (the crate denies it).

use std::ffi::{CStr, CString, OsString, c_char, c_int, c_void};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::child_env::ChildEnv;
use msty_mlx_contract::abi;

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

impl RuntimeEntry {
    /// Calls the entry point on this thread; returns CPython's exit status and the replies the
    /// runtime sent.
    ///
    /// The runtime initializes CPython, which happens once per process: a second call is an
    /// `Err`, whichever entry it is made through.
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
    ) -> Result<(i32, Replies), String> {
        let owned = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "an argument contains a NUL byte".to_string())?;
        let mut pointers: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).collect();
        pointers.push(std::ptr::null());
        let argc = c_int::try_from(owned.len()).map_err(|_| "too many arguments".to_string())?;
        static CALLED: AtomicBool = AtomicBool::new(false);
        if CALLED.swap(true, Ordering::SeqCst) {
            return Err("the runtime's entry point was already called in this process".into());
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

/// What std's runtime set-up promises and the launcher (`#![no_main]`) keeps: file
/// descriptors 0–2 are open (a closed one is reopened on `/dev/null`, so that no file the
/// launcher opens later becomes its stdout), and SIGPIPE is ignored (a write to a closed pipe
/// is an `EPIPE` error, as in std programs and in CPython, which ignores it too).
pub fn prepare_process() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
    // SAFETY: `fds` is a valid array of three pollfd for the duration of the call.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled >= 0 {
        for _closed in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
            // SAFETY: a NUL-terminated path. The new descriptor is the lowest free one, which
            // is the closed one: lower descriptors are open or were reopened before it.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
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

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(c_int),
    Signaled(c_int),
}

/// Runs `work` in a child process (`fork`) and returns the bytes it produced and how the child
/// ended. The child ends with `_exit` right after (no atexit handlers, no stdio flush), so
/// nothing it did — libraries loaded and their initializers run, a crash — reaches this
/// process. A panic in `work` ends the child with status 101.
///
/// # Safety
///
/// This process has one thread. The child is a copy holding only the calling thread, and
/// `work` may take locks (malloc's, the dynamic loader's) that another thread held at the fork
/// and that nobody would release in the child.
pub unsafe fn in_child(work: impl FnOnce() -> Vec<u8>) -> std::io::Result<(Vec<u8>, ChildEnd)> {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array it is given.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: this process has one thread (the caller's word), so the child inherits no lock
    // held by a thread it does not have.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        drop(read);
        let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            Ok(bytes) => c_int::from(std::fs::File::from(write).write_all(&bytes).is_err()),
            Err(_) => 101,
        };
        // SAFETY: ends the child at once; nothing of it is meant to run after `work`.
        unsafe { libc::_exit(status) };
    }
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    drop(write);
    let mut output = Vec::new();
    let read_result = std::fs::File::from(read).read_to_end(&mut output);
    let mut status: c_int = 0;
    loop {
        // SAFETY: waits for our own child into a valid status word.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    read_result?;
    let end = if libc::WIFSIGNALED(status) {
        ChildEnd::Signaled(libc::WTERMSIG(status))
    } else {
        ChildEnd::Exited(libc::WEXITSTATUS(status))
    };
    Ok((output, end))
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

/// Ends the process by `signal` with its default action, as `python3` does after an unhandled
/// KeyboardInterrupt (so the parent sees "killed by SIGINT"). Returns only if that failed.
pub fn die_by_signal(signal: c_int) {
    // SAFETY: resetting a standard signal to SIG_DFL, unblocking it, and sending it to
    // ourselves have no memory-safety preconditions.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, set.as_ptr(), std::ptr::null_mut());
        libc::kill(libc::getpid(), signal);
    }
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
    spawn_without_signals("exit-with-parent", move || {
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

/// Spawns a helper thread that never takes a signal. Every signal is blocked in the calling
/// thread around `spawn`, so the new thread starts with all of them blocked — no window before
/// its first instruction — and the caller's mask is restored at once. A signal sent to the
/// process (the watcher's own SIGTERM, the app's `child.kill()`) then lands on the main
/// thread, where CPython runs its handlers and mlx-knife's supervisor sits in `waitpid`, which
/// the signal interrupts. Taken by a helper thread instead, it would wait until `waitpid`
/// returned by itself.
pub fn spawn_without_signals(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut all = MaybeUninit::<libc::sigset_t>::zeroed();
    let mut previous = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: sigfillset initialises the set it is given; pthread_sigmask reads that set and
    // writes the old mask into a valid buffer.
    let rc = unsafe {
        libc::sigfillset(all.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, all.as_ptr(), previous.as_mut_ptr())
    };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    let spawned = std::thread::Builder::new().name(name.into()).spawn(work);
    // SAFETY: restores the mask pthread_sigmask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous.as_ptr(), std::ptr::null_mut()) };
    spawned.map(drop)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard signals (1–31) the calling thread blocks.
    fn blocked_signals() -> Vec<c_int> {
        let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: with a null new set, pthread_sigmask only writes the current mask into `set`.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), set.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: `set` was filled in by pthread_sigmask; sigismember only reads it.
        (1..32).filter(|&signal| unsafe { libc::sigismember(set.as_ptr(), signal) } == 1).collect()
    }

    /// What the child produced and how it ended reach the parent; the child's own state does
    /// not (it ends with `_exit`).
    #[test]
    fn work_in_a_child_process() {
        let parent = std::process::id();
        // SAFETY: the test harness runs other tests on other threads, but the work here takes
        // no lock but malloc's, which glibc's and macOS's fork hold across the fork.
        let (out, end) = unsafe { in_child(|| std::process::id().to_string().into_bytes()) }.unwrap();
        assert_eq!(end, ChildEnd::Exited(0));
        assert_ne!(String::from_utf8(out).unwrap(), parent.to_string(), "ran in another process");
        let die = || {
            // SAFETY: raising a signal in the child has no memory-safety preconditions.
            unsafe { libc::raise(libc::SIGKILL) };
            Vec::new()
        };
        // SAFETY: as above.
        let (out, end) = unsafe { in_child(die) }.unwrap();
        assert_eq!((out, end), (Vec::new(), ChildEnd::Signaled(libc::SIGKILL)));
    }

    /// The exit-with-parent watcher (macOS) is spawned this way: it must block every signal
    /// from its first instruction, and leave the caller's mask as it was.
    #[test]
    fn a_helper_thread_takes_no_signal_and_the_caller_keeps_its_mask() {
        let before = blocked_signals();
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_without_signals("probe", move || tx.send(blocked_signals()).unwrap()).unwrap();
        let in_thread = rx.recv().unwrap();
        // SIGKILL and SIGSTOP cannot be blocked; every other standard signal is.
        let expected: Vec<c_int> = (1..32).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP).collect();
        assert_eq!(in_thread, expected);
        assert_eq!(blocked_signals(), before);
    }
}
