//! The launcher's own flags, recognised only as the first argument: `--python-info`,
//! `--mlx-info`, `--pkg-info NAME` (answered natively, without starting Python) and
//! `--check-mlx-stack` (native checks, then real imports in the embedded interpreter).
//! Each prints one JSON object on stdout and exits 0 when healthy, 2 otherwise.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use msty_mlx_studio::bytecode::{self, BytecodePlan};
use msty_mlx_studio::child_env;
use msty_mlx_studio::distinfo::{DistError, SiteDir};
use msty_mlx_studio::exit_code::DIAGNOSTICS_FAILED;
use msty_mlx_studio::layout::{self, Failure, Layout, LookupEnv};
use msty_mlx_studio::settings::{self, EXIT_WITH_PARENT};
use msty_mlx_studio::stack::{self, Check, MLX_BACKENDS, TargetPython};
use msty_mlx_studio::{BUILT_FOR_PYTHON, LAUNCHER_VERSION};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::{ffi, interpreter, libpython, parent};

/// A recognised launcher flag.
#[derive(Debug, PartialEq, Eq)]
pub enum Flag {
    PythonInfo,
    PkgInfo(Option<OsString>),
    CheckMlxStack,
}

/// Our flags count only as argv[1]; anywhere else they are mlxk2's arguments.
pub fn recognise(argv: &[OsString]) -> Option<Flag> {
    match argv.get(1)?.to_str()? {
        "--python-info" => Some(Flag::PythonInfo),
        "--mlx-info" => Some(Flag::PkgInfo(Some("mlx".into()))),
        "--pkg-info" => Some(Flag::PkgInfo(argv.get(2).cloned())),
        "--check-mlx-stack" => Some(Flag::CheckMlxStack),
        _ => None,
    }
}

/// Answers `flag`; returns the exit status.
pub fn answer(flag: Flag, exe: &Path, argv: &[OsString]) -> i32 {
    let vendor = exe.parent().unwrap_or(Path::new("/")).join("_vendor");
    tracing::debug!(?flag, vendor = %vendor.display(), "answering a launcher flag");
    let (report, healthy) = match flag {
        Flag::PythonInfo => python_info(exe),
        Flag::PkgInfo(None) => (json!({ "error": "--pkg-info needs a package name, e.g. --pkg-info mlx_lm" }), false),
        Flag::PkgInfo(Some(name)) => pkg_info(&SiteDir::scan(&vendor), &name.to_string_lossy()),
        Flag::CheckMlxStack => check_mlx_stack(exe, &vendor, argv),
    };
    emit(&report);
    if healthy { 0 } else { DIAGNOSTICS_FAILED.into() }
}

fn emit(report: &Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout leaves nothing to report to; the exit status still tells.
    let _ = serde_json::to_writer(&mut out, report).map_err(std::io::Error::from).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
}

fn target_python(mapped: &libpython::Mapped) -> TargetPython {
    let (machine, release, kernel_version) = ffi::uname();
    let full = if mapped.version.is_empty() { format!("{BUILT_FOR_PYTHON}.0") } else { mapped.version.clone() };
    TargetPython { python_version: BUILT_FOR_PYTHON.into(), python_full_version: full, machine, release, kernel_version }
}

