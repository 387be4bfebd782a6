//! The command line of `build-external-python` (clap): the build's options (with the bash
//! script's variables as fallbacks) and the `clear-quarantine`, `verify` and `kit` commands.
//! A module of the binary (`main.rs`), not of the library.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use msty_mlx_bundler::DEFAULT_TARGET_PLATFORM;

#[derive(Parser, Debug)]
#[command(name = "build-external-python", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub build: BuildArgs,
}

#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Remove macOS's com.apple.quarantine attribute recursively (nothing to do elsewhere).
    ClearQuarantine { path: PathBuf },
    /// Check a finished bundle (dist-ext-python/<BIN_NAME> or a Resources folder) before signing.
    Verify {
        dir: PathBuf,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
        /// Print only the native binaries to sign, inside-out, one per line (none, errors on
        /// stderr and exit 1, when the bundle has errors).
        #[arg(long, conflicts_with = "json")]
        sign_list: bool,
        /// With --sign-list: each line is `ROLE<TAB>PATH`, ROLE one of `library`, `executable`,
        /// `python-host` (sign with packaging/entitlements.plist).
        #[arg(long, requires = "sign_list")]
        roles: bool,
        /// Also read every Mach-O file's code signature: unsigned, ad hoc, no hardened runtime,
        /// missing entitlements, mixed team ids, files changed after signing.
        #[arg(long)]
        signed: bool,
        /// With --signed: what the notary refuses is an error — an ad-hoc signature, no secure
        /// timestamp, a signer that is not a Developer ID Application certificate.
        #[arg(long, requires = "signed")]
        release: bool,
        /// The libpython to check the runtime's `_Py*` imports against [default: the Resources
        /// folder's python/lib/libpython3.X.*]; a Linux libpython of the same X.Y stands in.
        #[arg(long, value_name = "PATH")]
        libpython: Option<PathBuf>,
        /// macOS: rewrite absolute libpython install names to @rpath/… (then re-sign).
        #[arg(long, conflicts_with_all = ["json", "sign_list", "signed"])]
        fix_install_names: bool,
    },
    /// Check a launcher kit, or add a target's files to one (release builds).
    Kit {
        #[command(subcommand)]
        action: KitAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum KitAction {
    /// Check every file of a kit against its manifest, SHA256SUMS and runtime stamps.
    Check {
        /// The kit [default: the one installed with this bundler]
        dir: Option<PathBuf>,
    },
    /// Build one target's launcher and runtimes from this checkout and add them to a kit (packaging/release.sh).
    Build {
        /// The kit (created when missing)
        dir: PathBuf,
        /// The target triple: aarch64-apple-darwin, or this machine's Linux triple
        #[arg(long)]
        target: String,
        /// A Python X.Y to build a runtime for (repeat)
        #[arg(long = "python", value_name = "X.Y", required = true)]
        pythons: Vec<String>,
        /// The git commit the checkout is at (40 hex digits)
        #[arg(long)]
        commit: String,
        /// Another file the bundle gets beside the launcher, for every X.Y (repeat)
        #[arg(long, value_name = "DEST=FILE")]
        file: Vec<String>,
    },
    /// Add (or replace) one target's launcher, runtimes and files in a kit.
    Add {
        /// The kit (created when missing)
        dir: PathBuf,
        /// The target triple, e.g. aarch64-apple-darwin
        #[arg(long)]
        target: String,
        /// The git commit the files were built from (40 hex digits)
        #[arg(long)]
        commit: String,
        /// The build machine's triple
        #[arg(long)]
        built_on: String,
        /// What linked them, e.g. `cc` or `rust-lld (ld64)`
        #[arg(long)]
        linker: String,
        /// The launcher executable
        #[arg(long, value_name = "FILE")]
        launcher: PathBuf,
        /// A runtime library, per Python X.Y (repeat)
        #[arg(long, value_name = "X.Y=FILE", required = true)]
        runtime: Vec<String>,
        /// Another file the bundle gets beside the launcher, for every X.Y (repeat)
        #[arg(long, value_name = "DEST=FILE")]
        file: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Interpreter to install with [default: ./python/bin/python3, then python3 on PATH]
    #[arg(long, env = "EMBEDDED_PYTHON", value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// What to vendor as mlxk2: a source tree [default: cwd] or a requirement (mlx-knife==2.0.8)
    #[arg(long, value_name = "PATH_OR_REQ")]
    pub project: Option<String>,
    /// Extra requirements file
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// Custom mlx wheel, installed last [default: scripts/mlx-custom.whl if present]
    #[arg(long, env = "MLX_WHEEL", value_name = "WHEEL")]
    pub mlx_wheel: Option<PathBuf>,
    /// Custom mlx-lm wheel, installed last [default: scripts/mlx-lm-custom.whl if present]
    #[arg(long, env = "MLX_LM_WHEEL", value_name = "WHEEL")]
    pub mlx_lm_wheel: Option<PathBuf>,
    /// Stamp mlxk2.__version__ (and its dist-info) in the vendored copy only
    #[arg(long, env = "VERSION", value_name = "V")]
    pub version_stamp: Option<String>,
    /// Output location
    #[arg(long, env = "DIST_DIR", default_value = "dist-ext-python", value_name = "DIR")]
    pub dist_dir: PathBuf,
    /// Launcher (and output folder) name
    #[arg(long, env = "BIN_NAME", default_value = "msty-mlx-studio", value_name = "NAME")]
    pub bin_name: String,
    /// Delete the output directory first (refused for /, $HOME, the project root, outside the dist dir)
    #[arg(long, env = "CLEAN", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    pub clean: bool,
    /// Extra installer flags for every install, e.g. "--no-index --find-links DIR" (those uv's pip interface shares with pip)
    #[arg(long, env = "PIP_ARGS", value_name = "ARGS", allow_hyphen_values = true)]
    pub pip_args: Option<String>,
    /// Never execute the embedded interpreter: uv resolves wheels and markers for a target platform
    #[arg(long, env = "VENDOR_VIA_WHEELS", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    pub wheels_only: bool,
    /// Target Python X.Y (wheels-only; required there)
    #[arg(long, env = "TARGET_PY_VERSION", value_name = "X.Y")]
    pub target_python_version: Option<String>,
    /// Target wheel platform tag (wheels-only)
    #[arg(long, env = "TARGET_PLATFORM", default_value = DEFAULT_TARGET_PLATFORM, value_name = "TAG")]
    pub target_platform: String,
    /// Target ABI tag (wheels-only) [default: cpXY]
    #[arg(long, env = "TARGET_ABI", value_name = "ABI")]
    pub target_abi: Option<String>,
    /// The launcher kit to take the launcher and runtime from [default: the kit installed with this bundler]
    #[arg(long, value_name = "DIR", conflicts_with = "from_source")]
    pub launcher_kit: Option<PathBuf>,
    /// Build the launcher and runtime from the checkout this bundler was compiled in (contributors; needs Rust)
    #[arg(long)]
    pub from_source: bool,
    /// Only errors and the final summary
    #[arg(long, short)]
    pub quiet: bool,
}
