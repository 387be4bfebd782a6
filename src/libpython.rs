//! Refuse to run on a libpython other than the bundle's.
//!
//! The loader maps libpython before `main`. With the bundled one missing, Linux silently takes
//! the system's (Debian's `libpython3.11.so.1.0` from the loader cache) and would run it
//! against the bundled stdlib. So the launcher checks where the mapped library lives and which
//! X.Y it reports.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::exit_code::LauncherExit;
use crate::ffi;
use crate::layout::{Failure, Layout};

/// The libpython in this process.
#[derive(Clone, Debug, Serialize)]
pub struct Mapped {
    /// Where the loader found it (`None` if `dladdr` could not tell).
    pub path: Option<PathBuf>,
    /// `Py_GetVersion()`'s first word, e.g. `3.11.7`.
    pub version: String,
}

pub fn mapped() -> Mapped {
    let version = ffi::python_version();
    let version = version.split_whitespace().next().unwrap_or_default().to_string();
    // Canonical: the loader reports the rpath spelling (`…/mlxk2/../python/lib/…`).
    let path = ffi::mapped_libpython().map(|p| p.canonicalize().unwrap_or(p));
    Mapped { path, version }
}

/// Checks the mapped libpython against the chosen home and the X.Y the launcher was built for.
///
/// The loader binds libpython through the rpath (`<exe dir>/../python/lib`, then
/// `<exe dir>/python/lib`) before any launcher code runs, so a home chosen by
/// `RESOURCES_PATH` or `MLXK_PYTHON` must be that same installation (by any spelling of its
/// path); another one is refused rather than mixed with this libpython.
pub fn check(mapped: &Mapped, layout: &Layout, built_for: &str) -> Result<(), Failure> {
    let lib_dir = layout.home.join("lib");
    let expected = lib_dir.join(file_name(built_for));
    let Some(path) = &mapped.path else {
        return Err(Failure::new(
            LauncherExit::LibpythonMismatch,
            "cannot tell which libpython the loader mapped",
            format!("make sure `{}` exists", expected.display()),
        ));
    };
    let real = path.canonicalize().unwrap_or_else(|_| path.clone());
    let real_lib_dir = lib_dir.canonicalize().unwrap_or(lib_dir);
    if !real.starts_with(&real_lib_dir) {
        let exe_dir = layout.exe.parent().unwrap_or(Path::new("/"));
        let next_to_launcher = [exe_dir.join("python/lib"), exe_dir.join("../python/lib")]
            .iter()
            .filter_map(|dir| dir.canonicalize().ok())
            .any(|dir| real.starts_with(dir));
        return Err(if next_to_launcher {
            Failure::new(
                LauncherExit::LibpythonMismatch,
                format!(
                    "{} chose the Python home `{}`, but this launcher is linked to the libpython next to it (`{}`)",
                    layout.home_rule,
                    layout.home.display(),
                    real.display()
                ),
                format!("point {} at this launcher's own bundle, or unset it", layout.home_rule),
            )
        } else {
            Failure::new(
                LauncherExit::LibpythonMismatch,
                format!(
                    "libpython was loaded from `{}`, not from the bundle (`{}` is missing or unreadable)",
                    real.display(),
                    expected.display()
                ),
                format!("restore `{}` from the bundled Python {built_for}", expected.display()),
            )
        });
    }
    if !is_same_minor(&mapped.version, built_for) {
        return Err(Failure::new(
            LauncherExit::LibpythonMismatch,
            format!(
                "`{}` is Python {}, but this launcher was built for Python {built_for}",
                real.display(),
                mapped.version
            ),
            format!("use a launcher built for Python {} (PYO3_PYTHON)", mapped.version),
        ));
    }
    Ok(())
}

/// The libpython file name the launcher links against.
pub fn file_name(xy: &str) -> String {
    if cfg!(target_os = "macos") { format!("libpython{xy}.dylib") } else { format!("libpython{xy}.so.1.0") }
}

fn is_same_minor(version: &str, xy: &str) -> bool {
    version == xy || version.strip_prefix(xy).is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_versions_compare_exactly() {
        assert!(is_same_minor("3.11.7", "3.11"));
        assert!(is_same_minor("3.11", "3.11"));
        assert!(!is_same_minor("3.1.2", "3.11"));
        assert!(!is_same_minor("3.110.1", "3.11"));
        assert!(!is_same_minor("3.12.1", "3.11"));
    }
}
