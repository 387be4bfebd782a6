//! Native diagnostics against the Python-based answer (issue 3): `--mlx-info` and
//! `--pkg-info mlx_lm` on the real `_vendor` (mlx-knife + mlx[cpu] from PyPI, cached outside the
//! repo) versus `python3 -I -c` with importlib.metadata over the same `_vendor`. Alternating runs
//! after warm-up, medians and ratios from the same run.
//!
//! `cargo bench --bench diagnostics [-- --runs N] [-- --check]`: `--check` exits 1 when a target
//! is missed (median ≤ 3 ms and ≤ 1/25 of the Python answer).

#[path = "../launcher-tests/harness/mod.rs"]
mod harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.iter().skip_while(|a| *a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let check = args.iter().any(|a| a == "--check");
    let vendor = real_vendor();
    let dists = std::fs::read_dir(&vendor)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".dist-info"))
        .count();
    let b = Bundle::copy("bench-diag");
    std::fs::remove_dir_all(b.vendor()).unwrap();
    std::os::unix::fs::symlink(&vendor, b.vendor()).unwrap();

    let python_answer = |name: &str| {
        let mut cmd = clean_command(&b.python3());
        cmd.args(["-I", "-c", &format!(
            "import sys, json; sys.path.insert(0, {v:?}); import importlib.metadata as m; d = m.distribution({name:?}); \
             print(json.dumps({{'package': d.metadata['Name'], 'version': d.version, 'dist_info': str(d._path), 'requires_dist': d.requires}}))",
            v = vendor.to_str().unwrap()
        )]);
        cmd
    };
    let launcher = |args: &[&str]| {
        let mut cmd = b.launcher();
        cmd.args(args);
        cmd
    };
    let pairs = [
        ("--mlx-info", launcher(&["--mlx-info"]), python_answer("mlx")),
        ("--pkg-info mlx_lm", launcher(&["--pkg-info", "mlx_lm"]), python_answer("mlx_lm")),
    ];
    println!(
        "native diagnostics vs importlib.metadata, real _vendor ({dists} distributions), CPython {XY}, {runs} alternating runs after 20 warm-up"
    );
    println!("{:<20} {:>14} {:>14} {:>8}", "flag", "launcher ms", "python ms", "ratio");
    let mut ok = true;
    for (name, mut a, mut bcmd) in pairs {
        a.stdout(Stdio::null());
        bcmd.stdout(Stdio::null());
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for i in 0..runs + 20 {
            let da = time(&mut a);
            let db = time(&mut bcmd);
            if i >= 20 {
                ta.push(da);
                tb.push(db);
            }
        }
        let (ma, mb) = (median(&mut ta), median(&mut tb));
        let ratio = ma / mb;
        let pass = ma <= 3.0 && ratio <= 1.0 / 25.0;
        ok &= pass;
        println!(
            "{name:<20} {ma:>14.2} {mb:>14.2} {ratio:>8.3}  target ≤ 3 ms and ≤ 0.040: {}",
            if pass { "met" } else { "MISSED" }
        );
    }
    // What spawning alone costs from this process, for reading the figures above.
    let mut t = Command::new("/bin/true");
    let mut spawn: Vec<Duration> = (0..runs).map(|_| time(&mut t)).collect();
    println!("{:<20} {:>14.2}  (process spawn + exit, for reference)", "/bin/true", median(&mut spawn));
    if check && !ok {
        std::process::exit(1);
    }
}

fn time(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let status = cmd.status().unwrap();
    let elapsed = start.elapsed();
    assert!(status.success(), "{cmd:?} failed");
    elapsed
}

fn median(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}
