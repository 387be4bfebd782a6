//! The launcher's part of the test harness: the launcher under test (cargo's build of this
//! package) and the base bundle made with it. Everything else — host Python, scratch
//! directories, processes, bundle trees, the runtime build — is `msty_mlx_testkit`'s, shared
//! with the bundler's and verify's tests.
//!
//! The base bundle is made once per test process from the host CPython (`MLXK2_TEST_PYTHON`,
//! else `PYO3_PYTHON`, else `python3`) with the fixture wheels of [`BASE_FIXTURES`]; tests that
//! break a bundle take a hard-linked [`Bundle::copy`] (see `msty_mlx_testkit` for the rules).

// Each test binary and bench uses a part of the harness.
#![allow(dead_code, unused_imports)]

pub use msty_mlx_testkit::*;

use std::fs;
use std::sync::OnceLock;

pub const LAUNCHER: &str = env!("CARGO_BIN_EXE_msty-mlx-studio");

/// What the base bundle's `_vendor` holds: the fake mlxk2, a `.pth` demo, and a healthy fake
/// MLX stack (mlx 0.29.3 + mlx-cpu 0.29.3 + mlx-lm 0.28.1).
pub const BASE_FIXTURES: &[&str] = &["mlxk2", "pthdemo", "mlx", "mlx-cpu", "mlx-lm"];

/// The shared base bundle (built once per test process): the relocated host CPython, the
/// launcher under test, the runtime for this X.Y, the served port's guard and [`BASE_FIXTURES`].
pub fn base() -> &'static Bundle {
    static BASE: OnceLock<Bundle> = OnceLock::new();
    BASE.get_or_init(|| {
        kept(|| {
            let root = scratch_root().join(format!("py{XY}-{}-base", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            let res = root.join("Resources");
            fs::create_dir_all(res.join("mlxk2")).unwrap();
            link_tree(python_tree(), &res.join("python"));
            fs::copy(LAUNCHER, res.join("mlxk2/msty-mlx-studio")).unwrap();
            fs::copy(runtime(), res.join("mlxk2").join(RUNTIME_FILE)).unwrap();
            copy_guard(&res.join("mlxk2/guard"));
            install_fixtures(&res.join("mlxk2/_vendor"), BASE_FIXTURES);
            Bundle { root }
        })
    })
}

/// Private copies of the base bundle.
pub trait CopyOfBase {
    /// A private copy of the base bundle, to break or move things in.
    fn copy(name: &str) -> Bundle;
}

impl CopyOfBase for Bundle {
    fn copy(name: &str) -> Bundle {
        let root = scratch(name);
        link_tree(&base().root, &root);
        Bundle { root }
    }
}
