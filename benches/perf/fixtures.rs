//! The bundles and commands the rows compare: the real `_vendor` with and without shipped pycs,
//! bundle copies that share it, `python3 -I` and the bash launcher doing the launcher's job.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

pub(crate) trait LauncherIn {
    fn launcher_in(&self, home: &Path, args: &[&str]) -> Command;
}

impl LauncherIn for Bundle {
    /// The launcher with a fixed HOME (one per-user bytecode cache for the whole run).
    fn launcher_in(&self, home: &Path, args: &[&str]) -> Command {
        let mut c = self.launcher();
        c.env("HOME", home).args(args);
        c
    }
}

pub(crate) fn count_dists(vendor: &Path) -> usize {
    fs::read_dir(vendor)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".dist-info"))
        .count()
}

pub(crate) fn copy_dir(from: &Path) -> PathBuf {
    let to = scratch("vendor-copy").join("_vendor");
    run_ok(Command::new("cp").arg("-a").arg(from).arg(&to));
    to
}

/// The real `_vendor` with unchecked hash-based pycs, as build-external-python ships it.
pub(crate) fn compiled_copy(real: &Path) -> PathBuf {
    let to = real.with_file_name(format!("{}-pyc", real.file_name().unwrap().to_string_lossy()));
    if !to.join(".complete").exists() {
        let _ = fs::remove_dir_all(&to);
        run_ok(Command::new("cp").arg("-a").arg(real).arg(&to));
        let _ = Command::new(&host_python().executable)
            .args(["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"])
            .arg(&to)
            .output();
        fs::write(to.join(".complete"), "").unwrap();
    }
    to
}

/// A copy of the fixture bundle whose `_vendor` is a symlink to `vendor`.
pub(crate) fn bundle_with_vendor(name: &str, vendor: &Path) -> Bundle {
    let b = Bundle::copy(name);
    fs::remove_dir_all(b.vendor()).unwrap();
    std::os::unix::fs::symlink(vendor, b.vendor()).unwrap();
    replace_file(LAUNCHER.as_ref(), &b.exe());
    replace_file(runtime(), &b.runtime());
    b
}

/// Puts a copy of `from` at `to`, a hard link into the base bundle: unlinked first, so that
/// the base (and every other copy) keeps its own file.
pub(crate) fn replace_file(from: &Path, to: &Path) {
    let _ = fs::remove_file(to);
    fs::copy(from, to).unwrap();
}

pub(crate) fn py_c(b: &Bundle, code: &str) -> Command {
    let mut c = clean_command(&b.python3());
    c.args(["-I", "-c", code]);
    c
}

pub(crate) fn with_arg(mut c: Command, arg: &str) -> Command {
    c.arg(arg);
    c
}

pub(crate) fn bash_launcher(b: &Bundle) -> Command {
    let script = scratch("bash-launcher").join("msty-mlx-studio.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/bash\nexport PYTHONPATH={:?}\nexport PYTHONNOUSERSITE=1\nexec {:?} -m mlxk2.cli \"$@\"\n",
            b.vendor(),
            b.python3()
        ),
    )
    .unwrap();
    let mut c = clean_command(Path::new("/bin/bash"));
    c.arg(script);
    c
}
