//! Issue 4: whole builds — from a source tree, a requirement, with cargo building the launcher —
//! that run, stamp the version without touching the source, reuse (or refuse) the bytecode
//! cache; and `clear-quarantine` off macOS.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

#[test]
fn builds_from_a_source_tree_and_the_bundle_runs() {
    let tree = project("tree");
    let before = contents(&tree);
    let cwd = tree.clone();
    let r = run(quick(&cwd).arg("--project").arg(&tree));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr.is_empty(), "--quiet: {}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let mut names: Vec<String> =
        fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["_vendor", "bundle-manifest.json", "guard", RUNTIME_FILE, "msty-mlx-studio"]);
    assert!(!out.join("_vendor/bin").exists(), "console scripts with build-machine shebangs");
    assert!(
        r.stdout().contains(&format!("bundle: {}", out.display())) && r.stdout().contains("distributions: 4"),
        "{}",
        r.stdout()
    );

    // Hash-based, unchecked pycs (PEP 552 flags = 0b01) for the target X.Y.
    let pyc = out.join(format!("_vendor/mlxk2/__pycache__/cli.cpython-{}.pyc", XY.replace('.', "")));
    let header = fs::read(&pyc).unwrap();
    assert_eq!(u32::from_le_bytes(header[4..8].try_into().unwrap()), 1, "{}", pyc.display());
    // The served port's guard beside the launcher, compiled the same way (every python3 child
    // imports it first).
    for file in msty_mlx_contract::plan::GUARD_FILES {
        assert_eq!(
            fs::read(out.join("guard").join(file)).unwrap(),
            fs::read(Path::new(REPO).join("guard").join(file)).unwrap()
        );
        let stem = file.trim_end_matches(".py");
        let pyc = out.join(format!("guard/__pycache__/{stem}.cpython-{}.pyc", XY.replace('.', "")));
        let header = fs::read(&pyc).unwrap_or_else(|e| panic!("{}: {e}", pyc.display()));
        assert_eq!(u32::from_le_bytes(header[4..8].try_into().unwrap()), 1, "{}", pyc.display());
    }

    let m = manifest(&out);
    assert_eq!(m["python"]["version"], XY);
    assert_eq!(m["python"]["full_version"], host_python().version.as_str());
    assert_eq!(m["launcher"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["runtime"]["file"], RUNTIME_FILE);
    assert_eq!(m["runtime"]["python"], XY);
    assert_eq!(m["runtime"]["plan_format"], msty_mlx_contract::plan::FORMAT);
    assert_eq!(m["mlxk2_version"], "0.0.1.dev0+fixture");
    let dists: Vec<(String, String)> = m["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap().into(), d["installer"].as_str().unwrap().into()))
        .collect();
    assert_eq!(dists.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(), ["mlx", "mlx-knife", "mlx-lm", "pthdemo"]);
    assert!(dists.iter().all(|d| d.1 == "uv"), "{dists:?}");
    assert_eq!(m["installer"]["tool"], "uv");
    assert!(
        r.stdout().contains(&format!("installer: uv {}", m["installer"]["version"].as_str().unwrap())),
        "{}",
        r.stdout()
    );
    assert_eq!(m["installer"]["python_platform"], Value::Null, "the interpreter decides in embedded mode");
    assert!(m["sanity_check"].as_str().unwrap().starts_with("ok: --check-mlx-stack"), "{}", m["sanity_check"]);
    assert_eq!(m["bytecode"], "unchecked-hash");

    // The produced bundle runs the launcher tests' fixture main and passes the stack check.
    let b = assemble(&out, "msty-mlx-studio");
    let j = run(b.launcher().arg("report")).json();
    assert_eq!(j["mlxk2_file"], b.vendor().join("mlxk2/__init__.py").to_str().unwrap());
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
    assert_eq!(
        contents(&tree).into_iter().filter(|(p, _)| !p.starts_with(&out)).collect::<Vec<_>>(),
        before,
        "the source tree changed"
    );
}

#[test]
fn cargo_builds_a_clean_launcher_for_the_interpreter() {
    let cwd = scratch("cargo-build");
    let mut cmd = bundler(&cwd);
    cmd.arg("--from-source")
        .arg("--python")
        .arg(&host_python().executable)
        .arg("--project")
        .arg(project("cargo-tree"))
        .arg("--pip-args")
        .arg(offline());
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    for step in [
        "Installing mlxk2",
        "Precompiling _vendor",
        "Placing the launcher",
        "Writing bundle-manifest.json",
        "Sanity check",
        "Moving the bundle into place",
    ] {
        assert!(r.stderr().contains(step), "step header {step:?} missing:\n{}", r.stderr());
    }
    let dist = cwd.join("dist-ext-python/msty-mlx-studio");
    let cargo_home =
        std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{}/.cargo", dirs::home_dir().unwrap().display()));
    for file in [dist.join("msty-mlx-studio"), dist.join(RUNTIME_FILE)] {
        let bytes = fs::read(&file).unwrap();
        for path in [REPO, cargo_home.as_str(), host_python().prefix.to_str().unwrap()] {
            assert!(!bytes.windows(path.len()).any(|w| w == path.as_bytes()), "`{path}` inside {}", file.display());
        }
    }
    let stamp = msty_mlx_contract::stamp::RuntimeStamp::read(&dist.join(RUNTIME_FILE)).unwrap();
    assert_eq!(stamp.python.to_string(), *XY);
    let b = assemble(&cwd.join("dist-ext-python/msty-mlx-studio"), "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("report")).json()["version"], XY);
}

#[test]
fn requirement_project_with_env_fallbacks_and_version_stamp() {
    let cwd = scratch("envs");
    let mut cmd = bundler(&cwd);
    cmd.args(["--quiet", "--project", "mlx-knife==0.0.1.dev0+fixture", "--launcher-kit"])
        .arg(test_kit())
        .env("EMBEDDED_PYTHON", &host_python().executable)
        .env("DIST_DIR", "out")
        .env("BIN_NAME", "my-mlx")
        .env("PIP_ARGS", offline())
        .env("VERSION", "9.9.9+msty.1");
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = cwd.join("out/my-mlx");
    assert!(out.join("my-mlx").is_file());
    assert_eq!(manifest(&out)["mlxk2_version"], "9.9.9+msty.1");
    assert_eq!(manifest(&out)["launcher"]["name"], "my-mlx");
    let init = fs::read_to_string(out.join("_vendor/mlxk2/__init__.py")).unwrap();
    assert!(init.contains("__version__ = \"9.9.9+msty.1\""), "{init}");
    // importlib.metadata and pip see the stamped version; RECORD still matches the files.
    let check = format!(
        "import sys, hashlib, base64, importlib.metadata as m; sys.path.insert(0, {v:?}); d = m.distribution('mlx-knife'); print(d.version); \
         f = [x for x in d.files if str(x) == 'mlxk2/__init__.py'][0]; data = f.locate().read_bytes(); \
         print(f.hash.value == base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode(), f.size == len(data))",
        v = out.join("_vendor").to_str().unwrap()
    );
    let o = run_ok(Command::new(&host_python().executable).args(["-I", "-B", "-c", &check]));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "9.9.9+msty.1\nTrue True\n");
    let b = assemble(&out, "my-mlx");
    assert_eq!(run(b.launcher().arg("--version")).stdout(), "msty-mlx-studio 9.9.9+msty.1\n");
}

#[test]
fn version_stamp_never_touches_the_source_tree() {
    let tree = project("stamp-tree");
    let before = contents(&tree);
    let cwd = scratch("stamp");
    let r = run(quick(&cwd).arg("--project").arg(&tree).args(["--version-stamp", "3.1.4"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(contents(&tree), before);
    assert!(
        fs::read_to_string(cwd.join("dist-ext-python/msty-mlx-studio/_vendor/mlxk2/__init__.py"))
            .unwrap()
            .contains("\"3.1.4\"")
    );
}

#[test]
fn a_rebuild_reuses_cached_bytecode() {
    // Two builds with one HOME: the second links every pyc from the bytecode cache, and the
    // bundle it makes imports from them.
    let home = scratch("pyc-home");
    let tree = project("pyc-tree");
    let mut pycs = Vec::new();
    for (i, expected) in [(0, " 0 from the bytecode cache"), (1, ": 0 compiled, ")] {
        let cwd = scratch(&format!("pyc-{i}"));
        let mut cmd = bundler(&cwd);
        cmd.env("HOME", &home).arg("--python").arg(&host_python().executable).arg("--pip-args").arg(offline());
        let r = run(cmd.arg("--launcher-kit").arg(test_kit()).arg("--project").arg(&tree));
        assert_eq!(r.code, Some(0), "{}", r.stderr());
        assert!(r.stderr().contains(expected), "{expected:?}:\n{}", r.stderr());
        let out = cwd.join("dist-ext-python/msty-mlx-studio");
        let pyc = out.join(format!("_vendor/mlxk2/__pycache__/cli.cpython-{}.pyc", XY.replace('.', "")));
        pycs.push(fs::read(&pyc).unwrap());
        if i == 1 {
            let b = assemble(&out, "msty-mlx-studio");
            assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
        }
    }
    assert_eq!(pycs[0], pycs[1]);
    assert_eq!(u32::from_le_bytes(pycs[1][4..8].try_into().unwrap()), 1, "unchecked hash-based");
}

/// Issue 21: the bundler's bytecode cache holds code it signs into bundles. A cache that
/// others could write (here: `msty-mlx-studio` group-writable) is not used: one warning line,
/// every pyc compiled afresh.
#[test]
fn an_untrusted_bytecode_cache_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let home = scratch("pyc-untrusted-home");
    let tree = project("pyc-untrusted-tree");
    for (i, expected) in [(0, " 0 from the bytecode cache"), (1, " 0 from the bytecode cache")] {
        let cwd = scratch(&format!("pyc-untrusted-{i}"));
        let mut cmd = bundler(&cwd);
        cmd.env("HOME", &home).arg("--python").arg(&host_python().executable).arg("--pip-args").arg(offline());
        let r = run(cmd.arg("--launcher-kit").arg(test_kit()).arg("--project").arg(&tree));
        assert_eq!(r.code, Some(0), "{}", r.stderr());
        assert!(r.stderr().contains(expected), "{expected:?}:\n{}", r.stderr());
        let ours = home.join(".cache/msty-mlx-studio");
        if i == 0 {
            assert_eq!(fs::metadata(&ours).unwrap().permissions().mode() & 0o777, 0o700, "created 0700");
            fs::set_permissions(&ours, fs::Permissions::from_mode(0o770)).unwrap();
        } else {
            let warning = format!(
                "build-external-python: warning: not using the bytecode cache, untrusted: `{}` is group- or world-writable (mode 0770)",
                ours.display()
            );
            assert!(r.stderr().contains(&warning), "{}", r.stderr());
        }
    }
}

#[test]
fn clear_quarantine_has_nothing_to_do_here() {
    let dir = scratch("quarantine");
    let r = run(bundler(&dir).args(["clear-quarantine", "."]));
    assert_eq!(r.code, Some(0));
    assert!(r.stdout().starts_with("nothing to do: com.apple.quarantine exists only on macOS"));
}
