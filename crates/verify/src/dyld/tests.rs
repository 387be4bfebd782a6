//! The load-resolution rules on synthetic Mach-O bundles: rpaths along load chains, every
//! Python host, every slice of a universal file.

use super::*;
use crate::native::native_info;
use goblin::mach::constants::cputype::CPU_TYPE_X86_64;
use msty_mlx_testkit::{synthetic_macho, synthetic_retarget, synthetic_universal};
use std::path::{Path, PathBuf};

const SYSTEM: &str = "/usr/lib/libSystem.B.dylib";

fn exe(loads: &[&str], rpaths: &[&str]) -> Vec<u8> {
    synthetic_macho(true, None, loads, rpaths)
}
fn lib(id: &str, loads: &[&str], rpaths: &[&str]) -> Vec<u8> {
    synthetic_macho(false, Some(id), loads, rpaths)
}

/// The unresolved loads of a bundle at `/r` made of `files` (relative path, bytes).
fn unresolved(files: Vec<(&str, Vec<u8>)>) -> Vec<Unresolved> {
    let images: BTreeMap<PathBuf, NativeInfo> =
        files.into_iter().map(|(p, b)| (Path::new("/r").join(p), native_info(&b).unwrap())).collect();
    let find = |p: &Path| if images.contains_key(p) { Found::Image(p.to_path_buf()) } else { Found::Nothing };
    let skip = |name: &str| name.starts_with('/');
    unresolved_loads(&Images { images: &images, find: &find, skip: &skip })
}

fn describe(u: &Unresolved) -> String {
    u.describe(|p| p.strip_prefix("/r").unwrap_or(p).display().to_string())
}

fn libpython() -> (&'static str, Vec<u8>) {
    ("python/lib/libpython3.12.dylib", lib("@rpath/libpython3.12.dylib", &[SYSTEM], &[]))
}

#[test]
fn python3_needs_an_rpath_to_its_libpython() {
    let found =
        unresolved(vec![libpython(), ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib", SYSTEM], &[]))]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].image, Path::new("/r/python/bin/python3"));
    assert_eq!(
        describe(&found[0]),
        "LC_LOAD_DYLIB `@rpath/libpython3.12.dylib` resolves to nothing: no LC_RPATH in `python/bin/python3`"
    );

    let found = unresolved(vec![
        libpython(),
        ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib64", "/install/lib"])),
    ]);
    assert_eq!(
        describe(&found[0]),
        "LC_LOAD_DYLIB `@rpath/libpython3.12.dylib` resolves to none of: `python/lib64/libpython3.12.dylib`, `/install/lib/libpython3.12.dylib` \
         (LC_RPATH: `@executable_path/../lib64` in `python/bin/python3`, `/install/lib` in `python/bin/python3`)"
    );

    for rpath in ["@executable_path/../lib", "@loader_path/../lib/"] {
        assert_eq!(
            unresolved(vec![libpython(), ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &[rpath]))]),
            vec![],
            "{rpath}"
        );
    }
}

#[test]
fn the_launcher_and_python3_as_our_bundles_have_them() {
    let found = unresolved(vec![
        libpython(),
        ("python/bin/python3", exe(&["@executable_path/../lib/libpython3.12.dylib"], &[])),
        (
            "mlxk2/msty-mlx-studio",
            exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../python/lib", "@executable_path/python/lib"]),
        ),
    ]);
    assert_eq!(found, vec![]);
}

/// mlx's wheels: `core.cpython-312-darwin.so` loads `@rpath/libmlx.dylib` with LC_RPATH
/// `@loader_path/lib`; libmlx has no LC_RPATH, so its own `@rpath` loads use core's. A
/// dlopened image's chain goes on with the host's libpython and the host itself.
#[test]
fn rpaths_of_the_loading_images_count() {
    let vendor = |files: Vec<(&'static str, Vec<u8>)>| {
        let mut all = vec![
            libpython(),
            ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"])),
            ("mlxk2/msty-mlx-studio", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../python/lib"])),
            (
                "mlxk2/_vendor/mlx/core.cpython-312-darwin.so",
                lib("core", &["@rpath/libmlx.dylib", SYSTEM], &["@loader_path/lib"]),
            ),
        ];
        all.extend(files);
        unresolved(all)
    };
    let libmlx = || ("mlxk2/_vendor/mlx/lib/libmlx.dylib", lib("@rpath/libmlx.dylib", &["@rpath/libdep.dylib"], &[]));
    assert_eq!(
        vendor(vec![libmlx(), ("mlxk2/_vendor/mlx/lib/libdep.dylib", lib("@rpath/libdep.dylib", &[], &[]))]),
        vec![]
    );

    let found = vendor(vec![]);
    assert_eq!(found.len(), 1);
    assert_eq!(
        describe(&found[0]),
        "LC_LOAD_DYLIB `@rpath/libmlx.dylib` resolves to none of: `mlxk2/_vendor/mlx/lib/libmlx.dylib`, `python/lib/libmlx.dylib` \
         (LC_RPATH: `@loader_path/lib` in `mlxk2/_vendor/mlx/core.cpython-312-darwin.so`, `@executable_path/../python/lib` in `mlxk2/msty-mlx-studio`, \
         `@executable_path/../lib` in `python/bin/python3`) in the process of `mlxk2/msty-mlx-studio`, `python/bin/python3`"
    );

    let found = vendor(vec![libmlx()]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].image, Path::new("/r/mlxk2/_vendor/mlx/lib/libmlx.dylib"));
    let text = describe(&found[0]);
    assert!(
        text.starts_with(
            "LC_LOAD_DYLIB `@rpath/libdep.dylib` resolves to none of: `mlxk2/_vendor/mlx/lib/libdep.dylib`, "
        ),
        "{text}"
    );
    assert!(
        text.contains("(LC_RPATH: `@loader_path/lib` in `mlxk2/_vendor/mlx/core.cpython-312-darwin.so`, "),
        "{text}"
    );
}

