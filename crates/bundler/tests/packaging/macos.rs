//! macOS from the Linux install: a wheels-only arm64 bundle whose launcher and runtime are the
//! macOS wheel's kit files byte for byte and that `verify` passes; the macOS wheel read by
//! verify's own Mach-O and code-signature readers.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::harness::*;

/// The kit inside a wheel: `<name>.data/data/share/msty-mlx-studio/kit/…` → bytes.
fn wheel_kit(wheel: &Path) -> BTreeMap<String, Vec<u8>> {
    wheel_members(wheel)
        .into_iter()
        .filter_map(|(name, bytes)| {
            let (_, rest) = name.split_once(".data/data/share/msty-mlx-studio/kit/")?;
            Some((rest.to_string(), bytes))
        })
        .collect()
}

#[test]
fn a_macos_bundle_from_the_linux_install_carries_the_macos_wheels_kit_files_and_verifies() {
    let cwd = scratch("packager-macos");
    let r = run(packager().bundler(&cwd).args([
        "--quiet",
        "--wheels-only",
        "--target-python-version",
        "3.12",
        "--target-platform",
        "macosx_14_0_arm64",
        "--project",
        "mlx-knife==2.0.8",
    ]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let dist = cwd.join("dist-ext-python/msty-mlx-studio");
    let kit = wheel_kit(&macos_wheel());
    assert_eq!(fs::read(dist.join("msty-mlx-studio")).unwrap(), kit["aarch64-apple-darwin/msty-mlx-studio"]);
    assert_eq!(
        fs::read(dist.join("libmsty_mlx_runtime.dylib")).unwrap(),
        kit["aarch64-apple-darwin/py3.12/libmsty_mlx_runtime.dylib"]
    );
    // Both wheels carry the same kits.
    assert_eq!(wheel_kit(&linux_wheel()), kit, "the Linux and macOS wheels' kits differ");
    let m: Value = serde_json::from_slice(&fs::read(dist.join("bundle-manifest.json")).unwrap()).unwrap();
    assert_eq!(m["kit"]["target"], "aarch64-apple-darwin");
    assert_eq!(m["runtime"]["minimum_os"], "11.0");
    let verify = run(packager().bundler(&cwd).arg("verify").arg(&dist));
    assert_eq!(verify.code, Some(0), "{}{}", verify.stdout(), verify.stderr());
    assert!(verify.stdout().lines().last().unwrap_or("").starts_with("clean: 0 error(s)"), "{}", verify.stdout());
}

/// `macosx_11_0_arm64` → (11, 0).
fn tag_minimum(wheel: &Path) -> (u16, u8) {
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let tag = name.trim_end_matches(".whl").rsplit('-').next().unwrap().to_string();
    let mut parts = tag.strip_prefix("macosx_").unwrap_or_else(|| panic!("{name}: not a macOS tag")).split('_');
    let major = parts.next().unwrap().parse().unwrap();
    let minor = parts.next().unwrap().parse().unwrap();
    assert_eq!(parts.collect::<Vec<_>>(), ["arm64"], "{name}");
    (major, minor)
}

#[test]
fn the_macos_wheel_read_by_verify_is_arm64_signed_tagged_with_its_minimum_os_and_links_only_macos_paths() {
    use msty_mlx_verify::{Arch, inspect_macho, native_info};
    let wheel = macos_wheel();
    let mut minimums = Vec::new();
    let mut count = 0;
    for (name, bytes) in wheel_members(&wheel) {
        let slices = inspect_macho(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        if slices.is_empty() {
            continue;
        }
        count += 1;
        for s in &slices {
            assert_eq!(s.arch, Arch::Arm64, "{name}");
            minimums.push(s.minos.unwrap_or_else(|| panic!("{name}: no LC_BUILD_VERSION")));
            let sig =
                s.signature.as_ref().unwrap_or_else(|| panic!("{name}: not signed (arm64 runs no unsigned code)"));
            let cd = sig.primary().unwrap_or_else(|| panic!("{name}: a signature without a CodeDirectory"));
            assert!(
                cd.flags & msty_mlx_verify::CS_ADHOC != 0 || sig.cms.is_some(),
                "{name}: neither ad hoc nor certificate-signed"
            );
            assert_eq!(
                cd.mismatched_pages.as_deref().unwrap_or_default(),
                &[] as &[usize],
                "{name}: pages changed after signing"
            );
        }
        let info = native_info(&bytes).unwrap();
        for slice in &info.slices {
            for load in &slice.loads {
                let fine = ["/usr/lib/", "/System/Library/", "@rpath/", "@loader_path/", "@executable_path/"]
                    .iter()
                    .any(|p| load.name.starts_with(p));
                assert!(fine, "{name} loads `{}`, a path no Mac has", load.name);
            }
            assert!(slice.rpaths.iter().all(|r| r.starts_with('@')), "{name}: rpaths {:?}", slice.rpaths);
        }
    }
    // The bundler and the kit's launcher and four runtimes.
    assert_eq!(count, 6, "Mach-O files in {}", wheel.display());
    let newest = minimums.iter().max().copied().unwrap();
    assert_eq!(tag_minimum(&wheel), newest, "the tag is the newest minimum macOS of its Mach-O files");
}
