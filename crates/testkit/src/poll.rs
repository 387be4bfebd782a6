//! The test kit's one unsafe call: `poll(2)` on one descriptor, so that a wait for output can
//! end at a deadline instead of blocking in `read`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// Whether `fd` has something to read (data, end of file or an error) within `timeout`.
pub(crate) fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pollfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // Rounded up to whole milliseconds: a deadline never fires early.
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    loop {
        // SAFETY: `pollfd` is one initialised `struct pollfd` that lives across the call, and
        // nfds is 1; `fd` is a borrowed descriptor, open for the whole call.
        let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
        if ready >= 0 {
            return Ok(ready > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
