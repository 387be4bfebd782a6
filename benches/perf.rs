//! The performance suite (issues 6, 10 and 12): P1–P7 on a real bundle (mlx-knife 2.0.8 + mlx[cpu] 0.32.0
//! vendored from the PyPI wheel cache, the release launcher, a relocated CPython). Every ratio
//! comes from one run with A and B alternating after warm-up.
//!
//! `cargo bench --bench perf [-- --runs N --serve-runs M] [-- --check]`; `--check` exits 1 when
//! a target is missed (run it on a quiet machine; CI does not); `-- --only P7` runs just the
//! 5 000-dist-info row (issue 12); `-- --only S` just the start-up rows against the physical
//! floor (issue 17: `/bin/true` and a Rust hello world), with `--baseline DIR` (a directory
//! holding another build's `msty-mlx-studio` and runtime) measured beside them in the same run.

#[path = "../launcher-tests/harness.rs"]
mod harness;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

#[path = "perf/startup.rs"]
mod startup;

pub(crate) struct Row {
    pub id: &'static str,
    pub what: String,
    pub a: f64,
    pub b: f64,
    pub unit: &'static str,
    pub target: Option<Target>,
}

/// What a row must meet.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// A/B ≤ x
    Ratio(f64),
    /// A−B ≤ x
    Difference(f64),
    /// A ≤ x
    AtMost(f64),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.iter().skip_while(|a| *a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(40);
    let check = args.iter().any(|a| a == "--check");
    // `--only P7`: just the 5 000-dist-info row (issue 12), without the serve rows.
    let only_p7 = args.windows(2).any(|w| w[0] == "--only" && w[1] == "P7");
    let serve_runs: usize = args
        .iter()
        .skip_while(|a| *a != "--serve-runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or((runs / 8).max(3));

    // A real bundle whose _vendor ships pycs (as the bundler makes it), and one without.
    let real = real_vendor();
    let with_pycs = compiled_copy(&real);
    let b = bundle_with_vendor("perf-pyc", &with_pycs);
    let fixture = base();
    run_ok(
        clean_command(&fixture.python3())
            .args(["-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"])
            .arg(fixture.vendor()),
    );
    let home = scratch("perf-home");

    let mut rows = Vec::new();
    if args.windows(2).any(|w| w[0] == "--only" && w[1] == "S") {
        let baseline = args.iter().skip_while(|a| *a != "--baseline").nth(1).map(PathBuf::from);
        startup::rows(&mut rows, runs.max(200), &b, &with_pycs, &home, baseline.as_deref());
        std::process::exit(if report(&rows) || !check { 0 } else { 1 });
    }
    println!(
        "performance suite, CPython {XY}, real _vendor with {} distributions, {runs} alternating runs ({serve_runs} for serve) after warm-up",
        count_dists(&real)
    );

    // P1: native answer vs importlib.metadata, in CPU time (issue 10: ≤ 0.03) and wall time
    // (≤ 1.5 ms median): libpython and the runtime are never loaded for it.
    let importlib = py_c(
        &b,
        &format!(
            "import sys, json; sys.path.insert(0, {v:?}); import importlib.metadata as m; d = m.distribution('mlx'); print(json.dumps({{'package': d.metadata['Name'], 'version': d.version}}))",
            v = b.vendor().to_str().unwrap()
        ),
    );
    let (wall, cpu) = alternate_cpu(runs, &mut b.launcher_in(&home, &["--mlx-info"]), &mut { importlib });
    rows.push(Row {
        id: "P1",
        what: "--mlx-info vs importlib.metadata, CPU time".into(),
        a: cpu.0,
        b: cpu.1,
        unit: "ms",
        target: Some(Target::Ratio(0.03)),
    });
    rows.push(Row {
        id: "P1w",
        what: "--mlx-info vs importlib.metadata, wall time".into(),
        a: wall.0,
        b: wall.1,
        unit: "ms",
        target: Some(Target::AtMost(1.5)),
    });

    // P7 (issue 12): the native flags with 5 000 more dist-infos in _vendor must stay under
    // 10 ms (wall-time median); B is the same flag on the real _vendor alone.
    let crowded = copy_dir(&real);
    add_dist_infos(&crowded, 5000);
    let big = bundle_with_vendor("perf-5000", &crowded);
    for (id, args) in [("P7", &["--mlx-info"][..]), ("P7p", &["--pkg-info", "mlx_lm"][..])] {
        let (a, bb) = alternate(runs, &mut big.launcher_in(&home, args), &mut b.launcher_in(&home, args));
        let what = format!("{}: {} vs {} distributions", args.join(" "), count_dists(&crowded), count_dists(&real));
        rows.push(Row { id, what, a, b: bb, unit: "ms", target: Some(Target::AtMost(10.0)) });
    }
    if only_p7 {
        std::process::exit(if report(&rows) || !check { 0 } else { 1 });
    }

    // P2/P3: --version through mlxk2.cli.main.
    let python_i = |bundle: &Bundle| {
        py_c(
            bundle,
            &format!(
                "import sys; sys.path[:0] = [{v:?}]; from mlxk2.cli import main; sys.exit(main())",
                v = bundle.vendor().to_str().unwrap()
            ),
        )
    };
    let (a, bb) = alternate(runs, &mut b.launcher_in(&home, &["--version"]), &mut with_arg(python_i(&b), "--version"));
    rows.push(Row {
        id: "P2",
        what: "--version: launcher vs python3 -I (real _vendor)".into(),
        a,
        b: bb,
        unit: "ms",
        target: Some(Target::Ratio(1.03)),
    });
    let bash = bash_launcher(&b);
    let (a, bb) = alternate(runs, &mut b.launcher_in(&home, &["--version"]), &mut with_arg(bash, "--version"));
    rows.push(Row {
        id: "P3",
        what: "--version: launcher vs bash launcher".into(),
        a,
        b: bb,
        unit: "ms",
        target: Some(Target::Ratio(0.90)),
    });
    let (a, bb) =
        alternate(runs, &mut fixture.launcher_in(&home, &["--version"]), &mut with_arg(python_i(fixture), "--version"));
    rows.push(Row {
        id: "P2f",
        what: "--version: launcher vs python3 -I (fixture _vendor)".into(),
        a,
        b: bb,
        unit: "ms",
        target: None,
    });

    // P4: serve time-to-ready.
    let (a, bb) = alternate_serve(
        serve_runs,
        || b.launcher_in(&home, &[]),
        || {
            let mut c = clean_command(&b.python3());
            c.args(["-m", "mlxk2.cli"]).env("PYTHONPATH", b.vendor()).env("PYTHONNOUSERSITE", "1").env("HOME", &home);
            c
        },
    );
    rows.push(Row {
        id: "P4",
        what: "serve ready: launcher vs python3 -m mlxk2.cli".into(),
        a,
        b: bb,
        unit: "ms",
        target: Some(Target::Ratio(1.00)),
    });

    // P5: read-only bundle vs the same bundle writable, second start.
    for (label, source) in [("shipped pycs", &with_pycs), ("no pycs: per-user cache", &real)] {
        let ro = bundle_with_vendor("perf-ro", &copy_dir(source));
        let rw = bundle_with_vendor("perf-rw", &copy_dir(source));
        run_ok(Command::new("chmod").args(["-R", "a-w"]).arg(ro.resources()));
        // First starts (fill the per-user cache where there is one), then measure.
        let _ = serve_ready(ro.launcher_in(&home, &[]));
        let _ = serve_ready(rw.launcher_in(&home, &[]));
        let (a, bb) = alternate_serve(serve_runs, || ro.launcher_in(&home, &[]), || rw.launcher_in(&home, &[]));
        run_ok(Command::new("chmod").args(["-R", "u+w"]).arg(ro.resources()));
        rows.push(Row {
            id: "P5",
            what: format!("serve ready, read-only vs writable 2nd start ({label})"),
            a,
            b: bb,
            unit: "ms",
            target: Some(Target::Ratio(1.05)),
        });
    }

    // P6: peak RSS of --version.
    let (a, bb) =
        (peak_rss(&b, b.launcher_in(&home, &["--version"])), peak_rss(&b, with_arg(python_i(&b), "--version")));
    rows.push(Row {
        id: "P6",
        what: "peak RSS of --version: launcher vs python3 -I".into(),
        a,
        b: bb,
        unit: "MiB",
        target: Some(Target::Difference(3.0)),
    });

    // Extras (no target): import of the MLX stack, launcher size.
    let (a, bb) = alternate(
        runs / 4 + 3,
        &mut b.launcher_in(&home, &["--check-mlx-stack"]),
        &mut py_c(
            &b,
            &format!("import sys; sys.path[:0] = [{v:?}]; import mlx.core, mlx_lm", v = b.vendor().to_str().unwrap()),
        ),
    );
    rows.push(Row {
        id: "X1",
        what: "import mlx.core+mlx_lm: --check-mlx-stack vs python3 -I".into(),
        a,
        b: bb,
        unit: "ms",
        target: None,
    });
    let stripped = scratch("strip").join("launcher");
    fs::copy(b.exe(), &stripped).unwrap();
    run_ok(Command::new("strip").arg(&stripped));
    println!(
        "X2 launcher binary: {:.2} MiB stripped ({:.2} MiB as built)",
        mib(fs::metadata(&stripped).unwrap().len()),
        mib(fs::metadata(b.exe()).unwrap().len())
    );
    let stripped = scratch("strip").join(RUNTIME_FILE);
    fs::copy(b.runtime(), &stripped).unwrap();
    run_ok(Command::new("strip").arg("--strip-unneeded").arg(&stripped));
    println!(
        "X3 runtime library: {:.2} MiB stripped ({:.2} MiB as built)",
        mib(fs::metadata(&stripped).unwrap().len()),
        mib(fs::metadata(b.runtime()).unwrap().len())
    );

    if !report(&rows) && check {
        std::process::exit(1);
    }
}

/// Prints the table; whether every target was met.
fn report(rows: &[Row]) -> bool {
    println!("{:<4} {:<62} {:>10} {:>10} {:>8} {:>10}", "id", "A vs B", "A", "B", "A/B", "target");
    let mut ok = true;
    for r in rows {
        let (value, shown, limit) = match r.target {
            Some(Target::Difference(t)) => (r.a - r.b, format!("{:+.2}", r.a - r.b), format!("≤+{t}")),
            Some(Target::AtMost(t)) => (r.a, format!("{:.3}", r.a / r.b), format!("A≤{t}")),
            Some(Target::Ratio(t)) => (r.a / r.b, format!("{:.3}", r.a / r.b), format!("≤{t}")),
            None => (0.0, format!("{:.3}", r.a / r.b), String::new()),
        };
        let verdict = match r.target {
            Some(Target::Ratio(t) | Target::Difference(t) | Target::AtMost(t)) if value <= t => format!("{limit} met"),
            Some(_) => {
                ok = false;
                format!("{limit} MISSED")
            }
            None => "-".into(),
        };
        println!(
            "{:<4} {:<62} {:>8.2}{} {:>8.2}{} {:>8} {:>10}",
            r.id,
            r.what,
            r.a,
            r.unit_short(),
            r.b,
            r.unit_short(),
            shown,
            verdict
        );
    }
    ok
}

impl Row {
    fn unit_short(&self) -> &'static str {
        if self.unit == "ms" { "ms" } else { "Mi" }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub(crate) trait LauncherIn {
    fn launcher_in(&self, home: &Path, args: &[&str]) -> Command;
}

impl LauncherIn for Bundle {
    /// The launcher with a fixed HOME (one per-user bytecode cache for the whole run).
    fn launcher_in(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = self.launcher();
        c.env("HOME", home).args(args);
        c
    }
}

fn count_dists(vendor: &Path) -> usize {
    fs::read_dir(vendor)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".dist-info"))
        .count()
}

