//! Builds real, relocated bundles for the launcher tests and runs the launcher inside them.
//!
//! The base bundle is made once per test run from a host shared-library CPython
//! (`MLXK2_TEST_PYTHON`, else `PYO3_PYTHON`, else `python3`). The launcher is the same for every
//! Python; the runtime library is built for that Python's X.Y (`MLXK2_TEST_RUNTIME` names a
//! prebuilt one):
//!
//! ```text
//! Resources/python/{bin/python3 (patchelf: $ORIGIN/../lib), lib/libpython3.X.so.1.0, lib/python3.X/}
//! Resources/mlxk2/_vendor/                 fixture wheels from python-fixtures/, installed by pip --target
//! Resources/mlxk2/msty-mlx-studio          the launcher under test
//! Resources/mlxk2/libmsty_mlx_runtime.so   the runtime for this X.Y
//! ```
//!
//! Tests that break a bundle get their own copy made of hard links (cheap, and canonical paths
//! stay inside the copy). Such copies may delete, rename and add files, never edit or chmod one.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const LAUNCHER: &str = env!("CARGO_BIN_EXE_msty-mlx-studio");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
const SCRATCH: &str = env!("CARGO_TARGET_TMPDIR");
pub const RUNTIME_FILE: &str = "libmsty_mlx_runtime.so";

/// The test Python's X.Y (`3.11`), read from the interpreter at run time: one test build serves
/// every CPython. Derefs to `str`.
#[derive(Clone, Copy)]
pub struct Xy;
pub static XY: Xy = Xy;

impl std::ops::Deref for Xy {
    type Target = str;
    fn deref(&self) -> &str {
        &host_python().xy
    }
}

impl fmt::Display for Xy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for Xy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq<&str> for Xy {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

impl PartialEq<Xy> for serde_json::Value {
    fn eq(&self, other: &Xy) -> bool {
        self.as_str() == Some(&**other)
    }
}

impl AsRef<OsStr> for Xy {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(&**self)
    }
}

/// The host CPython the bundles are made from.
#[derive(Debug)]
pub struct HostPython {
    pub executable: PathBuf,
    pub prefix: PathBuf,
    pub version: String,
    pub xy: String,
    pub libdir: PathBuf,
    pub ldlibrary: String,
}

pub fn host_python() -> &'static HostPython {
    static HOST: OnceLock<HostPython> = OnceLock::new();
    HOST.get_or_init(|| {
        let exe = std::env::var_os("MLXK2_TEST_PYTHON")
            .or_else(|| std::env::var_os("PYO3_PYTHON"))
            .unwrap_or_else(|| "python3".into());
        let out = Command::new(&exe)
            .args(["-I", "-c", "import sys, sysconfig; print(sys.base_prefix); print('%d.%d.%d' % sys.version_info[:3]); print(sysconfig.get_config_var('LIBDIR')); print(sysconfig.get_config_var('INSTSONAME')); print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run host python {exe:?}: {e}"));
        assert!(out.status.success(), "host python {exe:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        HostPython {
            prefix: lines[0].into(),
            xy: lines[1].split('.').take(2).collect::<Vec<_>>().join("."),
            version: lines[1].into(),
            libdir: lines[2].into(),
            ldlibrary: lines[3].into(),
            executable: lines[4].into(),
        }
    })
}

