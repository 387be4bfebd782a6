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

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The decision for one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BytecodePlan {
    /// `_vendor` carries pycs for this X.Y.
    pub shipped_pycs: bool,
    /// Where new pycs are written (never inside the bundle); `None` = write none.
    #[serde(with = "crate::os_serde::opt_path")]
    pub pycache_prefix: Option<PathBuf>,
}

impl BytecodePlan {
    pub fn write_bytecode(&self) -> bool {
        self.pycache_prefix.is_some()
    }
}

/// Decides from `_vendor` (mlxk2's own pyc as the witness: the bundler compiles everything or
/// nothing) and the user's cache directory (`None` when there is none).
pub fn plan(vendor: &Path, home: &Path, python_xy: &str, cache_dir: Option<&Path>) -> BytecodePlan {
    let tag = format!("cpython-{}", python_xy.replace('.', ""));
    let shipped_pycs = vendor.join("mlxk2/__pycache__").join(format!("__init__.{tag}.pyc")).is_file();
    let pycache_prefix = match (shipped_pycs, cache_dir) {
        (false, Some(cache)) => Some(cache.join("msty-mlx-studio/pycache").join(format!("{}-py{python_xy}", bundle_id(vendor, home)))),
        _ => None,
    };
    BytecodePlan { shipped_pycs, pycache_prefix }
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
        let p = plan(&vendor, &dir, "3.11", Some(&cache));
        assert!(!p.shipped_pycs && p.write_bytecode());
        let prefix = p.pycache_prefix.unwrap();
        assert!(prefix.starts_with(cache.join("msty-mlx-studio/pycache")) && prefix.to_string_lossy().ends_with("-py3.11"));
        assert_eq!(plan(&vendor, &dir, "3.11", Some(&cache)).pycache_prefix.unwrap(), prefix, "stable");
        assert_ne!(plan(&dir.join("other"), &dir, "3.11", Some(&cache)).pycache_prefix.unwrap(), prefix);
        // Fixed across builds and Rust releases: the cache of an installed app stays valid.
        assert_eq!(bundle_id(Path::new("/A/Resources/mlxk2/_vendor"), Path::new("/A/Resources/python")), "1e62e6e62a7ea497");
        assert_eq!(plan(&vendor, &dir, "3.11", None).pycache_prefix, None);
        std::fs::write(vendor.join("mlxk2/__pycache__/__init__.cpython-311.pyc"), b"").unwrap();
        let p = plan(&vendor, &dir, "3.11", Some(&cache));
        assert!(p.shipped_pycs && !p.write_bytecode());
        assert!(!plan(&vendor, &dir, "3.12", Some(&cache)).shipped_pycs, "pycs of another X.Y do not count");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
