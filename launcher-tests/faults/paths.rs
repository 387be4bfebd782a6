//! Unusual bundle paths (4 000 bytes, non-UTF-8), a crowded `_vendor`, two bundles at once.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

use super::*;

/// `paths-hex`: the interpreter's paths as bytes, the same for the launcher and python3; then
/// the probes, compared with python3. python3 is the oracle for what CPython can do from such
/// a path (`must_run`: it must be able to).
fn assert_runs_from(b: &Bundle, lang: Option<&str>, must_run: bool) {
    let make = |launcher: bool| {
        let mut c = if launcher { b.launcher() } else { b.reference() };
        if let Some(lang) = lang {
            c.env("LANG", lang);
        } else {
            c.env_remove("LANG");
        }
        c
    };
    let r = run(make(true).args(["paths-hex"]));
    assert_no_panic(&r);
    let reference = run(make(false).args(["paths-hex"]));
    if reference.code != Some(0) {
        assert!(!must_run, "python3 cannot run from this path (LANG={lang:?}):\n{}", reference.stderr());
        // CPython itself cannot (3.12: extension modules from a non-UTF-8 path): the launcher
        // fails the same way, with CPython's own error, not one of its own.
        let last = |r: &Run| r.stderr().lines().last().unwrap_or("").to_string();
        assert_eq!((r.code, last(&r)), (reference.code, last(&reference)), "LANG={lang:?}: launcher vs python3");
        return;
    }
    assert_eq!(r.code, Some(0), "LANG={lang:?}: {}", r.stderr());
    let lines: Vec<String> = r.stdout().lines().map(String::from).collect();
    let home = b.home();
    let want = [
        ("executable", home.join("bin/python3")),
        ("prefix", home.clone()),
        ("path0", b.vendor()),
        ("mlxk2_file", b.vendor().join("mlxk2/__init__.py")),
        ("argv0", b.exe()),
    ];
    assert_eq!(lines.len(), want.len());
    for ((name, path), line) in want.iter().zip(&lines) {
        assert_eq!(line, &format!("{name} {}", hex(path.as_os_str().as_bytes())), "LANG={lang:?}");
    }
    // python3 -m has the cwd as sys.path[0] and the module's file as argv[0].
    let pick = |lines: Vec<String>| [0, 1, 3].map(|i| lines[i].clone());
    assert_eq!(pick(reference.stdout().lines().map(String::from).collect()), pick(lines.clone()), "LANG={lang:?}");
    let ours = observe_probes(&|args| {
        let mut c = make(true);
        c.args(args);
        c
    });
    let theirs = observe_probes(&|args| {
        let mut c = make(false);
        c.args(args);
        c
    });
    assert_eq!(normalised(ours), normalised(theirs), "LANG={lang:?}");
}

fn json_path(p: &Path) -> Value {
    match p.to_str() {
        Some(s) => Value::from(s),
        None => serde_json::json!({ "bytes": p.as_os_str().as_bytes() }),
    }
}

fn assert_diagnostics_from(b: &Bundle) {
    let r = run(b.launcher().arg("--python-info"));
    assert_no_panic(&r);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["home"], json_path(&b.home()));
    assert_eq!(j["vendor"], json_path(&b.vendor()));
    assert_eq!(j["launcher"], json_path(&b.exe()));
    let m = run(b.launcher().arg("--mlx-info"));
    assert_eq!(m.code, Some(0), "{}", m.stderr());
    let m = m.json();
    assert_eq!(m["version"], "0.29.3");
    assert_eq!(m["module_file"], json_path(&b.vendor().join("mlx")), "{m}");
    assert_eq!(m["dist_info"], json_path(&b.vendor().join("mlx-0.29.3.dist-info")));
    // With RESOURCES_PATH naming it too.
    let r = run(b.launcher().env("RESOURCES_PATH", b.resources()).arg("--python-info"));
    assert_eq!(r.json()["home_rule"], "RESOURCES_PATH");
}