/// Everything the launcher would decide for a normal run, without running it.
fn python_info(exe: &Path) -> (Value, bool) {
    let mapped = libpython::mapped();
    let exit_with_parent = settings::switch(EXIT_WITH_PARENT, std::env::var_os(EXIT_WITH_PARENT).as_deref(), true);
    let mut problems: Vec<String> = Vec::new();
    let mut report = json!({
        "ok": false,
        "launcher_version": LAUNCHER_VERSION,
        "built_for_python": BUILT_FOR_PYTHON,
        "python_version": mapped.version,
        "platform": if cfg!(target_os = "macos") { "darwin" } else { "linux" },
        "launcher": exe,
        "libpython": mapped,
        "vendor": exe.parent().unwrap_or(Path::new("/")).join("_vendor"),
        "isolation": {
            "isolated": true,
            "user_site": false,
            "environment_ignored": true,
            "safe_path": true,
            "write_bytecode": false,
            "buffered_stdio": false,
        },
        "exit_with_parent": match &exit_with_parent {
            Ok(enabled) => json!({ "enabled": enabled, "watch": parent::planned(*enabled) }),
            Err(_) => json!({ "enabled": null }),
        },
    });
    if let Err(e) = &exit_with_parent {
        problems.push(e.to_string());
    }
    match layout::locate(exe, &LookupEnv::from_process()) {
        Err(failure) => {
            report["candidates"] = json!([]);
            problems.push(failure.to_string());
            for key in ["executable", "prefix", "base_prefix", "home", "home_rule", "sys_path"] {
                report[key] = Value::Null;
            }
        }
        Ok(layout) => {
            problems.extend(layout::validate(&layout, BUILT_FOR_PYTHON).iter().map(Failure::to_string));
            if let Err(e) = libpython::check(&mapped, &layout, BUILT_FOR_PYTHON) {
                problems.push(e.to_string());
            }
            let bytecode = bytecode::plan(&layout.vendor, &layout.home, BUILT_FOR_PYTHON, dirs::cache_dir().as_deref());
            let child = child_env::plan(std::env::vars_os(), &layout.vendor, bytecode.pycache_prefix.as_deref());
            report["isolation"]["write_bytecode"] = json!(bytecode.write_bytecode());
            report["bytecode"] = json!(bytecode);
            report["executable"] = json!(layout.executable);
            report["prefix"] = json!(layout.home);
            report["base_prefix"] = json!(layout.home);
            report["home"] = json!(layout.home);
            report["home_rule"] = json!(layout.home_rule);
            report["sys_path"] = json!(predicted_sys_path(&layout));
            report["candidates"] = json!(layout.candidates);
            report["child_environment"] = json!({
                "set": child.set.iter().map(|(k, v)| (k.to_string_lossy().into_owned(), json!(v.to_string_lossy()))).collect::<serde_json::Map<_, _>>(),
                "removed": child.remove.iter().map(|k| k.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            });
        }
    }
    let ok = problems.is_empty();
    report["ok"] = json!(ok);
    report["problems"] = json!(problems);
    (report, ok)
}

/// The `sys.path` the interpreter will have: `_vendor`, its `.pth` path lines (as `site`
/// adds them: sorted files, existing directories only), then CPython's own entries.
fn predicted_sys_path(layout: &Layout) -> Vec<PathBuf> {
    let mut path = vec![layout.vendor.clone()];
    let mut pth_files: Vec<PathBuf> = std::fs::read_dir(&layout.vendor)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("pth")) && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    pth_files.sort();
    for file in pth_files {
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') || line.starts_with("import ") || line.starts_with("import\t") {
                continue;
            }
            let dir = layout.vendor.join(line);
            if dir.exists() && !path.contains(&dir) {
                path.push(dir);
            }
        }
    }
    let lib = layout.home.join("lib");
    let stdlib = layout::stdlib_dir(&layout.home, BUILT_FOR_PYTHON);
    path.push(lib.join(format!("python{}.zip", BUILT_FOR_PYTHON.replace('.', ""))));
    path.push(stdlib.clone());
    path.push(stdlib.join("lib-dynload"));
    if stdlib.join("site-packages").is_dir() {
        path.push(stdlib.join("site-packages"));
    }
    path
}

fn pkg_info(site: &SiteDir, name: &str) -> (Value, bool) {
    tracing::debug!("{} dist-info directories in `{}`", site.by_name.values().map(Vec::len).sum::<usize>(), site.path.display());
    match site.distribution(name) {
        Err(e) => (error_json(name, &e), false),
        Ok(dist) => {
            let mut report = json!(dist);
            if dist.package.eq_ignore_ascii_case("mlx") {
                let mut backends = serde_json::Map::new();
                for backend in MLX_BACKENDS {
                    match site.distribution(backend) {
                        Ok(b) => backends.insert(backend.into(), json!({ "version": b.version, "dist_info": b.dist_info })),
                        Err(DistError::NotFound { .. }) => continue,
                        Err(e) => backends.insert(backend.into(), json!({ "error": e.to_string() })),
                    };
                }
                report["backends"] = Value::Object(backends);
            }
            (report, true)
        }
    }
}

