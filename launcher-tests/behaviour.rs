//! Issue 2 §5: the launcher behaves as `python3 -m mlxk2.cli` (the bash launcher's command,
//! unbuffered like the launcher) in every situation of the comparison table:
//!
//! | case                              | fixture call                | expected (both)              |
//! |-----------------------------------|-----------------------------|------------------------------|
//! | `sys.exit(0)`                     | `exit 0`                    | 0                            |
//! | `sys.exit(3)`                     | `exit 3`                    | 3                            |
//! | `sys.exit(None)`                  | `exit none`                 | 0                            |
//! | `sys.exit("msg")`                 | `exit str:msg`              | 1, `msg` on stderr           |
//! | uncaught exception                | `raise`                     | 1, traceback                 |
//! | `return 5` from main              | `return 5`                  | 5 (console-script semantics) |
//! | KeyboardInterrupt                 | `interrupt`                 | killed by SIGINT             |
//! | SIGINT while running              | `sleep 30` + SIGINT         | killed by SIGINT             |
//! | SIGTERM, no Python handler        | `sleep 30` + SIGTERM        | killed by SIGTERM            |
//! | SIGTERM, Python handler           | `sleep 30 FILE` + SIGTERM   | 0, handler ran               |
//! | SIGHUP, no Python handler         | `sleep 30` + SIGHUP         | killed by SIGHUP             |
//! | asyncio signal handler            | `asyncio-signal` + SIGTERM  | 7, "got SIGTERM"             |
//! | output without trailing newline   | `write abc`                 | 0, `abc`                     |
//! | non-UTF-8 argument                | `args-hex` + 0xff byte arg  | surrogate-escaped, same bytes|
//! | stdout closed early (`head -c1`)  | `write a bbbb`              | 1, BrokenPipeError           |
//! | stdout is `/dev/full`             | `print x`                   | 1, OSError ENOSPC            |
//!
//! Tracebacks are compared without their frame lines: `-m` adds runpy frames the console-script
//! form does not have; the exception lines, exit status and stdout must be identical.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

