//! Issue 7: `build-external-python verify` on bundles the bundler built, with one planted
//! defect each (ELF checks on real binaries), and the clean bundle in both layouts. Verify's
//! checks on Mach-O trees made by hand are verify's own tests (crates/verify/tests).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::harness::*;

/// A clean app bundle: the bundler's output next to the relocated test Python.
fn clean_app() -> &'static Bundle {
    static APP: OnceLock<Bundle> = OnceLock::new();
    APP.get_or_init(|| {
        kept(|| {
            let cwd = scratch("verify-build");
            let r = run(quick(&cwd).arg("--project").arg(project("verify-tree")));
            assert_eq!(r.code, Some(0), "{}", r.stderr());
            assemble(&cwd.join("dist-ext-python/msty-mlx-studio"), "msty-mlx-studio")
        })
    })
}

/// A private copy of the clean app to plant one defect in.
fn app_copy(name: &str) -> Bundle {
    let root = scratch(name);
    link_tree(&clean_app().root, &root);
    Bundle { root }
}

fn verify(dir: &Path, extra: &[&str]) -> Run {
    run(Command::new(BUILD_EXTERNAL_PYTHON).arg("verify").arg(dir).args(extra))
}

fn findings(dir: &Path) -> (Option<i32>, Vec<Value>) {
    let r = verify(dir, &["--json"]);
    (r.code, r.json()["findings"].as_array().unwrap().clone())
}

/// Asserts exactly one error of `kind`, at `path`.
fn assert_one_error(b: &Bundle, kind: &str, path: &Path) {
    let (code, found) = findings(&b.resources());
    let errors: Vec<&Value> = found.iter().filter(|f| f["severity"] == "error").collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["kind"], kind, "{errors:#?}");
    assert_eq!(errors[0]["path"], path.to_str().unwrap());
    assert_eq!(code, Some(1));
    let text = verify(&b.resources(), &[]);
    assert!(text.stdout().contains(&format!("error: {kind}: {}: ", path.display())), "{}", text.stdout());
    assert!(text.stdout().lines().last().unwrap().starts_with("must be fixed: 1 error(s)"), "{}", text.stdout());
    // Like every bundler failure, it ends with the one error line on stderr (also under --json).
    for r in [&text, &verify(&b.resources(), &["--json"])] {
        let err = r.stderr();
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("build-external-python: error: `") && last.contains("1 error(s) to fix"), "{err}");
    }
}

#[test]
fn a_clean_bundle_verifies_clean_in_both_layouts() {
    let app = clean_app();
    let r = verify(&app.resources(), &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout());
    let last = r.stdout().lines().last().unwrap().to_string();
    assert!(last.starts_with("clean: 0 error(s)"), "{last}");
    assert!(last.contains(&format!("resources layout, Python {XY}, linux-x86_64")), "{last}");
    let dist = app.resources().join("mlxk2");
    let r = verify(&dist, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout());
    assert!(r.stdout().lines().last().unwrap().contains("dist layout"));
}

#[test]
fn sign_list_is_inside_out() {
    let app = clean_app();
    let r = verify(&app.resources(), &["--sign-list"]);
    assert_eq!(r.code, Some(0));
    let list: Vec<String> = r.stdout().lines().map(String::from).collect();
    let json = verify(&app.resources(), &["--json"]).json();
    assert_eq!(json["sign_list"], serde_json::json!(list));
    let n = list.len();
    assert!(n >= 3, "{list:?}");
    // Executables last: the interpreter, then the launcher; libpython before them.
    assert_eq!(list[n - 1], app.exe().to_str().unwrap());
    assert_eq!(list[n - 2], app.python3().to_str().unwrap());
    let libpython = list.iter().position(|p| p.ends_with(&format!("libpython{XY}.so.1.0"))).unwrap();
    let dynload = list.iter().position(|p| p.contains("/lib-dynload/")).unwrap();
    assert!(dynload < libpython, "deeper libraries first");
}

/// A packager's script signs what the list gives it: a bundle with errors gets no list, its
/// errors on stderr and exit 1.
#[test]
fn sign_list_of_a_bundle_with_errors_is_refused() {
    let b = app_copy("v-sign-list-errors");
    let link = b.vendor().join("data-link");
    symlink("/etc", &link).unwrap();
    let r = verify(&b.resources(), &["--sign-list"]);
    assert_eq!(r.code, Some(1), "{}", r.stdout());
    assert_eq!(r.stdout(), "");
    let stderr = r.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with(&format!("error: outside-link: {}: ", link.display())), "{stderr}");
    assert_eq!(
        lines[1],
        format!(
            "build-external-python: error: `{}` has 1 error(s) to fix before signing; no sign list printed",
            b.resources().display()
        )
    );
}

#[test]
fn timestamp_pycs_are_reported() {
    let b = app_copy("v-timestamp");
    run_ok(
        Command::new(&host_python().executable)
            .args(["-I", "-m", "compileall", "-q"])
            .arg(b.vendor().join("pthdemo_extra")),
    );
    let (code, found) = findings(&b.resources());
    assert_eq!(code, Some(0), "a warning, not an error");
    let f = found
        .iter()
        .find(|f| f["kind"] == "timestamp-pyc" && f["path"] == b.vendor().join("pthdemo_extra").to_str().unwrap());
    assert!(
        f.is_some_and(
            |f| f["severity"] == "warning" && f["detail"].as_str().unwrap().starts_with("1 timestamp-based pyc")
        ),
        "{found:#?}"
    );
}

