//! What the chosen Python home holds: the X.Y of its standard library and its libpython file.
//!
//! The X.Y comes from `<home>/lib/python3.X/encodings` (the stdlib CPython will import first),
//! never from running anything. The libpython is `<home>/lib/libpython3.X.so.1.0` (`.dylib` on
//! macOS), opened later by absolute path; `inspect` reads its header and SONAME / install id
//! without loading it, for `--python-info`.

use std::fmt;
use std::path::{Path, PathBuf};

use goblin::Object;
use serde::Serialize;

/// `<home>/lib/python3.X`.
pub fn stdlib_dir(home: &Path, xy: &str) -> PathBuf {
    home.join("lib").join(format!("python{xy}"))
}

/// `<home>/lib/libpython3.X.so.1.0` / `.dylib`.
pub fn libpython_path(home: &Path, xy: &str) -> PathBuf {
    home.join("lib").join(libpython_file_name(xy))
}

pub fn libpython_file_name(xy: &str) -> String {
    if cfg!(target_os = "macos") { format!("libpython{xy}.dylib") } else { format!("libpython{xy}.so.1.0") }
}

/// Every X.Y with a stdlib (`lib/python3.X/encodings`) under `home`, sorted.
pub fn stdlib_versions(home: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(home.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let xy = name.strip_prefix("python")?;
            (crate::runtime_stamp::is_xy(xy) && e.path().join("encodings").is_dir()).then(|| xy.to_string())
        })
        .collect();
    found.sort_by_key(|xy| xy.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>());
    found
}

/// Which stdlib the home's Python is: the only one, or `preferred` (the runtime's X.Y) among
/// several. `Err` carries what was found (empty: none).
pub fn stdlib_xy(home: &Path, preferred: Option<&str>) -> Result<String, Vec<String>> {
    let found = stdlib_versions(home);
    match (found.as_slice(), preferred) {
        ([one], _) => Ok(one.clone()),
        (many, Some(want)) if many.iter().any(|v| v == want) => Ok(want.to_string()),
        _ => Err(found),
    }
}

/// `version` (`3.11.7`, `3.11.7+`, `3.13.0rc1 (main, …)`) is of Python `xy`.
pub fn is_same_minor(version: &str, xy: &str) -> bool {
    let version = version.split_whitespace().next().unwrap_or("");
    version == xy || version.strip_prefix(xy).is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The X.Y of a `Py_GetVersion()` string.
pub fn minor_of(version: &str) -> String {
    let first = version.split_whitespace().next().unwrap_or("");
    let mut parts = first.split('.');
    let major = parts.next().unwrap_or("");
    let minor: String = parts.next().unwrap_or("").chars().take_while(char::is_ascii_digit).collect();
    format!("{major}.{minor}")
}

/// A libpython file, read without loading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LibpythonFile {
    #[serde(with = "crate::os_serde::path")]
    pub path: PathBuf,
    /// The X.Y its SONAME / install id names (`libpython3.11.so.1.0` → `3.11`).
    pub version: Option<String>,
    /// DT_SONAME (ELF) or LC_ID_DYLIB (Mach-O).
    pub soname: Option<String>,
}

/// Why a libpython file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibpythonProblem {
    Missing,
    Unreadable(String),
    NotSharedLibrary(String),
    OtherVersion { found: String },
}

impl fmt::Display for LibpythonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibpythonProblem::Missing => f.write_str("does not exist"),
            LibpythonProblem::Unreadable(e) => write!(f, "cannot be read ({e})"),
            LibpythonProblem::NotSharedLibrary(what) => write!(f, "is not a shared library ({what})"),
            LibpythonProblem::OtherVersion { found } => write!(f, "is Python {found}"),
        }
    }
}

