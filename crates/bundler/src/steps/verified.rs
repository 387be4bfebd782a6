//! Step 5, verified: the bundle run (its own launcher's `--check-mlx-stack`, the imports), its
//! manifest written, and the whole checked for signing.

use anyhow::{Result, bail};
use fs_err as fs;

use super::Progress;
use super::launcher_placed::LauncherPlaced;
use crate::manifest::{self, Manifest};
use crate::mode::Mode;
use crate::sanity::{self, Sanity};
use crate::{Options, verify};

/// A bundle ready to move into place.
pub struct Verified {
    pub built: LauncherPlaced,
    pub sanity: Sanity,
    /// How many distributions `_vendor` holds.
    pub distributions: usize,
}

pub fn verify(opts: &Options, built: LauncherPlaced, progress: &Progress) -> Result<Verified> {
    let sanity = run_sanity(opts, &built, progress)?;
    progress.header("Writing bundle-manifest.json");
    let manifest = manifest_of(opts, &built, &sanity)?;
    let distributions = manifest.distributions.len();
    let dir = &built.compiled.installed.tmp.path;
    fs::write(dir.join(crate::kit::BUNDLE_MANIFEST), serde_json::to_string_pretty(&manifest)? + "\n")?;

    progress.header("Verifying the bundle for signing");
    let report = verify::verify(dir)?;
    if report.errors() > 0 {
        // The findings are details, before the one error line.
        for f in report.findings.iter().filter(|f| f.severity == verify::Severity::Error) {
            eprintln!("    {f}");
        }
        bail!("the bundle has {} problem(s) that break signing (listed above)", report.errors());
    }
    progress.note(format!("{} native binaries to sign, {} warning(s)", report.sign_list.len(), report.warnings()));
    for n in &report.not_run {
        progress.note(format!("not run: {}: {}", n.check, n.reason));
    }
    Ok(Verified { built, sanity, distributions })
}

/// The sanity check where the bundle can run here, else why not.
fn run_sanity(opts: &Options, built: &LauncherPlaced, progress: &Progress) -> Result<Sanity> {
    let installed = &built.compiled.installed;
    let (mode, facts) = (&installed.inputs.mode, &installed.inputs.facts);
    let python = match mode.runnable_interpreter(facts) {
        Ok(python) => python,
        Err(why) => {
            let skipped = Sanity::Skipped { why };
            progress.header(format!("Sanity check {skipped}"));
            return Ok(skipped);
        }
    };
    progress.header("Sanity check: --check-mlx-stack and imports");
    // The embedded interpreter's home runs the imports; wheels-only has only `--python`.
    let home_python = facts.prefix.join("bin/python3");
    let import_python = match mode {
        Mode::Embedded { .. } if home_python.is_file() => home_python.as_path(),
        _ => python,
    };
    let sanity = sanity::check(&installed.tmp.path, &opts.bin_name, &installed.vendor, python, import_python)?;
    progress.note(sanity.to_string());
    Ok(sanity)
}

/// `bundle-manifest.json`, from the build's stages.
fn manifest_of(opts: &Options, built: &LauncherPlaced, sanity: &Sanity) -> Result<Manifest> {
    let installed = &built.compiled.installed;
    let inputs = &installed.inputs;
    let (python_platform, macosx_deployment_target) = match &inputs.mode {
        Mode::WheelsOnly { target, .. } => (Some(target.triple.clone()), target.macos_deployment_target.clone()),
        Mode::Embedded { .. } => (None, None),
    };
    let stamp = &built.checked.stamp;
    Ok(Manifest {
        python: manifest::PythonEntry {
            version: inputs.facts.version,
            full_version: inputs.facts.full_version.clone(),
            platform_tag: inputs.facts.platform_tag.clone(),
        },
        distributions: installed.vendor.manifest_entries(),
        custom_wheels: inputs.custom.iter().map(|(_, w)| manifest::CustomWheelEntry::of(w)).collect::<Result<_>>()?,
        launcher: manifest::LauncherEntry {
            name: opts.bin_name.clone(),
            version: msty_mlx_contract::VERSION.into(),
            build: built.checked.launcher.clone(),
        },
        runtime: manifest::RuntimeEntry {
            file: built.runtime_name.into(),
            python: stamp.python,
            plan_format: stamp.plan_format,
            version: stamp.version.clone(),
            build: built.checked.runtime.clone(),
        },
        kit: built.kit.clone(),
        mlxk2_version: installed.vendor.mlxk2().map(|d| d.version),
        bytecode: built.compiled.bytecode.mode(),
        installer: manifest::InstallerEntry {
            tool: "uv".into(),
            version: inputs.uv.version.clone(),
            sha256: inputs.uv.sha256.clone(),
            source: inputs.uv.found.into(),
            python_platform,
            macosx_deployment_target,
        },
        sanity_check: sanity.clone(),
    })
}
