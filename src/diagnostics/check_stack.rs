//! `--check-mlx-stack`: the MLX stack's native checks (dist-infos, PEP 508 requirements on
//! mlx, backend versions) and the real imports in the embedded interpreter, configured exactly
//! as a normal run.

use std::ffi::OsString;
use std::path::Path;

use msty_mlx_contract::python::PyVersion;
use msty_mlx_distinfo::SiteDir;
use serde_json::{Value, json};

use crate::plan::{self, Depth, Inputs};
use crate::stack::{self, Check, TargetPython};
use crate::{stage2, sys};

fn target_python(xy: PyVersion, full_version: Option<&str>) -> TargetPython {
    let (machine, release, kernel_version) = sys::uname();
    let full = full_version
        .map(|v| v.split_whitespace().next().unwrap_or(v).trim_end_matches('+').to_string())
        .unwrap_or_else(|| xy.to_string());
    TargetPython { python_version: xy.to_string(), python_full_version: full, machine, release, kernel_version }
}

/// Native compatibility checks, then `import mlx.core, mlx_lm` in the embedded interpreter,
/// with exactly the configuration of a normal run (or not at all).
pub fn answer(inputs: &Inputs, vendor: &Path, argv: &[OsString]) -> (Value, bool) {
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
