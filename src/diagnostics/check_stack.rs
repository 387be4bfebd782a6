//! `--check-mlx-stack`, in this order: the MLX stack's native checks (dist-infos, PEP 508
//! requirements on mlx, backend versions), with no Python loaded — so they answer for a
//! bundle whose interpreter cannot start — then the real imports in the embedded interpreter,
//! configured exactly as a normal run. Markers are evaluated for the home's X.Y;
//! `python_full_version` is taken as `X.Y` (no interpreter has run yet to tell the patch level).

use std::ffi::OsString;
use std::path::Path;

use msty_mlx_contract::python::PyVersion;
use msty_mlx_distinfo::SiteDir;
use serde_json::{Value, json};

use crate::plan::{self, Depth, Inputs};
use crate::stack::{self, Check, TargetPython};
use crate::{stage2, sys};

/// The marker environment of the home's interpreter, known before it runs.
fn target_python(xy: PyVersion) -> TargetPython {
    let (machine, release, kernel_version) = sys::uname();
    TargetPython {
        python_version: xy.to_string(),
        python_full_version: xy.to_string(),
        machine,
        release,
        kernel_version,
    }
}

/// The answer and whether the stack is healthy.
pub fn answer(inputs: &Inputs, vendor: &Path, argv: &[OsString]) -> (Value, bool) {
    let site = SiteDir::scan(vendor);
    let survey = plan::survey(inputs, Depth::Run);
    let xy = survey.python.or_else(|| survey.runtime.as_ref().ok().map(|s| s.python));
    let mut checks = stack::native_checks(&site, xy.map(target_python).as_ref());
    tracing::debug!(
        run = checks.len(),
        failed = checks.iter().filter(|c| !c.ok).count(),
        "native checks done; importing the MLX stack next"
    );
    let mut report = json!({ "ok": false, "mlx": null, "mlx_lm": null, "error": null });
    checks.extend(import_checks(inputs, survey, &site, argv, &mut report));
    let failed: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    let ok = failed.is_empty();
    report["ok"] = json!(ok);
    report["error"] = if ok { Value::Null } else { json!(failed.join("; ")) };
    report["checks"] = json!(checks);
    (report, ok)
}

/// `import mlx.core, mlx_lm` in the embedded interpreter (or why it cannot start), and whether
/// the imported versions are the installed dist-infos'; fills `report`'s `mlx` and `mlx_lm`.
fn import_checks(
    inputs: &Inputs,
    survey: plan::Survey,
    site: &SiteDir,
    argv: &[OsString],
    report: &mut Value,
) -> Vec<Check> {
    const IMPORTS: &str = "import mlx.core, mlx_lm";
    let imported = survey.into_runnable().and_then(|plan| {
        // SAFETY: the diagnostics are answered before anything starts a thread (`main::run`
        // arms exit-with-parent only for a run); CPython starts after this.
        #[allow(unsafe_code)]
        let (python, plan) = unsafe { stage2::load_prepared(inputs, plan)? };
        python.import_check(&plan, argv)
    });
    let imported = match imported {
        Err(problem) => return vec![Check { name: IMPORTS.into(), ok: false, detail: problem.to_string() }],
        Ok(imported) => imported,
    };
    let mut checks = Vec::new();
    for (key, module, dist) in [("mlx", "mlx.core", "mlx"), ("mlx_lm", "mlx_lm", "mlx-lm")] {
        let found = &imported[key];
        if let Value::String(error) = found {
            checks.push(Check { name: format!("import {module}"), ok: false, detail: error.clone() });
            continue;
        }
        report[key] = found.clone();
        let version = found["version"].as_str().unwrap_or_default();
        let file = found["file"].as_str().unwrap_or("?");
        checks.push(Check {
            name: format!("import {module}"),
            ok: true,
            detail: format!("{module} {version} from {file}"),
        });
        if let Ok(installed) = site.distribution(dist).map(|d| d.version) {
            checks.push(Check {
                name: format!("{module} is the installed {dist}"),
                ok: same_version(version, &installed),
                detail: format!("imported {version}, dist-info says {installed}"),
            });
        }
    }
    checks
}

fn same_version(a: &str, b: &str) -> bool {
    use msty_mlx_distinfo::pep508::Version;
    use std::str::FromStr;
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
