//! Wheel platform tags (`--target-platform`) as uv's resolver targets (`--python-platform`),
//! and whether binaries for a tag run on this machine.

use anyhow::{Result, bail};

use super::arch::Arch;

/// What `uv pip install` is told so that it picks wheels **and** evaluates markers for a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UvTarget {
    /// `--python-platform`, e.g. `aarch64-apple-darwin`.
    pub triple: String,
    /// `MACOSX_DEPLOYMENT_TARGET` (the oldest macOS whose wheels uv accepts), macOS only.
    pub macos_deployment_target: Option<String>,
}

/// The glibc versions uv (0.13) accepts as `<arch>-manylinux_2_N`.
const UV_MANYLINUX: &[u32] = &[17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40];

/// The forms [`uv_target`] accepts, for its error message.
pub const ACCEPTED_FORMS: &str = "macosx_X_Y_arm64, macosx_X_Y_x86_64, manylinux_2_N_{x86_64,aarch64} (N = 17, 28, 31-40), manylinux2014_{x86_64,aarch64}, linux_{x86_64,aarch64}";

/// Maps a wheel platform tag to uv's target:
///
/// | tag | `--python-platform` | `MACOSX_DEPLOYMENT_TARGET` |
/// |---|---|---|
/// | `macosx_14_0_arm64` | `aarch64-apple-darwin` | `14.0` |
/// | `macosx_13_0_x86_64` | `x86_64-apple-darwin` | `13.0` |
/// | `manylinux_2_28_x86_64` | `x86_64-manylinux_2_28` | |
/// | `manylinux2014_x86_64` | `x86_64-manylinux2014` | |
/// | `linux_x86_64` | `x86_64-unknown-linux-gnu` (uv: manylinux_2_28 and older) | |
///
/// and the same for `aarch64` Linux tags.
pub fn uv_target(tag: &str) -> Result<UvTarget> {
    let unknown = || {
        anyhow::anyhow!(
            "--target-platform `{tag}` is not a wheel platform tag this bundler can resolve for; use one of: {ACCEPTED_FORMS}"
        )
    };
    let linux = |triple: String| Ok(UvTarget { triple, macos_deployment_target: None });
    if tag.starts_with("macosx_") {
        let mac = MacTag::parse(tag).ok_or_else(unknown)?;
        let Some(triple) = mac.triple() else {
            if mac.arch == "universal2" {
                let v = mac.minimum_os.replace('.', "_");
                bail!(
                    "--target-platform `{tag}`: uv resolves for one architecture at a time; build one bundle per architecture (macosx_{v}_arm64 or _x86_64)"
                );
            }
            return Err(unknown());
        };
        return Ok(UvTarget { triple: triple.into(), macos_deployment_target: Some(mac.minimum_os) });
    }
    let (platform, arch) = linux_arch(tag).ok_or_else(unknown)?;
    let arch = arch.rust();
    if platform == "linux" {
        return linux(format!("{arch}-unknown-linux-gnu"));
    }
    if platform == "manylinux2014" {
        return linux(format!("{arch}-manylinux2014"));
    }
    if let Some(glibc) = platform.strip_prefix("manylinux_2_") {
        let known = glibc.parse::<u32>().ok().filter(|n| UV_MANYLINUX.contains(n)).ok_or_else(unknown)?;
        return linux(format!("{arch}-manylinux_2_{known}"));
    }
    Err(unknown())
}

/// The Rust triple of the launcher and runtime a bundle for `tag` needs (the key of a launcher
/// kit's targets): `macosx_14_0_arm64` → `aarch64-apple-darwin`, `manylinux_2_28_x86_64` and
/// `linux_x86_64` → `x86_64-unknown-linux-gnu`.
pub fn rust_target(tag: &str) -> Result<String> {
    if let Some(mac) = MacTag::parse(tag) {
        return match mac.triple() {
            Some(triple) => Ok(triple.into()),
            None => {
                bail!("--target-platform `{tag}`: a launcher kit has files for one architecture; use macosx_X_Y_arm64")
            }
        };
    }
    match linux_arch(tag) {
        Some((_, arch)) => Ok(format!("{}-unknown-linux-gnu", arch.rust())),
        None => bail!(
            "--target-platform `{tag}` is not a platform a launcher kit has files for; use one of: {ACCEPTED_FORMS}"
        ),
    }
}

