//! The launcher's own flags, recognised only as the first argument: `--python-info`,
//! `--mlx-info`, `--pkg-info NAME` (answered natively: neither libpython nor the runtime is
//! loaded) and `--check-mlx-stack` (native checks, then real imports in the embedded
//! interpreter). Each prints one JSON object on stdout and exits 0 when healthy, 2 otherwise.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::failure::Failure;
use crate::plan::{self, Depth, Inputs, LaunchPlan};
use crate::stack::{self, Check, MLX_BACKENDS, TargetPython};
use msty_mlx_contract::exit_code::DIAGNOSTICS_FAILED;
use msty_mlx_contract::os_serde;
use msty_mlx_contract::python::PyVersion;
use msty_mlx_distinfo as distinfo;
use msty_mlx_distinfo::{self, DistError, SiteDir};

use crate::{LAUNCHER_VERSION, python_home, stage2, sys};

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

/// Answers `flag` for the launcher at `exe`; returns the exit status. `--pkg-info` and
/// `--mlx-info` read `_vendor` next to it and nothing else of the environment.
pub fn answer(flag: Flag, exe: PathBuf, log_filter: Option<String>, argv: &[OsString]) -> i32 {
    let vendor = exe.parent().unwrap_or(Path::new("/")).join("_vendor");
    tracing::debug!(?flag, vendor = %vendor.display(), "answering a launcher flag");
    let (report, healthy) = match flag {
        Flag::PythonInfo => python_info(&Inputs::capture(exe, log_filter)),
        Flag::PkgInfo(None) => (json!({ "error": "--pkg-info needs a package name, e.g. --pkg-info mlx_lm" }), false),
        Flag::PkgInfo(Some(name)) => {
            let name = name.to_string_lossy();
            // Only the asked project (and mlx's backends) are read, however large _vendor is.
            let mut wanted = vec![distinfo::normalize(&name)];
            if wanted[0] == "mlx" {
                wanted.extend(MLX_BACKENDS.map(distinfo::normalize));
            }
            pkg_info(&SiteDir::scan_for(&vendor, &wanted), &name)
        }
        Flag::CheckMlxStack => check_mlx_stack(&Inputs::capture(exe, log_filter), &vendor, argv),
    };
    emit(&report);
    if healthy { 0 } else { DIAGNOSTICS_FAILED.into() }
}

fn emit(report: &impl serde::Serialize) {
    // One line, one write (stdout is line-buffered: a writer would scan every byte for `\n`).
    let mut line = serde_json::to_string(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    line.push('\n');
    // A closed stdout leaves nothing to report to; the exit status still tells.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
}

fn path_json(path: &Path) -> Value {
    os_serde::to_json(path.as_os_str())
}

/// Everything the launcher would decide for a normal run, without running it: the launch plan
/// itself (`plan`), the bash launcher's keys, and every problem.
fn python_info(inputs: &Inputs) -> (Value, bool) {
    let survey = plan::survey(inputs, Depth::Describe);
    let vendor = inputs.exe.parent().unwrap_or(Path::new("/")).join("_vendor");
    let mut report = json!({
        "ok": survey.problems.is_empty(),
        "launcher_version": LAUNCHER_VERSION,
        "launcher": path_json(&inputs.exe),
        "python_version": survey.python,
        "platform": if cfg!(target_os = "macos") { "darwin" } else { "linux" },
        "vendor": path_json(&vendor),
        "runtime": match &survey.runtime {
            Ok(stamp) => json!({ "path": path_json(&inputs.exe.with_file_name(msty_mlx_contract::stamp::FILE_NAME)), "python": stamp.python, "plan_format": stamp.plan_format, "version": stamp.version }),
            Err(failure) => json!({ "path": path_json(&inputs.exe.with_file_name(msty_mlx_contract::stamp::FILE_NAME)), "error": failure.message }),
        },
        "plan": survey.plan,
    });
    let exit_with_parent = inputs.exit_with_parent.as_ref().ok();
    report["exit_with_parent"] =
        json!({ "enabled": exit_with_parent, "watch": survey.plan.as_ref().map(|p| p.exit_with_parent) });
    match &survey.layout {
        Err(_) => {
            for key in [
                "executable",
                "prefix",
                "base_prefix",
                "home",
                "home_rule",
                "sys_path",
                "libpython",
                "isolation",
                "bytecode",
                "child_environment",
            ] {
                report[key] = Value::Null;
            }
            report["candidates"] = json!([]);
        }
        Ok(layout) => {
            report["executable"] = path_json(&layout.paths.executable);
            report["prefix"] = path_json(&layout.paths.home);
            report["base_prefix"] = path_json(&layout.paths.home);
            report["home"] = path_json(&layout.paths.home);
            report["home_rule"] = json!(layout.paths.home_rule);
            report["candidates"] = json!(layout.candidates);
            report["libpython"] = match (&survey.python, &survey.libpython) {
                (Some(_), Some(file)) => json!(file),
                (Some(xy), None) => {
                    json!({ "path": path_json(&python_home::libpython_path(&layout.paths.home, *xy)), "version": null, "soname": null })
                }
                (None, _) => Value::Null,
            };
        }
    }
    if let Some(plan) = &survey.plan {
        report["isolation"] = json!(plan.isolation);
        report["bytecode"] = json!(plan.bytecode);
        report["child_environment"] = json!(plan.child_environment);
        report["sys_path"] = Value::Array(predicted_sys_path(plan).iter().map(|p| path_json(p)).collect());
    } else if survey.layout.is_ok() {
        for key in ["isolation", "bytecode", "child_environment", "sys_path"] {
            report[key] = Value::Null;
        }
    }
    let ok = survey.problems.is_empty();
    report["problems"] = json!(survey.problems.iter().map(Failure::to_string).collect::<Vec<_>>());
    (report, ok)
}

/// The `sys.path` the interpreter will have: `_vendor`, its `.pth` path lines (as `site`
/// adds them: sorted files, existing directories only), then CPython's own entries.
fn predicted_sys_path(plan: &LaunchPlan) -> Vec<PathBuf> {
    let mut path = vec![plan.paths.vendor.clone()];
    let mut pth_files: Vec<PathBuf> = std::fs::read_dir(&plan.paths.vendor)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension() == Some(OsStr::new("pth"))
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    pth_files.sort();
    for file in pth_files {
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') || line.starts_with("import ") || line.starts_with("import\t") {
                continue;
            }
            let dir = plan.paths.vendor.join(line);
            if dir.exists() && !path.contains(&dir) {
                path.push(dir);
            }
        }
    }
    let lib = plan.paths.home.join("lib");
    let stdlib = python_home::stdlib_dir(&plan.paths.home, plan.python);
    path.push(lib.join(format!("python{}{}.zip", plan.python.major, plan.python.minor)));
    path.push(stdlib.clone());
    path.push(stdlib.join("lib-dynload"));
    if stdlib.join("site-packages").is_dir() {
        path.push(stdlib.join("site-packages"));
    }
    path
}

