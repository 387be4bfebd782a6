//! Installed distributions in `_vendor`: `*.dist-info` directories as pip writes them, read
//! without starting Python (PEP 503 names, core metadata, top_level.txt/RECORD, INSTALLER).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub mod pep508;

/// The PEP 503 name of `name`: lowercase, runs of `-`, `_`, `.` as one `-`. A string that is
/// no valid distribution name (PEP 508: ASCII letters and digits, with `-_.` inside) is
/// returned unchanged: it can then equal no normalised name.
pub fn normalize(name: &str) -> String {
    if !is_valid_name(name) {
        return name.to_string();
    }
    normalized_chars(name).collect()
}

/// `normalize(name) == normalized`, without allocating (a scan of `_vendor` asks it of every
/// entry).
pub fn normalizes_to(name: &str, normalized: &str) -> bool {
    // Equal strings and a name with its normal form both start with the same letter, up to case.
    let first = |s: &str| s.bytes().next().map(|b| b.to_ascii_lowercase());
    if first(name) != first(normalized) {
        return false;
    }
    if !is_valid_name(name) {
        return name == normalized;
    }
    normalized_chars(name).eq(normalized.chars())
}

fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The characters of a valid name's normal form.
fn normalized_chars(name: &str) -> impl Iterator<Item = char> + '_ {
    let bytes = name.as_bytes();
    bytes.iter().enumerate().filter_map(move |(i, &b)| {
        if b.is_ascii_alphanumeric() {
            Some(b.to_ascii_lowercase() as char)
        } else if i > 0 && bytes[i - 1].is_ascii_alphanumeric() {
            Some('-')
        } else {
            None
        }
    })
}

/// The paths (first column) of a RECORD file, read as the CSV it is (RFC 4180 as Python's
/// `csv` module writes it: a field with a comma, quote or line break is quoted, `""` is a
/// quote). Only the first field of each row is kept, so a hand reader is enough (the `csv`
/// crate would be the launcher's only use of it); a test compares it with that crate.
pub fn record_paths(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (field, after) = first_field(rest);
        if !field.is_empty() {
            paths.push(field);
        }
        // Skip the rest of the row (later fields are never quoted across lines in a RECORD's
        // hash and size columns).
        rest = match after.find('\n') {
            Some(end) => &after[end + 1..],
            None => "",
        };
    }
    paths
}

/// The first CSV field of `row` and what follows it.
fn first_field(row: &str) -> (String, &str) {
    let Some(quoted) = row.strip_prefix('"') else {
        let end = row.find([',', '\n', '\r']).unwrap_or(row.len());
        return (row[..end].to_string(), &row[end..]);
    };
    let mut field = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            field.push(c);
        } else if quoted[i + 1..].starts_with('"') {
            field.push('"');
            chars.next();
        } else {
            return (field, &quoted[i + 1..]);
        }
    }
    (field, "")
}

/// Core metadata (the `METADATA` file): RFC 822-style headers, folded lines allowed, then an
/// optional body. Only the fields the diagnostics need are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
}

/// Why a METADATA could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// A header line that is neither `Key: value` nor a continuation.
    BadLine { line: usize },
    /// A required field is absent or empty.
    Missing(&'static str),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::BadLine { line } => write!(f, "line {line} is not a `Name: value` header"),
            MetadataError::Missing(field) => write!(f, "no `{field}` field"),
        }
    }
}

