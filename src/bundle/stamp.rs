//! `--version-stamp`: rewrite mlxk2's version in the vendored copy only — `__version__` in
//! `mlxk2/__init__.py` and `Version:` in the dist-info, whose RECORD is kept truthful. The
//! source tree is never touched.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::distinfo::SiteDir;

/// Stamps `version` into `vendor`'s mlxk2 and the distribution that owns it.
pub fn stamp(vendor: &Path, version: &str) -> Result<PathBuf> {
    if version.is_empty() || version.contains(char::is_whitespace) || version.contains(['"', '\\']) {
        bail!("version stamp `{version}` is not a plain version string");
    }
    let init = vendor.join("mlxk2/__init__.py");
    let source = fs::read_to_string(&init).with_context(|| format!("cannot read `{}`", init.display()))?;
    let mut replaced = false;
    let stamped: Vec<String> = source
        .lines()
        .map(|line| {
            if !replaced && line.trim_start().starts_with("__version__") && line.contains('=') {
                replaced = true;
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}__version__ = \"{version}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !replaced {
        bail!("no `__version__ = …` line in `{}` to stamp", init.display());
    }
    write_new(&init, (stamped.join("\n") + "\n").as_bytes())?;

    let site = SiteDir::scan(vendor);
    let package_dir = vendor.join("mlxk2");
    let dist = site
        .by_name
        .keys()
        .filter_map(|name| site.distribution(name).ok())
        .find(|d| d.module_file.as_deref() == Some(package_dir.as_path()))
        .with_context(|| format!("no distribution in `{}` owns mlxk2", vendor.display()))?;
    let metadata_path = dist.dist_info.join("METADATA");
    let metadata = fs::read_to_string(&metadata_path).with_context(|| format!("cannot read `{}`", metadata_path.display()))?;
    let mut in_headers = true;
    let rewritten: Vec<String> = metadata
        .lines()
        .map(|line| {
            if line.is_empty() {
                in_headers = false;
            }
            if in_headers && line.starts_with("Version:") { format!("Version: {version}") } else { line.to_string() }
        })
        .collect();
    write_new(&metadata_path, (rewritten.join("\n") + "\n").as_bytes())?;
    rewrite_record(vendor, &dist.dist_info, &[init.clone(), metadata_path])?;
    Ok(dist.dist_info)
}

/// Updates the RECORD lines of `changed` files (sha256, size).
fn rewrite_record(vendor: &Path, dist_info: &Path, changed: &[PathBuf]) -> Result<()> {
    let record = dist_info.join("RECORD");
    let text = fs::read_to_string(&record).with_context(|| format!("cannot read `{}`", record.display()))?;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let path = line.split(',').next().unwrap_or("");
            match changed.iter().find(|c| vendor.join(path) == **c) {
                Some(file) => match fs::read(file) {
                    Ok(bytes) => format!("{path},{},{}", record_hash(&bytes), bytes.len()),
                    Err(_) => line.to_string(),
                },
                None => line.to_string(),
            }
        })
        .collect();
    write_new(&record, (lines.join("\n") + "\n").as_bytes())
}

/// `sha256=<urlsafe base64, no padding>`, as RECORD spells it.
pub fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// Replaces a file by a new one (never writes through a hard link into another tree).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("stamp-tmp");
    fs::write(&tmp, bytes).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot replace `{}`", path.display()))
}
