//! Writing a launcher kit (`build-external-python kit add`, run by `packaging/release.sh` and the
//! tests): one target's files copied in, their digests and stamps recorded, the manifest and
//! `SHA256SUMS` rewritten sorted, so the same files give the same bytes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fs_err as fs;

use crate::digest::sha256_hex;
use crate::kit::{self, KIT_FORMAT, KitFile, KitManifest, KitTarget, MANIFEST, Role, SUMS};
use msty_mlx_contract::plan::FORMAT;
use msty_mlx_contract::python::PyVersion;

/// A file to put into a kit.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub source: PathBuf,
    /// Where it goes in a bundle (`/`-separated).
    pub dest: String,
    pub role: Role,
    pub python: Option<PyVersion>,
}

/// The served port's guard (`guard/` of the checkout at `repo`: Python, the same for every
/// target and X.Y) as kit files, each going to `guard/<name>` beside the launcher. `kit build`
/// always adds them; `--from-source` places the same files.
pub fn guard_files(repo: &Path) -> Vec<NewFile> {
    msty_mlx_contract::plan::GUARD_FILES
        .iter()
        .map(|name| NewFile {
            source: repo.join("guard").join(name),
            dest: format!("guard/{name}"),
            role: Role::File,
            python: None,
        })
        .collect()
}

/// One target's files and how they were made.
#[derive(Clone, Debug)]
pub struct NewTarget {
    pub target: String,
    pub built_on: String,
    pub linker: String,
    pub files: Vec<NewFile>,
}

/// Adds (or replaces) `new.target` in the kit at `dir` (created when missing), built from
/// `version` at `commit`.
pub fn add(dir: &Path, new: &NewTarget, version: &str, commit: &str) -> Result<()> {
    if !kit::is_commit(commit) {
        bail!("--commit `{commit}` is not a 40-digit lower-case git commit");
    }
    kit::relative(&new.target, "target")?;
    let mut manifest = match std::fs::read(dir.join(MANIFEST)) {
        Ok(text) => serde_json::from_slice::<KitManifest>(&text)
            .with_context(|| format!("`{}` is not a kit manifest", dir.join(MANIFEST).display()))?,
        Err(_) => KitManifest {
            kit_format: KIT_FORMAT,
            version: version.into(),
            commit: commit.into(),
            plan_format: FORMAT,
            targets: Vec::new(),
        },
    };
    if (manifest.version.as_str(), manifest.commit.as_str()) != (version, commit) {
        bail!(
            "the kit `{}` holds version {} from {}; a kit holds the files of one build (remove it first)",
            dir.display(),
            manifest.version,
            manifest.commit
        );
    }
    let target_dir = dir.join(&new.target);
    let _ = std::fs::remove_dir_all(&target_dir);
    let mut files = Vec::new();
    for file in &new.files {
        files.push(copy_in(dir, &new.target, file)?);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.targets.retain(|t| t.target != new.target);
    manifest.targets.push(KitTarget {
        target: new.target.clone(),
        built_on: new.built_on.clone(),
        linker: new.linker.clone(),
        files,
    });
    manifest.targets.sort_by(|a, b| a.target.cmp(&b.target));
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    fs::write(dir.join(MANIFEST), &text)?;
    let mut sums = BTreeMap::new();
    sums.insert(MANIFEST.to_string(), sha256_hex(text.as_bytes()));
    for file in manifest.targets.iter().flat_map(|t| &t.files) {
        sums.insert(file.path.clone(), file.sha256.clone());
    }
    fs::write(dir.join(SUMS), kit::format_sums(&sums))?;
    Ok(())
}

/// Copies one file to `<target>/[py<X.Y>/]<dest>`, checked for what it claims to be.
fn copy_in(dir: &Path, target: &str, file: &NewFile) -> Result<KitFile> {
    kit::relative(&file.dest, "dest")?;
    let bytes = fs::read(&file.source)?;
    let stamp = match file.role {
        Role::Runtime => {
            let xy = file.python.with_context(|| format!("the runtime `{}` needs its X.Y", file.source.display()))?;
            let stamp = msty_mlx_contract::stamp::RuntimeStamp::find(&bytes)
                .map_err(|e| anyhow::anyhow!("`{}` {e}", file.source.display()))?;
            if stamp.python != xy || stamp.plan_format != FORMAT {
                bail!(
                    "`{}` is stamped `{}`, not for Python {xy} and plan format {FORMAT}",
                    file.source.display(),
                    stamp.line()
                );
            }
            Some(stamp.line())
        }
        Role::Launcher | Role::File => None,
    };
    if matches!(file.role, Role::Launcher | Role::Runtime) {
        let built_for = crate::launcher::binary_target(&file.source, &bytes)?;
        if built_for != target {
            bail!("`{}` is built for {built_for}, not {target}", file.source.display());
        }
    }
    if file.role == Role::Runtime {
        crate::launcher::check_exports(crate::launcher::Candidate { path: &file.source, bytes: &bytes })?;
    }
    let path = match file.python {
        Some(xy) => format!("{target}/py{xy}/{}", file.dest),
        None => format!("{target}/{}", file.dest),
    };
    let to = dir.join(&path);
    fs::create_dir_all(to.parent().unwrap_or(dir))?;
    fs::write(&to, &bytes)?;
    let mode = if file.role == Role::Launcher { 0o755 } else { 0o644 };
    fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
    Ok(KitFile {
        path,
        dest: file.dest.clone(),
        role: file.role,
        python: file.python,
        stamp,
        sha256: sha256_hex(&bytes),
    })
}

/// The files of `kit add`: the launcher, `X.Y=FILE` runtimes and `DEST=FILE` other files, for
/// `target` (its runtime file name).
pub fn files_of(launcher: PathBuf, target: &str, runtimes: &[String], others: &[String]) -> Result<Vec<NewFile>> {
    let runtime_name =
        if target.ends_with("-apple-darwin") { msty_mlx_contract::stamp::DYLIB } else { msty_mlx_contract::stamp::SO };
    let mut files = vec![NewFile {
        source: launcher,
        dest: msty_mlx_contract::LAUNCHER_NAME.into(),
        role: Role::Launcher,
        python: None,
    }];
    for text in runtimes {
        let (xy, source) = key_file(text, "runtime")?;
        let python = Some(xy.parse().map_err(|e| anyhow::anyhow!("--runtime `{text}`: {e}"))?);
        files.push(NewFile { source, dest: runtime_name.into(), role: Role::Runtime, python });
    }
    files.extend(other_files(others)?);
    Ok(files)
}

/// `--file DEST=FILE` options: files for every X.Y.
pub fn other_files(texts: &[String]) -> Result<Vec<NewFile>> {
    texts
        .iter()
        .map(|text| {
            let (dest, source) = key_file(text, "file")?;
            Ok(NewFile { source, dest, role: Role::File, python: None })
        })
        .collect()
}

/// `KEY=FILE`.
fn key_file(text: &str, what: &str) -> Result<(String, PathBuf)> {
    let (key, path) = text.split_once('=').ok_or_else(|| anyhow::anyhow!("--{what} `{text}` is not KEY=FILE"))?;
    Ok((key.to_string(), PathBuf::from(path)))
}
