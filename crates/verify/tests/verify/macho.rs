//! Issue 11: `verify` on real Mach-O files — universal binaries, `@rpath`/`@loader_path`/
//! `@executable_path` loads resolved as dyld does, and `--fix-install-names`' plan applied with
//! LLVM's install_name_tool. Nothing here runs a Mach-O file: the fixtures are mlx's macOS
//! wheels from PyPI and files linked by zig (the `ziglang` wheel), in trees built by hand.
//!
//! Needs: `llvm-14` (apt: llvm-lipo-14, llvm-install-name-tool-14, llvm-otool-14); the
//! `ziglang` wheel (pip, installed here when missing); PyPI for the mlx wheels (cached in
//! `~/.cache/msty-mlx-studio/macos-wheels`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use msty_mlx_verify::{InstallNameFix, fix_install_names_with};
use serde_json::{Value, json};

use crate::harness::*;

/// The mlx wheels whose Apple-built Mach-O files the tests read.
const MLX_WHEELS: &[&str] = &["mlx==0.32.0", "mlx-metal==0.32.0"];

/// Mach-O files linked by zig, once per test process: a libpython with an absolute install
/// name and a `python3` loading it by that name (universal: arm64 + x86_64), and arm64 ones
/// using `@rpath` with various LC_RPATHs.
fn zig_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            let dir = scratch("zig-fixtures");
            fs::write(dir.join("libpython.c"), "int Py_BytesMain(int argc, char **argv) { return argc + (argv != 0); }\n")
                .unwrap();
            fs::write(
                dir.join("main.c"),
                "int Py_BytesMain(int, char **);\nint main(int argc, char **argv) { return Py_BytesMain(argc, argv); }\n",
            )
            .unwrap();
            // Room for install_name_tool to lengthen names and add LC_RPATHs, as Apple's tools need too.
            let cc = &|arch: &str, out: &str, args: &[&str]| {
                run_ok(
                    zig_cc()
                        .args(["-target", &format!("{arch}-macos"), "-Wl,-headerpad_max_install_names", "-o", out])
                        .args(args)
                        .current_dir(&dir),
                );
            };
            // One thread per architecture: on a fresh machine zig first builds each target's libc
            // stubs (~30 s apiece).
            std::thread::scope(|threads| {
                for arch in ["aarch64", "x86_64"] {
                    threads.spawn(move || {
                        let lib = format!("libpython-abs-{arch}.dylib");
                        cc(arch, &lib, &["-shared", "libpython.c", "-Wl,-install_name,/install/lib/libpython3.12.dylib"]);
                        cc(arch, &format!("python3-abs-{arch}"), &["main.c", &lib]);
                    });
                }
            });
            for (out, parts) in [
                ("libpython-abs.dylib", ["libpython-abs-aarch64.dylib", "libpython-abs-x86_64.dylib"]),
                ("python3-abs", ["python3-abs-aarch64", "python3-abs-x86_64"]),
            ] {
                run_ok(Command::new(llvm("lipo")).arg("-create").arg("-output").arg(out).args(parts).current_dir(&dir));
            }
            cc(
                "aarch64",
                "libpython-rpath.dylib",
                &["-shared", "libpython.c", "-Wl,-install_name,@rpath/libpython3.12.dylib"],
            );
            cc("aarch64", "python3-no-rpath", &["main.c", "libpython-rpath.dylib"]);
            cc("aarch64", "python3-lib64", &["main.c", "libpython-rpath.dylib", "-Wl,-rpath,@executable_path/../lib64"]);
            cc("aarch64", "python3-rpath", &["main.c", "libpython-rpath.dylib", "-Wl,-rpath,@executable_path/../lib"]);
            cc(
                "aarch64",
                "launcher",
                &[
                    "main.c",
                    "libpython-rpath.dylib",
                    "-Wl,-rpath,@executable_path/../python/lib",
                    "-Wl,-rpath,@executable_path/python/lib",
                ],
            );
            dir
        })
    })
}

/// A Resources folder built by hand: `python/{bin/python3, lib/libpython3.12.dylib,
/// lib/python3.12/}`, `mlxk2/_vendor/`, and the launcher at `mlxk2/msty-mlx-studio` if given
/// (each a file of [`zig_fixtures`]).
fn resources(name: &str, python3: &str, libpython: &str, launcher: Option<&str>) -> PathBuf {
    let res = scratch(name).join("Resources");
    for dir in ["python/bin", "python/lib/python3.12/encodings", "mlxk2/_vendor"] {
        fs::create_dir_all(res.join(dir)).unwrap();
    }
    let files = zig_fixtures();
    let place = |from: &str, to: &str| {
        fs::copy(files.join(from), res.join(to)).unwrap();
        fs::set_permissions(res.join(to), fs::Permissions::from_mode(0o755)).unwrap();
    };
    place(python3, "python/bin/python3");
    place(libpython, "python/lib/libpython3.12.dylib");
    if let Some(launcher) = launcher {
        place(launcher, "mlxk2/msty-mlx-studio");
    }
    res
}

