//! Build script: link the launcher so that it finds the bundled libpython, and record the
//! Python X.Y it was built for (the runtime refuses any other).

use std::env;

fn main() {
    // Py_3_x cfgs for our own code (PyConfig fields differ per version).
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    let xy = format!("{}.{}", config.version().major, config.version().minor);
    println!("cargo:rustc-env=MLXK2_PYTHON_XY={xy}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_CONFIG_FILE");

    // Only the launcher binary gets the bundle rpath; `rustc-link-arg-bin` keeps it off the
    // bundler and the test executables. pyo3-ffi's own absolute `-rpath <build lib dir>` is a
    // per-package `rustc-link-arg` and never reaches this package's binaries.
    let launcher = "msty-mlx-studio";
    match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("linux") => {
            // DT_RPATH (not RUNPATH): consulted before LD_LIBRARY_PATH, so the environment
            // cannot swap in another libpython.
            println!("cargo:rustc-link-arg-bin={launcher}=-Wl,--disable-new-dtags");
            // The exe-relative homes: the shipped Resources/{python, mlxk2/<launcher>} first (the
            // loader probes every rpath entry for every library, libc included, so the entry
            // that hits goes first), then <exe dir>/python.
            println!("cargo:rustc-link-arg-bin={launcher}=-Wl,-rpath,$ORIGIN/../python/lib:$ORIGIN/python/lib");
        }
        Ok("macos") => {
            println!("cargo:rustc-link-arg-bin={launcher}=-Wl,-rpath,@executable_path/../python/lib");
            println!("cargo:rustc-link-arg-bin={launcher}=-Wl,-rpath,@executable_path/python/lib");
            // Room for packagers' install_name_tool edits after the build.
            println!("cargo:rustc-link-arg-bin={launcher}=-Wl,-headerpad_max_install_names");
        }
        _ => {}
    }
}
