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
//! CPython executes whatever valid pyc it finds under the prefix, so the prefix is code: every
//! directory of it is checked before any use ([`msty_mlx_trust`], `docs/security.md`);
//! one that another user could have written, or could swap, means no caching for this run.
//!
//! The cache is an optimisation, never a reason to fail or to talk: when the caller's
//! environment names no cache directory (`HOME` and `XDG_CACHE_HOME` unset), the cache is
//! untrusted, or the prefix cannot be created and written (read-only or full file system, a
//! file where a directory should be), the run goes on without caching, exactly as with shipped
//! pycs minus the pycs; the debug log (`MLXK2_LAUNCHER_LOG=debug`) says why in one line and
//! the plan carries the reason (`no_cache_reason`, printed by `--python-info`).
//!
//! Writability is proved once per cache, not per run: the first run that finds the leaf
//! without [`MARKER`] (it created the leaf, or an earlier launcher did) writes the marker as
//! its probe and keeps it. A file system that becomes read-only or full later is harmless:
//! CPython skips every pyc it cannot write.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use msty_mlx_contract::plan::BytecodePlan;
use msty_mlx_contract::python::PyVersion;
use sha2::{Digest, Sha256};

use msty_mlx_trust::{self as trusted_dir, EntryKind, Walked};

/// The file in a cache leaf that says "trust-checked and proved writable by a launcher".
pub const MARKER: &str = ".msty-mlx-studio-cache";

/// Decides from `_vendor` (mlxk2's own pyc as the witness: the bundler compiles everything or
/// nothing) and the user's cache directory (`None` when there is none), from what is on disk:
/// every existing directory of the prefix is trust-checked, nothing is created or changed (the
/// survey; [`prepare`] does the writing once the plan is known to run). Any refusal means no
/// caching.
pub fn plan(vendor: &Path, home: &Path, python_xy: PyVersion, cache_dir: Option<&Path>) -> BytecodePlan {
    decide(vendor, home, python_xy, cache_dir, false)
}

/// [`plan`] again, now making it true on disk: missing directories of the prefix are created
/// `0700` (every one trust-checked again, right before use), an earlier launcher's are
/// tightened to `0700`, and a cache without [`MARKER`] is probed. What cannot be made true
/// means no caching, as in [`plan`].
pub fn prepare(vendor: &Path, home: &Path, python_xy: PyVersion, cache_dir: Option<&Path>) -> BytecodePlan {
    decide(vendor, home, python_xy, cache_dir, true)
}

/// The run's decision is logged once, by [`prepare`]; a description carries it in the plan.
fn decide(vendor: &Path, home: &Path, python_xy: PyVersion, cache_dir: Option<&Path>, prepare: bool) -> BytecodePlan {
    let tag = python_xy.cache_tag();
    let shipped_pycs = vendor.join("mlxk2/__pycache__").join(format!("__init__.{tag}.pyc")).is_file();
    if shipped_pycs {
        return BytecodePlan { shipped_pycs, pycache_prefix: None, no_cache_reason: None };
    }
    let Some(cache) = cache_dir else {
        let reason = "no per-user cache directory (HOME and XDG_CACHE_HOME unset or not absolute)";
        if prepare {
            tracing::debug!("{reason}: running without a bytecode cache");
        }
        return BytecodePlan { shipped_pycs, pycache_prefix: None, no_cache_reason: Some(reason.into()) };
    };
    let leaf = OsString::from(format!("{}-py{python_xy}", bundle_id(vendor, home)));
    let chain = [OsStr::new("msty-mlx-studio"), OsStr::new("pycache"), &leaf];
    let walked = trusted_dir::walk(cache, &chain, prepare).and_then(|walked| match walked {
        Walked::Open { path, leaf, leaf_created } if prepare => {
            prove_writable(leaf.as_fd(), leaf_created)
                .map_err(|error| trusted_dir::Refusal::Unusable { dir: path.clone(), error })?;
            Ok(path)
        }
        Walked::Open { path, .. } | Walked::WouldCreate { path } => Ok(path),
    });
    match walked {
        Ok(prefix) => {
            if prepare {
                tracing::debug!(prefix = %prefix.display(), "bytecode cache");
            }
            BytecodePlan { shipped_pycs, pycache_prefix: Some(prefix), no_cache_reason: None }
        }
        Err(refusal) => {
            let kind = if refusal.is_untrusted() { "untrusted" } else { "unusable" };
            if prepare {
                tracing::debug!("bytecode cache {kind} ({refusal}): running without a bytecode cache");
            }
            BytecodePlan {
                shipped_pycs,
                pycache_prefix: None,
                no_cache_reason: Some(format!("bytecode cache {kind}: {refusal}")),
            }
        }
    }
}

/// The per-user cache directory the caller's environment names: `$XDG_CACHE_HOME` when absolute
/// (Linux), else `$HOME/.cache` (Linux) or `$HOME/Library/Caches` (macOS). Without an absolute
/// `HOME` there is none: the passwd database is not consulted (unlike `dirs`), because a
/// process started with a stripped environment (a service, a sandbox, root's tools) would
/// otherwise write into a home directory nobody named, such as `/root` or `/var/empty`.
pub fn user_cache_dir(vars: &[(OsString, OsString)]) -> Option<PathBuf> {
    let var = |name: &str| crate::settings::value(vars, name).map(Path::new).filter(|p| p.is_absolute());
    if cfg!(target_os = "macos") {
        return var("HOME").map(|home| home.join("Library/Caches"));
    }
    var("XDG_CACHE_HOME").map(Path::to_path_buf).or_else(|| var("HOME").map(|home| home.join(".cache")))
}

