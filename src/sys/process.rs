//! The launcher's own process: the set-up std would have done, work in a forked child,
//! signals to itself, the parent-death hooks, `uname`. Part of `sys`, the crate's one `unsafe`
//! module.

use std::ffi::c_int;
use std::mem::MaybeUninit;

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

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(c_int),
    Signaled(c_int),
}

/// Runs `work` in a child process (`fork`) and returns the bytes it produced and how the child
/// ended. The child ends with `_exit` right after (no atexit handlers, no stdio flush), so
/// nothing it did — libraries loaded and their initializers run, a crash — reaches this
/// process. A panic in `work` ends the child: status 101, or SIGABRT where panics abort (the
/// release profile).
///
/// SIGCHLD has its default disposition while the child lives: a parent that ignores SIGCHLD
/// hands that on across `exec`, and then the kernel reaps the child itself and `waitpid` finds
/// none (`ECHILD`). The disposition found is restored before this returns (another thread
/// changing it meanwhile would be undone).
///
/// # Safety
///
/// Nothing `work` does may depend on a lock that another thread of this process held at the
/// fork: the child is a copy holding only the calling thread, and nobody would release it
/// there (the dynamic loader's, stdio's, a tracing subscriber's). With one thread in this
/// process — the launcher's case — anything goes; with more, `work` may only take locks that
/// `fork` itself makes safe (malloc's, in glibc and macOS's libSystem).
pub unsafe fn in_child(work: impl FnOnce() -> Vec<u8>) -> std::io::Result<(Vec<u8>, ChildEnd)> {
    let mut found = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into a valid buffer.
    if unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), found.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: filled in by the successful sigaction above.
    let found = unsafe { found.assume_init() };
    let mut default = found;
    default.sa_sigaction = libc::SIG_DFL;
    // SAFETY: a valid action: the one read above with only its handler changed.
    unsafe { libc::sigaction(libc::SIGCHLD, &default, std::ptr::null_mut()) };
    // SAFETY: the caller's contract, passed on.
    let ended = unsafe { fork_and_wait(work) };
    // SAFETY: restores the action read above.
    unsafe { libc::sigaction(libc::SIGCHLD, &found, std::ptr::null_mut()) };
    ended
}

/// [`in_child`] without the SIGCHLD set-up (with SIGCHLD ignored, it ends in `ECHILD`).
///
/// # Safety
///
/// As [`in_child`].
unsafe fn fork_and_wait(work: impl FnOnce() -> Vec<u8>) -> std::io::Result<(Vec<u8>, ChildEnd)> {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array it is given.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no lock `work` takes is held by another thread (the caller's word).
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
        // no lock but malloc's, which glibc's and macOS's fork make safe; no other test
        // changes SIGCHLD.
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

        // Started by a parent that ignores SIGCHLD (inherited across exec): the kernel would
        // reap the child itself and leave nothing to wait for. Here, in the only test of this
        // binary that starts processes, so that no other test's child is reaped meanwhile.
        let sigchld = |action: libc::sighandler_t| {
            // SAFETY: setting SIGCHLD to SIG_IGN or SIG_DFL has no memory-safety preconditions.
            unsafe { libc::signal(libc::SIGCHLD, action) }
        };
        sigchld(libc::SIG_IGN);
        // SAFETY: as above.
        let ended = unsafe { in_child(|| b"ok".to_vec()) };
        let after = sigchld(libc::SIG_DFL);
        assert_eq!(ended.unwrap(), (b"ok".to_vec(), ChildEnd::Exited(0)));
        assert_eq!(after, libc::SIG_IGN, "the caller's SIGCHLD disposition was not restored");
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
