//! The launcher's own flags, recognised only as the first argument: `--python-info`,
//! `--mlx-info`, `--pkg-info NAME` (answered natively: neither libpython nor the runtime is
//! loaded) and `--check-mlx-stack` (native checks, then real imports in the embedded
//! interpreter). Each prints one JSON object on stdout and exits 0 when healthy, 2 otherwise.

mod check_stack;
mod pkg_info;
mod python_info;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use msty_mlx_contract::exit_code::DIAGNOSTICS_FAILED;
use msty_mlx_distinfo::{self as distinfo, SiteDir};
use serde_json::json;

use crate::plan::Inputs;
use crate::stack::MLX_BACKENDS;

/// A recognised launcher flag.
#[derive(Debug, PartialEq, Eq)]
pub enum Flag {
    PythonInfo,
    PkgInfo(Option<OsString>),
    CheckMlxStack,
}

/// Our flags count only as argv[1]; anywhere else they are mlxk2's arguments.
pub fn recognise(argv: &[OsString]) -> Option<Flag> {
    match argv.get(1)?.to_str()? {
        "--python-info" => Some(Flag::PythonInfo),
        "--mlx-info" => Some(Flag::PkgInfo(Some("mlx".into()))),
        "--pkg-info" => Some(Flag::PkgInfo(argv.get(2).cloned())),
        "--check-mlx-stack" => Some(Flag::CheckMlxStack),
        _ => None,
    }
}

/// Answers `flag` for the launcher at `exe`; returns the exit status. `--pkg-info` and
/// `--mlx-info` read `_vendor` next to it and nothing else of the environment.
pub fn answer(flag: Flag, exe: PathBuf, log_filter: Option<String>, argv: &[OsString]) -> i32 {
    let vendor = exe.parent().unwrap_or(Path::new("/")).join("_vendor");
    tracing::debug!(?flag, vendor = %vendor.display(), "answering a launcher flag");
    let (report, healthy) = match flag {
        Flag::PythonInfo => python_info::answer(&Inputs::capture(exe, log_filter)),
        Flag::PkgInfo(None) => (json!({ "error": "--pkg-info needs a package name, e.g. --pkg-info mlx_lm" }), false),
        Flag::PkgInfo(Some(name)) => {
            let name = name.to_string_lossy();
            // Only the asked project (and mlx's backends) are read, however large _vendor is.
            let mut wanted = vec![distinfo::normalize(&name)];
            if wanted[0] == "mlx" {
                wanted.extend(MLX_BACKENDS.map(distinfo::normalize));
            }
            pkg_info::answer(&SiteDir::scan_for(&vendor, &wanted), &name)
        }
        Flag::CheckMlxStack => check_stack::answer(&Inputs::capture(exe, log_filter), &vendor, argv),
    };
    emit(&report);
    if healthy { 0 } else { DIAGNOSTICS_FAILED.into() }
}

fn emit(report: &impl serde::Serialize) {
    // One line, one write (stdout is line-buffered: a writer would scan every byte for `\n`).
    let mut line = serde_json::to_string(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    line.push('\n');
    // A closed stdout leaves nothing to report to; the exit status still tells.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
}