/// The runtime library for the test Python: `MLXK2_TEST_RUNTIME`, else built once per X.Y with
/// cargo (`PYO3_PYTHON` = the test Python) into `target/test-runtime/` — with the release
/// profile for the benchmarks, like the launcher they measure — and copied aside so that builds
/// for other versions cannot replace it under a running test.
pub fn runtime() -> &'static Path {
    static RUNTIME: OnceLock<PathBuf> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        kept(|| {
            if let Some(given) = std::env::var_os("MLXK2_TEST_RUNTIME") {
                return PathBuf::from(given);
            }
            let host = host_python();
            let target = Path::new(REPO).join("target/test-runtime");
            let cargo = option_env!("CARGO").unwrap_or("cargo");
            let release = !cfg!(debug_assertions);
            let out = Command::new(cargo)
                .current_dir(REPO)
                .args(["build", "--locked", "--quiet", "-p", "msty-mlx-runtime", "--target-dir"])
                .arg(&target)
                .args(release.then_some("--release"))
                .env("PYO3_PYTHON", &host.executable)
                .env_remove("PYO3_CONFIG_FILE")
                .output()
                .unwrap_or_else(|e| panic!("cannot run cargo to build the runtime: {e}"));
            assert!(
                out.status.success(),
                "building the runtime for {:?} failed:\n{}",
                host.executable,
                String::from_utf8_lossy(&out.stderr)
            );
            let built = target.join(if release { "release" } else { "debug" }).join(RUNTIME_FILE);
            let kept =
                Path::new(SCRATCH).join(format!("py{}-{}-runtime", host.xy, std::process::id())).join(RUNTIME_FILE);
            fs::create_dir_all(kept.parent().unwrap()).unwrap();
            fs::copy(&built, &kept).unwrap();
            let stamp = msty_mlx_contract::stamp::RuntimeStamp::read(&kept).unwrap();
            assert_eq!(stamp.python.to_string(), host.xy, "a concurrent build replaced the runtime; run again");
            kept
        })
    })
}

/// The bundler's executable (`build-external-python`, its own crate: the launcher package
/// never depends on it), built once per test run with the test's profile into
/// `target/test-runtime/`, beside the runtime builds.
pub fn bundler() -> &'static Path {
    static BUNDLER: OnceLock<PathBuf> = OnceLock::new();
    BUNDLER.get_or_init(|| {
        kept(|| {
            let target = Path::new(REPO).join("target/test-runtime");
            let release = !cfg!(debug_assertions);
            let out = Command::new(option_env!("CARGO").unwrap_or("cargo"))
                .current_dir(REPO)
                .args([
                    "build",
                    "--locked",
                    "--quiet",
                    "-p",
                    "msty-mlx-bundler",
                    "--bin",
                    "build-external-python",
                    "--target-dir",
                ])
                .arg(&target)
                .args(release.then_some("--release"))
                .output()
                .unwrap_or_else(|e| panic!("cannot run cargo to build the bundler: {e}"));
            assert!(
                out.status.success(),
                "building build-external-python failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            target.join(if release { "release" } else { "debug" }).join("build-external-python")
        })
    })
}

/// A bundle on disk: `root/Resources/{python, mlxk2}`.
pub struct Bundle {
    pub root: PathBuf,
}

/// What the base bundle's `_vendor` holds: the fake mlxk2, a `.pth` demo, and a healthy fake
/// MLX stack (mlx 0.29.3 + mlx-cpu 0.29.3 + mlx-lm 0.28.1).
pub const BASE_FIXTURES: &[&str] = &["mlxk2", "pthdemo", "mlx", "mlx-cpu", "mlx-lm"];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory holding the launcher under test and the test runtime, as `cargo build
/// --release` leaves them in `target/release/` (for the bundler's `--launcher DIR`).
pub fn launcher_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            let dir = scratch("launcher-files");
            fs::copy(LAUNCHER, dir.join("msty-mlx-studio")).unwrap();
            fs::copy(runtime(), dir.join(RUNTIME_FILE)).unwrap();
            dir
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

/// Waits until process `pid` sleeps in the kernel (state `S`: blocked in a read, a sleep, a
/// wait), so that a signal sent next finds it there.
pub fn wait_blocked(pid: u32) {
    let start = Instant::now();
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('S')) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "process {pid} never blocked: {stat}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sets `path`'s modification time far into the past, so that any rewrite shows (instead of
/// sleeping past the file system's timestamp granularity); returns the time set.
pub fn age(path: &Path) -> std::time::SystemTime {
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
    old
}

/// A fresh, empty scratch directory for one test. It belongs to the calling test thread and is
/// removed when that test ends, unless it failed (then it stays for inspection, until a later
/// run's [`remove_stale_scratch`]). Inside [`kept`] it belongs to the whole process instead.
pub fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = Path::new(SCRATCH).join(format!("py{XY}-{}-{name}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    OWNED.with(|owned| {
        let mut owned = owned.borrow_mut();
        if owned.keeping == 0 {
            notice_failures();
            owned.dirs.push(dir.clone());
        }
    });
    dir
}

