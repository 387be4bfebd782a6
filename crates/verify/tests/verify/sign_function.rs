//! Issue 28: packaging/sign.js, electron-builder's `mac.sign`, called as electron-builder
//! 26.18.1 calls it (`customSign(opts, packager)`, driven by `packaging/test/as-electron-builder.js`)
//! on an app whose Resources has python-build-standalone's shape. Apple's `codesign` cannot run
//! here: a recording stand-in (`packaging/test/codesign`) logs each call and signs for real with
//! rcodesign (a self-signed Developer ID certificate, the local time-stamp server), so the
//! function's own `verify --signed --release` reads real signatures back. `@electron/osx-sign`
//! (1.3.3, pinned in packaging/package.json) has its `signAsync` replaced by a recorder.
//!
//! Needs: node, npm (packaging's `npm ci`), rcodesign, the `ziglang` wheel, python3, openssl.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::signed::{TEAM, certificate, pbs_app, rcodesign};
use crate::harness::*;

/// A certificate's hash, as electron-builder passes `opts.identity` (any 40 hex digits: the
/// stand-in signs with the test certificate).
const IDENTITY_HASH: &str = "3F2504E04F8941D39A0C0305E82C3301AB12CD34";
const NOTARIZE_VARIABLES: [&str; 8] = [
    "APPLE_API_KEY",
    "APPLE_API_KEY_ID",
    "APPLE_API_ISSUER",
    "APPLE_ID",
    "APPLE_APP_SPECIFIC_PASSWORD",
    "APPLE_TEAM_ID",
    "APPLE_KEYCHAIN_PROFILE",
    "APPLE_KEYCHAIN",
];
const API_KEY: [(&str, &str); 3] =
    [("APPLE_API_KEY", "/keys/AuthKey.p8"), ("APPLE_API_KEY_ID", "KEYID12345"), ("APPLE_API_ISSUER", "issuer-uuid")];

/// packaging/'s pinned npm dependencies (`npm ci`, once per test process).
fn packaging_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let packaging = Path::new(REPO).join("packaging");
        if !packaging.join("node_modules/@electron/osx-sign/package.json").is_file() {
            run_ok(
                Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&packaging),
            );
        }
    });
}

/// One run of the sign function: its exit code, output, and the shared log's lines (tab-split).
struct Signed {
    run: Run,
    log: Vec<Vec<String>>,
}

impl Signed {
    fn codesign_calls(&self) -> Vec<&[String]> {
        self.log.iter().filter(|l| l[0] == "codesign").map(|l| &l[1..]).collect()
    }
}

/// Options of a run: identity (`None`: `mac.identity: null`), keychain, `mac.type`, extra
/// environment, overrides of the configuration's `mac`, and the working directory.
struct Call<'a> {
    identity: Option<&'a str>,
    keychain: Option<&'a Path>,
    kind: &'a str,
    env: &'a [(&'a str, &'a str)],
    mac: &'a str,
    cwd: &'a Path,
}

impl Default for Call<'_> {
    fn default() -> Self {
        Call {
            identity: Some(IDENTITY_HASH),
            keychain: None,
            kind: "distribution",
            env: &API_KEY,
            mac: "{}",
            cwd: Path::new(REPO),
        }
    }
}

