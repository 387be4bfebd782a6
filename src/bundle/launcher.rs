//! The launcher and its runtime library inside the bundle: built with cargo for the target
//! interpreter into their own target dir (or taken prebuilt), then checked: the launcher links
//! no libpython, the runtime links none either and is stamped for the target X.Y and this
//! launcher's plan format, and neither carries a build-machine path.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use goblin::Object;

use crate::plan::FORMAT;
use crate::runtime_stamp::{self, RuntimeStamp};

/// How pyo3 learns about the target Python (for the runtime; the launcher needs none).
pub enum LinkTarget<'a> {
    /// `PYO3_PYTHON`: the interpreter is run at build time.
    Interpreter(&'a Path),
    /// `PYO3_CONFIG_FILE`: the interpreter is never run (wheels-only mode).
    ConfigFile(&'a Path),
}

/// The two files that go next to `_vendor`.
#[derive(Clone, Debug)]
pub struct LauncherFiles {
    pub launcher: PathBuf,
    pub runtime: PathBuf,
}

impl LauncherFiles {
    /// Prebuilt files: a directory holding both, or the launcher with the runtime beside it.
    pub fn prebuilt(given: &Path) -> Result<LauncherFiles> {
        let (dir, launcher) = if given.is_dir() {
            (given.to_path_buf(), given.join(crate::LAUNCHER_NAME))
        } else if given.is_file() {
            (given.parent().unwrap_or(Path::new(".")).to_path_buf(), given.to_path_buf())
        } else {
            bail!("--launcher `{}` does not exist; pass the directory holding {} and {}", given.display(), crate::LAUNCHER_NAME, runtime_stamp::FILE_NAME);
        };
        let runtime = dir.join(runtime_stamp::FILE_NAME);
        for file in [&launcher, &runtime] {
            if !file.is_file() {
                bail!("--launcher: `{}` does not exist; the launcher and its runtime library are used together", file.display());
            }
        }
        Ok(LauncherFiles { launcher, runtime })
    }
}

/// The pyo3 build configuration for a CPython X.Y whose libpython lives in `lib_dir`.
pub fn pyo3_config(version: &str, lib_dir: &Path) -> String {
    format!(
        "implementation=CPython\nversion={version}\nshared=true\nabi3=false\nlib_name=python{version}\nlib_dir={}\npointer_width=64\nbuild_flags=\nsuppress_build_script_link_lines=false\n",
        lib_dir.display()
    )
}

/// `cargo build --release` of the launcher and the runtime for `target`, into `target_dir`.
pub fn build(repo: &Path, target_dir: &Path, target: LinkTarget, quiet: bool) -> Result<LauncherFiles> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(repo)
        .args(["build", "--release", "--locked", "-p", "msty-mlx-studio", "-p", "msty-mlx-runtime", "--lib", "--bin", crate::LAUNCHER_NAME, "--target-dir"])
        .arg(target_dir)
        .env_remove("PYO3_PYTHON")
        .env_remove("PYO3_CONFIG_FILE");
    if quiet {
        cmd.arg("--quiet");
    }
    // Build-machine paths (this checkout, the cargo registry) stay out of panic locations.
    let cargo_home = cargo_home();
    cmd.env("RUSTFLAGS", format!("--remap-path-prefix={}=/src --remap-path-prefix={}=/cargo", repo.display(), cargo_home.display()));
    match target {
        LinkTarget::Interpreter(python) => cmd.env("PYO3_PYTHON", python),
        LinkTarget::ConfigFile(file) => cmd.env("PYO3_CONFIG_FILE", file),
    };
    let status = cmd.status().with_context(|| format!("cannot run `{}`", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo failed to build the launcher and its runtime ({status}); see its output above");
    }
    let release = target_dir.join("release");
    Ok(LauncherFiles { launcher: release.join(crate::LAUNCHER_NAME), runtime: release.join(runtime_stamp::FILE_NAME) })
}

/// `$CARGO_HOME`, default `~/.cargo`.
pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| dirs::home_dir().map(|h| h.join(".cargo"))).unwrap_or_default()
}

/// Checks both files for a bundle of Python `xy`; returns the runtime's stamp.
pub fn check(files: &LauncherFiles, xy: &str, forbidden: &[&Path]) -> Result<RuntimeStamp> {
    let launcher = std::fs::read(&files.launcher).with_context(|| format!("cannot read the launcher `{}`", files.launcher.display()))?;
    let (libs, _) = dynamic_links(&files.launcher, &launcher)?;
    if let Some(lib) = libs.iter().find(|l| l.contains("libpython")) {
        bail!("the launcher `{}` links {lib}; this launcher loads libpython at run time and must link none (an old, one-stage build?)", files.launcher.display());
    }
    let runtime = std::fs::read(&files.runtime).with_context(|| format!("cannot read the runtime `{}`", files.runtime.display()))?;
    let (libs, _) = dynamic_links(&files.runtime, &runtime)?;
    if let Some(lib) = libs.iter().find(|l| l.contains("libpython")) {
        bail!("the runtime `{}` links {lib}; it must resolve Python's symbols from the loaded libpython (pyo3 feature extension-module)", files.runtime.display());
    }
    let stamp = RuntimeStamp::read(&files.runtime).map_err(|e| anyhow::anyhow!("the runtime `{}` {e}", files.runtime.display()))?;
    if stamp.python != xy {
        bail!("the runtime `{}` is built for Python {}, the bundle is for Python {xy}", files.runtime.display(), stamp.python);
    }
    if stamp.plan_format != FORMAT {
        bail!("the runtime `{}` reads plan format {}, this launcher writes format {FORMAT}; build both from one checkout", files.runtime.display(), stamp.plan_format);
    }
    for (file, bytes) in [(&files.launcher, &launcher), (&files.runtime, &runtime)] {
        for path in forbidden {
            let needle = path.to_string_lossy();
            if needle.len() > 1 && memchr::memmem::find(bytes, needle.as_bytes()).is_some() {
                bail!("`{}` contains the build-machine path `{needle}`", file.display());
            }
        }
    }
    Ok(stamp)
}

/// (libraries linked, rpaths) of an ELF or thin Mach-O file.
fn dynamic_links(path: &Path, bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    let object = Object::parse(bytes).with_context(|| format!("`{}` is not a binary this tool can read", path.display()))?;
    Ok(match object {
        Object::Elf(elf) => (
            elf.libraries.iter().map(|s| s.to_string()).collect(),
            elf.rpaths.iter().chain(elf.runpaths.iter()).map(|s| s.to_string()).collect(),
        ),
        Object::Mach(goblin::mach::Mach::Binary(macho)) => (macho.libs.iter().map(|s| s.to_string()).collect(), macho.rpaths.iter().map(|s| s.to_string()).collect()),
        _ => bail!("`{}` is neither ELF nor a thin Mach-O", path.display()),
    })
}
