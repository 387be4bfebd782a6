//! Step 4, launcher placed: the launcher, its runtime and their companion files for the target,
//! in one sequence: choose (the kit's files for this target and X.Y, or a build from source
//! when asked), check (what `launcher::check` demands, on the very bytes the bundle gets),
//! copy (next to `_vendor`); the served port's `guard/` among the companions, compiled like
//! `_vendor` (every python3 the launcher starts imports it first).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use fs_err as fs;

use super::Progress;
use super::compiled::Compiled;
use crate::caches::bundler_cache;
use crate::compile::{self, Bytecode};
use crate::kit::Role;
use crate::kit_make;
use crate::launcher::{self, Candidate, Checked, Made};
use crate::launcher_source::Source;
use crate::manifest::{KitEntry, KitFileEntry};
use crate::{Options, cargo, from_source};
use msty_mlx_contract::stamp;

/// The launcher and runtime in the sibling, checked.
pub struct LauncherPlaced {
    pub compiled: Compiled,
    pub checked: Checked,
    /// The runtime's file name in the bundle.
    pub runtime_name: &'static str,
    /// The kit they came from, for the manifest.
    pub kit: Option<KitEntry>,
}

/// A file with the bytes that are checked and copied.
struct Loaded {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Loaded {
    fn read(path: PathBuf) -> Result<Loaded> {
        let bytes = fs::read(&path)?;
        Ok(Loaded { path, bytes })
    }

    fn candidate(&self) -> Candidate<'_> {
        Candidate { path: &self.path, bytes: &self.bytes }
    }
}

/// What [`choose`] gives: the two files every bundle has, the others of the kit, and how they
/// were made.
struct Chosen {
    launcher: Loaded,
    runtime: Loaded,
    /// (dest in the bundle, file)
    others: Vec<(String, Loaded)>,
    made: Made,
    /// `None`: built here from this checkout.
    kit: Option<KitEntry>,
}

pub fn place(opts: &Options, compiled: Compiled, progress: &Progress) -> Result<LauncherPlaced> {
    let installed = &compiled.installed;
    let inputs = &installed.inputs;
    let facts = &inputs.facts;
    progress.header(format!("Placing the launcher and its runtime for Python {}", facts.version));
    let runtime_name = stamp::file_name_for(&facts.platform_tag);
    let chosen = choose(opts, &inputs.launcher, installed)?;

    // The interpreter's paths would be loader paths; files built here must not carry this
    // checkout's or the cargo registry's paths either.
    let cargo_home = cargo::cargo_home();
    let mut forbidden: Vec<&Path> = vec![facts.prefix.as_path(), facts.libdir.as_path()];
    if chosen.kit.is_none() {
        // Built here: this checkout's and the registry's paths must not be inside.
        forbidden.extend(opts.repo.as_deref());
        forbidden.push(cargo_home.as_path());
    }
    forbidden.retain(|p| p.is_absolute() && p.as_os_str().len() > 1);
    let checked = launcher::check(
        chosen.launcher.candidate(),
        chosen.runtime.candidate(),
        &facts.platform_tag,
        facts.version,
        &forbidden,
        &chosen.made,
    )?;

    let dir = &installed.tmp.path;
    write(&dir.join(&opts.bin_name), &chosen.launcher.bytes, 0o755)?;
    write(&dir.join(runtime_name), &chosen.runtime.bytes, 0o755)?;
    for (dest, file) in &chosen.others {
        write(&dir.join(dest), &file.bytes, 0o644)?;
    }
    compile_guard(dir, &compiled.bytecode)?;
    // The bytes just written, named by their place in the bundle.
    launcher::check_exports(Candidate { path: &dir.join(runtime_name), bytes: &chosen.runtime.bytes })?;
    fs::remove_dir_all(&installed.work)?;
    Ok(LauncherPlaced { kit: chosen.kit, compiled, checked, runtime_name })
}

/// The files, from where the options said ([`Source`]).
fn choose(opts: &Options, source: &Source, installed: &super::installed::Installed) -> Result<Chosen> {
    let inputs = &installed.inputs;
    match source {
        Source::Kit(kit) => {
            let mut launcher = None;
            let mut runtime = None;
            let mut others = Vec::new();
            let runtime_name = stamp::file_name_for(&inputs.facts.platform_tag);
            for (dest, file, bytes) in kit.destinations(&opts.bin_name, runtime_name)? {
                let loaded = Loaded { path: kit.kit.dir.join(&file.path), bytes: bytes.to_vec() };
                match file.role {
                    Role::Launcher => launcher = Some(loaded),
                    Role::Runtime => runtime = Some(loaded),
                    Role::File => others.push((dest, loaded)),
                }
            }
            let (Some(launcher), Some(runtime)) = (launcher, runtime) else {
                unreachable!("Kit::choose returns exactly one launcher and one runtime")
            };
            let m = &kit.kit.manifest;
            let entry = KitEntry {
                dir: kit.kit.dir.clone(),
                version: m.version.clone(),
                commit: m.commit.clone(),
                target: kit.target.target.clone(),
                files: kit
                    .files
                    .iter()
                    .map(|(f, _)| KitFileEntry { path: f.path.clone(), dest: f.dest.clone(), sha256: f.sha256.clone() })
                    .collect(),
            };
            let made = Made { built_on: kit.target.built_on.clone(), linker: kit.target.linker.clone() };
            Ok(Chosen { launcher, runtime, others, made, kit: Some(entry) })
        }
        Source::FromSource => {
            let repo = from_source::checkout(opts.repo.as_deref())?;
            let built = from_source::build(repo, &inputs.mode, &inputs.facts, &installed.work, opts.quiet)?;
            let guard = kit_make::guard_files(repo).into_iter().map(|f| Ok((f.dest, Loaded::read(f.source)?)));
            Ok(Chosen {
                launcher: Loaded::read(built.launcher)?,
                runtime: Loaded::read(built.runtime)?,
                others: guard.collect::<Result<_>>()?,
                made: built.made,
                kit: None,
            })
        }
    }
}

/// The served port's guard (placed with the companion files: a kit must carry it,
/// `Kit::choose`) compiled like `_vendor` (every python3 the launcher starts imports it first).
fn compile_guard(dir: &Path, bytecode: &Bytecode) -> Result<()> {
    if let Bytecode::UncheckedHash { python, .. } = bytecode {
        compile::compile(python, &dir.join("guard"), bundler_cache("bytecode").as_deref())?;
    }
    Ok(())
}

/// A new file with `bytes` (never through an existing file or link).
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(path);
    fs::write(path, bytes)?;
    fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}
