//! Custom `mlx` / `mlx-lm` wheels: found (flags, env, `scripts/`), read from their own
//! dist-info, checked against the target before anything is written, their PyPI pins dropped
//! from the requirements, installed last, and the dist-infos they supersede removed.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Result, bail};
use fs_err as fs;

use super::Options;
use super::install::Installer;
use super::probe::PythonFacts;
use super::wheel::{self, WheelInfo};
use msty_mlx_distinfo::normalize;

/// A custom wheel and the project it replaces (`mlx` or `mlx-lm`).
pub type CustomWheel = (&'static str, WheelInfo);

/// Custom wheels: flags/env, else auto-detected `scripts/mlx-custom.whl` and
/// `scripts/mlx-lm-custom.whl`; each must be a wheel for the target (uv decides, as it will
/// when installing it).
pub fn find(opts: &Options, facts: &PythonFacts, installer: &Installer) -> Result<Vec<CustomWheel>> {
    let mut out = Vec::new();
    for (project, given, default) in [
        ("mlx", &opts.mlx_wheel, "scripts/mlx-custom.whl"),
        ("mlx-lm", &opts.mlx_lm_wheel, "scripts/mlx-lm-custom.whl"),
    ] {
        let path = match given {
            Some(p) => opts.cwd.join(p),
            None => {
                let auto = opts.cwd.join(default);
                if !auto.exists() {
                    continue;
                }
                auto
            }
        };
        let info = wheel::read(&path)?;
        if normalize(&info.name) != project {
            bail!("custom {project} wheel `{}` is a wheel of `{}`", path.display(), info.name);
        }
        // uv wants the file named as the wheel it is (`scripts/mlx-custom.whl` says nothing).
        let staged = std::env::temp_dir().join(format!("msty-mlx-studio-custom-{}", std::process::id()));
        fs::create_dir_all(&staged)?;
        let file = staged.join(info.canonical_file_name());
        fs::copy(&info.path, &file)?;
        let verdict = installer.accepts_wheel(&file);
        let _ = fs::remove_dir_all(&staged);
        if let Err(why) = verdict {
            bail!(
                "custom wheel `{}` ({}) does not fit Python {} on {}: {why}",
                path.display(),
                info.tags.join(", "),
                facts.version,
                facts.platform_tag
            );
        }
        out.push((project, info));
    }
    Ok(out)
}

/// Copies the custom wheels under their canonical names into `dir`, for uv.
pub fn stage(custom: &[CustomWheel], dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    fs::create_dir_all(dir)?;
    custom
        .iter()
        .map(|(_, w)| {
            let file = dir.join(w.canonical_file_name());
            fs::copy(&w.path, &file)?;
            Ok(file.into_os_string())
        })
        .collect()
}

/// Drops `mlx`/`mlx-lm` lines that a custom wheel replaces (the wheel is installed last).
pub fn filter_requirements(text: &str, custom: &[CustomWheel]) -> String {
    text.lines()
        .filter(|line| {
            let spec = line.split('#').next().unwrap_or("").trim();
            if spec.is_empty() || spec.starts_with('-') {
                return true;
            }
            match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(spec) {
                Ok(req) => !custom.iter().any(|(project, _)| normalize(req.name.as_ref()) == *project),
                Err(_) => true,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
