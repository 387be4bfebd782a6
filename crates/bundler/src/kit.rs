//! Launcher kits: the launcher and its runtimes, built once at release, as plain files on disk
//! with a manifest (`kit-manifest.json`) and `SHA256SUMS`. The bundler chooses the files for
//! one target and Python X.Y from a kit and checks each against both lists and its stamp before
//! it copies them; it never compiles instead.
//!
//! ```text
//! <kit>/kit-manifest.json   format, version, git commit, plan format; per target its files
//! <kit>/SHA256SUMS          `sha256sum -c` format: every file of the kit but itself
//! <kit>/<target>/msty-mlx-studio
//! <kit>/<target>/py3.X/libmsty_mlx_runtime.{so,dylib}
//! ```
//!
//! A target's files are data: each names where it goes in the bundle (`dest`), its role, and
//! the X.Y it is for (none: every X.Y), so a new file beside the launcher is one more entry.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use msty_mlx_contract::plan::{FORMAT, GUARD_FILES};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp::RuntimeStamp;

/// The manifest's file name in a kit.
pub const MANIFEST: &str = "kit-manifest.json";
/// The checksum list's file name in a kit.
pub const SUMS: &str = "SHA256SUMS";
/// The bundle's own manifest (`steps/verified.rs`), a name no kit file may take.
pub const BUNDLE_MANIFEST: &str = "bundle-manifest.json";
/// The manifest format this bundler reads and writes.
pub const KIT_FORMAT: u32 = 1;

/// `kit-manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KitManifest {
    pub kit_format: u32,
    /// The package version the files were built from (`msty_mlx_contract::VERSION`).
    pub version: String,
    /// The git commit they were built from (40 hex digits).
    pub commit: String,
    /// The launch-plan format the launcher writes and every runtime reads.
    pub plan_format: u32,
    /// Sorted by target triple.
    pub targets: Vec<KitTarget>,
}

/// One target's files.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KitTarget {
    /// `aarch64-apple-darwin`, `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// The build machine's triple.
    pub built_on: String,
    /// `cc`, or `rust-lld (ld64) against the libSystem stubs of ziglang 0.17.1 (sha256 …)`.
    pub linker: String,
    /// Sorted by path.
    pub files: Vec<KitFile>,
}

/// What a kit file is to the bundle.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The executable (renamed to `--bin-name` in the bundle).
    Launcher,
    /// The runtime library of one X.Y (stamped).
    Runtime,
    /// Any other file the launcher needs beside it.
    File,
}

/// One file of a target.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KitFile {
    /// In the kit, `/`-separated: `x86_64-unknown-linux-gnu/py3.12/libmsty_mlx_runtime.so`.
    pub path: String,
    /// In the bundle's dist dir, `/`-separated: `libmsty_mlx_runtime.so`.
    pub dest: String,
    pub role: Role,
    /// The X.Y it is for; `None`: every X.Y.
    pub python: Option<PyVersion>,
    /// A runtime's stamp line (`msty-mlx-runtime-stamp:plan=2;python=3.12;version=0.2.0`).
    pub stamp: Option<String>,
    pub sha256: String,
}

/// Why a kit cannot give a bundle its launcher: one line, exit [`crate::exit::BundlerExit::KitRefused`] (3).
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse<T>(text: String) -> Result<T> {
    Err(Refused(text).into())
}

/// An opened kit: its manifest and checksum list, read and cross-checked.
#[derive(Clone, Debug)]
pub struct Kit {
    pub dir: PathBuf,
    pub manifest: KitManifest,
    /// `SHA256SUMS`: path → digest.
    pub sums: BTreeMap<String, String>,
}

/// The files of a kit chosen for one bundle, checked.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub kit: Kit,
    pub target: KitTarget,
    /// The launcher, the runtime for the X.Y, every other file of the target (for this X.Y or
    /// every X.Y), each with the bytes that were checked.
    pub files: Vec<(KitFile, Vec<u8>)>,
}

impl Kit {
    /// Reads `dir`'s manifest and `SHA256SUMS`; the manifest's own digest must be listed.
    pub fn open(dir: &Path) -> Result<Kit> {
        let shown = dir.display();
        let text = match std::fs::read(dir.join(MANIFEST)) {
            Ok(text) => text,
            Err(e) => return refuse(format!("`{shown}` is not a launcher kit: cannot read its {MANIFEST} ({e})")),
        };
        let manifest: KitManifest = match serde_json::from_slice(&text) {
            Ok(m) => m,
            Err(e) => {
                return refuse(format!(
                    "the launcher kit's `{}` is not a kit manifest: {e}",
                    dir.join(MANIFEST).display()
                ));
            }
        };
        if manifest.kit_format != KIT_FORMAT {
            return refuse(format!(
                "the launcher kit `{shown}` has format {}, this bundler reads format {KIT_FORMAT}; install the kit of this bundler's release",
                manifest.kit_format
            ));
        }
        if !is_commit(&manifest.commit) {
            return refuse(format!(
                "the launcher kit's `{}` names commit {:?}, not 40 lower-case hex digits; reinstall the kit",
                dir.join(MANIFEST).display(),
                manifest.commit
            ));
        }
        let sums = match std::fs::read_to_string(dir.join(SUMS)) {
            Ok(text) => parse_sums(&text)
                .map_err(|why| Refused(format!("the launcher kit's `{}` {why}", dir.join(SUMS).display())))?,
            Err(e) => return refuse(format!("the launcher kit `{shown}` has no readable {SUMS} ({e})")),
        };
        let kit = Kit { dir: dir.to_path_buf(), manifest, sums };
        kit.matches(MANIFEST, &sha256_hex(&text))?;
        Ok(kit)
    }

