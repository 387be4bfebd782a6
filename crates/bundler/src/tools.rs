//! The bundler's pinned tools (uv; ziglang's macOS stubs), checked by content: each is
//! installed from PyPI with the host's pip and `--require-hashes` (per-host requirement files
//! in `crates/bundler/pins/`) into the tool cache, and every binary the bundler runs must have
//! the SHA-256 pinned here, wherever it was found.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use fs_err as fs;

use crate::digest::sha256_hex;

/// One pinned file: where it lies in its install and the SHA-256 it must have.
#[derive(Clone, Copy, Debug)]
pub struct PinnedBinary {
    pub name: &'static str,
    /// Relative to the install directory (`pip install --target`).
    pub path: &'static str,
    pub sha256: &'static str,
}

/// A set of pinned wheels for this host: the requirement file (with hashes) and the binaries
/// they hold.
#[derive(Clone, Copy, Debug)]
pub struct Pins {
    /// `uv==0.13.9`, `ziglang==0.17.1`: what the messages name.
    pub wheels: &'static str,
    pub requirements: &'static str,
    pub binaries: &'static [PinnedBinary],
}

/// The pinned uv for this host, or `None` on a host without pins.
pub fn uv_pins() -> Option<Pins> {
    match host() {
        Some(Host::LinuxX86_64) => Some(Pins {
            wheels: "uv==0.13.9",
            requirements: include_str!("../pins/uv-x86_64-unknown-linux-gnu.txt"),
            binaries: &[PinnedBinary {
                name: "uv",
                path: "bin/uv",
                sha256: "b73acdf73b96c3ac9e56d2fa933427b3ee6a901e3cce6ba1e3ecb3f91ca0d86a",
            }],
        }),
        Some(Host::MacArm64) => Some(Pins {
            wheels: "uv==0.13.9",
            requirements: include_str!("../pins/uv-aarch64-apple-darwin.txt"),
            binaries: &[PinnedBinary {
                name: "uv",
                path: "bin/uv",
                sha256: "0e17c316d23b33b4e840669f516f5cb7f5c1faa816ebd3824052ab50082ecefb",
            }],
        }),
        None => None,
    }
}

/// The pinned ziglang for this host (its macOS libSystem stubs), or `None` on a host without
/// pins.
pub fn zig_pins() -> Option<Pins> {
    const TBD: PinnedBinary = PinnedBinary {
        name: "libSystem.tbd",
        path: "ziglang/lib/libc/darwin/libSystem.tbd",
        sha256: "01089e97e7372fdda64ef480f2c99d483daf0c7fc99298a137425ee3230588ab",
    };
    let wheels = "ziglang==0.17.1";
    match host() {
        Some(Host::LinuxX86_64) => Some(Pins {
            wheels,
            requirements: include_str!("../pins/zig-x86_64-unknown-linux-gnu.txt"),
            binaries: &[TBD],
        }),
        Some(Host::MacArm64) => {
            Some(Pins { wheels, requirements: include_str!("../pins/zig-aarch64-apple-darwin.txt"), binaries: &[TBD] })
        }
        None => None,
    }
}

/// The hosts with pins (the platforms the bundler ships for).
enum Host {
    LinuxX86_64,
    MacArm64,
}

fn host() -> Option<Host> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some(Host::LinuxX86_64),
        ("macos", "aarch64") => Some(Host::MacArm64),
        _ => None,
    }
}

/// The SHA-256 of the file at `path`, when it is `pinned`'s; `Err` says what it is instead.
pub fn check_binary(path: &Path, pinned: &PinnedBinary) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let digest = sha256_hex(&bytes);
            if digest == pinned.sha256 {
                Ok(digest)
            } else {
                Err(format!(
                    "`{}` has sha256 {digest}, not the pinned {}'s {}",
                    path.display(),
                    pinned.name,
                    pinned.sha256
                ))
            }
        }
        Err(e) => Err(format!("`{}` cannot be read ({e})", path.display())),
    }
}

/// `~/.cache/msty-mlx-studio/tools`: where the pinned tools are installed (trust-checked:
/// they run).
pub fn tools_dir() -> Option<PathBuf> {
    crate::caches::bundler_cache("tools")
}

/// `host -m pip install --require-hashes --no-deps --only-binary :all: --target <tmp> -r
/// <pins>`, renamed to `dir` when complete. A concurrent build that got there first wins: then
/// the first pinned binary exists and the rename's failure is no error. Pip's own settings
/// (`PIP_INDEX_URL`, a proxy) apply. The error names the wheels and pip's last `ERROR` line, for
/// the caller to say what to do.
pub fn pip_install_pinned(host: &Path, dir: &Path, pins: &Pins) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("cannot create the tool cache `{}`", parent.display()))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let requirements = parent.join(format!(".{name}.requirements-{}.txt", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    fs::write(&requirements, pins.requirements)?;
    let out = Command::new(host)
        .args(["-I", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location"])
        .args(["--no-compile", "--require-hashes", "--no-deps", "--only-binary", ":all:", "--target"])
        .arg(&tmp)
        .arg("-r")
        .arg(&requirements)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{}`", host.display()));
    let _ = std::fs::remove_file(&requirements);
    let out = out?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let text = String::from_utf8_lossy(&out.stderr);
        let last = text
            .lines()
            .rev()
            .find(|l| l.starts_with("ERROR"))
            .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("");
        bail!("`{} -m pip install {}` failed: {}", host.display(), pins.wheels, last.trim());
    }
    let done = pins.binaries.first().map(|b| dir.join(b.path));
    if let Err(e) = std::fs::rename(&tmp, dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !done.is_some_and(|d| d.is_file()) {
            return Err(anyhow!(e)).with_context(|| format!("cannot move the install into `{}`", dir.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_requirement_line_carries_a_hash_and_every_pin_a_digest() {
        for pins in [uv_pins(), zig_pins()].into_iter().flatten() {
            let lines: Vec<&str> =
                pins.requirements.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
            assert_eq!(lines.len(), pins.wheels.split(' ').count(), "{}", pins.requirements);
            for (line, wheel) in lines.iter().zip(pins.wheels.split(' ')) {
                assert!(line.starts_with(&format!("{wheel} --hash=sha256:")), "{line}");
            }
            for b in pins.binaries {
                assert_eq!(b.sha256.len(), 64, "{}", b.name);
                assert!(pins.requirements.contains(b.sha256), "{} is documented in its requirement file", b.name);
            }
        }
    }

    #[test]
    fn a_binary_of_the_right_version_but_other_bytes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("uv");
        std::fs::write(&fake, "#!/bin/sh\necho uv 0.13.9\n").unwrap();
        let pinned = PinnedBinary { name: "uv", path: "bin/uv", sha256: "0".repeat(64).leak() };
        let err = check_binary(&fake, &pinned).unwrap_err();
        assert!(err.contains("not the pinned uv's 0000"), "{err}");
    }
}
