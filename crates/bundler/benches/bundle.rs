//! Issue 11, item 6: the bundler's whole build of the real stack (mlx-knife 2.0.8 + mlx[cpu]
//! 0.32.0 from the warm wheel cache, prebuilt launcher and runtime) against the seed's way in
//! the same run (`pip install --target` of the same requirements from the same cache, then
//! `compileall`). Targets: whole build ≤ 0.6 of the seed's way; the install step alone ≤ 5 s.
//!
//! The bundler runs twice per round: with its bytecode cache warm (a rebuild, the usual case
//! for a packager) and with an empty one (the first build on a machine; uv's cache stays warm).
//!
//! `cargo bench -p msty-mlx-bundler --bench bundle [-- --runs N]`: one warm-up of each, then N
//! (default 3) alternating rounds; medians are printed. Nothing is asserted: timings depend on
//! the machine.

// The bundler tests' harness: uv for PATH, the prebuilt launcher and runtime, the real stack.
#[path = "../tests/bundler/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use harness::*;

/// One build: (whole, install step) in seconds.
type Times = (f64, f64);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.iter().skip_while(|a| *a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(3);
    let wheels = real_wheel_cache();
    let launcher = test_kit();
    let python = &host_python().executable;
    println!(
        "bundle bench, CPython {XY}, {} wheels from `{}`, {runs} alternating runs after one warm-up each",
        count_wheels(&wheels),
        wheels.display()
    );

    let mut ours: Vec<Times> = Vec::new();
    let mut cold: Vec<Times> = Vec::new();
    let mut seed: Vec<Times> = Vec::new();
    for i in 0..=runs {
        let a = bundler_build(&wheels, launcher, python, false);
        let c = bundler_build(&wheels, launcher, python, true);
        let b = seed_build(&wheels, python);
        let label = if i == 0 { "warm-up".to_string() } else { format!("run {i}") };
        println!(
            "  {label}: bundler {:.1} s (install {:.1} s), with an empty bytecode cache {:.1} s (install {:.1} s), seed's way {:.1} s (pip install {:.1} s)",
            a.0, a.1, c.0, c.1, b.0, b.1
        );
        if i > 0 {
            ours.push(a);
            cold.push(c);
            seed.push(b);
        }
    }
    let (whole_a, install_a) = (median(ours.iter().map(|t| t.0)), median(ours.iter().map(|t| t.1)));
    let whole_c = median(cold.iter().map(|t| t.0));
    let (whole_b, install_b) = (median(seed.iter().map(|t| t.0)), median(seed.iter().map(|t| t.1)));
    println!(
        "whole build: bundler {whole_a:.1} s, seed's way (pip install --target + compileall) {whole_b:.1} s, ratio {:.2} (target ≤ 0.60: {})",
        whole_a / whole_b,
        verdict(whole_a / whole_b <= 0.6)
    );
    println!(
        "whole build with an empty bytecode cache: bundler {whole_c:.1} s, ratio {:.2} (target ≤ 0.60: {})",
        whole_c / whole_b,
        verdict(whole_c / whole_b <= 0.6)
    );
    println!(
        "install step: bundler (uv) {install_a:.1} s (target ≤ 5 s: {}), seed's pip install {install_b:.1} s, ratio {:.2}",
        verdict(install_a <= 5.0),
        install_a / install_b
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// The bundler, as a packager runs it, with the step headers read for the install step's time.
/// `cold`: an empty user cache (no bytecode cache), uv's own cache and uv itself as usual.
fn bundler_build(wheels: &Path, launcher: &Path, python: &Path, cold: bool) -> Times {
    let cwd = scratch("bench-bundle");
    fs::write(cwd.join("requirements.txt"), format!("{}\n", REAL_REQUIREMENTS[1..].join("\n"))).unwrap();
    let home = dirs::home_dir().unwrap();
    // The tests' command (PATH with uv and the interpreter, nothing else inherited) with the
    // user's own HOME: its bytecode cache is the packager's warm one.
    let mut cmd = bundler(&cwd);
    cmd.env("HOME", &home);
    if cold {
        cmd.env("XDG_CACHE_HOME", cwd.join("empty-cache")).env("UV_CACHE_DIR", dirs::cache_dir().unwrap().join("uv"));
    }
    let start = Instant::now();
    let out = cmd
        .args(["--project", REAL_REQUIREMENTS[0], "--requirements", "requirements.txt", "--python"])
        .arg(python)
        .arg("--pip-args")
        .arg(format!("--no-index --find-links {}", wheels.display()))
        .arg("--launcher-kit")
        .arg(launcher)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let whole = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bundler failed:\n{}{stderr}", String::from_utf8_lossy(&out.stdout));
    let _ = fs::remove_dir_all(&cwd);
    (whole, step_time(&stderr, "Installing mlxk2"))
}

/// Seconds from the step header starting with `name` to the next header.
fn step_time(stderr: &str, name: &str) -> f64 {
    let headers: Vec<(f64, &str)> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("==> ["))
        .filter_map(|l| l.split_once("s] "))
        .filter_map(|(t, rest)| Some((t.trim().parse().ok()?, rest)))
        .collect();
    let at = headers
        .iter()
        .position(|(_, h)| h.starts_with(name))
        .unwrap_or_else(|| panic!("no step {name:?} in:\n{stderr}"));
    headers.get(at + 1).map(|next| next.0).unwrap_or(f64::NAN) - headers[at].0
}

/// The seed's way: pip run by the interpreter into a --target directory, then compileall.
fn seed_build(wheels: &Path, python: &Path) -> Times {
    let dir = scratch("bench-seed");
    let vendor = dir.join("_vendor");
    let start = Instant::now();
    run_ok(
        pip(python, "install")
            .args(["--no-warn-script-location", "--no-compile", "--no-index", "--find-links"])
            .arg(wheels)
            .arg("--target")
            .arg(&vendor)
            .args(REAL_REQUIREMENTS)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    let install = start.elapsed().as_secs_f64();
    // compileall exits 1 for the odd file that does not compile; the bundler ignores that too.
    let _ = Command::new(python)
        .args(["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"])
        .arg(&vendor)
        .output()
        .unwrap();
    let whole = start.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&dir);
    (whole, install)
}

fn count_wheels(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "whl")))
        .count()
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
