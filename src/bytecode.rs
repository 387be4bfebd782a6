//! Where bytecode comes from and goes to. A signed bundle must never be written, yet a bundle
//! without usable pycs would recompile every module on every start. So:
//!
//! - the bundle ships pycs (the bundler compiles `_vendor`, hash-based): use them, write none;
//! - it ships none: keep the compiled bytecode in a per-user cache outside the bundle
//!   (`<cache dir>/msty-mlx-studio/pycache/<bundle id>-py3.X`, CPython's `pycache_prefix`),
//!   for the launcher and, through `PYTHONPYCACHEPREFIX`, for its children.
//!
//! With a prefix set CPython reads pycs only from the prefix, which is why shipped pycs switch
//! the prefix off instead of being mixed with it.
//!
//! The cache is an optimisation, never a reason to fail or to talk: when the caller's
//! environment names no cache directory (`HOME` and `XDG_CACHE_HOME` unset), or the prefix
//! cannot be created and written (read-only or full file system, a file where a directory
//! should be), the run goes on without caching, exactly as with shipped pycs minus the pycs,
//! and only the debug log (`MLXK2_LAUNCHER_LOG=debug`) says why.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use msty_mlx_contract::plan::BytecodePlan;
use msty_mlx_contract::python::PyVersion;
use sha2::{Digest, Sha256};

/// Decides from `_vendor` (mlxk2's own pyc as the witness: the bundler compiles everything or
/// nothing) and the user's cache directory (`None` when there is none). With `prepare` (a run,
/// not a description) the prefix is created and a write is tried; when that fails the plan
/// writes no bytecode.
pub fn plan(vendor: &Path, home: &Path, python_xy: PyVersion, cache_dir: Option<&Path>, prepare: bool) -> BytecodePlan {
    let tag = python_xy.cache_tag();
    let shipped_pycs = vendor.join("mlxk2/__pycache__").join(format!("__init__.{tag}.pyc")).is_file();
    let mut pycache_prefix = match (shipped_pycs, cache_dir) {
        (false, Some(cache)) => {
            Some(cache.join("msty-mlx-studio/pycache").join(format!("{}-py{python_xy}", bundle_id(vendor, home))))
        }
        (false, None) => {
            tracing::debug!(
                "no per-user cache directory (HOME and XDG_CACHE_HOME unset or not absolute): running without a bytecode cache"
            );
            None
        }
        (true, _) => None,
    };
    if prepare && let Some(prefix) = &pycache_prefix {
        match writable(prefix) {
            Ok(()) => tracing::debug!(prefix = %prefix.display(), "bytecode cache"),
            Err(e) => {
                tracing::debug!(prefix = %prefix.display(), "bytecode cache unusable ({e}): running without a bytecode cache");
                pycache_prefix = None;
            }
        }
    }
    BytecodePlan { shipped_pycs, pycache_prefix }
}

/// The per-user cache directory the caller's environment names: `$XDG_CACHE_HOME` when absolute
/// (Linux), else `$HOME/.cache` (Linux) or `$HOME/Library/Caches` (macOS). Without an absolute
/// `HOME` there is none: the passwd database is not consulted (unlike `dirs`), because a
/// process started with a stripped environment (a service, a sandbox, root's tools) would
/// otherwise write into a home directory nobody named, such as `/root` or `/var/empty`.
pub fn user_cache_dir(vars: &[(OsString, OsString)]) -> Option<PathBuf> {
    let var = |name: &str| {
        vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| Path::new(v.as_os_str())).filter(|p| p.is_absolute())
    };
    if cfg!(target_os = "macos") {
        return var("HOME").map(|home| home.join("Library/Caches"));
    }
    var("XDG_CACHE_HOME").map(Path::to_path_buf).or_else(|| var("HOME").map(|home| home.join(".cache")))
}

/// Creates `prefix` and proves a file can be written there (which a read-only or full file
/// system, or a file in the way, refuses). The probe is named by pid, so concurrent launchers
/// never share one, and removed at once.
fn writable(prefix: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(prefix)?;
    let probe = prefix.join(format!(".write-probe-{}", std::process::id()));
    let written = std::fs::File::create(&probe).and_then(|mut f| f.write_all(b"probe"));
    let _ = std::fs::remove_file(&probe);
    written
}