fn electron_builder_signs(app: &Path, call: &Call) -> Signed {
    packaging_installed();
    let dir = app.parent().unwrap();
    let log = dir.join("sign.log");
    let _ = fs::remove_file(&log);
    let pem = certificate(TEAM, "developer-id-application");
    let path =
        format!("{}:{}", Path::new(REPO).join("packaging/test").display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("node");
    cmd.arg(Path::new(REPO).join("packaging/test/as-electron-builder.js"))
        .arg(REPO)
        .arg(app)
        .arg(call.identity.unwrap_or("null"))
        .arg(call.keychain.map_or("-".into(), |k| k.display().to_string()))
        .arg(call.kind)
        .current_dir(call.cwd)
        .env("SIGN_LOG", &log)
        .env("MAC_OVERRIDES", call.mac)
        .env("PATH", path)
        .env("RCODESIGN", rcodesign())
        .env("CODESIGN_WITH", format!("--pem-file {} --team-name {TEAM}", pem.display()))
        .env("CODESIGN_TSA", &time_stamper().url)
        .env("BUILD_EXTERNAL_PYTHON", bundler());
    for name in NOTARIZE_VARIABLES {
        cmd.env_remove(name);
    }
    cmd.envs(call.env.iter().copied());
    let run = run(&mut cmd);
    let text = fs::read_to_string(&log).unwrap_or_default();
    let log = text.lines().map(|l| l.split('\t').map(String::from).collect()).collect();
    Signed { run, log }
}

/// `verify --sign-list` of the app's Resources, in order.
fn sign_list(res: &Path) -> Vec<PathBuf> {
    verify(res, &["--sign-list"]).stdout().lines().map(PathBuf::from).collect()
}

fn app_of(res: &Path) -> PathBuf {
    res.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn resources_are_signed_inside_out_with_electron_builders_identity_then_osx_sign_gets_the_same_opts() {
    let res = pbs_app("sf-signs");
    let app = app_of(&res);
    let keychain = app.parent().unwrap().join("build.keychain-db");
    let s = electron_builder_signs(&app, &Call { keychain: Some(&keychain), ..Call::default() });
    assert_eq!(s.run.code, Some(0), "{}\n{}", s.run.stdout(), s.run.stderr());
    let list = sign_list(&res);
    let calls = s.codesign_calls();
    // Inside-out, in the sign list's order, each file once; the symlink python/bin/python3 never.
    let signed: Vec<PathBuf> = calls.iter().map(|c| PathBuf::from(c.last().unwrap())).collect();
    assert_eq!(signed, list);
    let common: Vec<String> = [
        "--sign",
        IDENTITY_HASH,
        "--keychain",
        keychain.to_str().unwrap(),
        "--force",
        "--timestamp",
        "--options",
        "runtime",
    ]
    .map(String::from)
    .to_vec();
    let entitlements = Path::new(REPO).join("packaging/entitlements.plist").display().to_string();
    let hosts = [res.join(format!("python/bin/python{XY}")), res.join("mlxk2/msty-mlx-studio")];
    for call in &calls {
        let file = PathBuf::from(call.last().unwrap());
        let mut want = common.clone();
        if hosts.contains(&file) {
            want.extend(["--entitlements".to_string(), entitlements.clone()]);
        }
        want.push(file.display().to_string());
        assert_eq!(call.to_vec(), want);
    }
    // osx-sign last, with the very opts electron-builder passed, unchanged.
    let tail: Vec<&Vec<String>> = s.log.iter().skip(calls.len()).collect();
    assert_eq!(
        tail,
        [
            &vec![
                "signAsync".to_string(),
                "same-object=true".into(),
                "unchanged=true".into(),
                format!("app={}", app.display())
            ],
            &vec!["done".to_string()],
        ]
    );
    // The function read the signatures back (the report is in its output); they are real.
    assert!(s.run.stdout().contains("clean: 0 error(s), 0 warning(s), 1 check(s) not run in "), "{}", s.run.stdout());
    let r = verify(&res, &["--json", "--signed", "--release"]);
    assert_eq!((r.code, r.json()["findings"].as_array().unwrap().len()), (Some(0), 0), "{}", r.stdout());
    // No keychain from electron-builder (an identity in the login keychain): no --keychain.
    let s = electron_builder_signs(&app, &Call::default());
    assert_eq!(s.run.code, Some(0), "{}", s.run.stderr());
    assert!(s.codesign_calls().iter().all(|c| !c.contains(&"--keychain".to_string())));
}

#[test]
fn notarize_on_without_credentials_stops_the_build_before_signing() {
    let res = pbs_app("sf-notarize");
    let app = app_of(&res);
    let message = "sign.js: mac.notarize is on but no notarization credentials are set: set APPLE_API_KEY + APPLE_API_KEY_ID + APPLE_API_ISSUER; or APPLE_ID + APPLE_APP_SPECIFIC_PASSWORD + APPLE_TEAM_ID; or APPLE_KEYCHAIN_PROFILE (or build with -c.mac.notarize=false for a build that is not released)";
    let stopped = vec![vec!["error".to_string(), message.to_string()]];
    for env in [&[][..], &[("APPLE_ID", "dev@example.com"), ("APPLE_TEAM_ID", "MSTYTEST01")][..]] {
        let s = electron_builder_signs(&app, &Call { env, ..Call::default() });
        assert_eq!((s.run.code, &s.log), (Some(3), &stopped), "{env:?}: {}", s.run.stderr());
    }
    // Any complete set of credentials, notarize off, or a build that is not notarized
    // (development type, ad hoc) goes on to sign and to osx-sign.
    let apple_id =
        [("APPLE_ID", "dev@example.com"), ("APPLE_APP_SPECIFIC_PASSWORD", "abcd-efgh"), ("APPLE_TEAM_ID", TEAM)];
    let profile = [("APPLE_KEYCHAIN_PROFILE", "notary")];
    let through = [
        Call { env: &API_KEY, ..Call::default() },
        Call { env: &apple_id, ..Call::default() },
        Call { env: &profile, ..Call::default() },
        Call { env: &[], mac: r#"{"notarize": false}"#, ..Call::default() },
        Call { env: &[], kind: "development", ..Call::default() },
        Call { env: &[], identity: Some("-"), ..Call::default() },
    ];
    for call in &through {
        let s = electron_builder_signs(&app, call);
        assert_eq!(s.run.code, Some(0), "{:?} {}: {}", call.env, call.mac, s.run.stderr());
        assert_eq!(s.codesign_calls().len(), 5);
        assert_eq!(s.log[5][..2], ["signAsync", "same-object=true"]);
    }
}

#[test]
fn no_identity_signs_nothing_and_says_so() {
    let res = pbs_app("sf-no-identity");
    let s = electron_builder_signs(&app_of(&res), &Call { identity: None, env: &[], ..Call::default() });
    assert_eq!(s.run.code, Some(0), "{}", s.run.stderr());
    assert_eq!(s.log, [vec!["done".to_string()]]);
    assert!(
        s.run.stdout().contains(
            "sign.js: no signing identity (mac.identity: null): Resources/python and Resources/mlxk2 are left as built"
        ),
        "{}",
        s.run.stdout()
    );
}

/// In a packager's project, sign.js hands the app to the osx-sign electron-builder itself
/// depends on (electron-builder → app-builder-lib → @electron/osx-sign), not to another copy.
#[test]
fn electron_builders_own_osx_sign_is_the_one_called() {
    let res = pbs_app("sf-resolution");
    let project = scratch("sf-project");
    let osx_sign =
        project.join("node_modules/electron-builder/node_modules/app-builder-lib/node_modules/@electron/osx-sign");
    fs::create_dir_all(&osx_sign).unwrap();
    for (dir, name) in [
        (project.join("node_modules/electron-builder"), "electron-builder"),
        (project.join("node_modules/electron-builder/node_modules/app-builder-lib"), "app-builder-lib"),
        (osx_sign.clone(), "@electron/osx-sign"),
    ] {
        fs::write(dir.join("package.json"), format!(r#"{{"name": "{name}", "version": "0.0.0"}}"#)).unwrap();
    }
    fs::write(
        osx_sign.join("index.js"),
        "exports.signAsync = async (o) => require('fs').appendFileSync(process.env.SIGN_LOG, `signAsync\\tfrom app-builder-lib\\tapp=${o.app}\\n`);\n",
    )
    .unwrap();
    let app = app_of(&res);
    let s = electron_builder_signs(&app, &Call { cwd: &project, ..Call::default() });
    assert_eq!(s.run.code, Some(0), "{}", s.run.stderr());
    assert_eq!(s.log[5], ["signAsync", "from app-builder-lib", format!("app={}", app.display()).as_str()]);
    assert_eq!(s.log.len(), 7, "{:?}", s.log);
}

/// Why a dangling link is an error for verify: osx-sign 1.3.3's walk `stat`s every path under
/// `Contents/` before `signIgnore` applies, and stops at one.
#[test]
fn osx_sign_stops_at_a_dangling_link() {
    packaging_installed();
    let res = pbs_app("sf-dangling");
    let contents = res.parent().unwrap().to_path_buf();
    let walk = |dir: &Path| {
        let script = "require(process.argv[1]).walkAsync(process.argv[2]).then(() => console.log('walked'), (e) => console.log(e.code))";
        let osx_sign = Path::new(REPO).join("packaging/node_modules/@electron/osx-sign");
        run(Command::new("node").args(["-e", script]).arg(osx_sign).arg(dir)).stdout()
    };
    assert_eq!(walk(&contents), "walked\n");
    symlink("libgone.1.dylib", res.join("python/lib/libgone.dylib")).unwrap();
    assert_eq!(walk(&contents), "ENOENT\n");
}
