//! The launcher↔runtime contract: the C boundary ([`abi`]), the launch plan and its format
//! ([`plan`]), the runtime stamp ([`stamp`]), exit codes ([`exit_code`]), Python X.Y
//! ([`python`]) and byte-exact paths in JSON ([`os_serde`]). Plain data and serde, nothing else:
//! the runtime library (pyo3) and the launcher both link it, the bundler reads stamps with it.

#![deny(unsafe_code)]

pub mod abi;
pub mod exit_code;
pub mod os_serde;
pub mod plan;
pub mod python;
pub mod stamp;

/// The package version launcher and runtime are built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The launcher's executable name (and what it calls itself on stderr).
pub const LAUNCHER_NAME: &str = "msty-mlx-studio";
