//! `--version-stamp`: rewrite mlxk2's version in the vendored copy only — `__version__` in
//! `mlxk2/__init__.py` and `Version:` in the dist-info, whose RECORD is kept truthful. The
//! source tree is never touched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine;
use fs_err as fs;
use sha2::{Digest, Sha256};

use msty_mlx_distinfo::Distribution;

/// Stamps `version` into `vendor`'s mlxk2 and `owner`, the distribution that owns it (from
/// the build's one scan of `_vendor`).
pub fn stamp(vendor: &Path, owner: Option<Distribution>, version: &str) -> Result<PathBuf> {
    if version.is_empty() || version.contains(char::is_whitespace) || version.contains(['"', '\\']) {
        bail!("version stamp `{version}` is not a plain version string");
    }
    let init = vendor.join("mlxk2/__init__.py");
    let source = fs::read_to_string(&init)?;
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

    let dist = owner.with_context(|| format!("no distribution in `{}` owns mlxk2", vendor.display()))?;
    let metadata_path = dist.dist_info.join("METADATA");
    let metadata = fs::read_to_string(&metadata_path)?;
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

/// Updates the RECORD rows of `changed` files (sha256, size); RECORD is CSV, read and written
/// as such (a path holding a comma stays one quoted field).
fn rewrite_record(vendor: &Path, dist_info: &Path, changed: &[PathBuf]) -> Result<()> {
    let record = dist_info.join("RECORD");
    let text = fs::read(&record)?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for row in csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_slice()).records() {
        let row = row.with_context(|| format!("`{}` is not a CSV file", record.display()))?;
        let mut fields: Vec<String> = row.iter().map(String::from).collect();
        if let Some(file) = changed.iter().find(|c| fields.first().is_some_and(|p| vendor.join(p) == **c)) {
            let bytes = fs::read(file)?;
            fields.truncate(1);
            fields.extend([record_hash(&bytes), bytes.len().to_string()]);
        }
        rows.push(fields);
    }
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    for row in &rows {
        writer.write_record(row).with_context(|| format!("cannot write `{}`", record.display()))?;
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", record.display()))?;
    write_new(&record, &bytes)
}

/// `sha256=<urlsafe base64, no padding>`, as RECORD spells it.
pub fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// Replaces a file by a new one (never writes through a hard link into another tree).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("stamp-tmp");
    fs::write(&tmp, bytes)?;
    Ok(fs::rename(&tmp, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_rows_are_rewritten_as_csv() {
        let root = std::env::temp_dir().join(format!("mlxk2-stamp-{}", std::process::id()));
        let info = root.join("x-1.dist-info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(root.join("a,b.py"), "new").unwrap();
        std::fs::write(
            info.join("RECORD"),
            "\"a,b.py\",sha256=old,1\nx/__init__.py,sha256=keep,2\nx-1.dist-info/RECORD,,\n",
        )
        .unwrap();
        rewrite_record(&root, &info, &[root.join("a,b.py")]).unwrap();
        let text = std::fs::read_to_string(info.join("RECORD")).unwrap();
        assert_eq!(
            text,
            format!("\"a,b.py\",{},3\nx/__init__.py,sha256=keep,2\nx-1.dist-info/RECORD,,\n", record_hash(b"new"))
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
