//! A Python X.Y (`3.11`): the one type for "which CPython", and every name derived from it
//! (ABI tag, pyc tag, stdlib directory, libpython file), so each is spelled in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CPython feature version. Serialized as the string `"3.11"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyVersion {
    pub major: u8,
    pub minor: u8,
}

/// Text that is not `X.Y` (one to three digits each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotXy(pub String);

impl fmt::Display for NotXy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a Python X.Y version such as 3.12", self.0)
    }
}

impl std::error::Error for NotXy {}

impl PyVersion {
    pub const fn new(major: u8, minor: u8) -> PyVersion {
        PyVersion { major, minor }
    }

    /// The X.Y of a full version (`3.11.7`, `3.13.0rc1`): its first two numeric components.
    pub fn of_full(version: &str) -> Result<PyVersion, NotXy> {
        let mut parts = version.split('.');
        let major = parts.next().unwrap_or_default();
        let minor: String = parts.next().unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
        format!("{major}.{minor}").parse().map_err(|_| NotXy(version.to_string()))
    }

    /// `cp311`: the wheel ABI tag.
    pub fn abi_tag(self) -> String {
        format!("cp{}{}", self.major, self.minor)
    }

    /// `cpython-311`: `sys.implementation.cache_tag`, in pyc file names.
    pub fn cache_tag(self) -> String {
        format!("cpython-{}{}", self.major, self.minor)
    }

    /// `python3.11`: the stdlib directory under `<home>/lib`.
    pub fn stdlib_dir_name(self) -> String {
        format!("python{self}")
    }

    /// `libpython3.11.so.1.0` (Linux) or `libpython3.11.dylib` (macOS), for the OS this is
    /// built for.
    pub fn libpython_file_name(self) -> String {
        if cfg!(target_os = "macos") { format!("libpython{self}.dylib") } else { format!("libpython{self}.so.1.0") }
    }

    /// 3.11 and later have `PyConfig.safe_path`.
    pub fn has_safe_path(self) -> bool {
        self >= PyVersion::new(3, 11)
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for PyVersion {
    type Err = NotXy;

    fn from_str(text: &str) -> Result<PyVersion, NotXy> {
        let bad = || NotXy(text.to_string());
        let (major, minor) = text.split_once('.').ok_or_else(bad)?;
        let number = |p: &str| -> Result<u8, NotXy> {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        Ok(PyVersion { major: number(major)?, minor: number(minor)? })
    }
}

impl PartialEq<&str> for PyVersion {
    fn eq(&self, other: &&str) -> bool {
        other.parse::<PyVersion>().is_ok_and(|v| v == *self)
    }
}

impl Serialize for PyVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PyVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PyVersion, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_x_dot_y() {
        assert_eq!("3.11".parse(), Ok(PyVersion::new(3, 11)));
        assert_eq!("3.9".parse(), Ok(PyVersion::new(3, 9)));
        for bad in ["3.11.2", "3.", "x.y", "3", "", "3.1111", ".3"] {
            assert!(bad.parse::<PyVersion>().is_err(), "{bad}");
        }
        assert_eq!(PyVersion::of_full("3.13.0rc1"), Ok(PyVersion::new(3, 13)));
        assert_eq!(PyVersion::of_full("3.12"), Ok(PyVersion::new(3, 12)));
        assert!(PyVersion::of_full("three").is_err());
    }

    #[test]
    fn derived_names() {
        let v = PyVersion::new(3, 12);
        assert_eq!(
            (v.abi_tag(), v.cache_tag(), v.stdlib_dir_name()),
            ("cp312".into(), "cpython-312".into(), "python3.12".into())
        );
        assert!(v.has_safe_path() && !PyVersion::new(3, 10).has_safe_path());
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"3.12\"");
        assert_eq!(serde_json::from_str::<PyVersion>("\"3.12\"").unwrap(), v);
        assert!(serde_json::from_str::<PyVersion>("\"3.12.1\"").is_err());
    }
}
