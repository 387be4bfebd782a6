//! Step 4, launcher built: the launcher and its runtime for the target (cargo here, zig for
//! macOS from elsewhere, or prebuilt with `--launcher`), checked and copied next to `_vendor`,
//! with the served port's guard (`guard/`, Python files the launcher loads).

use std::path::Path;

use anyhow::Result;
use fs_err as fs;

use super::Progress;
use super::compiled::Compiled;
use crate::caches::bundler_cache;
use crate::compile::{self, Bytecode};
use crate::launcher::{self, Checked, LauncherFiles, LinkTarget};
use crate::mode::Mode;
use crate::probe::PythonFacts;
use crate::{Options, cargo, cross, platform};
use msty_mlx_contract::plan::GUARD_FILES;

/// The launcher and runtime in the sibling, checked.
pub struct LauncherBuilt {
    pub compiled: Compiled,
    pub checked: Checked,
    /// The runtime's file name in the bundle.
    pub runtime_name: &'static str,
}

pub fn build(opts: &Options, compiled: Compiled, progress: &Progress) -> Result<LauncherBuilt> {
    let installed = &compiled.installed;
    let facts = &installed.inputs.facts;
    progress.header(format!("Building the launcher and its runtime for Python {}", facts.version));
    let built = make(opts, &installed.inputs.mode, facts, &installed.work)?;
    // The interpreter's paths would be loader paths; files built here must not carry this
    // checkout's or the cargo registry's paths either (prebuilt ones are not ours to fix).
    let cargo_home = cargo::cargo_home();
    let mut forbidden: Vec<&Path> = vec![facts.prefix.as_path(), facts.libdir.as_path()];
    if opts.launcher.is_none() {
        forbidden.extend([opts.repo.as_path(), cargo_home.as_path()]);
    }
    forbidden.retain(|p| p.is_absolute() && p.as_os_str().len() > 1);
    let checked = launcher::check(&built, facts.version, &forbidden)?;
    let runtime_name = built.runtime_name();
    let dir = &installed.tmp.path;
    fs::copy(&built.launcher, dir.join(&opts.bin_name))?;
    fs::copy(&built.runtime, dir.join(runtime_name))?;
    copy_guard(opts, &compiled.bytecode, &dir.join("guard"))?;
    fs::remove_dir_all(&installed.work)?;
    Ok(LauncherBuilt { compiled, checked, runtime_name })
}

/// The served port's guard (`guard/`: Python files, the same for every target) beside the
/// launcher: from beside prebuilt files (a launcher kit carries it), else from this checkout;
/// compiled like `_vendor` (every python3 the launcher starts imports it first).
fn copy_guard(opts: &Options, bytecode: &Bytecode, to: &Path) -> Result<()> {
    let from = match &opts.launcher {
        Some(prebuilt) => {
            let given = opts.cwd.join(prebuilt);
            let dir = if given.is_dir() { given.as_path() } else { given.parent().unwrap_or(Path::new(".")) };
            dir.join("guard")
        }
        None => opts.repo.join("guard"),
    };
    fs::create_dir_all(to)?;
    for file in GUARD_FILES {
        let source = from.join(file);
        if !source.is_file() {
            anyhow::bail!(
                "the guard file `{}` is missing; the launcher needs guard/ ({}) beside it",
                source.display(),
                GUARD_FILES.join(", ")
            );
        }
        fs::copy(source, to.join(file))?;
    }
    if let Bytecode::UncheckedHash { python, .. } = bytecode {
        compile::compile(python, to, bundler_cache("bytecode").as_deref())?;
    }
    Ok(())
}

/// The files, from where the options and the mode say.
fn make(opts: &Options, mode: &Mode, facts: &PythonFacts, work: &Path) -> Result<LauncherFiles> {
    if let Some(prebuilt) = &opts.launcher {
        return LauncherFiles::prebuilt(&opts.cwd.join(prebuilt), &facts.platform_tag);
    }
    let target_dir = opts.repo.join("target").join(format!("bundle-py{}", facts.version));
    let link = match mode {
        Mode::WheelsOnly { .. } if !platform::runs_here(&facts.platform_tag) => {
            // macOS from here: linked with zig (other platforms: one line saying what to do).
            return cross::build(&opts.repo, &facts.platform_tag, facts.version, opts.quiet);
        }
        Mode::WheelsOnly { .. } => {
            // The runtime links no libpython; pyo3 only needs the X.Y, never running `--python`.
            let config = work.join("pyo3-config.txt");
            fs::write(&config, launcher::pyo3_config(facts.version, &facts.libdir))?;
            LinkTarget::ConfigFile(config)
        }
        Mode::Embedded { python } => LinkTarget::Interpreter(python.clone()),
    };
    launcher::build(&opts.repo, &target_dir, &link, &facts.platform_tag, opts.quiet)
}
