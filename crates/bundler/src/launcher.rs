//! Checking the launcher and its runtime library for a bundle, whichever way they came (a
//! launcher kit, or built from this source tree): both are binaries for the bundle's platform
//! (architecture, minimum macOS), the launcher links no libpython, the runtime links none either
//! and is stamped for the target X.Y and this launcher's plan format, and neither carries a
//! build-machine path. The bytes checked are the bytes the bundle gets.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use goblin::Object;

use super::arch::Arch;
use super::manifest::BuildEntry;
use super::platform;
use msty_mlx_contract::plan::FORMAT;
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp::RuntimeStamp;

/// A file to check: where it came from (for messages) and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub path: &'a Path,
    pub bytes: &'a [u8],
}

/// How the files were made, for the manifest (`built_on`, `linker`).
#[derive(Clone, Debug)]
pub struct Made {
    /// The build machine's Rust triple (`x86_64-unknown-linux-gnu`).
    pub built_on: String,
    /// `cc` (the host's toolchain) or `rust-lld (ld64) against the libSystem stubs of ziglang …`.
    pub linker: String,
}

/// What [`check`] found: the runtime's stamp, and each file's entry for the manifest.
#[derive(Clone, Debug)]
pub struct Checked {
    pub stamp: RuntimeStamp,
    pub launcher: BuildEntry,
    pub runtime: BuildEntry,
}

/// The Rust triple a launcher or runtime binary is built for, read from its headers.
pub fn binary_target(path: &Path, bytes: &[u8]) -> Result<String> {
    Ok(read_binary(path, bytes)?.target.triple)
}

/// Checks both files for a bundle of Python `xy` on `platform_tag`.
pub fn check(
    launcher: Candidate,
    runtime: Candidate,
    platform_tag: &str,
    xy: PyVersion,
    forbidden: &[&Path],
    made: &Made,
) -> Result<Checked> {
    let launcher_binary = read_binary(launcher.path, launcher.bytes)?;
    fits(platform_tag, &launcher_binary.target)
        .map_err(|why| anyhow!("the launcher `{}` {why}", launcher.path.display()))?;
    if let Some(lib) = launcher_binary.libs.iter().find(|l| l.contains("libpython")) {
        bail!(
            "the launcher `{}` links {lib}; this launcher loads libpython at run time and must link none (an old, one-stage build?)",
            launcher.path.display()
        );
    }
    let runtime_binary = read_binary(runtime.path, runtime.bytes)?;
    fits(platform_tag, &runtime_binary.target)
        .map_err(|why| anyhow!("the runtime `{}` {why}", runtime.path.display()))?;
    if let Some(lib) = runtime_binary.libs.iter().find(|l| l.contains("libpython")) {
        bail!(
            "the runtime `{}` links {lib}; it must resolve Python's symbols from the loaded libpython (pyo3 feature extension-module)",
            runtime.path.display()
        );
    }
    let stamp = msty_mlx_contract::stamp::RuntimeStamp::find(runtime.bytes)
        .map_err(|e| anyhow::anyhow!("the runtime `{}` {e}", runtime.path.display()))?;
    if stamp.python != xy {
        bail!(
            "the runtime `{}` is built for Python {}, the bundle is for Python {xy}",
            runtime.path.display(),
            stamp.python
        );
    }
    if stamp.plan_format != FORMAT {
        bail!(
            "the runtime `{}` reads plan format {}, this launcher writes format {FORMAT}; build both from one checkout",
            runtime.path.display(),
            stamp.plan_format
        );
    }
    for file in [launcher, runtime] {
        for path in forbidden {
            let needle = path.to_string_lossy();
            if needle.len() > 1 && memchr::memmem::find(file.bytes, needle.as_bytes()).is_some() {
                bail!("`{}` contains the build-machine path `{needle}`", file.path.display());
            }
        }
    }
    let entry = |target: BinaryTarget| BuildEntry {
        target: target.triple,
        minimum_os: target.minimum_os,
        built_on: Some(made.built_on.clone()),
        linker: Some(made.linker.clone()),
    };
    Ok(Checked { stamp, launcher: entry(launcher_binary.target), runtime: entry(runtime_binary.target) })
}

/// What the runtime exports: its two entry points, nothing else. Other Rust extensions
/// (tokenizers, safetensors, pydantic-core) share the process; a runtime exporting Rust's
/// symbols interposes on theirs in the flat namespace (issue 27: zig's Mach-O linker exported
/// 524). Read with verify's own Mach-O reader, or the ELF dynamic symbols.
pub const RUNTIME_EXPORTS: [&str; 2] = ["msty_mlx_runtime_main", "msty_mlx_runtime_stamp"];