/// (kind, path relative to `root`, detail) of each finding.
fn summary(root: &Path, found: &[Value]) -> Vec<(String, String, String)> {
    found
        .iter()
        .map(|f| {
            let path = Path::new(f["path"].as_str().unwrap()).strip_prefix(root).unwrap().display().to_string();
            (f["kind"].as_str().unwrap().to_string(), path, f["detail"].as_str().unwrap().to_string())
        })
        .collect()
}

fn strings(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

#[test]
fn universal_libpython_with_an_absolute_install_name_is_fixed_by_the_plan() {
    let res = resources("v-universal", "python3-abs", "libpython-abs.dylib", None);
    let r = verify(&res, &["--json"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout());
    let json = r.json();
    assert_eq!(json["platform"], "macos-universal(arm64,x86_64)");
    assert_eq!(json["python"], "3.12");
    // Each problem once, naming the slices that have it.
    assert_eq!(
        summary(&res, json["findings"].as_array().unwrap()),
        strings(&[
            (
                "absolute-install-name",
                "python/bin/python3",
                "LC_LOAD_DYLIB `/install/lib/libpython3.12.dylib` is a build-machine path (use @rpath/…) (arm64, x86_64 slices)"
            ),
            (
                "absolute-install-name",
                "python/lib/libpython3.12.dylib",
                "LC_ID_DYLIB `/install/lib/libpython3.12.dylib` is a build-machine path (use @rpath/…) (arm64, x86_64 slices)"
            ),
        ])
    );

    let fixes = fix_install_names_with(&res, &llvm("install-name-tool")).unwrap();
    let fix = |file: &str, args: &[&str]| InstallNameFix {
        file: res.join(file),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    assert_eq!(
        fixes,
        [
            fix("python/lib/libpython3.12.dylib", &["-id", "@rpath/libpython3.12.dylib"]),
            fix("python/bin/python3", &["-change", "/install/lib/libpython3.12.dylib", "@rpath/libpython3.12.dylib"]),
            fix("python/bin/python3", &["-add_rpath", "@executable_path/../lib"]),
        ]
    );
    let r = verify(&res, &["--json"]);
    assert_eq!((r.code, &r.json()["findings"]), (Some(0), &json!([])), "{}", r.stdout());
    // What LLVM's own reader sees in the edited file.
    let otool = run_ok(Command::new(llvm("otool")).arg("-l").arg(res.join("python/bin/python3")));
    let otool = String::from_utf8_lossy(&otool.stdout);
    assert!(
        otool.contains("name @rpath/libpython3.12.dylib") && otool.contains("path @executable_path/../lib"),
        "{otool}"
    );
    // Nothing left to do.
    assert_eq!(fix_install_names_with(&res, &llvm("install-name-tool")).unwrap(), []);
}

#[test]
fn rpath_loads_resolve_as_dyld_would() {
    let res = resources("v-no-rpath", "python3-no-rpath", "libpython-rpath.dylib", None);
    let (code, found) = findings(&res);
    assert_eq!(code, Some(1));
    assert_eq!(
        summary(&res, &found),
        strings(&[(
            "unresolved-load",
            "python/bin/python3",
            "LC_LOAD_DYLIB `@rpath/libpython3.12.dylib` resolves to nothing: no LC_RPATH in `python/bin/python3`"
        )])
    );
    let text = verify(&res, &[]);
    assert!(
        text.stdout().contains(&format!(
            "error: unresolved-load: {}: LC_LOAD_DYLIB `@rpath/libpython3.12.dylib`",
            res.join("python/bin/python3").display()
        )),
        "{}",
        text.stdout()
    );

    let res = resources("v-lib64", "python3-lib64", "libpython-rpath.dylib", None);
    let (code, found) = findings(&res);
    assert_eq!(code, Some(1));
    assert_eq!(
        summary(&res, &found),
        strings(&[(
            "unresolved-load",
            "python/bin/python3",
            "LC_LOAD_DYLIB `@rpath/libpython3.12.dylib` resolves to none of: `python/lib64/libpython3.12.dylib` (LC_RPATH: `@executable_path/../lib64` in `python/bin/python3`)"
        )])
    );

    // python-build-standalone's shape, and the launcher's two rpaths: clean.
    let res = resources("v-rpath", "python3-rpath", "libpython-rpath.dylib", Some("launcher"));
    let r = verify(&res, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout());
    assert!(r.stdout().lines().last().unwrap().starts_with("clean: 0 error(s), 0 warning(s)"), "{}", r.stdout());
    assert!(
        r.stdout().lines().last().unwrap().ends_with("(resources layout, Python 3.12, macos-arm64)"),
        "{}",
        r.stdout()
    );
}

/// The macOS wheels of [`MLX_WHEELS`] for CPython 3.12 on arm64, cached outside the repository
/// and downloaded from PyPI only when missing.
fn macos_wheels() -> PathBuf {
    let dir = dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("msty-mlx-studio/macos-wheels");
    fs::create_dir_all(&dir).unwrap();
    let have = |prefix: &str| {
        fs::read_dir(&dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(prefix))
    };
    if !(have("mlx-0.32.0-cp312-cp312-macosx_") && have("mlx_metal-0.32.0-py3-none-macosx_")) {
        let out = pip(&host_python().executable, "download")
            .args(["--only-binary=:all:", "--no-deps"])
            .args([
                "--platform",
                "macosx_14_0_arm64",
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                "--abi",
                "cp312",
                "--dest",
            ])
            .arg(&dir)
            .args(MLX_WHEELS)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "downloading {MLX_WHEELS:?} from PyPI failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// mlx and mlx-metal's macOS wheels unpacked into a `_vendor`, once per test process.
fn mlx_vendor() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            let vendor = scratch("mlx-macos-vendor").join("_vendor");
            for wheel in fs::read_dir(macos_wheels()).unwrap().flatten().map(|e| e.path()) {
                let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("mlx-0.32.0-") || name.starts_with("mlx_metal-0.32.0-") {
                    zip::ZipArchive::new(fs::File::open(&wheel).unwrap())
                        .unwrap()
                        .extract(&vendor)
                        .unwrap_or_else(|e| panic!("unzip {name}: {e}"));
                }
            }
            vendor
        })
    })
}

