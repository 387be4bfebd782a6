//! Issue 28: `verify --signed --release` as Apple's notary reads a signature — a secure
//! timestamp (an RFC 3161 token, here from the local time-stamp server standing in for
//! Apple's) and a Developer ID Application leaf on every file — on trees in
//! python-build-standalone's shape (`bin/python3` → `python3.X`, `config-3.X-darwin/python.o`)
//! signed by rcodesign; the Python hosts the sign list names; object files; dangling links.
//! Issue 27: a check that cannot run says so. Nothing here runs the Mach-O files.
//!
//! Needs: rcodesign, the `ziglang` wheel, python3 and openssl (the time-stamp server).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use msty_mlx_verify::{Imprint, inspect_macho, read_cms};

use super::signed::{Identity, TEAM, certificate, each, fixtures, found, pbs_app, rcodesign, sign, sign_tree};
use crate::harness::*;

/// `p` relative to `res` (`.` for `res` itself).
fn rel(res: &Path, p: &str) -> String {
    match Path::new(p).strip_prefix(res) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.display().to_string(),
        Err(_) => p.to_string(),
    }
}

/// The `not run:` entries of `verify --json`, as (check, path relative to `res`).
fn not_run(res: &Path, extra: &[&str]) -> Vec<(String, String)> {
    let json = verify(res, &[&["--json"], extra].concat()).json();
    json["not_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["check"].as_str().unwrap().to_string(), rel(res, n["path"].as_str().unwrap())))
        .collect()
}

#[test]
fn release_wants_a_secure_timestamp_in_every_signature() {
    let res = pbs_app("v-release-timestamp");
    let pem = certificate(TEAM, "developer-id-application");
    let list = sign_tree(&res, Identity::Untimestamped(&pem, TEAM));
    assert_eq!(list.len(), 5, "{list:?}");
    assert_eq!(found(&res, &["--signed"]), (Some(0), each("no-secure-timestamp", "warning", &list, &res)));
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(1), each("no-secure-timestamp", "error", &list, &res)));
    let text = verify(&res, &["--signed", "--release"]).stdout();
    let launcher = res.join("mlxk2/msty-mlx-studio");
    assert!(
        text.contains(&format!("error: no-secure-timestamp: {}: no time-stamp token (1.2.840.113549.1.9.16.2.14) in the signature: the notary refuses it: `The signature does not include a secure timestamp.`", launcher.display())),
        "{text}"
    );

    // Time-stamped by a local server of this test's own: one query per file (each is thin),
    // each token read back by our reader and by rcodesign, and --release is clean; what it
    // cannot check (the chain to Apple's root) it says.
    let tsa = TimeStamper::start();
    sign_tree(&res, Identity::StampedBy(&pem, TEAM, &tsa.url));
    assert_eq!(tsa.answered(), list.len());
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(0), vec![]));
    assert_eq!(not_run(&res, &["--signed", "--release"]), [("not-developer-id".to_string(), ".".to_string())]);
    let last = verify(&res, &["--signed", "--release"]).stdout().lines().last().unwrap().to_string();
    assert!(last.starts_with("clean: 0 error(s), 0 warning(s), 1 check(s) not run in "), "{last}");
    for file in &list {
        let slices = inspect_macho(&fs::read(file).unwrap()).unwrap();
        let cms = slices[0].signature.as_ref().unwrap().cms.clone().unwrap().unwrap();
        let signer = cms.signer.unwrap();
        assert_eq!(signer.common_name.as_deref(), Some("Developer ID Application: Msty Test Packager (MSTYTEST01)"));
        assert!(signer.is_developer_id_application());
        assert_eq!(cms.timestamp.unwrap().imprint, Imprint::Matches, "{}", file.display());
        let info = run_ok(Command::new(rcodesign()).arg("print-signature-info").arg(file));
        assert!(String::from_utf8_lossy(&info.stdout).contains("time_stamp_token"), "{}", file.display());
    }
}

#[test]
fn release_wants_a_developer_id_application_leaf() {
    let res = pbs_app("v-release-development");
    let pem = certificate(TEAM, "apple-development");
    let list = sign_tree(&res, Identity::Certificate(&pem, TEAM));
    assert_eq!(found(&res, &["--signed"]), (Some(0), each("not-developer-id", "warning", &list, &res)));
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(1), each("not-developer-id", "error", &list, &res)));
    let text = verify(&res, &["--signed", "--release"]).stdout();
    let python = res.join(format!("python/bin/python{XY}"));
    assert!(
        text.contains(&format!("error: not-developer-id: {}: signed by `Apple Development: Msty Test Packager (MSTYTEST01)`, not a Developer ID Application certificate (no extension 1.2.840.113635.100.6.1.13; ", python.display())),
        "{text}"
    );
    assert!(text.contains("`The binary is not signed with a valid Developer ID certificate.`"), "{text}");
}

