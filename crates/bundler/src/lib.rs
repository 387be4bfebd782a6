//! build-external-python: vendor mlxk2 and its dependencies for the embedded interpreter and
//! drop in the launcher built for that same interpreter.
//!
//! Everything is built in a temporary sibling of the output directory and renamed into place
//! only when every step succeeded, so a failed or interrupted build never leaves a half bundle
//! at the output path. `build` is the story; each step lives in its own module.

mod caches;
pub mod clean;
pub mod compile;
pub mod cross;
pub mod custom;
pub mod install;
pub mod launcher;
pub mod manifest;
pub mod mode;
pub mod pip_args;
pub mod platform;
pub mod probe;
pub mod project;
pub mod sanity;
pub mod stamp;
pub mod temp;
pub mod uv;
pub use msty_mlx_verify as verify;
pub mod wheel;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use fs_err as fs;

use install::Installer;
use mode::{Mode, Resolved};
use msty_mlx_distinfo::SiteDir;
use probe::PythonFacts;
use project::Project;

/// The bundler's inputs (flags, with the bash script's variables as fallbacks).
#[derive(Clone, Debug)]
pub struct Options {
    pub python: Option<PathBuf>,
    pub project: Option<String>,
    pub requirements: Option<PathBuf>,
    pub mlx_wheel: Option<PathBuf>,
    pub mlx_lm_wheel: Option<PathBuf>,
    pub version_stamp: Option<String>,
    pub dist_dir: PathBuf,
    pub bin_name: String,
    pub clean: bool,
    /// `PIP_ARGS`, split into words (checked by [`pip_args::check`]).
    pub pip_args: Vec<String>,
    pub wheels_only: bool,
    pub target_python_version: Option<String>,
    pub target_platform: String,
    pub target_abi: Option<String>,
    /// A prebuilt launcher instead of building one (it is checked all the same).
    pub launcher: Option<PathBuf>,
    pub quiet: bool,
    /// Where relative defaults are resolved (`./python/bin/python3`, the project, `scripts/`).
    pub cwd: PathBuf,
    /// The launcher's source tree (this repository).
    pub repo: PathBuf,
}

/// The default `--target-platform`: Apple silicon, macOS 14.
pub const DEFAULT_TARGET_PLATFORM: &str = "macosx_14_0_arm64";

/// What a finished build reports.
#[derive(Debug)]
pub struct Summary {
    pub output: PathBuf,
    pub distributions: usize,
    pub bytes: u64,
    pub python: String,
    pub launcher_version: String,
    pub installer: String,
    pub bytecode: String,
    pub sanity: String,
}

/// Progress headers with elapsed time (stderr), silent with `--quiet`.
struct Steps {
    start: Instant,
    quiet: bool,
}

impl Steps {
    fn header(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("==> [{:6.1}s] {}", self.start.elapsed().as_secs_f64(), text.as_ref());
        }
    }
    fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("    {}", text.as_ref());
        }
    }
}

