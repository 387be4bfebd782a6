//! msty-mlx-studio, stage 1: locate an app bundle's Python and vendored packages, plan the
//! embedded interpreter's start, answer the diagnostics natively, and load stage 2 (libpython
//! and the runtime library) only when Python must run. Nothing here links CPython.
//!
//! What launcher and runtime agree on lives in `msty-mlx-contract`; dist-info reading in
//! `msty-mlx-distinfo`; the bundler and verify are crates of their own that this one never
//! depends on.

#![deny(unsafe_code)]

pub mod bytecode;
pub mod child_env;
pub mod diagnostics;
pub mod failure;
pub mod guard;
pub mod layout;
pub mod library_file;
pub mod mlx_jit;
pub mod parent;
pub mod plan;
pub mod python_home;
pub mod settings;
pub mod stack;
pub mod stage2;
// The unsafe wrappers; their callers' `unsafe {}` blocks are allowed one by one (see `sys`).
#[allow(unsafe_code)]
pub mod sys;
#[cfg(test)]
mod test_dir;

pub use msty_mlx_contract::{LAUNCHER_NAME, VERSION as LAUNCHER_VERSION};
