//! Start-up benchmark (issue 2): the launcher against the ways mlxk2 was started before, on the
//! fixture bundle the launcher tests use. Runs alternate A/B/C after a warm-up; medians and
//! ratios come from the same run. `cargo bench --bench startup [-- --runs N]`.

#[path = "../launcher-tests/harness.rs"]
mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

struct Case {
    name: &'static str,
    command: Command,
    samples: Vec<Duration>,
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let b = base();
    let vendor = b.vendor();
    // The launcher never writes bytecode, python3 would on its first run: give all three the
    // same shipped pycs, as the bundler does (hash-based, unchecked).
    run_ok(clean_command(&b.python3()).args(["-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"]).arg(&vendor));
    let bash_launcher = scratch("bench").join("msty-mlx-studio.sh");
    std::fs::write(
        &bash_launcher,
        format!(
            "#!/bin/bash\nSELF_DIR=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\nexport PYTHONPATH={vendor:?}\nexport PYTHONNOUSERSITE=1\nexec {python:?} -m mlxk2.cli \"$@\"\n",
            vendor = vendor,
            python = b.python3()
        ),
    )
    .unwrap();

    let mut launcher = b.launcher();
    launcher.arg("--version");
    let mut python_i = clean_command(&b.python3());
    python_i.args([
        "-I",
        "-c",
        &format!("import sys; sys.path[:0] = [{vendor:?}]; from mlxk2.cli import main; sys.exit(main())"),
        "--version",
    ]);
    let mut bash = clean_command(Path::new("/bin/bash"));
    bash.arg(&bash_launcher).arg("--version");

    let mut cases = [
        Case { name: "launcher --version", command: launcher, samples: vec![] },
        Case { name: "python3 -I -c main() --version", command: python_i, samples: vec![] },
        Case { name: "bash launcher --version", command: bash, samples: vec![] },
    ];
    for case in &mut cases {
        case.command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    for i in 0..(runs + 20) {
        for case in &mut cases {
            let start = Instant::now();
            let status = case.command.status().unwrap();
            let elapsed = start.elapsed();
            assert!(status.success(), "{} failed", case.name);
            if i >= 20 {
                case.samples.push(elapsed);
            }
        }
    }
    println!("startup, fixture bundle, CPython {XY}, {runs} alternating runs after 20 warm-up runs");
    println!("{:<34} {:>10} {:>10} {:>10}", "case", "median ms", "p10 ms", "p90 ms");
    let mut medians = Vec::new();
    for case in &mut cases {
        case.samples.sort();
        let ms = |q: f64| case.samples[((case.samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        println!("{:<34} {:>10.2} {:>10.2} {:>10.2}", case.name, ms(0.5), ms(0.1), ms(0.9));
        medians.push(ms(0.5));
    }
    println!("ratio launcher / python3 -I: {:.3}", medians[0] / medians[1]);
    println!("ratio launcher / bash launcher: {:.3}", medians[0] / medians[2]);
}
