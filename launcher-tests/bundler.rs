//! Issue 4: build-external-python, offline against a local wheelhouse made from
//! python-fixtures (fake mlx-knife project, fake mlx / mlx-lm wheels as "PyPI" and "custom").

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::*;

struct Wheelhouse {
    /// "PyPI": mlx 0.29.3, mlx-cpu, mlx-metal (macOS only), mlx-lm, pthdemo, mlx-knife (fixture),
    /// markerdemo with its marker-selected dependencies.
    dir: PathBuf,
    /// Custom wheels under names that say nothing (as `scripts/mlx-custom.whl` does).
    custom_mlx: PathBuf,
    raising_mlx: PathBuf,
    macos_mlx: PathBuf,
    custom_mlx_lm: PathBuf,
}

fn wheelhouse() -> &'static Wheelhouse {
    static WH: OnceLock<Wheelhouse> = OnceLock::new();
    // kept: the wheelhouse is shared by every test here, not owned by the first one to ask.
    WH.get_or_init(|| {
        kept(|| {
            let root = scratch("wheelhouse");
            let dir = root.join("pypi");
            make_wheels(
                &dir,
                &[
                    "mlx",
                    "mlx-cpu",
                    "mlx-metal",
                    "mlx-lm",
                    "pthdemo",
                    "mlxk2",
                    "markerdemo",
                    "mdep-darwin",
                    "mdep-linux",
                    "mdep-py311",
                    "mdep-py312",
                ],
            );
            let custom = root.join("custom");
            let built = make_wheels(&custom, &["mlx-new", "mlx-raises", "mlx-macos", "mlx-lm-new"]);
            let rename = |wheel: &PathBuf, name: &str| {
                let to = custom.join(name);
                fs::rename(wheel, &to).unwrap();
                to
            };
            Wheelhouse {
                dir,
                custom_mlx: rename(&built[0], "mlx-custom.whl"),
                raising_mlx: rename(&built[1], "mlx-raising.whl"),
                macos_mlx: rename(&built[2], "mlx-macos.whl"),
                custom_mlx_lm: rename(&built[3], "mlx-lm-custom.whl"),
            }
        })
    })
}

fn make_wheels(out: &Path, fixtures: &[&str]) -> Vec<PathBuf> {
    let fx = Path::new(REPO).join("python-fixtures");
    let mut cmd = Command::new(&host_python().executable);
    cmd.arg("-I").arg(fx.join("make_wheels.py")).arg(out);
    for f in fixtures {
        cmd.arg(fx.join(f));
    }
    String::from_utf8(run_ok(&mut cmd).stdout).unwrap().lines().map(PathBuf::from).collect()
}

/// A scratch copy of the fixture mlx-knife source tree (with the wheel builder its in-tree
/// backend uses beside it).
pub(crate) fn project(name: &str) -> PathBuf {
    let root = scratch(name);
    fs::copy(Path::new(REPO).join("python-fixtures/make_wheels.py"), root.join("make_wheels.py")).unwrap();
    copy_tree(&Path::new(REPO).join("python-fixtures/mlxk2"), &root.join("mlx-knife"));
    root.join("mlx-knife")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "__pycache__" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file under `dir` with its contents.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .filter(|p| !p.is_dir())
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect()
}

fn bundler(cwd: &Path) -> Command {
    let mut cmd = Command::new(crate::harness::bundler());
    let host_bin = host_python().executable.parent().unwrap().to_path_buf();
    let cargo_bin = Path::new(env!("CARGO")).parent().unwrap().to_path_buf();
    let home = scratch("bundler-home");
    cmd.env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}:{}:/usr/local/bin:/usr/bin:/bin",
                uv_dir().display(),
                host_bin.display(),
                cargo_bin.display()
            ),
        )
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("CARGO", env!("CARGO"))
        .env(
            "CARGO_HOME",
            std::env::var_os("CARGO_HOME").unwrap_or_else(|| dirs::home_dir().unwrap().join(".cargo").into()),
        )
        .env(
            "RUSTUP_HOME",
            std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| dirs::home_dir().unwrap().join(".rustup").into()),
        )
        .current_dir(cwd);
    cmd
}

fn offline() -> String {
    format!("--no-index --find-links {}", wheelhouse().dir.display())
}

/// The common fast form: fixture project, offline, the test launcher and runtime instead of a
/// cargo build.
pub(crate) fn quick(cwd: &Path) -> Command {
    let mut cmd = loud(cwd);
    cmd.arg("--quiet");
    cmd
}

