//! Reading a wheel file: its distribution name, version and tags from the `.dist-info` inside
//! (the file name of a custom wheel such as `scripts/mlx-custom.whl` says nothing).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use msty_mlx_distinfo::Metadata;

/// What a wheel contains, per its own metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WheelInfo {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    /// `py-abi-platform` triples from the WHEEL file's `Tag:` lines.
    pub tags: Vec<String>,
}

impl WheelInfo {
    /// The file name pip expects for this wheel (PEP 427 escaping, first tag).
    pub fn canonical_file_name(&self) -> String {
        let name = msty_mlx_distinfo::normalize(&self.name).replace('-', "_");
        let tag = self.tags.first().map(String::as_str).unwrap_or("py3-none-any");
        format!("{name}-{}-{tag}.whl", self.version.replace('-', "_"))
    }
}

/// Opens `path` as a wheel and reads its metadata. Errors name the file.
pub fn read(path: &Path) -> Result<WheelInfo> {
    let meta = std::fs::metadata(path).with_context(|| format!("wheel `{}` does not exist", path.display()))?;
    if !meta.is_file() {
        bail!("wheel `{}` is not a file", path.display());
    }
    if path.extension().and_then(|e| e.to_str()) != Some("whl") {
        bail!("`{}` is not a wheel (the name must end in .whl)", path.display());
    }
    let file = File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("`{}` is not a wheel (not a zip archive)", path.display()))?;
    let dist_info = (0..zip.len())
        .filter_map(|i| zip.by_index(i).ok().and_then(|f| f.name().ok().map(|n| n.to_string())))
        .filter_map(|name| name.split_once('/').map(|(dir, _)| dir.to_string()))
        .find(|dir| dir.ends_with(".dist-info"))
        .with_context(|| format!("`{}` is not a wheel (no .dist-info directory inside)", path.display()))?;
    let mut read_member = |member: &str| -> Result<String> {
        let mut text = String::new();
        zip.by_name(&format!("{dist_info}/{member}"))
            .with_context(|| format!("`{}` has no {dist_info}/{member}", path.display()))?
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {dist_info}/{member} in `{}`", path.display()))?;
        Ok(text)
    };
    let metadata = Metadata::parse(&read_member("METADATA")?)
        .map_err(|e| anyhow::anyhow!("malformed {dist_info}/METADATA in `{}`: {e}", path.display()))?;
    let tags: Vec<String> =
        read_member("WHEEL")?.lines().filter_map(|l| l.strip_prefix("Tag:")).map(|t| t.trim().to_string()).collect();
    if tags.is_empty() {
        bail!("`{}` has no Tag in {dist_info}/WHEEL", path.display());
    }
    Ok(WheelInfo { path: path.to_path_buf(), name: metadata.name, version: metadata.version, tags })
}

/// The first of the wheel's tags the target accepts, if any.
pub fn compatible_tag<'a>(wheel: &'a WheelInfo, supported: &[String]) -> Option<&'a str> {
    wheel.tags.iter().find(|t| supported.contains(t)).map(String::as_str)
}
