//! Issue 10 §1–3: the launcher executable links no libpython and carries no rpath (it loads the
//! home's libpython by absolute path); the runtime library links no libpython either (its
//! `Py*` symbols come from the one the launcher loaded), exports exactly the C boundary, and
//! carries its stamp. Neither holds a build-machine Python path.

use std::process::Command;

use crate::harness::*;

fn dynamic_section(file: &std::path::Path) -> String {
    String::from_utf8(run_ok(Command::new("readelf").arg("-d").arg(file)).stdout).unwrap()
}

#[test]
fn the_launcher_links_no_libpython_and_has_no_rpath() {
    let dynamic = dynamic_section(std::path::Path::new(LAUNCHER));
    assert!(!dynamic.contains("libpython"), "{dynamic}");
    assert!(!dynamic.contains("(RPATH)") && !dynamic.contains("(RUNPATH)"), "{dynamic}");
    let symbols =
        String::from_utf8(run_ok(Command::new("nm").args(["-D", "--undefined-only", LAUNCHER])).stdout).unwrap();
    assert!(
        !symbols.lines().any(|l| l.contains(" Py") || l.contains(" _Py")),
        "Python symbols in the launcher: {symbols}"
    );
}

/// A start maps only the C library: the unwinder is linked in (build.rs), no libgcc_s.
#[test]
fn the_launcher_needs_only_the_c_library() {
    let dynamic = dynamic_section(std::path::Path::new(LAUNCHER));
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.strip_suffix(']'))
        .collect();
    // (A debug build also names the dynamic loader, which every process has mapped anyway.)
    assert!(needed.iter().all(|n| ["libc.so.6", "ld-linux-x86-64.so.2"].contains(n)), "{dynamic}");
    assert!(dynamic.contains("BIND_NOW"), "full RELRO kept: {dynamic}");
}

#[test]
fn the_runtime_is_linked_like_an_extension_module() {
    let runtime = runtime();
    let dynamic = dynamic_section(runtime);
    assert!(!dynamic.contains("libpython"), "{dynamic}");
    assert!(!dynamic.contains("(RPATH)") && !dynamic.contains("(RUNPATH)"), "{dynamic}");
    let undefined =
        String::from_utf8(run_ok(Command::new("nm").args(["-D", "--undefined-only"]).arg(runtime)).stdout).unwrap();
    assert!(undefined.contains(" Py_InitializeFromConfig") && undefined.contains(" Py_RunMain"), "{undefined}");
    let exported =
        String::from_utf8(run_ok(Command::new("nm").args(["-D", "--defined-only"]).arg(runtime)).stdout).unwrap();
    let names: Vec<&str> =
        exported.lines().filter_map(|l| l.split_whitespace().nth(2)).filter(|n| !n.starts_with('_')).collect();
    assert_eq!(names, ["msty_mlx_runtime_main", "msty_mlx_runtime_stamp"], "{exported}");
    let stamp = msty_mlx_contract::stamp::RuntimeStamp::read(runtime).unwrap();
    assert_eq!((stamp.plan_format, &*stamp.python.to_string()), (msty_mlx_contract::plan::FORMAT, &*XY));
}

#[test]
fn no_build_machine_python_paths_inside() {
    let host = host_python();
    for file in [std::path::Path::new(LAUNCHER), runtime()] {
        let bytes = std::fs::read(file).unwrap();
        for path in [host.prefix.to_str().unwrap(), host.libdir.to_str().unwrap()] {
            assert!(!bytes.windows(path.len()).any(|w| w == path.as_bytes()), "`{path}` is inside {}", file.display());
        }
    }
}

/// The crates compiled into a package's shipped binary, for every target (build scripts and
/// dev-dependencies excluded), as cargo resolves them from the lock file.
///
/// `--target all` reads the manifests of every platform's crates in the lock file, which a
/// build for this machine and for macOS never downloads; `run-all.sh` fetches them first
/// (`cargo fetch --locked`), and without them this says so in one line instead of failing
/// on a download that `--offline` forbids.
fn shipped_crates(package: &str) -> Vec<String> {
    let out = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(REPO)
        .args(["tree", "--locked", "--offline", "-e", "normal", "--target", "all", "--prefix", "none"])
        .args(["--format", "{p}", "-p", package])
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo tree: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo tree for {package} failed: {}{stderr}",
        if stderr.contains("--offline") {
            "the crates of other targets are not in cargo's registry cache; run `cargo fetch --locked` first \
             (launcher-tests/run-all.sh does)\n"
        } else {
            ""
        }
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
}

/// Issue 17 §2: the launcher and the runtime carry nothing of the bundler's world (argument
/// parsing, archives, CSV, shell words, regex engines, full binary parsers).
#[test]
fn the_shipped_binaries_carry_none_of_the_bundlers_crates() {
    const NEVER: [&str; 11] = [
        "clap",
        "zip",
        "csv",
        "goblin",
        "pep508_rs",
        "regex",
        "regex-automata",
        "shlex",
        "base64",
        "url",
        "msty-mlx-bundler",
    ];
    for package in ["msty-mlx-studio", "msty-mlx-runtime"] {
        let crates = shipped_crates(package);
        assert!(crates.iter().any(|c| c == "msty-mlx-contract"), "{package}: cargo tree said {crates:?}");
        let found: Vec<&String> = crates.iter().filter(|c| NEVER.contains(&c.as_str())).collect();
        assert!(found.is_empty(), "{package} carries {found:?}");
    }
    let runtime = shipped_crates("msty-mlx-runtime");
    for ours in ["msty-mlx-distinfo", "msty-mlx-trust", "msty-mlx-verify", "pep440_rs"] {
        assert!(!runtime.iter().any(|c| c == ours), "the runtime needs only pyo3, the contract and logging: {ours}");
    }
}
