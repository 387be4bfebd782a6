//! Start-up against the physical floor (issue 17): on the real bundle with shipped pycs, the
//! launcher's native answers against spawning `/bin/true` and a Rust hello world (what any Rust
//! process costs), `--version` against `python3 -I` running the same main, and peak RSS. One
//! spawner (this process) for both sides, runs alternating; `--baseline DIR` measures another
//! build's launcher and runtime on the same bundle in the same run (before → after).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::{LauncherIn, bundle_with_vendor, py_c, replace_file, with_arg};
use crate::harness::*;
use crate::measure::{alternate, peak_rss};
use crate::{Row, Target};

/// Appends the S rows: for this build, and for `baseline` when given.
pub fn rows(rows: &mut Vec<Row>, runs: usize, b: &Bundle, vendor: &Path, home: &Path, baseline: Option<&Path>) {
    let hello = hello_world();
    // The same environment for every side: the launcher's, as the harness sets it.
    let env: Vec<_> = b.launcher().get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect();
    let floor = || {
        let mut t = Command::new("/bin/true");
        t.env_clear().envs(env.clone());
        t
    };
    let hello = || {
        let mut h = Command::new(&hello);
        h.env_clear().envs(env.clone());
        h
    };
    let (a, t) = alternate(runs, &mut hello(), &mut floor());
    rows.push(Row { id: "S0", what: "floor: Rust hello world vs /bin/true".into(), a, b: t, unit: "ms", target: None });
    let (a, t) = (peak_rss(b, hello()), peak_rss(b, floor()));
    rows.push(Row {
        id: "S0m",
        what: "floor: peak RSS, Rust hello world vs /bin/true".into(),
        a,
        b: t,
        unit: "MiB",
        target: None,
    });

    let mut builds = vec![("", b)];
    let before;
    if let Some(dir) = baseline {
        before = bundle_with_vendor("perf-baseline", vendor);
        replace_file(&dir.join("msty-mlx-studio"), &before.exe());
        replace_file(&dir.join(RUNTIME_FILE), &before.runtime());
        builds.push((" [baseline]", &before));
    }
    let python_i = || {
        direct(py_c(
            b,
            &format!(
                "import sys; sys.path[:0] = [{v:?}]; from mlxk2.cli import main; sys.exit(main())",
                v = b.vendor().to_str().unwrap()
            ),
        ))
    };
    for (label, bundle) in &builds {
        build_rows(rows, runs, (label, bundle), b, home, &floor, &python_i);
    }
}

/// S1–S3m for one build of the launcher and runtime (`label` marks the baseline's rows);
/// peak RSS is measured through `sample`'s helper.
fn build_rows(
    rows: &mut Vec<Row>,
    runs: usize,
    (label, bundle): (&str, &Bundle),
    sample: &Bundle,
    home: &Path,
    floor: &dyn Fn() -> Command,
    python_i: &dyn Fn() -> Command,
) {
    let b = sample;
    let launcher = |bundle: &Bundle, args: &[&str]| direct(bundle.launcher_in(home, args));
    let (a, t) = alternate(runs, &mut launcher(bundle, &["--mlx-info"]), &mut floor());
    rows.push(Row {
        id: "S1",
        what: format!("--mlx-info vs /bin/true{label}"),
        a,
        b: t,
        unit: "ms",
        target: Some(Target::Ratio(1.3)),
    });
    let a = peak_rss(b, launcher(bundle, &["--mlx-info"]));
    rows.push(Row {
        id: "S1m",
        what: format!("peak RSS of --mlx-info (B: /bin/true){label}"),
        a,
        b: peak_rss(b, floor()),
        unit: "MiB",
        target: Some(Target::AtMost(2.5)),
    });
    let (a, t) = alternate(runs, &mut launcher(bundle, &["--python-info"]), &mut floor());
    rows.push(Row {
        id: "S2",
        what: format!("--python-info vs /bin/true{label}"),
        a,
        b: t,
        unit: "ms",
        target: Some(Target::Ratio(3.0)),
    });
    let (a, t) = alternate(runs, &mut launcher(bundle, &["--version"]), &mut with_arg(python_i(), "--version"));
    rows.push(Row {
        id: "S3",
        what: format!("--version vs python3 -I, same main{label}"),
        a,
        b: t,
        unit: "ms",
        target: Some(Target::Ratio(1.02)),
    });
    let a = peak_rss(b, launcher(bundle, &["--version"]));
    let t = peak_rss(b, with_arg(python_i(), "--version"));
    rows.push(Row {
        id: "S3m",
        what: format!("peak RSS of --version vs python3 -I{label}"),
        a,
        b: t,
        unit: "MiB",
        target: Some(Target::Difference(2.0)),
    });
}

/// A Rust hello world built like the launcher (release, stripped): the cost of any Rust
/// process, std's start-up included.
fn hello_world() -> PathBuf {
    let dir = scratch("hello");
    let source = dir.join("hello.rs");
    std::fs::write(&source, "fn main() { println!(\"hello\"); }\n").unwrap();
    let exe = dir.join("hello");
    run_ok(
        Command::new("rustc")
            .args(["--edition", "2024", "-C", "opt-level=3", "-C", "strip=symbols", "-C", "panic=abort", "-o"])
            .arg(&exe)
            .arg(&source),
    );
    exe
}

/// `cmd` without the harness's `/usr/bin/env --default-signal=… PROGRAM` wrapper (an exec
/// of its own, which would be counted on one side only): the program itself, with the same
/// arguments, environment and directory.
fn direct(cmd: Command) -> Command {
    let mut args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let program = if cmd.get_program() == "/usr/bin/env" {
        args.drain(..2).nth(1).unwrap()
    } else {
        cmd.get_program().to_owned()
    };
    let mut c = Command::new(program);
    c.args(args).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        c.current_dir(dir);
    }
    c
}