/// [`quick`] without `--quiet`: progress and the tools' output on stderr, as a packager sees it.
fn loud(cwd: &Path) -> Command {
    let mut cmd = bundler(cwd);
    cmd.arg("--python")
        .arg(&host_python().executable)
        .arg("--pip-args")
        .arg(offline())
        .arg("--launcher")
        .arg(launcher_dir());
    cmd
}

fn assert_bundler_error(r: &Run, needle: &str) {
    assert_eq!(r.code, Some(1), "stdout: {}\nstderr: {}", r.stdout(), r.stderr());
    let err = r.stderr();
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("build-external-python: error: "), "{err}");
    assert!(last.contains(needle), "{needle:?} not in: {last}");
}

/// Puts a built `dist-ext-python/<name>` next to a copy of the test Python as the app does.
pub(crate) fn assemble(output: &Path, name: &str) -> Bundle {
    let root = scratch("assembled");
    let res = root.join("Resources");
    link_tree(&base().home(), &res.join("python"));
    link_tree(output, &res.join("mlxk2"));
    if name != "msty-mlx-studio" {
        fs::rename(res.join("mlxk2").join(name), res.join("mlxk2/msty-mlx-studio")).unwrap();
    }
    Bundle { root }
}

fn manifest(output: &Path) -> Value {
    serde_json::from_slice(&fs::read(output.join("bundle-manifest.json")).unwrap()).unwrap()
}

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
    assert_eq!(names, ["_vendor", "bundle-manifest.json", RUNTIME_FILE, "msty-mlx-studio"]);
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
        "Building the launcher",
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
    cmd.args(["--quiet", "--project", "mlx-knife==0.0.1.dev0+fixture", "--launcher"])
        .arg(launcher_dir())
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
fn custom_wheels_override_pypi_pins() {
    let tree = project("custom-tree");
    let wh = wheelhouse();
    fs::create_dir_all(tree.join("scripts")).unwrap();
    fs::copy(&wh.custom_mlx, tree.join("scripts/mlx-custom.whl")).unwrap();
    fs::write(tree.join("requirements.txt"), "mlx==0.29.3  # the PyPI pin the custom wheel replaces\npthdemo>=1.0\n")
        .unwrap();
    // Auto-detected from scripts/ in the project (cwd).
    let r = run(quick(&tree).args(["--requirements", "requirements.txt"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = tree.join("dist-ext-python/msty-mlx-studio");
    let vendor = out.join("_vendor");
    let mlx_infos: Vec<String> = fs::read_dir(&vendor)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("mlx-"))
        .collect();
    assert_eq!(mlx_infos, ["mlx-0.30.0.dist-info"], "one dist-info for mlx");
    let m = manifest(&out);
    assert_eq!(m["custom_wheels"][0]["file"], "mlx-custom.whl");
    assert_eq!(m["custom_wheels"][0]["version"], "0.30.0");
    let sha = run_ok(Command::new("sha256sum").arg(&wh.custom_mlx)).stdout;
    assert_eq!(m["custom_wheels"][0]["sha256"], String::from_utf8_lossy(&sha).split_whitespace().next().unwrap());
    assert_eq!(fs::read_to_string(vendor.join("mlx/core.py")).unwrap(), "__version__ = \"0.30.0\"\n");

    // MLX_WHEEL from the environment, to a wheel that cannot be imported: the sanity check fails
    // the build and shows the report; nothing lands at the output path.
    let cwd = scratch("custom-env");
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(&tree).env("MLX_WHEEL", &wh.raising_mlx);
    let r = run(&mut cmd);
    assert_bundler_error(&r, "the bundle fails --check-mlx-stack: import mlx.core: ImportError: libmlx.so");
    assert!(r.stderr().contains("\"checks\""), "the report is shown: {}", r.stderr());
    assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists());
}

#[test]
fn custom_mlx_lm_wheel_from_the_environment() {
    let cwd = scratch("custom-lm");
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(project("custom-lm-tree")).env("MLX_LM_WHEEL", &wheelhouse().custom_mlx_lm);
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let infos: Vec<String> = fs::read_dir(out.join("_vendor"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("mlx_lm-"))
        .collect();
    assert_eq!(infos, ["mlx_lm-0.29.0.dist-info"]);
    assert_eq!(manifest(&out)["custom_wheels"][0]["project"], "mlx-lm");
    assert_eq!(manifest(&out)["custom_wheels"][0]["file"], "mlx-lm-custom.whl");
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["mlx_lm"]["version"], "0.29.0");
}

#[test]
fn existing_output_needs_clean_and_clean_replaces_it() {
    let tree = project("clean-tree");
    let cwd = scratch("clean");
    assert_eq!(run(quick(&cwd).arg("--project").arg(&tree)).code, Some(0));
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let before = contents(&out);
    let r = run(quick(&cwd).arg("--project").arg(&tree));
    assert_bundler_error(&r, "already exists; pass --clean");
    assert_eq!(contents(&out), before);
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(&tree).args(["--version-stamp", "2.0.0"]).env("CLEAN", "1");
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(manifest(&out)["mlxk2_version"], "2.0.0");
}

#[test]
fn clean_refuses_dangerous_targets() {
    let tree = project("refuse-tree");
    let parent = tree.parent().unwrap().to_path_buf();
    // The project root itself.
    let r = run(quick(&parent)
        .arg("--project")
        .arg(&tree)
        .args(["--clean", "--dist-dir"])
        .arg(&parent)
        .args(["--bin-name", "mlx-knife"]));
    assert_bundler_error(&r, "refusing to --clean");
    assert!(tree.join("pyproject.toml").exists());
    // $HOME.
    let home = scratch("fake-home");
    let mut cmd = quick(&parent);
    cmd.arg("--project")
        .arg(&tree)
        .args(["--clean", "--dist-dir"])
        .arg(home.parent().unwrap())
        .arg("--bin-name")
        .arg(home.file_name().unwrap())
        .env("HOME", &home);
    assert_bundler_error(&run(&mut cmd), "it is $HOME");
    // A symlink in the dist dir that leads outside it.
    let dist = scratch("dist-link");
    let victim = scratch("victim");
    fs::write(victim.join("keep"), "x").unwrap();
    std::os::unix::fs::symlink(&victim, dist.join("msty-mlx-studio")).unwrap();
    let r = run(quick(&parent).arg("--project").arg(&tree).arg("--clean").arg("--dist-dir").arg(&dist));
    assert_bundler_error(&r, "is not inside the dist dir");
    assert!(victim.join("keep").exists());
}

#[test]
fn a_failed_build_changes_nothing_at_the_output_path() {
    let tree = project("atomic-tree");
    let cwd = scratch("atomic");
    assert_eq!(run(quick(&cwd).arg("--project").arg(&tree)).code, Some(0));
    let dist = cwd.join("dist-ext-python");
    let before = contents(&dist);
    fs::write(tree.join("reqs.txt"), "no-such-package-anywhere==1.0\n").unwrap();
    let r = run(quick(&cwd).arg("--project").arg(&tree).args(["--clean", "--requirements"]).arg(tree.join("reqs.txt")));
    assert_bundler_error(&r, "uv pip install failed");
    assert!(r.stderr().contains("no-such-package-anywhere"), "{}", r.stderr());
    assert_eq!(contents(&dist), before, "output or temporary files changed");
}

#[test]
fn leftovers_of_an_interrupted_build_are_swept() {
    let cwd = scratch("sweep");
    let dist = cwd.join("dist-ext-python");
    // pid 999999999 cannot exist (pid_max is at most 2^22).
    let stale = dist.join(".msty-mlx-studio.tmp-999999999");
    fs::create_dir_all(stale.join("_vendor")).unwrap();
    fs::write(stale.join("_vendor/half-written"), "x").unwrap();
    let r = run(quick(&cwd).arg("--project").arg(project("sweep-tree")));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!stale.exists());
    let names: Vec<String> =
        fs::read_dir(&dist).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["msty-mlx-studio"]);
}

