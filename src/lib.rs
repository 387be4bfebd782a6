//! msty-mlx-studio: locate an app bundle's Python and vendored packages, plan the embedded
//! interpreter's start, load it in two stages, and describe it all.
//!
//! Shared by the launcher (`src/main.rs`), its runtime library (`runtime/`, which reads the
//! launch plan) and the bundler. Nothing here links CPython.

#![deny(unsafe_code)]

pub mod abi;
pub mod bundle;
pub mod bytecode;
pub mod child_env;
pub mod diagnostics;
pub mod distinfo;
pub mod exit_code;
pub mod failure;
pub mod layout;
pub mod loadable;
pub mod logging;
pub mod os_serde;
pub mod parent;
pub mod plan;
pub mod python_home;
pub mod runtime_stamp;
pub mod settings;
pub mod stack;
pub mod stage2;
pub mod trusted_dir;
#[allow(unsafe_code)]
pub mod sys;

/// The launcher's own version.
pub const LAUNCHER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The name the launcher uses on stderr.
pub const LAUNCHER_NAME: &str = "msty-mlx-studio";
