//! Build script of the launcher package. The launcher links no libpython (it loads the home's
//! at run time), so nothing here depends on a Python; only macOS needs a link argument.

use std::env;

fn main() {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        // Room for packagers' install_name_tool edits (e.g. -add_rpath) after the build.
        println!("cargo:rustc-link-arg-bin=msty-mlx-studio=-Wl,-headerpad_max_install_names");
    }
}
