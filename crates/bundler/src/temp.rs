//! The temporary sibling a bundle is built in (`.<BIN_NAME>.tmp-<pid>`), swept when an earlier
//! build was interrupted, and renamed into place only when everything succeeded.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fs_err as fs;

/// The build directory; removed on drop unless committed.
pub struct TempDir {
    pub path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Sweeps stale siblings, then creates `.<bin_name>.tmp-<pid>` in `dist_dir`.
    pub fn create(dist_dir: &Path, bin_name: &str) -> Result<TempDir> {
        fs::create_dir_all(dist_dir)?;
        remove_stale(dist_dir, bin_name);
        let path = dist_dir.join(format!(".{bin_name}.tmp-{}", std::process::id()));
        fs::create_dir_all(&path)?;
        Ok(TempDir { path, keep: false })
    }

    /// Moves the finished bundle to `output`, replacing an old one (moved aside first, so a
    /// failure leaves one of the two complete).
    pub fn commit(mut self, output: &Path) -> Result<()> {
        if output.exists() {
            let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let old = output.with_file_name(format!(".{name}.old-{}", std::process::id()));
            fs::rename(output, &old).with_context(|| format!("cannot move the old `{}` aside", output.display()))?;
            fs::rename(&self.path, output)
                .with_context(|| format!("cannot move the bundle to `{}`", output.display()))?;
            fs::remove_dir_all(&old).with_context(|| format!("cannot remove the old bundle `{}`", old.display()))?;
        } else {
            fs::rename(&self.path, output)
                .with_context(|| format!("cannot move the bundle to `{}`", output.display()))?;
        }
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Temporary siblings of earlier builds that were interrupted (their process is gone; where
/// there is no /proc to ask, once they are a day old).
fn remove_stale(dist_dir: &Path, bin_name: &str) {
    for entry in std::fs::read_dir(dist_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(&format!(".{bin_name}.tmp-"))
            .or_else(|| name.strip_prefix(&format!(".{bin_name}.old-")))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let stale = if Path::new("/proc/self").exists() {
            !Path::new(&format!("/proc/{pid}")).exists()
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 86_400)
        };
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Bytes in the files under `dir`.
pub fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => total += tree_size(&entry.path()),
            Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => {}
        }
    }
    total
}