    /// The files for `target` and Python `xy`: one launcher, the runtime stamped for `xy` and
    /// this bundler's plan format, and the target's other files; each read and checked against
    /// the manifest and `SHA256SUMS`.
    pub fn choose(self, target: &str, xy: PyVersion) -> Result<Chosen> {
        let shown = self.dir.display().to_string();
        let Some(t) = self.manifest.targets.iter().find(|t| t.target == target).cloned() else {
            let has: Vec<&str> = self.manifest.targets.iter().map(|t| t.target.as_str()).collect();
            return refuse(format!(
                "the launcher kit `{shown}` has no files for {target} (it has: {}); install a kit that has, or pass --launcher-kit DIR",
                has.join(", ")
            ));
        };
        if self.manifest.plan_format != FORMAT {
            return refuse(format!(
                "the launcher kit `{shown}` is for plan format {}, this bundler's launcher format is {FORMAT}; install the kit of this bundler's release",
                self.manifest.plan_format
            ));
        }
        let wanted: Vec<&KitFile> = t.files.iter().filter(|f| f.python.is_none_or(|p| p == xy)).collect();
        let count = |role: Role| wanted.iter().filter(|f| f.role == role).count();
        if count(Role::Runtime) != 1 {
            let mut has: Vec<String> = t
                .files
                .iter()
                .filter(|f| f.role == Role::Runtime)
                .filter_map(|f| f.python.map(|p| p.to_string()))
                .collect();
            has.sort();
            return refuse(format!(
                "the launcher kit `{shown}` has no runtime for Python {xy} on {target} (it has: {}); use a Python it has, or a kit built for {xy}",
                if has.is_empty() { "none".into() } else { has.join(", ") }
            ));
        }
        if count(Role::Launcher) != 1 || wanted.iter().any(|f| f.role == Role::Launcher && f.python.is_some()) {
            return refuse(format!("the launcher kit `{shown}` does not hold exactly one launcher for {target}"));
        }
        // The served port's guard: the launcher refuses to start without it (docs/security.md).
        if let Some(name) = GUARD_FILES.iter().find(|n| !wanted.iter().any(|f| f.dest == format!("guard/{n}"))) {
            return refuse(format!(
                "the launcher kit `{shown}` has no `guard/{name}` for {target} (the served port's guard the launcher loads); install the kit of this bundler's release"
            ));
        }
        let mut files = Vec::new();
        for file in wanted {
            let bytes = self.read_checked(file)?;
            if file.role == Role::Runtime {
                self.check_stamp(file, &bytes, xy)?;
            }
            files.push((file.clone(), bytes));
        }
        Ok(Chosen { kit: self, target: t, files })
    }

    /// Every file of every target, checked (`kit check`): the number of files.
    pub fn check_all(&self) -> Result<usize> {
        let mut n = 0;
        for t in &self.manifest.targets {
            for file in &t.files {
                let bytes = self.read_checked(file)?;
                if let (Role::Runtime, Some(xy)) = (file.role, file.python) {
                    self.check_stamp(file, &bytes, xy)?;
                }
                n += 1;
            }
        }
        let listed: Vec<&String> = self.sums.keys().filter(|p| p.as_str() != MANIFEST).collect();
        if listed.len() != n {
            return refuse(format!(
                "the launcher kit `{}`: {SUMS} lists {} files, {MANIFEST} {n}",
                self.dir.display(),
                listed.len()
            ));
        }
        Ok(n)
    }

    /// `path` is listed in `SHA256SUMS` with `digest`.
    fn matches(&self, path: &str, digest: &str) -> Result<()> {
        match self.sums.get(path) {
            Some(listed) if listed == digest => Ok(()),
            Some(listed) => refuse(format!(
                "the launcher kit's `{}` does not match its SHA-256 in {SUMS} (listed {listed}, the file has {digest}); reinstall the kit",
                self.dir.join(path).display()
            )),
            None => refuse(format!("the launcher kit `{}`: `{path}` is not listed in {SUMS}", self.dir.display())),
        }
    }