/// The bundle's `Resources` path exactly 4 000 bytes long (the launcher itself at 4 022, a
/// stdlib file near PATH_MAX): diagnostics and runs work; pycs whose cache path would exceed
/// PATH_MAX are simply not cached.
#[test]
fn a_bundle_path_of_4000_bytes() {
    let mut resources = scratch("fault-long");
    let mut n = 0;
    while resources.as_os_str().len() < 4000 - "/Resources".len() {
        let room = 4000 - "/Resources".len() - resources.as_os_str().len() - 1;
        resources.push("d".repeat(room.min(200)));
        n += 1;
    }
    resources.push("Resources");
    assert_eq!(resources.as_os_str().len(), 4000, "{n} components");
    let b = bundle_at(&resources);
    assert_diagnostics_from(&b);
    assert_runs_from(&b, Some("C.UTF-8"), true);
}

/// Whether CPython X.Y can run mlxk2 from a bundle path with non-UTF-8 bytes (measured with
/// python3 itself): `Err` says why not.
fn cpython_runs_from_a_non_utf8_path() -> Result<(), &'static str> {
    const SURROGATES: &str = "it cannot import an extension module from such a path \
        (`UnicodeEncodeError: 'utf-8' codec can't encode character '\\udce9' … surrogates not allowed`)";
    match &*XY {
        "3.10" | "3.11" => Ok(()),
        "3.12" | "3.13" => Err(SURROGATES),
        other => panic!("no recorded expectation for CPython {other} from a non-UTF-8 path: run python3 and add one"),
    }
}

/// Non-UTF-8 bytes in the bundle path, under a UTF-8 locale, `LANG=C` and no `LANG`. The
/// launcher and its diagnostics handle them everywhere. Where CPython itself can run from such
/// a path, the run's paths are byte-exact and its probes equal python3's; where it cannot
/// ([`cpython_runs_from_a_non_utf8_path`], said on stderr), python3 must fail and the run must
/// fail exactly as python3's does (and the test fails when a CPython starts to cope).
#[test]
fn a_bundle_path_with_non_utf8_bytes() {
    let mut resources = scratch("fault-bytes");
    resources.push(OsString::from_vec(b"Caf\xe9 \xff\xfe app".to_vec()));
    resources.push("Resources");
    let b = bundle_at(&resources);
    assert_diagnostics_from(&b);
    let expected = cpython_runs_from_a_non_utf8_path();
    if let Err(why) = expected {
        eprintln!("CPython {XY}: runs from a non-UTF-8 path are compared as failures: {why}");
    }
    for lang in [Some("C.UTF-8"), Some("C"), None] {
        assert_runs_from(&b, lang, expected.is_ok());
        if expected.is_err() {
            let reference = run(b.reference().args(["paths-hex"]));
            assert_ne!(reference.code, Some(0), "CPython {XY} now runs from a non-UTF-8 path: update the expectation");
            assert!(reference.stderr().contains("surrogates not allowed"), "{}", reference.stderr());
        }
    }
}