/// Refuses a runtime file that exports anything but [`RUNTIME_EXPORTS`].
pub fn check_exports(runtime: Candidate) -> Result<()> {
    let exported = msty_mlx_verify::exports_in(runtime.path, runtime.bytes)?;
    // Every Mach-O image defines its own header and dso handle (linker-made, not Rust's, never
    // interposing on another image's code); zig-linked stand-ins in the tests export them.
    let linker_made = ["__mh_dylib_header", "___dso_handle"];
    let extra: Vec<&String> = exported
        .iter()
        .filter(|name| !RUNTIME_EXPORTS.iter().any(|e| name.strip_prefix('_') == Some(*e)))
        .filter(|name| !linker_made.contains(&name.as_str()))
        .collect();
    if !extra.is_empty() {
        let shown: Vec<String> = extra.iter().take(3).map(|n| format!("`{n}`")).collect();
        bail!(
            "the runtime `{}` exports {} symbol(s) besides {} ({}…); link it with rustc's export list (ld64.lld or Apple's ld, not zig's linker)",
            runtime.path.display(),
            extra.len(),
            RUNTIME_EXPORTS.join(" and "),
            shown.join(", ")
        );
    }
    Ok(())
}

/// A binary's loads and what it runs on, read from its headers.
struct Binary {
    libs: Vec<String>,
    target: BinaryTarget,
}

/// What a binary runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BinaryTarget {
    /// A Rust triple: `aarch64-apple-darwin`, `x86_64-unknown-linux-gnu`.
    triple: String,
    /// macOS: `LC_BUILD_VERSION`'s minos (or `LC_VERSION_MIN_MACOSX`), e.g. `14.0`.
    minimum_os: Option<String>,
}

/// Loads and target of an ELF or thin Mach-O file.
fn read_binary(path: &Path, bytes: &[u8]) -> Result<Binary> {
    use goblin::mach::load_command::CommandVariant;
    let object =
        Object::parse(bytes).with_context(|| format!("`{}` is not a binary this tool can read", path.display()))?;
    Ok(match object {
        Object::Elf(elf) => {
            let machine = elf.header.e_machine;
            let arch = Arch::from_elf_machine(machine).map_or(format!("elf-machine-{machine}"), |a| a.rust().into());
            let libc = if elf.interpreter.is_some_and(|i| i.contains("musl"))
                || elf.libraries.iter().any(|l| l.contains("musl"))
            {
                "musl"
            } else {
                "gnu"
            };
            Binary {
                libs: elf.libraries.iter().map(|s| s.to_string()).collect(),
                target: BinaryTarget { triple: format!("{arch}-unknown-linux-{libc}"), minimum_os: None },
            }
        }
        Object::Mach(goblin::mach::Mach::Binary(macho)) => {
            let cputype = macho.header.cputype;
            let arch = Arch::from_mach_cputype(cputype).map_or(format!("mach-cputype-{cputype}"), |a| a.rust().into());
            let minimum_os = macho.load_commands.iter().find_map(|c| match &c.command {
                CommandVariant::BuildVersion(v) => Some(macos_version(v.minos)),
                CommandVariant::VersionMinMacosx(v) => Some(macos_version(v.version)),
                _ => None,
            });
            Binary {
                libs: macho.libs.iter().map(|s| s.to_string()).collect(),
                target: BinaryTarget { triple: format!("{arch}-apple-darwin"), minimum_os },
            }
        }
        _ => bail!("`{}` is neither ELF nor a thin Mach-O", path.display()),
    })
}

/// A Mach-O version `xxxx.yy.zz` (nibbles) as `14.0` or `10.13.2`.
fn macos_version(v: u32) -> String {
    let (major, minor, patch) = (v >> 16, (v >> 8) & 0xff, v & 0xff);
    if patch == 0 { format!("{major}.{minor}") } else { format!("{major}.{minor}.{patch}") }
}

