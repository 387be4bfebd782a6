//! Installing the bundler's pinned tools (uv; zig and cargo-zigbuild) from PyPI with the
//! host's pip into the tool cache: one way for all of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use fs_err as fs;

/// `~/.cache/msty-mlx-studio/tools`: where the pinned tools are installed (trust-checked:
/// they run).
pub fn tools_dir() -> Option<PathBuf> {
    crate::caches::bundler_cache("tools")
}

/// `host -m pip install --target <tmp> <pins…>`, renamed to `dir` when complete. A concurrent
/// build that got there first wins: then `done` (a file the install makes) exists and the
/// rename's failure is no error. Pip's own settings (`PIP_INDEX_URL`, a proxy) apply. The
/// error names the command and pip's last `ERROR` line, for the caller to say what to do.
pub fn pip_install_pinned(host: &Path, dir: &Path, pins: &[String], done: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create the tool cache `{}`", parent.display()))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = Command::new(host)
        .args([
            "-I",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--no-compile",
            "--target",
        ])
        .arg(&tmp)
        .args(pins)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{}`", host.display()))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let text = String::from_utf8_lossy(&out.stderr);
        let last = text
            .lines()
            .rev()
            .find(|l| l.starts_with("ERROR"))
            .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("");
        bail!("`{} -m pip install {}` failed: {}", host.display(), pins.join(" "), last.trim());
    }
    if let Err(e) = std::fs::rename(&tmp, dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !done.is_file() {
            return Err(anyhow!(e)).with_context(|| format!("cannot move the install into `{}`", dir.display()));
        }
    }
    Ok(())
}
