//! The performance suite (issues 6, 10 and 12): P1–P7 on a real bundle (mlx-knife 2.0.8 + mlx[cpu] 0.32.0
//! vendored from the PyPI wheel cache, the release launcher, a relocated CPython). Every ratio
//! comes from one run with A and B alternating after warm-up.
//!
//! `cargo bench --bench perf [-- --runs N --serve-runs M] [-- --check]`; `--check` exits 1 when
//! a target is missed (run it on a quiet machine; CI does not); `-- --only P7` runs just the
//! 5 000-dist-info row (issue 12); `-- --only S` just the start-up rows against the physical
//! floor (issue 17: `/bin/true` and a Rust hello world), with `--baseline DIR` (a directory
//! holding another build's `msty-mlx-studio` and runtime) measured beside them in the same run.

#[path = "../launcher-tests/harness/mod.rs"]
mod harness;

use std::path::PathBuf;

use harness::*;

#[path = "perf/fixtures.rs"]
mod fixtures;
#[path = "perf/measure.rs"]
mod measure;
#[path = "perf/p_rows.rs"]
mod p_rows;
#[path = "perf/startup.rs"]
mod startup;

use fixtures::*;

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
    let value = |flag: &str| args.iter().skip_while(|a| *a != flag).nth(1);
    let runs: usize = value("--runs").and_then(|n| n.parse().ok()).unwrap_or(40);
    let serve_runs: usize = value("--serve-runs").and_then(|n| n.parse().ok()).unwrap_or((runs / 8).max(3));
    let check = args.iter().any(|a| a == "--check");
    let only = value("--only").map(String::as_str);

    // A real bundle whose _vendor ships pycs (as the bundler makes it), and one without.
    let real = real_vendor();
    let with_pycs = compiled_copy(&real);
    let b = bundle_with_vendor("perf-pyc", &with_pycs);
    let home = scratch("perf-home");
    let mut rows = Vec::new();
    match only {
        Some("S") => {
            let baseline = value("--baseline").map(PathBuf::from);
            startup::rows(&mut rows, runs.max(200), &b, &with_pycs, &home, baseline.as_deref());
        }
        // Just the 5 000-dist-info rows (issue 12), without the serve rows.
        Some("P7") => p_rows::p7(&mut rows, runs, &b, &real, &home),
        Some(other) => {
            eprintln!("perf: unknown --only `{other}`; use S or P7");
            std::process::exit(2);
        }
        None => {
            println!(
                "performance suite, CPython {XY}, real _vendor with {} distributions, {runs} alternating runs ({serve_runs} for serve) after warm-up",
                count_dists(&real)
            );
            let fixture = base();
            run_ok(
                clean_command(&fixture.python3())
                    .args(["-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"])
                    .arg(fixture.vendor()),
            );
            p_rows::p1(&mut rows, runs, &b, &home);
            p_rows::p7(&mut rows, runs, &b, &real, &home);
            p_rows::version(&mut rows, runs, &b, fixture, &home);
            p_rows::serve(
                &mut rows,
                serve_runs,
                &b,
                [("shipped pycs", &with_pycs), ("no pycs: per-user cache", &real)],
                &home,
            );
            p_rows::extras(&mut rows, runs, &b, &home);
        }
    }
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

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