/// Whether a binary fits a wheel platform tag: the OS and the architecture (any for
/// `universal2`), and on macOS no newer minimum than a single-architecture tag's. `Err` says
/// why not.
fn fits(tag: &str, target: &BinaryTarget) -> std::result::Result<(), String> {
    let wrong = || {
        Err(format!(
            "is built for {}, the bundle is for {tag}; build it for that platform (or pass --launcher-kit DIR with a kit built there)",
            target.triple
        ))
    };
    if let Some(mac) = platform::MacTag::parse(tag) {
        let want = mac.triple();
        if !target.triple.ends_with("-apple-darwin") || want.is_some_and(|w| w != target.triple) {
            return wrong();
        }
        // A universal2 tag is an interpreter's (python.org: 10.9+), older than any arm64 Mac:
        // each slice's own minimum is what counts there.
        if let Some(needs) = &target.minimum_os
            && want.is_some()
            && platform::version_key(needs) > platform::version_key(&mac.minimum_os)
        {
            return Err(format!(
                "needs macOS {needs}, the bundle's platform {tag} promises macOS {}; build it with MACOSX_DEPLOYMENT_TARGET={}",
                mac.minimum_os, mac.minimum_os
            ));
        }
        return Ok(());
    }
    if platform::is_linux(tag) {
        let arch_ok =
            platform::linux_arch(tag).is_some_and(|(_, a)| target.triple.starts_with(&format!("{}-", a.rust())));
        if !target.triple.contains("-linux-") || !arch_ok {
            return wrong();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(triple: &str, minimum_os: Option<&str>) -> BinaryTarget {
        BinaryTarget { triple: triple.into(), minimum_os: minimum_os.map(String::from) }
    }

    #[test]
    fn binaries_fit_their_platform_tag() {
        assert_eq!(fits("macosx_14_0_arm64", &t("aarch64-apple-darwin", Some("14.0"))), Ok(()));
        assert_eq!(fits("macosx_14_0_arm64", &t("aarch64-apple-darwin", Some("11.0"))), Ok(()));
        assert_eq!(fits("macosx_10_9_universal2", &t("x86_64-apple-darwin", Some("10.9"))), Ok(()));
        assert_eq!(fits("macosx_10_13_universal2", &t("aarch64-apple-darwin", Some("11.0"))), Ok(()));
        assert_eq!(fits("manylinux_2_28_x86_64", &t("x86_64-unknown-linux-gnu", None)), Ok(()));
        assert_eq!(fits("linux_aarch64", &t("aarch64-unknown-linux-gnu", None)), Ok(()));
        let err = fits("macosx_14_0_arm64", &t("x86_64-unknown-linux-gnu", None)).unwrap_err();
        assert!(
            err.starts_with("is built for x86_64-unknown-linux-gnu, the bundle is for macosx_14_0_arm64;"),
            "{err}"
        );
        assert!(fits("macosx_14_0_arm64", &t("x86_64-apple-darwin", Some("14.0"))).is_err());
        assert!(fits("linux_x86_64", &t("aarch64-apple-darwin", Some("14.0"))).is_err());
        assert!(fits("linux_x86_64", &t("aarch64-unknown-linux-gnu", None)).is_err());
        let err = fits("macosx_13_0_arm64", &t("aarch64-apple-darwin", Some("14.0"))).unwrap_err();
        assert!(err.contains("needs macOS 14.0, the bundle's platform macosx_13_0_arm64 promises macOS 13.0; build it with MACOSX_DEPLOYMENT_TARGET=13.0"), "{err}");
    }

    /// A shared library exporting one symbol too many is refused; the two entry points pass.
    #[test]
    fn a_runtime_exporting_more_than_its_entry_points_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let build = |name: &str, code: &str| {
            let (src, lib) = (dir.path().join(format!("{name}.c")), dir.path().join(format!("{name}.so")));
            std::fs::write(&src, code).unwrap();
            let ok = std::process::Command::new("cc")
                .args(["-shared", "-fPIC", "-o"])
                .arg(&lib)
                .arg(&src)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "this test needs a C compiler (cc)");
            lib
        };
        let entry =
            "int msty_mlx_runtime_main(void) { return 0; }\nconst char *msty_mlx_runtime_stamp(void) { return 0; }\n";
        let check =
            |path: std::path::PathBuf| check_exports(Candidate { path: &path, bytes: &std::fs::read(&path).unwrap() });
        check(build("ok", entry)).unwrap();
        let leaky = build("leaky", &format!("{entry}int _ZN3std9panicking11begin_panic(void) {{ return 1; }}\n"));
        let err = check(leaky).unwrap_err().to_string();
        assert!(err.contains("exports 1 symbol(s) besides msty_mlx_runtime_main and msty_mlx_runtime_stamp"), "{err}");
        assert!(err.contains("`__ZN3std9panicking11begin_panic`"), "{err}");
    }

    #[test]
    fn mach_o_versions_read_as_dotted() {
        assert_eq!(macos_version(0x000e_0000), "14.0");
        assert_eq!(macos_version(0x000a_0d02), "10.13.2");
        assert_eq!(macos_version(0x000f_0200), "15.2");
    }
}
