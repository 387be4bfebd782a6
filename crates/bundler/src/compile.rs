//! Precompiling `_vendor` to unchecked hash-based pycs, with a CPython of the target X.Y that
//! runs here (pyc files do not depend on the platform). Without one, the bundle ships no pycs
//! and the launcher keeps them in the per-user cache.
//!
//! Compiled pycs are kept in `~/.cache/msty-mlx-studio/bytecode/<cache tag>-<magic>/` under the
//! sha256 of their source: an unchecked hash-based pyc is a function of the source bytes and
//! the interpreter's magic number alone (the file name inside is replaced at import), so a
//! rebuild links them instead of compiling the same 8000 files again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use fs_err as fs;

use super::find_on_path;
use super::mode::Mode;
use msty_mlx_contract::python::PyVersion;

/// What the bundle ships as bytecode.
#[derive(Clone, Debug)]
pub enum Bytecode {
    /// Unchecked hash-based pycs, compiled by `python` (`how` it was found).
    UncheckedHash { python: PathBuf, how: String },
    /// None: the launcher keeps pycs in the per-user cache; `why` there is no compiler here.
    None { why: String },
}

/// The manifest's `bytecode`: `unchecked-hash` or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BytecodeMode {
    UncheckedHash,
    None,
}

impl Bytecode {
    pub fn mode(&self) -> BytecodeMode {
        match self {
            Bytecode::UncheckedHash { .. } => BytecodeMode::UncheckedHash,
            Bytecode::None { .. } => BytecodeMode::None,
        }
    }
}

/// The summary's `bytecode:` line.
impl std::fmt::Display for Bytecode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bytecode::UncheckedHash { python, how } => {
                write!(f, "unchecked-hash pycs, compiled with `{}` ({how})", python.display())
            }
            Bytecode::None { why } => {
                write!(f, "none in the bundle: {why}; the launcher keeps them in the per-user cache")
            }
        }
    }
}

/// The interpreter that compiles the bytecode, or why there is none.
pub fn compiler(mode: &Mode, xy: PyVersion) -> Result<(PathBuf, String), String> {
    if let Mode::Embedded { python } = mode {
        return Ok((python.clone(), "the interpreter".into()));
    }
    // Wheels-only never executes --python: a host CPython of the same X.Y does the same job.
    let name = format!("python{xy}");
    let root = pyenv_root();
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    if let Some(p) = find_on_path(&name) {
        candidates.push((p, format!("{name} on PATH")));
    }
    if let Some(root) = &root {
        let mut versions: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.strip_prefix(&xy.to_string()).is_some_and(|rest| rest.starts_with('.')))
            })
            .collect();
        versions.sort_by_key(|p| std::cmp::Reverse(patch_of(p)));
        candidates.extend(versions.into_iter().map(|v| (v.join("bin").join(&name), format!("pyenv {}", v.display()))));
    }
    for (python, how) in candidates {
        if python.is_file() && is_cpython(&python, xy) {
            return Ok((python, how));
        }
    }
    let pyenv = root.map(|r| format!(", {}/versions/{xy}.*/bin/{name}", r.display())).unwrap_or_default();
    Err(format!("no CPython {xy} on this machine (looked for {name} on PATH{pyenv})"))
}

fn patch_of(version_dir: &Path) -> u64 {
    version_dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit('.').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// `$PYENV_ROOT`, else `pyenv root`, else `~/.pyenv`.
fn pyenv_root() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("PYENV_ROOT") {
        return Some(root.into());
    }
    if let Some(pyenv) = find_on_path("pyenv")
        && let Ok(out) = Command::new(pyenv).arg("root").output()
        && out.status.success()
    {
        return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    dirs::home_dir().map(|h| h.join(".pyenv"))
}

/// The pyc format is CPython's and X.Y's: another implementation or version will not do.
fn is_cpython(python: &Path, xy: PyVersion) -> bool {
    Command::new(python)
        .args(["-I", "-c", "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"])
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == format!("cpython {xy}"))
}

/// What [`compile`] did.
#[derive(Debug, Default)]
pub struct Compiled {
    pub reused: usize,
    pub compiled: usize,
    /// Sources that do not compile (e.g. Python 2 test data); never imported, left without pyc.
    pub failed: usize,
}

