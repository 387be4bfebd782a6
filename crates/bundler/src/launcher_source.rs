//! Where the bundle's launcher and runtime come from, decided once from the options: the kit
//! this bundler was installed with, another kit (`--launcher-kit DIR`), or, only when asked
//! (`--from-source`), a build from this checkout. A missing or bad kit is refused; nothing
//! falls back to compiling.

use std::path::PathBuf;

use anyhow::Result;

use crate::kit::{self, Chosen, Kit, Refused};
use crate::probe::PythonFacts;
use crate::{Options, platform};
use msty_mlx_contract::stamp;

/// The launcher's source, resolved (a kit is already chosen and checked here, before anything
/// is written).
pub enum Source {
    Kit(Box<Chosen>),
    FromSource,
}

impl Source {
    pub fn resolve(opts: &Options, facts: &PythonFacts) -> Result<Source> {
        if opts.from_source {
            // Refused now, before anything is written, when there is no checkout to build.
            crate::from_source::checkout(opts.repo.as_deref())?;
            return Ok(Source::FromSource);
        }
        let dir = match &opts.launcher_kit {
            Some(dir) => opts.cwd.join(dir),
            None => installed_kit()?,
        };
        let target = platform::rust_target(&facts.platform_tag)?;
        let chosen = Kit::open(&dir)?.choose(&target, facts.version)?;
        chosen.destinations(&opts.bin_name, stamp::file_name_for(&facts.platform_tag))?;
        Ok(Source::Kit(Box::new(chosen)))
    }

    /// For the progress line.
    pub fn describe(&self) -> String {
        match self {
            Source::Kit(c) => format!(
                "launcher kit `{}` (version {}, commit {}, {})",
                c.kit.dir.display(),
                c.kit.manifest.version,
                &c.kit.manifest.commit[..c.kit.manifest.commit.len().min(12)],
                c.target.target
            ),
            Source::FromSource => "built from this checkout (--from-source)".into(),
        }
    }
}

/// The kit installed with this bundler (beside a wheel's scripts, or beside the executable).
pub fn installed_kit() -> Result<PathBuf> {
    // The real file: a `uv tool install` puts a symlink on PATH, the kit is beside the target.
    let exe = std::env::current_exe().and_then(|e| e.canonicalize()).unwrap_or_default();
    let candidates = kit::installed_candidates(&exe);
    if let Some(found) = candidates.iter().find(|dir| dir.join(kit::MANIFEST).is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|c| format!("`{}`", c.display())).collect();
    Err(Refused(format!(
        "no launcher kit installed with this bundler (looked in {}); install the msty-mlx-studio wheel, pass --launcher-kit DIR, or --from-source in a checkout",
        looked.join(", ")
    ))
    .into())
}