#[test]
fn an_object_file_is_neither_signed_nor_read() {
    let res = pbs_app("v-object-file");
    let object = res.join(format!("python/lib/python{XY}/config-{XY}-darwin/python.o"));
    fs::create_dir_all(object.parent().unwrap()).unwrap();
    fs::copy(fixtures().join("python.o"), &object).unwrap();
    assert_eq!(inspect_macho(&fs::read(&object).unwrap()).unwrap()[0].filetype, 1, "MH_OBJECT");
    // Nothing to embed a signature in: rcodesign refuses it as codesign does.
    let refused = run(Command::new(rcodesign()).arg("sign").arg(&object));
    assert_ne!(refused.code, Some(0));
    let (code, list) = found(&res, &[]);
    assert_eq!(code, Some(0));
    let row = |k: &str, p: String| (k.to_string(), p, "warning".to_string());
    assert_eq!(
        list,
        [
            row("object-file", format!("python/lib/python{XY}/config-{XY}-darwin/python.o")),
            row("python-build-files", format!("python/lib/python{XY}/config-{XY}-darwin")),
        ]
    );
    let text = verify(&res, &[]).stdout();
    assert!(text.contains("an object file (MH_OBJECT): nothing at run time loads it and it cannot carry a code signature, so it is left off the sign list"), "{text}");
    let signed = sign_tree(&res, Identity::Certificate(&certificate(TEAM, "developer-id-application"), TEAM));
    assert!(!signed.contains(&object), "{signed:?}");
    // Out of --signed too: no `not-signed` for it.
    let (code, list) = found(&res, &["--signed", "--release"]);
    assert_eq!((code, list.iter().filter(|f| f.2 == "error").count()), (Some(0), 0), "{list:?}");
}

#[test]
fn a_dangling_link_is_an_error() {
    let res = pbs_app("v-dangling");
    let link = res.join("mlxk2/_vendor/libgone.dylib");
    symlink("libgone.1.dylib", &link).unwrap();
    let (code, list) = found(&res, &[]);
    assert_eq!(code, Some(1));
    let errors: Vec<_> = list.iter().filter(|f| f.2 == "error").collect();
    assert_eq!(
        errors,
        [&("dangling-link".to_string(), "mlxk2/_vendor/libgone.dylib".to_string(), "error".to_string())]
    );
    let text = verify(&res, &[]).stdout();
    assert!(
        text.contains(&format!("error: dangling-link: {}: symlink to `libgone.1.dylib`, which resolves to nothing (missing, or a loop): electron-builder's signing (osx-sign) stats every path and stops at it", link.display())),
        "{text}"
    );
    // No sign list for a bundle with errors.
    let r = verify(&res, &["--sign-list"]);
    assert_eq!((r.code, r.stdout()), (Some(1), String::new()));
    // A loop resolves to nothing either.
    symlink("loop-b", res.join("python/lib/loop-a")).unwrap();
    symlink("loop-a", res.join("python/lib/loop-b")).unwrap();
    let (_, list) = found(&res, &[]);
    let dangling: Vec<&str> = list.iter().filter(|f| f.0 == "dangling-link").map(|f| f.1.as_str()).collect();
    assert_eq!(dangling, ["mlxk2/_vendor/libgone.dylib", "python/lib/loop-a", "python/lib/loop-b"]);
}

#[test]
fn the_file_python3_resolves_to_is_the_python_host() {
    let res = pbs_app("v-python-hosts");
    let r = verify(&res, &["--sign-list", "--roles"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let roles: Vec<(String, String)> = r
        .stdout()
        .lines()
        .map(|l| l.split_once('\t').unwrap())
        .map(|(role, p)| (role.to_string(), rel(&res, p)))
        .collect();
    let python = format!("python/bin/python{XY}");
    let row = |role: &str, p: &str| (role.to_string(), p.to_string());
    assert_eq!(
        roles,
        [
            row("library", &format!("mlxk2/_vendor/ext.cpython-{}-darwin.so", XY.replace('.', ""))),
            row("library", &format!("python/lib/libpython{XY}.dylib")),
            row("library", "mlxk2/libmsty_mlx_runtime.dylib"),
            row("python-host", &python),
            row("python-host", "mlxk2/msty-mlx-studio"),
        ]
    );
    let json = verify(&res, &["--json"]).json();
    let hosts: Vec<String> =
        json["python_hosts"].as_array().unwrap().iter().map(|p| rel(&res, p.as_str().unwrap())).collect();
    assert_eq!(hosts, [python.clone(), "mlxk2/msty-mlx-studio".to_string()]);

    let pem = certificate(TEAM, "developer-id-application");
    let identity = Identity::Certificate(&pem, TEAM);
    sign_tree(&res, identity);
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(0), vec![]));
    // Issue 28's "seen": python3.X re-signed without entitlements still clean. rcodesign carries
    // a file's entitlements over when it re-signs it: the file still has them, and clean is right.
    let file = res.join(&python);
    sign(&file, identity, true, false);
    let entitlements = inspect_macho(&fs::read(&file).unwrap()).unwrap()[0].signature.clone().unwrap().entitlements;
    assert!(entitlements.is_some_and(|e| e.contains("allow-unsigned-executable-memory")));
    assert_eq!(found(&res, &["--signed", "--release"]), (Some(0), vec![]));
    // A fresh copy signed without them (what codesign --force without --entitlements leaves) is caught.
    fs::copy(fixtures().join("python3"), res.join("fresh")).unwrap();
    fs::rename(res.join("fresh"), &file).unwrap();
    sign(&file, identity, true, false);
    let row = |k: &str| (k.to_string(), python.clone(), "error".to_string());
    assert_eq!(
        found(&res, &["--signed", "--release"]),
        (Some(1), vec![row("missing-entitlement"), row("missing-entitlement")])
    );
}

