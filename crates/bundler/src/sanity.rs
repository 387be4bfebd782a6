//! The run-time sanity check of a finished bundle: its own launcher's `--check-mlx-stack`
//! against the interpreter (`MLXK_PYTHON`), then an import of the vendored stack.

use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::vendor::Vendor;

/// What the sanity check found (a failure is an error, not a verdict).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sanity {
    /// `--check-mlx-stack` said ok and the stack imports.
    Passed { mlx: String, mlx_lm: String, imported: Vec<&'static str> },
    /// Not run, and why (the bundle cannot run here, or there is no interpreter to run it).
    Skipped { why: String },
}

impl fmt::Display for Sanity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sanity::Passed { mlx, mlx_lm, imported } => {
                write!(f, "ok: --check-mlx-stack (mlx {mlx}, mlx_lm {mlx_lm}), import {}", imported.join(", "))
            }
            Sanity::Skipped { why } => write!(f, "skipped: {why}"),
        }
    }
}

/// In the manifest as the summary's line (`ok: …` or `skipped: …`).
impl Serialize for Sanity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The modules to import: mlxk2 and those of the MLX stack and server that are vendored.
fn modules(vendor: &Vendor) -> Vec<&'static str> {
    ["mlxk2", "fastapi", "uvicorn", "mlx", "mlx_lm"].into_iter().filter(|m| *m == "mlxk2" || vendor.has(m)).collect()
}

/// Runs the dist dir `bundle`'s launcher `bin_name` with `MLXK_PYTHON=launcher_python`, then
/// `import_python -c "import mlxk2, …"` over its `_vendor`.
pub fn check(
    bundle: &Path,
    bin_name: &str,
    vendor: &Vendor,
    launcher_python: &Path,
    import_python: &Path,
) -> Result<Sanity> {
    let exe = bundle.join(bin_name);
    let out = Command::new(&exe)
        .arg("--check-mlx-stack")
        .env_clear()
        .env("MLXK_PYTHON", std::path::absolute(launcher_python).unwrap_or(launcher_python.to_path_buf()))
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .output()
        .with_context(|| format!("cannot run the new launcher `{}`", exe.display()))?;
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        anyhow!(
            "the new launcher's --check-mlx-stack did not answer JSON ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    if report["ok"] != Value::Bool(true) {
        // The whole report is a detail, on one line before the error line.
        eprintln!("    --check-mlx-stack answered: {report}");
        bail!("the bundle fails --check-mlx-stack: {}", report["error"].as_str().unwrap_or("see its answer above"));
    }
    let imported = modules(vendor);
    let code = format!("import sys; sys.path.insert(0, sys.argv[1]); import {}", imported.join(", "));
    let out = Command::new(import_python)
        .args(["-I", "-B", "-c", &code])
        .arg(&vendor.dir)
        .output()
        .with_context(|| format!("cannot run `{}`", import_python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("`import {}` fails in the bundle: {}", imported.join(", "), err.lines().last().unwrap_or("").trim());
    }
    let version = |key: &str| report[key]["version"].as_str().unwrap_or("?").to_string();
    Ok(Sanity::Passed { mlx: version("mlx"), mlx_lm: version("mlx_lm"), imported })
}
