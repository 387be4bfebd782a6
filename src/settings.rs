//! The environment variables the launcher reads, and how their values are parsed.

use std::ffi::{OsStr, OsString};

use crate::failure::Failure;
use msty_mlx_contract::exit_code::LauncherExit;

/// Interpreter binary to use instead of the bundled one (its prefix becomes the home).
pub const MLXK_PYTHON: &str = "MLXK_PYTHON";
/// The app's Resources directory (Electron: `process.resourcesPath`).
pub const RESOURCES_PATH: &str = "RESOURCES_PATH";
/// tracing filter for the launcher's own logs (stderr); unset = silent.
pub use msty_mlx_logging::LAUNCHER_LOG;
/// `0`/`false`/`no`/`off` keeps the launcher running when its parent dies.
pub const EXIT_WITH_PARENT: &str = "MLXK2_EXIT_WITH_PARENT";

/// `0`/`false`/`no`/`off` turns the served port's guard off (mlx-knife's own behaviour).
pub const GUARD: &str = "MLXK2_GUARD";
/// The token every request to the served port must carry (`Authorization: Bearer …`).
pub const SERVE_TOKEN: &str = "MLXK2_SERVE_TOKEN";
/// The web origins whose pages may call the served port.
pub const ALLOWED_ORIGINS: &str = "MLXK2_ALLOWED_ORIGINS";
/// Set for children when a token was given: a server without one must not start.
pub const TOKEN_REQUIRED: &str = "MLXK2_SERVE_TOKEN_REQUIRED";

/// Every variable whose value the launcher (or its runtime) reads, as docs/electron.md's
/// "Environment variables" table names them; `PYTHON*` stands for the caller's Python variables,
/// which it removes. A drift test holds the table, this list and the sources together.
pub const READ: &[&str] = &[
    MLXK_PYTHON,
    RESOURCES_PATH,
    LAUNCHER_LOG,
    EXIT_WITH_PARENT,
    GUARD,
    SERVE_TOKEN,
    ALLOWED_ORIGINS,
    "HOME",
    "XDG_CACHE_HOME",
    "TMPDIR",
    "TMP",
    "TEMP",
    "TEMPDIR",
    "PYTHON*",
];

/// Every variable the launcher sets for its children (docs/electron.md, "Environment of
/// mlx-knife's children"); `MLXK2_SERVE_TOKEN` only for the python3 children its interpreter
/// starts through subprocess (the guard hands it on, `guard/msty_mlx_guard.py`).
pub const SET_FOR_CHILDREN: &[&str] = &[
    "PYTHONPATH",
    "PYTHONNOUSERSITE",
    "PYTHONUNBUFFERED",
    "PYTHONSAFEPATH",
    "PYTHONPYCACHEPREFIX",
    "PYTHONDONTWRITEBYTECODE",
    "TMPDIR",
    "MLX_DISABLE_COMPILE",
    TOKEN_REQUIRED,
    ALLOWED_ORIGINS,
    SERVE_TOKEN,
];

/// `name`'s value in the environment captured once at start (`std::env::vars_os`), as
/// `getenv` finds it — the first entry — so the launcher decides on the value that libc,
/// libstdc++ (MLX's temp dir) and CPython's C code in this process will read.
pub fn value<'a>(vars: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_os_str())
}

/// Parses a boolean switch; unset means `default`.
pub fn switch(var: &'static str, value: Option<&OsStr>, default: bool) -> Result<bool, Failure> {
    let Some(value) = value else { return Ok(default) };
    match value.to_string_lossy().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Failure::new(
            LauncherExit::BadEnvironment,
            format!("{var} has an unknown value `{}`", value.to_string_lossy()),
            format!("use {var}=1 or {var}=0, or unset it"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_words() {
        assert!(switch(EXIT_WITH_PARENT, None, true).unwrap());
        for off in ["0", "false", "NO", "off"] {
            assert!(!switch(EXIT_WITH_PARENT, Some(OsStr::new(off)), true).unwrap());
        }
        for on in ["1", "TRUE", "yes", "on"] {
            assert!(switch(EXIT_WITH_PARENT, Some(OsStr::new(on)), false).unwrap());
        }
        let err = switch(EXIT_WITH_PARENT, Some(OsStr::new("maybe")), true).unwrap_err();
        let vars: Vec<(OsString, OsString)> = vec![("A".into(), "first".into()), ("A".into(), "second".into())];
        assert_eq!(value(&vars, "A"), Some(OsStr::new("first")), "getenv's answer");
        assert_eq!(value(&vars, "B"), None);
        assert_eq!(err.exit, LauncherExit::BadEnvironment);
        assert!(err.to_string().contains("MLXK2_EXIT_WITH_PARENT"));
    }
}
