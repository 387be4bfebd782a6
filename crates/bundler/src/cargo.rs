//! The one cargo invocation of the bundler: the launcher and its runtime, release, locked,
//! into the bundle's own target dir, with build-machine paths remapped out of the binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Variables of the caller that would change what pyo3 or cargo build (the caller of
/// [`command`] sets what the build needs).
const CLEARED: &[&str] = &[
    "PYO3_PYTHON",
    "PYO3_CONFIG_FILE",
    "PYO3_CROSS",
    "PYO3_CROSS_LIB_DIR",
    "PYO3_CROSS_PYTHON_IMPLEMENTATION",
    "PYO3_CROSS_PYTHON_VERSION",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
];

/// One build of the launcher and the runtime.
pub struct Build<'a> {
    /// The workspace (this repository).
    pub repo: &'a Path,
    pub target_dir: &'a Path,
    /// `--target`, for a cross build.
    pub triple: Option<&'a str>,
    pub quiet: bool,
}

impl Build<'_> {
    /// The command, ready for the caller's environment (pyo3's inputs, the linker's).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(cargo_program());
        cmd.current_dir(self.repo)
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "msty-mlx-studio",
                "-p",
                "msty-mlx-runtime",
                "--lib",
                "--bin",
                msty_mlx_contract::LAUNCHER_NAME,
            ])
            .args(self.triple.iter().flat_map(|t| ["--target", t]))
            .arg("--target-dir")
            .arg(self.target_dir)
            .args(self.quiet.then_some("--quiet"))
            .env("RUSTFLAGS", remap_rustflags(self.repo))
            .stdin(Stdio::null());
        for var in CLEARED {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs `cmd` (from [`Build::command`]); cargo's own output streams to the terminal.
    pub fn run(&self, mut cmd: Command) -> Result<PathBuf> {
        let status = cmd.status().with_context(|| format!("cannot run `{}`", cargo_program().display()))?;
        if !status.success() {
            let target = self.triple.map(|t| format!(" for {t}")).unwrap_or_default();
            bail!("cargo failed to build the launcher and its runtime{target} ({status}); see its output above");
        }
        Ok(match self.triple {
            Some(triple) => self.target_dir.join(triple).join("release"),
            None => self.target_dir.join("release"),
        })
    }
}

/// `cargo`: `$CARGO` (set when the bundler runs under cargo), else from PATH.
pub fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// `rustc`: `$RUSTC` when set, else from PATH.
pub fn rustc_program() -> PathBuf {
    std::env::var_os("RUSTC").map_or_else(|| PathBuf::from("rustc"), PathBuf::from)
}

/// `RUSTFLAGS` for the bundle's builds: build-machine paths (this checkout, the cargo registry)
/// stay out of panic locations and debug info.
pub fn remap_rustflags(repo: &Path) -> String {
    format!("--remap-path-prefix={}=/src --remap-path-prefix={}=/cargo", repo.display(), cargo_home().display())
}

/// `$CARGO_HOME`, default `~/.cargo`.
pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".cargo")))
        .unwrap_or_default()
}
