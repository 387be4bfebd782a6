//! Step 2, installed: mlxk2 and its dependencies (then the custom wheels) installed with uv into
//! `_vendor` in the temporary sibling, scanned once, checked, and stamped.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use fs_err as fs;

use super::Progress;
use super::inputs::Inputs;
use crate::mode::Mode;
use crate::project::Project;
use crate::vendor::Vendor;
use crate::{Options, custom, stamp, temp};

/// `_vendor` complete, in the temporary sibling.
pub struct Installed {
    pub inputs: Inputs,
    pub tmp: temp::TempDir,
    /// The build's one scan of `_vendor`.
    pub vendor: Vendor,
    /// Scratch inside the sibling (the project's wheel, requirements, pyo3's config), removed
    /// before verification.
    pub work: PathBuf,
}

pub fn install(opts: &Options, inputs: Inputs, progress: &Progress) -> Result<Installed> {
    let tmp = temp::TempDir::create(&opts.dist_dir, &opts.bin_name)?;
    let vendor_dir = tmp.path.join("_vendor");
    let work = tmp.path.join(".work");
    fs::create_dir_all(&vendor_dir)?;
    fs::create_dir_all(&work)?;
    let Inputs { installer, mode, facts, project, requirements, custom, .. } = &inputs;

    progress.header(match mode {
        Mode::Embedded { .. } => "Installing mlxk2 and its dependencies (uv, for the interpreter)".to_string(),
        Mode::WheelsOnly { target, .. } => format!(
            "Installing mlxk2 and its dependencies (uv, wheels for {} / Python {})",
            target.triple, facts.version
        ),
    });
    let mut args: Vec<OsString> = vec![match (project, mode) {
        (Project::Tree(tree), Mode::WheelsOnly { .. }) => installer.build_wheel(tree, &work)?.into_os_string(),
        (Project::Tree(tree), Mode::Embedded { .. }) => tree.clone().into_os_string(),
        (Project::Requirement(req), _) => req.into(),
    }];
    if let Some(text) = requirements {
        let file = work.join("requirements.txt");
        fs::write(&file, custom::filter_requirements(text, custom))?;
        args.extend(["-r".into(), file.into_os_string()]);
    }
    installer.install(&vendor_dir, &args, false)?;
    if !custom.is_empty() {
        progress.header("Installing custom wheels last (they override PyPI pins)");
        let files = custom::stage(custom, &work.join("custom"))?;
        installer.install(&vendor_dir, &files, true)?;
    }

    let mut vendor = Vendor::scan(&vendor_dir);
    for (_, w) in custom {
        vendor.remove_superseded(w)?;
    }
    vendor.check()?;
    // --target installs write console scripts whose shebangs name the build machine's python.
    let bin = vendor_dir.join("bin");
    if bin.exists() {
        fs::remove_dir_all(&bin)?;
    }
    if let Some(version) = &opts.version_stamp {
        progress.header(format!("Stamping mlxk2 version {version} (vendored copy only)"));
        stamp::stamp(&vendor_dir, vendor.mlxk2(), version)?;
    }
    Ok(Installed { inputs, tmp, vendor, work })
}
