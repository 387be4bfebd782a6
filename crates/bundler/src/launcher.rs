//! The launcher and its runtime library inside the bundle: built with cargo for the target
//! interpreter into their own target dir (or taken prebuilt; for a platform that does not run
//! here, `cross` links them with zig), then checked: both are binaries for the bundle's platform
//! (architecture, minimum macOS), the launcher links no libpython, the runtime links none either
//! and is stamped for the target X.Y and this launcher's plan format, and neither carries a
//! build-machine path.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cargo;

use anyhow::{Context, Result, anyhow, bail};
use goblin::Object;

use super::arch::Arch;
use super::manifest::BuildEntry;
use super::platform;
use msty_mlx_contract::plan::FORMAT;
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp::{self, RuntimeStamp};

/// How pyo3 learns about the target Python (for the runtime; the launcher needs none).
pub enum LinkTarget {
    /// `PYO3_PYTHON`: the interpreter is run at build time.
    Interpreter(PathBuf),
    /// `PYO3_CONFIG_FILE`: the interpreter is never run (wheels-only mode).
    ConfigFile(PathBuf),
}

/// The two files that go next to `_vendor`, for one wheel platform tag.
#[derive(Clone, Debug)]
pub struct LauncherFiles {
    pub launcher: PathBuf,
    pub runtime: PathBuf,
    /// The bundle's wheel platform tag: the files must run there.
    pub platform_tag: String,
    /// Where and with what the bundler linked them; `None` for prebuilt files.
    pub made: Option<Made>,
}

/// How the bundler made the files, for the manifest.
#[derive(Clone, Debug)]
pub struct Made {
    /// The build machine's Rust triple (`x86_64-unknown-linux-gnu`).
    pub built_on: String,
    /// `cc` (the host's toolchain) or `zig 0.17.1 (cargo-zigbuild 0.24.0)`.
    pub linker: String,
}

/// What [`check`] found: the runtime's stamp, and each file's entry for the manifest.
#[derive(Clone, Debug)]
pub struct Checked {
    pub stamp: RuntimeStamp,
    pub launcher: BuildEntry,
    pub runtime: BuildEntry,
}

impl LauncherFiles {
    /// The runtime's file name in the bundle.
    pub fn runtime_name(&self) -> &'static str {
        stamp::file_name_for(&self.platform_tag)
    }

    /// Prebuilt files for `platform_tag`: a directory holding both, or the launcher with the
    /// runtime beside it (`libmsty_mlx_runtime.dylib` for macOS, `.so` otherwise).
    pub fn prebuilt(given: &Path, platform_tag: &str) -> Result<LauncherFiles> {
        let (dir, launcher) = if given.is_dir() {
            (given.to_path_buf(), given.join(msty_mlx_contract::LAUNCHER_NAME))
        } else if given.is_file() {
            (given.parent().unwrap_or(Path::new(".")).to_path_buf(), given.to_path_buf())
        } else {
            bail!(
                "--launcher `{}` does not exist; pass the directory holding {} and {}",
                given.display(),
                msty_mlx_contract::LAUNCHER_NAME,
                stamp::file_name_for(platform_tag)
            );
        };
        let runtime = dir.join(stamp::file_name_for(platform_tag));
        for file in [&launcher, &runtime] {
            if !file.is_file() {
                bail!(
                    "--launcher: `{}` does not exist; the launcher and its runtime library are used together",
                    file.display()
                );
            }
        }
        Ok(LauncherFiles { launcher, runtime, platform_tag: platform_tag.into(), made: None })
    }
}

/// The pyo3 build configuration for a CPython X.Y whose libpython lives in `lib_dir`.
pub fn pyo3_config(version: PyVersion, lib_dir: &Path) -> String {
    format!(
        "implementation=CPython\nversion={version}\nshared=true\nabi3=false\nlib_name=python{version}\nlib_dir={}\npointer_width=64\nbuild_flags=\nsuppress_build_script_link_lines=false\n",
        lib_dir.display()
    )
}

/// `cargo build --release` of the launcher and the runtime for `target`, into `target_dir`
/// (a platform that runs here: `platform_tag`).
pub fn build(
    repo: &Path,
    target_dir: &Path,
    target: &LinkTarget,
    platform_tag: &str,
    quiet: bool,
) -> Result<LauncherFiles> {
    let program = cargo::cargo_program();
    let build = cargo::Build { program: &program, subcommand: "build", repo, target_dir, triple: None, quiet };
    let mut cmd = build.command();
    match target {
        LinkTarget::Interpreter(python) => cmd.env("PYO3_PYTHON", python),
        LinkTarget::ConfigFile(file) => cmd.env("PYO3_CONFIG_FILE", file),
    };
    let release = build.run(cmd)?;
    Ok(LauncherFiles {
        launcher: release.join(msty_mlx_contract::LAUNCHER_NAME),
        runtime: release.join(stamp::FILE_NAME),
        platform_tag: platform_tag.into(),
        made: Some(Made { built_on: host_triple()?, linker: "cc".into() }),
    })
}

