//! Build script of the launcher package. The launcher links no libpython (it loads the home's
//! at run time), so nothing here depends on a Python; it only adjusts linking:
//! - macOS: room for packagers' `install_name_tool` edits;
//! - Linux (glibc): the unwinder linked statically (`libgcc_eh.a`), so that a start does not
//!   load and relocate `libgcc_s.so.1` — an eighth of `--mlx-info`'s time (measured with
//!   `perf stat`, 0.79 → 0.73 ms). Nothing unwinds (panic = "abort"); std only references it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "macos" {
        // Spelled for the linker itself: Apple's clang driver and ld64.lld both take it.
        println!("cargo:rustc-link-arg-bin=msty-mlx-studio=-headerpad_max_install_names");
    }
    if os == "linux" && target_env == "gnu" {
        if let Some(dir) = static_unwinder_dir() {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static=gcc_eh");
        } else {
            println!("cargo:warning=libgcc_eh.a not found: the launcher will load libgcc_s.so.1 at start");
        }
    }
    println!("cargo:rerun-if-env-changed=CC");
}

/// The directory of the C compiler's `libgcc_eh.a`, when it has one.
fn static_unwinder_dir() -> Option<PathBuf> {
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc).arg("-print-file-name=libgcc_eh.a").output().ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (path.is_absolute() && path.is_file()).then(|| path.parent().map(PathBuf::from)).flatten()
}
