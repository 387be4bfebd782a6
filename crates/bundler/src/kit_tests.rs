//! Unit tests of `kit`: checksum lists, paths, and real (tiny) ELF kits made with `kit_make`.

use super::*;

#[test]
fn sums_round_trip_and_bad_lines_are_named() {
    let a = "a".repeat(64);
    let text = format!("{a}  x/y\n{a} *z\n");
    let sums = parse_sums(&text).unwrap();
    assert_eq!(sums.len(), 2);
    assert_eq!(format_sums(&sums), format!("{a}  x/y\n{a}  z\n"));
    assert_eq!(parse_sums(&format!("{a}  x\n{a}  x\n")).unwrap_err(), "lists `x` twice");
    assert_eq!(parse_sums("abc  x\n").unwrap_err(), "line 1 is not `<sha256>  <path>`");
    assert!(parse_sums(&format!("{}  x\n", "A".repeat(64))).is_err(), "upper-case hex is not sha256sum's");
}

#[test]
fn kit_paths_stay_inside() {
    for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
        assert!(relative(bad, "path").is_err(), "{bad:?}");
    }
    assert!(relative("x86_64-unknown-linux-gnu/py3.12/libmsty_mlx_runtime.so", "path").is_ok());
}

/// A kit of real (tiny) ELF files made by `kit_make::add`: the launcher and runtimes for
/// 3.11 and 3.12 of this machine's target, and (`guard`) the served port's guard as companion
/// files, as `kit build` adds it.
fn tiny_kit(dir: &Path, guard: bool) -> String {
    use crate::kit_make::{NewFile, NewTarget, add, guard_files};
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let cc = |out: &str, code: &str, shared: bool| {
        let c = src.join(format!("{out}.c"));
        std::fs::write(&c, code).unwrap();
        let mut cmd = std::process::Command::new("cc");
        if shared {
            cmd.args(["-shared", "-fPIC"]);
        }
        let ok = cmd.arg("-o").arg(src.join(out)).arg(&c).status().is_ok_and(|s| s.success());
        assert!(ok, "this test needs a C compiler (cc)");
        src.join(out)
    };
    let runtime = |xy: &str| {
        let stamp = format!("msty-mlx-runtime-stamp:plan={FORMAT};python={xy};version=0.0.0-test");
        cc(
            &format!("rt{xy}"),
            &format!(
                "const char *msty_mlx_runtime_stamp(void) {{ return \"{stamp}\"; }}\nint msty_mlx_runtime_main(void) {{ return 0; }}\n"
            ),
            true,
        )
    };
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let file = |source: PathBuf, dest: &str, role: Role, python: Option<PyVersion>| NewFile {
        source,
        dest: dest.into(),
        role,
        python,
    };
    let mut files = vec![
        file(cc("launcher", "int main(void) { return 0; }\n", false), "msty-mlx-studio", Role::Launcher, None),
        file(runtime("3.11"), "libmsty_mlx_runtime.so", Role::Runtime, Some(PyVersion::new(3, 11))),
        file(runtime("3.12"), "libmsty_mlx_runtime.so", Role::Runtime, Some(PyVersion::new(3, 12))),
    ];
    if guard {
        files.extend(guard_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")));
    }
    let new = NewTarget { target: target.clone(), built_on: target.clone(), linker: "cc".into(), files };
    add(&dir.join("kit"), &new, "0.0.0-test", &"a".repeat(40)).unwrap();
    target
}

fn refusal(result: Result<Chosen>) -> String {
    let err = result.unwrap_err();
    assert!(err.is::<Refused>(), "not a refusal: {err:#}");
    err.to_string()
}

#[test]
fn a_kit_gives_its_files_for_a_target_and_xy_and_refuses_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let target = tiny_kit(dir.path(), true);
    let kit = dir.path().join("kit");
    let chosen = Kit::open(&kit).unwrap().choose(&target, PyVersion::new(3, 12)).unwrap();
    let dests: Vec<(&str, Option<PyVersion>)> = chosen.files.iter().map(|(f, _)| (f.dest.as_str(), f.python)).collect();
    assert_eq!(
        dests,
        [
            ("guard/msty_mlx_guard.py", None),
            ("guard/msty_mlx_guard_app.py", None),
            ("guard/sitecustomize.py", None),
            ("msty-mlx-studio", None),
            ("libmsty_mlx_runtime.so", Some(PyVersion::new(3, 12)))
        ]
    );
    assert_eq!(Kit::open(&kit).unwrap().check_all().unwrap(), 6);

    let err = refusal(Kit::open(&kit).unwrap().choose(&target, PyVersion::new(3, 9)));
    assert!(err.contains(&format!("has no runtime for Python 3.9 on {target} (it has: 3.11, 3.12)")), "{err}");
    let err = refusal(Kit::open(&kit).unwrap().choose("aarch64-apple-darwin", PyVersion::new(3, 12)));
    assert!(err.contains(&format!("has no files for aarch64-apple-darwin (it has: {target})")), "{err}");

    // One changed byte.
    let runtime = kit.join(format!("{target}/py3.12/libmsty_mlx_runtime.so"));
    let good = std::fs::read(&runtime).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::write(&runtime, &bad).unwrap();
    let err = refusal(Kit::open(&kit).unwrap().choose(&target, PyVersion::new(3, 12)));
    assert!(err.contains("py3.12/libmsty_mlx_runtime.so` does not match its SHA-256 in kit-manifest.json"), "{err}");
    assert_eq!(err.lines().count(), 1);
    std::fs::write(&runtime, &good).unwrap();

    // SHA256SUMS and the manifest must agree; the manifest is listed too.
    let sums = std::fs::read_to_string(kit.join(SUMS)).unwrap();
    std::fs::write(kit.join(SUMS), sums.replacen(&sha256_hex(&good), &"0".repeat(64), 1)).unwrap();
    let err = refusal(Kit::open(&kit).unwrap().choose(&target, PyVersion::new(3, 12)));
    assert!(err.contains("does not match its SHA-256 in SHA256SUMS"), "{err}");
    let manifest = std::fs::read_to_string(kit.join(MANIFEST)).unwrap();
    std::fs::write(kit.join(SUMS), &sums).unwrap();
    std::fs::write(kit.join(MANIFEST), manifest.replace("0.0.0-test", "0.0.1-test")).unwrap();
    let err = Kit::open(&kit).unwrap_err().to_string();
    assert!(err.contains("kit-manifest.json` does not match its SHA-256 in SHA256SUMS"), "{err}");
    assert!(
        Kit::open(dir.path())
            .unwrap_err()
            .to_string()
            .contains("is not a launcher kit: cannot read its kit-manifest.json")
    );
}

