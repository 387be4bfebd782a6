//! Issue 7: `verify` on Resources trees of synthetic Mach-O files (msty_mlx_testkit's): an
//! absolute libpython install name as python-build-standalone before 20251209 shipped it, mlx
//! without its `mlx.metallib`; and a folder that is no bundle.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::harness::*;

/// A macOS Resources tree of synthetic Mach-O files as python-build-standalone before
/// 20251209 shipped it: absolute libpython install name.
fn macos_bundle(name: &str, install_name: &str, metallib: bool) -> PathBuf {
    let res = scratch(name).join("Resources");
    for dir in ["python/bin", "python/lib/python3.11/encodings", "mlxk2/_vendor/mlx/lib"] {
        fs::create_dir_all(res.join(dir)).unwrap();
    }
    let write = |rel: &str, bytes: Vec<u8>| {
        fs::write(res.join(rel), bytes).unwrap();
        fs::set_permissions(res.join(rel), fs::Permissions::from_mode(0o755)).unwrap();
    };
    write(
        "python/lib/libpython3.11.dylib",
        synthetic_macho(false, Some(install_name), &["/usr/lib/libSystem.B.dylib"], &[]),
    );
    write(
        "python/bin/python3",
        synthetic_macho(true, None, &[install_name, "/usr/lib/libSystem.B.dylib"], &["@executable_path/../lib"]),
    );
    // The two-stage launcher links no libpython; its runtime resolves Py* from the loaded one.
    write("mlxk2/msty-mlx-studio", synthetic_macho(true, None, &["/usr/lib/libSystem.B.dylib"], &[]));
    write(
        "mlxk2/libmsty_mlx_runtime.dylib",
        synthetic_macho(false, Some("@rpath/libmsty_mlx_runtime.dylib"), &["/usr/lib/libSystem.B.dylib"], &[]),
    );
    write(
        "mlxk2/_vendor/mlx/core.cpython-311-darwin.so",
        synthetic_macho(false, None, &["@rpath/libmlx.dylib"], &["@loader_path/lib"]),
    );
    write(
        "mlxk2/_vendor/mlx/lib/libmlx.dylib",
        synthetic_macho(false, Some("@rpath/libmlx.dylib"), &["/usr/lib/libc++.1.dylib"], &[]),
    );
    if metallib {
        fs::write(res.join("mlxk2/_vendor/mlx/lib/mlx.metallib"), b"metal").unwrap();
    }
    res
}

#[test]
fn macho_absolute_install_names() {
    let res = macos_bundle("v-macho", "/install/lib/libpython3.11.dylib", true);
    let (code, found) = findings(&res);
    assert_eq!(code, Some(1));
    let errors: Vec<(String, String)> =
        found.iter().map(|f| (f["kind"].as_str().unwrap().into(), f["path"].as_str().unwrap().into())).collect();
    assert_eq!(
        errors,
        [
            ("absolute-install-name".to_string(), res.join("python/bin/python3").to_str().unwrap().to_string()),
            (
                "absolute-install-name".to_string(),
                res.join("python/lib/libpython3.11.dylib").to_str().unwrap().to_string()
            ),
        ]
    );
    let json = verify(&res, &["--json"]).json();
    assert_eq!(json["platform"], "macos-arm64");
    assert_eq!(json["python"], "3.11");
    // The fixed layout (@rpath install name) is clean.
    let fixed = macos_bundle("v-macho-fixed", "@rpath/libpython3.11.dylib", true);
    assert_eq!(findings(&fixed), (Some(0), vec![]));
    // --fix-install-names is macOS-only.
    let r = verify(&res, &["--fix-install-names"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr().starts_with("build-external-python: error: --fix-install-names edits Mach-O files with install_name_tool and runs on macOS only"), "{}", r.stderr());
}

#[test]
fn macos_mlx_without_metallib() {
    let res = macos_bundle("v-metallib", "@rpath/libpython3.11.dylib", false);
    let (code, found) = findings(&res);
    assert_eq!(code, Some(1));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["kind"], "missing-metallib");
    assert_eq!(found[0]["path"], res.join("mlxk2/_vendor/mlx/lib/mlx.metallib").to_str().unwrap());
}

#[test]
fn not_a_bundle() {
    let r = verify(&scratch("v-empty"), &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr().contains("is neither a Resources folder (python/ + mlxk2/) nor a bundle folder (_vendor/)"),
        "{}",
        r.stderr()
    );
}
