//! Paths and environment strings in JSON, byte-exact.
//!
//! Unix paths are bytes. A path that is valid UTF-8 is written as a JSON string; one that is not
//! (a bundle under a non-UTF-8 directory name) as `{"bytes": [..]}`, so the launch plan crosses
//! the C boundary unchanged and `--python-info` never fails or lies about such a path.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

fn repr(value: &OsStr) -> Repr {
    match value.to_str() {
        Some(text) => Repr::Text(text.to_string()),
        None => Repr::Bytes { bytes: value.as_bytes().to_vec() },
    }
}

fn unrepr(repr: Repr) -> OsString {
    match repr {
        Repr::Text(text) => text.into(),
        Repr::Bytes { bytes } => OsString::from_vec(bytes),
    }
}

/// A JSON value for `value`, as the serializers below write it.
pub fn to_json(value: &OsStr) -> serde_json::Value {
    serde_json::to_value(repr(value)).unwrap_or(serde_json::Value::Null)
}

/// `#[serde(with = "os_serde::path")]`
pub mod path {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Path, s: S) -> Result<S::Ok, S::Error> {
        repr(value.as_os_str()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(unrepr(Repr::deserialize(d)?).into())
    }
}

/// `#[serde(with = "os_serde::opt_path")]`
pub mod opt_path {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        value.as_deref().map(|p| repr(p.as_os_str())).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Ok(Option::<Repr>::deserialize(d)?.map(|r| unrepr(r).into()))
    }
}

/// `#[serde(with = "os_serde::strings")]` for a list of names.
pub mod strings {
    use super::*;

    pub fn serialize<S: Serializer>(value: &[OsString], s: S) -> Result<S::Ok, S::Error> {
        value.iter().map(|v| repr(v)).collect::<Vec<_>>().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OsString>, D::Error> {
        Ok(Vec::<Repr>::deserialize(d)?.into_iter().map(unrepr).collect())
    }
}

/// `#[serde(with = "os_serde::pairs")]` for `NAME=value` settings, as a JSON object (names are
/// environment variable names: UTF-8 by construction here, checked on the way in).
pub mod pairs {
    use super::*;

    pub fn serialize<S: Serializer>(value: &[(OsString, OsString)], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(value.len()))?;
        for (k, v) in value {
            map.serialize_entry(&k.to_string_lossy(), &repr(v))?;
        }
        map.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(OsString, OsString)>, D::Error> {
        let map = serde_json::Map::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| Ok((OsString::from(k), unrepr(Repr::deserialize(v).map_err(D::Error::custom)?))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Sample {
        #[serde(with = "path")]
        p: PathBuf,
        #[serde(with = "opt_path")]
        o: Option<PathBuf>,
        #[serde(with = "pairs")]
        env: Vec<(OsString, OsString)>,
    }

    #[test]
    fn non_utf8_round_trips() {
        let odd = PathBuf::from(OsString::from_vec(b"/tmp/caf\xe9/x".to_vec()));
        let sample =
            Sample { p: odd.clone(), o: Some("/ok".into()), env: vec![("PYTHONPATH".into(), odd.clone().into())] };
        let text = serde_json::to_string(&sample).unwrap();
        assert!(text.contains(r#""o":"/ok""#), "{text}");
        assert!(text.contains(r#""p":{"bytes":[47,"#), "{text}");
        assert_eq!(serde_json::from_str::<Sample>(&text).unwrap(), sample);
        assert_eq!(to_json(OsStr::new("/a")), serde_json::json!("/a"));
    }
}
