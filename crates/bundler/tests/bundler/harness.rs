//! The bundler's test harness: `build-external-python` as cargo built it for these tests, run
//! offline against a local wheelhouse made from python-fixtures (fake mlx-knife project, fake
//! mlx / mlx-lm wheels as "PyPI" and "custom"), and its output laid out as an app's
//! Resources next to the relocated test Python. The rest (host Python, scratch directories,
//! processes, bundle trees, the launcher and runtime builds) is `msty_mlx_testkit`'s.

pub use msty_mlx_testkit::*;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use msty_mlx_bundler::kit_make::{self, NewTarget};
use serde_json::Value;

/// The bundler under test: this package's `build-external-python`, as cargo built it.
pub const BUILD_EXTERNAL_PYTHON: &str = env!("CARGO_BIN_EXE_build-external-python");

/// A launcher kit made as `kit add` makes it (`kit_make::files_of`, then `kit_make::add`, as
/// `packaging/release.sh` does): `launcher` and the runtime for `xy`, for `target`, and the
/// served port's guard (`kit build` adds it to every target).
pub fn make_kit(kit: &Path, target: &str, launcher: &Path, xy: &str, runtime: &Path) {
    let runtimes = [format!("{xy}={}", runtime.display())];
    let mut files = kit_make::files_of(launcher.into(), target, &runtimes, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    files.extend(kit_make::guard_files(Path::new(REPO)));
    let new = NewTarget { target: target.into(), built_on: target.into(), linker: "cc".into(), files };
    kit_make::add(kit, &new, msty_mlx_contract::VERSION, &"0".repeat(40)).unwrap_or_else(|e| panic!("{e:#}"));
}

/// The kit of these tests: the test launcher and the test runtime for this X.Y, for this
/// machine's target; made once per test process.
pub fn test_kit() -> &'static Path {
    static KIT: OnceLock<PathBuf> = OnceLock::new();
    KIT.get_or_init(|| {
        kept(|| {
            let kit = scratch("test-kit").join("kit");
            let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
            make_kit(&kit, &target, launcher(), &XY, runtime());
            kit
        })
    })
}

/// A directory holding only `uv` (a link to the uv the bundler itself would use: on PATH, or the
/// pinned version installed once into the user cache), for the bundler tests' PATH.
pub fn uv_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            use msty_mlx_bundler::uv;
            let found = uv::find_or_install(uv::tools_dir().as_deref(), &|line| eprintln!("harness: {line}"))
                .unwrap_or_else(|e| panic!("the bundler tests need uv {}: {e:#}", uv::UV_PIN));
            let dir = scratch("uv-bin");
            std::os::unix::fs::symlink(&found.program, dir.join("uv")).unwrap();
            dir
        })
    })
}

pub struct Wheelhouse {
    /// "PyPI": mlx 0.29.3, mlx-cpu, mlx-metal (macOS only), mlx-lm, pthdemo, mlx-knife (fixture),
    /// markerdemo with its marker-selected dependencies.
    pub dir: PathBuf,
    /// Custom wheels under names that say nothing (as `scripts/mlx-custom.whl` does).
    pub custom_mlx: PathBuf,
    pub raising_mlx: PathBuf,
    pub macos_mlx: PathBuf,
    pub custom_mlx_lm: PathBuf,
}

pub fn wheelhouse() -> &'static Wheelhouse {
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

pub fn make_wheels(out: &Path, fixtures: &[&str]) -> Vec<PathBuf> {
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
pub fn project(name: &str) -> PathBuf {
    let root = scratch(name);
    fs::copy(Path::new(REPO).join("python-fixtures/make_wheels.py"), root.join("make_wheels.py")).unwrap();
    copy_tree(&Path::new(REPO).join("python-fixtures/mlxk2"), &root.join("mlx-knife"));
    root.join("mlx-knife")
}

pub fn copy_tree(from: &Path, to: &Path) {
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
pub fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    tree(dir)
        .into_iter()
        .filter(|p| !p.is_dir())
        .map(|p| {
            let bytes = fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect()
}

pub fn bundler(cwd: &Path) -> Command {
    let mut cmd = Command::new(BUILD_EXTERNAL_PYTHON);
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

pub fn offline() -> String {
    format!("--no-index --find-links {}", wheelhouse().dir.display())
}

/// The common fast form: fixture project, offline, the test launcher and runtime from the
/// tests' kit.
pub fn quick(cwd: &Path) -> Command {
    let mut cmd = loud(cwd);
    cmd.arg("--quiet");
    cmd
}

/// [`quick`] without `--quiet`: progress and the tools' output on stderr, as a packager sees it.
pub fn loud(cwd: &Path) -> Command {
    let mut cmd = bundler(cwd);
    cmd.arg("--python")
        .arg(&host_python().executable)
        .arg("--pip-args")
        .arg(offline())
        .arg("--launcher-kit")
        .arg(test_kit());
    cmd
}

pub fn assert_bundler_error(r: &Run, needle: &str) {
    assert_eq!(r.code, Some(1), "stdout: {}\nstderr: {}", r.stdout(), r.stderr());
    let err = r.stderr();
    let last = err.lines().last().unwrap_or("");
    assert!(last.starts_with("build-external-python: error: "), "{err}");
    assert!(last.contains(needle), "{needle:?} not in: {last}");
}

/// Puts a built `dist-ext-python/<name>` next to a copy of the test Python as the app does.
pub fn assemble(output: &Path, name: &str) -> Bundle {
    let root = scratch("assembled");
    let res = root.join("Resources");
    link_tree(python_tree(), &res.join("python"));
    link_tree(output, &res.join("mlxk2"));
    if name != "msty-mlx-studio" {
        fs::rename(res.join("mlxk2").join(name), res.join("mlxk2/msty-mlx-studio")).unwrap();
    }
    Bundle { root }
}

pub fn manifest(output: &Path) -> Value {
    serde_json::from_slice(&fs::read(output.join("bundle-manifest.json")).unwrap()).unwrap()
}

pub fn other_xy() -> &'static str {
    if XY == "3.12" { "3.11" } else { "3.12" }
}
