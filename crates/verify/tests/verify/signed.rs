//! Issue 19: `verify --signed` on Mach-O trees signed as a packager signs them — with
//! rcodesign (crates.io `apple-codesign`), inside-out in the sign list's order, executables
//! with the hardened runtime and packaging/entitlements.plist; once ad hoc, once with a
//! self-signed Developer ID certificate, time-stamped by the local RFC 3161 server — read back
//! with our reader and cross-checked with `rcodesign print-signature-info`; a planted defect of
//! each kind; and the runtime's imports as dyld binds them. The files are linked by zig for
//! arm64 macOS; nothing here runs them. The fixtures and signing helpers serve `release` and
//! `sign_function` too.
//!
//! Needs: rcodesign (`cargo install --locked apple-codesign --version 0.29.0
//! --no-default-features`; `.ci/run` installs it), the `ziglang` wheel (as `macho`), python3
//! and openssl (the time-stamp server).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use msty_mlx_testkit::synthetic_macho;
use msty_mlx_verify::{Binding, CS_RUNTIME, inspect_macho};
use serde_json::Value;

use crate::harness::*;

pub(crate) const TEAM: &str = "MSTYTEST01";
const OTHER_TEAM: &str = "OTHERTEAM2";
const ENTITLEMENTS: &str = "packaging/entitlements.plist";

/// rcodesign on PATH or in ~/.cargo/bin.
pub(crate) fn rcodesign() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("rcodesign")).find(|p| p.is_file()));
    let cargo_bin = dirs::home_dir().map(|h| h.join(".cargo/bin/rcodesign")).filter(|p| p.is_file());
    on_path
        .or(cargo_bin)
        .expect("rcodesign is missing: cargo install --locked apple-codesign --version 0.29.0 --no-default-features")
}

/// Mach-O files for a Resources tree, linked once per test process.
pub(crate) fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        kept(|| {
            let dir = scratch("signed-fixtures");
            let stamp = format!("msty-mlx-runtime-stamp:plan=2;python={XY};version=0.0.0");
            let sources = [
                ("libpython.c", "int PyBool_Type; void *PyLong_FromLong(long x) { return (void *)x; }\nint Py_BytesMain(int c, char **v) { return c + (v != 0); }\n".to_string()),
                ("main.c", "int Py_BytesMain(int, char **);\nint main(int c, char **v) { return Py_BytesMain(c, v); }\n".into()),
                ("launcher.c", "int main(void) { return 0; }\n".into()),
                ("runtime.c", format!("extern int PyBool_Type; extern void *PyLong_FromLong(long);\n__attribute__((used)) const char stamp[] = \"{stamp}\";\nvoid *f(long x) {{ return x ? PyLong_FromLong(x) : (void *)&PyBool_Type; }}\n")),
                ("missing.c", format!("extern void *PyLong_FromLong(long); extern void *PyFoo_Missing(void);\n__attribute__((used)) const char stamp[] = \"{stamp}\";\nvoid *f(long x) {{ return x ? PyLong_FromLong(x) : PyFoo_Missing(); }}\n")),
                ("ext.c", "extern void *PyLong_FromLong(long);\nvoid *PyInit_ext(void) { return PyLong_FromLong(1); }\n".into()),
            ];
            for (name, text) in sources {
                fs::write(dir.join(name), text).unwrap();
            }
            let libpython = format!("-Wl,-install_name,@rpath/libpython{XY}.dylib");
            let flat = "-Wl,-undefined,dynamic_lookup";
            let links: [(&str, Vec<&str>); 10] = [
                ("libpython.dylib", vec!["-shared", "libpython.c", &libpython]),
                ("python3", vec!["main.c", "libpython.dylib", "-Wl,-rpath,@executable_path/../lib"]),
                ("launcher", vec!["launcher.c"]),
                ("runtime.dylib", vec!["-shared", "runtime.c", flat]),
                ("runtime-two-level.dylib", vec!["-shared", "runtime.c", "libpython.dylib"]),
                ("runtime-missing.dylib", vec!["-shared", "missing.c", flat]),
                ("ext.so", vec!["-shared", "ext.c", flat]),
                ("helper", vec!["-shared", "launcher.c"]),
                // An extension that loads libpython by name (two-level), and an object file
                // (MH_OBJECT) like python-build-standalone's config-3.X-darwin/python.o.
                ("ext-libpython.so", vec!["-shared", "ext.c", "libpython.dylib"]),
                ("python.o", vec!["-c", "main.c"]),
            ];
            for (out, args) in links {
                run_ok(
                    zig_cc()
                        .args(["-target", "aarch64-macos", "-Wl,-headerpad_max_install_names", "-o", out])
                        .args(args)
                        .current_dir(&dir),
                );
            }
            dir
        })
    })
}

