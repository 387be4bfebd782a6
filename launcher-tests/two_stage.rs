//! Issue 10 §5: the two stages. The home is chosen at run time (a dist dir with no `python/`
//! near it runs against `RESOURCES_PATH` or `MLXK_PYTHON`); libpython and runtime problems are
//! the launcher's own one-line errors with documented codes; the native flags never load
//! either library.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::*;

const NO_HOME: i32 = 81;
const LIBPYTHON: i32 = 83;
const RUNTIME: i32 = 88;

/// `dist-ext-python/msty-mlx-studio/` as the bundler leaves it: launcher, runtime, `_vendor`, `guard`;
/// no Python anywhere near.
fn dist_dir(name: &str) -> PathBuf {
    let dist = scratch(name).join("dist-ext-python/msty-mlx-studio");
    fs::create_dir_all(&dist).unwrap();
    fs::copy(LAUNCHER, dist.join("msty-mlx-studio")).unwrap();
    fs::copy(runtime(), dist.join(RUNTIME_FILE)).unwrap();
    link_tree(&base().vendor(), &dist.join("_vendor"));
    copy_guard(&dist.join("guard"));
    dist
}

fn launcher_in(dist: &Path) -> std::process::Command {
    clean_command(&dist.join("msty-mlx-studio"))
}

#[test]
fn a_dist_dir_runs_against_the_home_that_resources_path_or_mlxk_python_names() {
    let dist = dist_dir("dist");
    let b = base();
    // Nothing set: the lookup says what to set, for a run and for --python-info.
    let r = run(launcher_in(&dist).arg("--version"));
    r.assert_launcher_error(
        NO_HOME,
        "set RESOURCES_PATH to the folder holding python/, or MLXK_PYTHON to the interpreter",
    );
    let j = run(launcher_in(&dist).arg("--python-info")).json();
    assert_eq!(j["ok"], false);
    assert!(j["problems"][0].as_str().unwrap().contains("RESOURCES_PATH is unset"), "{j}");

    for (var, value, rule) in
        [("RESOURCES_PATH", b.resources(), "RESOURCES_PATH"), ("MLXK_PYTHON", b.python3(), "MLXK_PYTHON")]
    {
        let info = run(launcher_in(&dist).arg("--python-info").env(var, &value));
        assert_eq!(info.code, Some(0), "{var}: {}", info.stdout());
        let j = info.json();
        assert_eq!((j["ok"].clone(), j["home_rule"].clone()), (Value::Bool(true), Value::from(rule)));
        assert_eq!(j["runtime"]["path"], dist.join(RUNTIME_FILE).to_str().unwrap());
        assert_eq!(j["vendor"], dist.join("_vendor").to_str().unwrap());

        let check = run(launcher_in(&dist).arg("--check-mlx-stack").env(var, &value));
        assert_eq!(check.code, Some(0), "{var}: {}\n{}", check.stdout(), check.stderr());
        assert_eq!(check.json()["mlx"]["file"], dist.join("_vendor/mlx/core.py").to_str().unwrap());

        let version = run(launcher_in(&dist).arg("--version").env(var, &value));
        assert_eq!(
            (version.code, version.stdout()),
            (Some(0), "msty-mlx-studio 0.0.1.dev0+fixture\n".to_string()),
            "{}",
            version.stderr()
        );

        let report = run(launcher_in(&dist).arg("report").env(var, &value));
        assert_eq!(report.code, Some(0), "{}", report.stderr());
        let j = report.json();
        assert_eq!(j["prefix"], b.home().to_str().unwrap());
        assert_eq!(j["path"][0], dist.join("_vendor").to_str().unwrap());
        let maps: Vec<&str> = j["maps"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert!(maps.contains(&b.home().join(format!("lib/libpython{XY}.so.1.0")).to_str().unwrap()), "{maps:?}");
        assert!(maps.contains(&dist.join(RUNTIME_FILE).to_str().unwrap()), "{maps:?}");
        assert_eq!(maps.iter().filter(|m| m.contains("libpython")).count(), 1, "one libpython: {maps:?}");

        // mlx-knife's serve pattern: a supervised worker started through sys.executable.
        let worker = run(launcher_in(&dist).arg("worker").env(var, &value));
        assert_eq!(worker.code, Some(0), "{}", worker.stderr());
        assert_eq!(worker.json()["executable"], b.python3().to_str().unwrap());
    }
}

/// A private copy of the base bundle whose runtime is replaced by `bytes`.
fn with_runtime(name: &str, bytes: Option<Vec<u8>>) -> Bundle {
    let b = Bundle::copy(name);
    fs::remove_file(b.runtime()).unwrap();
    if let Some(bytes) = bytes {
        fs::write(b.runtime(), bytes).unwrap();
    }
    b
}

/// The real runtime with its stamp text `from` replaced by `to` (same length).
fn restamped(from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut bytes = fs::read(runtime()).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("no `{from}` in the runtime"));
    bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
    bytes
}

