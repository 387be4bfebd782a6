//! The temporary sibling a bundle is built in (`.<BIN_NAME>.tmp-<pid>`), locked (`flock`) for
//! as long as its build runs, swept when an earlier build left it behind, and swapped into
//! place in one step only when everything succeeded.
//!
//! Liveness is the lock, not the pid in the name: a build in another PID namespace sharing
//! the dist dir (a container) has a pid that means nothing here, but its lock is on the same
//! inode. Sweeping and creating happen under a lock on the dist dir, so a sibling is never
//! seen between its creation and its lock.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fs_err as fs;

/// The build directory; removed on drop unless committed.
pub struct TempDir {
    pub path: PathBuf,
    keep: bool,
    /// Held until the build ends: the sibling is alive while this is locked.
    _lock: File,
}

impl TempDir {
    /// Sweeps stale siblings, then creates and locks `.<bin_name>.tmp-<pid>` in `dist_dir`.
    pub fn create(dist_dir: &Path, bin_name: &str) -> Result<TempDir> {
        fs::create_dir_all(dist_dir)?;
        let dist =
            File::open(dist_dir).with_context(|| format!("cannot open the dist dir `{}`", dist_dir.display()))?;
        dist.lock().with_context(|| format!("cannot lock the dist dir `{}`", dist_dir.display()))?;
        remove_stale(dist_dir, bin_name);
        let path = dist_dir.join(format!(".{bin_name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        fs::create_dir_all(&path)?;
        let lock = File::open(&path).with_context(|| format!("cannot open `{}`", path.display()))?;
        lock.lock().with_context(|| format!("cannot lock `{}`", path.display()))?;
        drop(dist);
        Ok(TempDir { path, keep: false, _lock: lock })
    }

    /// Puts the finished bundle at `output`. An old bundle there is swapped out in one step
    /// (`sys::exchange`), so `output` always holds a complete bundle, old or new; the old one
    /// is then removed, and a failure to remove it is a warning (the build is done; the next
    /// build sweeps it).
    ///
    /// Where the system or filesystem has no atomic swap (Linux before 3.15, or a filesystem
    /// without `RENAME_EXCHANGE` such as NFS, FAT or many FUSE ones; on macOS one without
    /// `RENAME_SWAP`), the old bundle is renamed aside first and the new one into place:
    /// between the two renames `output` does not exist, and if the second fails the old one
    /// is put back.
    pub fn commit(self, output: &Path) -> Result<()> {
        self.commit_with(output, crate::sys::exchange)
    }

    /// [`TempDir::commit`] with `swap` as the atomic exchange (the tests give one that is
    /// unsupported, as on such a filesystem).
    fn commit_with(mut self, output: &Path, swap: impl Fn(&Path, &Path) -> std::io::Result<()>) -> Result<()> {
        if output.exists() {
            match swap(&self.path, output) {
                Ok(()) => {
                    self.keep = true;
                    remove_old(&self.path);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                    // A filesystem without an atomic swap: the old one is moved aside first,
                    // so a failure leaves one of the two complete.
                    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let old = output.with_file_name(format!(".{name}.old-{}", std::process::id()));
                    fs::rename(output, &old)
                        .with_context(|| format!("cannot move the old `{}` aside", output.display()))?;
                    if let Err(e) = fs::rename(&self.path, output) {
                        let _ = fs::rename(&old, output);
                        return Err(e).with_context(|| format!("cannot move the bundle to `{}`", output.display()));
                    }
                    self.keep = true;
                    remove_old(&old);
                    return Ok(());
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot swap the bundle `{}` into `{}`", self.path.display(), output.display())
                    });
                }
            }
        }
        fs::rename(&self.path, output).with_context(|| format!("cannot move the bundle to `{}`", output.display()))?;
        self.keep = true;
        Ok(())
    }
}