/// Runs `f` (a process-wide fixture's set-up, e.g. in a `OnceLock`) with the scratch
/// directories it makes kept for the whole process: no single test owns them.
pub fn kept<T>(f: impl FnOnce() -> T) -> T {
    OWNED.with(|o| o.borrow_mut().keeping += 1);
    let value = f();
    OWNED.with(|o| o.borrow_mut().keeping -= 1);
    value
}

/// The scratch directories of the current test thread.
#[derive(Default)]
struct Owned {
    dirs: Vec<PathBuf>,
    failed: bool,
    keeping: usize,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.failed {
            for dir in &self.dirs {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

thread_local! {
    static OWNED: std::cell::RefCell<Owned> = std::cell::RefCell::default();
}

/// A failing test panics on its own thread: the panic hook marks that thread's directories to
/// be kept (the thread-local's destructor runs after the test, when `panicking()` is over).
fn notice_failures() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = OWNED.try_with(|o| o.try_borrow_mut().map(|mut o| o.failed = true));
            default(info);
        }));
    });
}

/// The shared base bundle (built once per test process).
pub fn base() -> &'static Bundle {
    static BASE: OnceLock<Bundle> = OnceLock::new();
    BASE.get_or_init(|| {
        kept(|| {
            remove_stale_scratch();
            let python = python_tree();
            let root = Path::new(SCRATCH).join(format!("py{XY}-{}-base", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            let res = root.join("Resources");
            fs::create_dir_all(res.join("mlxk2")).unwrap();
            link_tree(&python, &res.join("python"));
            fs::copy(LAUNCHER, res.join("mlxk2/msty-mlx-studio")).unwrap();
            fs::copy(runtime(), res.join("mlxk2").join(RUNTIME_FILE)).unwrap();
            install_fixtures(&res.join("mlxk2/_vendor"), BASE_FIXTURES);
            Bundle { root }
        })
    })
}

/// Removes the scratch directories of earlier test processes that are no longer running.
fn remove_stale_scratch() {
    let prefix = format!("py{XY}-");
    for entry in fs::read_dir(SCRATCH).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid =
            name.strip_prefix(&prefix).and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id() as i32
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A relocated copy of the host CPython, made once per version and reused across runs.
fn python_tree() -> PathBuf {
    let host = host_python();
    let dir = Path::new(SCRATCH).join(format!("python-{}-r2", host.version));
    let done = dir.join(".complete");
    if done.exists() {
        return dir;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("lib")).unwrap();
    copy_file(&host.libdir.join(&host.ldlibrary), &dir.join("lib").join(&host.ldlibrary));
    let stdlib = format!("python{XY}");
    copy_stdlib(&host.prefix.join("lib").join(&stdlib), &dir.join("lib").join(&stdlib));
    fs::create_dir_all(dir.join("lib").join(&stdlib).join("site-packages")).unwrap();
    let python3 = dir.join("bin/python3");
    copy_file(&host.prefix.join("bin").join(format!("python{XY}")), &python3);
    run_ok(Command::new("patchelf").args(["--force-rpath", "--set-rpath", "$ORIGIN/../lib"]).arg(&python3));
    // pyenv builds carry RUNPATH <build prefix>/lib in libpython and its extension modules; a
    // relocated (shippable) copy must not look there.
    run_ok(Command::new("patchelf").arg("--remove-rpath").arg(dir.join("lib").join(&host.ldlibrary)));
    let dynload = dir.join("lib").join(&stdlib).join("lib-dynload");
    for entry in fs::read_dir(&dynload).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".so") {
            run_ok(Command::new("patchelf").args(["--force-rpath", "--set-rpath", "$ORIGIN/../.."]).arg(entry.path()));
        }
    }
    fs::write(done, host.version.as_bytes()).unwrap();
    dir
}

/// Copies the stdlib without tests, the interpreter's own site-packages and GUI/IDE parts,
/// keeping modification times (so the shipped timestamp-based pycs stay valid).
fn copy_stdlib(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if from.ends_with(format!("python{XY}"))
            && (matches!(
                name.as_ref(),
                "test" | "site-packages" | "idlelib" | "tkinter" | "turtledemo" | "ensurepip" | "lib2to3"
            ) || name.starts_with("config-"))
        {
            continue;
        }
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            copy_stdlib(&src, &dst);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if !(name.contains(".opt-1.") || name.contains(".opt-2.")) {
            copy_file(&src, &dst);
        }
    }
}