/// A `macosx_<major>_<minor>_<arch>` wheel platform tag, split. The one place that reads macOS
/// tags: uv's target ([`uv_target`]), the cross build's (`cross::cross_target`) and the
/// launcher check (`launcher::fits`) all start here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacTag<'a> {
    /// `14.0`
    pub minimum_os: String,
    /// `arm64`, `x86_64`, `universal2`, …
    pub arch: &'a str,
}

impl MacTag<'_> {
    pub fn parse(tag: &str) -> Option<MacTag<'_>> {
        let mut parts = tag.strip_prefix("macosx_")?.splitn(3, '_');
        let (major, minor, arch) = (parts.next()?, parts.next()?, parts.next()?);
        let number = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
        (number(major) && number(minor) && !arch.is_empty())
            .then(|| MacTag { minimum_os: format!("{major}.{minor}"), arch })
    }

    /// The target triple of a single-architecture tag (Rust's and uv's spelling agree);
    /// `None` for `universal2` and unknown architectures.
    pub fn triple(&self) -> Option<&'static str> {
        self.architecture().map(Arch::apple_triple)
    }

    /// The architecture of a single-architecture tag.
    pub fn architecture(&self) -> Option<Arch> {
        Arch::from_macos_wheel(self.arch)
    }
}

/// `14.0` → `[14, 0]`, for comparing dotted versions.
pub fn version_key(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// A Linux tag split into its platform part and architecture (`manylinux_2_28`, x86_64).
pub fn linux_arch(tag: &str) -> Option<(&str, Arch)> {
    Arch::ALL.into_iter().find_map(|arch| tag.strip_suffix(&format!("_{}", arch.rust())).map(|p| (p, arch)))
}

/// Whether a wheel platform tag is a Linux one (`linux_…`, `manylinux…`, `musllinux_…`).
pub fn is_linux(tag: &str) -> bool {
    ["linux_", "manylinux", "musllinux_"].iter().any(|p| tag.starts_with(p))
}

/// Whether binaries for a wheel platform tag run on this machine (same OS and architecture).
pub fn runs_here(tag: &str) -> bool {
    let arch = if cfg!(target_os = "macos") {
        match MacTag::parse(tag) {
            Some(mac) if mac.arch == "universal2" => return true,
            Some(mac) => mac.architecture(),
            None => None,
        }
    } else if is_linux(tag) {
        linux_arch(tag).map(|(_, arch)| arch)
    } else {
        None
    };
    arch.is_some_and(|a| Some(a) == Arch::here())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(tag: &str) -> (String, Option<String>) {
        let t = uv_target(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
        (t.triple, t.macos_deployment_target)
    }

    #[test]
    fn tags_map_to_uv_targets() {
        let mac = |triple: &str, v: &str| (triple.to_string(), Some(v.to_string()));
        let linux = |triple: &str| (triple.to_string(), None);
        assert_eq!(target("macosx_14_0_arm64"), mac("aarch64-apple-darwin", "14.0"));
        assert_eq!(target("macosx_13_0_x86_64"), mac("x86_64-apple-darwin", "13.0"));
        assert_eq!(target("macosx_11_0_arm64"), mac("aarch64-apple-darwin", "11.0"));
        assert_eq!(target("macosx_10_13_x86_64"), mac("x86_64-apple-darwin", "10.13"));
        assert_eq!(target("manylinux_2_28_x86_64"), linux("x86_64-manylinux_2_28"));
        assert_eq!(target("manylinux_2_35_x86_64"), linux("x86_64-manylinux_2_35"));
        assert_eq!(target("manylinux_2_17_x86_64"), linux("x86_64-manylinux_2_17"));
        assert_eq!(target("manylinux2014_x86_64"), linux("x86_64-manylinux2014"));
        assert_eq!(target("manylinux_2_28_aarch64"), linux("aarch64-manylinux_2_28"));
        assert_eq!(target("linux_x86_64"), linux("x86_64-unknown-linux-gnu"));
        assert_eq!(target("linux_aarch64"), linux("aarch64-unknown-linux-gnu"));
    }

    #[test]
    fn unknown_tags_name_the_tag_and_the_accepted_forms() {
        for tag in [
            "win_amd64",
            "macosx_14_arm64",
            "macosx_x_0_arm64",
            "macosx_14_0_ppc",
            "manylinux_2_24_x86_64",
            "manylinux1_x86_64",
            "musllinux_1_2_x86_64",
            "linux_i686",
            "",
            "x86_64-apple-darwin",
        ] {
            let err = uv_target(tag).unwrap_err().to_string();
            assert!(err.contains(&format!("`{tag}`")) && err.contains(ACCEPTED_FORMS), "{tag}: {err}");
        }
        let err = uv_target("macosx_14_0_universal2").unwrap_err().to_string();
        assert!(err.contains("one architecture at a time"), "{err}");
    }

    #[test]
    fn kit_targets_of_tags() {
        assert_eq!(rust_target("macosx_14_0_arm64").unwrap(), "aarch64-apple-darwin");
        assert_eq!(rust_target("manylinux_2_28_x86_64").unwrap(), "x86_64-unknown-linux-gnu");
        assert_eq!(rust_target("linux_x86_64").unwrap(), "x86_64-unknown-linux-gnu");
        assert_eq!(rust_target("linux_aarch64").unwrap(), "aarch64-unknown-linux-gnu");
        assert!(rust_target("macosx_14_0_universal2").is_err() && rust_target("win_amd64").is_err());
    }

    #[test]
    fn mac_tags_split() {
        assert_eq!(MacTag::parse("macosx_14_0_arm64"), Some(MacTag { minimum_os: "14.0".into(), arch: "arm64" }));
        assert_eq!(
            MacTag::parse("macosx_10_9_universal2"),
            Some(MacTag { minimum_os: "10.9".into(), arch: "universal2" })
        );
        assert_eq!(MacTag::parse("macosx_14_0_arm64").and_then(|m| m.triple()), Some("aarch64-apple-darwin"));
        assert_eq!(MacTag::parse("macosx_10_9_universal2").and_then(|m| m.triple()), None);
        assert_eq!(MacTag::parse("macosx_14_0_"), None);
        assert_eq!(MacTag::parse("linux_x86_64"), None);
        assert!(
            version_key("10.13") < version_key("11.0")
                && version_key("14.0") == version_key("14.0")
                && version_key("13.6") < version_key("14.0")
        );
    }

    /// uv and the cross build agree on every macOS tag both accept.
    #[test]
    fn uv_and_cross_targets_agree() {
        for tag in ["macosx_14_0_arm64", "macosx_13_0_x86_64", "macosx_11_0_arm64", "macosx_15_2_arm64"] {
            let (uv, cross) = (uv_target(tag).unwrap(), super::super::cross::cross_target(tag).unwrap());
            assert_eq!(
                (uv.triple.as_str(), uv.macos_deployment_target.as_deref()),
                (cross.triple, Some(cross.minimum_os.as_str())),
                "{tag}"
            );
        }
    }

    #[test]
    fn what_runs_here() {
        assert!(!runs_here("macosx_14_0_arm64") || cfg!(target_os = "macos"));
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert!(runs_here("linux_x86_64") && runs_here("manylinux_2_28_x86_64"));
            assert!(!runs_here("linux_aarch64") && !runs_here("macosx_13_0_x86_64"));
        }
    }
}
