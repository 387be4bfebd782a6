//! Test-only code shared by the workspace's test suites and benchmarks, never linked into a
//! shipped binary (a dev-dependency only): the harness that makes real, relocated bundles from
//! a host shared-library CPython and runs the real binaries in them, synthetic Mach-O files, and
//! a local RFC 3161 time-stamp server for signing tests.
//!
//! The harness works the same from every package's tests. What only a compiled test crate
//! knows is found at run time instead: the workspace root is this crate's grandparent, scratch
//! space is the target directory's `tmp/` (cargo's `CARGO_TARGET_TMPDIR`), and the binaries a
//! test drives but its package does not build (the launcher, the runtime library,
//! `build-external-python`) are built through cargo once per test process
//! ([`launcher`], [`runtime`], [`bundler`]). A package's own binary is the one cargo built for
//! its tests (`env!("CARGO_BIN_EXE_…")` in that test crate).
//!
//! ```text
//! Resources/python/{bin/python3 (patchelf: $ORIGIN/../lib), lib/libpython3.X.so.1.0, lib/python3.X/}
//! Resources/mlxk2/_vendor/                 fixture wheels from python-fixtures/, installed by pip --target
//! Resources/mlxk2/msty-mlx-studio          the launcher under test
//! Resources/mlxk2/libmsty_mlx_runtime.so   the runtime for this X.Y
//! ```
//!
//! Tests that break a bundle get their own copy made of hard links (cheap, and canonical paths
//! stay inside the copy). Such copies may delete, rename and add files, never edit or chmod one.

mod builds;
mod bundle;
mod macho;
mod poll;
mod process;
mod python;
mod real;
mod scratch;
mod tsa;
mod zig;

pub use builds::*;
pub use bundle::*;
pub use macho::*;
pub use process::*;
pub use python::*;
pub use real::*;
pub use scratch::*;
pub use tsa::*;
pub use zig::*;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The workspace root (this crate lives in `crates/testkit`).
pub const REPO: &str = workspace_root(env!("CARGO_MANIFEST_DIR"));

const fn workspace_root(testkit: &'static str) -> &'static str {
    let suffix = b"/crates/testkit";
    let bytes = testkit.as_bytes();
    assert!(bytes.len() > suffix.len(), "msty-mlx-testkit must live in <workspace>/crates/testkit");
    let (root, tail) = bytes.split_at(bytes.len() - suffix.len());
    let mut i = 0;
    while i < suffix.len() {
        assert!(tail[i] == suffix[i], "msty-mlx-testkit must live in <workspace>/crates/testkit");
        i += 1;
    }
    match std::str::from_utf8(root) {
        Ok(root) => root,
        Err(_) => panic!("the workspace path is not UTF-8"),
    }
}

/// The scratch space of every test process: `<target dir>/tmp`, what cargo calls
/// `CARGO_TARGET_TMPDIR` in a test crate. The target directory is the one holding the running
/// test executable (`<target>/<profile>/deps/<name>-<hash>`), marked by cargo's
/// `CACHEDIR.TAG`. Scratch directories of earlier test processes that are gone are removed
/// the first time it is asked for.
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("cannot find the test executable: {e}"));
        let target = exe
            .ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .unwrap_or_else(|| panic!("`{}` is not inside a cargo target directory (no CACHEDIR.TAG)", exe.display()));
        let root = target.join("tmp");
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("cannot create `{}`: {e}", root.display()));
        remove_stale_scratch(&root);
        root
    })
}
