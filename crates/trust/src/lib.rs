//! Trust walk for a directory outside the bundle that the launcher lets CPython read code from
//! (the per-user bytecode cache): checked component by component from `/` down, without
//! following a symlink, before any use (threat model: `docs/security.md`).
//!
//! Two rules:
//!
//! - **above** the directories we own (`/` down to the cache root, e.g. `$XDG_CACHE_HOME`,
//!   `~/.cache`, `~/Library/Caches`): each directory is owned by the effective user or by root,
//!   and if group- or world-writable it must be sticky;
//! - **ours** (`<root>/msty-mlx-studio` down to the leaf): owned by the effective user and not
//!   group- or world-writable. We create them `0700`; at a run, an existing one that lets others
//!   read or search it is tightened to `0700` (ours: only we may chmod it).
//!
//! Why no other user can swap a checked directory between this walk and CPython's use of the
//! path (a string, resolved again by the kernel at every import): renaming, removing or
//! replacing an entry needs write permission on the directory holding it. Every directory on
//! the path is owned by us or root and writable by nobody else, except a shared sticky one
//! (`/tmp`-like), where only the entry's owner, the directory's owner (root or us) or root may
//! rename or remove an entry — and the entry we walk through is, by the rule applied to it,
//! owned by us or root. Mode and owner of a directory can only be changed by its owner or root.
//! So after the walk, only we and root can change what the path resolves to; both are trusted.
//! The root's own path is canonicalized first (a symlinked `~/.cache` is fine: the walk checks
//! where it leads), and the walk runs on that canonical path, whose every component is then
//! opened with `O_NOFOLLOW`: a symlink found there (put in place after canonicalization) is
//! refused. Files and directories CPython creates below the leaf are unreachable by others,
//! because the leaf is `0700`.
//!
//! Shared by the launcher (its bytecode cache) and the bundler (its tool and pyc caches).

#![deny(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[allow(unsafe_code)]
mod fs_at;

pub use fs_at::{EntryKind, create_new_file_at, effective_uid, entry_kind_at, unlink_at};

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const GROUP_OR_OTHER_ANY: u32 = 0o077;
const STICKY: u32 = 0o1000;

/// Why a directory is not used. `Untrusted` means another user could have put code there (or
/// could swap it); `Unusable` means it is simply not there to use (no permission, read-only
/// or full file system, a file in the way).
#[derive(Debug)]
pub enum Refusal {
    Untrusted { dir: PathBuf, why: String },
    Unusable { dir: PathBuf, error: io::Error },
}

impl Refusal {
    pub fn is_untrusted(&self) -> bool {
        matches!(self, Refusal::Untrusted { .. })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Untrusted { dir, why } => write!(f, "`{}` {why}", dir.display()),
            Refusal::Unusable { dir, error } => write!(f, "`{}`: {error}", dir.display()),
        }
    }
}

/// The outcome of a walk that refused nothing.
#[derive(Debug)]
pub enum Walked {
    /// Every directory exists (or was created) and passed; the leaf is open.
    Open { path: PathBuf, leaf: OwnedFd, leaf_created: bool },
    /// Checking only: everything that exists passed; the rest would be created (by us, 0700).
    WouldCreate { path: PathBuf },
}