/// A Resources folder of [`fixtures`] (linker-signed, as zig leaves them), with the runtime
/// `runtime` and a Mach-O library without an extension (`mlxk2/_vendor/tool/native-helper`).
fn tree(name: &str, runtime: &str) -> PathBuf {
    let res = scratch(name).join("Resources");
    let xy_tag = XY.replace('.', "");
    let files = [
        ("libpython.dylib", format!("python/lib/libpython{XY}.dylib")),
        ("python3", "python/bin/python3".to_string()),
        ("launcher", "mlxk2/msty-mlx-studio".into()),
        (runtime, "mlxk2/libmsty_mlx_runtime.dylib".into()),
        ("ext.so", format!("mlxk2/_vendor/ext.cpython-{xy_tag}-darwin.so")),
        ("helper", "mlxk2/_vendor/tool/native-helper".into()),
    ];
    lay_out(&res, &files);
    res
}

/// Copies each fixture `(from, to)` to `res/to` (executable), beside a stdlib folder.
fn lay_out(res: &Path, files: &[(&str, String)]) {
    fs::create_dir_all(res.join(format!("python/lib/python{XY}/encodings"))).unwrap();
    for (from, to) in files {
        let to = res.join(to);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(fixtures().join(from), &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// An app in python-build-standalone's shape, `<scratch>/Msty MLX Studio.app/Contents/Resources`
/// (returned): `python/bin/python3` a symlink to `python3.X`, the real file; the launcher, the
/// runtime and an extension module in `mlxk2/`. Linker-signed, as zig leaves them.
pub(crate) fn pbs_app(name: &str) -> PathBuf {
    let res = scratch(name).join("Msty MLX Studio.app/Contents/Resources");
    let files = [
        ("libpython.dylib", format!("python/lib/libpython{XY}.dylib")),
        ("python3", format!("python/bin/python{XY}")),
        ("launcher", "mlxk2/msty-mlx-studio".into()),
        ("runtime.dylib", "mlxk2/libmsty_mlx_runtime.dylib".into()),
        ("ext.so", format!("mlxk2/_vendor/ext.cpython-{}-darwin.so", XY.replace('.', ""))),
    ];
    lay_out(&res, &files);
    std::os::unix::fs::symlink(format!("python{XY}"), res.join("python/bin/python3")).unwrap();
    res
}

/// How a file is signed.
#[derive(Clone, Copy)]
pub(crate) enum Identity<'a> {
    AdHoc,
    /// A PEM file holding a certificate and its key, and the team id to record; time-stamped
    /// by the local server, as a release must be.
    Certificate(&'a Path, &'a str),
    /// The same without a timestamp (`--timestamp-url none`).
    Untimestamped(&'a Path, &'a str),
    /// The same, time-stamped by the server at this URL.
    StampedBy(&'a Path, &'a str, &'a str),
}

/// rcodesign sign of one file: executables with the hardened runtime and the entitlements
/// unless told otherwise.
pub(crate) fn sign(file: &Path, identity: Identity, runtime: bool, entitlements: bool) {
    let mut cmd = Command::new(rcodesign());
    cmd.arg("sign");
    if runtime {
        cmd.args(["--code-signature-flags", "runtime"]);
    }
    if entitlements {
        cmd.arg("--entitlements-xml-file").arg(Path::new(REPO).join(ENTITLEMENTS));
    }
    match identity {
        Identity::AdHoc => {}
        Identity::Certificate(pem, team) => {
            cmd.arg("--pem-file").arg(pem).args(["--team-name", team, "--timestamp-url", &time_stamper().url]);
        }
        Identity::Untimestamped(pem, team) => {
            cmd.arg("--pem-file").arg(pem).args(["--team-name", team, "--timestamp-url", "none"]);
        }
        Identity::StampedBy(pem, team, url) => {
            cmd.arg("--pem-file").arg(pem).args(["--team-name", team, "--timestamp-url", url]);
        }
    }
    run_ok(cmd.arg(file));
}

fn is_executable(file: &Path) -> bool {
    inspect_macho(&fs::read(file).unwrap()).unwrap().iter().any(|s| s.filetype == 2)
}

/// Signs every file of `verify --sign-list`, in its order (inside-out), as a packager does.
pub(crate) fn sign_tree(res: &Path, identity: Identity) -> Vec<PathBuf> {
    let r = verify(res, &["--sign-list"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let list: Vec<PathBuf> = r.stdout().lines().map(PathBuf::from).collect();
    for file in &list {
        let exe = is_executable(file);
        sign(file, identity, exe, exe);
    }
    list
}

/// A self-signed certificate of rcodesign's `profile` (`developer-id-application`,
/// `apple-development`, …) for `team`, its key beside it in one PEM file.
pub(crate) fn certificate(team: &str, profile: &str) -> PathBuf {
    let pem = scratch(&format!("cert-{team}-{profile}")).join("cert.pem");
    run_ok(
        Command::new(rcodesign())
            .args(["generate-self-signed-certificate", "--profile", profile])
            .args(["--team-id", team, "--person-name", "Msty Test Packager", "--pem-unified-file"])
            .arg(&pem),
    );
    pem
}

/// (kind, path relative to `res` or "." for the bundle, severity) of each finding.
pub(crate) fn found(res: &Path, extra: &[&str]) -> (Option<i32>, Vec<(String, String, String)>) {
    let r = verify(res, &[&["--json"], extra].concat());
    let json = r.json();
    let mut list: Vec<(String, String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f: &Value| {
            let path = Path::new(f["path"].as_str().unwrap());
            let rel = path.strip_prefix(res).map_or(".".into(), |p| p.display().to_string());
            let rel = if rel.is_empty() { ".".to_string() } else { rel };
            (f["kind"].as_str().unwrap().into(), rel, f["severity"].as_str().unwrap().into())
        })
        .collect();
    list.sort();
    (r.code, list)
}

pub(crate) fn each(kind: &str, severity: &str, files: &[PathBuf], res: &Path) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = files
        .iter()
        .map(|f| (kind.to_string(), f.strip_prefix(res).unwrap().display().to_string(), severity.to_string()))
        .collect();
    v.sort();
    v
}

/// A field of `rcodesign print-signature-info`'s YAML for the primary CodeDirectory.
fn rcodesign_field(file: &Path, field: &str) -> String {
    let out = run_ok(Command::new(rcodesign()).arg("print-signature-info").arg(file));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let section = text.split("code_directory:").nth(1).unwrap_or_else(|| panic!("no code_directory in {text}"));
    let line = section.lines().find_map(|l| l.trim().strip_prefix(&format!("{field}: "))).unwrap_or("");
    line.trim_matches('\'').to_string()
}

#[test]
fn signed_ad_hoc_then_with_a_developer_id_certificate() {
    let res = tree("v-signed", "runtime.dylib");
    assert_eq!(found(&res, &[]), (Some(0), vec![]), "unsigned checks are clean");
    // As zig leaves them: the linker's signature only, on every file (found by magic).
    let list = verify(&res, &["--sign-list"]).stdout().lines().map(PathBuf::from).collect::<Vec<_>>();
    assert_eq!(list.len(), 6, "{list:?}");
    assert!(list.contains(&res.join("mlxk2/_vendor/tool/native-helper")));
    assert_eq!(found(&res, &["--signed"]), (Some(1), each("linker-signed", "error", &list, &res)));

    sign_tree(&res, Identity::AdHoc);
    assert_eq!(found(&res, &["--signed"]), (Some(0), each("ad-hoc-signature", "warning", &list, &res)));
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(1), each("ad-hoc-signature", "error", &list, &res)));

    let pem = certificate(TEAM, "developer-id-application");
    sign_tree(&res, Identity::Certificate(&pem, TEAM));
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(0), vec![]));
    // Our reader and rcodesign's agree on each file.
    for file in &list {
        let slices = inspect_macho(&fs::read(file).unwrap()).unwrap();
        let cd = slices[0].signature.as_ref().unwrap().primary().unwrap().clone();
        assert_eq!(cd.team_id.as_deref(), Some(TEAM), "{}", file.display());
        assert_eq!(rcodesign_field(file, "team_name"), TEAM);
        assert_eq!(rcodesign_field(file, "identifier"), cd.identifier);
        assert_eq!(rcodesign_field(file, "digest_type"), "sha256");
        let runtime = rcodesign_field(file, "flags").contains("RUNTIME");
        assert_eq!(runtime, cd.flags & CS_RUNTIME != 0, "{}", file.display());
        assert_eq!(runtime, is_executable(file), "{}", file.display());
        assert_eq!(rcodesign_field(file, "signed_entity_size"), cd.code_limit.to_string());
        assert_eq!(cd.mismatched_pages, Some(vec![]));
    }
}

