//! `kit build` (`packaging/release.sh`): one target of a launcher kit built from this checkout
//! the way `--from-source` builds a bundle's files — the launcher, a runtime per X.Y with pyo3
//! told the X.Y alone (no interpreter runs), and the served port's `guard/` — then added with
//! `kit_make`. Every X.Y's build also relinks the launcher; the copies must be byte-identical
//! (one checkout, one launcher), which checks the build's reproducibility on the way.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use fs_err as fs;

use crate::arch::Arch;
use crate::from_source;
use crate::kit::Role;
use crate::kit_make::{self, NewFile, NewTarget};
use msty_mlx_contract::python::PyVersion;
use msty_mlx_contract::stamp;

/// The wheel platform tag a kit target is built for: macOS at the oldest release Rust's std
/// supports on that architecture (the binaries then fit any newer bundle tag), Linux as this
/// machine's (`linux_x86_64`).
pub fn kit_tag(target: &str) -> Result<String> {
    if let Some(arch) = Arch::ALL.into_iter().find(|a| a.apple_triple() == target) {
        return Ok(format!("macosx_{}_{}", arch.oldest_macos().replace('.', "_"), arch.macos_wheel()));
    }
    let here = Arch::here().map(|a| format!("{}-unknown-linux-gnu", a.rust()));
    if cfg!(target_os = "linux") && here.as_deref() == Some(target) {
        return Ok(format!("linux_{}", std::env::consts::ARCH));
    }
    bail!(
        "kit build: cannot build for {target} here (this machine's Linux target, or aarch64-apple-darwin / x86_64-apple-darwin)"
    )
}

/// Builds `target`'s launcher and one runtime per X.Y of `pythons` into `repo/target/kit-<target>`
/// and adds them, with `extra` files, to the kit at `kit`.
pub fn build(
    repo: &Path,
    kit: &Path,
    target: &str,
    pythons: &[PyVersion],
    extra: Vec<NewFile>,
    commit: &str,
    quiet: bool,
) -> Result<()> {
    let tag = kit_tag(target)?;
    let target_dir = repo.join("target").join(format!("kit-{target}"));
    let staging = repo.join("target").join(format!("kit-{target}-files"));
    let _ = std::fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    let launcher = staging.join(msty_mlx_contract::LAUNCHER_NAME);
    let mut files = Vec::new();
    let mut made = None;
    for &xy in pythons {
        let built = from_source::for_xy(repo, &tag, xy, &|_| target_dir.clone(), &staging.join("work"), quiet)?;
        let bytes = fs::read(&built.launcher)?;
        if made.is_none() {
            fs::write(&launcher, &bytes)?;
        } else if fs::read(&launcher)? != bytes {
            bail!(
                "the launcher `{}` differs between two builds of one checkout (for Python {xy}): the build is not reproducible",
                built.launcher.display()
            );
        }
        let runtime: PathBuf = staging.join(format!("py{xy}")).join(stamp::file_name_for(&tag));
        fs::create_dir_all(runtime.parent().unwrap_or(&staging))?;
        fs::copy(&built.runtime, &runtime)?;
        files.push(NewFile {
            source: runtime,
            dest: stamp::file_name_for(&tag).into(),
            role: Role::Runtime,
            python: Some(xy),
        });
        made = Some(built.made);
    }
    let Some(made) = made else { bail!("kit build: no --python given") };
    files.insert(
        0,
        NewFile { source: launcher, dest: msty_mlx_contract::LAUNCHER_NAME.into(), role: Role::Launcher, python: None },
    );
    files.extend(kit_make::guard_files(repo));
    files.extend(extra);
    let new = NewTarget { target: target.into(), built_on: made.built_on, linker: made.linker, files };
    kit_make::add(kit, &new, msty_mlx_contract::VERSION, commit)
}