/// Unchecked hash-based pycs for every `.py` under `vendor`: reused from the bytecode cache
/// where it has them, the rest compiled with `python` (one `compileall` per core) and cached.
pub fn compile(python: &Path, vendor: &Path, cache_root: Option<&Path>) -> Result<Compiled> {
    let (tag, magic) = identity(python)?;
    let cache = cache_root.map(|root| root.join(format!("{tag}-{magic}")));
    let mut sources = Vec::new();
    python_sources(vendor, &mut sources);
    let mut done = Compiled::default();
    let mut missing: Vec<(PathBuf, PathBuf, Option<PathBuf>)> = Vec::new();
    for source in sources {
        let pyc = pyc_path(&source, &tag);
        let entry = match &cache {
            Some(cache) => {
                let digest = crate::digest::sha256_hex(&fs::read(&source)?);
                Some(cache.join(&digest[..2]).join(format!("{digest}.pyc")))
            }
            None => None,
        };
        if let Some(entry) = entry.as_ref().filter(|e| e.is_file()) {
            fs::create_dir_all(pyc.parent().unwrap_or(vendor))?;
            link_or_copy(entry, &pyc)?;
            done.reused += 1;
        } else {
            missing.push((source, pyc, entry));
        }
    }
    run_compileall(python, &missing.iter().map(|(source, _, _)| source.as_path()).collect::<Vec<_>>())?;
    for (_, pyc, entry) in &missing {
        if !pyc.is_file() {
            done.failed += 1;
            continue;
        }
        done.compiled += 1;
        if let Some(entry) = entry {
            // Into the cache by link and rename: concurrent builds never see half an entry.
            fs::create_dir_all(entry.parent().unwrap_or(Path::new(".")))?;
            let tmp = entry.with_extension(format!("tmp-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            link_or_copy(pyc, &tmp)?;
            fs::rename(&tmp, entry)?;
        }
    }
    Ok(done)
}

/// `sys.implementation.cache_tag` and the pyc magic number (hex) of `python`.
fn identity(python: &Path) -> Result<(String, String)> {
    let out = Command::new(python)
        .args([
            "-I",
            "-c",
            "import sys, importlib.util; print(sys.implementation.cache_tag, importlib.util.MAGIC_NUMBER.hex())",
        ])
        .output()
        .with_context(|| format!("cannot run `{}`", python.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().collect::<Vec<_>>()[..] {
        [tag, magic] if out.status.success() => Ok((tag.to_string(), magic.to_string())),
        _ => bail!(
            "`{}` did not tell its bytecode cache tag: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Every `.py` file under `dir` (not inside `__pycache__`), sorted.
fn python_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() && entry.file_name() != "__pycache__" => python_sources(&path, out),
            Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "py") => out.push(path),
            _ => {}
        }
    }
}

/// `dir/__pycache__/<stem>.<tag>.pyc`, where CPython looks for the pyc of `dir/<stem>.py`.
fn pyc_path(source: &Path, tag: &str) -> PathBuf {
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    source.with_file_name("__pycache__").join(format!("{stem}.{tag}.pyc"))
}

/// A hard link (same filesystem), else a copy. Nothing in the bundler writes into an existing
/// file, so a linked pyc is never changed under the cache.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        fs::copy(from, to)?;
    }
    Ok(())
}

/// `compileall -i -` over `files`, dealt out to one process per core (round robin: neighbours
/// in a package tend to be alike in size).
fn run_compileall(python: &Path, files: &[&Path]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let processes = cores.min(files.len().div_ceil(64)).max(1);
    let mut lists = vec![Vec::new(); processes];
    for (i, file) in files.iter().enumerate() {
        lists[i % processes].extend_from_slice(file.as_os_str().as_encoded_bytes());
        lists[i % processes].push(b'\n');
    }
    let mut children = Vec::new();
    for list in lists {
        let mut child = Command::new(python)
            .args(["-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-i", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run compileall with `{}`", python.display()))?;
        // compileall exits non-zero for files that do not compile; they are counted afterwards.
        child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(&list))
            .transpose()
            .context("cannot pass compileall its file list")?;
        children.push(child);
    }
    for mut child in children {
        child.wait().context("cannot wait for compileall")?;
    }
    Ok(())
}
