//! Step 1, inputs: every flag, file and tool checked before anything is written.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use fs_err as fs;

use super::Progress;
use crate::custom::{self, CustomWheel};
use crate::install::Installer;
use crate::launcher_source::Source;
use crate::mode::{Mode, Resolved};
use crate::probe::PythonFacts;
use crate::project::Project;
use crate::uv::{self, Uv};
use crate::{Options, clean, pip_args};

/// The checked inputs.
pub struct Inputs {
    /// `<dist dir>/<BIN_NAME>`.
    pub output: PathBuf,
    pub project: Project,
    pub mode: Mode,
    pub facts: PythonFacts,
    /// The `--requirements` file's text.
    pub requirements: Option<String>,
    pub uv: Uv,
    pub installer: Installer,
    pub custom: Vec<CustomWheel>,
    /// Where the launcher comes from (a kit is chosen and checked here).
    pub launcher: Source,
}

pub fn check(opts: &Options, progress: &Progress) -> Result<Inputs> {
    let output = opts.dist_dir.join(&opts.bin_name);
    validate_bin_name(&opts.bin_name)?;
    progress.header("Checking inputs");
    let project = Project::resolve(opts)?;
    let Resolved { mode, facts, python_source } = Mode::resolve(opts)?;
    progress.note(format!(
        "interpreter: {} ({python_source}); Python {} for {}",
        mode.interpreter().map_or("<none>".into(), |p| p.display().to_string()),
        facts.version,
        facts.platform_tag
    ));
    let pip_args = pip_args::check(&opts.pip_args)?;
    let requirements = opts
        .requirements
        .as_ref()
        .map(|r| fs::read_to_string(r).with_context(|| format!("cannot read the requirements file `{}`", r.display())))
        .transpose()?;
    if output.exists() && !opts.clean {
        bail!("`{}` already exists; pass --clean (CLEAN=1) to replace it", output.display());
    }
    if opts.clean {
        clean::check_deletable(&output, &opts.dist_dir, project.tree().or(Some(&opts.cwd)))?;
    }
    let uv = uv::find_or_install(uv::tools_dir().as_deref(), &|line| progress.note(line))?;
    progress.note(format!("installer: uv {} ({}: {})", uv.version, uv.found, uv.program.display()));
    let installer = Installer::new(&uv, &mode, facts.version, pip_args, &opts.cwd, opts.quiet);
    let custom = custom::find(opts, &facts, &installer)?;
    for (_, w) in &custom {
        progress.note(format!("custom wheel: {} {} ({})", w.name, w.version, w.path.display()));
    }
    // Last: every other input is checked first; a kit is chosen and its files checked here,
    // before anything is written.
    let launcher = Source::resolve(opts, &facts)?;
    progress.note(format!("launcher: {}", launcher.describe()));
    Ok(Inputs { output, project, mode, facts, requirements, uv, installer, custom, launcher })
}

fn validate_bin_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.starts_with('.') {
        bail!("--bin-name `{name}` must be a plain file name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bin_names() {
        for bad in ["", ".", "..", ".hidden", "a/b"] {
            assert!(super::validate_bin_name(bad).is_err(), "{bad:?}");
        }
        assert!(super::validate_bin_name("msty-mlx-studio").is_ok());
    }
}