fn other_xy() -> &'static str {
    if XY == "3.12" { "3.11" } else { "3.12" }
}

/// A launcher directory whose runtime is stamped for another X.Y.
fn stale_runtime_dir() -> PathBuf {
    let dir = scratch("stale-runtime");
    fs::copy(LAUNCHER, dir.join("msty-mlx-studio")).unwrap();
    let mut bytes = fs::read(runtime()).unwrap();
    let from = format!("python={XY};");
    let at = bytes.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
    bytes[at..at + from.len()].copy_from_slice(format!("python={};", other_xy()).as_bytes());
    fs::write(dir.join(RUNTIME_FILE), bytes).unwrap();
    dir
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let tree = project("bad-tree");
    let wh = wheelhouse();
    let not_a_zip = scratch("notzip").join("mlx-custom.whl");
    fs::write(&not_a_zip, "not a zip").unwrap();
    let txt = scratch("txt").join("mlx.txt");
    fs::write(&txt, "x").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--python".into(), "/nonexistent/bin/python3".into()],
            "`/nonexistent/bin/python3` (--python/EMBEDDED_PYTHON) does not exist".into(),
        ),
        (
            vec!["--mlx-wheel".into(), "/nonexistent/mlx.whl".into()],
            "wheel `/nonexistent/mlx.whl` does not exist".into(),
        ),
        (vec!["--mlx-wheel".into(), txt.to_str().unwrap().into()], "is not a wheel (the name must end in .whl)".into()),
        (vec!["--mlx-wheel".into(), not_a_zip.to_str().unwrap().into()], "is not a wheel (not a zip archive)".into()),
        (
            vec!["--mlx-wheel".into(), wh.macos_mlx.to_str().unwrap().into()],
            format!("(cp312-cp312-macosx_14_0_arm64) does not fit Python {XY}"),
        ),
        (vec!["--mlx-lm-wheel".into(), wh.custom_mlx.to_str().unwrap().into()], "custom mlx-lm wheel".into()),
        (vec!["--project".into(), "./no/such/dir".into()], "no such directory".into()),
        (
            vec!["--launcher".into(), "/bin/true".into()],
            format!("`/bin/{RUNTIME_FILE}` does not exist; the launcher and its runtime library are used together"),
        ),
        (
            vec!["--launcher".into(), stale_runtime_dir().to_str().unwrap().into()],
            format!("is built for Python {}, the bundle is for Python {XY}", other_xy()),
        ),
        (vec!["--requirements".into(), "/nonexistent/reqs.txt".into()], "cannot read the requirements file".into()),
    ];
    for (args, needle) in cases {
        let cwd = scratch("bad");
        let mut cmd = bundler(&cwd);
        cmd.arg("--quiet").arg("--pip-args").arg(offline()).args(&args);
        for (flag, default) in [
            ("--python", host_python().executable.clone()),
            ("--launcher", launcher_dir().to_path_buf()),
            ("--project", tree.clone()),
        ] {
            if args[0] != flag {
                cmd.arg(flag).arg(default);
            }
        }
        let r = run(&mut cmd);
        assert_bundler_error(&r, &needle);
        assert_eq!(r.stderr().lines().count(), 1, "{args:?}: {}", r.stderr());
        assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists(), "{args:?}");
    }
    if Path::new("/usr/bin/python3.11").exists() {
        let cwd = scratch("static");
        let r = run(bundler(&cwd).args(["--quiet", "--python", "/usr/bin/python3.11", "--project"]).arg(&tree));
        assert_bundler_error(&r, "has no shared libpython at `/usr/lib/libpython3.11.so.1.0`");
    }
}

