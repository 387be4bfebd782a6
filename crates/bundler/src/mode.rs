//! The bundler's mode, resolved once from the options: the embedded interpreter is run
//! (probed, installs are resolved for it, it compiles and runs the sanity check), or, in
//! wheels-only mode, it is never executed and the target is what the options say.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use fs_err as fs;

use super::platform::{self, UvTarget};
use super::probe::{self, PythonFacts};
use super::{Options, find_on_path};
use msty_mlx_contract::python::PyVersion;

/// How the bundle's packages are chosen and checked.
#[derive(Clone, Debug)]
pub enum Mode {
    /// The interpreter runs here: uv resolves for it (`--python`), it compiles the bytecode and
    /// runs the sanity check.
    Embedded { python: PathBuf },
    /// `--python` is never executed: uv resolves for `target` (wheel tags and markers) with a
    /// host `python3` as its helper; X.Y comes from the options or `<prefix>/lib/python3.X`.
    WheelsOnly { python: Option<PathBuf>, target: UvTarget, host: PathBuf },
}

/// The mode, what it says about the target Python, and how the interpreter was chosen.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub mode: Mode,
    pub facts: PythonFacts,
    pub python_source: &'static str,
}

impl Mode {
    /// Everything about the target, checked: the only place that tells the modes apart by flag.
    pub fn resolve(opts: &Options) -> Result<Resolved> {
        let (python, python_source) = choose_python(opts)?;
        if !opts.wheels_only {
            let python = python.ok_or_else(|| anyhow!("no interpreter found"))?;
            let facts = probe::probe(&python)?;
            return Ok(Resolved { mode: Mode::Embedded { python }, facts, python_source });
        }
        let version = target_version(opts, python.as_deref())?;
        let abi = version.abi_tag();
        if let Some(given) = opts.target_abi.as_deref().filter(|a| *a != abi) {
            bail!(
                "--target-abi `{given}`: uv resolves for CPython {version}'s own ABI `{abi}` only; leave --target-abi (TARGET_ABI) unset"
            );
        }
        let target = platform::uv_target(&opts.target_platform)?;
        let host = find_on_path("python3")
            .ok_or_else(|| anyhow!("--wheels-only runs uv with a host python3 as its helper (`--python` is never executed): there is no python3 on PATH"))?;
        let prefix = python.as_deref().and_then(prefix_of).unwrap_or_default();
        let facts = PythonFacts {
            full_version: version.to_string(),
            libdir: prefix.join("lib"),
            ldlibrary: String::new(),
            prefix,
            platform_tag: opts.target_platform.clone(),
            shared: true,
            version,
        };
        Ok(Resolved { mode: Mode::WheelsOnly { python, target, host }, facts, python_source })
    }

    /// The interpreter the bundle is for, if one was given or found.
    pub fn interpreter(&self) -> Option<&Path> {
        match self {
            Mode::Embedded { python } => Some(python),
            Mode::WheelsOnly { python, .. } => python.as_deref(),
        }
    }

    /// The interpreter that runs here and can be executed, for the sanity check; otherwise
    /// why the check is skipped.
    pub fn runnable_interpreter(&self, facts: &PythonFacts) -> Result<&Path, String> {
        match self {
            Mode::Embedded { python } => Ok(python),
            Mode::WheelsOnly { .. } if !platform::runs_here(&facts.platform_tag) => {
                Err(format!("the bundle targets {} and cannot run on this machine", facts.platform_tag))
            }
            Mode::WheelsOnly { python: None, .. } => Err("no interpreter given (--python) to run it with".into()),
            Mode::WheelsOnly { python: Some(python), .. } => {
                let executable = fs::metadata(python).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
                if executable {
                    Ok(python)
                } else {
                    Err(format!("`{}` is not executable (wheels-only mode never makes it so)", python.display()))
                }
            }
        }
    }
}

/// `--python`, else `./python/bin/python3`, else (embedded only) `python3` on PATH.
fn choose_python(opts: &Options) -> Result<(Option<PathBuf>, &'static str)> {
    if let Some(p) = &opts.python {
        let path = opts.cwd.join(p);
        if !path.is_file() {
            bail!("the interpreter `{}` (--python/EMBEDDED_PYTHON) does not exist", path.display());
        }
        return Ok((Some(path), "--python/EMBEDDED_PYTHON"));
    }
    let bundled = opts.cwd.join("python/bin/python3");
    if bundled.is_file() {
        return Ok((Some(bundled), "./python/bin/python3"));
    }
    if opts.wheels_only {
        return Ok((None, "none (wheels-only)"));
    }
    match find_on_path("python3") {
        Some(p) => Ok((Some(p), "python3 on PATH")),
        None => bail!(
            "no interpreter: pass --python PATH (or EMBEDDED_PYTHON); ./python/bin/python3 does not exist and there is no python3 on PATH"
        ),
    }
}

