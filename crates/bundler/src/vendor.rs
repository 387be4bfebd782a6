//! `_vendor` after the installs, scanned once per build: its dist-infos and the distributions
//! they describe. Every later step (custom-wheel clean-up, the one-per-project check, stamping,
//! the sanity check's imports, the manifest) reads this scan instead of listing `_vendor` again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fs_err as fs;

use super::manifest::DistributionEntry;
use super::wheel::WheelInfo;
use msty_mlx_distinfo::{DistError, Distribution, SiteDir, normalize};

/// The scanned `_vendor`.
pub struct Vendor {
    pub dir: PathBuf,
    site: SiteDir,
}

impl Vendor {
    /// The one listing of `dir`.
    pub fn scan(dir: &Path) -> Vendor {
        Vendor { dir: dir.to_path_buf(), site: SiteDir::scan(dir) }
    }

    /// Removes every dist-info of `wheel`'s project but the new one (an installer that replaces
    /// a project under another version may leave the old directory behind).
    pub fn remove_superseded(&mut self, wheel: &WheelInfo) -> Result<()> {
        let escaped = format!("{}-{}.dist-info", normalize(&wheel.name).replace('-', "_"), wheel.version);
        if let Some(paths) = self.site.by_name.get_mut(&normalize(&wheel.name)) {
            let mut kept = Vec::new();
            for path in paths.drain(..) {
                let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
                if name == escaped.to_lowercase() {
                    kept.push(path);
                } else {
                    fs::remove_dir_all(&path)
                        .with_context(|| format!("cannot remove the superseded `{}`", path.display()))?;
                }
            }
            *paths = kept;
        }
        Ok(())
    }

    /// Refuses two dist-infos for one project, and a `_vendor` without the `mlxk2` package.
    pub fn check(&self) -> Result<()> {
        if let Some((name, paths)) = self.site.duplicates().next() {
            let list: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
            bail!("the vendored packages hold two dist-infos for `{name}`: {}", list.join(" and "));
        }
        if !self.dir.join("mlxk2").is_dir() {
            bail!("the project installed no `mlxk2` package into _vendor; is it mlx-knife?");
        }
        Ok(())
    }

    /// Whether a distribution of that name is installed.
    pub fn has(&self, name: &str) -> bool {
        self.site.by_name.contains_key(&normalize(name))
    }

    /// Every distribution, sorted by name.
    pub fn distributions(&self) -> impl Iterator<Item = (&String, Result<Distribution, DistError>)> {
        self.site.by_name.keys().map(|name| (name, self.site.distribution(name)))
    }

    /// The distribution that owns the `mlxk2` package.
    pub fn mlxk2(&self) -> Option<Distribution> {
        let package = self.dir.join("mlxk2");
        self.distributions().filter_map(|(_, d)| d.ok()).find(|d| d.module_file.as_deref() == Some(package.as_path()))
    }

    /// The manifest's list: unreadable distributions are listed with their error as version,
    /// so the manifest never hides them.
    pub fn manifest_entries(&self) -> Vec<DistributionEntry> {
        self.distributions()
            .map(|(name, d)| match d {
                Ok(d) => DistributionEntry { name: d.package, version: d.version, installer: d.installer },
                Err(e) => DistributionEntry { name: name.clone(), version: format!("<{e}>"), installer: None },
            })
            .collect()
    }
}