#[test]
fn wheels_only_for_this_platform_builds_from_a_pyo3_config_file() {
    let cwd = scratch("wheels-only");
    let mut cmd = bundler(&cwd);
    cmd.arg("--from-source")
        .arg("--python")
        .arg(&host_python().executable)
        .arg("--project")
        .arg(project("wo-tree"))
        .arg("--pip-args")
        .arg(offline())
        .env("VENDOR_VIA_WHEELS", "1")
        .env("TARGET_PY_VERSION", XY)
        .env("TARGET_PLATFORM", "linux_x86_64")
        .env("TARGET_ABI", format!("cp{}", XY.replace('.', "")));
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stderr().contains("--platform") || r.stderr().contains("Installing"), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    assert_eq!(manifest(&out)["python"]["platform_tag"], "linux_x86_64");
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
}

/// A macOS bundle from here: the launcher and runtime are linked with zig (the real build is
/// `launcher-tests/macos-gate.sh`'s); what cannot be built or used is one line saying what to do.
#[test]
fn wheels_only_for_macos_links_here_or_refuses_in_one_line() {
    let tree = project("mac-tree");
    let mac = |cwd: &Path, tag: &str| {
        let mut cmd = bundler(cwd);
        cmd.args(["--quiet", "--wheels-only", "--target-python-version", &*XY, "--target-platform", tag, "--project"])
            .arg(&tree)
            .arg("--pip-args")
            .arg(offline());
        cmd
    };
    // zig not installable: the test's HOME has an empty tool cache, and pip may reach no index.
    let cwd = scratch("mac-no-zig");
    let r = run(mac(&cwd, "macosx_14_0_arm64").arg("--from-source").env("PIP_NO_INDEX", "1"));
    assert_bundler_error(&r, "zig is needed to link for macOS and `");
    let last = r.stderr().lines().last().unwrap_or("").to_string();
    assert!(
        last.contains("-m pip install ziglang==0.17.1 cargo-zigbuild==0.24.0` failed: ERROR: ")
            && last.ends_with("or build them on a Mac (PYO3_PYTHON=… cargo build --release) and pass --launcher DIR"),
        "{last}"
    );
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists());

    for (tag, needle) in [
        (
            "macosx_14_0_universal2",
            "--target-platform `macosx_14_0_universal2`: uv resolves for one architecture at a time; build one bundle per architecture (macosx_14_0_arm64 or _x86_64)",
        ),
        (
            "manylinux_2_28_aarch64",
            "cannot build the launcher and runtime for `manylinux_2_28_aarch64` on this machine: cross builds are for macOS tags",
        ),
    ] {
        let r = run(mac(&scratch("mac-tag"), tag).arg("--from-source"));
        assert_bundler_error(&r, needle);
        assert_eq!(r.stderr().lines().count(), 1, "{tag}: {}", r.stderr());
    }

    // --launcher: a macOS bundle takes libmsty_mlx_runtime.dylib, and only Mach-O files for it.
    let r = run(mac(&scratch("mac-so"), "macosx_14_0_arm64").arg("--launcher").arg(launcher_dir()));
    assert_bundler_error(
        &r,
        "libmsty_mlx_runtime.dylib` does not exist; the launcher and its runtime library are used together",
    );
    let linux_files = scratch("linux-files-as-mac");
    fs::copy(LAUNCHER, linux_files.join("msty-mlx-studio")).unwrap();
    fs::copy(runtime(), linux_files.join("libmsty_mlx_runtime.dylib")).unwrap();
    let r = run(mac(&scratch("mac-elf"), "macosx_14_0_arm64").arg("--launcher").arg(&linux_files));
    assert_bundler_error(
        &r,
        &format!(
            "msty-mlx-studio` is built for {}-unknown-linux-gnu, the bundle is for macosx_14_0_arm64",
            std::env::consts::ARCH
        ),
    );

    let r = run(bundler(&scratch("mac-no-xy")).args(["--quiet", "--wheels-only", "--project"]).arg(&tree));
    assert_bundler_error(&r, "--wheels-only needs --target-python-version");
}

