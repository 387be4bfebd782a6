//! What the bundler needs to know about the embedded interpreter, asked from the interpreter
//! itself (in wheels-only mode `mode.rs` derives the same facts from the options instead).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use msty_mlx_contract::python::PyVersion;
use serde::Deserialize;

/// Facts about the target Python.
#[derive(Clone, Debug, Deserialize)]
pub struct PythonFacts {
    /// `3.11`
    pub version: PyVersion,
    /// `3.11.7` (wheels-only: unknown, `3.11`)
    pub full_version: String,
    /// `sys.base_prefix`: the home the launcher will use.
    pub prefix: PathBuf,
    /// The wheel platform tag, e.g. `linux_x86_64`, `macosx_14_0_arm64`.
    pub platform_tag: String,
    pub shared: bool,
    pub libdir: PathBuf,
    pub ldlibrary: String,
}

const PROBE: &str = r#"
import json, platform, sys, sysconfig
print(json.dumps({
    "version": "%d.%d" % sys.version_info[:2],
    "full_version": platform.python_version(),
    "prefix": sys.base_prefix,
    "platform_tag": sysconfig.get_platform().replace("-", "_").replace(".", "_"),
    "shared": bool(sysconfig.get_config_var("Py_ENABLE_SHARED") or sysconfig.get_config_var("PYTHONFRAMEWORK")),
    "libdir": sysconfig.get_config_var("LIBDIR") or "",
    "ldlibrary": sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY") or "",
}))
"#;

/// Runs `python` to learn its facts.
pub fn probe(python: &Path) -> Result<PythonFacts> {
    let out = Command::new(python)
        .args(["-I", "-c", PROBE])
        .output()
        .with_context(|| format!("cannot run the interpreter `{}`", python.display()))?;
    if !out.status.success() {
        bail!("the interpreter `{}` failed: {}", python.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let facts: PythonFacts = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("unexpected answer from `{}`", python.display()))?;
    // The bundle ships `<prefix>/lib/libpython3.X.*` as `Resources/python/lib/…`: it must be
    // there, next to the interpreter, not merely somewhere on the build machine.
    let lib = facts.prefix.join("lib").join(&facts.ldlibrary);
    if !facts.shared || facts.ldlibrary.is_empty() || !lib.is_file() {
        bail!(
            "the interpreter `{}` has no shared libpython at `{}`; the launcher embeds libpython{}: use a shared build (python-build-standalone, or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared)",
            python.display(),
            lib.display(),
            facts.version
        );
    }
    Ok(facts)
}