/// A short, stable name for one bundle: a SHA-256 of its `_vendor` and home paths' bytes (pyc
/// validity itself is checked by CPython against each source). The bytes, not std's `Hash`,
/// whose output for `Path` is not promised stable across Rust releases.
fn bundle_id(vendor: &Path, home: &Path) -> String {
    let mut digest = Sha256::new();
    for path in [vendor, home] {
        digest.update((path.as_os_str().len() as u64).to_le_bytes());
        digest.update(path.as_os_str().as_bytes());
    }
    digest.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_pycs_switch_the_cache_off() {
        let dir = std::env::temp_dir().join(format!("mlxk2-bytecode-{}", std::process::id()));
        let vendor = dir.join("_vendor");
        std::fs::create_dir_all(vendor.join("mlxk2/__pycache__")).unwrap();
        let cache = dir.join("cache");
        let p = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&cache), false);
        assert!(!p.shipped_pycs && p.write_bytecode());
        let prefix = p.pycache_prefix.unwrap();
        assert!(
            prefix.starts_with(cache.join("msty-mlx-studio/pycache")) && prefix.to_string_lossy().ends_with("-py3.11")
        );
        assert_eq!(
            plan(&vendor, &dir, PyVersion::new(3, 11), Some(&cache), false).pycache_prefix.unwrap(),
            prefix,
            "stable"
        );
        assert_ne!(
            plan(&dir.join("other"), &dir, PyVersion::new(3, 11), Some(&cache), false).pycache_prefix.unwrap(),
            prefix
        );
        // Fixed across builds and Rust releases: the cache of an installed app stays valid.
        assert_eq!(
            bundle_id(Path::new("/A/Resources/mlxk2/_vendor"), Path::new("/A/Resources/python")),
            "1e62e6e62a7ea497"
        );
        assert_eq!(plan(&vendor, &dir, PyVersion::new(3, 11), None, false).pycache_prefix, None);
        std::fs::write(vendor.join("mlxk2/__pycache__/__init__.cpython-311.pyc"), b"").unwrap();
        let p = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&cache), false);
        assert!(p.shipped_pycs && !p.write_bytecode());
        assert!(
            !plan(&vendor, &dir, PyVersion::new(3, 12), Some(&cache), false).shipped_pycs,
            "pycs of another X.Y do not count"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unusable_cache_means_no_caching() {
        let dir = std::env::temp_dir().join(format!("mlxk2-bytecode-bad-{}", std::process::id()));
        let vendor = dir.join("_vendor");
        std::fs::create_dir_all(vendor.join("mlxk2")).unwrap();
        // A file where the cache's directory should be.
        std::fs::write(dir.join("cache"), b"").unwrap();
        let p = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("cache")), true);
        assert_eq!(p.pycache_prefix, None);
        assert!(!p.write_bytecode());
        // Described only (--python-info): nothing is created or probed.
        assert!(plan(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("cache")), false).pycache_prefix.is_some());
        let good = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("good")), true).pycache_prefix.unwrap();
        assert!(good.is_dir());
        assert_eq!(std::fs::read_dir(&good).unwrap().count(), 0, "the probe is removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cache_dir_comes_from_the_environment_only() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect::<Vec<_>>()
        };
        assert_eq!(user_cache_dir(&vars(&[])), None);
        assert_eq!(user_cache_dir(&vars(&[("HOME", "")])), None);
        assert_eq!(user_cache_dir(&vars(&[("HOME", "relative")])), None);
        let home = if cfg!(target_os = "macos") { "/h/Library/Caches" } else { "/h/.cache" };
        assert_eq!(user_cache_dir(&vars(&[("HOME", "/h")])).unwrap(), Path::new(home));
        assert_eq!(user_cache_dir(&vars(&[("HOME", "/h"), ("XDG_CACHE_HOME", "rel")])).unwrap(), Path::new(home));
        if !cfg!(target_os = "macos") {
            assert_eq!(user_cache_dir(&vars(&[("XDG_CACHE_HOME", "/x")])).unwrap(), Path::new("/x"));
            assert_eq!(user_cache_dir(&vars(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")])).unwrap(), Path::new("/x"));
        }
    }
}