/// Names of the top-level entries of a dist dir's `_vendor`.
fn vendor_names(out: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(out.join("_vendor")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Stand-ins for a macOS launcher directory, linked by zig in a second: an arm64 executable
/// and an arm64 dylib carrying the runtime stamp for `xy` (minimum macOS 14.0). They pass the
/// bundler's launcher check (Mach-O for the tag's architecture, no libpython, the stamp) and
/// are never run; the real cross build is the macOS gate's (minutes, not needed to test
/// resolution).
fn macos_launcher_standins(xy: &str) -> PathBuf {
    let dir = scratch("macos-standins");
    let stamp = msty_mlx_contract::stamp::RuntimeStamp {
        plan_format: msty_mlx_contract::plan::FORMAT,
        python: xy.parse().unwrap(),
        version: "0.0.0-standin".into(),
    };
    fs::write(dir.join("main.c"), "int main(void) { return 0; }\n").unwrap();
    fs::write(
        dir.join("stamp.c"),
        format!("__attribute__((used)) const char msty_mlx_runtime_stamp[] = \"{}\";\n", stamp.line()),
    )
    .unwrap();
    for (out, args) in
        [("msty-mlx-studio", &["main.c"][..]), ("libmsty_mlx_runtime.dylib", &["-shared", "stamp.c"][..])]
    {
        run_ok(
            crate::verify::macho::zig_cc()
                .args(["-target", "aarch64-macos.14.0", "-o", out])
                .args(args)
                .current_dir(&dir),
        );
    }
    dir
}

#[test]
fn wheels_only_evaluates_markers_for_the_target_not_this_machine() {
    // From Linux on CPython XY, for macOS arm64 on the other X.Y: markers must be evaluated for
    // the target (pip evaluates them for the machine it runs on).
    let cwd = scratch("markers");
    fs::write(cwd.join("reqs.txt"), "markerdemo\n").unwrap();
    let target_xy = other_xy();
    let mut cmd = bundler(&cwd);
    cmd.args([
        "--quiet",
        "--wheels-only",
        "--target-python-version",
        target_xy,
        "--target-platform",
        "macosx_14_0_arm64",
        "--requirements",
        "reqs.txt",
        "--project",
    ])
    .arg(project("markers-tree"))
    .arg("--pip-args")
    .arg(offline())
    .arg("--launcher")
    .arg(macos_launcher_standins(target_xy));
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let names = vendor_names(&out);
    let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    // Darwin-only: mlx's mlx-metal (a macOS-tagged wheel) and markerdemo's mdep-darwin (tagged
    // for an older macOS than the target: MACOSX_DEPLOYMENT_TARGET accepts it).
    assert!(has("mlx_metal-0.29.3.dist-info") && out.join("_vendor/mlx/lib/mlx.metallib").is_file(), "{names:?}");
    assert!(has("mdep_darwin-1.0.dist-info"), "{names:?}");
    assert!(!has("mdep_linux"), "a Linux-only dependency in a macOS bundle: {names:?}");
    let (wanted, unwanted) =
        if target_xy == "3.11" { ("mdep_py311", "mdep_py312") } else { ("mdep_py312", "mdep_py311") };
    assert!(has(wanted) && !has(unwanted), "python_version markers for {target_xy} (host {XY}): {names:?}");
    let m = manifest(&out);
    assert_eq!(m["installer"]["python_platform"], "aarch64-apple-darwin");
    assert_eq!(m["installer"]["macosx_deployment_target"], "14.0");
    assert_eq!(m["python"]["version"], target_xy);
    assert_eq!(m["sanity_check"], "skipped: the bundle targets macosx_14_0_arm64 and cannot run on this machine");
    // The host CPython XY cannot compile bytecode for another X.Y; one of the target's may exist.
    let pyc = out.join(format!("_vendor/markerdemo/__pycache__/__init__.cpython-{}.pyc", target_xy.replace('.', "")));
    assert_eq!(m["bytecode"] == "unchecked-hash", pyc.is_file(), "{}", m["bytecode"]);
    if !pyc.is_file() {
        assert!(
            r.stdout().contains(&format!("bytecode: none in the bundle: no CPython {target_xy} on this machine")),
            "{}",
            r.stdout()
        );
    }
}

#[test]
fn wheels_only_never_executes_a_non_executable_python() {
    // A prefix with a python3 that cannot be executed (mode 0644) and lib/python3.X: X.Y is read
    // from the directory, nothing runs it, and the sanity check is skipped with the reason.
    let prefix = scratch("noexec-prefix").join("python");
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::create_dir_all(prefix.join(format!("lib/python{XY}"))).unwrap();
    let python3 = prefix.join("bin/python3");
    fs::copy(&host_python().executable, &python3).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&python3, fs::Permissions::from_mode(0o644)).unwrap();
    let cwd = scratch("noexec");
    let mut cmd = bundler(&cwd);
    cmd.args(["--wheels-only", "--target-platform", "linux_x86_64", "--python"])
        .arg(&python3)
        .arg("--project")
        .arg(project("noexec-tree"))
        .arg("--pip-args")
        .arg(offline())
        .arg("--launcher")
        .arg(launcher_dir());
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!r.stderr().contains("Permission denied"), "{}", r.stderr());
    let why = format!("skipped: `{}` is not executable (wheels-only mode never makes it so)", python3.display());
    assert!(r.stdout().contains(&format!("sanity check: {why}")), "{}", r.stdout());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let m = manifest(&out);
    assert_eq!(m["sanity_check"], why.as_str());
    assert_eq!(m["python"]["version"], XY);
    assert_eq!(m["installer"]["python_platform"], "x86_64-unknown-linux-gnu");
    // Bytecode from a host CPython XY (the test's own, on PATH), not from --python.
    assert_eq!(m["bytecode"], "unchecked-hash");
    assert!(
        r.stdout().contains(&format!("compiled with `{}", host_python().executable.parent().unwrap().display())),
        "{}",
        r.stdout()
    );
    assert!(out.join(format!("_vendor/mlxk2/__pycache__/cli.cpython-{}.pyc", XY.replace('.', ""))).is_file());
    // The bundle still runs against a real home of that X.Y.
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["ok"], true);
}

