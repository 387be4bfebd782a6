//! The environment the launcher passes on to every process it (or mlxk2) starts.
//!
//! mlx-knife's `serve` worker, multiprocessing's spawn children and plain subprocesses run the
//! bundled `python3`, which — unlike the embedded interpreter — reads `PYTHON*` variables. The
//! launcher therefore rewrites its own environment before CPython snapshots it into
//! `os.environ`: the caller's `PYTHON*` variables go, and the bash launcher's contract
//! (`PYTHONPATH=<_vendor>`, `PYTHONNOUSERSITE=1`, no `PYTHONHOME`) comes in, plus the
//! launcher's bytecode decision (none written, or written to the per-user cache: never into a
//! signed bundle), unbuffered output (Electron reads logs as they happen), and the served
//! port's guard: its directory ahead of `_vendor` (its `sitecustomize` runs first in every
//! child) and its settings (`crate::guard::child_variables`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use msty_mlx_contract::plan::ChildEnv;

/// Plans the environment for children, given the current one. `guard` is the guard's
/// directory when it is on; `pycache_prefix` is where bytecode may be written (outside the
/// bundle); `None` means none is written.
pub fn plan<I>(
    current: I,
    vendor: &Path,
    guard: Option<&Path>,
    pycache_prefix: Option<&Path>,
    extra: Vec<(OsString, OsString)>,
) -> ChildEnv
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut pythonpath = OsString::new();
    if let Some(guard) = guard {
        // Not `join_paths`: a `:` inside the bundle path breaks PYTHONPATH either way, as it
        // did under the bash launcher.
        pythonpath.push(guard);
        pythonpath.push(":");
    }
    pythonpath.push(vendor);
    let bytecode = match pycache_prefix {
        Some(prefix) => ("PYTHONPYCACHEPREFIX".into(), prefix.as_os_str().to_owned()),
        None => ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    };
    let mut set: Vec<(OsString, OsString)> = vec![
        ("PYTHONPATH".into(), pythonpath),
        ("PYTHONNOUSERSITE".into(), "1".into()),
        bytecode,
        ("PYTHONUNBUFFERED".into(), "1".into()),
        // No cwd or script dir on a child's sys.path (3.11+; mlxk2 2.0.7+ sets it too).
        ("PYTHONSAFEPATH".into(), "1".into()),
    ];
    set.extend(extra);
    set.sort();
    let mut remove: Vec<OsString> = current
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| {
            (is_python_variable(name) || crate::guard::OWNED.iter().any(|o| name == o))
                && !set.iter().any(|(n, _)| n == name)
        })
        .collect();
    remove.sort();
    ChildEnv { remove, set }
}

fn is_python_variable(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"PYTHON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_python_variables_are_replaced() {
        let current = [
            ("PYTHONHOME", "/evil"),
            ("PYTHONPATH", "/evil"),
            ("PYTHONSTARTUP", "/evil/s.py"),
            ("PYTHONINSPECT", "1"),
            ("HOME", "/root"),
            ("MLXK2_PORT", "1"),
            ("MLXK2_SERVE_TOKEN_REQUIRED", "1"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let p = plan(current, Path::new("/b/_vendor"), None, None, Vec::new());
        assert_eq!(
            p.remove,
            ["MLXK2_SERVE_TOKEN_REQUIRED", "PYTHONHOME", "PYTHONINSPECT", "PYTHONSTARTUP"].map(OsString::from)
        );
        assert!(p.set.contains(&("PYTHONPATH".into(), "/b/_vendor".into())));
        assert!(p.set.contains(&("PYTHONNOUSERSITE".into(), "1".into())));
        assert!(p.set.contains(&("PYTHONDONTWRITEBYTECODE".into(), "1".into())));
        let cached = plan(
            [],
            Path::new("/b/_vendor"),
            Some(Path::new("/b/guard")),
            Some(Path::new("/c/pyc")),
            vec![("TMPDIR".into(), "/t".into())],
        );
        assert!(cached.set.contains(&("PYTHONPATH".into(), "/b/guard:/b/_vendor".into())));
        assert!(cached.set.contains(&("TMPDIR".into(), "/t".into())));
        assert!(cached.set.contains(&("PYTHONPYCACHEPREFIX".into(), "/c/pyc".into())));
        assert!(!cached.set.iter().any(|(k, _)| k == "PYTHONDONTWRITEBYTECODE"));
    }
}