#[test]
fn a_kit_without_the_guard_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = tiny_kit(dir.path(), false);
    let err = refusal(Kit::open(&dir.path().join("kit")).unwrap().choose(&target, PyVersion::new(3, 12)));
    assert!(err.contains(&format!("has no `guard/msty_mlx_guard.py` for {target} (the served port's guard")), "{err}");
}

#[test]
fn the_installed_kit_is_looked_for_beside_the_scripts() {
    assert_eq!(
        installed_candidates(Path::new("/venv/bin/build-external-python")),
        [PathBuf::from("/venv/share/msty-mlx-studio/kit"), PathBuf::from("/venv/bin/kit")]
    );
}

/// A companion file overwrote what it shared a place with, after the launcher's checks: the
/// launcher itself (left 0644), the runtime, the bundle's manifest, or code in `_vendor`.
#[test]
fn a_kit_file_never_takes_the_launchers_runtimes_manifests_or_vendors_place() {
    let dir = tempfile::tempdir().unwrap();
    let target = tiny_kit(dir.path(), true);
    let chosen = Kit::open(&dir.path().join("kit")).unwrap().choose(&target, PyVersion::new(3, 12)).unwrap();
    let places: Vec<String> =
        chosen.destinations("my-app", "libmsty_mlx_runtime.so").unwrap().into_iter().map(|(d, _, _)| d).collect();
    let guard = ["guard/msty_mlx_guard.py", "guard/msty_mlx_guard_app.py", "guard/sitecustomize.py"];
    assert_eq!(places, [&guard[..], &["my-app", "libmsty_mlx_runtime.so"]].concat());
    let taken = ["my-app", "libmsty_mlx_runtime.so", "bundle-manifest.json", "_vendor/sitecustomize.py", guard[2]];
    for taken in taken {
        let mut bad = chosen.clone();
        let (mut file, bytes) = bad.files[0].clone();
        file.path = "x/extra".into();
        file.dest = taken.into();
        bad.files.push((file, bytes));
        let err = bad.destinations("my-app", "libmsty_mlx_runtime.so").unwrap_err();
        assert!(err.is::<Refused>(), "{taken}: {err:#}");
        assert!(err.to_string().contains(&format!("`{taken}`")), "{taken}: {err}");
    }
}

/// The commit is shown cut to 12 bytes (`launcher: launcher kit … commit 0123456789ab`): a
/// manifest whose commit was not hex made that slice panic inside a character.
#[test]
fn a_manifest_whose_commit_is_not_a_commit_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tiny_kit(dir.path(), true);
    let kit = dir.path().join("kit");
    let manifest = std::fs::read_to_string(kit.join(MANIFEST)).unwrap();
    let text = manifest.replace(&"a".repeat(40), "a€€€€€€€€€€€€€");
    std::fs::write(kit.join(MANIFEST), &text).unwrap();
    let sums = std::fs::read_to_string(kit.join(SUMS)).unwrap();
    let old = sha256_hex(manifest.as_bytes());
    std::fs::write(kit.join(SUMS), sums.replace(&old, &sha256_hex(text.as_bytes()))).unwrap();
    let err = Kit::open(&kit).unwrap_err();
    assert!(err.is::<Refused>(), "{err:#}");
    assert!(err.to_string().contains("names commit \"a€€€"), "{err}");
}