fn copy_dir(from: &Path) -> PathBuf {
    let to = scratch("vendor-copy").join("_vendor");
    run_ok(Command::new("cp").arg("-a").arg(from).arg(&to));
    to
}

/// The real `_vendor` with unchecked hash-based pycs, as build-external-python ships it.
fn compiled_copy(real: &Path) -> PathBuf {
    let to = real.with_file_name(format!("{}-pyc", real.file_name().unwrap().to_string_lossy()));
    if !to.join(".complete").exists() {
        let _ = fs::remove_dir_all(&to);
        run_ok(Command::new("cp").arg("-a").arg(real).arg(&to));
        let _ = Command::new(&host_python().executable)
            .args(["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"])
            .arg(&to)
            .output();
        fs::write(to.join(".complete"), "").unwrap();
    }
    to
}

/// A copy of the fixture bundle whose `_vendor` is a symlink to `vendor`.
pub(crate) fn bundle_with_vendor(name: &str, vendor: &Path) -> Bundle {
    let b = Bundle::copy(name);
    fs::remove_dir_all(b.vendor()).unwrap();
    std::os::unix::fs::symlink(vendor, b.vendor()).unwrap();
    replace_file(LAUNCHER.as_ref(), &b.exe());
    replace_file(runtime(), &b.runtime());
    b
}

