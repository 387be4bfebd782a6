//! Where the bundle's pieces are: the launcher's own path, the Python home, `_vendor`, the
//! runtime library, the served port's guard.
//!
//! The home is chosen from the launcher's real location (never argv[0], never the cwd) by
//! a fixed list of rules. Every rule tried is recorded with its verdict, so that "not found"
//! can list them all and `--python-info` can show them.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use msty_mlx_contract::plan::{BundlePaths, HomeRule};

use crate::failure::Failure;
use crate::settings::{MLXK_PYTHON, RESOURCES_PATH};
use msty_mlx_contract::exit_code::LauncherExit;
use msty_mlx_contract::stamp;

/// One rule's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub rule: HomeRule,
    /// The directory the rule pointed at (absent when its variable is unset).
    #[serde(with = "msty_mlx_contract::os_serde::opt_path")]
    pub path: Option<PathBuf>,
    /// Why it was not taken; `None` for the chosen one.
    pub rejected: Option<String>,
}

/// The values of the environment variables that steer the lookup (injected for tests).
#[derive(Clone, Debug, Default)]
pub struct LookupEnv {
    pub mlxk_python: Option<OsString>,
    pub resources_path: Option<OsString>,
}

impl LookupEnv {
    /// From the environment captured at start.
    pub fn from_vars(vars: &[(OsString, OsString)]) -> Self {
        let value = |name| crate::settings::value(vars, name).map(OsStr::to_owned);
        LookupEnv { mlxk_python: value(MLXK_PYTHON), resources_path: value(RESOURCES_PATH) }
    }
}

/// The located bundle.
#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    #[serde(flatten)]
    pub paths: BundlePaths,
    /// Every rule tried, in order, the chosen one included.
    pub candidates: Vec<Candidate>,
}

/// Finds the Python home and `_vendor` for the launcher at `exe` (already canonical).
pub fn locate(exe: &Path, env: &LookupEnv) -> Result<Layout, Failure> {
    let exe_dir = exe.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut candidates = Vec::new();
    let mut chosen: Option<(HomeRule, PathBuf, Option<PathBuf>)> = None;

    // An explicitly set variable is authoritative: a bad value is an error, never a silent
    // fall-through to some other Python.
    match &env.mlxk_python {
        None => candidates.push(unset(HomeRule::MlxkPython)),
        Some(value) => {
            let interpreter = absolute_value(MLXK_PYTHON, value)?;
            let meta = std::fs::metadata(&interpreter)
                .map_err(|e| bad_variable(MLXK_PYTHON, value, format!("cannot be read ({e})")))?;
            if meta.is_dir() {
                return Err(bad_variable(MLXK_PYTHON, value, "is a directory, not an interpreter"));
            }
            let home = interpreter
                .parent()
                .and_then(Path::parent)
                .ok_or_else(|| bad_variable(MLXK_PYTHON, value, "has no <home>/bin/ above it"))?;
            chosen = Some((HomeRule::MlxkPython, home.to_path_buf(), Some(interpreter.clone())));
            candidates.push(Candidate { rule: HomeRule::MlxkPython, path: Some(home.to_path_buf()), rejected: None });
        }
    }

    let resources_home = match &env.resources_path {
        None => Err("RESOURCES_PATH is unset".to_string()),
        Some(value) => {
            let resources = absolute_value(RESOURCES_PATH, value)?;
            match std::fs::metadata(&resources) {
                Err(e) => return Err(bad_variable(RESOURCES_PATH, value, format!("cannot be read ({e})"))),
                Ok(m) if !m.is_dir() => {
                    return Err(bad_variable(RESOURCES_PATH, value, "is not a directory"));
                }
                Ok(_) => Ok(resources.join("python")),
            }
        }
    };
    let rules = [
        (HomeRule::ResourcesPath, resources_home),
        (HomeRule::ExeDir, Ok(exe_dir.join("python"))),
        (HomeRule::ExeParent, Ok(exe_dir.parent().unwrap_or(&exe_dir).join("python"))),
    ];
    for (rule, path) in rules {
        let candidate = match path {
            Err(reason) => Candidate { rule, path: None, rejected: Some(reason) },
            Ok(_) if chosen.is_some() => continue,
            Ok(path) if path.is_dir() => {
                chosen = Some((rule, path.clone(), None));
                Candidate { rule, path: Some(path), rejected: None }
            }
            Ok(path) => Candidate {
                rejected: Some(if path.exists() { "not a directory" } else { "does not exist" }.into()),
                rule,
                path: Some(path),
            },
        };
        candidates.push(candidate);
    }

    let Some((home_rule, home, interpreter)) = chosen else {
        return Err(no_home(&candidates));
    };
    // Canonical, so `sys.prefix` reads `…/Resources/python` rather than `…/mlxk2/../python`.
    let home = home.canonicalize().unwrap_or(home);
    let executable = interpreter.unwrap_or_else(|| home.join("bin").join("python3"));
    let paths = BundlePaths {
        launcher: exe.to_path_buf(),
        vendor: exe_dir.join("_vendor"),
        runtime: exe_dir.join(stamp::FILE_NAME),
        guard_dir: exe_dir.join("guard"),
        home,
        home_rule,
        executable,
    };
    Ok(Layout { paths, candidates })
}

