//! Linking the launcher and its runtime for macOS on another machine: cargo with the Rust
//! toolchain's own `rust-lld` as the linker (`-C linker-flavor=ld64.lld`), against stub
//! libraries made from a pinned ziglang wheel's (`macos_sdk`), the target's Rust std added with
//! rustup when missing, pyo3 told only the Python X.Y.
//!
//! Why it works: the launcher links no libpython and the runtime is linked like an extension
//! module (`-undefined dynamic_lookup`), so neither needs anything of the target's Python; the
//! stubs give libSystem's names, and ld64.lld writes the ad-hoc code signature arm64 requires.
//! Why not zig's linker (used before): it ignores `-exported_symbols_list`, so the runtime
//! exported 524 symbols, 519 of them Rust's, into a process other Rust extensions share
//! (issue 27); ld64.lld takes rustc's list and exports the two entry points.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::cargo;
use super::from_source::{self, Built};
use super::launcher::Made;
use super::macos_sdk::{self, ELSEWHERE};
use super::platform::{MacTag, version_key};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp;

/// The Rust target and `MACOSX_DEPLOYMENT_TARGET` of a cross build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossTarget {
    pub triple: &'static str,
    pub minimum_os: String,
}

/// Maps a wheel platform tag to the cross build's target:
///
/// | tag | triple | `MACOSX_DEPLOYMENT_TARGET` |
/// |---|---|---|
/// | `macosx_14_0_arm64` | `aarch64-apple-darwin` | `14.0` |
/// | `macosx_13_0_x86_64` | `x86_64-apple-darwin` | `13.0` |
///
/// Anything else is an error that says what to do: universal2 (one bundle resolves wheels for
/// one architecture), a macOS older than Rust's std supports, any other platform.
pub fn cross_target(tag: &str) -> Result<CrossTarget> {
    let Some(mac) = MacTag::parse(tag) else {
        bail!(
            "cannot build the launcher and runtime for `{tag}` on this machine: cross builds are for macOS tags (macosx_X_Y_arm64, macosx_X_Y_x86_64); build them on a {tag} machine, add them to a kit (kit add) and pass --launcher-kit DIR"
        );
    };
    let Some(arch) = mac.architecture() else {
        if mac.arch == "universal2" {
            bail!(
                "--target-platform `{tag}`: universal2 is not supported, use arm64 (macosx_{}_arm64)",
                mac.minimum_os.replace('.', "_")
            );
        }
        bail!(
            "--target-platform `{tag}`: unknown macOS architecture `{}`; use macosx_X_Y_arm64 or macosx_X_Y_x86_64",
            mac.arch
        );
    };
    let (triple, oldest) = (arch.apple_triple(), arch.oldest_macos());
    if version_key(&mac.minimum_os) < version_key(oldest) {
        bail!(
            "--target-platform `{tag}`: Rust's standard library for {triple} needs macOS {oldest} or newer; use macosx_{}_{}",
            oldest.replace('.', "_"),
            mac.arch
        );
    }
    Ok(CrossTarget { triple, minimum_os: mac.minimum_os })
}

/// `cargo build --release` of the launcher and the runtime for `platform_tag` (a macOS tag)
/// and Python `xy`, linked by rust-lld, into `<target_dir>/<triple>/release/`.
pub fn build(repo: &Path, target_dir: &Path, platform_tag: &str, xy: PyVersion, quiet: bool) -> Result<Built> {
    let target = cross_target(platform_tag)?;
    let note = |text: String| {
        if !quiet {
            eprintln!("    {text}");
        }
    };
    let built_on = from_source::host_triple()?;
    ensure_std(target.triple, quiet)?;
    let sdk = macos_sdk::sdk(&note)?;
    let lld = macos_sdk::rust_lld(&built_on)?;
    note(format!("linking for {} (macOS {}) with rust-lld against the {}", target.triple, target.minimum_os, sdk.note));
    let build = cargo::Build { repo, target_dir, triple: Some(target.triple), quiet };
    let mut cmd = build.command();
    apply_macos_link(&mut cmd, &target, &lld, &sdk.root, repo);
    // The runtime links no libpython (extension-module): pyo3 needs only the X.Y.
    cmd.env("PYO3_CROSS_PYTHON_VERSION", xy.to_string());
    let release = build.run(cmd)?;
    Ok(Built {
        launcher: release.join(msty_mlx_contract::LAUNCHER_NAME),
        runtime: release.join(stamp::file_name_for(platform_tag)),
        made: Made { built_on, linker: format!("rust-lld (ld64) against the {}", sdk.note) },
    })
}

