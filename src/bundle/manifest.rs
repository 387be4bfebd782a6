//! `bundle-manifest.json`: what was bundled, for people and for `--check-mlx-stack` users.

use std::path::Path;

use anyhow::Result;
use fs_err as fs;
use serde::Serialize;

use super::wheel::WheelInfo;
use crate::distinfo::SiteDir;

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub python: PythonEntry,
    pub distributions: Vec<DistributionEntry>,
    pub custom_wheels: Vec<CustomWheelEntry>,
    pub launcher: LauncherEntry,
    pub runtime: RuntimeEntry,
    pub mlxk2_version: Option<String>,
    /// `unchecked-hash`, or `none` (left to the launcher's per-user cache).
    pub bytecode: String,
    pub installer: InstallerEntry,
    /// `ok: …` or `skipped: <why>`.
    pub sanity_check: String,
}

/// What resolved and installed `_vendor`, for which target.
#[derive(Debug, Serialize)]
pub struct InstallerEntry {
    pub tool: String,
    pub version: String,
    /// `--python-platform` (wheels-only), else the interpreter decided.
    pub python_platform: Option<String>,
    pub macosx_deployment_target: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PythonEntry {
    pub version: String,
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
        use sha2::Digest;
        let bytes = fs::read(&wheel.path)?;
        Ok(CustomWheelEntry {
            project: wheel.name.clone(),
            version: wheel.version.clone(),
            file: wheel.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            sha256: sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct LauncherEntry {
    pub name: String,
    pub version: String,
}

/// The runtime library next to the launcher, as its stamp says.
#[derive(Debug, Serialize)]
pub struct RuntimeEntry {
    pub file: String,
    pub python: String,
    pub plan_format: u32,
    pub version: String,
}

/// Every distribution in `vendor`, sorted by name; unreadable ones are listed with their error
/// as version so the manifest never hides them.
pub fn distributions(vendor: &Path) -> Vec<DistributionEntry> {
    let site = SiteDir::scan(vendor);
    site.by_name
        .keys()
        .map(|name| match site.distribution(name) {
            Ok(d) => DistributionEntry { name: d.package, version: d.version, installer: d.installer },
            Err(e) => DistributionEntry { name: name.clone(), version: format!("<{e}>"), installer: None },
        })
        .collect()
}
