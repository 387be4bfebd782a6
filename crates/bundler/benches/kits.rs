//! Issue 25, item 6: what a packager's first macOS bundle costs, in one run, two ways.
//!
//! - **installed**: from an empty venv to a verified macOS arm64 bundle — `python -m venv`,
//!   `pip install` of the release's Linux wheel, `build-external-python --wheels-only
//!   --target-platform macosx_14_0_arm64 --project mlx-knife==2.0.8`, `verify` — with warm
//!   package caches (pip's, uv's; a warm-up round fills them). No compiler runs.
//! - **from source** (today's path before kits): a fresh clone of this commit with an empty
//!   `target/`, `cargo run --release -p msty-mlx-bundler -- --from-source …` (the bundler, then
//!   the launcher and runtime linked for macOS), `verify`.
//!
//! `MSTY_RELEASE_DIR=<release.sh OUT_DIR> cargo bench -p msty-mlx-bundler --bench kits`. Goal:
//! no compiler at all, and ≤ 60 s. Nothing is asserted: timings depend on the machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use msty_mlx_testkit::*;

fn main() {
    let release = std::env::var_os("MSTY_RELEASE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        eprintln!("kits bench: set MSTY_RELEASE_DIR to an OUT_DIR of `bash packaging/release.sh OUT_DIR`");
        std::process::exit(2);
    });
    let wheel = std::fs::read_dir(&release)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_x86_64.whl"))
        .expect("the release's Linux wheel");
    println!("kits bench: empty venv → verified macOS bundle, from the wheel vs from source (empty target/)");
    let warm = installed(&wheel, "warm-up");
    println!("  warm-up (fills pip's and uv's caches): {warm:.1} s");
    let ours = installed(&wheel, "installed");
    let source = from_source();
    println!(
        "installed (pip install of the wheel, kit, no compiler): {ours:.1} s (goal ≤ 60 s: {})",
        if ours <= 60.0 { "met" } else { "MISSED" }
    );
    println!("from source (fresh clone, empty target/, cargo + rust-lld): {source:.1} s");
    println!("ratio installed / from source: {:.3}", ours / source);
}

fn step(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn mac_args(cmd: &mut Command) -> &mut Command {
    cmd.args([
        "--quiet",
        "--clean",
        "--wheels-only",
        "--target-python-version",
        "3.12",
        "--target-platform",
        "macosx_14_0_arm64",
        "--project",
        "mlx-knife==2.0.8",
    ])
}

/// Seconds from an empty venv to a verified macOS bundle.
fn installed(wheel: &Path, name: &str) -> f64 {
    let dir = scratch(&format!("kits-bench-{name}"));
    let start = Instant::now();
    let venv = dir.join("venv");
    step("venv", Command::new(&host_python().executable).args(["-I", "-m", "venv"]).arg(&venv));
    step("pip install", pip(&venv.join("bin/python"), "install").arg("--no-index").arg(wheel));
    let bep = venv.join("bin/build-external-python");
    let path = format!("{}:/usr/bin:/bin", venv.join("bin").display());
    step("bundle", mac_args(Command::new(&bep).current_dir(&dir).env("PATH", &path)));
    step("verify", Command::new(&bep).arg("verify").arg(dir.join("dist-ext-python/msty-mlx-studio")));
    start.elapsed().as_secs_f64()
}

/// Seconds from a fresh clone (empty target/) to a verified macOS bundle built from source.
fn from_source() -> f64 {
    let dir = scratch("kits-bench-source");
    let clone = dir.join("clone");
    step("git clone", Command::new("git").args(["clone", "--quiet", "--no-hardlinks", REPO]).arg(&clone));
    let start = Instant::now();
    let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
    cmd.current_dir(&dir).arg("run").arg("--manifest-path").arg(clone.join("Cargo.toml"));
    cmd.args([
        "--release",
        "--locked",
        "--quiet",
        "-p",
        "msty-mlx-bundler",
        "--bin",
        "build-external-python",
        "--",
        "--from-source",
    ]);
    step("cargo run --from-source", mac_args(&mut cmd));
    let bep = clone.join("target/release/build-external-python");
    step("verify", Command::new(&bep).arg("verify").arg(dir.join("dist-ext-python/msty-mlx-studio")));
    start.elapsed().as_secs_f64()
}
