//! `bundle-manifest.json`: what was bundled, for people and for `--check-mlx-stack` users.

use anyhow::Result;
use fs_err as fs;
use serde::Serialize;

use super::compile::BytecodeMode;
use super::sanity::Sanity;
use super::wheel::WheelInfo;
use msty_mlx_contract::python::PyVersion;

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub python: PythonEntry,
    pub distributions: Vec<DistributionEntry>,
    pub custom_wheels: Vec<CustomWheelEntry>,
    pub launcher: LauncherEntry,
    pub runtime: RuntimeEntry,
    /// The launcher kit the launcher and runtime came from; `None` when built from source.
    pub kit: Option<KitEntry>,
    pub mlxk2_version: Option<String>,
    /// `unchecked-hash`, or `none` (left to the launcher's per-user cache).
    pub bytecode: BytecodeMode,
    pub installer: InstallerEntry,
    /// `ok: …` or `skipped: <why>`.
    pub sanity_check: Sanity,
}

/// What resolved and installed `_vendor`, for which target.
#[derive(Debug, Serialize)]
pub struct InstallerEntry {
    pub tool: String,
    pub version: String,
    /// The SHA-256 of the binary that ran (the pinned one).
    pub sha256: String,
    /// Where it was found: `PATH`, `python3 -m uv`, `pinned install`.
    pub source: String,
    /// `--python-platform` (wheels-only), else the interpreter decided.
    pub python_platform: Option<String>,
    pub macosx_deployment_target: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PythonEntry {
    pub version: PyVersion,
    pub full_version: String,
    pub platform_tag: String,
}

#[derive(Debug, Serialize)]
pub struct DistributionEntry {
    pub name: String,
    pub version: String,
    pub installer: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CustomWheelEntry {
    pub project: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

impl CustomWheelEntry {
    pub fn of(wheel: &WheelInfo) -> Result<CustomWheelEntry> {
        let bytes = fs::read(&wheel.path)?;
        Ok(CustomWheelEntry {
            project: wheel.name.clone(),
            version: wheel.version.clone(),
            file: wheel.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            sha256: crate::digest::sha256_hex(&bytes),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct LauncherEntry {
    pub name: String,
    pub version: String,
    #[serde(flatten)]
    pub build: BuildEntry,
}

/// The runtime library next to the launcher, as its stamp says.
#[derive(Debug, Serialize)]
pub struct RuntimeEntry {
    pub file: String,
    pub python: PyVersion,
    pub plan_format: u32,
    pub version: String,
    #[serde(flatten)]
    pub build: BuildEntry,
}

/// The launcher kit the bundle's launcher files came from.
#[derive(Clone, Debug, Serialize)]
pub struct KitEntry {
    /// Where the kit was read.
    pub dir: std::path::PathBuf,
    pub version: String,
    /// The git commit the kit was built from.
    pub commit: String,
    /// The kit's target the files were chosen for.
    pub target: String,
    /// Each file taken from the kit, with its SHA-256.
    pub files: Vec<KitFileEntry>,
}

/// One file taken from a kit.
#[derive(Clone, Debug, Serialize)]
pub struct KitFileEntry {
    /// In the kit.
    pub path: String,
    /// In the bundle (the launcher's is its name in the kit; it is renamed to `--bin-name`).
    pub dest: String,
    pub sha256: String,
}

/// What a launcher or runtime file was built for, where and with what (flattened into its
/// entry). `target` and `minimum_os` are read from the file itself; `built_on` and `linker`
/// say how it was made: a kit's record, or the bundler's own build (`--from-source`).
#[derive(Clone, Debug, Serialize)]
pub struct BuildEntry {
    /// Rust target triple: `aarch64-apple-darwin`, `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// macOS: the oldest release it loads on (`LC_BUILD_VERSION` minos), e.g. `14.0`.
    pub minimum_os: Option<String>,
    /// The build machine's triple.
    pub built_on: Option<String>,
    /// `cc` (the host's toolchain) or `rust-lld (ld64) against the libSystem stubs of ziglang …`.
    pub linker: Option<String>,
}