#[test]
fn pip_args_that_uv_does_not_take_are_refused_by_name() {
    let tree = project("pipargs-tree");
    for (args, needle) in [
        (
            format!("{} --prefer-binary", offline()),
            "PIP_ARGS: `--prefer-binary` is not passed on: uv's pip interface, which installs the bundle, does not take it",
        ),
        ("--timeout=5".to_string(), "PIP_ARGS: `--timeout` is not passed on"),
        (
            "--platform macosx_14_0_arm64".to_string(),
            "PIP_ARGS: `--platform` is set by the bundler; use --target-platform",
        ),
        ("--target /tmp/elsewhere".to_string(), "PIP_ARGS: `--target` is set by the bundler"),
        ("--find-links 'unterminated".to_string(), "cannot be split like a shell would"),
    ] {
        let cwd = scratch("pipargs");
        let mut cmd = bundler(&cwd);
        cmd.arg("--quiet")
            .arg("--python")
            .arg(&host_python().executable)
            .arg("--project")
            .arg(&tree)
            .arg("--launcher")
            .arg(launcher_dir())
            .env("PIP_ARGS", &args);
        let r = run(&mut cmd);
        assert_bundler_error(&r, needle);
        assert_eq!(r.stderr().lines().count(), 1, "{args}: {}", r.stderr());
        assert!(!cwd.join("dist-ext-python").exists(), "{args}: something was written");
    }
}