#[derive(Clone, Copy, Debug)]
enum Situation {
    Plain,
    /// Send this signal once the fixture printed "ready".
    Signal(&'static str),
    /// Read one byte of stdout, then close it.
    HeadC1,
    /// stdout is /dev/full.
    DevFull,
}

#[derive(Debug, PartialEq)]
struct Observed {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

fn normalize_stderr(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("  ") && !l.trim().chars().all(|c| "^~ ".contains(c)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn observe(mut cmd: Command, args: &[OsString], situation: Situation) -> Observed {
    cmd.args(args).stderr(Stdio::piped());
    let mut stdout = String::new();
    let status = match situation {
        Situation::Plain => {
            let out = cmd.stdout(Stdio::piped()).output().unwrap();
            stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            return Observed {
                code: out.status.code(),
                signal: out.status.signal(),
                stdout,
                stderr: normalize_stderr(&String::from_utf8_lossy(&out.stderr)),
            };
        }
        Situation::Signal(sig) => {
            let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
            let mut out = child.stdout.take().unwrap();
            stdout.push_str(&String::from_utf8_lossy(&read_until(&mut out, b"ready\n", Duration::from_secs(30))));
            wait_blocked(child.id());
            run_ok(Command::new("kill").args([format!("-{sig}"), child.id().to_string()]));
            let mut rest = String::new();
            out.read_to_string(&mut rest).unwrap();
            stdout.push_str(&rest);
            let status = wait_timeout(&mut child, Duration::from_secs(30)).expect("no exit after the signal");
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return Observed { code: status.code(), signal: status.signal(), stdout, stderr: normalize_stderr(&err) };
        }
        Situation::HeadC1 => {
            let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
            let mut out = child.stdout.take().unwrap();
            let mut one = [0u8; 1];
            out.read_exact(&mut one).unwrap();
            stdout.push(one[0] as char);
            drop(out);
            let status = wait_timeout(&mut child, Duration::from_secs(30)).unwrap();
            (child, status)
        }
        Situation::DevFull => {
            let full = File::options().write(true).open("/dev/full").unwrap();
            let mut child = cmd.stdout(Stdio::from(full)).spawn().unwrap();
            let status = wait_timeout(&mut child, Duration::from_secs(30)).unwrap();
            (child, status)
        }
    };
    let (mut child, status) = status;
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    Observed { code: status.code(), signal: status.signal(), stdout, stderr: normalize_stderr(&err) }
}

fn compare(args: &[&str], situation: Situation) -> Observed {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    compare_os(&args, situation)
}

fn compare_os(args: &[OsString], situation: Situation) -> Observed {
    let b = base();
    let launcher = observe(b.launcher(), args, situation);
    let reference = observe(b.reference(), args, situation);
    assert_eq!(launcher, reference, "launcher vs python3 -m mlxk2.cli for {args:?} ({situation:?})");
    launcher
}

#[test]
fn exit_zero() {
    assert_eq!(compare(&["exit", "0"], Situation::Plain).code, Some(0));
}

#[test]
fn exit_three() {
    assert_eq!(compare(&["exit", "3"], Situation::Plain).code, Some(3));
}

#[test]
fn exit_none() {
    assert_eq!(compare(&["exit", "none"], Situation::Plain).code, Some(0));
}

#[test]
fn exit_message() {
    let o = compare(&["exit", "str:model not found"], Situation::Plain);
    assert_eq!((o.code, o.stderr.as_str()), (Some(1), "model not found"));
}

#[test]
fn uncaught_exception() {
    let o = compare(&["raise"], Situation::Plain);
    assert_eq!(o.code, Some(1));
    assert_eq!(o.stderr, "Traceback (most recent call last):\nRuntimeError: fixture failure");
}

#[test]
fn return_value_is_the_status() {
    assert_eq!(compare(&["return", "5"], Situation::Plain).code, Some(5));
}

#[test]
fn keyboard_interrupt_dies_by_sigint() {
    let o = compare(&["interrupt"], Situation::Plain);
    assert_eq!((o.code, o.signal), (None, Some(libc::SIGINT)));
}

#[test]
fn sigint_while_running() {
    let o = compare(&["sleep", "30"], Situation::Signal("INT"));
    assert_eq!(o.signal, Some(libc::SIGINT));
}

#[test]
fn sigterm_without_handler() {
    let o = compare(&["sleep", "30"], Situation::Signal("TERM"));
    assert_eq!((o.code, o.signal), (None, Some(libc::SIGTERM)));
}

#[test]
fn sighup_without_handler() {
    let o = compare(&["sleep", "30"], Situation::Signal("HUP"));
    assert_eq!(o.signal, Some(libc::SIGHUP));
}

#[test]
fn sigterm_with_python_handler() {
    let record = scratch("term-record").join("signals");
    let o = compare(&["sleep", "30", record.to_str().unwrap()], Situation::Signal("TERM"));
    assert_eq!(o.code, Some(0));
    assert_eq!(std::fs::read_to_string(&record).unwrap(), "SIGTERM\nSIGTERM\n", "one per run, two runs");
}

#[test]
fn asyncio_signal_handlers() {
    let o = compare(&["asyncio-signal"], Situation::Signal("TERM"));
    assert_eq!(o.code, Some(7));
    assert_eq!(o.stdout, "ready\ngot SIGTERM\n");
}

#[test]
fn output_without_trailing_newline() {
    assert_eq!(compare(&["write", "no newline"], Situation::Plain).stdout, "no newline");
}

#[test]
fn non_utf8_argument_arrives_byte_exact() {
    let arg = OsString::from_vec(b"caf\xe9-\xff \xe2\x9c\x93".to_vec());
    let o = compare_os(&[OsString::from("args-hex"), arg], Situation::Plain);
    assert_eq!(o.stdout, format!("{} 636166e92dff20e29c93\n", hex(b"args-hex")));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn stdout_closed_early() {
    let o = compare(&["write", "a", "bbbb"], Situation::HeadC1);
    assert_eq!(o.stdout, "a");
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("BrokenPipeError"), "{}", o.stderr);
}

#[test]
fn stdout_to_dev_full() {
    let o = compare(&["print", "x"], Situation::DevFull);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(o.stderr.contains("No space left on device"), "{}", o.stderr);
}