    /// The file's bytes, when their digest is the manifest's and `SHA256SUMS`'s.
    fn read_checked(&self, file: &KitFile) -> Result<Vec<u8>> {
        let path = self.dir.join(relative(&file.path, "path")?);
        relative(&file.dest, "dest")?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                return refuse(format!(
                    "the launcher kit's `{}` cannot be read ({e}); reinstall the kit",
                    path.display()
                ));
            }
        };
        let digest = sha256_hex(&bytes);
        if digest != file.sha256 {
            return refuse(format!(
                "the launcher kit's `{}` does not match its SHA-256 in {MANIFEST} (listed {}, the file has {digest}); reinstall the kit",
                path.display(),
                file.sha256
            ));
        }
        self.matches(&file.path, &digest)?;
        Ok(bytes)
    }

    /// A runtime's stamp, read from its bytes, is the manifest's, for `xy` and this plan format.
    fn check_stamp(&self, file: &KitFile, bytes: &[u8], xy: PyVersion) -> Result<()> {
        let path = self.dir.join(&file.path);
        let found = RuntimeStamp::find(bytes);
        let listed = file.stamp.as_deref().unwrap_or("");
        match found {
            Ok(stamp) if stamp.line() == listed && stamp.python == xy && stamp.plan_format == FORMAT => Ok(()),
            Ok(stamp) => refuse(format!(
                "the launcher kit's runtime `{}` is stamped `{}`; the kit lists `{listed}` and the bundle needs Python {xy}, plan format {FORMAT}",
                path.display(),
                stamp.line()
            )),
            Err(e) => refuse(format!("the launcher kit's runtime `{}` {e}; reinstall the kit", path.display())),
        }
    }
}

impl Chosen {
    /// Where each file goes in the bundle: the launcher as `bin_name`, the runtime as
    /// `runtime_name`, every other file at its `dest`, which must be its own — not one of
    /// those two, not `bundle-manifest.json`, not inside `_vendor` (the installed packages),
    /// not another file's — so what the bundle holds is the bytes that were checked.
    pub fn destinations(&self, bin_name: &str, runtime_name: &str) -> Result<Vec<(String, &KitFile, &[u8])>> {
        let mut out: Vec<(String, &KitFile, &[u8])> = Vec::new();
        for (file, bytes) in &self.files {
            let dest = match file.role {
                Role::Launcher => bin_name.to_string(),
                Role::Runtime => runtime_name.to_string(),
                Role::File => {
                    let reserved = [bin_name, runtime_name, BUNDLE_MANIFEST].contains(&file.dest.as_str())
                        || Path::new(&file.dest).starts_with("_vendor");
                    if reserved {
                        return refuse(format!(
                            "the launcher kit `{}`: `{}` would go to `{}`, which the bundle's launcher, runtime, manifest or `_vendor` holds; a kit file needs a place of its own",
                            self.kit.dir.display(),
                            file.path,
                            file.dest
                        ));
                    }
                    file.dest.clone()
                }
            };
            if let Some((_, other, _)) = out.iter().find(|(d, _, _)| *d == dest) {
                return refuse(format!(
                    "the launcher kit `{}`: `{}` and `{}` both go to `{dest}` in the bundle",
                    self.kit.dir.display(),
                    other.path,
                    file.path
                ));
            }
            out.push((dest, file, bytes));
        }
        Ok(out)
    }
}

/// A full git commit id as kits record it: 40 lower-case hex digits.
pub fn is_commit(text: &str) -> bool {
    is_lower_hex(text, 40)
}

/// `len` lower-case hex digits (a commit id, a SHA-256 as `sha256sum` writes it).
fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A `/`-separated path that stays inside its folder.
pub fn relative<'a>(text: &'a str, what: &str) -> Result<&'a Path> {
    let path = Path::new(text);
    if text.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return refuse(format!("a launcher kit file's {what} `{text}` is not a plain relative path"));
    }
    Ok(path)
}

/// `SHA256SUMS` (`<64 hex>  <path>` or `<64 hex> *<path>` per line) as path → digest.
pub fn parse_sums(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut sums = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let parsed = line.split_once(' ').and_then(|(digest, rest)| {
            let path = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('*'))?;
            (is_lower_hex(digest, 64) && !path.is_empty()).then(|| (path.to_string(), digest.to_string()))
        });
        let Some((path, digest)) = parsed else { return Err(format!("line {} is not `<sha256>  <path>`", n + 1)) };
        if sums.insert(path.clone(), digest).is_some() {
            return Err(format!("lists `{path}` twice"));
        }
    }
    Ok(sums)
}

/// `SHA256SUMS` text for `sums` (sorted by path, as `sha256sum` writes it).
pub fn format_sums(sums: &BTreeMap<String, String>) -> String {
    sums.iter().map(|(path, digest)| format!("{digest}  {path}\n")).collect()
}

/// Where the bundler looks for the kit it was installed with, in order: beside a wheel's
/// scripts (`<prefix>/bin/build-external-python` → `<prefix>/share/msty-mlx-studio/kit`), then
/// beside the executable (`kit/`).
pub fn installed_candidates(exe: &Path) -> Vec<PathBuf> {
    let Some(bin) = exe.parent() else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(prefix) = bin.parent() {
        out.push(prefix.join("share/msty-mlx-studio/kit"));
    }
    out.push(bin.join("kit"));
    out
}

#[cfg(test)]
#[path = "kit_tests.rs"]
mod tests;
