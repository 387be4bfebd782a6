//! stdout and stderr closed or full before the start.

use std::fs;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

use super::*;

/// stdout or stderr closed before the start (`>&-`): the same statuses and the same bytes on
/// the other stream as python3, with two intended differences. The launcher reopens a closed
/// 0/1/2 on `/dev/null` first thing (`sys::prepare_process`) (so no file the launcher or Python opens later can become
/// "stdout" or "stderr"); python3 instead sets `sys.stdout`/`sys.stderr` to `None`, so there
/// (1) `print(..., file=sys.stderr)` with stderr closed prints to **stdout** (`file=None`
/// means stdout), mixing text into what may be JSON, and (2) a direct `sys.stdout.write` with
/// stdout closed raises. The launcher drops both silently.
#[test]
fn stdout_or_stderr_closed_before_start() {
    let b = base();
    for redirect in ["1>&-", "2>&-"] {
        let launcher = |args: &[&str]| {
            let mut c = b.launcher();
            c.args(args);
            wrapped(&c, &format!("exec {redirect}"), false)
        };
        let reference = |args: &[&str]| {
            let mut c = b.reference();
            c.args(args);
            wrapped(&c, &format!("exec {redirect}"), false)
        };
        let l = normalised(observe_probes(&launcher));
        let mut r = normalised(observe_probes(&reference));
        let closed_is_empty = l.iter().all(|(_, o, e)| if redirect == "1>&-" { o.is_empty() } else { e.is_empty() });
        assert!(closed_is_empty, "{redirect}: output on a closed stream: {l:?}");
        if redirect == "2>&-" {
            // Difference (1): python3 prints stderr text on stdout.
            let i = PROBES.iter().position(|p| p[0] == "stderr").unwrap();
            assert_eq!(r[i].1, "to stderr\n", "python3 changed: update docs/testing.md, \"Faults\"");
            assert_eq!(l[i].1, "", "the launcher put stderr text on stdout");
            r[i].1.clear();
        }
        assert_eq!(l, r, "{redirect}");
        // The launcher's own failures still end with their code (the line goes nowhere).
        let mut broken = b.launcher();
        broken.env("RESOURCES_PATH", "relative");
        let f = run(&mut wrapped(&broken, &format!("exec {redirect}"), false));
        assert_eq!(f.code, Some(80), "{redirect}");
        if redirect == "1>&-" {
            assert!(f.stderr().starts_with("msty-mlx-studio: error: RESOURCES_PATH"), "{}", f.stderr());
        }
    }
    // Difference (2).
    let direct = |mut c: Command| run(&mut wrapped(c.args(["write", "x"]), "exec 1>&-", false));
    let l = direct(b.launcher());
    let r = direct(b.reference());
    assert_eq!((l.code, l.stderr()), (Some(0), String::new()), "the launcher's stdout is /dev/null");
    assert_eq!(r.code, Some(1));
    assert!(r.stderr().contains("'NoneType' object has no attribute 'write'"), "{}", r.stderr());
}

/// The kernel's name for where a process sleeps.
fn wchan(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// stdout or stderr a pipe that is full when the process starts (nobody reads yet): the
/// process blocks in its first write, exactly as python3 does, and once the reader drains the
/// pipe every byte arrives and the status is unchanged.
#[test]
fn a_full_pipe_before_start_blocks_then_delivers() {
    let b = base();
    for stream in [1, 2] {
        let mut results = Vec::new();
        for launcher in [true, false] {
            let (mut reader, writer) = std::io::pipe().unwrap();
            // Fill it with non-blocking writes from another process (O_NONBLOCK is restored
            // before it exits; the pipe description is shared with the process under test).
            let fill = "import fcntl, os, sys\nfd = 1\nfl = fcntl.fcntl(fd, fcntl.F_GETFL)\nfcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)\nn = 0\ntry:\n    while True:\n        n += os.write(fd, b'f' * 4096)\nexcept BlockingIOError:\n    pass\nfcntl.fcntl(fd, fcntl.F_SETFL, fl)\nprint(n, file=sys.stderr)\n";
            let filled = Command::new(&host_python().executable)
                .args(["-I", "-c", fill])
                .stdout(writer.try_clone().unwrap())
                .output()
                .unwrap();
            assert!(filled.status.success(), "{}", String::from_utf8_lossy(&filled.stderr));
            let filler: usize = String::from_utf8_lossy(&filled.stderr).trim().parse().unwrap();
            assert!(filler >= 4096);
            let mut cmd = if launcher { b.launcher() } else { b.reference() };
            let args: &[&str] =
                if stream == 1 { &["print", "after the filler"] } else { &["stderr", "after the filler"] };
            cmd.args(args);
            if stream == 1 {
                cmd.stdout(writer).stderr(Stdio::piped());
            } else {
                cmd.stderr(writer).stdout(Stdio::piped());
            }
            let mut child = cmd.spawn().unwrap();
            drop(cmd);
            // Blocked in the write, not failed, not spinning.
            let start = Instant::now();
            while !wchan(child.id()).contains("pipe_write") {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "stream {stream}, launcher {launcher}: exited without waiting for the reader"
                );
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "stream {stream}: never blocked in a pipe write (wchan {:?})",
                    wchan(child.id())
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            let mut all = Vec::new();
            reader.read_to_end(&mut all).unwrap();
            let status =
                wait_timeout(&mut child, Duration::from_secs(30)).expect("still running after the pipe was drained");
            let mut other = Vec::new();
            if stream == 1 {
                child.stderr.take().unwrap().read_to_end(&mut other).unwrap();
            } else {
                child.stdout.take().unwrap().read_to_end(&mut other).unwrap();
            }
            assert_eq!(all.len(), filler + "after the filler\n".len(), "stream {stream}, launcher {launcher}");
            assert!(all[..filler].iter().all(|&c| c == b'f'));
            results.push((
                status.code(),
                String::from_utf8_lossy(&all[filler..]).into_owned(),
                String::from_utf8_lossy(&other).into_owned(),
            ));
        }
        assert_eq!(results[0], (Some(0), "after the filler\n".to_string(), String::new()), "stream {stream}");
        assert_eq!(results[0], results[1], "stream {stream}: launcher vs python3");
    }
}
