//! `--from-source` (contributors and this repository's tests): the launcher and its runtime
//! built from the checkout this bundler was compiled in, with cargo for a platform that runs
//! here (pyo3 told the interpreter, or only its X.Y), or linked with rust-lld for macOS (`cross`).
//! Packagers use a launcher kit instead and need no compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use fs_err as fs;

use super::launcher::Made;
use super::mode::Mode;
use super::probe::PythonFacts;
use super::{cargo, cross, platform};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp;

/// The launcher and the runtime as cargo left them.
#[derive(Clone, Debug)]
pub struct Built {
    pub launcher: PathBuf,
    pub runtime: PathBuf,
    pub made: Made,
}

/// How pyo3 learns about the target Python (for the runtime; the launcher needs none).
enum LinkTarget {
    /// `PYO3_PYTHON`: the interpreter is run at build time.
    Interpreter(PathBuf),
    /// `PYO3_CONFIG_FILE`: the interpreter is never run (wheels-only mode).
    ConfigFile(PathBuf),
}

/// Builds both for the bundle's platform and Python, from `repo`; `work` takes pyo3's
/// configuration file.
pub fn build(repo: &Path, mode: &Mode, facts: &PythonFacts, work: &Path, quiet: bool) -> Result<Built> {
    check_checkout(repo)?;
    let target_dir = |triple: &str| match triple {
        "host" => repo.join("target").join(format!("bundle-py{}", facts.version)),
        _ => repo.join("target").join(format!("bundle-{triple}-py{}", facts.version)),
    };
    match mode {
        // The interpreter runs here: pyo3 asks it.
        Mode::Embedded { python } => native(repo, &target_dir("host"), LinkTarget::Interpreter(python.clone()), quiet),
        // Never running `--python`: pyo3 needs only the X.Y (macOS from here: linked by rust-lld).
        Mode::WheelsOnly { .. } => for_xy(repo, &facts.platform_tag, facts.version, &target_dir, work, quiet),
    }
}

/// Both for a platform tag and an X.Y without any interpreter (wheels-only builds, launcher
/// kits): pyo3 is told the X.Y alone. `target_dir` names the cargo target dir for a triple.
pub fn for_xy(
    repo: &Path,
    platform_tag: &str,
    xy: PyVersion,
    target_dir: &dyn Fn(&str) -> PathBuf,
    work: &Path,
    quiet: bool,
) -> Result<Built> {
    if !platform::runs_here(platform_tag) {
        // macOS from here (other platforms: one line saying what to do).
        let triple = cross::cross_target(platform_tag)?.triple;
        return cross::build(repo, &target_dir(triple), platform_tag, xy, quiet);
    }
    // The runtime links no libpython; pyo3 only needs the X.Y (the lib dir is never linked).
    let config = work.join(format!("pyo3-config-{xy}.txt"));
    fs::create_dir_all(work)?;
    fs::write(&config, pyo3_config(xy, Path::new("/nonexistent")))?;
    native(repo, &target_dir("host"), LinkTarget::ConfigFile(config), quiet)
}

/// The checkout `--from-source` builds from: the one this bundler was compiled in.
pub fn checkout(repo: Option<&Path>) -> Result<&Path> {
    match repo {
        Some(repo) => Ok(repo),
        None => bail!(
            "--from-source needs the source tree, and this bundler is a release build that remembers none; use its launcher kit, or run the bundler from a checkout (cargo run -p msty-mlx-bundler --bin build-external-python -- --from-source …)"
        ),
    }
}

/// `--from-source` needs the checkout this bundler was compiled in to still be there.
fn check_checkout(repo: &Path) -> Result<()> {
    if !repo.join("Cargo.toml").is_file() {
        bail!(
            "--from-source builds from the checkout this bundler was compiled in, `{}`, and it is not there; use a launcher kit (--launcher-kit DIR)",
            repo.display()
        );
    }
    Ok(())
}

/// `cargo build --release` of both for this machine.
fn native(repo: &Path, target_dir: &Path, link: LinkTarget, quiet: bool) -> Result<Built> {
    let build = cargo::Build { repo, target_dir, triple: None, quiet };
    let mut cmd = build.command();
    match &link {
        LinkTarget::Interpreter(python) => cmd.env("PYO3_PYTHON", python),
        LinkTarget::ConfigFile(file) => cmd.env("PYO3_CONFIG_FILE", file),
    };
    let release = build.run(cmd)?;
    Ok(Built {
        launcher: release.join(msty_mlx_contract::LAUNCHER_NAME),
        runtime: release.join(stamp::FILE_NAME),
        made: Made { built_on: host_triple()?, linker: "cc".into() },
    })
}

/// The pyo3 build configuration for a CPython X.Y whose libpython lives in `lib_dir`.
pub fn pyo3_config(version: PyVersion, lib_dir: &Path) -> String {
    format!(
        "implementation=CPython\nversion={version}\nshared=true\nabi3=false\nlib_name=python{version}\nlib_dir={}\npointer_width=64\nbuild_flags=\nsuppress_build_script_link_lines=false\n",
        lib_dir.display()
    )
}

/// This machine's Rust triple, as `rustc -vV` says (`host: x86_64-unknown-linux-gnu`).
pub fn host_triple() -> Result<String> {
    let rustc = cargo::rustc_program();
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("cannot run `{}`; install Rust (rustup)", rustc.display()))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| anyhow!("`{} -vV` names no host triple", rustc.display()))
}