/// X.Y from `--target-python-version`, else from the interpreter's `<prefix>/lib/python3.X`
/// (read, never run); both must agree when both are there.
fn target_version(opts: &Options, python: Option<&Path>) -> Result<PyVersion> {
    let from_prefix = python.map(xy_from_prefix);
    let Some(given) = &opts.target_python_version else {
        return match from_prefix {
            Some(found) => found.context("pass --target-python-version (TARGET_PY_VERSION)"),
            None => bail!(
                "--wheels-only needs --target-python-version (TARGET_PY_VERSION), e.g. 3.11, or --python whose <prefix>/lib/python3.X tells it"
            ),
        };
    };
    let given: PyVersion = match given.parse() {
        Ok(v @ PyVersion { major: 3, .. }) => v,
        _ => bail!("--target-python-version `{given}` must be 3.Y, e.g. 3.11"),
    };
    if let Some(Ok(found)) = from_prefix
        && found != given
    {
        bail!(
            "--target-python-version is {given} but the interpreter `{}` is Python {found} (its lib/python{found}); make them agree",
            python.unwrap_or(Path::new("")).display()
        );
    }
    Ok(given)
}

/// `<prefix>` of `<prefix>/bin/python3`.
fn prefix_of(python: &Path) -> Option<PathBuf> {
    python.parent()?.parent().map(Path::to_path_buf)
}

/// The X.Y of the only `python3.X` directory in the interpreter's `<prefix>/lib` (following
/// a symlinked interpreter to its real prefix when the given one has none).
pub fn xy_from_prefix(python: &Path) -> Result<PyVersion> {
    let mut looked = Vec::new();
    let real = fs::canonicalize(python).ok();
    for prefix in [prefix_of(python), real.as_deref().and_then(prefix_of)].into_iter().flatten() {
        let lib = prefix.join("lib");
        if looked.contains(&lib) {
            continue;
        }
        let mut found: Vec<PyVersion> = std::fs::read_dir(&lib)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("python")?.parse::<PyVersion>().ok())
            .filter(|xy| xy.major == 3)
            .collect();
        found.sort();
        match found.len() {
            1 => return Ok(found.remove(0)),
            0 => looked.push(lib),
            _ => bail!(
                "cannot tell the Python X.Y of `{}` without running it: `{}` holds {}",
                python.display(),
                lib.display(),
                found.iter().map(|xy| format!("python{xy}")).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let looked: Vec<String> = looked.iter().map(|l| format!("`{}`", l.display())).collect();
    bail!(
        "cannot tell the Python X.Y of `{}` without running it: no python3.X directory in {}",
        python.display(),
        looked.join(" or ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xy_is_read_from_the_prefix() {
        let root = std::env::temp_dir().join(format!("mlxk2-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("lib/python3.12/site-packages")).unwrap();
        std::fs::create_dir_all(root.join("lib/pkgconfig")).unwrap();
        std::fs::write(root.join("lib/python3.11"), "a file, not a stdlib").unwrap();
        std::fs::write(root.join("bin/python3"), "").unwrap();
        assert_eq!(xy_from_prefix(&root.join("bin/python3")).unwrap(), PyVersion::new(3, 12));
        std::fs::create_dir_all(root.join("lib/python3.13t")).unwrap();
        assert_eq!(
            xy_from_prefix(&root.join("bin/python3")).unwrap(),
            PyVersion::new(3, 12),
            "free-threaded dirs are not X.Y"
        );
        std::fs::create_dir_all(root.join("lib/python3.10")).unwrap();
        let err = xy_from_prefix(&root.join("bin/python3")).unwrap_err().to_string();
        assert!(err.contains("holds python3.10, python3.12"), "{err}");
        std::fs::remove_dir_all(root.join("lib")).unwrap();
        let err = xy_from_prefix(&root.join("bin/python3")).unwrap_err().to_string();
        assert!(err.contains("no python3.X directory in"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
