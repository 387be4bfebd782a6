//! Finding uv, the installer the bundler drives: `uv` on PATH, `python3 -m uv`, or the pinned
//! version installed from PyPI into a cache outside the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The uv version the bundler installs when it finds none (and the oldest it accepts).
pub const UV_PIN: &str = "0.13.9";

/// A uv binary the bundler can run.
#[derive(Clone, Debug)]
pub struct Uv {
    pub program: PathBuf,
    pub version: String,
    /// Where it came from: `PATH`, `python3 -m uv`, or `pinned install`.
    pub found: &'static str,
}

pub use crate::tools::tools_dir;

/// The first usable uv: `uv` on PATH, then `python3 -m uv` (the host's), then the pinned
/// version in `tools` (installed with the host's pip when missing). A uv older than
/// [`UV_PIN`] is passed over; each candidate's verdict is kept for the error.
pub fn find_or_install(tools: Option<&Path>, note: &dyn Fn(String)) -> Result<Uv> {
    let mut tried: Vec<String> = Vec::new();
    let consider = |program: PathBuf, found: &'static str, tried: &mut Vec<String>| -> Option<Uv> {
        match version_of(&program) {
            Some(version) if at_least(&version, UV_PIN) => Some(Uv { program, version, found }),
            Some(version) => {
                tried.push(format!("{found}: uv {version} at `{}` is older than {UV_PIN}", program.display()));
                None
            }
            None => {
                tried.push(format!("{found}: `{}` does not answer `--version`", program.display()));
                None
            }
        }
    };
    match super::find_on_path("uv") {
        Some(program) => {
            if let Some(uv) = consider(program, "PATH", &mut tried) {
                return Ok(uv);
            }
        }
        None => tried.push("PATH: no `uv`".into()),
    }
    let host = super::find_on_path("python3");
    match host.as_deref().and_then(uv_module_binary) {
        Some(program) => {
            if let Some(uv) = consider(program, "python3 -m uv", &mut tried) {
                return Ok(uv);
            }
        }
        None => tried.push("python3 -m uv: no `uv` module".into()),
    }
    let Some(tools) = tools else {
        bail!(
            "uv {UV_PIN} is needed and there is no cache directory to install it into ({}); install it: python3 -m pip install uv=={UV_PIN}",
            tried.join("; ")
        );
    };
    let dir = tools.join(format!("uv-{UV_PIN}"));
    let program = dir.join("bin/uv");
    if program.is_file()
        && let Some(uv) = consider(program.clone(), "pinned install", &mut tried)
    {
        return Ok(uv);
    }
    let host = host.with_context(|| {
        format!("uv {UV_PIN} is needed: none found ({}) and there is no python3 on PATH to install it with; put uv on PATH or install it: python3 -m pip install uv=={UV_PIN}", tried.join("; "))
    })?;
    note(format!("installing uv {UV_PIN} into `{}` ({})", dir.display(), tried.join("; ")));
    install(&host, &dir).with_context(|| format!("uv {UV_PIN} is needed: none found ({})", tried.join("; ")))?;
    let version = version_of(&program)
        .with_context(|| format!("the installed `{}` does not answer `--version`", program.display()))?;
    Ok(Uv { program, version, found: "pinned install" })
}

/// The pinned uv from PyPI into `dir`.
fn install(host: &Path, dir: &Path) -> Result<()> {
    crate::tools::pip_install_pinned(host, dir, &[format!("uv=={UV_PIN}")], &dir.join("bin/uv"))
        .map_err(|e| anyhow::anyhow!("{e:#}; without network, put uv {UV_PIN} or newer on PATH"))
}

/// The binary behind the host's `uv` module (running it directly saves a Python start per call).
fn uv_module_binary(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args(["-I", "-c", "import uv; print(uv.find_uv_bin())"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && path.is_file()).then_some(path)
}

/// `uv --version` → `0.13.9`.
fn version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| parse_version(String::from_utf8_lossy(&out.stdout).trim())).flatten()
}

fn parse_version(text: &str) -> Option<String> {
    let version = text.strip_prefix("uv ")?.split_whitespace().next()?;
    version.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())).then(|| version.to_string())
}

/// `a >= b` for dotted numeric versions.
fn at_least(a: &str, b: &str) -> bool {
    let nums = |v: &str| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    nums(a) >= nums(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("uv 0.13.9 (x86_64-unknown-linux-gnu)").as_deref(), Some("0.13.9"));
        assert_eq!(parse_version("uv 0.13.9").as_deref(), Some("0.13.9"));
        assert_eq!(parse_version("uv-0.13.9"), None);
        assert_eq!(parse_version("uv 0.14.0-beta (x)"), None);
        assert!(at_least("0.13.9", "0.13.9") && at_least("0.13.10", "0.13.9") && at_least("1.0.0", "0.13.9"));
        assert!(!at_least("0.13.8", "0.13.9") && !at_least("0.9.30", "0.13.9"));
    }
}
