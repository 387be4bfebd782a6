//! The bundler's own caches of code it runs or ships (pinned tools, compiled pycs), checked
//! with the launcher's trust walk before use.

use std::ffi::OsStr;
use std::path::PathBuf;

use msty_mlx_trust::{Walked, walk};

/// A cache of the bundler that holds code it executes or ships (`<cache dir>/msty-mlx-studio/
/// <name>`: pinned tools, compiled pycs), walked like the launcher's bytecode cache and created
/// `0700`. `None` when there is no cache directory, or (with one warning line on stderr, even
/// when quiet: the packager should know) when the walk refuses it; the caller then works
/// without that cache.
pub fn bundler_cache(name: &str) -> Option<PathBuf> {
    let root = dirs::cache_dir()?;
    match walk(&root, &[OsStr::new("msty-mlx-studio"), OsStr::new(name)], true) {
        Ok(Walked::Open { path, .. } | Walked::WouldCreate { path }) => Some(path),
        Err(refusal) => {
            let kind = if refusal.is_untrusted() { "untrusted" } else { "unusable" };
            eprintln!("build-external-python: warning: not using the {name} cache, {kind}: {refusal}");
            None
        }
    }
}
