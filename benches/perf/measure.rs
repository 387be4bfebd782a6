//! Measuring: alternating timed runs (wall and CPU time), serve time-to-ready, and peak RSS
//! from a tiny static spawner, so that neither side pays for the other's or the bench's pages.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

pub(crate) fn time_once(cmd: &mut Command) -> f64 {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?} failed");
    start.elapsed().as_secs_f64() * 1e3
}

pub(crate) fn alternate(runs: usize, a: &mut Command, b: &mut Command) -> (f64, f64) {
    let [ta, tb] = alternate_all(runs, [a, b]);
    (ta, tb)
}

/// Each command once in turn, `runs` times after 5 warm-up rounds: the medians, in order.
pub(crate) fn alternate_all<const N: usize>(runs: usize, mut cmds: [&mut Command; N]) -> [f64; N] {
    for _ in 0..5 {
        for cmd in cmds.iter_mut() {
            time_once(cmd);
        }
    }
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(runs));
    for _ in 0..runs {
        for (cmd, t) in cmds.iter_mut().zip(&mut times) {
            t.push(time_once(cmd));
        }
    }
    times.map(|mut t| median(&mut t))
}

/// Like `alternate`, also measuring each run's CPU time (user + system of the child):
/// ((wall A, wall B), (cpu A, cpu B)), medians in ms.
pub(crate) fn alternate_cpu(runs: usize, a: &mut Command, b: &mut Command) -> ((f64, f64), (f64, f64)) {
    let timed = |cmd: &mut Command| {
        let before = children_cpu_time();
        let wall = time_once(cmd);
        (wall, (children_cpu_time() - before).as_secs_f64() * 1e3)
    };
    for _ in 0..5 {
        timed(a);
        timed(b);
    }
    let (mut wa, mut wb, mut ca, mut cb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (w, c) = timed(a);
        wa.push(w);
        ca.push(c);
        let (w, c) = timed(b);
        wb.push(w);
        cb.push(c);
    }
    ((median(&mut wa), median(&mut wb)), (median(&mut ca), median(&mut cb)))
}

/// User + system CPU time of all waited-for children so far (`getrusage(RUSAGE_CHILDREN)`).
fn children_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; zeroed memory is a valid rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: filled in by getrusage.
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|x, y| x.partial_cmp(y).unwrap());
    v[v.len() / 2]
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn health_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// Starts `serve` and returns the time until `/health` answers 200; then one SIGTERM.
pub(crate) fn serve_ready(mut cmd: Command) -> f64 {
    let port = free_port();
    cmd.args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let mut child: Child = cmd.spawn().unwrap();
    while !health_ok(port) {
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        assert!(start.elapsed() < Duration::from_secs(120), "serve not ready in 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ready = start.elapsed().as_secs_f64() * 1e3;
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    child.wait().unwrap();
    ready
}

pub(crate) fn alternate_serve(runs: usize, a: impl Fn() -> Command, b: impl Fn() -> Command) -> (f64, f64) {
    serve_ready(a());
    serve_ready(b());
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ta.push(serve_ready(a()));
        tb.push(serve_ready(b()));
    }
    (median(&mut ta), median(&mut tb))
}

/// Peak RSS (MiB) of `cmd`, median of 7, measured by `perf/peak_rss.c` (vfork + wait4 from a
/// tiny static program, so that no spawner's pages are counted as the child's).
pub(crate) fn peak_rss(_b: &Bundle, cmd: Command) -> f64 {
    static HELPER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let helper = HELPER.get_or_init(|| {
        let exe = scratch("peak-rss").join("peak_rss");
        run_ok(
            Command::new("cc")
                .args(["-O2", "-static", "-o"])
                .arg(&exe)
                .arg(Path::new(REPO).join("benches/perf/peak_rss.c")),
        );
        exe
    });
    let mut samples = Vec::new();
    for _ in 0..7 {
        let mut w = Command::new(helper);
        w.arg(cmd.get_program()).args(cmd.get_args()).env_clear();
        w.envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
        if let Some(dir) = cmd.get_current_dir() {
            w.current_dir(dir);
        }
        let out = run_ok(&mut w);
        samples
            .push(String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().parse::<f64>().unwrap() / 1024.0);
    }
    median(&mut samples)
}