pub fn build(opts: &Options) -> Result<Summary> {
    let steps = Steps { start: Instant::now(), quiet: opts.quiet };
    let output = opts.dist_dir.join(&opts.bin_name);
    validate_bin_name(&opts.bin_name)?;

    // --- inputs, all checked before anything is written --------------------------------
    steps.header("Checking inputs");
    let project = Project::resolve(opts)?;
    let Resolved { mode, facts, python_source } = Mode::resolve(opts)?;
    steps.note(format!(
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
    let uv = uv::find_or_install(uv::tools_dir().as_deref(), &|line| steps.note(line))?;
    steps.note(format!("installer: uv {} ({}: {})", uv.version, uv.found, uv.program.display()));
    let installer = Installer::new(&uv, &mode, &facts.version, pip_args, &opts.cwd, opts.quiet);
    let custom = custom::find(opts, &facts, &installer)?;
    for (_, w) in &custom {
        steps.note(format!("custom wheel: {} {} ({})", w.name, w.version, w.path.display()));
    }

    // --- build in a temporary sibling ----------------------------------------------------
    let tmp = temp::TempDir::create(&opts.dist_dir, &opts.bin_name)?;
    let vendor = tmp.path.join("_vendor");
    let work = tmp.path.join(".work");
    fs::create_dir_all(&vendor)?;
    fs::create_dir_all(&work)?;

    steps.header(match &mode {
        Mode::Embedded { .. } => "Installing mlxk2 and its dependencies (uv, for the interpreter)".to_string(),
        Mode::WheelsOnly { target, .. } => format!(
            "Installing mlxk2 and its dependencies (uv, wheels for {} / Python {})",
            target.triple, facts.version
        ),
    });
    let mut args: Vec<OsString> = vec![match (&project, &mode) {
        (Project::Tree(tree), Mode::WheelsOnly { .. }) => installer.build_wheel(tree, &work)?.into_os_string(),
        (Project::Tree(tree), Mode::Embedded { .. }) => tree.clone().into_os_string(),
        (Project::Requirement(req), _) => req.into(),
    }];
    if let Some(text) = &requirements {
        let file = work.join("requirements.txt");
        fs::write(&file, custom::filter_requirements(text, &custom))?;
        args.extend(["-r".into(), file.into_os_string()]);
    }
    installer.install(&vendor, &args, false)?;

    if !custom.is_empty() {
        steps.header("Installing custom wheels last (they override PyPI pins)");
        let files = custom::stage(&custom, &work.join("custom"))?;
        installer.install(&vendor, &files, true)?;
        for (_, w) in &custom {
            custom::remove_superseded_dist_infos(&vendor, w)?;
        }
    }
    let site = SiteDir::scan(&vendor);
    if let Some((name, paths)) = site.duplicates().next() {
        let list: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
        bail!("the vendored packages hold two dist-infos for `{name}`: {}", list.join(" and "));
    }
    if !vendor.join("mlxk2").is_dir() {
        bail!("the project installed no `mlxk2` package into _vendor; is it mlx-knife?");
    }
    // --target installs write console scripts whose shebangs name the build machine's python.
    let bin = vendor.join("bin");
    if bin.exists() {
        fs::remove_dir_all(&bin)?;
    }

    if let Some(version) = &opts.version_stamp {
        steps.header(format!("Stamping mlxk2 version {version} (vendored copy only)"));
        stamp::stamp(&vendor, version)?;
    }

    steps.header(format!("Precompiling _vendor for Python {} (unchecked hash-based pycs)", facts.version));
    let bytecode = match compile::compiler(&mode, &facts.version) {
        Ok((python, how)) => {
            let cache = crate::caches::bundler_cache("bytecode");
            let done = compile::compile(&python, &vendor, cache.as_deref())?;
            steps.note(format!(
                "compiled with `{}` ({how}): {} compiled, {} from the bytecode cache, {} that do not compile left without pyc",
                python.display(),
                done.compiled,
                done.reused,
                done.failed
            ));
            ("unchecked-hash", format!("unchecked-hash pycs, compiled with `{}` ({how})", python.display()))
        }
        Err(why) => {
            let line = format!("none in the bundle: {why}; the launcher keeps them in the per-user cache");
            steps.note(&line);
            ("none", line)
        }
    };

    steps.header(format!("Building the launcher and its runtime for Python {}", facts.version));
    let built = build_launcher(opts, &mode, &facts, &work)?;
    // The interpreter's paths would be loader paths; files built here must not carry this
    // checkout's or the cargo registry's paths either (prebuilt ones are not ours to fix).
    let cargo_home = launcher::cargo_home();
    let mut forbidden: Vec<&Path> = vec![facts.prefix.as_path(), facts.libdir.as_path()];
    if opts.launcher.is_none() {
        forbidden.extend([opts.repo.as_path(), cargo_home.as_path()]);
    }
    forbidden.retain(|p| p.is_absolute() && p.as_os_str().len() > 1);
    let launcher::Checked { stamp, launcher: launcher_build, runtime: runtime_build } =
        launcher::check(&built, &facts.version, &forbidden)?;
    for (from, to) in
        [(&built.launcher, tmp.path.join(&opts.bin_name)), (&built.runtime, tmp.path.join(built.runtime_name()))]
    {
        fs::copy(from, &to)?;
    }
    fs::remove_dir_all(&work)?;

    let sanity = match mode.runnable_interpreter(&facts) {
        Ok(python) => {
            steps.header("Sanity check: --check-mlx-stack and imports");
            // The embedded interpreter's home runs the imports; wheels-only has only `--python`.
            let home_python = facts.prefix.join("bin/python3");
            let import_python = match &mode {
                Mode::Embedded { .. } if home_python.is_file() => home_python.as_path(),
                _ => python,
            };
            let outcome = sanity::check(&tmp.path, &opts.bin_name, python, import_python)?;
            steps.note(&outcome);
            outcome
        }
        Err(why) => {
            let line = format!("skipped: {why}");
            steps.header(format!("Sanity check {line}"));
            line
        }
    };

    steps.header("Writing bundle-manifest.json");
    let distributions = manifest::distributions(&vendor);
    let count = distributions.len();
    let site = SiteDir::scan(&vendor);
    let mlxk2_dir = vendor.join("mlxk2");
    let (python_platform, macosx_deployment_target) = match &mode {
        Mode::WheelsOnly { target, .. } => (Some(target.triple.clone()), target.macos_deployment_target.clone()),
        Mode::Embedded { .. } => (None, None),
    };
    let manifest = manifest::Manifest {
        python: manifest::PythonEntry {
            version: facts.version.clone(),
            full_version: facts.full_version.clone(),
            platform_tag: facts.platform_tag.clone(),
        },
        distributions,
        custom_wheels: custom.iter().map(|(_, w)| manifest::CustomWheelEntry::of(w)).collect::<Result<_>>()?,
        launcher: manifest::LauncherEntry {
            name: opts.bin_name.clone(),
            version: msty_mlx_contract::VERSION.into(),
            build: launcher_build,
        },
        runtime: manifest::RuntimeEntry {
            file: built.runtime_name().into(),
            python: stamp.python.to_string(),
            plan_format: stamp.plan_format,
            version: stamp.version.clone(),
            build: runtime_build,
        },
        mlxk2_version: site.by_name.keys().find_map(|n| {
            let d = site.distribution(n).ok()?;
            (d.module_file.as_deref() == Some(mlxk2_dir.as_path())).then_some(d.version)
        }),
        bytecode: bytecode.0.into(),
        installer: manifest::InstallerEntry {
            tool: "uv".into(),
            version: uv.version.clone(),
            python_platform,
            macosx_deployment_target,
        },
        sanity_check: sanity.clone(),
    };
    fs::write(tmp.path.join("bundle-manifest.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;

    steps.header("Verifying the bundle for signing");
    let report = verify::verify(&tmp.path)?;
    if report.errors() > 0 {
        for f in report.findings.iter().filter(|f| f.severity == verify::Severity::Error) {
            eprintln!("    error: {}: {}: {}", f.kind, f.path.display(), f.detail);
        }
        bail!("the bundle has {} problem(s) that break signing (listed above)", report.errors());
    }
    steps.note(format!("{} native binaries to sign, {} warning(s)", report.sign_list.len(), report.warnings()));

    // --- commit ---------------------------------------------------------------------------
    steps.header(format!("Moving the bundle into place: {}", output.display()));
    let bytes = temp::tree_size(&tmp.path);
    tmp.commit(&output)?;
    Ok(Summary {
        output,
        distributions: count,
        bytes,
        python: facts.version.clone(),
        launcher_version: msty_mlx_contract::VERSION.into(),
        installer: format!("uv {}", uv.version),
        bytecode: bytecode.1,
        sanity,
    })
}

fn validate_bin_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.starts_with('.') {
        bail!("--bin-name `{name}` must be a plain file name");
    }
    Ok(())
}

/// The first `name` in a `PATH` directory.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

fn build_launcher(opts: &Options, mode: &Mode, facts: &PythonFacts, work: &Path) -> Result<launcher::LauncherFiles> {
    if let Some(prebuilt) = &opts.launcher {
        return launcher::LauncherFiles::prebuilt(&opts.cwd.join(prebuilt), &facts.platform_tag);
    }
    let target_dir = opts.repo.join("target").join(format!("bundle-py{}", facts.version));
    match mode {
        Mode::WheelsOnly { .. } => {
            if !platform::runs_here(&facts.platform_tag) {
                // macOS from here: linked with zig (other platforms: one line saying what to do).
                return cross::build(&opts.repo, &facts.platform_tag, &facts.version, opts.quiet);
            }
            // The runtime links no libpython; pyo3 only needs the X.Y, never running `--python`.
            let config = work.join("pyo3-config.txt");
            fs::write(&config, launcher::pyo3_config(&facts.version, &facts.libdir))?;
            launcher::build(
                &opts.repo,
                &target_dir,
                launcher::LinkTarget::ConfigFile(&config),
                &facts.platform_tag,
                opts.quiet,
            )
        }
        Mode::Embedded { python } => launcher::build(
            &opts.repo,
            &target_dir,
            launcher::LinkTarget::Interpreter(python),
            &facts.platform_tag,
            opts.quiet,
        ),
    }
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
