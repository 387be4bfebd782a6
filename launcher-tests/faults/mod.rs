//! Issue 12 §3: the machine misbehaves. Each fault runs the real launcher in a real relocated
//! bundle and compares with a healthy run or with `python3 -m mlxk2.cli` on the same bundle
//! (docs/testing.md, "Faults"). Tests that need mount namespaces require root and fail, never skip,
//! without it (CI runs as root).

mod arguments;
mod cache;
mod paths;
mod streams;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::*;

/// Never a panic or a Rust backtrace, whatever the fault.
pub(super) fn assert_no_panic(r: &Run) {
    let err = r.stderr();
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "the launcher panicked:\n{err}");
}

/// `cmd` (a clean command) run by `/bin/sh -c "<setup> && exec …"`, optionally inside a new
/// private mount namespace (`unshare -m`): mounts made by `setup` vanish with the process.
pub(super) fn wrapped(cmd: &Command, setup: &str, mount_ns: bool) -> Command {
    let mut w = if mount_ns {
        let mut u = Command::new("unshare");
        u.args(["--mount", "--propagation", "private", "/bin/sh"]);
        u
    } else {
        Command::new("/bin/sh")
    };
    w.arg("-c").arg(format!("{setup} && exec \"$@\"")).arg("sh").arg(cmd.get_program()).args(cmd.get_args());
    w.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            w.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        w.current_dir(dir);
    }
    w.stdin(Stdio::null());
    w
}

pub(super) fn quote(p: &Path) -> String {
    let s = p.to_str().expect("scratch paths are UTF-8");
    assert!(!s.contains('\''));
    format!("'{s}'")
}

/// The invocations whose observable result (status, stdout, stderr) a fault must not change.
pub(super) const PROBES: &[&[&str]] =
    &[&["print", "hello ✓"], &["args-hex", "a", "", "--help"], &["exit", "3"], &["raise"], &["stderr", "to stderr"]];

/// Status, stdout and stderr of each probe, with `home` as HOME.
pub(super) fn observe_probes(make: &dyn Fn(&[&str]) -> Command) -> Vec<(Option<i32>, String, String)> {
    PROBES
        .iter()
        .map(|args| {
            let r = run(&mut make(args));
            assert_no_panic(&r);
            (r.code, r.stdout(), r.stderr())
        })
        .collect()
}

/// python3's traceback names `runpy` frames and `-m`; the launcher's does not (docs/testing.md,
/// "Behaviour compared"): keep only the last line of a traceback.
pub(super) fn normalised(v: Vec<(Option<i32>, String, String)>) -> Vec<(Option<i32>, String, String)> {
    v.into_iter()
        .map(|(c, o, e)| {
            (c, o, if e.starts_with("Traceback") { e.lines().last().unwrap_or("").to_string() + "\n" } else { e })
        })
        .collect()
}

/// A copy of the base bundle whose `Resources` directory is `resources` (parents created).
pub(super) fn bundle_at(resources: &Path) -> Bundle {
    fs::create_dir_all(resources).unwrap();
    link_tree(&base().resources(), resources);
    Bundle { root: resources.parent().unwrap().to_path_buf() }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn pyc_files(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    if !dir.exists() {
        return Vec::new();
    }
    tree(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), fs::metadata(&p).unwrap().modified().unwrap()))
        .collect()
}
