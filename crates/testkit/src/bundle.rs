//! Bundle trees: the relocated host CPython (made once per version), fixture wheels in a
//! `_vendor`, hard-linked copies, and a [`Bundle`] to run the launcher in.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{REPO, RUNTIME_FILE, XY, clean_command, host_python, pip, run_ok, scratch, scratch_root};

/// A bundle on disk: `root/Resources/{python, mlxk2}`.
pub struct Bundle {
    pub root: PathBuf,
}

/// The served port's guard from this checkout (`guard/`), as the bundler puts it beside the
/// launcher.
pub fn copy_guard(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for file in msty_mlx_contract::plan::GUARD_FILES {
        fs::copy(Path::new(REPO).join("guard").join(file), to.join(file)).unwrap();
    }
}

/// A relocated copy of the host CPython (a bundle's `python/`), made once per version and
/// reused across runs; checked once per test process.
pub fn python_tree() -> &'static Path {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(relocated_python)
}

fn relocated_python() -> PathBuf {
    let host = host_python();
    let dir = scratch_root().join(format!("python-{}-r2", host.version));
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
pub fn copy_stdlib(from: &Path, to: &Path) {
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

pub fn copy_file(from: &Path, to: &Path) {
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
    let mut pip = pip(&host.executable, "install");
    pip.args(["--no-index", "--no-deps", "--no-compile", "--target"]).arg(vendor);
    for wheel in fs::read_dir(&wheels).unwrap() {
        pip.arg(wheel.unwrap().path());
    }
    run_ok(&mut pip);
    let _ = fs::remove_dir_all(wheels);
}

impl Bundle {
    pub fn resources(&self) -> PathBuf {
        self.root.join("Resources")
    }
    pub fn home(&self) -> PathBuf {
        self.resources().join("python")
    }
    pub fn vendor(&self) -> PathBuf {
        self.resources().join("mlxk2/_vendor")
    }
    /// The served port's guard, beside the launcher.
    pub fn guard(&self) -> PathBuf {
        self.resources().join("mlxk2/guard")
    }
    /// The children's `PYTHONPATH`: the guard, then `_vendor`.
    pub fn pythonpath(&self) -> String {
        format!("{}:{}", self.guard().display(), self.vendor().display())
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
