//! What the chosen Python home holds: the X.Y of its standard library and its libpython file.
//!
//! The X.Y comes from `<home>/lib/python3.X/encodings` (the stdlib CPython will import first),
//! never from running anything. The libpython is `<home>/lib/libpython3.X.so.1.0` (`.dylib` on
//! macOS), opened later by absolute path; `inspect` reads its header and SONAME / install id
//! without loading it, for `--python-info`.

use std::fmt;
use std::path::{Path, PathBuf};

use msty_mlx_contract::python::PyVersion;
use serde::Serialize;

use crate::library_file::{self, Kind};

/// `<home>/lib/python3.X`.
pub fn stdlib_dir(home: &Path, xy: PyVersion) -> PathBuf {
    home.join("lib").join(xy.stdlib_dir_name())
}

/// `<home>/lib/libpython3.X.so.1.0` / `.dylib`.
pub fn libpython_path(home: &Path, xy: PyVersion) -> PathBuf {
    home.join("lib").join(xy.libpython_file_name())
}

/// Every X.Y with a stdlib (`lib/python3.X/encodings`) under `home`, sorted.
pub fn stdlib_versions(home: &Path) -> Vec<PyVersion> {
    let mut found: Vec<PyVersion> = std::fs::read_dir(home.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let xy = name.strip_prefix("python")?.parse().ok()?;
            e.path().join("encodings").is_dir().then_some(xy)
        })
        .collect();
    found.sort();
    found
}

/// Which stdlib the home's Python is: the only one, or `preferred` (the runtime's X.Y) among
/// several. `Err` carries what was found (empty: none).
pub fn stdlib_xy(home: &Path, preferred: Option<PyVersion>) -> Result<PyVersion, Vec<PyVersion>> {
    let found = stdlib_versions(home);
    match (found.as_slice(), preferred) {
        ([one], _) => Ok(*one),
        (many, Some(want)) if many.contains(&want) => Ok(want),
        _ => Err(found),
    }
}

/// The X.Y of a `Py_GetVersion()` string (`3.11.7 (main, …) [GCC]`, `3.13.0rc1`).
pub fn version_xy(version: &str) -> Option<PyVersion> {
    PyVersion::of_full(version.split_whitespace().next().unwrap_or("")).ok()
}

/// A libpython file, read without loading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LibpythonFile {
    #[serde(with = "msty_mlx_contract::os_serde::path")]
    pub path: PathBuf,
    /// The X.Y its SONAME / install id names (`libpython3.11.so.1.0` → `3.11`).
    pub version: Option<PyVersion>,
    /// DT_SONAME (ELF) or LC_ID_DYLIB (Mach-O).
    pub soname: Option<String>,
}

/// Why a libpython file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibpythonProblem {
    Missing,
    Unreadable(String),
    NotSharedLibrary(String),
    /// The loader would crash or fail on it (`is truncated: …`).
    Unloadable(String),
    OtherVersion {
        found: PyVersion,
    },
}

impl fmt::Display for LibpythonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibpythonProblem::Missing => f.write_str("does not exist"),
            LibpythonProblem::Unreadable(e) => write!(f, "cannot be read ({e})"),
            LibpythonProblem::NotSharedLibrary(what) => write!(f, "is not a shared library ({what})"),
            LibpythonProblem::Unloadable(why) => f.write_str(why),
            LibpythonProblem::OtherVersion { found } => write!(f, "is Python {found}"),
        }
    }
}

/// Reads the libpython's headers at `path` (never the whole file) and checks that it is a
/// shared library of Python `xy`.
pub fn inspect(path: &Path, xy: PyVersion) -> Result<LibpythonFile, LibpythonProblem> {
    let kind = library_file::inspect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LibpythonProblem::Missing,
        std::io::ErrorKind::InvalidData => LibpythonProblem::NotSharedLibrary(e.to_string()),
        _ => LibpythonProblem::Unreadable(e.to_string()),
    })?;
    let soname = match kind {
        Kind::Shared { soname } => soname,
        Kind::Other(what) => return Err(LibpythonProblem::NotSharedLibrary(what.into())),
        Kind::Unloadable(why) => return Err(LibpythonProblem::Unloadable(why)),
    };
    let version = soname.as_deref().and_then(soname_xy);
    if let Some(found) = version
        && found != xy
    {
        return Err(LibpythonProblem::OtherVersion { found });
    }
    Ok(LibpythonFile { path: path.to_path_buf(), version, soname })
}

/// `libpython3.11.so.1.0`, `@rpath/libpython3.11.dylib`, `/x/libpython3.11d.so` → `3.11`.
fn soname_xy(soname: &str) -> Option<PyVersion> {
    let name = soname.rsplit('/').next()?;
    let rest = name.strip_prefix("libpython")?;
    let xy: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let xy = xy.trim_end_matches('.');
    xy.split('.').take(2).collect::<Vec<_>>().join(".").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_exactly() {
        let v = |x: &str| x.parse::<PyVersion>().ok();
        assert_eq!(version_xy("3.11.7"), v("3.11"));
        assert_eq!(version_xy("3.11.7 (main, Jan 1 2024) [GCC]"), v("3.11"));
        assert_eq!(version_xy("3.13.0rc1"), v("3.13"));
        assert_ne!(version_xy("3.1.2"), v("3.11"));
        assert_ne!(version_xy("3.110.1"), v("3.11"));
    }

    #[test]
    fn soname_versions() {
        assert_eq!(soname_xy("libpython3.11.so.1.0"), Some(PyVersion::new(3, 11)));
        assert_eq!(soname_xy("@rpath/libpython3.12.dylib"), Some(PyVersion::new(3, 12)));
        assert_eq!(soname_xy("/install/lib/libpython3.10d.so"), Some(PyVersion::new(3, 10)));
        assert_eq!(soname_xy("libfoo.so"), None);
    }

    #[test]
    fn stdlib_detection_prefers_the_runtime_among_several() {
        let dir = crate::test_dir::test_dir("home");
        let home = dir.join("home");
        let (v11, v12) = (PyVersion::new(3, 11), PyVersion::new(3, 12));
        assert_eq!(stdlib_xy(&home, Some(v11)), Err(vec![]));
        std::fs::create_dir_all(home.join("lib/python3.12/encodings")).unwrap();
        std::fs::create_dir_all(home.join("lib/python3.9")).unwrap(); // no encodings: not a stdlib
        assert_eq!(stdlib_xy(&home, Some(v11)).unwrap(), v12);
        std::fs::create_dir_all(home.join("lib/python3.11/encodings")).unwrap();
        assert_eq!(stdlib_xy(&home, Some(v11)).unwrap(), v11);
        assert_eq!(stdlib_xy(&home, None), Err(vec![v11, v12]));
        assert_eq!(stdlib_xy(&home, Some(PyVersion::new(3, 13))), Err(vec![v11, v12]));
    }
}