#[test]
fn planted_signature_defects_are_caught() {
    let res = tree("v-signed-defects", "runtime.dylib");
    let pem = certificate(TEAM, "developer-id-application");
    let identity = Identity::Certificate(&pem, TEAM);
    sign_tree(&res, identity);
    // rcodesign carries a file's flags and entitlements over when it re-signs: fresh copies.
    let launcher = res.join("mlxk2/msty-mlx-studio");
    let python3 = res.join("python/bin/python3");
    fs::copy(fixtures().join("launcher"), &launcher).unwrap();
    fs::copy(fixtures().join("python3"), &python3).unwrap();
    sign(&launcher, identity, false, true);
    sign(&python3, identity, true, false);
    let other = certificate(OTHER_TEAM, "developer-id-application");
    sign(&res.join(format!("python/lib/libpython{XY}.dylib")), Identity::Certificate(&other, OTHER_TEAM), false, false);
    sign(&res.join("mlxk2/_vendor/tool/native-helper"), Identity::AdHoc, false, false);
    // A byte of the runtime's signed code changed; an unsigned Mach-O without an extension.
    let runtime = res.join("mlxk2/libmsty_mlx_runtime.dylib");
    let mut bytes = fs::read(&runtime).unwrap();
    let limit = inspect_macho(&bytes).unwrap()[0].signature.as_ref().unwrap().primary().unwrap().code_limit;
    bytes[limit as usize / 2] ^= 0xff;
    fs::write(&runtime, bytes).unwrap();
    let raw = res.join("mlxk2/_vendor/tool/raw-binary");
    fs::write(&raw, synthetic_macho(false, Some("@rpath/raw"), &["/usr/lib/libSystem.B.dylib"], &[])).unwrap();
    // A Mach-O cut short: no reader makes sense of it, so it could not be signed either.
    let cut = fs::read(fixtures().join("helper")).unwrap();
    fs::write(res.join("mlxk2/_vendor/tool/cut-short"), &cut[..40]).unwrap();

    let row = |k: &str, p: &str, s: &str| (k.to_string(), p.to_string(), s.to_string());
    let mut expected = vec![
        row("ad-hoc-signature", "mlxk2/_vendor/tool/native-helper", "warning"),
        row("malformed", "mlxk2/_vendor/tool/cut-short", "error"),
        row("missing-entitlement", "python/bin/python3", "error"),
        row("missing-entitlement", "python/bin/python3", "error"),
        row("modified-after-signing", "mlxk2/libmsty_mlx_runtime.dylib", "error"),
        row("no-hardened-runtime", "mlxk2/msty-mlx-studio", "error"),
        row("not-signed", "mlxk2/_vendor/tool/raw-binary", "error"),
        row("team-id-mix", ".", "error"),
    ];
    expected.sort();
    assert_eq!(found(&res, &["--signed"]), (Some(1), expected));
    let text = verify(&res, &["--signed"]).stdout();
    for needle in [
        format!("`{TEAM}` (4 file(s)"),
        format!("`{OTHER_TEAM}` (1 file(s), e.g. `python/lib/libpython{XY}.dylib`)"),
        "runs Python without `com.apple.security.cs.allow-unsigned-executable-memory`".into(),
        "`The executable does not have the hardened runtime enabled`".into(),
        "`code object is not signed at all`".into(),
    ] {
        assert!(text.contains(&needle), "{needle} not in {text}");
    }
}