/// Removes the replaced bundle; a failure is one warning line, not a failed build.
fn remove_old(old: &Path) {
    if let Err(e) = std::fs::remove_dir_all(old) {
        eprintln!(
            "build-external-python: warning: the new bundle is in place, but the old one at `{}` could not be removed ({e}); the next build sweeps it, or remove it by hand",
            old.display()
        );
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Temporary and replaced siblings of earlier builds whose process is gone: nobody holds their
/// lock (a build holds its sibling's lock until it ends; the kernel drops it when the process
/// dies, in whatever PID namespace it ran).
fn remove_stale(dist_dir: &Path, bin_name: &str) {
    for entry in std::fs::read_dir(dist_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let sibling = [format!(".{bin_name}.tmp-"), format!(".{bin_name}.old-")]
            .iter()
            .any(|prefix| name.strip_prefix(prefix.as_str()).is_some_and(|pid| pid.parse::<u32>().is_ok()));
        if !sibling {
            continue;
        }
        let unlocked = File::open(entry.path()).is_ok_and(|f| f.try_lock().is_ok());
        if unlocked {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn bundle(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("which"), text).unwrap();
    }

    /// Issue 27: with two renames, a failure of the second left no bundle at the output.
    #[test]
    fn a_failed_commit_leaves_the_old_bundle_in_place() {
        let dist = tempfile::tempdir().unwrap();
        let output = dist.path().join("msty-mlx-studio");
        bundle(&output, "old");
        let tmp = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        // The new bundle vanishes before the commit (the second rename of old would fail).
        std::fs::remove_dir_all(&tmp.path).unwrap();
        assert!(tmp.commit(&output).is_err());
        assert_eq!(std::fs::read_to_string(output.join("which")).unwrap(), "old");
    }

    #[test]
    fn a_commit_swaps_the_new_bundle_in() {
        let dist = tempfile::tempdir().unwrap();
        let output = dist.path().join("msty-mlx-studio");
        bundle(&output, "old");
        let tmp = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        bundle(&tmp.path, "new");
        tmp.commit(&output).unwrap();
        assert_eq!(std::fs::read_to_string(output.join("which")).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dist.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["msty-mlx-studio"]);
    }

    fn no_swap(_: &Path, _: &Path) -> std::io::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "EINVAL: no RENAME_EXCHANGE here"))
    }

    /// A filesystem without an atomic swap: the two renames put the new bundle in place and
    /// leave nothing else; when the second fails, the old bundle is back at the output.
    #[test]
    fn without_an_atomic_swap_the_commit_renames_aside_and_puts_back_on_failure() {
        let dist = tempfile::tempdir().unwrap();
        let output = dist.path().join("msty-mlx-studio");
        bundle(&output, "old");
        let tmp = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        bundle(&tmp.path, "new");
        tmp.commit_with(&output, no_swap).unwrap();
        assert_eq!(std::fs::read_to_string(output.join("which")).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dist.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["msty-mlx-studio"]);

        let tmp = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        std::fs::remove_dir_all(&tmp.path).unwrap();
        let err = tmp.commit_with(&output, no_swap).unwrap_err();
        assert!(format!("{err:#}").contains("cannot move the bundle to"), "{err:#}");
        assert_eq!(std::fs::read_to_string(output.join("which")).unwrap(), "new", "the old bundle was not put back");
        let names: Vec<_> = std::fs::read_dir(dist.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["msty-mlx-studio"]);
    }

    /// This machine's filesystem for tests swaps atomically (`RENAME_EXCHANGE`), so the tests
    /// above exercise the real call, not only the fallback.
    #[test]
    fn the_tests_filesystem_swaps_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        bundle(&a, "a");
        bundle(&b, "b");
        crate::sys::exchange(&a, &b).expect("RENAME_EXCHANGE on the temp dir's filesystem");
        assert_eq!(std::fs::read_to_string(a.join("which")).unwrap(), "b");
        assert_eq!(std::fs::read_to_string(b.join("which")).unwrap(), "a");
    }

    /// Issue 27: an old bundle that cannot be removed made a committed build fail. Needs root
    /// (`chattr +i`, CAP_LINUX_IMMUTABLE) on a filesystem with the immutable attribute: CI's.
    #[test]
    fn an_old_bundle_that_cannot_be_removed_does_not_fail_the_build() {
        let dist = tempfile::tempdir().unwrap();
        let output = dist.path().join("msty-mlx-studio");
        bundle(&output, "old");
        let chattr =
            |flag: &str, file: &Path| Command::new("chattr").arg(flag).arg(file).status().is_ok_and(|s| s.success());
        let pinned = output.join("which");
        assert!(
            chattr("+i", &pinned),
            "this test needs root and chattr (e2fsprogs) on a filesystem with the immutable attribute"
        );
        let tmp = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        bundle(&tmp.path, "new");
        let tmp_path = tmp.path.clone();
        let result = tmp.commit(&output);
        // The immutable file is wherever the old bundle went.
        for file in [&pinned, &tmp_path.join("which")] {
            chattr("-i", file);
        }
        result.unwrap();
        assert_eq!(std::fs::read_to_string(output.join("which")).unwrap(), "new");
        // The old one stays under the sibling's name, unlocked: the next build sweeps it.
        assert!(tmp_path.exists());
        let next = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        assert!(!tmp_path.join("which").exists(), "the next build sweeps the old bundle");
        drop(next);
    }

    /// Issue 27: a sibling whose pid does not exist here but whose build is alive (another PID
    /// namespace sharing the dist dir) was swept. Its lock says it is alive.
    #[test]
    fn a_locked_sibling_is_alive_whatever_its_pid() {
        let dist = tempfile::tempdir().unwrap();
        // pid 999999999 cannot exist (pid_max is at most 2^22).
        let live = dist.path().join(".msty-mlx-studio.tmp-999999999");
        let dead = dist.path().join(".msty-mlx-studio.tmp-999999998");
        bundle(&live, "building");
        bundle(&dead, "interrupted");
        let mut holder = Command::new("flock")
            .arg("--exclusive")
            .arg(&live)
            .args(["sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .expect("this test needs util-linux's flock");
        let start = Instant::now();
        while File::open(&live).unwrap().try_lock().is_ok() {
            assert!(start.elapsed() < Duration::from_secs(10), "flock never took the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        let tmp = TempDir::create(dist.path(), "msty-mlx-studio").unwrap();
        let _ = holder.kill();
        let _ = holder.wait();
        assert!(live.join("which").exists(), "a live build's sibling was swept");
        assert!(!dead.exists(), "an interrupted build's sibling was kept");
        drop(tmp);
    }
}
