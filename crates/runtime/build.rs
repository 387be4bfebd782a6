//! Build script of the runtime: Python-version cfgs for the PyConfig fields, extension-module
//! link arguments (macOS: `-undefined dynamic_lookup`), and the X.Y it is built for, which the
//! runtime stamps into itself for the launcher to read before loading it.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_extension_module_link_args();
    let version = pyo3_build_config::get().version();
    println!("cargo:rustc-env=MSTY_RUNTIME_PYTHON_XY={}.{}", version.major, version.minor);
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        // Room for packagers' install_name_tool edits after the build.
        println!("cargo:rustc-link-arg=-Wl,-headerpad_max_install_names");
        // The linker's default id is the output path on the build machine; the launcher loads
        // the runtime by absolute path, so the id only has to be relocatable (and path-free).
        println!("cargo:rustc-link-arg=-Wl,-install_name,@rpath/libmsty_mlx_runtime.dylib");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_CONFIG_FILE");
    println!("cargo:rerun-if-env-changed=PYO3_CROSS_PYTHON_VERSION");
}
