//! The P rows (issues 6, 10, 12) and the extras: each function measures one question on the
//! real bundle and appends its rows.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::fixtures::*;
use crate::harness::*;
use crate::measure::*;
use crate::{Row, Target, mib};

/// P1: the native answer vs importlib.metadata, in CPU time (issue 10: ≤ 0.03) and wall time
/// (≤ 1.5 ms median): libpython and the runtime are never loaded for it.
pub fn p1(rows: &mut Vec<Row>, runs: usize, b: &Bundle, home: &Path) {
    let importlib = py_c(
        b,
        &format!(
            "import sys, json; sys.path.insert(0, {v:?}); import importlib.metadata as m; d = m.distribution('mlx'); print(json.dumps({{'package': d.metadata['Name'], 'version': d.version}}))",
            v = b.vendor().to_str().unwrap()
        ),
    );
    let (wall, cpu) = alternate_cpu(runs, &mut b.launcher_in(home, &["--mlx-info"]), &mut { importlib });
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
}

/// P7 (issue 12): the native flags with 5 000 more dist-infos in _vendor must stay under 10 ms
/// (wall-time median); B is the same flag on the real _vendor alone.
pub fn p7(rows: &mut Vec<Row>, runs: usize, b: &Bundle, real: &Path, home: &Path) {
    let crowded = copy_dir(real);
    add_dist_infos(&crowded, 5000);
    let big = bundle_with_vendor("perf-5000", &crowded);
    for (id, args) in [("P7", &["--mlx-info"][..]), ("P7p", &["--pkg-info", "mlx_lm"][..])] {
        let (a, bb) = alternate(runs, &mut big.launcher_in(home, args), &mut b.launcher_in(home, args));
        let what = format!("{}: {} vs {} distributions", args.join(" "), count_dists(&crowded), count_dists(real));
        rows.push(Row { id, what, a, b: bb, unit: "ms", target: Some(Target::AtMost(10.0)) });
    }
}

/// `python3 -I` running mlxk2.cli.main from the bundle's `_vendor`, as the launcher does.
fn python_i(bundle: &Bundle) -> Command {
    py_c(
        bundle,
        &format!(
            "import sys; sys.path[:0] = [{v:?}]; from mlxk2.cli import main; sys.exit(main())",
            v = bundle.vendor().to_str().unwrap()
        ),
    )
}

/// P2/P3/P2f: `--version` through mlxk2.cli.main; P6: its peak RSS.
pub fn version(rows: &mut Vec<Row>, runs: usize, b: &Bundle, fixture: &Bundle, home: &Path) {
    let (a, bb) = alternate(runs, &mut b.launcher_in(home, &["--version"]), &mut with_arg(python_i(b), "--version"));
    rows.push(Row {
        id: "P2",
        what: "--version: launcher vs python3 -I (real _vendor)".into(),
        a,
        b: bb,
        unit: "ms",
        target: Some(Target::Ratio(1.03)),
    });
    let bash = bash_launcher(b);
    let (a, bb) = alternate(runs, &mut b.launcher_in(home, &["--version"]), &mut with_arg(bash, "--version"));
    rows.push(Row {
        id: "P3",
        what: "--version: launcher vs bash launcher".into(),
        a,
        b: bb,
        unit: "ms",
        target: Some(Target::Ratio(0.90)),
    });
    let (a, bb) =
        alternate(runs, &mut fixture.launcher_in(home, &["--version"]), &mut with_arg(python_i(fixture), "--version"));
    rows.push(Row {
        id: "P2f",
        what: "--version: launcher vs python3 -I (fixture _vendor)".into(),
        a,
        b: bb,
        unit: "ms",
        target: None,
    });

    let (a, bb) = (peak_rss(b, b.launcher_in(home, &["--version"])), peak_rss(b, with_arg(python_i(b), "--version")));
    rows.push(Row {
        id: "P6",
        what: "peak RSS of --version: launcher vs python3 -I".into(),
        a,
        b: bb,
        unit: "MiB",
        target: Some(Target::Difference(3.0)),
    });
}

/// P4: serve time-to-ready; P5: read-only vs writable bundle, second start.
pub fn serve(rows: &mut Vec<Row>, serve_runs: usize, b: &Bundle, sources: [(&str, &Path); 2], home: &Path) {
    let (a, bb) = alternate_serve(
        serve_runs,
        || b.launcher_in(home, &[]),
        || {
            let mut c = clean_command(&b.python3());
            c.args(["-m", "mlxk2.cli"]).env("PYTHONPATH", b.vendor()).env("PYTHONNOUSERSITE", "1").env("HOME", home);
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
    for (label, source) in sources {
        let ro = bundle_with_vendor("perf-ro", &copy_dir(source));
        let rw = bundle_with_vendor("perf-rw", &copy_dir(source));
        run_ok(Command::new("chmod").args(["-R", "a-w"]).arg(ro.resources()));
        // First starts (fill the per-user cache where there is one), then measure.
        let _ = serve_ready(ro.launcher_in(home, &[]));
        let _ = serve_ready(rw.launcher_in(home, &[]));
        let (a, bb) = alternate_serve(serve_runs, || ro.launcher_in(home, &[]), || rw.launcher_in(home, &[]));
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
}

/// Extras (no target): import of the MLX stack, binary sizes.
pub fn extras(rows: &mut Vec<Row>, runs: usize, b: &Bundle, home: &Path) {
    let (a, bb) = alternate(
        runs / 4 + 3,
        &mut b.launcher_in(home, &["--check-mlx-stack"]),
        &mut py_c(
            b,
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
}
