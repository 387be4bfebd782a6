//! The launcher inside the bundle: built with cargo for the target interpreter into its own
//! target dir, then checked (right libpython X.Y, bundle rpath, no build-machine paths).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use goblin::Object;

/// How pyo3 learns about the target Python.
pub enum LinkTarget<'a> {
    /// `PYO3_PYTHON`: the interpreter is run at build time.
    Interpreter(&'a Path),
    /// `PYO3_CONFIG_FILE`: the interpreter is never run (wheels-only mode).
    ConfigFile(&'a Path),
}

/// The pyo3 build configuration for a CPython X.Y whose libpython lives in `lib_dir`.
pub fn pyo3_config(version: &str, lib_dir: &Path) -> String {
    format!(
        "implementation=CPython\nversion={version}\nshared=true\nabi3=false\nlib_name=python{version}\nlib_dir={}\npointer_width=64\nbuild_flags=\nsuppress_build_script_link_lines=false\n",
        lib_dir.display()
    )
}

/// `cargo build --release --bin msty-mlx-studio` for `target`, into `target_dir`.
pub fn build(repo: &Path, target_dir: &Path, target: LinkTarget, quiet: bool) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(repo)
        .args(["build", "--release", "--locked", "--bin", crate::LAUNCHER_NAME, "--target-dir"])
        .arg(target_dir)
        .env_remove("PYO3_PYTHON")
        .env_remove("PYO3_CONFIG_FILE");
    if quiet {
        cmd.arg("--quiet");
    }
    // Build-machine paths (this checkout, the cargo registry) stay out of panic locations.
    let cargo_home = cargo_home();
    cmd.env(
        "RUSTFLAGS",
        format!("--remap-path-prefix={}=/src --remap-path-prefix={}=/cargo", repo.display(), cargo_home.display()),
    );
    match target {
        LinkTarget::Interpreter(python) => cmd.env("PYO3_PYTHON", python),
        LinkTarget::ConfigFile(file) => cmd.env("PYO3_CONFIG_FILE", file),
    };
    let status = cmd.status().with_context(|| format!("cannot run `{}`", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!("cargo failed to build the launcher ({status}); see its output above");
    }
    Ok(target_dir.join("release").join(crate::LAUNCHER_NAME))
}

/// `$CARGO_HOME`, default `~/.cargo`.
pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| dirs::home_dir().map(|h| h.join(".cargo"))).unwrap_or_default()
}

/// Checks a launcher binary: it links `libpython{xy}`, finds it through the bundle rpath, and
/// contains none of `forbidden` (build-machine paths).
pub fn check(binary: &Path, xy: &str, forbidden: &[&Path]) -> Result<()> {
    let bytes = std::fs::read(binary).with_context(|| format!("cannot read the launcher `{}`", binary.display()))?;
    let object = Object::parse(&bytes).with_context(|| format!("`{}` is not an executable this tool can read", binary.display()))?;
    let (libs, rpaths): (Vec<String>, Vec<String>) = match object {
        Object::Elf(elf) => (
            elf.libraries.iter().map(|s| s.to_string()).collect(),
            elf.rpaths.iter().chain(elf.runpaths.iter()).map(|s| s.to_string()).collect(),
        ),
        Object::Mach(goblin::mach::Mach::Binary(macho)) => (
            macho.libs.iter().map(|s| s.to_string()).collect(),
            macho.rpaths.iter().map(|s| s.to_string()).collect(),
        ),
        _ => bail!("`{}` is neither ELF nor a thin Mach-O", binary.display()),
    };
    let wanted = [format!("libpython{xy}.so.1.0"), format!("libpython{xy}.dylib")];
    if !libs.iter().any(|l| wanted.iter().any(|w| l.ends_with(w.as_str()))) {
        bail!("the launcher `{}` does not link libpython{xy} (it links {})", binary.display(), libs.join(", "));
    }
    let bundle_rpath = rpaths.iter().any(|r| r.contains("$ORIGIN/../python/lib") || r.contains("@executable_path/../python/lib"));
    if !bundle_rpath {
        bail!("the launcher `{}` lacks the bundle rpath (has: {})", binary.display(), rpaths.join(", "));
    }
    for path in forbidden {
        let needle = path.to_string_lossy();
        if needle.len() > 1 && bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            bail!("the launcher `{}` contains the build-machine path `{needle}`", binary.display());
        }
    }
    Ok(())
}