fn unset(rule: HomeRule) -> Candidate {
    Candidate { rule, path: None, rejected: Some(format!("{rule} is unset")) }
}

fn absolute_value(var: &'static str, value: &OsStr) -> Result<PathBuf, Failure> {
    if value.is_empty() {
        return Err(bad_variable(var, value, "is empty"));
    }
    let path = PathBuf::from(value);
    if !path.is_absolute() {
        return Err(bad_variable(var, value, "is a relative path"));
    }
    Ok(path)
}

fn bad_variable(var: &'static str, value: &OsStr, problem: impl fmt::Display) -> Failure {
    let hint = match var {
        MLXK_PYTHON => "set it to the absolute path of the bundled interpreter (…/python/bin/python3) or unset it",
        RESOURCES_PATH => {
            "set it to the absolute path of the app's Resources directory (process.resourcesPath) or unset it"
        }
        _ => "fix or unset it",
    };
    Failure::new(LauncherExit::BadEnvironment, format!("{var} {problem}: `{}`", Path::new(value).display()), hint)
}

fn no_home(candidates: &[Candidate]) -> Failure {
    let tried: Vec<String> = candidates
        .iter()
        .map(|c| match (&c.path, &c.rejected) {
            (Some(path), Some(why)) => format!("{} `{}` {why}", c.rule, path.display()),
            (None, Some(why)) => why.clone(),
            (_, None) => c.rule.to_string(),
        })
        .collect();
    Failure::new(
        LauncherExit::NoPythonHome,
        format!("no Python home found (tried: {})", tried.join("; ")),
        "set RESOURCES_PATH to the folder holding python/, or MLXK_PYTHON to the interpreter",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Tree(crate::test_dir::TestDir);
    impl Tree {
        fn new(name: &str) -> Tree {
            let dir = crate::test_dir::test_dir(&format!("layout-{name}"));
            fs::create_dir_all(dir.join("Resources/mlxk2/_vendor/mlxk2")).unwrap();
            fs::create_dir_all(dir.join("Resources/python/lib/python3.11/encodings")).unwrap();
            fs::create_dir_all(dir.join("Resources/python/bin")).unwrap();
            fs::write(dir.join("Resources/python/bin/python3"), "").unwrap();
            Tree(dir)
        }
        fn exe(&self) -> PathBuf {
            self.0.join("Resources/mlxk2/msty-mlx-studio")
        }
    }

    fn env(mlxk: Option<&str>, res: Option<&str>) -> LookupEnv {
        LookupEnv { mlxk_python: mlxk.map(Into::into), resources_path: res.map(Into::into) }
    }

    #[test]
    fn shipped_layout_is_found_exe_relative() {
        let t = Tree::new("shipped");
        let l = locate(&t.exe(), &env(None, None)).unwrap();
        assert_eq!(l.paths.home_rule, HomeRule::ExeParent);
        assert_eq!(l.paths.home, t.0.join("Resources/python"));
        assert_eq!(l.paths.executable, t.0.join("Resources/python/bin/python3"));
        assert_eq!(l.paths.vendor, t.0.join("Resources/mlxk2/_vendor"));
        assert_eq!(l.candidates.len(), 4);
        assert_eq!(l.paths.runtime, t.0.join("Resources/mlxk2").join(stamp::FILE_NAME));
    }

    #[test]
    fn resources_path_wins_over_exe_relative() {
        let t = Tree::new("res");
        let other = t.0.join("Other");
        fs::create_dir_all(other.join("python")).unwrap();
        let l = locate(&t.exe(), &env(None, Some(other.to_str().unwrap()))).unwrap();
        assert_eq!(l.paths.home_rule, HomeRule::ResourcesPath);
        assert_eq!(l.paths.home, other.join("python"));
    }

    #[test]
    fn resources_path_without_python_falls_through_and_is_recorded() {
        let t = Tree::new("resfall");
        let l = locate(&t.exe(), &env(None, Some(t.0.to_str().unwrap()))).unwrap();
        assert_eq!(l.paths.home_rule, HomeRule::ExeParent);
        assert_eq!(l.candidates[1].rejected.as_deref(), Some("does not exist"));
    }

    #[test]
    fn bad_values_are_errors_not_fall_throughs() {
        let t = Tree::new("bad");
        let file = t.0.join("Resources/python/bin/python3");
        for (mlxk, res, needle) in [
            (None, Some(""), "RESOURCES_PATH is empty"),
            (None, Some("rel/path"), "RESOURCES_PATH is a relative path"),
            (None, Some("/nonexistent/x"), "RESOURCES_PATH cannot be read"),
            (None, Some(file.to_str().unwrap()), "RESOURCES_PATH is not a directory"),
            (Some(""), None, "MLXK_PYTHON is empty"),
            (Some("python3"), None, "MLXK_PYTHON is a relative path"),
            (Some("/nonexistent/python3"), None, "MLXK_PYTHON cannot be read"),
            (Some(t.0.to_str().unwrap()), None, "MLXK_PYTHON is a directory"),
        ] {
            let err = locate(&t.exe(), &env(mlxk, res)).unwrap_err();
            assert_eq!(err.exit, LauncherExit::BadEnvironment, "{needle}");
            assert!(err.message.starts_with(needle), "{} vs {needle}", err.message);
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn mlxk_python_names_the_interpreter() {
        let t = Tree::new("mlxk");
        let py = t.0.join("Resources/python/bin/python3");
        let l = locate(&t.exe(), &env(Some(py.to_str().unwrap()), None)).unwrap();
        assert_eq!(l.paths.home_rule, HomeRule::MlxkPython);
        assert_eq!(l.paths.home, t.0.join("Resources/python"));
        assert_eq!(l.paths.executable, py);
    }

    #[test]
    fn nothing_found_lists_every_candidate() {
        let t = Tree::new("none");
        fs::remove_dir_all(t.0.join("Resources/python")).unwrap();
        let err = locate(&t.exe(), &env(None, None)).unwrap_err();
        assert_eq!(err.exit, LauncherExit::NoPythonHome);
        for needle in ["MLXK_PYTHON is unset", "RESOURCES_PATH is unset", "<exe dir>/python `", "<exe dir>/../python `"]
        {
            assert!(err.message.contains(needle), "{needle} missing in {}", err.message);
        }
    }
}
