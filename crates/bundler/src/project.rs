//! Which project is vendored as mlxk2: a source tree, or a requirement such as
//! `mlx-knife==2.0.8`.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Result, anyhow, bail};

use super::Options;

#[derive(Clone, Debug)]
pub enum Project {
    Tree(PathBuf),
    Requirement(String),
}

impl Project {
    /// `--project`, or the cwd when it is the mlx-knife source tree.
    pub fn resolve(opts: &Options) -> Result<Project> {
        let Some(given) = &opts.project else {
            let cwd = &opts.cwd;
            if cwd.join("pyproject.toml").is_file() && cwd.join("mlxk2").is_dir() {
                return Ok(Project::Tree(cwd.clone()));
            }
            bail!(
                "no --project given and `{}` is not the mlx-knife source tree (no pyproject.toml with mlxk2/); pass --project PATH or e.g. --project mlx-knife==2.0.8",
                cwd.display()
            );
        };
        let as_path = opts.cwd.join(given);
        if as_path.is_dir() {
            if !(as_path.join("pyproject.toml").is_file() || as_path.join("setup.py").is_file()) {
                bail!("--project `{}` is a directory without pyproject.toml or setup.py", as_path.display());
            }
            return Ok(Project::Tree(as_path.canonicalize().unwrap_or(as_path)));
        }
        if given.contains('/') && !given.contains("://") && !given.contains('@') {
            bail!("--project `{given}`: no such directory");
        }
        pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(given).map_err(|e| {
            anyhow!(
                "--project `{given}` is neither a directory nor a requirement: {}",
                e.to_string().lines().next().unwrap_or("")
            )
        })?;
        Ok(Project::Requirement(given.clone()))
    }

    /// The source tree, if the project is one (never deleted by --clean).
    pub fn tree(&self) -> Option<&std::path::Path> {
        match self {
            Project::Tree(tree) => Some(tree),
            Project::Requirement(_) => None,
        }
    }
}