/// Walks `root` (absolute) with the "above" rule and `root/<ours...>` with the "ours" rule.
/// With `create`, missing directories are created `0700` and ours are tightened to `0700`;
/// without, nothing is changed on disk.
pub fn walk(root: &Path, ours: &[&OsStr], create: bool) -> Result<Walked, Refusal> {
    let euid = fs_at::effective_uid();
    let (canonical, missing_above) = canonical_existing(root)?;
    let mut path = PathBuf::from("/");
    let mut dir = open(None, OsStr::new("/"), &path)?;
    check_above(&dir, &path, euid)?;
    let existing: Vec<OsString> = canonical
        .components()
        .filter_map(|c| if let Component::Normal(n) = c { Some(n.to_owned()) } else { None })
        .collect();
    let full: PathBuf = [canonical.as_os_str()]
        .into_iter()
        .chain(missing_above.iter().map(OsString::as_os_str))
        .chain(ours.iter().copied())
        .collect();
    // Whether the component just walked was created by this walk (the last one: the leaf).
    let mut created = false;
    let steps = existing
        .iter()
        .map(|n| (n.as_os_str(), false, false))
        .chain(missing_above.iter().map(|n| (n.as_os_str(), true, false)))
        .chain(ours.iter().map(|n| (*n, true, true)));
    for (name, may_be_missing, is_ours) in steps {
        path.push(name);
        let next = match open(Some(&dir), name, &path) {
            Err(Refusal::Unusable { error, .. }) if may_be_missing && error.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(Walked::WouldCreate { path: full });
                }
                match fs_at::mkdir_at(dir.as_fd(), name, 0o700) {
                    Ok(()) => created = true,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => created = false, // a concurrent launcher
                    Err(error) => return Err(Refusal::Unusable { dir: path, error }),
                }
                open(Some(&dir), name, &path)?
            }
            other => {
                created = false;
                other?
            }
        };
        if is_ours {
            check_ours(&next, &path, euid, create && !created)?;
        } else {
            check_above(&next, &path, euid)?;
        }
        dir = next;
    }
    Ok(Walked::Open { path, leaf: dir.into(), leaf_created: created })
}

/// The canonical path of `root`'s deepest existing ancestor (or `root` itself), and the names
/// below it that do not exist yet.
fn canonical_existing(root: &Path) -> Result<(PathBuf, Vec<OsString>), Refusal> {
    let mut existing = root.to_path_buf();
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(canonical) => {
                missing.reverse();
                return Ok((canonical, missing));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match existing.file_name() {
                Some(name) => {
                    missing.push(name.to_owned());
                    existing.pop();
                }
                None => {
                    return Err(Refusal::Unusable { dir: root.to_path_buf(), error: e });
                }
            },
            Err(error) => {
                return Err(Refusal::Unusable { dir: existing, error });
            }
        }
    }
}

/// Opens one component without following a symlink; a symlink is untrusted (it could lead
/// anywhere, and whoever owns it decides where), a non-directory unusable.
fn open(parent: Option<&File>, name: &OsStr, path: &Path) -> Result<File, Refusal> {
    match fs_at::open_dir_nofollow(parent.map(AsFd::as_fd), name) {
        Ok(fd) => Ok(File::from(fd)),
        // ELOOP (O_RDONLY) or ENOTDIR (Linux's O_PATH opens the link itself): ask which.
        Err(e)
            if e.raw_os_error() == Some(libc::ELOOP)
                || fs_at::entry_kind_at(parent.map(AsFd::as_fd), name)
                    .is_ok_and(|k| k == fs_at::EntryKind::Symlink) =>
        {
            Err(Refusal::Untrusted { dir: path.to_path_buf(), why: "is a symlink (not followed)".into() })
        }
        Err(error) => Err(Refusal::Unusable { dir: path.to_path_buf(), error }),
    }
}

fn mode_and_owner(dir: &File, path: &Path) -> Result<(u32, u32), Refusal> {
    let meta = dir.metadata().map_err(|error| Refusal::Unusable { dir: path.to_path_buf(), error })?;
    Ok((meta.mode() & 0o7777, meta.uid()))
}

fn check_above(dir: &File, path: &Path, euid: u32) -> Result<(), Refusal> {
    let (mode, owner) = mode_and_owner(dir, path)?;
    let untrusted = |why: String| Err(Refusal::Untrusted { dir: path.to_path_buf(), why });
    if owner != euid && owner != 0 {
        return untrusted(format!("is owned by uid {owner}, neither this user (uid {euid}) nor root"));
    }
    if mode & GROUP_OR_OTHER_WRITE != 0 && mode & STICKY == 0 {
        return untrusted(format!("is group- or world-writable and not sticky (mode {mode:04o})"));
    }
    Ok(())
}