/// mlx 0.32.0's `core.cpython-312-darwin.so` (MH_BUNDLE) loads `@rpath/libmlx.dylib` with
/// LC_RPATH `@loader_path/lib`; `libmlx.dylib` has install name `@rpath/libmlx.dylib`, no
/// LC_RPATH and only system loads.
#[test]
fn real_mlx_wheels_resolve_their_loads() {
    let dist = scratch("v-mlx-dist");
    link_tree(mlx_vendor(), &dist.join("_vendor"));
    let json = verify(&dist, &["--json"]).json();
    assert_eq!(json["findings"], json!([]), "{json:#}");
    let signed: Vec<String> =
        json["sign_list"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    for file in
        ["_vendor/mlx/core.cpython-312-darwin.so", "_vendor/mlx/lib/libmlx.dylib", "_vendor/mlx/lib/libjaccl.dylib"]
    {
        assert!(signed.contains(&dist.join(file).display().to_string()), "{file} not in {signed:?}");
    }

    // Without libmlx, core's load is reported with the path its LC_RPATH gave.
    fs::remove_file(dist.join("_vendor/mlx/lib/libmlx.dylib")).unwrap();
    let (code, found) = findings(&dist);
    assert_eq!(code, Some(1));
    assert_eq!(
        summary(&dist, &found),
        strings(&[(
            "unresolved-load",
            "_vendor/mlx/core.cpython-312-darwin.so",
            "LC_LOAD_DYLIB `@rpath/libmlx.dylib` resolves to none of: `_vendor/mlx/lib/libmlx.dylib` (LC_RPATH: `@loader_path/lib` in `_vendor/mlx/core.cpython-312-darwin.so`)"
        )])
    );
}

/// The real mlx under both Python hosts of an app (zig-linked python3 and launcher): clean, and
/// an mlx moved away from its `lib/` fails in the process of each host.
#[test]
fn real_mlx_in_an_app_bundle() {
    let res = resources("v-mlx-app", "python3-rpath", "libpython-rpath.dylib", Some("launcher"));
    link_tree(mlx_vendor(), &res.join("mlxk2/_vendor"));
    let r = verify(&res, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout());
    assert!(
        r.stdout().lines().last().unwrap().ends_with("(resources layout, Python 3.12, macos-arm64)"),
        "{}",
        r.stdout()
    );

    fs::rename(res.join("mlxk2/_vendor/mlx/lib"), res.join("mlxk2/_vendor/mlx/lib.moved")).unwrap();
    let (code, found) = findings(&res);
    assert_eq!(code, Some(1));
    let summary = summary(&res, &found);
    assert_eq!(
        summary.iter().map(|(kind, path, _)| (kind.as_str(), path.as_str())).collect::<Vec<_>>(),
        [
            ("unresolved-load", "mlxk2/_vendor/mlx/core.cpython-312-darwin.so"),
            ("missing-metallib", "mlxk2/_vendor/mlx/lib/mlx.metallib"),
        ]
    );
    assert_eq!(
        summary[0].2,
        "LC_LOAD_DYLIB `@rpath/libmlx.dylib` resolves to none of: `mlxk2/_vendor/mlx/lib/libmlx.dylib`, `python/lib/libmlx.dylib`, \
         `mlxk2/python/lib/libmlx.dylib` (LC_RPATH: `@loader_path/lib` in `mlxk2/_vendor/mlx/core.cpython-312-darwin.so`, `@executable_path/../python/lib` in `mlxk2/msty-mlx-studio`, \
         `@executable_path/python/lib` in `mlxk2/msty-mlx-studio`, `@executable_path/../lib` in `python/bin/python3`) \
         in the process of `mlxk2/msty-mlx-studio`, `python/bin/python3`"
    );
}
