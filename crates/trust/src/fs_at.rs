//! The trust walk's system calls, the crate's only `unsafe` code: `openat` without following
//! symlinks, `mkdirat`, `O_EXCL` file creation, `fstatat`, `unlinkat`, `geteuid`. Each wrapper
//! takes borrowed directory descriptors, so every name is resolved relative to a directory
//! already checked.

use std::ffi::{CString, c_int};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;

/// The effective user id (the owner every directory of the bytecode cache must have).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `openat(parent, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_PATH)`: a directory entry
/// opened without following a symlink (`ELOOP`) or accepting a non-directory (`ENOTDIR`), good
/// for `fstat` and as the directory of further `*at` calls. `O_PATH` (Linux) needs no read
/// permission (a root-owned `0711` directory on the way is fine); macOS opens `O_RDONLY`.
/// `parent` `None` opens `name` as a path (`/`, where a walk starts).
pub fn open_dir_nofollow(
    parent: Option<std::os::fd::BorrowedFd<'_>>,
    name: &std::ffi::OsStr,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let c_name = CString::new(name.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let dirfd = parent.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    // SAFETY: `c_name` is NUL-terminated and lives across the call; `dirfd` is an open
    // directory borrowed for the call (or AT_FDCWD); no mode argument without O_CREAT.
    let fd = unsafe {
        libc::openat(dirfd, c_name.as_ptr(), DIR_ACCESS | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

#[cfg(target_os = "linux")]
const DIR_ACCESS: c_int = libc::O_PATH;
#[cfg(not(target_os = "linux"))]
const DIR_ACCESS: c_int = libc::O_RDONLY;

/// `mkdirat(parent, name, mode)` (the umask may take bits away, never add them).
pub fn mkdir_at(parent: std::os::fd::BorrowedFd<'_>, name: &std::ffi::OsStr, mode: u16) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let c_name = CString::new(name.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c_name` is NUL-terminated and lives across the call; `parent` is an open
    // directory borrowed for the call.
    let rc = unsafe { libc::mkdirat(parent.as_raw_fd(), c_name.as_ptr(), libc::mode_t::from(mode)) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// `openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)`: a new
/// regular file, never an existing one or a symlink's target.
pub fn create_new_file_at(
    parent: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    mode: u16,
) -> std::io::Result<std::fs::File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let c_name = CString::new(name.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `c_name` is NUL-terminated and lives across the call; `parent` is an open
    // directory borrowed for the call; O_CREAT takes the mode as a variadic unsigned int.
    let fd = unsafe { libc::openat(parent.as_raw_fd(), c_name.as_ptr(), flags, libc::c_uint::from(mode)) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// What kind of entry `name` is, without following a symlink (`fstatat(..,
/// AT_SYMLINK_NOFOLLOW)`). `parent` `None` resolves `name` as a path.
pub fn entry_kind_at(
    parent: Option<std::os::fd::BorrowedFd<'_>>,
    name: &std::ffi::OsStr,
) -> std::io::Result<EntryKind> {
    use std::os::fd::AsRawFd;
    let c_name = CString::new(name.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let dirfd = parent.map_or(libc::AT_FDCWD, |fd| fd.as_raw_fd());
    let mut st = MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `c_name` is NUL-terminated; `st` is a writable stat buffer; `dirfd` is an open
    // directory borrowed for the call (or AT_FDCWD).
    let rc = unsafe { libc::fstatat(dirfd, c_name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: zero-initialized, and filled in by the successful fstatat.
    let st = unsafe { st.assume_init() };
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => EntryKind::File,
        libc::S_IFDIR => EntryKind::Directory,
        libc::S_IFLNK => EntryKind::Symlink,
        _ => EntryKind::Other,
    })
}

/// See [`entry_kind_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// `unlinkat(parent, name, 0)`.
pub fn unlink_at(parent: std::os::fd::BorrowedFd<'_>, name: &std::ffi::OsStr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let c_name = CString::new(name.as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c_name` is NUL-terminated; `parent` is an open directory borrowed for the call.
    let rc = unsafe { libc::unlinkat(parent.as_raw_fd(), c_name.as_ptr(), 0) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}
