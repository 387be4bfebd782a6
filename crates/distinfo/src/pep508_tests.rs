//! The hand reader against `pep508_rs` (a dev-dependency only) on every `Requires-Dist` line of
//! the real stack, in several environments and with several extras, plus the forms the
//! corpus lacks.

use std::str::FromStr;

use super::*;

const CORPUS: &str = include_str!("../tests/requires-dist-corpus.txt");

fn environments() -> Vec<Environment> {
    let mut all = Vec::new();
    for (system, platform, machine) in [("Darwin", "darwin", "arm64"), ("Linux", "linux", "x86_64")] {
        for (xy, full) in [("3.10", "3.10.13"), ("3.11", "3.11.7"), ("3.12", "3.12.1"), ("3.13", "3.13.0")] {
            all.push(Environment {
                implementation_name: "cpython".into(),
                implementation_version: full.into(),
                os_name: "posix".into(),
                platform_machine: machine.into(),
                platform_python_implementation: "CPython".into(),
                platform_release: "23.1.0".into(),
                platform_system: system.into(),
                platform_version: "Darwin Kernel Version 23.1.0".into(),
                python_full_version: full.into(),
                python_version: xy.into(),
                sys_platform: platform.into(),
            });
        }
    }
    all
}

fn reference_env(env: &Environment) -> pep508_rs::MarkerEnvironment {
    pep508_rs::MarkerEnvironment::try_from(pep508_rs::MarkerEnvironmentBuilder {
        implementation_name: &env.implementation_name,
        implementation_version: &env.implementation_version,
        os_name: &env.os_name,
        platform_machine: &env.platform_machine,
        platform_python_implementation: &env.platform_python_implementation,
        platform_release: &env.platform_release,
        platform_system: &env.platform_system,
        platform_version: &env.platform_version,
        python_full_version: &env.python_full_version,
        python_version: &env.python_version,
        sys_platform: &env.sys_platform,
    })
    .unwrap()
}

fn check(line: &str, envs: &[Environment]) {
    let ours = Requirement::from_str(line);
    let theirs = pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(line);
    assert_eq!(ours.is_ok(), theirs.is_ok(), "`{line}`: {ours:?} / {theirs:?}");
    let (Ok(ours), Ok(theirs)) = (ours, theirs) else { return };
    assert_eq!(crate::normalize(&ours.name), theirs.name.to_string(), "`{line}`");
    match (&ours.version, &theirs.version_or_url) {
        (VersionOrUrl::Specifiers(a), Some(pep508_rs::VersionOrUrl::VersionSpecifier(b))) => {
            assert_eq!(a.to_string(), b.to_string(), "`{line}`")
        }
        (VersionOrUrl::Specifiers(a), None) => assert!(a.is_empty(), "`{line}`"),
        (VersionOrUrl::Url(_), Some(pep508_rs::VersionOrUrl::Url(_))) => {}
        (a, b) => panic!("`{line}`: {a:?} / {b:?}"),
    }
    for env in envs {
        let reference = reference_env(env);
        for extras in [&[][..], &["dev"], &["all", "testing"], &["test-full"], &["Dev"]] {
            let theirs_extras: Vec<pep508_rs::ExtraName> = extras.iter().map(|e| e.parse().unwrap()).collect();
            assert_eq!(
                ours.applies(env, extras),
                theirs.evaluate_markers(&reference, &theirs_extras),
                "`{line}` with {extras:?} on {} {}",
                env.platform_system,
                env.python_version
            );
        }
    }
}

#[test]
fn the_real_stack_reads_as_pep508_rs_reads_it() {
    let envs = environments();
    let lines: Vec<&str> = CORPUS.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert!(lines.len() > 700, "the corpus is the real stack's");
    for line in lines {
        check(line, &envs);
    }
}

#[test]
fn forms_the_corpus_lacks() {
    let envs = environments();
    for line in [
        "mlx (>=0.29.2)",
        "mlx[cpu,extra] >= 0.29 ; sys_platform == 'linux'",
        "mlx @ https://example.invalid/mlx-0.1-py3-none-any.whl ; python_version >= '3.11'",
        "mlx; '3.11' <= python_version and (sys_platform == 'darwin' or platform_machine != 'x86_64')",
        "mlx; python_version in '3.11 3.12'",
        "mlx; platform_release not in 'x y'",
        "mlx; platform_version == 'Darwin Kernel Version 23.1.0'",
        "mlx; os_name == \"posix\" and implementation_name == 'cpython'",
        "mlx>=1,<2,!=1.5.*",
        "mlx; extra == 'DEV'",
        "1mlx",
        "mlx; python_version >",
        "mlx; bogus == '1'",
        "mlx (>=1",
        "mlx; (python_version > '3'",
        "-mlx",
        "mlx==",
        "mlx[",
    ] {
        check(line, &envs);
    }
}

#[test]
fn compatible_release_follows_packaging() {
    // pep508_rs answers true for 3.12.1 here; packaging (what pip evaluates with) says no:
    // `~=3.11.0` is `>=3.11.0, ==3.11.*`.
    let r = Requirement::from_str("mlx; python_full_version ~= '3.11.0'").unwrap();
    let envs = environments();
    let on = |xy: &str| envs.iter().find(|e| e.python_version == xy).unwrap();
    assert!(r.applies(on("3.11"), &[]));
    assert!(!r.applies(on("3.12"), &[]));
}

#[test]
fn versions_satisfy_specifiers() {
    let r = Requirement::from_str("mlx>=0.29.2,<0.33; platform_system == 'Darwin'").unwrap();
    let VersionOrUrl::Specifiers(specs) = &r.version else { panic!("{r:?}") };
    assert!(specs.contains(&Version::from_str("0.32.0").unwrap()));
    assert!(!specs.contains(&Version::from_str("0.33.0").unwrap()));
    let error = Requirement::from_str("mlx>=; x").unwrap_err();
    assert!(error.to_string().contains("at character"), "{error}");
}