/// An extension module is loaded by every Python host: `@executable_path` must work for each.
#[test]
fn executable_path_in_an_extension_must_work_under_every_host() {
    let found = unresolved(vec![
        libpython(),
        ("python/lib/libhelper.dylib", lib("@rpath/libhelper.dylib", &[], &[])),
        ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"])),
        ("mlxk2/msty-mlx-studio", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../python/lib"])),
        ("mlxk2/_vendor/ext.cpython-312-darwin.so", lib("ext", &["@executable_path/../lib/libhelper.dylib"], &[])),
    ]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].executables, [Path::new("/r/mlxk2/msty-mlx-studio")]);
    assert_eq!(
        describe(&found[0]),
        "LC_LOAD_DYLIB `@executable_path/../lib/libhelper.dylib` resolves to none of: `lib/libhelper.dylib` in the process of `mlxk2/msty-mlx-studio`"
    );
    // With no executable in the bundle, @executable_path is unknown.
    let found =
        unresolved(vec![("_vendor/ext.cpython-312-darwin.so", lib("ext", &["@executable_path/libhelper.dylib"], &[]))]);
    assert_eq!(
        describe(&found[0]),
        "LC_LOAD_DYLIB `@executable_path/libhelper.dylib` resolves to nothing: no main executable of the bundle loads it"
    );
}

#[test]
fn every_slice_of_a_universal_file_must_resolve() {
    let universal =
        |arm: Vec<u8>, intel: Vec<u8>| synthetic_universal(&[arm, synthetic_retarget(intel, CPU_TYPE_X86_64)]);
    let python3 = || {
        universal(
            exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"]),
            exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"]),
        )
    };
    // A thin arm64 libpython under a universal python3: the x86_64 slice finds no x86_64 libpython.
    let found = unresolved(vec![libpython(), ("python/bin/python3", python3())]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].arches, [Arch::X86_64]);
    assert!(
        describe(&found[0]).contains("`python/lib/libpython3.12.dylib` lacks the x86_64 slice"),
        "{}",
        describe(&found[0])
    );
    let libpython = universal(lib("@rpath/libpython3.12.dylib", &[], &[]), lib("@rpath/libpython3.12.dylib", &[], &[]));
    assert_eq!(
        unresolved(vec![("python/lib/libpython3.12.dylib", libpython), ("python/bin/python3", python3())]),
        vec![]
    );
    // The x86_64 slice alone lacks the rpath.
    let python3 = universal(
        exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"]),
        exe(&["@rpath/libpython3.12.dylib"], &[]),
    );
    let libpython = universal(lib("@rpath/libpython3.12.dylib", &[], &[]), lib("@rpath/libpython3.12.dylib", &[], &[]));
    let found = unresolved(vec![("python/lib/libpython3.12.dylib", libpython), ("python/bin/python3", python3)]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].arches, [Arch::X86_64]);
}

#[test]
fn names_are_expanded_as_dyld_does() {
    let here = Path::new("/r/a/bin");
    assert_eq!(expand("@loader_path/../lib", here, None), Some(PathBuf::from("/r/a/lib")));
    assert_eq!(expand("@loader_path", here, None), Some(PathBuf::from("/r/a/bin")));
    assert_eq!(expand("@executable_path/x", here, Some(Path::new("/r/m"))), Some(PathBuf::from("/r/m/x")));
    assert_eq!(expand("@executable_path/x", here, None), None);
    assert_eq!(expand("@loader_pathx/y", here, None), None);
    assert_eq!(expand("@rpath/x", here, None), None);
    assert_eq!(expand("lib/x", here, None), None);
}