#[test]
fn wheels_only_bad_inputs_are_one_line_errors_and_leave_the_output_alone() {
    let tree = project("wo-bad-tree");
    let cwd = scratch("wo-bad");
    // An existing bundle that each failed --clean build must leave as it was.
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("keep"), "the previous bundle").unwrap();
    let before = contents(&cwd.join("dist-ext-python"));
    let fake_prefix = scratch("wo-bad-prefix");
    fs::create_dir_all(fake_prefix.join("bin")).unwrap();
    fs::create_dir_all(fake_prefix.join(format!("lib/python{}", other_xy()))).unwrap();
    fs::write(fake_prefix.join("bin/python3"), "").unwrap();
    let linux = ["--target-platform", "linux_x86_64"];
    let cases: Vec<(Vec<String>, String, String)> = vec![
        (vec!["--target-platform".into(), "win_amd64".into()], offline(), "--target-platform `win_amd64` is not a wheel platform tag this bundler can resolve for; use one of: macosx_X_Y_arm64".into()),
        (vec!["--target-python-version".into(), "3.6".into()], offline(), "uv pip install failed (exit status: 1): No solution found when resolving dependencies".into()),
        (vec!["--target-python-version".into(), "3".into()], offline(), "--target-python-version `3` must be 3.Y".into()),
        (vec!["--target-abi".into(), "abi3".into()], offline(), "--target-abi `abi3`: uv resolves for CPython".into()),
        (vec!["--python".into(), fake_prefix.join("bin/python3").to_str().unwrap().into()], offline(), format!("--target-python-version is {XY} but the interpreter `{}` is Python {}", fake_prefix.join("bin/python3").display(), other_xy())),
        // A requirement with wheels for another platform only.
        (linux.iter().map(|s| s.to_string()).chain(["--requirements".into(), "reqs-metal.txt".into()]).collect(), offline(), "has no wheels with a matching platform tag".into()),
        // No network (nothing listens on port 9) and an empty uv cache.
        (linux.iter().map(|s| s.to_string()).collect(), format!("--index-url http://127.0.0.1:9/simple --find-links {}", scratch("empty-links").display()), "no network? pass PIP_ARGS='--no-index --find-links DIR' with a wheelhouse".into()),
    ];
    fs::write(cwd.join("reqs-metal.txt"), "mlx-metal\n").unwrap();
    for (args, pip_args, needle) in cases {
        let mut cmd = bundler(&cwd);
        cmd.args(["--quiet", "--clean", "--wheels-only", "--project"])
            .arg(&tree)
            .arg("--launcher")
            .arg(launcher_dir())
            .arg("--pip-args")
            .arg(&pip_args);
        if !args.iter().any(|a| a == "--target-python-version") {
            cmd.args(["--target-python-version", &XY]);
        }
        let r = run(cmd.args(&args));
        assert_bundler_error(&r, &needle);
        assert_eq!(r.stderr().lines().count(), 1, "{args:?}: {}", r.stderr());
        assert_eq!(contents(&cwd.join("dist-ext-python")), before, "{args:?}: the output changed");
    }
}