impl Metadata {
    /// Reads the headers (the body after the first blank line is the description, never
    /// read), keeping only the fields the diagnostics use.
    pub fn parse(text: &str) -> Result<Metadata, MetadataError> {
        const KEPT: [&str; 4] = ["name", "version", "requires-python", "requires-dist"];
        let mut fields: Vec<(usize, String)> = Vec::new();
        // Whether the previous header is one of ours (a continuation line then belongs to it).
        let mut kept = None;
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                match kept {
                    None if index == 0 => return Err(MetadataError::BadLine { line: 1 }),
                    Some(true) => {
                        if let Some((_, value)) = fields.last_mut() {
                            value.push('\n');
                            value.push_str(line.trim());
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(MetadataError::BadLine { line: index + 1 });
            };
            let key = key.trim();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(MetadataError::BadLine { line: index + 1 });
            }
            let field = KEPT.iter().position(|k| k.eq_ignore_ascii_case(key));
            if let Some(field) = field {
                fields.push((field, value.trim().to_string()));
            }
            kept = Some(field.is_some());
        }
        let first = |field: usize| fields.iter().find(|(f, v)| *f == field && !v.is_empty()).map(|(_, v)| v.clone());
        Ok(Metadata {
            name: first(0).ok_or(MetadataError::Missing("Name"))?,
            version: first(1).ok_or(MetadataError::Missing("Version"))?,
            requires_python: first(2),
            requires_dist: fields.into_iter().filter(|(f, _)| *f == 3).map(|(_, v)| v).collect(),
        })
    }
}

/// One `*.dist-info` directory.
#[derive(Clone, Debug, Serialize)]
pub struct DistInfo {
    /// PEP 503 name, from the directory name (`mlx_lm-0.28.1.dist-info` → `mlx-lm`).
    pub normalized: String,
    #[serde(with = "msty_mlx_contract::os_serde::path")]
    pub path: PathBuf,
}

/// A readable distribution.
#[derive(Clone, Debug, Serialize)]
pub struct Distribution {
    pub package: String,
    pub version: String,
    /// The top-level module's package directory or file (from top_level.txt, else RECORD).
    #[serde(with = "msty_mlx_contract::os_serde::opt_path")]
    pub module_file: Option<PathBuf>,
    #[serde(with = "msty_mlx_contract::os_serde::path")]
    pub dist_info: PathBuf,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
    pub installer: Option<String>,
}

/// Why a distribution could not be described.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DistError {
    NotFound {
        package: String,
        #[serde(with = "msty_mlx_contract::os_serde::path")]
        searched: PathBuf,
    },
    Duplicate {
        package: String,
        #[serde(serialize_with = "paths")]
        dist_infos: Vec<PathBuf>,
    },
    Unreadable {
        package: String,
        #[serde(with = "msty_mlx_contract::os_serde::path")]
        file: PathBuf,
        reason: String,
    },
    Malformed {
        package: String,
        #[serde(with = "msty_mlx_contract::os_serde::path")]
        file: PathBuf,
        reason: String,
    },
}

fn paths<S: serde::Serializer>(value: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    let names: Vec<std::ffi::OsString> = value.iter().map(|p| p.clone().into_os_string()).collect();
    msty_mlx_contract::os_serde::strings::serialize(&names, s)
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistError::NotFound { package, searched } => {
                write!(f, "package `{package}` is not installed in `{}`", searched.display())
            }
            DistError::Duplicate { package, dist_infos } => {
                let list: Vec<String> = dist_infos.iter().map(|p| format!("`{}`", p.display())).collect();
                write!(f, "package `{package}` is installed more than once: {}", list.join(" and "))
            }
            DistError::Unreadable { file, reason, .. } => write!(f, "cannot read `{}`: {reason}", file.display()),
            DistError::Malformed { file, reason, .. } => write!(f, "malformed `{}`: {reason}", file.display()),
        }
    }
}

/// All dist-info directories of a site directory, grouped by normalised name.
#[derive(Clone, Debug, Default)]
pub struct SiteDir {
    pub path: PathBuf,
    pub by_name: BTreeMap<String, Vec<PathBuf>>,
}

impl SiteDir {
    /// Lists `dir` once; a missing directory is an empty site.
    pub fn scan(dir: &Path) -> SiteDir {
        Self::scan_where(dir, |name| Some(normalize(name)))
    }

    /// Lists `dir` once, keeping only the projects whose normalised name is in `wanted`: one
    /// `--pkg-info` answer needs no map of every distribution (a `_vendor` with 5 000
    /// dist-infos: 13.3 ms that way, 8.2 ms this way, mostly the kernel hashing the directory;
    /// `cargo bench --bench perf -- --only P7`).
    pub fn scan_for(dir: &Path, wanted: &[String]) -> SiteDir {
        Self::scan_where(dir, |name| wanted.iter().find(|w| normalizes_to(name, w)).cloned())
    }