/// This machine's Rust triple, as `rustc -vV` says (`host: x86_64-unknown-linux-gnu`).
pub fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("cannot run `{}`; install Rust (rustup)", Path::new(&rustc).display()))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| anyhow!("`{} -vV` names no host triple", Path::new(&rustc).display()))
}

/// Checks both files for a bundle of Python `xy` on `files.platform_tag`.
pub fn check(files: &LauncherFiles, xy: PyVersion, forbidden: &[&Path]) -> Result<Checked> {
    let launcher = std::fs::read(&files.launcher)
        .with_context(|| format!("cannot read the launcher `{}`", files.launcher.display()))?;
    let launcher_binary = read_binary(&files.launcher, &launcher)?;
    fits(&files.platform_tag, &launcher_binary.target)
        .map_err(|why| anyhow!("the launcher `{}` {why}", files.launcher.display()))?;
    if let Some(lib) = launcher_binary.libs.iter().find(|l| l.contains("libpython")) {
        bail!(
            "the launcher `{}` links {lib}; this launcher loads libpython at run time and must link none (an old, one-stage build?)",
            files.launcher.display()
        );
    }
    let runtime = std::fs::read(&files.runtime)
        .with_context(|| format!("cannot read the runtime `{}`", files.runtime.display()))?;
    let runtime_binary = read_binary(&files.runtime, &runtime)?;
    fits(&files.platform_tag, &runtime_binary.target)
        .map_err(|why| anyhow!("the runtime `{}` {why}", files.runtime.display()))?;
    if let Some(lib) = runtime_binary.libs.iter().find(|l| l.contains("libpython")) {
        bail!(
            "the runtime `{}` links {lib}; it must resolve Python's symbols from the loaded libpython (pyo3 feature extension-module)",
            files.runtime.display()
        );
    }
    let stamp = RuntimeStamp::read(&files.runtime)
        .map_err(|e| anyhow::anyhow!("the runtime `{}` {e}", files.runtime.display()))?;
    if stamp.python != xy {
        bail!(
            "the runtime `{}` is built for Python {}, the bundle is for Python {xy}",
            files.runtime.display(),
            stamp.python
        );
    }
    if stamp.plan_format != FORMAT {
        bail!(
            "the runtime `{}` reads plan format {}, this launcher writes format {FORMAT}; build both from one checkout",
            files.runtime.display(),
            stamp.plan_format
        );
    }
    for (file, bytes) in [(&files.launcher, &launcher), (&files.runtime, &runtime)] {
        for path in forbidden {
            let needle = path.to_string_lossy();
            if needle.len() > 1 && memchr::memmem::find(bytes, needle.as_bytes()).is_some() {
                bail!("`{}` contains the build-machine path `{needle}`", file.display());
            }
        }
    }
    let entry = |target: BinaryTarget| BuildEntry {
        target: target.triple,
        minimum_os: target.minimum_os,
        built_on: files.made.as_ref().map(|m| m.built_on.clone()),
        linker: files.made.as_ref().map(|m| m.linker.clone()),
    };
    Ok(Checked { stamp, launcher: entry(launcher_binary.target), runtime: entry(runtime_binary.target) })
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
            "is built for {}, the bundle is for {tag}; build it for that platform (or pass --launcher DIR with files built there)",
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

    #[test]
    fn mach_o_versions_read_as_dotted() {
        assert_eq!(macos_version(0x000e_0000), "14.0");
        assert_eq!(macos_version(0x000a_0d02), "10.13.2");
        assert_eq!(macos_version(0x000f_0200), "15.2");
    }

    #[test]
    fn runtime_file_names_follow_the_target() {
        let files = |tag: &str| LauncherFiles {
            launcher: "l".into(),
            runtime: "r".into(),
            platform_tag: tag.into(),
            made: None,
        };
        assert_eq!(files("macosx_14_0_arm64").runtime_name(), "libmsty_mlx_runtime.dylib");
        assert_eq!(files("manylinux_2_28_x86_64").runtime_name(), "libmsty_mlx_runtime.so");
    }
}
