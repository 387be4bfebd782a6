//! The real stack (PyPI mlx-knife + mlx[cpu]): its wheel cache and `_vendor`, for the real suite
//! and the benchmarks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::{XY, host_python, pip, run_ok};

/// The real stack the end-to-end tests and benchmarks bundle (pinned: the versions the tests
/// were written against; `launcher-tests/real/requirements.txt` holds the mlx pin too).
pub const REAL_REQUIREMENTS: &[&str] = &["mlx-knife==2.0.8", "mlx[cpu]==0.32.0"];

/// A wheel cache outside the repository with every wheel of [`REAL_REQUIREMENTS`] for this
/// X.Y: checked offline first, downloaded from PyPI only when something is missing.
pub fn real_wheel_cache() -> PathBuf {
    let dir = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("msty-mlx-studio/wheels")
        .join(format!("cp{}", XY.replace('.', "")));
    fs::create_dir_all(&dir).unwrap();
    let download = |offline: bool| {
        let mut cmd = pip(&host_python().executable, "download");
        cmd.args(["--only-binary=:all:", "--dest"]).arg(&dir);
        if offline {
            cmd.args(["--no-index", "--find-links"]).arg(&dir);
        }
        cmd.args(REAL_REQUIREMENTS).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.output().unwrap_or_else(|e| panic!("pip download: {e}"))
    };
    if !download(true).status.success() {
        let out = download(false);
        assert!(
            out.status.success(),
            "downloading {REAL_REQUIREMENTS:?} from PyPI failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// `_vendor` of the real stack, installed once per X.Y into the cache (for benchmarks).
pub fn real_vendor() -> PathBuf {
    let wheels = real_wheel_cache();
    let vendor = wheels.with_file_name(format!("vendor-cp{}", XY.replace('.', "")));
    if !vendor.join(".complete").exists() {
        let _ = fs::remove_dir_all(&vendor);
        run_ok(
            pip(&host_python().executable, "install")
                .args(["--no-index", "--no-compile", "--find-links"])
                .arg(&wheels)
                .arg("--target")
                .arg(&vendor)
                .args(REAL_REQUIREMENTS),
        );
        let _ = fs::remove_dir_all(vendor.join("bin"));
        fs::write(vendor.join(".complete"), "").unwrap();
    }
    vendor
}

/// Adds `count` dist-infos of distinct projects (`filler-dist-N`, version `1.0.N`) to
/// `vendor`, as pip writes them (issue 12: a `_vendor` with 5 000 dist-infos).
pub fn add_dist_infos(vendor: &Path, count: usize) {
    for i in 0..count {
        let dir = vendor.join(format!("filler_dist_{i}-1.0.{i}.dist-info"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("METADATA"), format!("Metadata-Version: 2.1\nName: filler-dist-{i}\nVersion: 1.0.{i}\n"))
            .unwrap();
        fs::write(dir.join("top_level.txt"), format!("filler_dist_{i}\n")).unwrap();
        fs::write(dir.join("INSTALLER"), "pip\n").unwrap();
    }
}

/// The tiny deterministic chat model (`python-fixtures/tiny_model/make_tiny_model.py`, run by
/// the bundle's own python3 with its `_vendor`) written into `hf_home`: its name and the reply
/// it gives to any prompt.
pub fn tiny_model(bundle: &crate::Bundle, hf_home: &Path) -> (String, String) {
    let generated = run_ok(
        crate::clean_command(&bundle.python3())
            .arg(Path::new(crate::REPO).join("python-fixtures/tiny_model/make_tiny_model.py"))
            .arg(hf_home)
            .env("PYTHONPATH", bundle.vendor())
            .env("PYTHONNOUSERSITE", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    let info: serde_json::Value = serde_json::from_slice(&generated.stdout).unwrap();
    let text =
        |key: &str| info[key].as_str().unwrap_or_else(|| panic!("make_tiny_model.py printed no {key}")).to_string();
    (text("model"), text("expected_reply"))
}
