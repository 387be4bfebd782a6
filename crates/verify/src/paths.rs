//! Path helpers of the walk: lexical normalisation, sorted directory listings, X.Y tags.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

/// `3.11` from a `lib/` holding `python3.11/` or `libpython3.11.*`.
pub(crate) fn python_xy_of(lib: &Path) -> Option<String> {
    fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix("libpython").or_else(|| name.strip_prefix("python"))?;
        let xy: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let xy = xy.trim_end_matches('.');
        (xy.matches('.').count() == 1 && xy.starts_with("3.")).then(|| xy.to_string())
    })
}

/// The entries of `dir`, by name; an unreadable directory or entry is an error naming `dir`.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let failed = || format!("Failed to list `{}`", dir.display());
    let mut entries =
        fs::read_dir(dir).with_context(failed)?.collect::<std::io::Result<Vec<_>>>().with_context(failed)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// `a/b/../c` → `a/c` without touching the filesystem (symlink targets may not exist).
pub(crate) fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `cpython-311` from `mod.cpython-311.pyc` / `mod.cpython-311.opt-1.pyc`.
pub(crate) fn cache_tag(name: &str) -> Option<String> {
    name.split('.').find(|p| p.starts_with("cpython-")).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(normalize_path(Path::new("/a/b/../../../c")), PathBuf::from("/c"));
        assert_eq!(normalize_path(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