/// `_vendor` with 5 000 more dist-infos: the native answers are still right (their speed is
/// `cargo bench --bench perf`'s P7, never a timed assertion).
#[test]
fn five_thousand_dist_infos() {
    let b = Bundle::copy("fault-dists");
    let before = run(base().launcher().arg("--mlx-info")).json();
    add_dist_infos(&b.vendor(), 5000);
    let r = run(b.launcher().arg("--mlx-info"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    for key in ["package", "version", "requires_dist", "requires_python", "installer"] {
        assert_eq!(j[key], before[key], "{key}");
    }
    assert_eq!(j["backends"]["mlx-cpu"]["version"], "0.29.3");
    assert_eq!(j["backends"].as_object().unwrap().len(), 1, "{j}");
    assert_eq!(j["dist_info"], b.vendor().join("mlx-0.29.3.dist-info").to_str().unwrap());
    let r = run(b.launcher().args(["--pkg-info", "MLX.LM"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["version"], "0.28.1");
    let r = run(b.launcher().args(["--pkg-info", "Filler_Dist.4999"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["version"], "1.0.4999");
    let r = run(b.launcher().args(["--pkg-info", "not-installed"]));
    assert_eq!(r.code, Some(2));
    assert!(r.json()["error"].is_string());
    let r = run(b.launcher().arg("print").arg("still runs"));
    assert_eq!((r.code, r.stdout()), (Some(0), "still runs\n".into()));
}

/// The app was updated while it ran: the first launcher still runs from bundle A when the next
/// start names bundle B in RESOURCES_PATH. Each uses its own home, `_vendor`, runtime and
/// bytecode cache; nothing of one appears in the other, before or after.
#[test]
fn resources_path_changed_between_two_starts() {
    let a = Bundle::copy("fault-app-a");
    let bb = Bundle::copy("fault-app-b");
    let home = scratch("fault-app-home");
    let mut first = a.launcher();
    first
        .env("HOME", &home)
        .env("RESOURCES_PATH", a.resources())
        .arg("report-wait")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = first.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let a1: Value = serde_json::from_str(&line).unwrap();

    let second = run(bb.launcher().env("HOME", &home).env("RESOURCES_PATH", bb.resources()).arg("report"));
    assert_eq!(second.code, Some(0), "{}", second.stderr());
    let b1 = second.json();

    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let a2: Value = serde_json::from_str(&line).unwrap();
    assert!(wait_timeout(&mut child, Duration::from_secs(30)).unwrap().success());

    let owns = |j: &Value, own: &Bundle, other: &Bundle, label: &str| {
        let own_root = own.root.to_str().unwrap().to_string() + "/";
        let other_root = other.root.to_str().unwrap().to_string() + "/";
        for key in ["executable", "prefix", "base_prefix", "mlxk2_file"] {
            assert!(j[key].as_str().unwrap().starts_with(&own_root), "{label}: {key} = {}", j[key]);
        }
        assert!(j["path"][0].as_str().unwrap().starts_with(&own_root), "{label}");
        assert_eq!(j["env"]["PYTHONPATH"], own.pythonpath(), "{label}");
        let text = j.to_string();
        assert!(!text.contains(&other_root), "{label} mentions the other bundle: {text}");
        let maps: Vec<&str> = j["maps"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert!(maps.iter().any(|m| m.starts_with(&own_root) && m.contains("libpython")), "{label}: {maps:?}");
        assert!(
            maps.iter().any(|m| m.starts_with(&own_root) && m.contains("libmsty_mlx_runtime")),
            "{label}: {maps:?}"
        );
    };
    owns(&a1, &a, &bb, "A before B started");
    owns(&a2, &a, &bb, "A after B ran");
    owns(&b1, &bb, &a, "B");
    assert_eq!((&a1["pycache_prefix"], &a1["maps"]), (&a2["pycache_prefix"], &a2["maps"]));
    let (pa, pb) = (a1["pycache_prefix"].as_str().unwrap(), b1["pycache_prefix"].as_str().unwrap());
    assert_ne!(pa, pb, "the two bundles share a bytecode cache");
    let a_root = a.root.to_str().unwrap().trim_start_matches('/').to_string();
    let b_root = bb.root.to_str().unwrap().trim_start_matches('/').to_string();
    for (prefix, own, other) in [(pa, &a_root, &b_root), (pb, &b_root, &a_root)] {
        let files = pyc_files(Path::new(prefix));
        assert!(files.iter().any(|(p, _)| p.to_str().unwrap().contains(own.as_str())));
        assert!(
            !files.iter().any(|(p, _)| p.to_str().unwrap().contains(other.as_str())),
            "{prefix} holds pycs of the other bundle"
        );
    }
}