#[test]
fn runtime_imports_as_dyld_binds_them() {
    // zig 0.17 binds with LC_DYLD_INFO_ONLY; every `_Py*` import a flat lookup.
    let bytes = fs::read(fixtures().join("runtime.dylib")).unwrap();
    let slice = &inspect_macho(&bytes).unwrap()[0];
    assert_eq!(slice.binding, Binding::DyldInfo);
    let py: Vec<_> = slice.imports.iter().filter(|(n, _)| n.starts_with("_Py")).collect();
    assert_eq!(py.len(), 2, "{py:?}");
    assert!(py.iter().all(|(_, l)| *l == msty_mlx_verify::Lookup::Flat), "{py:?}");

    let res = tree("v-two-level", "runtime-two-level.dylib");
    let r = verify(&res, &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout().contains(&format!(
            "error: two-level-import: {}: 2 undefined symbol(s) bound two-level to `@rpath/libpython{XY}.dylib` (`_PyBool_Type`, `_PyLong_FromLong`)",
            res.join("mlxk2/libmsty_mlx_runtime.dylib").display()
        )),
        "{}",
        r.stdout()
    );

    let res = tree("v-missing-symbol", "runtime-missing.dylib");
    let (code, list) = found(&res, &[]);
    assert_eq!((code, list.len()), (Some(1), 1), "{list:?}");
    assert_eq!(list[0].0, "missing-python-symbol");
    // The Linux libpython of the same X.Y stands in for macOS's: the real C-API names.
    let dist = res.join("mlxk2");
    let stand_in = host_python().prefix.join(format!("lib/libpython{XY}.so.1.0"));
    let r = verify(&dist, &["--libpython", stand_in.to_str().unwrap()]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout().contains(&format!(
            "1 `_Py*` import(s) not exported by `{}` (Python {XY}): `_PyFoo_Missing` — dlopen fails with `symbol not found in flat namespace '_PyFoo_Missing'`",
            stand_in.display()
        )),
        "{}",
        r.stdout()
    );
    // A stand-in that is not there: one line saying which, exit 1.
    let r = verify(&dist, &["--libpython", "/nonexistent/libpython.so"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr(),
        "build-external-python: error: Failed to read libpython `/nonexistent/libpython.so`: No such file or directory (os error 2)\n"
    );
    fs::copy(fixtures().join("runtime.dylib"), dist.join("libmsty_mlx_runtime.dylib")).unwrap();
    let r = verify(&dist, &["--libpython", stand_in.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", r.stdout());
}

/// The shipped entitlements grant exactly what `verify --signed` requires of a Python host.
#[test]
fn shipped_entitlements_are_the_required_ones() {
    let xml = fs::read_to_string(Path::new(REPO).join(ENTITLEMENTS)).unwrap();
    for (key, _) in msty_mlx_verify::REQUIRED_ENTITLEMENTS {
        assert!(msty_mlx_verify::entitlement_is_true(&xml, key), "{key}");
    }
    let granted = xml.matches("<key>").count();
    assert_eq!(granted, msty_mlx_verify::REQUIRED_ENTITLEMENTS.len(), "{xml}");
    for key in ["com.apple.security.cs.allow-jit", "com.apple.security.get-task-allow"] {
        assert!(!xml.contains(&format!("<key>{key}</key>")), "{key}");
    }
}

/// Issue 28: Electron's own files (the app, Electron Framework, the helpers: `mac.entitlements`
/// and `mac.entitlementsInherit`) get `allow-jit`, which V8 needs under the hardened runtime,
/// and none of the Python hosts' keys.
#[test]
fn electrons_entitlements_are_its_own() {
    let xml = fs::read_to_string(Path::new(REPO).join("packaging/entitlements.electron.plist")).unwrap();
    assert!(msty_mlx_verify::entitlement_is_true(&xml, "com.apple.security.cs.allow-jit"), "{xml}");
    assert_eq!(xml.matches("<key>").count(), 1, "{xml}");
}
