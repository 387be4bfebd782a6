//! Scratch directories that belong to the test that made them (removed when it passes) or, inside [`kept`], to the whole process.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{XY, scratch_root};

pub static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty scratch directory for one test. It belongs to the calling test thread and is
/// removed when that test ends, unless it failed (then it stays for inspection, until a later
/// run's [`remove_stale_scratch`]). Inside [`kept`] it belongs to the whole process instead.
pub fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = scratch_root().join(format!("py{XY}-{}-{name}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    OWNED.with(|owned| {
        let mut owned = owned.borrow_mut();
        if owned.keeping == 0 {
            notice_failures();
            owned.dirs.push(dir.clone());
        }
    });
    dir
}

/// Runs `f` (a process-wide fixture's set-up, e.g. in a `OnceLock`) with the scratch
/// directories it makes kept for the whole process: no single test owns them.
pub fn kept<T>(f: impl FnOnce() -> T) -> T {
    OWNED.with(|o| o.borrow_mut().keeping += 1);
    let value = f();
    OWNED.with(|o| o.borrow_mut().keeping -= 1);
    value
}

/// The scratch directories of the current test thread.
#[derive(Default)]
pub struct Owned {
    dirs: Vec<PathBuf>,
    failed: bool,
    keeping: usize,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if !self.failed {
            for dir in &self.dirs {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

thread_local! {
    static OWNED: std::cell::RefCell<Owned> = std::cell::RefCell::default();
}

/// A failing test panics on its own thread: the panic hook marks that thread's directories to
/// be kept (the thread-local's destructor runs after the test, when `panicking()` is over).
pub fn notice_failures() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = OWNED.try_with(|o| o.try_borrow_mut().map(|mut o| o.failed = true));
            default(info);
        }));
    });
}

/// Removes the scratch directories under `root` of earlier test processes that are no longer
/// running.
pub(crate) fn remove_stale_scratch(root: &Path) {
    let prefix = format!("py{XY}-");
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid =
            name.strip_prefix(&prefix).and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id() as i32
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
