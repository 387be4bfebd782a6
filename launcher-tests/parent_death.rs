//! Issue 2 §8: when the process that spawned the launcher dies, the launcher receives exactly
//! one SIGTERM (so mlx-knife stops its worker), unless `MLXK2_EXIT_WITH_PARENT=0`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// Starts `sh` which starts the launcher (`sleep 60 RECORD`) and waits; returns (sh, launcher pid).
fn spawn_under_shell(env: &[(&str, &str)], record: &std::path::Path) -> (std::process::Child, i32) {
    let b = base();
    let mut cmd = clean_command(std::path::Path::new("/bin/sh"));
    cmd.arg("-c").arg(r#""$0" sleep 60 "$1" & echo "pid $!"; wait"#).arg(b.exe()).arg(record).stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut sh = cmd.spawn().unwrap();
    let mut out = sh.stdout.take().unwrap();
    let seen = String::from_utf8_lossy(&read_until(&mut out, b"ready\n", Duration::from_secs(30))).into_owned();
    let pid = seen.lines().find_map(|l| l.strip_prefix("pid ")).map(|p| p.parse().unwrap());
    let pid = pid.expect("launcher pid");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (sh, pid)
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn parent_sigkill_delivers_exactly_one_sigterm() {
    let record = scratch("pdeath").join("signals");
    let (mut sh, launcher) = spawn_under_shell(&[], &record);
    sh.kill().unwrap(); // SIGKILL
    sh.wait().unwrap();
    assert!(wait_gone(launcher, Duration::from_secs(5)), "launcher {launcher} outlived its parent by 5 s");
    assert_eq!(std::fs::read_to_string(&record).unwrap_or_default(), "SIGTERM\n");
}

#[test]
fn exit_with_parent_can_be_turned_off() {
    let record = scratch("pdeath-off").join("signals");
    let (mut sh, launcher) = spawn_under_shell(&[("MLXK2_EXIT_WITH_PARENT", "0")], &record);
    sh.kill().unwrap();
    sh.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(pid_alive(launcher), "launcher exited although MLXK2_EXIT_WITH_PARENT=0");
    assert!(!record.exists());
    run_ok(Command::new("kill").args(["-KILL", &launcher.to_string()]));
    assert!(wait_gone(launcher, Duration::from_secs(5)));
}

#[test]
fn not_armed_when_the_parent_is_init() {
    // In a new PID namespace `sh` is PID 1: the launcher's parent is "init" there.
    let b = base();
    let r = run(clean_command(std::path::Path::new("unshare"))
        .args(["--pid", "--fork", "/bin/sh", "-c", r#""$0" --version; true"#])
        .arg(b.exe())
        .env("MLXK2_LAUNCHER_LOG", "debug"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr().contains("exit with parent: ParentIsInit"), "{}", r.stderr());
    let armed = run(b.launcher().arg("--version").env("MLXK2_LAUNCHER_LOG", "debug"));
    assert!(armed.stderr().contains("exit with parent: armed on pid"), "{}", armed.stderr());
}