fn error_json(name: &str, error: &DistError) -> Value {
    let mut value = json!({ "error": error.to_string(), "package": name, "details": error });
    if let DistError::NotFound { searched, .. } = error {
        value["searched"] = json!(searched);
    }
    value
}

/// Native compatibility checks, then `import mlx.core, mlx_lm` in the embedded interpreter.
fn check_mlx_stack(exe: &Path, vendor: &Path, argv: &[OsString]) -> (Value, bool) {
    let mapped = libpython::mapped();
    let site = SiteDir::scan(vendor);
    let mut checks = stack::native_checks(&site, &target_python(&mapped));
    let dist_version = |name: &str| site.distribution(name).ok().map(|d| d.version);
    let mut report = json!({ "ok": false, "mlx": null, "mlx_lm": null, "error": null });

    // The imports run in exactly the configuration of a normal run, or not at all.
    match crate::runnable_layout(exe) {
        Err(problem) => checks.push(Check { name: "import mlx.core, mlx_lm".into(), ok: false, detail: problem.to_string() }),
        Ok(layout) => {
            let bytecode = bytecode::plan(&layout.vendor, &layout.home, BUILT_FOR_PYTHON, dirs::cache_dir().as_deref());
            ffi::apply_child_env(&child_env::plan(std::env::vars_os(), &layout.vendor, bytecode.pycache_prefix.as_deref()));
            match import_stack(&layout, &bytecode, argv) {
                Err(failure) => checks.push(Check { name: "import mlx.core, mlx_lm".into(), ok: false, detail: failure.to_string() }),
                Ok(imported) => {
                    for (key, module, dist) in [("mlx", "mlx.core", "mlx"), ("mlx_lm", "mlx_lm", "mlx-lm")] {
                        match &imported[key] {
                            Value::String(error) => checks.push(Check { name: format!("import {module}"), ok: false, detail: error.clone() }),
                            found => {
                                report[key] = found.clone();
                                let version = found["version"].as_str().unwrap_or_default();
                                checks.push(Check { name: format!("import {module}"), ok: true, detail: format!("{module} {version} from {}", found["file"].as_str().unwrap_or("?")) });
                                if let Some(installed) = dist_version(dist) {
                                    let same = same_version(version, &installed);
                                    checks.push(Check {
                                        name: format!("{module} is the installed {dist}"),
                                        ok: same,
                                        detail: format!("imported {version}, dist-info says {installed}"),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let failed: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    let ok = failed.is_empty();
    report["ok"] = json!(ok);
    report["error"] = if ok { Value::Null } else { json!(failed.join("; ")) };
    report["checks"] = json!(checks);
    (report, ok)
}

fn same_version(a: &str, b: &str) -> bool {
    use pep508_rs::pep440_rs::Version;
    use std::str::FromStr;
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Imports the stack; per module either `{version, file}` or the exception text.
const IMPORT_STACK: &std::ffi::CStr = c"
import contextlib, importlib, sys
result = {}
for key, name in (('mlx', 'mlx.core'), ('mlx_lm', 'mlx_lm')):
    try:
        # Whatever the imports print belongs on stderr: stdout carries the JSON report.
        with contextlib.redirect_stdout(sys.stderr):
            module = importlib.import_module(name)
        result[key] = {'version': str(getattr(module, '__version__', None)), 'file': getattr(module, '__file__', None)}
    except BaseException as e:
        result[key] = f'{type(e).__name__}: {e}'
";

fn import_stack(layout: &Layout, bytecode: &BytecodePlan, argv: &[OsString]) -> Result<Value, Failure> {
    let interpreter = interpreter::start(layout, bytecode, argv, "pass")?;
    let result = Python::attach(|py| -> PyResult<String> {
        let globals = pyo3::types::PyDict::new(py);
        py.run(IMPORT_STACK, Some(&globals), None)?;
        let json = py.import("json")?;
        json.call_method1("dumps", (globals.get_item("result")?,))?.extract()
    });
    interpreter.finalize();
    let text = result.map_err(|e| {
        Failure::new(msty_mlx_studio::exit_code::LauncherExit::InterpreterStart, format!("the import check failed: {e}"), "see the report")
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(msty_mlx_studio::exit_code::LauncherExit::InterpreterStart, format!("the import check returned bad JSON: {e}"), "see the report")
    })
}
