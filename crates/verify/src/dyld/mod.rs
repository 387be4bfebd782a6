//! Where dyld finds the libraries a bundle's Mach-O images load: `@loader_path`,
//! `@executable_path` and `@rpath` resolved along every load chain, one architecture at a time.
//!
//! The rules, as dyld applies them and as far as a bundle on another system can tell:
//! - `@loader_path/X`: the directory of the image holding the load command.
//! - `@executable_path/X`: the directory of the main executable of the process.
//! - `@rpath/X`: each LC_RPATH of the image, then of the image that loaded it, and so on up to
//!   the main executable (an rpath's own `@loader_path` is its image's directory).
//! - Absolute names are not resolved here (a non-system one is an `absolute-install-name`
//!   finding of its own; system libraries do not exist off macOS).
//!
//! Which chains exist: each `MH_EXECUTE` image starts one. Images that no load command reaches
//! are `dlopen`ed — extension modules, plug-ins — by Python, so they are resolved in every
//! process that imports extensions: each Python host of the bundle (an executable named
//! `python…`, loading a libpython, or — our two-stage launcher, which `dlopen`s the home's
//! libpython — sitting next to `libmsty_mlx_runtime.dylib`), with the chain dyld uses for
//! `dlopen`: the image, the caller (the host's libpython), the host. A load must
//! resolve in **every** chain: an extension that finds its library under `python3` but not
//! under the launcher fails in the app. A library no load command of the bundle names
//! (mlx 0.32's `libjaccl.dylib`) is taken as `dlopen`ed the same way. With no
//! Python host in the bundle (a `_vendor` alone), such an image is its own whole chain, and an
//! `@executable_path` load in it cannot be resolved.
//!
//! Paths count only as images of the bundle with the slice's architecture: a file outside the
//! bundle, even one present on this machine, resolves nothing on a user's Mac.

mod resolve;
#[cfg(test)]
mod tests;
mod unresolved;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::native::{Arch, FileType, MachSlice, NativeInfo};
use crate::paths::normalize_path;
pub use unresolved::Unresolved;

/// What a tried path names.
pub enum Found {
    /// A Mach-O image of the bundle (by its key in the image map).
    Image(PathBuf),
    Nothing,
}

/// The bundle's Mach-O images and how to look paths up among them.
pub struct Images<'a> {
    /// Every Mach-O file, by normalised path.
    pub images: &'a BTreeMap<PathBuf, NativeInfo>,
    /// Which image a (normalised) path names: the map itself, or the filesystem for symlinks.
    pub find: &'a dyn Fn(&Path) -> Found,
    /// Loads left alone (system libraries, absolute names, …).
    pub skip: &'a dyn Fn(&str) -> bool,
}

/// Whether `path` (an `MH_EXECUTE` image) runs Python, and so may `dlopen` extension modules.
pub fn is_python_host(path: &Path, slice: &MachSlice) -> bool {
    let launcher = || path.parent().is_some_and(|dir| dir.join("libmsty_mlx_runtime.dylib").is_file());
    slice.filetype == FileType::Execute
        && (path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python"))
            || slice.loads.iter().any(|l| is_libpython(&l.name))
            || launcher())
}

/// `…/libpython3.12.dylib`, `…/Python.framework/Versions/3.12/Python`.
pub fn is_libpython(name: &str) -> bool {
    is_libpython_dylib(name) || name.rsplit('/').next() == Some("Python")
}

/// `…/libpython3.12.dylib` (python-build-standalone's layout, and ours).
pub fn is_libpython_dylib(name: &str) -> bool {
    name.rsplit('/').next().unwrap_or(name).starts_with("libpython")
}

/// `@loader_path/X`, `@executable_path/X` or an absolute path as a path (`None`: `@rpath`, a
/// relative name, or `@executable_path` without a known executable).
pub fn expand(name: &str, loader_dir: &Path, exe_dir: Option<&Path>) -> Option<PathBuf> {
    let rest = |prefix: &str| {
        name.strip_prefix(prefix).filter(|r| r.is_empty() || r.starts_with('/')).map(|r| r.trim_start_matches('/'))
    };
    if let Some(rest) = rest("@loader_path") {
        Some(normalize_path(&loader_dir.join(rest)))
    } else if let Some(rest) = rest("@executable_path") {
        Some(normalize_path(&exe_dir?.join(rest)))
    } else if name.starts_with('/') {
        Some(normalize_path(Path::new(name)))
    } else {
        None
    }
}

fn dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

/// Every load of every image that dyld would not resolve, for every architecture.
pub fn unresolved_loads(bundle: &Images) -> Vec<Unresolved> {
    let arches: BTreeSet<Arch> = bundle.images.values().flat_map(|i| i.slices.iter().map(|s| s.arch)).collect();
    let mut attempts = resolve::Attempts::new();
    for arch in arches {
        resolve::Resolver::run(bundle, arch, &mut attempts);
    }
    attempts.into_iter().filter_map(|((image, load), tries)| Unresolved::from_attempts(image, load, &tries)).collect()
}
