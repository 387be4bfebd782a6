//! msty-mlx-studio: locate an app bundle's Python and vendored packages, and describe them.
//!
//! Everything here is plain logic without CPython symbols, so the bundler and the unit tests
//! link no libpython; the embedding itself lives in the launcher binary (`src/main.rs`).

#![deny(unsafe_code)]

pub mod bundle;
pub mod bytecode;
pub mod child_env;
pub mod distinfo;
pub mod exit_code;
pub mod layout;
pub mod logging;
pub mod settings;
pub mod stack;

/// The Python X.Y this build links against (from `PYO3_PYTHON` / `PYO3_CONFIG_FILE`).
pub const BUILT_FOR_PYTHON: &str = env!("MLXK2_PYTHON_XY");

/// The launcher's own version.
pub const LAUNCHER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The name the launcher uses on stderr.
pub const LAUNCHER_NAME: &str = "msty-mlx-studio";