/// rustc's flags for a macOS link by rust-lld (`packaging/release.sh` passes the same).
/// ld64.lld derives LC_UUID from a hash of the file it writes and of its output name: `-S`
/// leaves out the debug map (whose N_OSO entries name the object files in this checkout's
/// target dir, stripped only afterwards) and `-final_output` fixes the name, so the same
/// source gives the same bytes in any checkout.
pub const MACOS_LINK_FLAGS: &str = "-C linker-flavor=ld64.lld -C link-arg=-no_fixup_chains -C link-arg=-S -C link-arg=-final_output -C link-arg=msty-mlx-studio";

/// The environment of a macOS build linked by rust-lld (`packaging/release.sh` sets the same).
fn apply_macos_link(cmd: &mut Command, target: &CrossTarget, lld: &Path, sdk: &Path, repo: &Path) {
    let var = format!("CARGO_TARGET_{}", target.triple.to_uppercase().replace('-', "_"));
    // With --target, RUSTFLAGS reach the target's crates only (build scripts stay native).
    // Classic binding info, not chained fixups: what dyld takes for the runtime's flat
    // `-undefined dynamic_lookup` binds on every macOS (as Apple's ld64 does there); and a
    // LC_UUID that does not depend on the checkout (MACOS_LINK_FLAGS).
    let rustflags = format!("{} {MACOS_LINK_FLAGS}", cargo::remap_rustflags(repo));
    cmd.env(format!("{var}_LINKER"), lld)
        .env("RUSTFLAGS", rustflags)
        // The minimum macOS in LC_BUILD_VERSION (and the stubs' SDK root for -syslibroot).
        .env("MACOSX_DEPLOYMENT_TARGET", &target.minimum_os)
        .env("SDKROOT", sdk);
}

/// Rust's std for `triple` (`rustup target add` when it is missing).
fn ensure_std(triple: &str, quiet: bool) -> Result<()> {
    let rustc = cargo::rustc_program();
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .with_context(|| format!("cannot run `{}`", rustc.display()))?;
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let has_std = std::fs::read_dir(&libdir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"));
    if out.status.success() && has_std {
        return Ok(());
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", triple]).stdin(Stdio::null());
    if quiet {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!(
            "Rust's standard library for {triple} is missing and `rustup target add {triple}` failed ({status}); add it by hand, {ELSEWHERE}"
        ),
        Err(e) => bail!(
            "Rust's standard library for {triple} is missing and rustup cannot run ({e}); install the target (rustup target add {triple}), {ELSEWHERE}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tag: &str) -> (&'static str, String) {
        let t = cross_target(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
        (t.triple, t.minimum_os)
    }

    #[test]
    fn macos_tags_map_to_rust_targets_and_deployment_targets() {
        assert_eq!(target("macosx_14_0_arm64"), ("aarch64-apple-darwin", "14.0".into()));
        assert_eq!(target("macosx_13_0_x86_64"), ("x86_64-apple-darwin", "13.0".into()));
        assert_eq!(target("macosx_11_0_arm64"), ("aarch64-apple-darwin", "11.0".into()));
        assert_eq!(target("macosx_10_13_x86_64"), ("x86_64-apple-darwin", "10.13".into()));
        assert_eq!(target("macosx_15_2_arm64"), ("aarch64-apple-darwin", "15.2".into()));
    }

    #[test]
    fn other_tags_are_one_line_errors_that_say_what_to_do() {
        let err = |tag: &str| cross_target(tag).unwrap_err().to_string();
        assert!(err("macosx_14_0_universal2").contains("universal2 is not supported, use arm64 (macosx_14_0_arm64)"));
        assert!(err("macosx_14_0_ppc").contains("unknown macOS architecture `ppc`"));
        assert!(err("macosx_10_9_arm64").contains("needs macOS 11.0 or newer; use macosx_11_0_arm64"));
        assert!(err("macosx_10_9_x86_64").contains("use macosx_10_12_x86_64"));
        for tag in [
            "manylinux_2_28_aarch64",
            "linux_x86_64",
            "win_amd64",
            "macosx_14_arm64",
            "macosx_x_0_arm64",
            "",
            "aarch64-apple-darwin",
        ] {
            let e = err(tag);
            assert!(e.contains(&format!("`{tag}`")) && e.contains("--launcher-kit DIR"), "{tag}: {e}");
        }
        for tag in ["macosx_14_0_universal2", "macosx_14_0_ppc", "manylinux_2_28_aarch64"] {
            assert_eq!(err(tag).lines().count(), 1, "{tag}");
        }
    }
}