/// Proves the (trust-checked) leaf writable by writing [`MARKER`] into it, unless a marker is
/// already there. The marker stays: the next run finds it and writes nothing. Created with
/// `O_EXCL`, so concurrent first runs never share one; a failed write removes it again.
fn prove_writable(leaf: BorrowedFd<'_>, leaf_created: bool) -> std::io::Result<()> {
    let marker = OsStr::new(MARKER);
    if !leaf_created && trusted_dir::entry_kind_at(Some(leaf), marker).is_ok_and(|kind| kind == EntryKind::File) {
        return Ok(());
    }
    match trusted_dir::create_new_file_at(leaf, marker, 0o600) {
        Ok(mut file) => file
            .write_all(b"msty-mlx-studio: this bytecode cache was trust-checked and proved writable\n")
            .inspect_err(|_| {
                let _ = trusted_dir::unlink_at(leaf, marker);
            }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()), // a concurrent first run
        Err(e) => Err(e),
    }
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
        let dir = crate::test_dir::test_dir("bytecode");
        let vendor = dir.join("_vendor");
        std::fs::create_dir_all(vendor.join("mlxk2/__pycache__")).unwrap();
        let cache = dir.join("cache");
        let p = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&cache));
        assert!(!p.shipped_pycs && p.write_bytecode());
        let prefix = p.pycache_prefix.unwrap();
        assert!(
            prefix.starts_with(cache.join("msty-mlx-studio/pycache")) && prefix.to_string_lossy().ends_with("-py3.11")
        );
        assert_eq!(plan(&vendor, &dir, PyVersion::new(3, 11), Some(&cache)).pycache_prefix.unwrap(), prefix, "stable");
        assert_ne!(plan(&dir.join("other"), &dir, PyVersion::new(3, 11), Some(&cache)).pycache_prefix.unwrap(), prefix);
        // Fixed across builds and Rust releases: the cache of an installed app stays valid.
        assert_eq!(
            bundle_id(Path::new("/A/Resources/mlxk2/_vendor"), Path::new("/A/Resources/python")),
            "1e62e6e62a7ea497"
        );
        assert_eq!(plan(&vendor, &dir, PyVersion::new(3, 11), None).pycache_prefix, None);
        assert!(
            plan(&vendor, &dir, PyVersion::new(3, 11), None)
                .no_cache_reason
                .unwrap()
                .starts_with("no per-user cache directory")
        );
        std::fs::write(vendor.join("mlxk2/__pycache__/__init__.cpython-311.pyc"), b"").unwrap();
        let p = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&cache));
        assert!(p.shipped_pycs && !p.write_bytecode());
        assert!(
            !plan(&vendor, &dir, PyVersion::new(3, 12), Some(&cache)).shipped_pycs,
            "pycs of another X.Y do not count"
        );
    }

    #[test]
    fn an_unusable_cache_means_no_caching() {
        let dir = crate::test_dir::test_dir("bytecode-bad");
        let vendor = dir.join("_vendor");
        std::fs::create_dir_all(vendor.join("mlxk2")).unwrap();
        // A file where the cache's directory should be.
        std::fs::write(dir.join("cache"), b"").unwrap();
        let p = prepare(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("cache")));
        assert_eq!(p.pycache_prefix, None);
        assert!(!p.write_bytecode());
        assert!(p.no_cache_reason.unwrap().starts_with("bytecode cache unusable: "));
        // Described only (--python-info): the same decision, from what is there.
        let described = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("cache")));
        assert_eq!(described.pycache_prefix, None);
        let fresh = plan(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("good"))).pycache_prefix.unwrap();
        assert!(!dir.join("good").exists(), "describing creates nothing");
        let good = prepare(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("good"))).pycache_prefix.unwrap();
        assert_eq!(good, fresh);
        assert!(good.is_dir());
        let names = |d: &Path| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
        assert_eq!(names(&good), [MARKER], "the probe is the marker, and nothing else");
        std::fs::remove_file(good.join(MARKER)).unwrap();
        std::fs::write(good.join(MARKER), b"").unwrap();
        assert_eq!(
            prepare(&vendor, &dir, PyVersion::new(3, 11), Some(&dir.join("good"))).pycache_prefix.unwrap(),
            good
        );
        assert_eq!(std::fs::read(good.join(MARKER)).unwrap(), b"", "a marker is there: no probe");
        assert_eq!(names(&good), [MARKER]);
    }

    /// The writability probe runs once per cache: a leaf that has the marker is left alone (not
    /// rewritten, not even opened for writing: its time stays), a leaf without one is probed.
    #[test]
    fn the_marker_is_written_once_and_then_left_alone() {
        let dir = crate::test_dir::test_dir("bytecode-marker");
        let vendor = dir.join("_vendor");
        std::fs::create_dir_all(vendor.join("mlxk2")).unwrap();
        let cache = dir.join("cache");
        let prepare = || prepare(&vendor, &dir, PyVersion::new(3, 11), Some(&cache)).pycache_prefix.unwrap();
        let leaf = prepare();
        let marker = leaf.join(MARKER);
        let probe = std::fs::read(&marker).unwrap();
        assert!(probe.starts_with(b"msty-mlx-studio: "), "the probe's text");
        let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options().write(true).open(&marker).unwrap().set_modified(long_ago).unwrap();
        assert_eq!(prepare(), leaf);
        assert_eq!(std::fs::metadata(&marker).unwrap().modified().unwrap(), long_ago, "the marker was rewritten");
        assert_eq!(std::fs::read(&marker).unwrap(), probe);
        // An existing leaf without a marker (an earlier launcher's, or one whose probe failed):
        // probed now.
        std::fs::remove_file(&marker).unwrap();
        assert_eq!(prepare(), leaf);
        assert_eq!(std::fs::read(&marker).unwrap(), probe);
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