#[test]
fn uv_missing_and_not_installable_is_one_line() {
    // No uv on PATH, a python3 without the uv module whose pip cannot reach PyPI, an empty cache.
    let cwd = scratch("no-uv");
    let bin = scratch("no-uv-bin");
    fs::write(bin.join("python3"), "#!/bin/sh\necho 'ERROR: No matching distribution found for uv' >&2\nexit 1\n")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(bin.join("python3"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = bundler(&cwd);
    cmd.env("PATH", &bin)
        .args(["--quiet", "--wheels-only", "--target-python-version", &XY, "--project"])
        .arg(project("no-uv-tree"))
        .arg("--launcher")
        .arg(launcher_dir());
    let r = run(&mut cmd);
    assert_bundler_error(
        &r,
        &format!(
            "uv {} is needed: none found (PATH: no `uv`; python3 -m uv: no `uv` module)",
            msty_mlx_bundler::uv::UV_PIN
        ),
    );
    assert!(
        r.stderr().contains("-m pip install uv==")
            && r.stderr().contains("ERROR: No matching distribution found for uv")
            && r.stderr().contains("put uv"),
        "{}",
        r.stderr()
    );
    assert_eq!(r.stderr().lines().count(), 1, "{}", r.stderr());
    assert!(!cwd.join("dist-ext-python").exists());
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
        let r = run(cmd.arg("--launcher").arg(launcher_dir()).arg("--project").arg(&tree));
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

#[test]
fn clear_quarantine_has_nothing_to_do_here() {
    let dir = scratch("quarantine");
    let r = run(bundler(&dir).args(["clear-quarantine", "."]));
    assert_eq!(r.code, Some(0));
    assert!(r.stdout().starts_with("nothing to do: com.apple.quarantine exists only on macOS"));
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
        let r = run(cmd.arg("--launcher").arg(launcher_dir()).arg("--project").arg(&tree));
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

/// Issue 18 item 5: whatever comes before it (progress headers, uv's and cargo's output, clap's
/// usage, the sanity report), a failure's LAST stderr line is the one error line. Run without
/// `--quiet`, as a packager does.
#[test]
fn every_failure_ends_with_the_one_error_line() {
    let tree = project("last-line-tree");
    let wh = wheelhouse();
    let cwd = scratch("last-line");
    let last_line = |r: &Run| r.stderr().lines().last().unwrap_or("").to_string();

    // Usage errors: clap's usage text, then the line; exit 2.
    for (args, needle) in [
        (&["--bogus"][..], "unexpected argument '--bogus' found"),
        (&["--clean=maybe"][..], "'--clean'"),
        (&["--python"][..], "a value is required for '--python <PATH>'"),
        (&["verify"][..], "the following required arguments were not provided: <DIR>"),
    ] {
        let r = run(bundler(&cwd).args(args));
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr());
        let last = last_line(&r);
        assert!(last.starts_with("build-external-python: error: ") && last.contains(needle), "{args:?}: {last}");
        if args[0] == "--bogus" {
            assert!(r.stderr().contains("Usage: build-external-python"), "the usage is shown: {}", r.stderr());
        }
        assert!(r.stdout().is_empty(), "{args:?}: {}", r.stdout());
    }

    // A missing interpreter, after the progress header.
    let r = run(bundler(&cwd).args(["--python", "/nonexistent/bin/python3", "--project"]).arg(&tree));
    assert_bundler_error(&r, "`/nonexistent/bin/python3` (--python/EMBEDDED_PYTHON) does not exist");
    assert!(r.stderr().contains("==> ["), "progress came first: {}", r.stderr());

    // uv failing, after uv's own output.
    let reqs = cwd.join("reqs.txt");
    fs::write(&reqs, "no-such-package-anywhere==1.0\n").unwrap();
    let r = run(loud(&cwd).arg("--project").arg(&tree).arg("--requirements").arg(&reqs));
    assert_bundler_error(&r, "uv pip install failed");
    assert!(r.stderr().lines().count() > 1, "{}", r.stderr());

    // The sanity check failing, after its one-line report.
    let r = run(loud(&cwd).arg("--project").arg(&tree).env("MLX_WHEEL", &wh.raising_mlx));
    assert_bundler_error(&r, "the bundle fails --check-mlx-stack");
    let report = r.stderr().lines().find(|l| l.starts_with("    --check-mlx-stack answered: {")).map(String::from);
    assert!(report.is_some_and(|l| l.contains("\"checks\"")), "the report, on one line: {}", r.stderr());
    assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists());
}