/// Issue 27: a dist folder holds no `python/`; the runtime's `_Py*` imports and an extension's
/// libpython load are then not checked — and verify says so instead of a bare `clean:`.
#[test]
fn a_check_that_cannot_run_says_so() {
    let res = pbs_app("v-not-run");
    let dist = res.join("mlxk2");
    fs::copy(fixtures().join("runtime-missing.dylib"), dist.join("libmsty_mlx_runtime.dylib")).unwrap();
    let ext = dist.join(format!("_vendor/linked.cpython-{}-darwin.so", XY.replace('.', "")));
    fs::copy(fixtures().join("ext-libpython.so"), &ext).unwrap();
    let r = verify(&dist, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout());
    let runtime = dist.join("libmsty_mlx_runtime.dylib");
    let text = r.stdout();
    assert!(
        text.contains(&format!("not run: missing-python-symbol: {}: the runtime's 2 `_Py*` import(s) were not checked against libpython: this folder holds no python/; verify the app's Resources folder, or pass --libpython PATH (the Linux libpython{XY}.so.1.0 stands in)\n", runtime.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("not run: unresolved-load: {}: load(s) of `@rpath/libpython{XY}.dylib` not resolved: this folder holds no python/ (the app's Resources folder does: verify it)\n", dist.display())),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("clean: 0 error(s), 0 warning(s), 2 check(s) not run in "), "{last}");
    assert_eq!(
        not_run(&dist, &[]),
        [
            ("unresolved-load".to_string(), ".".to_string()),
            ("missing-python-symbol".to_string(), "libmsty_mlx_runtime.dylib".to_string())
        ]
    );
    // A script's sign list stays a list; the note goes to stderr.
    let r = verify(&dist, &["--sign-list"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stderr().contains("note: not run: missing-python-symbol: "), "{}", r.stderr());
    assert!(r.stdout().lines().all(|l| l.starts_with('/')), "{}", r.stdout());
    // Given a libpython, the check runs and catches the planted import.
    let stand_in = host_python().prefix.join(format!("lib/libpython{XY}.so.1.0"));
    let r = verify(&dist, &["--json", "--libpython", stand_in.to_str().unwrap()]);
    let json = r.json();
    assert_eq!(r.code, Some(1));
    assert_eq!(json["findings"][0]["kind"], "missing-python-symbol", "{json:#}");
    assert!(json["not_run"].as_array().unwrap().iter().all(|n| n["check"] != "missing-python-symbol"), "{json:#}");
    // The Resources folder has the libpython and the python/ the dist folder lacks.
    fs::copy(fixtures().join("runtime.dylib"), &runtime).unwrap();
    fs::remove_file(&ext).unwrap();
    assert_eq!(not_run(&res, &[]), []);
}

/// Apple's codesign writes the CMS signature with indefinite lengths (BER); so does openssl's
/// streaming mode. Our reader finds the signer in both encodings.
#[test]
fn a_ber_encoded_cms_signature_is_read() {
    let dir = scratch("v-ber-cms");
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", "key.pem", "-out", "cert.pem",
            ])
            .args(["-subj", "/CN=Developer ID Application: BER Test (BERTEST001)"])
            .current_dir(&dir),
    );
    fs::write(dir.join("data"), b"code directory").unwrap();
    for (out, mode) in [("ber.der", "-stream"), ("der.der", "-nodetach")] {
        run_ok(
            Command::new("openssl")
                .args(["cms", "-sign", "-binary", "-in", "data", "-signer", "cert.pem", "-inkey", "key.pem"])
                .args(["-outform", "DER", mode, "-out", out])
                .current_dir(&dir),
        );
    }
    let ber = fs::read(dir.join("ber.der")).unwrap();
    assert_eq!(ber[..2], [0x30, 0x80], "openssl -stream writes an indefinite length");
    for bytes in [ber, fs::read(dir.join("der.der")).unwrap()] {
        let cms = read_cms(&bytes).unwrap();
        let signer = cms.signer.unwrap();
        assert_eq!(signer.common_name.as_deref(), Some("Developer ID Application: BER Test (BERTEST001)"));
        assert!(!signer.is_developer_id_application(), "a name is not Apple's extension");
        assert_eq!(cms.timestamp, None);
    }
}
