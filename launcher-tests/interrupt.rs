//! A start interrupted by SIGINT (Ctrl-C, an app quitting early) ends as an interruption —
//! death by SIGINT, like `python3` — never as a broken bundle (86), whatever phase it hits:
//! before CPython installs its handler, while `site` is imported inside
//! `Py_InitializeFromConfig`, while `_vendor` is added, or while mlxk2 imports.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::harness::*;

/// A copy whose interpreter sleeps `seconds` inside `site` (a `.pth` in the stdlib's
/// site-packages, processed during `Py_InitializeFromConfig`), so a signal lands there.
fn slow_site(name: &str, seconds: f64) -> Bundle {
    let b = Bundle::copy(name);
    let site_packages = b.home().join(format!("lib/python{XY}/site-packages"));
    fs::write(site_packages.join("slow_start.pth"), format!("import time; time.sleep({seconds})\n")).unwrap();
    b
}

fn interrupt_after(cmd: &mut std::process::Command, delay: Duration) -> (Option<i32>, Option<i32>, String) {
    // The command is `env --default-signal=… program`: until env has exec'd the program, a
    // SIGINT meets whatever disposition this test inherited — ignored, in a background job —
    // and is lost (seen once: "after 0ns: Some(0) None"). The delays count from the exec.
    let program = fs::canonicalize(cmd.get_args().nth(1).expect("clean_command's program")).unwrap();
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let exe = format!("/proc/{}/exe", child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fs::read_link(&exe).is_ok_and(|target| target != program) {
        assert!(std::time::Instant::now() < deadline, "env did not exec {} within 10 s", program.display());
        std::thread::yield_now();
    }
    std::thread::sleep(delay);
    run_ok(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    (out.status.code(), out.status.signal(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn sigint_inside_site_import_is_an_interruption_not_a_broken_bundle() {
    let b = slow_site("sigint-site", 3.0);
    let (code, signal, stderr) = interrupt_after(b.launcher().arg("--version"), Duration::from_millis(800));
    assert_eq!((code, signal), (None, Some(libc::SIGINT)), "stderr: {stderr}");
    assert!(!stderr.contains("msty-mlx-studio: error"), "{stderr}");
    // The same moment under `python3 -m mlxk2.cli`: CPython's own fatal start-up error.
    let (code, _, stderr) = interrupt_after(b.reference().arg("--version"), Duration::from_millis(800));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("init_import_site"), "{stderr}");
}

/// Once CPython runs mlxk2, the interruption is CPython's own: death by SIGINT after the
/// traceback, or (3.13, in some windows of `Py_RunMain`) status 1 with the KeyboardInterrupt
/// traceback — exactly what `python3` does there. Never a launcher error, never another status.
#[test]
fn sigint_at_any_moment_of_the_start_ends_as_an_interruption() {
    let b = base();
    for step in 0..24u64 {
        let delay = Duration::from_micros(step * 2_500); // 0–57.5 ms: exec, loading, init, imports
        let (code, signal, stderr) = interrupt_after(b.launcher().arg("sleep").arg("5"), delay);
        let by_signal = (code, signal) == (None, Some(libc::SIGINT));
        let by_traceback =
            code == Some(1) && stderr.trim_end().lines().last().is_some_and(|l| l.starts_with("KeyboardInterrupt"));
        assert!(by_signal || by_traceback, "after {delay:?}: {code:?} {signal:?} {stderr}");
        assert!(!stderr.contains("msty-mlx-studio: error"), "after {delay:?}: {stderr}");
    }
}

/// Issue 12 (found by the chaos storm's reasoning, cpython#95959): a SIGINT whose
/// KeyboardInterrupt CPython drops ("Exception ignored" inside a weakref callback, as while
/// mlxk2 imports) must still stop the launcher; `python3 -m mlxk2.cli` loses it and carries on.
#[test]
fn a_sigint_cpython_drops_in_a_callback_still_stops_the_launcher() {
    let b = base();
    let r = run(b.launcher().args(["lost-sigint", "5"]));
    assert_eq!((r.code, r.signal), (None, Some(libc::SIGINT)), "stdout: {}\nstderr: {}", r.stdout(), r.stderr());
    assert!(r.stderr().contains("Exception ignored"), "CPython's own report is kept: {}", r.stderr());
    assert!(!r.stdout().contains("survived"), "{}", r.stdout());
    // The same under python3: CPython drops the interrupt and the program runs on.
    let r = run(b.reference().args(["lost-sigint", "0.1"]));
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr());
    assert!(
        r.stdout().contains("survived") && r.stderr().contains("Exception ignored"),
        "{}{}",
        r.stdout(),
        r.stderr()
    );
}