/// 88, one line naming the runtime file and how to rebuild; `--python-info` lists the problem;
/// the native flags still answer.
fn assert_runtime_error(b: &Bundle, needle: &str) {
    let r = run(b.launcher().arg("report"));
    assert_eq!(r.signal, None, "{}", r.stderr());
    r.assert_launcher_error(RUNTIME, &format!("the runtime library `{}` {needle}", b.runtime().display()));
    assert!(r.stderr().contains("cargo build --release"), "{}", r.stderr());
    let info = run(b.launcher().arg("--python-info"));
    assert_eq!(info.code, Some(2));
    let j = info.json();
    assert_eq!(j["runtime"]["path"], b.runtime().to_str().unwrap());
    assert!(
        j["problems"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains(needle)),
        "{}",
        j["problems"]
    );
    assert_eq!(run(b.launcher().arg("--mlx-info")).code, Some(0));
}

#[test]
fn runtime_missing() {
    let b = with_runtime("rt-missing", None);
    assert_runtime_error(&b, "does not exist");
    assert!(
        run(b.launcher().arg("--python-info")).json()["runtime"]["error"].as_str().unwrap().contains("does not exist")
    );
}

#[test]
fn runtime_corrupt() {
    let b = with_runtime("rt-garbage", Some(b"\x7fELF\x02\x01\x01 but nothing else".to_vec()));
    assert_runtime_error(&b, "is not a msty-mlx-studio runtime library");
    // Truncated just after its stamp: the stamp reads fine, but glibc would map the missing
    // pages and die of SIGBUS on the first touch; the launcher checks the segments first.
    let mut bytes = fs::read(runtime()).unwrap();
    let stamp = bytes.windows(23).position(|w| w == b"msty-mlx-runtime-stamp:").unwrap();
    bytes.truncate(stamp + 128);
    let b = with_runtime("rt-truncated", Some(bytes));
    let r = run(b.launcher().arg("report"));
    assert_eq!(r.signal, None);
    r.assert_launcher_error(
        RUNTIME,
        &format!("the runtime library `{}` is truncated: a loadable segment ends at byte", b.runtime().display()),
    );
    // Its stamp reads fine, yet a run would stop: --python-info says so too (issue 27).
    assert_runtime_error(&b, "is truncated: a loadable segment ends at byte");
}

/// The real runtime with one of its CPython imports renamed (same length): its stamp is right,
/// but `dlopen` fails with "undefined symbol", as for a runtime built against another build of
/// libpython.
fn unresolvable() -> Vec<u8> {
    let (from, to) = (b"PyConfig_InitPythonConfig\0", b"PyConfig_InitPythonConfiX\0");
    let mut bytes = fs::read(runtime()).unwrap();
    let mut found = 0;
    for at in 0..bytes.len() - from.len() {
        if &bytes[at..at + from.len()] == from {
            bytes[at..at + to.len()].copy_from_slice(to);
            found += 1;
        }
    }
    assert!(found > 0, "the runtime imports no PyConfig_InitPythonConfig");
    bytes
}