fn copy_file(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    let modified = fs::metadata(from).unwrap().modified().unwrap();
    fs::File::options().write(true).open(to).unwrap().set_modified(modified).unwrap();
}

/// Recreates `from` at `to` with hard links for files (symlinks copied as symlinks).
pub fn link_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            link_tree(&src, &dst);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            fs::hard_link(&src, &dst).unwrap();
        }
    }
}

/// Builds wheels from `python-fixtures/<name>` and installs them with pip into `vendor`.
pub fn install_fixtures(vendor: &Path, names: &[&str]) {
    let wheels = scratch("wheels");
    let fixtures = Path::new(REPO).join("python-fixtures");
    let host = host_python();
    let mut make = Command::new(&host.executable);
    make.arg("-I").arg(fixtures.join("make_wheels.py")).arg(&wheels);
    for name in names {
        make.arg(fixtures.join(name));
    }
    run_ok(&mut make);
    let mut pip = Command::new(&host.executable);
    pip.args([
        "-I",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--target",
    ])
    .arg(vendor);
    for wheel in fs::read_dir(&wheels).unwrap() {
        pip.arg(wheel.unwrap().path());
    }
    run_ok(&mut pip);
    let _ = fs::remove_dir_all(wheels);
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Bundle {
    /// A private copy of the base bundle, to break or move things in.
    pub fn copy(name: &str) -> Bundle {
        let root = scratch(name);
        link_tree(&base().root, &root);
        Bundle { root }
    }

    pub fn resources(&self) -> PathBuf {
        self.root.join("Resources")
    }
    pub fn home(&self) -> PathBuf {
        self.resources().join("python")
    }
    pub fn vendor(&self) -> PathBuf {
        self.resources().join("mlxk2/_vendor")
    }
    pub fn exe(&self) -> PathBuf {
        self.resources().join("mlxk2/msty-mlx-studio")
    }
    pub fn runtime(&self) -> PathBuf {
        self.resources().join("mlxk2").join(RUNTIME_FILE)
    }
    pub fn python3(&self) -> PathBuf {
        self.home().join("bin/python3")
    }

    /// The launcher with a clean environment (PATH, HOME, LANG) and a neutral cwd.
    pub fn launcher(&self) -> Command {
        clean_command(&self.exe())
    }

    /// The reference: what the bash launcher did (`PYTHONPATH=_vendor PYTHONNOUSERSITE=1 exec
    /// python3 -m mlxk2.cli`), unbuffered like the launcher.
    pub fn reference(&self) -> Command {
        let mut cmd = clean_command(&self.python3());
        cmd.args(["-m", "mlxk2.cli"])
            .env("PYTHONPATH", self.vendor())
            .env("PYTHONNOUSERSITE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    }

    /// Every file and directory under the bundle (for "nothing was written" checks).
    pub fn snapshot(&self) -> Vec<PathBuf> {
        tree(&self.root)
    }
}

/// Every file, directory and symlink under `dir` (symlinks not followed), sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.clone());
            if path.is_dir() && !path.is_symlink() {
                walk(&path, out);
            }
        }
    }
    let mut all = Vec::new();
    walk(dir, &mut all);
    all.sort();
    all
}

/// A command with only PATH, HOME and LANG from a known state, run in an empty directory, with
/// default signal dispositions — as libuv (Node, Electron) starts children, whatever this test
/// process inherited (a `nohup` or a background job ignores SIGHUP/SIGINT, and ignored signals
/// survive exec). `env` execs the program, so the pid is the program's.
pub fn clean_command(program: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/env");
    cmd.arg("--default-signal=HUP,INT,QUIT,TERM,PIPE").arg(program);
    let home = scratch("home");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .current_dir(&home)
        .stdin(Stdio::null());
    cmd
}

