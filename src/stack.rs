//! The MLX stack's compatibility checks that need no interpreter: `mlx` satisfies what
//! `mlx-lm` and `mlx-knife` require of it (PEP 508 markers evaluated for the bundled Python),
//! backend packages match `mlx`'s version, and no project is installed twice.

use std::str::FromStr;

use msty_mlx_distinfo::pep508::{Environment, Requirement, Version, VersionOrUrl};
use serde::Serialize;

use msty_mlx_distinfo::{SiteDir, normalize};

/// MLX's backend distributions: Metal on macOS, `mlx[cpu]`, `mlx[cuda12]`/`mlx[cuda13]`
/// (and the older single `mlx-cuda`).
pub const MLX_BACKENDS: [&str; 5] = ["mlx-metal", "mlx-cpu", "mlx-cuda", "mlx-cuda-12", "mlx-cuda-13"];

/// Projects whose requirements on `mlx` are checked.
const DEPENDENTS: [&str; 2] = ["mlx-lm", "mlx-knife"];

/// One check's outcome, as reported in `checks: [...]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> Check {
        Check { name: name.into(), ok, detail: detail.into() }
    }
}

/// The platform the bundled interpreter runs on, for marker evaluation.
#[derive(Clone, Debug)]
pub struct TargetPython {
    /// `3.11`
    pub python_version: String,
    /// `3.11.7`
    pub python_full_version: String,
    /// `uname -m`, `uname -r`, `uname -v`.
    pub machine: String,
    pub release: String,
    pub kernel_version: String,
}

impl TargetPython {
    pub fn marker_environment(&self) -> Environment {
        let (sys_platform, platform_system) =
            if cfg!(target_os = "macos") { ("darwin", "Darwin") } else { ("linux", "Linux") };
        Environment {
            implementation_name: "cpython".into(),
            implementation_version: self.python_full_version.clone(),
            os_name: "posix".into(),
            platform_machine: self.machine.clone(),
            platform_python_implementation: "CPython".into(),
            platform_release: self.release.clone(),
            platform_system: platform_system.into(),
            platform_version: self.kernel_version.clone(),
            python_full_version: self.python_full_version.clone(),
            python_version: self.python_version.clone(),
            sys_platform: sys_platform.into(),
        }
    }
}

/// No project may have two dist-infos (which one Python imports is an accident of order).
fn duplicates_check(site: &SiteDir) -> Check {
    let duplicates: Vec<String> = site
        .duplicates()
        .map(|(name, paths)| {
            let list: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
            format!("{name}: {}", list.join(" and "))
        })
        .collect();
    Check::new(
        "no duplicate dist-infos",
        duplicates.is_empty(),
        if duplicates.is_empty() {
            format!("{} distributions in `{}`", site.by_name.len(), site.path.display())
        } else {
            duplicates.join("; ")
        },
    )
}

/// Runs the native checks over `site`; `target` is `None` when the bundled Python's X.Y is
/// unknown (markers cannot be evaluated then).
pub fn native_checks(site: &SiteDir, target: Option<&TargetPython>) -> Vec<Check> {
    let mut checks = Vec::new();

    checks.push(duplicates_check(site));

    let mlx = match site.distribution("mlx") {
        Ok(mlx) => {
            checks.push(Check::new(
                "mlx installed",
                true,
                format!("mlx {} ({})", mlx.version, mlx.dist_info.display()),
            ));
            mlx
        }
        Err(e) => {
            checks.push(Check::new("mlx installed", false, e.to_string()));
            return checks;
        }
    };
    let mlx_version = match Version::from_str(&mlx.version) {
        Ok(v) => v,
        Err(e) => {
            checks.push(Check::new("mlx version", false, format!("`{}` is not a PEP 440 version: {e}", mlx.version)));
            return checks;
        }
    };

    let env = target
        .ok_or_else(|| {
            "cannot evaluate markers: the bundled Python's X.Y is unknown (no stdlib and no runtime stamp)".to_string()
        })
        .map(TargetPython::marker_environment);
    for dependent in DEPENDENTS {
        let name = format!("{dependent} requirements on mlx");
        let dist = match site.distribution(dependent) {
            Ok(dist) => dist,
            Err(msty_mlx_distinfo::DistError::NotFound { .. }) if dependent == "mlx-knife" => continue,
            Err(e) => {
                checks.push(Check::new(name, false, e.to_string()));
                continue;
            }
        };
        let env = match &env {
            Ok(env) => env,
            Err(e) => {
                checks.push(Check::new(name, false, e.clone()));
                continue;
            }
        };
        checks.push(requirement_check(
            name,
            &dist.package,
            &dist.version,
            &dist.requires_dist,
            &dist.dist_info,
            &mlx_version,
            env,
        ));
    }

    for backend in MLX_BACKENDS {
        match site.distribution(backend) {
            Ok(dist) => {
                let same = Version::from_str(&dist.version).is_ok_and(|v| v == mlx_version);
                checks.push(Check::new(
                    format!("{backend} matches mlx"),
                    same,
                    format!("{backend} {} {} mlx {}", dist.version, if same { "==" } else { "!=" }, mlx.version),
                ));
            }
            Err(msty_mlx_distinfo::DistError::NotFound { .. }) => {}
            Err(e) => checks.push(Check::new(format!("{backend} matches mlx"), false, e.to_string())),
        }
    }
    checks
}

fn requirement_check(
    name: String,
    package: &str,
    version: &str,
    requires_dist: &[String],
    dist_info: &std::path::Path,
    mlx: &Version,
    env: &Environment,
) -> Check {
    let mut applied = Vec::new();
    let mut failed = Vec::new();
    for line in requires_dist {
        let requirement = match Requirement::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                return Check::new(
                    name,
                    false,
                    format!("cannot parse Requires-Dist `{line}` in `{}`: {first}", dist_info.display()),
                );
            }
        };
        if normalize(&requirement.name) != "mlx" || !requirement.applies(env, &[]) {
            continue;
        }
        let satisfied = match &requirement.version {
            VersionOrUrl::Specifiers(specifiers) => specifiers.contains(mlx),
            VersionOrUrl::Url(_) => false,
        };
        if satisfied { applied.push(format!("`{line}`")) } else { failed.push(format!("`{line}`")) }
    }
    let who = format!("{package} {version}");
    if !failed.is_empty() {
        Check::new(name, false, format!("mlx {mlx} does not satisfy {} ({who})", failed.join(", ")))
    } else if applied.is_empty() {
        Check::new(name, true, format!("{who} has no mlx requirement for this platform"))
    } else {
        Check::new(name, true, format!("mlx {mlx} satisfies {} ({who})", applied.join(", ")))
    }
}
