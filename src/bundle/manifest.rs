//! `bundle-manifest.json`: what was bundled, for people and for `--check-mlx-stack` users.

use std::path::Path;

use serde::Serialize;

use crate::distinfo::SiteDir;

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub python: PythonEntry,
    pub distributions: Vec<DistributionEntry>,
    pub custom_wheels: Vec<CustomWheelEntry>,
    pub launcher: LauncherEntry,
    pub runtime: RuntimeEntry,
    pub mlxk2_version: Option<String>,
    pub bytecode: String,
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
