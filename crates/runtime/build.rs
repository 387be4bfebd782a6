//! Build script of the runtime: Python-version cfgs for the PyConfig fields, extension-module
//! link arguments (macOS: `-undefined dynamic_lookup`), and the X.Y it is built for, which the
//! runtime stamps into itself for the launcher to read before loading it.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_extension_module_link_args();
    let version = pyo3_build_config::get().version();
    println!("cargo:rustc-env=MSTY_RUNTIME_PYTHON_XY={}.{}", version.major, version.minor);
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        // Spelled for the linker itself, which both macOS link paths accept: Apple's clang
        // driver on a Mac and ld64.lld (`rust-lld`) from elsewhere (`crates/bundler/src/cross.rs`).
        // Room for packagers' install_name_tool edits after the build:
        println!("cargo:rustc-link-arg=-headerpad_max_install_names");
        // The linker's default id is the output path on the build machine; the launcher loads
        // the runtime by absolute path, so the id only has to be relocatable (and path-free).
        println!("cargo:rustc-link-arg=-install_name");
        println!("cargo:rustc-link-arg=@rpath/libmsty_mlx_runtime.dylib");
        // The exports are rustc's list for a cdylib (msty_mlx_runtime_main and _stamp), which
        // both linkers honour; zig's Mach-O linker ignored it (issue 27: 524 global symbols).
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PYO3_CONFIG_FILE");
    println!("cargo:rerun-if-env-changed=PYO3_CROSS_PYTHON_VERSION");
}