fn pkg_info(site: &SiteDir, name: &str) -> (Value, bool) {
    tracing::debug!(
        "{} matching dist-info directories in `{}`",
        site.by_name.values().map(Vec::len).sum::<usize>(),
        site.path.display()
    );
    match site.distribution(name) {
        Err(e) => (error_json(name, &e), false),
        Ok(dist) => {
            let mut report = json!(dist);
            if dist.package.eq_ignore_ascii_case("mlx") {
                let mut backends = serde_json::Map::new();
                for backend in MLX_BACKENDS {
                    match site.distribution(backend) {
                        Ok(b) => backends.insert(
                            backend.into(),
                            json!({ "version": b.version, "dist_info": path_json(&b.dist_info) }),
                        ),
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
        value["searched"] = path_json(searched);
    }
    value
}

fn target_python(xy: PyVersion, full_version: Option<&str>) -> TargetPython {
    let (machine, release, kernel_version) = sys::uname();
    let full = full_version
        .map(|v| v.split_whitespace().next().unwrap_or(v).trim_end_matches('+').to_string())
        .unwrap_or_else(|| xy.to_string());
    TargetPython { python_version: xy.to_string(), python_full_version: full, machine, release, kernel_version }
}

/// Native compatibility checks, then `import mlx.core, mlx_lm` in the embedded interpreter,
/// with exactly the configuration of a normal run (or not at all).
fn check_mlx_stack(inputs: &Inputs, vendor: &Path, argv: &[OsString]) -> (Value, bool) {
    const IMPORTS: &str = "import mlx.core, mlx_lm";
    let site = SiteDir::scan(vendor);
    let survey = plan::survey(inputs, Depth::Run);
    let xy = survey.python.or_else(|| survey.runtime.as_ref().ok().map(|s| s.python));
    let mut import_checks = Vec::new();
    let mut full_version = None;
    let mut report = json!({ "ok": false, "mlx": null, "mlx_lm": null, "error": null });

    match survey.into_runnable().and_then(|plan| {
        sys::apply_child_env(&plan.child_environment);
        let python = stage2::load(&plan)?;
        full_version = Some(python.version.clone());
        python.import_check(&plan, argv)
    }) {
        Err(problem) => import_checks.push(Check { name: IMPORTS.into(), ok: false, detail: problem.to_string() }),
        Ok(imported) => {
            let dist_version = |name: &str| site.distribution(name).ok().map(|d| d.version);
            for (key, module, dist) in [("mlx", "mlx.core", "mlx"), ("mlx_lm", "mlx_lm", "mlx-lm")] {
                match &imported[key] {
                    Value::String(error) => {
                        import_checks.push(Check { name: format!("import {module}"), ok: false, detail: error.clone() })
                    }
                    found => {
                        report[key] = found.clone();
                        let version = found["version"].as_str().unwrap_or_default();
                        import_checks.push(Check {
                            name: format!("import {module}"),
                            ok: true,
                            detail: format!("{module} {version} from {}", found["file"].as_str().unwrap_or("?")),
                        });
                        if let Some(installed) = dist_version(dist) {
                            let same = same_version(version, &installed);
                            import_checks.push(Check {
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
    let target = xy.map(|xy| target_python(xy, full_version.as_deref()));
    let mut checks = stack::native_checks(&site, target.as_ref());
    checks.extend(import_checks);
    let failed: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    let ok = failed.is_empty();
    report["ok"] = json!(ok);
    report["error"] = if ok { Value::Null } else { json!(failed.join("; ")) };
    report["checks"] = json!(checks);
    (report, ok)
}

fn same_version(a: &str, b: &str) -> bool {
    use msty_mlx_distinfo::pep508::Version;
    use std::str::FromStr;
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
