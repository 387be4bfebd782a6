//! Start-up against the physical floor (issues 17, 27): on the real bundle with shipped pycs,
//! the launcher's native answers against spawning `/bin/true`, a Rust hello world (what any
//! Rust process costs, std's `lang_start` included) and the floor a launcher-shaped Rust
//! process cannot go below (a C `main`, built like the launcher, reading one file and printing
//! it); `--version` against `python3 -I` running the same main, and peak RSS. One spawner
//! (this process) for every side, runs alternating; `--baseline DIR` measures another build's
//! launcher and runtime on the same bundle in the same run (before → after).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::{LauncherIn, bundle_with_vendor, py_c, replace_file, with_arg};
use crate::harness::*;
use crate::measure::{alternate, alternate_all, peak_rss};
use crate::{Row, Target};

/// Appends the S rows: for this build, and for `baseline` when given.
pub fn rows(rows: &mut Vec<Row>, runs: usize, b: &Bundle, vendor: &Path, home: &Path, baseline: Option<&Path>) {
    let hello = hello_world();
    let floor_exe = c_main_floor();
    // The file `--mlx-info` reads most of: mlx's METADATA.
    let metadata = fs::read_dir(b.vendor())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("mlx-"))
        .expect("mlx's dist-info")
        .join("METADATA");
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
    let c_main = || {
        let mut f = Command::new(&floor_exe);
        f.arg(&metadata).env_clear().envs(env.clone());
        f
    };
    let [a, c, t] = alternate_all(runs, [&mut hello(), &mut c_main(), &mut floor()]);
    rows.push(Row { id: "S0", what: "floor: Rust hello world vs /bin/true".into(), a, b: t, unit: "ms", target: None });
    rows.push(Row {
        id: "S0c",
        what: "floor: C-main Rust reading one file vs /bin/true".into(),
        a: c,
        b: t,
        unit: "ms",
        target: None,
    });
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
    let floors = Floors { true_: &floor, c_main: &c_main };
    for (label, bundle) in &builds {
        build_rows(rows, runs, (label, bundle), b, home, &floors, &python_i);
    }
}

/// The two processes the native answers are measured against.
struct Floors<'a> {
    /// `/bin/true`.
    true_: &'a dyn Fn() -> Command,
    /// The C-`main` Rust binary reading one file.
    c_main: &'a dyn Fn() -> Command,
}

/// S1–S3m for one build of the launcher and runtime (`label` marks the baseline's rows);
/// peak RSS is measured through `sample`'s helper.
fn build_rows(
    rows: &mut Vec<Row>,
    runs: usize,
    (label, bundle): (&str, &Bundle),
    sample: &Bundle,
    home: &Path,
    floors: &Floors,
    python_i: &dyn Fn() -> Command,
) {
    let b = sample;
    let floor = floors.true_;
    let launcher = |bundle: &Bundle, args: &[&str]| direct(bundle.launcher_in(home, args));
    let [a, t, c] = alternate_all(runs, [&mut launcher(bundle, &["--mlx-info"]), &mut floor(), &mut (floors.c_main)()]);
    rows.push(Row {
        id: "S1",
        what: format!("--mlx-info vs /bin/true{label}"),
        a,
        b: t,
        unit: "ms",
        target: Some(Target::Ratio(1.3)),
    });
    rows.push(Row {
        id: "S1c",
        what: format!("--mlx-info vs the C-main floor (same runs){label}"),
        a,
        b: c,
        unit: "ms",
        target: Some(Target::Ratio(1.2)),
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

/// The floor of a launcher-shaped Rust process (issue 27): a C `main` instead of std's
/// `lang_start`, built like the launcher (the release profile's opt-level, codegen units, thin
/// LTO and `panic = "abort"`; `libgcc_eh` linked statically as build.rs does on glibc, so it
/// maps only the C library), reading one file and printing it.
fn c_main_floor() -> PathBuf {
    let dir = scratch("c-main-floor");
    let source = dir.join("floor.rs");
    std::fs::write(
        &source,
        r#"#![no_main]
use std::io::Write;

#[unsafe(no_mangle)]
extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    let Some(path) = std::env::args_os().nth(1) else { return 2 };
    let Ok(text) = std::fs::read(path) else { return 1 };
    let mut out = std::io::stdout().lock();
    std::ffi::c_int::from(out.write_all(&text).and_then(|()| out.flush()).is_err())
}
"#,
    )
    .unwrap();
    let exe = dir.join("floor");
    let mut rustc = Command::new("rustc");
    rustc.args(["--edition", "2024", "-C", "opt-level=3", "-C", "codegen-units=1", "-C", "lto=thin"]);
    rustc.args(["-C", "panic=abort", "-C", "strip=debuginfo", "-o"]).arg(&exe).arg(&source);
    let libgcc_eh = run_ok(Command::new("cc").arg("-print-file-name=libgcc_eh.a")).stdout;
    let libgcc_eh = PathBuf::from(String::from_utf8(libgcc_eh).unwrap().trim());
    if libgcc_eh.is_absolute() {
        rustc.arg("-L").arg(libgcc_eh.parent().unwrap()).args(["-l", "static=gcc_eh"]);
    }
    run_ok(&mut rustc);
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
