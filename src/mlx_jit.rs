//! Where MLX's CPU JIT may load code from. `mlx.core` compiles fused kernels into shared
//! libraries under `<temp dir>/mlx/<version>/cpu/` (libstdc++'s `temp_directory_path`: the
//! first of `TMPDIR`, `TMP`, `TEMP`, `TEMPDIR` that is set, else `/tmp`) and `dlopen`s a file
//! found there by its predictable name without asking who wrote it. In a shared `/tmp`,
//! another user could plant one. So before Python runs, `<temp dir>/mlx` must pass the trust
//! walk (the temp dir owned by us or root, sticky if shared; `mlx` ours, created `0700` —
//! nobody else can then create anything below it). Otherwise the process and its children get
//! `TMPDIR=<cache dir>/msty-mlx-studio/tmp` (ours, `0700`); without a usable cache either,
//! `MLX_DISABLE_COMPILE=1` (no JIT at all: slower fused ops, nothing loaded).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use msty_mlx_contract::plan::MlxJit;
use msty_mlx_trust::{Refusal, Walked, walk};

/// The variables libstdc++ reads for the temp dir, in its order.
const TEMP_VARIABLES: [&str; 4] = ["TMPDIR", "TMP", "TEMP", "TEMPDIR"];

/// Decides from what is on disk, changing nothing (the survey).
pub fn plan(vars: &[(OsString, OsString)], cache_dir: Option<&Path>) -> MlxJit {
    decide(vars, cache_dir, false)
}

/// Decides again and makes it true on disk (once the plan is known to run): the temp dir's
/// `mlx`, or our own temp dir, is created `0700` after the same checks.
pub fn prepare(vars: &[(OsString, OsString)], cache_dir: Option<&Path>) -> MlxJit {
    decide(vars, cache_dir, true)
}

/// The run's decision is logged once, by [`prepare`]; a description carries it in the plan.
fn decide(vars: &[(OsString, OsString)], cache_dir: Option<&Path>, prepare: bool) -> MlxJit {
    let why = match temp_dir(vars).map(|temp| walk(&temp, &[OsStr::new("mlx")], prepare)) {
        Ok(Ok(_)) => return MlxJit { tmpdir: None, disable_compile: false, reason: None },
        Ok(Err(refusal)) => describe(&refusal),
        Err(relative) => relative,
    };
    let why = format!("MLX's kernel cache under the temp dir is not safe ({why})");
    let own = cache_dir.map(|cache| walk(cache, &[OsStr::new("msty-mlx-studio"), OsStr::new("tmp")], prepare));
    match own {
        Some(Ok(Walked::Open { path, .. } | Walked::WouldCreate { path })) => {
            if prepare {
                tracing::debug!(tmpdir = %path.display(), "{why}: TMPDIR set to our own");
            }
            MlxJit { tmpdir: Some(path), disable_compile: false, reason: Some(why) }
        }
        other => {
            let also = match other {
                Some(Err(e)) => format!("; our own temp dir is refused too ({})", describe(&e)),
                _ => "; there is no per-user cache directory for our own".into(),
            };
            if prepare {
                tracing::debug!("{why}{also}: MLX_DISABLE_COMPILE=1");
            }
            MlxJit { tmpdir: None, disable_compile: true, reason: Some(format!("{why}{also}")) }
        }
    }
}

/// The variables to set for the launcher and its children.
pub fn variables(jit: &MlxJit) -> Vec<(OsString, OsString)> {
    let mut set = Vec::new();
    if let Some(dir) = &jit.tmpdir {
        set.push(("TMPDIR".into(), dir.as_os_str().to_owned()));
    }
    if jit.disable_compile {
        set.push(("MLX_DISABLE_COMPILE".into(), "1".into()));
    }
    set
}

fn describe(refusal: &Refusal) -> String {
    let kind = if refusal.is_untrusted() { "untrusted" } else { "unusable" };
    format!("{kind}: {refusal}")
}

/// The temp dir as libstdc++ finds it (the first variable set wins, as there); a relative one
/// would be resolved against the cwd, which is never trusted.
fn temp_dir(vars: &[(OsString, OsString)]) -> Result<PathBuf, String> {
    let var = |name: &'static str| crate::settings::value(vars, name).map(|v| (name, PathBuf::from(v)));
    match TEMP_VARIABLES.into_iter().find_map(var) {
        None => Ok(PathBuf::from("/tmp")),
        Some((_, dir)) if dir.is_absolute() => Ok(dir),
        Some((name, dir)) => Err(format!("{name} is not absolute: `{}`", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::test_dir::test_dir as scratch;

    fn vars(temp: &Path) -> Vec<(OsString, OsString)> {
        vec![("TMPDIR".into(), temp.as_os_str().to_owned())]
    }

    #[test]
    fn a_private_temp_dir_is_kept_and_its_mlx_dir_created_0700() {
        let temp = scratch("ok");
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o700)).unwrap();
        let described = plan(&vars(&temp), None);
        assert!(!temp.join("mlx").exists(), "the survey creates nothing");
        let jit = prepare(&vars(&temp), None);
        assert_eq!(jit, described);
        assert_eq!((jit.tmpdir.as_deref(), jit.disable_compile, jit.reason.as_deref()), (None, false, None));
        assert_eq!(std::fs::metadata(temp.join("mlx")).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(variables(&jit).is_empty());
    }

    #[test]
    fn an_unsafe_temp_dir_moves_tmpdir_to_our_cache_or_disables_the_jit() {
        let temp = scratch("open");
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o777)).unwrap(); // not sticky
        let cache = scratch("cache");
        let jit = prepare(&vars(&temp), Some(&cache));
        assert_eq!(jit.tmpdir, Some(cache.join("msty-mlx-studio/tmp")));
        assert!(jit.reason.as_deref().unwrap().contains("untrusted"), "{jit:?}");
        assert_eq!(variables(&jit), [("TMPDIR".into(), cache.join("msty-mlx-studio/tmp").into_os_string())]);
        let jit = prepare(&vars(&temp), None);
        assert!(jit.disable_compile && jit.tmpdir.is_none());
        assert_eq!(variables(&jit), [("MLX_DISABLE_COMPILE".into(), "1".into())]);
        assert!(!temp.join("mlx").exists(), "nothing created in a refused temp dir");
    }

    #[test]
    fn the_temp_dir_is_found_as_libstdcxx_finds_it() {
        let v = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect::<Vec<_>>()
        };
        assert_eq!(temp_dir(&v(&[])), Ok(PathBuf::from("/tmp")));
        assert_eq!(temp_dir(&v(&[("TEMP", "/a"), ("TMP", "/b")])), Ok(PathBuf::from("/b")));
        assert_eq!(temp_dir(&v(&[("TMPDIR", "rel")])), Err("TMPDIR is not absolute: `rel`".into()));
    }
}
