//! Running processes: a clean environment with default signal dispositions, results to assert on, and waits on conditions instead of sleeps.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{poll, scratch};

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A command with only PATH, HOME and LANG from a known state, run in an empty directory, with
/// default signal dispositions — as libuv (Node, Electron) starts children, whatever this test
/// process inherited (a `nohup` or a background job ignores SIGHUP/SIGINT, and ignored signals
/// survive exec). `env` execs the program, so the pid is the program's.
pub fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/env");
    cmd.arg("--default-signal=HUP,INT,QUIT,TERM,PIPE").arg(program);
    let home = scratch("home");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .current_dir(&home)
        .stdin(Stdio::null());
    cmd
}

/// The output of a finished process, for assertions.
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout(), self.stderr()))
    }
    /// Asserts a launcher failure: the code, and exactly one line on stderr naming `needle`.
    pub fn assert_launcher_error(&self, code: i32, needle: &str) {
        let err = self.stderr();
        assert_eq!(self.code, Some(code), "stderr: {err}");
        assert_eq!(err.lines().count(), 1, "expected one line, got: {err}");
        assert!(err.starts_with("msty-mlx-studio: error: "), "{err}");
        assert!(err.contains(needle), "{needle:?} not in: {err}");
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout());
    }
}

pub fn run(cmd: &mut Command) -> Run {
    use std::os::unix::process::ExitStatusExt;
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    Run { code: out.status.code(), signal: out.status.signal(), stdout: out.stdout, stderr: out.stderr }
}

/// Reads from `reader` (a pipe) until `needle` appears; panics when it has not within
/// `timeout`, or at end of file. Each byte is read only once `poll(2)` says one is there, so a
/// silent writer cannot block the read past the deadline, and nothing after the needle is
/// consumed (the caller may go on reading).
pub fn read_until(reader: &mut (impl Read + AsFd), needle: &[u8], timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = !left.is_zero() && poll::readable(reader.as_fd(), left).unwrap_or_else(|e| panic!("poll: {e}"));
        assert!(
            ready,
            "timed out after {timeout:?} waiting for {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&seen)
        );
        match reader.read(&mut buf) {
            Ok(0) => {
                panic!("EOF before {:?}; got {:?}", String::from_utf8_lossy(needle), String::from_utf8_lossy(&seen))
            }
            Ok(_) => seen.push(buf[0]),
            Err(e) => panic!("read: {e}"),
        }
    }
    seen
}

/// Waits for a process to exit, up to `timeout`.
pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a process to exit, up to `timeout`, then collects its output; one still running
/// then is killed first. The status is `None` when it had to be killed.
pub fn output_within(mut child: std::process::Child, timeout: Duration) -> (Option<std::process::ExitStatus>, Output) {
    let status = wait_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
    }
    (status, child.wait_with_output().unwrap())
}

pub fn pid_alive(pid: i32) -> bool {
    // Zombies count as gone.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits until process `pid` sleeps in the kernel (state `S`: blocked in a read, a sleep, a
/// wait), so that a signal sent next finds it there.
pub fn wait_blocked(pid: u32) {
    let start = Instant::now();
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('S')) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "process {pid} never blocked: {stat}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sets `path`'s modification time far into the past, so that any rewrite shows (instead of
/// sleeping past the file system's timestamp granularity); returns the time set.
pub fn age(path: &Path) -> std::time::SystemTime {
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    old
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Fails (never skips) when the tests do not run as root; `why` says what needs it. CI runs as
/// root.
pub fn require_root(why: &str) {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
    assert_eq!(uid, Some("0"), "{why}: run the tests as root (CI does)");
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use super::read_until;

    /// A writer that stays silent: the deadline fires (a read blocked in the kernel would wait
    /// for the writer forever).
    #[test]
    fn read_until_fails_at_its_deadline_when_nothing_comes() {
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        writer.write_all(b"partial").unwrap();
        let start = Instant::now();
        let outcome = std::thread::spawn(move || read_until(&mut reader, b"ready", Duration::from_millis(300))).join();
        let message = *outcome.expect_err("read_until returned without its needle").downcast::<String>().unwrap();
        assert!(message.starts_with("timed out after 300ms waiting for \"ready\"; got \"partial\""), "{message}");
        assert!(start.elapsed() < Duration::from_secs(10), "the deadline fired late: {:?}", start.elapsed());
        drop(writer);
    }

    /// What follows the needle stays in the pipe for the caller.
    #[test]
    fn read_until_stops_at_the_needle() {
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        writer.write_all(b"one\ntwo\n").unwrap();
        drop(writer);
        assert_eq!(read_until(&mut reader, b"one\n", Duration::from_secs(10)), b"one\n");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        assert_eq!(rest, "two\n");
    }
}
