//! Test-only: a fresh temporary directory per test, removed when dropped — also when the test
//! fails — so that no run leaves scratch behind in the system's temp dir.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A temporary directory (`0700`, unique name) that derefs to its canonical path.
pub struct TestDir {
    _guard: tempfile::TempDir,
    path: PathBuf,
}

impl Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

pub fn test_dir(name: &str) -> TestDir {
    let guard = tempfile::Builder::new().prefix(&format!("mlxk2-{name}-")).tempdir().expect("a temp dir for the test");
    let path = guard.path().canonicalize().expect("the temp dir's real path");
    TestDir { _guard: guard, path }
}
