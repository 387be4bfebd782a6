//! `--clean` may delete only a bundle output: never `/`, `$HOME`, the project root, or
//! anything that is not strictly inside the dist dir (symlinks resolved).

use std::path::Path;

use anyhow::{Result, bail};

pub fn check_deletable(output: &Path, dist_dir: &Path, project_root: Option<&Path>) -> Result<()> {
    let resolve = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let target = resolve(output);
    let dist = resolve(dist_dir);
    let refuse = |why: &str| bail!("refusing to --clean `{}`: {why}", target.display());
    if target.parent().is_none() {
        return refuse("it is the filesystem root");
    }
    if let Some(home) = dirs::home_dir()
        && target == resolve(&home)
    {
        return refuse("it is $HOME");
    }
    if let Some(root) = project_root {
        let root = resolve(root);
        if target == root || root.starts_with(&target) {
            return refuse("it is or contains the project root");
        }
    }
    if target == dist || !target.starts_with(&dist) {
        return refuse(&format!("it is not inside the dist dir `{}`", dist.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let base = std::env::temp_dir().join(format!("mlxk2-clean-{}", std::process::id()));
        let dist = base.join("dist-ext-python");
        std::fs::create_dir_all(dist.join("msty-mlx-studio")).unwrap();
        assert!(check_deletable(&dist.join("msty-mlx-studio"), &dist, Some(&base)).is_ok());
        assert!(check_deletable(&dist.join("not-yet"), &dist, Some(&base)).is_ok());
        for (target, needle) in [
            (Path::new("/").to_path_buf(), "filesystem root"),
            (dirs::home_dir().unwrap(), "$HOME"),
            (base.clone(), "project root"),
            (dist.clone(), "not inside the dist dir"),
            (dist.join(".."), "project root"),
            (std::env::temp_dir(), "project root"),
            (Path::new("/usr").to_path_buf(), "not inside the dist dir"),
        ] {
            let err = check_deletable(&target, &dist, Some(&base)).unwrap_err().to_string();
            assert!(err.contains(needle), "{target:?}: {err}");
        }
        // A symlink inside the dist dir pointing elsewhere resolves to elsewhere.
        std::os::unix::fs::symlink("/usr", dist.join("link")).unwrap();
        assert!(check_deletable(&dist.join("link"), &dist, Some(&base)).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
