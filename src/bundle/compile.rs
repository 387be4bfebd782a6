//! Precompiling `_vendor` to unchecked hash-based pycs, with a CPython of the target X.Y that
//! runs here (pyc files do not depend on the platform). Without one, the bundle ships no pycs
//! and the launcher keeps them in the per-user cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::find_on_path;
use super::mode::Mode;

/// The interpreter that compiles the bytecode, or why there is none.
pub fn compiler(mode: &Mode, xy: &str) -> Result<(PathBuf, String), String> {
    if let Mode::Embedded { python } = mode {
        return Ok((python.clone(), "the interpreter".into()));
    }
    // Wheels-only never executes --python: a host CPython of the same X.Y does the same job.
    let name = format!("python{xy}");
    let root = pyenv_root();
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    if let Some(p) = find_on_path(&name) {
        candidates.push((p, format!("{name} on PATH")));
    }
    if let Some(root) = &root {
        let mut versions: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.strip_prefix(xy).is_some_and(|rest| rest.starts_with('.'))))
            .collect();
        versions.sort_by_key(|p| std::cmp::Reverse(patch_of(p)));
        candidates.extend(versions.into_iter().map(|v| (v.join("bin").join(&name), format!("pyenv {}", v.display()))));
    }
    for (python, how) in candidates {
        if python.is_file() && is_cpython(&python, xy) {
            return Ok((python, how));
        }
    }
    let pyenv = root.map(|r| format!(", {}/versions/{xy}.*/bin/{name}", r.display())).unwrap_or_default();
    Err(format!("no CPython {xy} on this machine (looked for {name} on PATH{pyenv})"))
}

fn patch_of(version_dir: &Path) -> u64 {
    version_dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.rsplit('.').next()).and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// `$PYENV_ROOT`, else `pyenv root`, else `~/.pyenv`.
fn pyenv_root() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("PYENV_ROOT") {
        return Some(root.into());
    }
    if let Some(pyenv) = find_on_path("pyenv")
        && let Ok(out) = Command::new(pyenv).arg("root").output()
        && out.status.success()
    {
        return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    dirs::home_dir().map(|h| h.join(".pyenv"))
}

/// The pyc format is CPython's and X.Y's: another implementation or version will not do.
fn is_cpython(python: &Path, xy: &str) -> bool {
    Command::new(python)
        .args(["-I", "-c", "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"])
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == format!("cpython {xy}"))
}

/// `compileall` over `vendor`, unchecked hash-based pycs, all cores.
pub fn compile(python: &Path, vendor: &Path, quiet: bool) -> Result<()> {
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]).arg(vendor);
    // compileall exits non-zero for files that do not compile (e.g. Python-2 test data in
    // some packages); those modules are never imported and need no pyc.
    let out = cmd.output().with_context(|| format!("cannot run compileall with `{}`", python.display()))?;
    if !out.status.success() && !quiet {
        let failed = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("***")).count();
        eprintln!("    compileall: {failed} file(s) did not compile and stay without pyc");
    }
    Ok(())
}