#[test]
fn pycs_for_another_python() {
    let b = app_copy("v-foreign-pyc");
    let other = if XY == "3.12" { "311" } else { "312" };
    let pyc = b.vendor().join(format!("mlxk2/__pycache__/cli.cpython-{other}.pyc"));
    fs::write(&pyc, [0u8; 16]).unwrap();
    assert_one_error(&b, "foreign-pyc", &pyc);
}

#[test]
fn absolute_symlink_leaving_the_bundle() {
    let b = app_copy("v-abs-link");
    let link = b.vendor().join("data-link");
    symlink("/etc", &link).unwrap();
    assert_one_error(&b, "outside-link", &link);
}

#[test]
fn relative_symlink_escaping_the_bundle() {
    let b = app_copy("v-rel-link");
    let link = b.vendor().join("mlxk2/escape");
    symlink("../../../../../outside", &link).unwrap();
    assert_one_error(&b, "outside-link", &link);
}

#[test]
fn pth_line_pointing_at_a_developer_disk() {
    let b = app_copy("v-pth");
    let pth = b.vendor().join("dev.pth");
    fs::write(&pth, "# a comment\n/home/dev/src/mlx-knife\n").unwrap();
    assert_one_error(&b, "outside-pth", &pth);
}

#[test]
fn editable_install_direct_url() {
    let b = app_copy("v-direct-url");
    let dist_info = fs::read_dir(b.vendor())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("mlx_knife-"))
        .unwrap();
    let file = dist_info.join("direct_url.json");
    // pip already wrote one (a non-editable local install): replace the hard link, never
    // write through it into the shared bundle.
    let _ = fs::remove_file(&file);
    fs::write(&file, r#"{"url": "file:///home/dev/mlx-knife", "dir_info": {"editable": true}}"#).unwrap();
    assert_one_error(&b, "editable-install", &file);
}

#[test]
fn editable_install_finder() {
    let b = app_copy("v-finder");
    let finder = b.vendor().join("__editable___mlx_knife_2_0_8_finder.py");
    fs::write(&finder, "MAPPING = {'mlxk2': '/home/dev/mlx-knife/mlxk2'}\n").unwrap();
    assert_one_error(&b, "editable-install", &finder);
}

#[test]
fn console_script_with_a_build_machine_shebang() {
    let b = app_copy("v-shebang");
    fs::create_dir_all(b.vendor().join("bin")).unwrap();
    let script = b.vendor().join("bin/mlxk");
    fs::write(
        &script,
        format!("#!{}\nimport sys\nfrom mlxk2.cli import main\nsys.exit(main())\n", host_python().executable.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    assert_one_error(&b, "build-shebang", &script);
}

#[test]
fn elf_with_a_build_machine_rpath() {
    // The host interpreter as pyenv built it: RUNPATH <pyenv prefix>/lib, a real path here.
    let b = app_copy("v-rpath");
    let binary = b.vendor().join("mlxk2/helper-tool");
    fs::copy(host_python().prefix.join(format!("bin/python{XY}")), &binary).unwrap();
    assert_one_error(&b, "absolute-rpath", &binary);
}

fn other_python() -> PathBuf {
    let versions = host_python().prefix.parent().unwrap().to_path_buf();
    let other = if XY == "3.12" { "3.11" } else { "3.12" };
    fs::read_dir(versions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{other}.")))
        .expect("a second pyenv CPython")
}

#[test]
fn extension_for_another_python_or_platform() {
    let b = app_copy("v-ext");
    let other = other_python();
    let other_xy: String = other.file_name().unwrap().to_string_lossy().split('.').take(2).collect::<Vec<_>>().join("");
    let source = fs::read_dir(other.join(format!("lib/python{}.{}/lib-dynload", &other_xy[..1], &other_xy[1..])))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("_json.cpython"))
        .unwrap();
    let ext = b.vendor().join(format!("mlxk2/_speedups.cpython-{other_xy}-x86_64-linux-gnu.so"));
    fs::copy(&source, &ext).unwrap();
    let _ = Command::new("patchelf").arg("--remove-rpath").arg(&ext).status();
    assert_one_error(&b, "foreign-extension", &ext);

    let b = app_copy("v-ext-darwin");
    let ext = b.vendor().join(format!("mlxk2/_speedups.cpython-{}-darwin.so", XY.replace('.', "")));
    fs::copy(&source, &ext).unwrap();
    let _ = Command::new("patchelf").arg("--remove-rpath").arg(&ext).status();
    assert_one_error(&b, "foreign-extension", &ext);
}

#[test]
fn runtime_built_for_another_python() {
    let b = app_copy("v-mismatch");
    let other = other_python();
    let other_xy: String =
        other.file_name().unwrap().to_string_lossy().split('.').take(2).collect::<Vec<_>>().join(".");
    fs::remove_dir_all(b.home().join(format!("lib/python{XY}"))).unwrap();
    fs::remove_file(b.home().join(format!("lib/libpython{XY}.so.1.0"))).unwrap();
    fs::copy(
        other.join(format!("lib/libpython{other_xy}.so.1.0")),
        b.home().join(format!("lib/libpython{other_xy}.so.1.0")),
    )
    .unwrap();
    let _ = Command::new("patchelf")
        .arg("--remove-rpath")
        .arg(b.home().join(format!("lib/libpython{other_xy}.so.1.0")))
        .status();
    let (code, found) = findings(&b.resources());
    assert_eq!(code, Some(1));
    let f = found.iter().find(|f| f["kind"] == "python-mismatch").unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(
        f["detail"],
        format!("the runtime library is built for Python {XY}, the bundled interpreter is Python {other_xy}")
    );
}