fn check_ours(dir: &File, path: &Path, euid: u32, tighten: bool) -> Result<(), Refusal> {
    let (mode, owner) = mode_and_owner(dir, path)?;
    let untrusted = |why: String| Err(Refusal::Untrusted { dir: path.to_path_buf(), why });
    if owner != euid {
        return untrusted(format!("is owned by uid {owner}, not by this user (uid {euid})"));
    }
    if mode & GROUP_OR_OTHER_WRITE != 0 {
        return untrusted(format!("is group- or world-writable (mode {mode:04o})"));
    }
    if tighten && mode & GROUP_OR_OTHER_ANY != 0 {
        // Made by an earlier launcher (0755): from now on nobody else reaches what is inside.
        // By path: every directory above it passed, so the path names this very directory.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|error| Refusal::Unusable { dir: path.to_path_buf(), error })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `0700` temp dir (removed when the guard drops) and its real path.
    fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
        let guard = tempfile::Builder::new().prefix(&format!("mlxk2-trusted-{name}-")).tempdir().unwrap();
        let dir = guard.path().canonicalize().unwrap();
        (guard, dir)
    }
    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }
    const OURS: [&str; 2] = ["ours", "leaf"];
    fn ours() -> Vec<&'static OsStr> {
        OURS.iter().map(OsStr::new).collect()
    }

    #[test]
    fn creates_ours_0700_and_describes_without_creating() {
        let (_guard, dir) = scratch("create");
        let root = dir.join("missing-root");
        match walk(&root, &ours(), false).unwrap() {
            Walked::WouldCreate { path } => assert_eq!(path, root.join("ours/leaf")),
            other => panic!("{other:?}"),
        }
        assert!(!root.exists());
        match walk(&root, &ours(), true).unwrap() {
            Walked::Open { path, leaf_created, .. } => assert!(path == root.join("ours/leaf") && leaf_created),
            other => panic!("{other:?}"),
        }
        for d in [&root, &root.join("ours"), &root.join("ours/leaf")] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        assert!(matches!(walk(&root, &ours(), true).unwrap(), Walked::Open { leaf_created: false, .. }));
        // An earlier launcher's 0755 directories are tightened at a run, not when described.
        chmod(&root.join("ours"), 0o755);
        walk(&root, &ours(), false).unwrap();
        assert_eq!(mode(&root.join("ours")), 0o755);
        walk(&root, &ours(), true).unwrap();
        assert_eq!(mode(&root.join("ours")), 0o700);
    }

    #[test]
    fn refuses_writable_ours_symlinks_and_a_shared_root_without_sticky_bit() {
        let (_guard, dir) = scratch("refuse");
        let root = dir.join("root");
        walk(&root, &ours(), true).unwrap();
        chmod(&root.join("ours"), 0o770);
        let refusal = walk(&root, &ours(), false).unwrap_err();
        assert!(
            refusal.is_untrusted() && refusal.to_string().contains("group- or world-writable (mode 0770)"),
            "{refusal}"
        );
        chmod(&root.join("ours"), 0o700);
        // A symlink anywhere below the root, even to a directory of ours.
        std::fs::rename(root.join("ours/leaf"), dir.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), root.join("ours/leaf")).unwrap();
        let refusal = walk(&root, &ours(), true).unwrap_err();
        assert!(
            refusal.is_untrusted()
                && refusal.to_string() == format!("`{}` is a symlink (not followed)", root.join("ours/leaf").display()),
            "{refusal}"
        );
        std::fs::remove_file(root.join("ours/leaf")).unwrap();
        // The root: world-writable needs the sticky bit.
        chmod(&root, 0o777);
        let refusal = walk(&root, &ours(), true).unwrap_err();
        assert!(refusal.is_untrusted() && refusal.to_string().contains("not sticky (mode 0777)"), "{refusal}");
        chmod(&root, 0o1777);
        assert!(matches!(walk(&root, &ours(), true).unwrap(), Walked::Open { .. }));
        // A file where a directory should be: unusable, not untrusted.
        std::fs::remove_dir_all(root.join("ours")).unwrap();
        std::fs::write(root.join("ours"), b"").unwrap();
        assert!(!walk(&root, &ours(), true).unwrap_err().is_untrusted());
        // A symlinked root is followed once, to where it leads, which is then checked.
        std::os::unix::fs::symlink(&root, dir.join("link")).unwrap();
        std::fs::remove_file(root.join("ours")).unwrap();
        match walk(&dir.join("link"), &ours(), true).unwrap() {
            Walked::Open { path, .. } => assert_eq!(path, root.join("ours/leaf")),
            other => panic!("{other:?}"),
        }
    }
}
