//! The run-time sanity check of a finished bundle: its own launcher's `--check-mlx-stack`
//! against the interpreter (`MLXK_PYTHON`), then an import of the vendored stack.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use msty_mlx_distinfo::{SiteDir, normalize};

/// Runs the dist dir `bundle`'s launcher `bin_name` with `MLXK_PYTHON=launcher_python`, then
/// `import_python -c "import mlxk2, …"` over its `_vendor`; returns the summary line.
pub fn check(bundle: &Path, bin_name: &str, launcher_python: &Path, import_python: &Path) -> Result<String> {
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
        let _ = writeln!(std::io::stderr(), "{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        bail!("the bundle fails --check-mlx-stack: {}", report["error"].as_str().unwrap_or("see the report above"));
    }
    let site = SiteDir::scan(&bundle.join("_vendor"));
    let modules: Vec<&str> = ["mlxk2", "fastapi", "uvicorn", "mlx", "mlx_lm"]
        .into_iter()
        .filter(|m| *m == "mlxk2" || site.by_name.contains_key(&normalize(m)))
        .collect();
    let code = format!("import sys; sys.path.insert(0, sys.argv[1]); import {}", modules.join(", "));
    let out = Command::new(import_python)
        .args(["-I", "-B", "-c", &code])
        .arg(bundle.join("_vendor"))
        .output()
        .with_context(|| format!("cannot run `{}`", import_python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("`import {}` fails in the bundle: {}", modules.join(", "), err.lines().last().unwrap_or("").trim());
    }
    Ok(format!(
        "ok: --check-mlx-stack (mlx {}, mlx_lm {}), import {}",
        report["mlx"]["version"].as_str().unwrap_or("?"),
        report["mlx_lm"]["version"].as_str().unwrap_or("?"),
        modules.join(", ")
    ))
}
