//! verify's test harness: its front end, `build-external-python verify`, run on a tree. The
//! rest (host Python, scratch directories, processes, zig and LLVM) is `msty_mlx_testkit`'s.

pub use msty_mlx_testkit::*;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `build-external-python verify DIR EXTRA…`.
pub fn verify(dir: &Path, extra: &[&str]) -> Run {
    run(Command::new(bundler()).arg("verify").arg(dir).args(extra))
}

/// The exit code and findings of `verify --json DIR`.
pub fn findings(dir: &Path) -> (Option<i32>, Vec<Value>) {
    let r = verify(dir, &["--json"]);
    (r.code, r.json()["findings"].as_array().unwrap().clone())
}