/// Puts a copy of `from` at `to`, a hard link into the base bundle: unlinked first, so that
/// the base (and every other copy) keeps its own file.
pub(crate) fn replace_file(from: &Path, to: &Path) {
    let _ = fs::remove_file(to);
    fs::copy(from, to).unwrap();
}

pub(crate) fn py_c(b: &Bundle, code: &str) -> Command {
    let mut c = clean_command(&b.python3());
    c.args(["-I", "-c", code]);
    c
}

pub(crate) fn with_arg(mut c: Command, arg: &str) -> Command {
    c.arg(arg);
    c
}

fn bash_launcher(b: &Bundle) -> Command {
    let script = scratch("bash-launcher").join("msty-mlx-studio.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/bash\nexport PYTHONPATH={:?}\nexport PYTHONNOUSERSITE=1\nexec {:?} -m mlxk2.cli \"$@\"\n",
            b.vendor(),
            b.python3()
        ),
    )
    .unwrap();
    let mut c = clean_command(Path::new("/bin/bash"));
    c.arg(script);
    c
}

fn time_once(cmd: &mut Command) -> f64 {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?} failed");
    start.elapsed().as_secs_f64() * 1e3
}

pub(crate) fn alternate(runs: usize, a: &mut Command, b: &mut Command) -> (f64, f64) {
    for _ in 0..5 {
        time_once(a);
        time_once(b);
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ta.push(time_once(a));
        tb.push(time_once(b));
    }
    (median(&mut ta), median(&mut tb))
}

/// Like `alternate`, also measuring each run's CPU time (user + system of the child):
/// ((wall A, wall B), (cpu A, cpu B)), medians in ms.
fn alternate_cpu(runs: usize, a: &mut Command, b: &mut Command) -> ((f64, f64), (f64, f64)) {
    let timed = |cmd: &mut Command| {
        let before = msty_mlx_studio::sys::children_cpu_time();
        let wall = time_once(cmd);
        (wall, (msty_mlx_studio::sys::children_cpu_time() - before).as_secs_f64() * 1e3)
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

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|x, y| x.partial_cmp(y).unwrap());
    v[v.len() / 2]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn health_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// Starts `serve` and returns the time until `/health` answers 200; then one SIGTERM.
fn serve_ready(mut cmd: Command) -> f64 {
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

fn alternate_serve(runs: usize, a: impl Fn() -> Command, b: impl Fn() -> Command) -> (f64, f64) {
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
