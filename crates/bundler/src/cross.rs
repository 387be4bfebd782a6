//! Linking the launcher and its runtime for macOS on another machine: `cargo zigbuild` with a
//! pinned zig (both PyPI wheels, installed on demand into a tool cache outside the repository),
//! the target's Rust std added with rustup when missing, pyo3 told only the Python X.Y.
//!
//! Why it works: the launcher links no libpython and the runtime is linked like an extension
//! module (`-undefined dynamic_lookup`), so neither needs anything of the target's Python; zig
//! brings the macOS libc stubs and writes the ad-hoc code signature arm64 requires.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use super::from_source::{self, Built};
use super::launcher::Made;
use super::platform::{MacTag, version_key};
use super::{cargo, tools};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp;

/// The zig that links (the `ziglang` wheel).
pub const ZIG_PIN: &str = "0.17.1";
/// The cargo subcommand that makes zig rustc's linker (the `cargo-zigbuild` wheel).
pub const CARGO_ZIGBUILD_PIN: &str = "0.24.0";

/// What to do when the cross build cannot happen here.
const ELSEWHERE: &str = "or build them on a Mac (PYO3_PYTHON=… cargo build --release) and pass --launcher DIR";

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
            "cannot build the launcher and runtime for `{tag}` on this machine: cross builds are for macOS tags (macosx_X_Y_arm64, macosx_X_Y_x86_64); build them on a {tag} machine (PYO3_PYTHON=… cargo build --release) and pass --launcher DIR"
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

/// `cargo zigbuild --release` of the launcher and the runtime for `platform_tag` (a macOS tag)
/// and Python `xy`, into `<repo>/target/bundle-<triple>-py<xy>/<triple>/release/`.
pub fn build(repo: &Path, platform_tag: &str, xy: PyVersion, quiet: bool) -> Result<Built> {
    let target = cross_target(platform_tag)?;
    let note = |text: String| {
        if !quiet {
            eprintln!("    {text}");
        }
    };
    let built_on = from_source::host_triple()?;
    ensure_std(target.triple, quiet)?;
    let tools = zig_tools(&note)?;
    note(format!(
        "linking for {} (macOS {}) with zig {ZIG_PIN}, cargo-zigbuild {CARGO_ZIGBUILD_PIN}",
        target.triple, target.minimum_os
    ));
    let target_dir = repo.join("target").join(format!("bundle-{}-py{xy}", target.triple));
    let build = cargo::Build {
        program: &tools.cargo_zigbuild,
        subcommand: "zigbuild",
        repo,
        target_dir: &target_dir,
        triple: Some(target.triple),
        quiet,
    };
    let mut cmd = build.command();
    // Without it zig stamps the newest macOS into LC_BUILD_VERSION.
    cmd.env("MACOSX_DEPLOYMENT_TARGET", &target.minimum_os)
        // The runtime links no libpython (extension-module): pyo3 needs only the X.Y.
        .env("PYO3_CROSS_PYTHON_VERSION", xy.to_string())
        .env("CARGO_ZIGBUILD_ZIG_PATH", &tools.zig)
        // cargo-zigbuild tries `python3 -m ziglang` before CARGO_ZIGBUILD_ZIG_PATH: a ziglang of
        // any version in the host's Python would win over the pin. A path that is no program
        // rules it out.
        .env("CARGO_ZIGBUILD_PYTHON_PATH", tools.dir.join("no-python"))
        .env("CARGO_ZIGBUILD_CACHE_DIR", tools.dir.join("cache"));
    for var in
        ["CARGO_ZIGBUILD_ZIG_COMMAND", "CARGO_ZIGBUILD_ZIG_COMMAND_ARGS", "CARGO_ZIGBUILD_ZIG_VERSION", "SDKROOT"]
    {
        cmd.env_remove(var);
    }
    let release = build.run(cmd)?;
    Ok(Built {
        launcher: release.join(msty_mlx_contract::LAUNCHER_NAME),
        runtime: release.join(stamp::file_name_for(platform_tag)),
        made: Made { built_on, linker: tools.linker },
    })
}

/// The pinned zig and cargo-zigbuild.
struct ZigTools {
    dir: PathBuf,
    cargo_zigbuild: PathBuf,
    zig: PathBuf,
    /// `zig 0.17.1 (sha256 …), cargo-zigbuild 0.24.0 (sha256 …)`, for the manifest.
    linker: String,
}

/// `<cache dir>/msty-mlx-studio/tools/zig-<pin>-cargo-zigbuild-<pin>/`, installed there with the
/// host's pip and `--require-hashes` when missing (`pip install --target`, renamed into place
/// when complete), each binary checked against its pinned SHA-256 before it runs. Pip's own
/// settings (`PIP_INDEX_URL`, a proxy) apply.
fn zig_tools(note: &dyn Fn(String)) -> Result<ZigTools> {
    let pins = tools::zig_pins()
        .ok_or_else(|| anyhow!("zig is pinned for Linux x86_64 and macOS arm64 hosts only; {ELSEWHERE}"))?;
    let tools = tools::tools_dir()
        .ok_or_else(|| anyhow!("zig is needed to link for macOS and there is no usable cache directory to install it into (HOME unset, or the cache refused: see the warning above); set HOME, {ELSEWHERE}"))?;
    let dir = tools.join(format!("zig-{ZIG_PIN}-cargo-zigbuild-{CARGO_ZIGBUILD_PIN}"));
    let installed = || pins.binaries.iter().all(|b| tools::check_binary(&dir.join(b.path), b).is_ok());
    if !installed() {
        let _ = std::fs::remove_dir_all(&dir);
        let host = super::find_on_path("python3")
            .ok_or_else(|| anyhow!("zig is needed to link for macOS: `{}` is empty and there is no python3 on PATH to install {} with; install python3 with pip, {ELSEWHERE}", dir.display(), pins.wheels))?;
        note(format!("installing {} (--require-hashes) into `{}` (once)", pins.wheels, dir.display()));
        tools::pip_install_pinned(&host, &dir, &pins)
            .map_err(|e| anyhow!("zig is needed to link for macOS and {e:#}; let pip reach PyPI, {ELSEWHERE}"))?;
    }
    let mut digests = Vec::new();
    for b in pins.binaries {
        let digest = tools::check_binary(&dir.join(b.path), b)
            .map_err(|why| anyhow!("{why}; remove `{}` to have it installed again", dir.display()))?;
        digests.push(digest);
    }
    Ok(ZigTools {
        cargo_zigbuild: dir.join("bin/cargo-zigbuild"),
        zig: dir.join("ziglang/zig"),
        dir,
        linker: format!(
            "zig {ZIG_PIN} (sha256 {}), cargo-zigbuild {CARGO_ZIGBUILD_PIN} (sha256 {})",
            digests[0], digests[1]
        ),
    })
}

/// Rust's std for `triple` (`rustup target add` when it is missing).
fn ensure_std(triple: &str, quiet: bool) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .with_context(|| format!("cannot run `{}`", Path::new(&rustc).display()))?;
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
            assert!(e.contains(&format!("`{tag}`")) && e.contains("--launcher DIR"), "{tag}: {e}");
        }
        for tag in ["macosx_14_0_universal2", "macosx_14_0_ppc", "manylinux_2_28_aarch64"] {
            assert_eq!(err(tag).lines().count(), 1, "{tag}");
        }
    }
}