/// A runtime that fails `dlopen` for another reason than its stamp: a run exits 88 with the
/// loader's message, and `--python-info` (which loads both libraries in a child process to know)
/// reports the same problem instead of `ok` (issue 27).
#[test]
fn runtime_that_does_not_load() {
    let b = with_runtime("rt-unresolvable", Some(unresolvable()));
    assert_runtime_error(&b, "cannot be loaded");
    let r = run(b.launcher().arg("report"));
    assert!(r.stderr().contains("undefined symbol: PyConfig_InitPythonConfiX"), "{}", r.stderr());
    let j = run(b.launcher().arg("--python-info")).json();
    let line = r.stderr().trim_end().strip_prefix("msty-mlx-studio: error: ").unwrap().to_string();
    assert!(j["problems"].as_array().unwrap().iter().any(|p| p.as_str() == Some(&line)), "the run's own line: {j}");
    assert_eq!(j["runtime"]["python"], XY, "the stamp is still shown: {j}");
}

/// `--python-info` proves stage 2 loads in a child process it waits for. Started by a parent
/// that ignores SIGCHLD (a daemon's habit; an ignored signal stays ignored across exec), the
/// kernel would reap that child itself: the healthy bundle must still be `ok` with exit 0, as
/// a run of it starts. The control: the launcher really starts with SIGCHLD ignored.
#[test]
fn python_info_is_ok_under_a_parent_that_ignores_sigchld() {
    let ignoring = |program: &Path| {
        let mut cmd = clean_command(Path::new("/usr/bin/env"));
        cmd.arg("--ignore-signal=CHLD").arg(program);
        cmd
    };
    let status = run(ignoring(Path::new("/bin/grep")).args(["^SigIgn:", "/proc/self/status"])).stdout();
    let ignored = u64::from_str_radix(status.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_ne!(ignored & (1 << (libc::SIGCHLD - 1)), 0, "control: SIGCHLD is not ignored: {status}");

    let b = base();
    let r = run(ignoring(&b.exe()).arg("--python-info"));
    let j = r.json();
    assert_eq!((r.code, j["ok"].clone()), (Some(0), Value::Bool(true)), "{j}\n{}", r.stderr());
    assert_eq!(j["problems"], Value::Array(Vec::new()));
}

/// Looking is not doing (STYLE 17): a run that stops before Python runs leaves nothing on disk —
/// no bytecode cache under HOME, no `mlx` directory in TMPDIR — whether the survey stopped it
/// (the runtime missing) or loading did (the runtime unresolvable, libpython cut short). The
/// control: a run that starts creates both.
#[test]
fn a_run_that_cannot_start_writes_nothing() {
    let written = |b: &Bundle, code: i32| {
        let (home, tmp) = (scratch("nowrite-home"), scratch("nowrite-tmp"));
        let r = run(b.launcher().arg("--version").env("HOME", &home).env("TMPDIR", &tmp));
        assert_eq!(r.code, Some(code), "{}", r.stderr());
        [home.join(".cache/msty-mlx-studio"), tmp.join("mlx")].into_iter().filter(|p| p.exists()).collect::<Vec<_>>()
    };
    assert_eq!(written(base(), 0).len(), 2, "control: a run creates both");
    let nothing: Vec<PathBuf> = Vec::new();
    assert_eq!(written(&with_runtime("nowrite-rt-missing", None), RUNTIME), nothing, "runtime missing");
    assert_eq!(
        written(&with_runtime("nowrite-rt-unresolvable", Some(unresolvable())), RUNTIME),
        nothing,
        "runtime not loadable"
    );
    let b = Bundle::copy("nowrite-libpython");
    let lib = b.home().join(format!("lib/libpython{XY}.so.1.0"));
    let mut head = vec![0; 200_000];
    std::io::Read::read_exact(&mut fs::File::open(&lib).unwrap(), &mut head).unwrap();
    fs::remove_file(&lib).unwrap();
    fs::write(&lib, head).unwrap();
    assert_eq!(written(&b, LIBPYTHON), nothing, "libpython cut short");
}

#[test]
fn runtime_for_another_python() {
    let other = if XY == "3.12" { "3.11" } else { "3.12" };
    let b = with_runtime("rt-xy", Some(restamped(&format!("python={XY};"), &format!("python={other};"))));
    let r = run(b.launcher().arg("report"));
    r.assert_launcher_error(RUNTIME, &format!("the runtime `{}` is built for Python {other}, but the home `{}` (chosen by <exe dir>/../python) holds Python {XY}", b.runtime().display(), b.home().display()));
    let j = run(b.launcher().arg("--python-info")).json();
    assert_eq!(j["runtime"]["python"], other);
    assert_eq!(j["ok"], false);
}

#[test]
fn runtime_for_another_plan_format() {
    let b =
        with_runtime("rt-format", Some(restamped(&format!("plan={};", msty_mlx_contract::plan::FORMAT), "plan=9;")));
    assert_runtime_error(
        &b,
        &format!("reads launch plans of format 9, this launcher writes format {}", msty_mlx_contract::plan::FORMAT),
    );
    assert_eq!(run(b.launcher().arg("--python-info")).json()["runtime"]["plan_format"], 9);
}

/// What the dynamic loader opened during a run (`LD_DEBUG=files`): the launcher's own pid (that
/// of the first line: `env` execs it) and each `file=` line with the pid that printed it.
fn loaded_objects(args: &[&str]) -> (String, Vec<(String, String)>) {
    let r = run(base().launcher().args(args).env("LD_DEBUG", "files"));
    let lines: Vec<(String, String)> = r
        .stderr()
        .lines()
        .filter_map(|l| l.trim_start().split_once(':'))
        .map(|(pid, rest)| (pid.to_string(), rest.trim().to_string()))
        .collect();
    let launcher = lines.first().map(|(pid, _)| pid.clone()).unwrap_or_default();
    (launcher, lines.into_iter().filter(|(_, l)| l.starts_with("file=")).collect())
}

#[test]
fn native_flags_never_load_libpython_or_the_runtime() {
    let loading = |loads: &[(String, String)], name: &str| -> Vec<String> {
        loads.iter().filter(|(_, l)| l.contains(name)).map(|(pid, _)| pid.clone()).collect()
    };
    // Positive control: a run loads both, so the probe can see them.
    let (_, run_loads) = loaded_objects(&["report"]);
    assert!(
        !loading(&run_loads, "libpython").is_empty() && !loading(&run_loads, RUNTIME_FILE).is_empty(),
        "{run_loads:?}"
    );
    for args in [&["--mlx-info"][..], &["--pkg-info", "mlx_lm"]] {
        let (_, loads) = loaded_objects(args);
        assert!(
            loading(&loads, "libpython").is_empty() && loading(&loads, RUNTIME_FILE).is_empty(),
            "{args:?} loaded:\n{loads:?}"
        );
    }
    // --python-info proves that both load (issue 27), in a child process it then discards: the
    // launcher's own process maps neither.
    let (launcher, loads) = loaded_objects(&["--python-info"]);
    let (libpython, runtime) = (loading(&loads, "libpython"), loading(&loads, RUNTIME_FILE));
    assert!(!libpython.is_empty() && !runtime.is_empty(), "--python-info did not try loading: {loads:?}");
    assert!(
        libpython.iter().chain(&runtime).all(|pid| *pid != launcher),
        "loaded by the launcher {launcher}: {loads:?}"
    );
}
