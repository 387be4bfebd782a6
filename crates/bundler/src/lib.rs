//! build-external-python: vendor mlxk2 and its dependencies for the embedded interpreter and
//! drop in the launcher built for that same interpreter.
//!
//! `steps` is the story (inputs → installed → compiled → launcher placed → verified →
//! committed); each mechanism lives in its own module.

#![deny(unsafe_code)]

pub mod arch;
mod caches;
pub mod cargo;
pub mod clean;
pub mod compile;
pub mod cross;
pub mod custom;
pub mod digest;
pub mod exit;
pub mod from_source;
pub mod install;
pub mod kit;
pub mod kit_build;
pub mod kit_make;
pub mod launcher;
pub mod launcher_source;
pub mod macos_sdk;
pub mod manifest;
pub mod mode;
pub mod pip_args;
pub mod platform;
pub mod probe;
pub mod project;
pub mod sanity;
pub mod stamp;
mod steps;
pub mod sys;
pub mod temp;
pub mod tools;
pub mod uv;
pub mod vendor;
pub use msty_mlx_verify as verify;
pub mod wheel;

use std::path::PathBuf;

use compile::Bytecode;
use msty_mlx_contract::python::PyVersion;
use sanity::Sanity;
pub use steps::build;

/// The bundler's inputs (flags, with the bash script's variables as fallbacks).
#[derive(Clone, Debug)]
pub struct Options {
    pub python: Option<PathBuf>,
    pub project: Option<String>,
    pub requirements: Option<PathBuf>,
    pub mlx_wheel: Option<PathBuf>,
    pub mlx_lm_wheel: Option<PathBuf>,
    pub version_stamp: Option<String>,
    pub dist_dir: PathBuf,
    pub bin_name: String,
    pub clean: bool,
    /// `PIP_ARGS`, split into words (checked by [`pip_args::check`]).
    pub pip_args: Vec<String>,
    pub wheels_only: bool,
    pub target_python_version: Option<String>,
    pub target_platform: String,
    pub target_abi: Option<String>,
    /// A launcher kit other than the one installed with the bundler.
    pub launcher_kit: Option<PathBuf>,
    /// Build the launcher and runtime from `repo` instead of taking them from a kit.
    pub from_source: bool,
    pub quiet: bool,
    /// Where relative defaults are resolved (`./python/bin/python3`, the project, `scripts/`).
    pub cwd: PathBuf,
    /// The launcher's source tree (the checkout this bundler was compiled in), for
    /// `from_source`; `None` in a release build (feature `from-source` off).
    pub repo: Option<PathBuf>,
}

/// The default `--target-platform`: Apple silicon, macOS 14.
pub const DEFAULT_TARGET_PLATFORM: &str = "macosx_14_0_arm64";

/// What a finished build reports.
#[derive(Debug)]
pub struct Summary {
    pub output: PathBuf,
    pub distributions: usize,
    pub bytes: u64,
    pub python: PyVersion,
    pub launcher_version: String,
    pub installer: String,
    pub bytecode: Bytecode,
    pub sanity: Sanity,
}

/// The first `name` in a `PATH` directory.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}