/// Reads the libpython at `path` and checks that it is a shared library of Python `xy`.
pub fn inspect(path: &Path, xy: &str) -> Result<LibpythonFile, LibpythonProblem> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LibpythonProblem::Missing,
        _ => LibpythonProblem::Unreadable(e.to_string()),
    })?;
    let soname = match Object::parse(&bytes) {
        Ok(Object::Elf(elf)) if elf.is_lib => elf.soname.map(String::from),
        Ok(Object::Elf(_)) => return Err(LibpythonProblem::NotSharedLibrary("an ELF executable".into())),
        Ok(Object::Mach(goblin::mach::Mach::Binary(m))) if m.header.filetype == goblin::mach::header::MH_DYLIB => m.name.map(String::from),
        Ok(Object::Mach(goblin::mach::Mach::Fat(fat))) => fat_dylib_id(&fat, &bytes)?,
        Ok(Object::Mach(_)) => return Err(LibpythonProblem::NotSharedLibrary("a Mach-O file that is not a dylib".into())),
        Ok(_) => return Err(LibpythonProblem::NotSharedLibrary("neither ELF nor Mach-O".into())),
        Err(e) => return Err(LibpythonProblem::NotSharedLibrary(e.to_string())),
    };
    let version = soname.as_deref().and_then(soname_xy);
    if let Some(found) = &version
        && found != xy
    {
        return Err(LibpythonProblem::OtherVersion { found: found.clone() });
    }
    Ok(LibpythonFile { path: path.to_path_buf(), version, soname })
}

/// The install id of the first dylib slice of a universal binary.
fn fat_dylib_id(fat: &goblin::mach::MultiArch, bytes: &[u8]) -> Result<Option<String>, LibpythonProblem> {
    for arch in fat.iter_arches().flatten() {
        let start = arch.offset as usize;
        let Some(slice) = bytes.get(start..start.saturating_add(arch.size as usize)) else { continue };
        if let Ok(m) = goblin::mach::MachO::parse(slice, 0)
            && m.header.filetype == goblin::mach::header::MH_DYLIB
        {
            return Ok(m.name.map(String::from));
        }
    }
    Err(LibpythonProblem::NotSharedLibrary("a universal binary without a dylib slice".into()))
}

/// `libpython3.11.so.1.0`, `@rpath/libpython3.11.dylib`, `/x/libpython3.11d.so` → `3.11`.
fn soname_xy(soname: &str) -> Option<String> {
    let name = soname.rsplit('/').next()?;
    let rest = name.strip_prefix("libpython")?;
    let xy: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let xy = xy.trim_end_matches('.');
    let xy = xy.split('.').take(2).collect::<Vec<_>>().join(".");
    crate::runtime_stamp::is_xy(&xy).then_some(xy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_exactly() {
        assert!(is_same_minor("3.11.7", "3.11"));
        assert!(is_same_minor("3.11.7 (main, Jan 1 2024) [GCC]", "3.11"));
        assert!(is_same_minor("3.11", "3.11"));
        assert!(is_same_minor("3.13.0rc1", "3.13"));
        assert!(!is_same_minor("3.1.2", "3.11"));
        assert!(!is_same_minor("3.110.1", "3.11"));
        assert!(!is_same_minor("3.12.1", "3.11"));
        assert_eq!(minor_of("3.12.1 (main, …)"), "3.12");
        assert_eq!(minor_of("3.13.0rc1"), "3.13");
    }

    #[test]
    fn soname_versions() {
        assert_eq!(soname_xy("libpython3.11.so.1.0").as_deref(), Some("3.11"));
        assert_eq!(soname_xy("@rpath/libpython3.12.dylib").as_deref(), Some("3.12"));
        assert_eq!(soname_xy("/install/lib/libpython3.10d.so").as_deref(), Some("3.10"));
        assert_eq!(soname_xy("libfoo.so"), None);
    }

    #[test]
    fn stdlib_detection_prefers_the_runtime_among_several() {
        let home = std::env::temp_dir().join(format!("mlxk2-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        assert_eq!(stdlib_xy(&home, Some("3.11")), Err(vec![]));
        std::fs::create_dir_all(home.join("lib/python3.12/encodings")).unwrap();
        std::fs::create_dir_all(home.join("lib/python3.9")).unwrap(); // no encodings: not a stdlib
        assert_eq!(stdlib_xy(&home, Some("3.11")).unwrap(), "3.12");
        std::fs::create_dir_all(home.join("lib/python3.11/encodings")).unwrap();
        assert_eq!(stdlib_xy(&home, Some("3.11")).unwrap(), "3.11");
        assert_eq!(stdlib_xy(&home, None), Err(vec!["3.11".to_string(), "3.12".to_string()]));
        assert_eq!(stdlib_xy(&home, Some("3.13")), Err(vec!["3.11".to_string(), "3.12".to_string()]));
        std::fs::remove_dir_all(&home).unwrap();
    }
}