    /// `keep` gives the normalised name of an entry's project when it is to be kept.
    fn scan_where(dir: &Path, keep: impl Fn(&str) -> Option<String>) -> SiteDir {
        let mut by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let file_name = entry.file_name();
            // Most entries are packages: the suffix is checked on the bytes, before UTF-8.
            if !file_name.as_encoded_bytes().ends_with(b".dist-info") {
                continue;
            }
            let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".dist-info")) else { continue };
            // `{name}-{version}`: names are escaped with `_`, so the first `-` ends the name.
            let name = stem.split_once('-').map_or(stem, |(name, _)| name);
            if let Some(normalized) = keep(name) {
                by_name.entry(normalized).or_default().push(entry.path());
            }
        }
        for paths in by_name.values_mut() {
            paths.sort();
        }
        SiteDir { path: dir.to_path_buf(), by_name }
    }

    /// Projects with more than one dist-info.
    pub fn duplicates(&self) -> impl Iterator<Item = (&String, &Vec<PathBuf>)> {
        self.by_name.iter().filter(|(_, paths)| paths.len() > 1)
    }

    /// Reads one distribution by any spelling of its name.
    pub fn distribution(&self, name: &str) -> Result<Distribution, DistError> {
        let (dist_info, metadata) = self.metadata(name)?;
        let installer = fs::read_to_string(dist_info.join("INSTALLER"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Ok(Distribution {
            module_file: module_file(&self.path, &dist_info, &metadata.name),
            package: metadata.name,
            version: metadata.version,
            dist_info,
            requires_python: metadata.requires_python,
            requires_dist: metadata.requires_dist,
            installer,
        })
    }

    /// One distribution's dist-info directory and METADATA, and nothing else of it (what
    /// `--mlx-info` needs of each backend: its version), with [`SiteDir::distribution`]'s
    /// errors.
    pub fn metadata(&self, name: &str) -> Result<(PathBuf, Metadata), DistError> {
        let package = normalize(name);
        let paths = self
            .by_name
            .get(&package)
            .ok_or_else(|| DistError::NotFound { package: name.to_string(), searched: self.path.clone() })?;
        if paths.len() > 1 {
            return Err(DistError::Duplicate { package, dist_infos: paths.clone() });
        }
        let dist_info = &paths[0];
        let file = dist_info.join("METADATA");
        let bytes = fs::read(&file).map_err(|e| DistError::Unreadable {
            package: package.clone(),
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let malformed = |reason: String| DistError::Malformed { package: package.clone(), file: file.clone(), reason };
        let text = std::str::from_utf8(&bytes).map_err(|e| malformed(format!("not UTF-8 ({e})")))?;
        let metadata = Metadata::parse(text).map_err(|e| malformed(e.to_string()))?;
        Ok((dist_info.clone(), metadata))
    }
}

/// The installed top-level module: a package directory, a module file or an extension.
fn module_file(site: &Path, dist_info: &Path, name: &str) -> Option<PathBuf> {
    let mut tops: Vec<String> = fs::read_to_string(dist_info.join("top_level.txt"))
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    if tops.is_empty() {
        let record = fs::read_to_string(dist_info.join("RECORD")).unwrap_or_default();
        for path in record_paths(&record) {
            let path = path.as_str();
            let Some(first) = path.split('/').next() else { continue };
            if first.is_empty()
                || first.ends_with(".dist-info")
                || first.ends_with(".data")
                || first == ".."
                || first == "bin"
            {
                continue;
            }
            let top = first.split('.').next().unwrap_or(first).to_string();
            if !tops.contains(&top)
                && (path.contains('/') || path.ends_with(".py") || path.contains(".so") || path.ends_with(".pyd"))
            {
                tops.push(top);
            }
        }
    }
    // Prefer the module named like the project (mlx_lm for mlx-lm), else the first listed.
    let wanted = normalize(name).replace('-', "_");
    tops.sort_by_key(|t| normalize(t).replace('-', "_") != wanted);
    tops.iter().find_map(|top| locate_module(site, top))
}

fn locate_module(site: &Path, top: &str) -> Option<PathBuf> {
    let dir = site.join(top);
    if dir.is_dir() {
        return Some(dir);
    }
    let file = site.join(format!("{top}.py"));
    if file.is_file() {
        return Some(file);
    }
    // Extension modules: `top.cpython-311-x86_64-linux-gnu.so`, `top.abi3.so`, `top.so`.
    fs::read_dir(site).ok()?.flatten().map(|e| e.path()).find(|p| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.strip_prefix(top)
                .is_some_and(|rest| rest.starts_with('.') && (rest.ends_with(".so") || rest.ends_with(".pyd")))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_paths_agree_with_a_csv_reader() {
        let text =
            "a/b.py,sha256=x,10\n\"c,d.py\",sha256=y,2\r\n\"say \"\"hi\"\".txt\",,\n\n,,\nlast.dist-info/RECORD,,";
        let expected: Vec<String> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .filter_map(|row| row.ok()?.get(0).map(String::from))
            .filter(|path| !path.is_empty())
            .collect();
        assert_eq!(record_paths(text), expected);
        assert_eq!(record_paths(text), ["a/b.py", "c,d.py", "say \"hi\".txt", "last.dist-info/RECORD"]);
        assert_eq!(record_paths("\"unterminated"), ["unterminated"]);
    }

    #[test]
    fn pep503_names() {
        for spelling in ["mlx_lm", "mlx-lm", "MLX.LM", "mlx__-.lm", "Mlx-Lm"] {
            assert_eq!(normalize(spelling), "mlx-lm", "{spelling}");
            assert!(normalizes_to(spelling, "mlx-lm") && !normalizes_to(spelling, "mlx"), "{spelling}");
        }
        assert_eq!(normalize("mlx"), "mlx");
        assert_eq!(normalize("Jinja2"), "jinja2");
        // Not distribution names: kept as they are, so they match no normalised name.
        for invalid in ["-leading_", "ÄB.c", "has space", ""] {
            assert_eq!(normalize(invalid), invalid);
        }
    }

    #[test]
    fn record_is_csv() {
        let text = "mlxk2/__init__.py,sha256=abc,12\n\"odd,name.py\",sha256=def,3\nmlx_knife-1.dist-info/RECORD,,\n\n";
        assert_eq!(record_paths(text), ["mlxk2/__init__.py", "odd,name.py", "mlx_knife-1.dist-info/RECORD"]);
    }

    #[test]
    fn metadata_fields_and_folding() {
        let text = "Metadata-Version: 2.1\nName: mlx-lm\nVersion: 0.28.1\nRequires-Python: >=3.9\nRequires-Dist: mlx>=0.29.0; platform_system == \"Darwin\"\nRequires-Dist: numpy\nSummary: a\n  folded summary\n\nRequires-Dist: not-a-header-in-body\n";
        let m = Metadata::parse(text).unwrap();
        assert_eq!(m.name, "mlx-lm");
        assert_eq!(m.version, "0.28.1");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.9"));
        assert_eq!(m.requires_dist, ["mlx>=0.29.0; platform_system == \"Darwin\"", "numpy"]);
    }

    #[test]
    fn malformed_metadata_is_an_error() {
        assert_eq!(Metadata::parse("garbage without colon\n"), Err(MetadataError::BadLine { line: 1 }));
        assert_eq!(Metadata::parse(" continuation first\n"), Err(MetadataError::BadLine { line: 1 }));
        assert_eq!(Metadata::parse("Name: x\n"), Err(MetadataError::Missing("Version")));
        assert_eq!(Metadata::parse("Version: 1\nName:\n"), Err(MetadataError::Missing("Name")));
        assert_eq!(Metadata::parse(""), Err(MetadataError::Missing("Name")));
        assert_eq!(Metadata::parse("Na me: x\n"), Err(MetadataError::BadLine { line: 1 }));
    }
}
