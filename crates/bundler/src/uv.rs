//! Finding uv, the installer the bundler drives: the pinned uv, checked by content. A `uv` on
//! PATH or the host's `python3 -m uv` is used when its binary is byte for byte the pinned one
//! (`tools::uv_pins`); otherwise the pinned wheel is installed with `--require-hashes` into a
//! cache outside the repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::tools::{self, Pins};

/// The uv version the bundler uses.
pub const UV_PIN: &str = "0.13.9";

/// A uv binary the bundler can run.
#[derive(Clone, Debug)]
pub struct Uv {
    pub program: PathBuf,
    pub version: String,
    /// Where it came from: `PATH`, `python3 -m uv`, or `pinned install`.
    pub found: &'static str,
    /// Its SHA-256 (the pinned one).
    pub sha256: String,
}

pub use crate::tools::tools_dir;

/// The pinned uv: `uv` on PATH or `python3 -m uv` (the host's) when their binary is the pinned
/// one, else the pinned install in `tools` (installed with the host's pip and
/// `--require-hashes` when missing). Each candidate's verdict is kept for the error.
pub fn find_or_install(tools: Option<&Path>, note: &dyn Fn(String)) -> Result<Uv> {
    let Some(pins) = tools::uv_pins() else {
        bail!(
            "the bundler pins uv {UV_PIN} for Linux x86_64 and macOS arm64 hosts only, and this is {} {}",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
    };
    let pinned = pins.binaries[0];
    let mut tried: Vec<String> = Vec::new();
    let consider = |program: PathBuf, found: &'static str, tried: &mut Vec<String>| -> Option<Uv> {
        match tools::check_binary(&program, &pinned) {
            Ok(sha256) => Some(Uv { program, version: UV_PIN.into(), found, sha256 }),
            Err(why) => {
                tried.push(format!("{found}: {why}"));
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
            "uv {UV_PIN} is needed and there is no cache directory to install it into ({}); put the pinned uv on PATH: python3 -m pip install --require-hashes -r crates/bundler/pins/<host>.txt",
            tried.join("; ")
        );
    };
    let dir = tools.join(format!("uv-{UV_PIN}"));
    let program = dir.join(pinned.path);
    if program.is_file() {
        if let Some(uv) = consider(program.clone(), "pinned install", &mut tried) {
            return Ok(uv);
        }
        // Not the pinned bytes: installed again below, into a fresh directory.
        let _ = std::fs::remove_dir_all(&dir);
    }
    let host = host.with_context(|| {
        format!("uv {UV_PIN} is needed: none found ({}) and there is no python3 on PATH to install it with; put the pinned uv {UV_PIN} on PATH", tried.join("; "))
    })?;
    note(format!("installing uv {UV_PIN} (--require-hashes) into `{}` ({})", dir.display(), tried.join("; ")));
    install(&host, &dir, &pins).with_context(|| format!("uv {UV_PIN} is needed: none found ({})", tried.join("; ")))?;
    let sha256 = tools::check_binary(&program, &pinned).map_err(|why| anyhow::anyhow!("the installed uv {why}"))?;
    Ok(Uv { program, version: UV_PIN.into(), found: "pinned install", sha256 })
}

/// The pinned uv from PyPI into `dir`.
fn install(host: &Path, dir: &Path, pins: &Pins) -> Result<()> {
    tools::pip_install_pinned(host, dir, pins)
        .map_err(|e| anyhow::anyhow!("{e:#}; without network, put uv {UV_PIN} (the pinned build) on PATH"))
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