/// The output of a finished process, for assertions.
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout(), self.stderr()))
    }
    /// Asserts a launcher failure: the code, and exactly one line on stderr naming `needle`.
    pub fn assert_launcher_error(&self, code: i32, needle: &str) {
        let err = self.stderr();
        assert_eq!(self.code, Some(code), "stderr: {err}");
        assert_eq!(err.lines().count(), 1, "expected one line, got: {err}");
        assert!(err.starts_with("msty-mlx-studio: error: "), "{err}");
        assert!(err.contains(needle), "{needle:?} not in: {err}");
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout());
    }
}

pub fn run(cmd: &mut Command) -> Run {
    use std::os::unix::process::ExitStatusExt;
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    Run { code: out.status.code(), signal: out.status.signal(), stdout: out.stdout, stderr: out.stderr }
}

/// Reads from `reader` until `needle` appears (or panics after `timeout`).
pub fn read_until(reader: &mut impl Read, needle: &[u8], timeout: Duration) -> Vec<u8> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&seen)
        );
        match reader.read(&mut buf) {
            Ok(0) => {
                panic!("EOF before {:?}; got {:?}", String::from_utf8_lossy(needle), String::from_utf8_lossy(&seen))
            }
            Ok(_) => seen.push(buf[0]),
            Err(e) => panic!("read: {e}"),
        }
    }
    seen
}

/// Waits for a process to exit, up to `timeout`.
pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn pid_alive(pid: i32) -> bool {
    // Zombies count as gone.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The real stack the end-to-end tests and benchmarks bundle (pinned: the versions the tests
/// were written against; `launcher-tests/real/requirements.txt` holds the mlx pin too).
pub const REAL_REQUIREMENTS: &[&str] = &["mlx-knife==2.0.8", "mlx[cpu]==0.32.0"];

/// A wheel cache outside the repository with every wheel of [`REAL_REQUIREMENTS`] for this
/// X.Y: checked offline first, downloaded from PyPI only when something is missing.
pub fn real_wheel_cache() -> PathBuf {
    let dir = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("msty-mlx-studio/wheels")
        .join(format!("cp{}", XY.replace('.', "")));
    fs::create_dir_all(&dir).unwrap();
    let download = |offline: bool| {
        let mut cmd = Command::new(&host_python().executable);
        cmd.args([
            "-I",
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--dest",
        ])
        .arg(&dir);
        if offline {
            cmd.args(["--no-index", "--find-links"]).arg(&dir);
        }
        cmd.args(REAL_REQUIREMENTS).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.output().unwrap_or_else(|e| panic!("pip download: {e}"))
    };
    if !download(true).status.success() {
        let out = download(false);
        assert!(
            out.status.success(),
            "downloading {REAL_REQUIREMENTS:?} from PyPI failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// `_vendor` of the real stack, installed once per X.Y into the cache (for benchmarks).
pub fn real_vendor() -> PathBuf {
    let wheels = real_wheel_cache();
    let vendor = wheels.with_file_name(format!("vendor-cp{}", XY.replace('.', "")));
    if !vendor.join(".complete").exists() {
        let _ = fs::remove_dir_all(&vendor);
        run_ok(
            Command::new(&host_python().executable)
                .args([
                    "-I",
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-index",
                    "--no-compile",
                    "--find-links",
                ])
                .arg(&wheels)
                .arg("--target")
                .arg(&vendor)
                .args(REAL_REQUIREMENTS),
        );
        let _ = fs::remove_dir_all(vendor.join("bin"));
        fs::write(vendor.join(".complete"), "").unwrap();
    }
    vendor
}

/// Adds `count` dist-infos of distinct projects (`filler-dist-N`, version `1.0.N`) to
/// `vendor`, as pip writes them (issue 12: a `_vendor` with 5 000 dist-infos).
pub fn add_dist_infos(vendor: &Path, count: usize) {
    for i in 0..count {
        let dir = vendor.join(format!("filler_dist_{i}-1.0.{i}.dist-info"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("METADATA"), format!("Metadata-Version: 2.1\nName: filler-dist-{i}\nVersion: 1.0.{i}\n"))
            .unwrap();
        fs::write(dir.join("top_level.txt"), format!("filler_dist_{i}\n")).unwrap();
        fs::write(dir.join("INSTALLER"), "pip\n").unwrap();
    }
}
