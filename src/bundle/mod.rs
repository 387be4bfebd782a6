//! build-external-python: vendor mlxk2 and its dependencies for the embedded interpreter and
//! drop in the launcher built for that same interpreter.
//!
//! Everything is built in a temporary sibling of the output directory and renamed into place
//! only when every step succeeded, so a failed or interrupted build never leaves a half bundle
//! at the output path.

pub mod clean;
pub mod cross;
pub mod launcher;
pub mod manifest;
pub mod probe;
pub mod stamp;
pub mod verify;
pub mod wheel;

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::distinfo::{SiteDir, normalize};
use probe::PythonFacts;
use wheel::WheelInfo;

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

/// Removes the temporary build directory unless the build was committed.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Which project to vendor as mlxk2.
#[derive(Clone, Debug)]
enum Project {
    Tree(PathBuf),
    Requirement(String),
}

pub fn build(opts: &Options) -> Result<Summary> {
    let steps = Steps { start: Instant::now(), quiet: opts.quiet };
    let output = opts.dist_dir.join(&opts.bin_name);
    validate_bin_name(&opts.bin_name)?;

    // --- inputs, all checked before anything is written --------------------------------
    steps.header("Checking inputs");
    let project = resolve_project(opts)?;
    let (python, python_source) = resolve_python(opts)?;
    let facts = if opts.wheels_only {
        target_facts(opts, python.as_deref())?
    } else {
        let python = python.as_deref().ok_or_else(|| anyhow!("no interpreter found"))?;
        probe::probe(python)?
    };
    steps.note(format!(
        "interpreter: {} ({python_source}); Python {} for {}",
        python.as_deref().map_or("<none>".into(), |p| p.display().to_string()),
        facts.version,
        facts.platform_tag
    ));
    let custom = custom_wheels(opts, &facts)?;
    for (_, w) in &custom {
        steps.note(format!("custom wheel: {} {} ({})", w.name, w.version, w.path.display()));
    }
    let requirements = opts.requirements.as_ref().map(|r| {
        fs::read_to_string(r).with_context(|| format!("cannot read the requirements file `{}`", r.display()))
    }).transpose()?;
    if output.exists() && !opts.clean {
        bail!("`{}` already exists; pass --clean (CLEAN=1) to replace it", output.display());
    }
    if opts.clean {
        let root = match &project {
            Project::Tree(tree) => Some(tree.as_path()),
            Project::Requirement(_) => None,
        };
        clean::check_deletable(&output, &opts.dist_dir, root.or(Some(&opts.cwd)))?;
    }

    // --- build in a temporary sibling ----------------------------------------------------
    fs::create_dir_all(&opts.dist_dir).with_context(|| format!("cannot create `{}`", opts.dist_dir.display()))?;
    remove_stale_temps(&opts.dist_dir, &opts.bin_name);
    let tmp = TempDir { path: opts.dist_dir.join(format!(".{}.tmp-{}", opts.bin_name, std::process::id())), keep: false };
    let vendor = tmp.path.join("_vendor");
    fs::create_dir_all(&vendor).with_context(|| format!("cannot create `{}`", vendor.display()))?;
    let work = tmp.path.join(".work");
    fs::create_dir_all(&work)?;

    steps.header("Installing mlxk2 and its dependencies");
    let filtered = requirements.as_deref().map(|text| filter_requirements(text, &custom));
    let req_file = match &filtered {
        Some(text) => {
            let file = work.join("requirements.txt");
            fs::write(&file, text)?;
            Some(file)
        }
        None => None,
    };
    let installer = Installer::new(opts, python.as_deref(), &facts)?;
    let project_arg = match &project {
        Project::Tree(tree) if opts.wheels_only => installer.build_local_wheel(tree, &work)?.into_os_string(),
        Project::Tree(tree) => tree.clone().into_os_string(),
        Project::Requirement(req) => req.into(),
    };
    let mut args: Vec<OsString> = vec![project_arg];
    if let Some(file) = &req_file {
        args.push("-r".into());
        args.push(file.into());
    }
    installer.install(&vendor, &args, false)?;

    if !custom.is_empty() {
        steps.header("Installing custom wheels last (they override PyPI pins)");
        let staged = work.join("custom");
        fs::create_dir_all(&staged)?;
        let mut files: Vec<OsString> = Vec::new();
        for (_, w) in &custom {
            let file = staged.join(w.canonical_file_name());
            fs::copy(&w.path, &file).with_context(|| format!("cannot copy `{}`", w.path.display()))?;
            files.push(file.into());
        }
        installer.install(&vendor, &files, true)?;
        for (_, w) in &custom {
            remove_superseded_dist_infos(&vendor, w)?;
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

    // pip --target writes console scripts whose shebangs name the build machine's python.
    let bin = vendor.join("bin");
    if bin.exists() {
        fs::remove_dir_all(&bin).with_context(|| format!("cannot remove `{}`", bin.display()))?;
    }

    if let Some(version) = &opts.version_stamp {
        steps.header(format!("Stamping mlxk2 version {version} (vendored copy only)"));
        stamp::stamp(&vendor, version)?;
    }

    steps.header(format!("Precompiling _vendor for Python {} (unchecked hash-based pycs)", facts.version));
    match compile_python(opts, python.as_deref(), &facts) {
        Some(compiler) => compile(&compiler, &vendor, opts.quiet)?,
        None => steps.note(format!("skipped: no Python {} can run on this machine", facts.version)),
    }

    steps.header(format!("Building the launcher and its runtime for Python {}", facts.version));
    let built = build_launcher(opts, python.as_deref(), &facts, &work)?;
    // The interpreter's paths would be loader paths; files built here must not carry this
    // checkout's or the cargo registry's paths either (prebuilt ones are not ours to fix).
    let cargo_home = launcher::cargo_home();
    let mut forbidden: Vec<&Path> = vec![facts.prefix.as_path(), facts.libdir.as_path()];
    if opts.launcher.is_none() {
        forbidden.extend([opts.repo.as_path(), cargo_home.as_path()]);
    }
    forbidden.retain(|p| p.is_absolute() && p.as_os_str().len() > 1);
    let launcher::Checked { stamp, launcher: launcher_build, runtime: runtime_build } = launcher::check(&built, &facts.version, &forbidden)?;
    for (from, to) in [(&built.launcher, tmp.path.join(&opts.bin_name)), (&built.runtime, tmp.path.join(built.runtime_name()))] {
        fs::copy(from, &to).with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    }

    steps.header("Writing bundle-manifest.json");
    let site = SiteDir::scan(&vendor);
    let mlxk2_dir = vendor.join("mlxk2");
    let mlxk2_version = site.by_name.keys().find_map(|n| {
        let d = site.distribution(n).ok()?;
        (d.module_file.as_deref() == Some(mlxk2_dir.as_path())).then_some(d.version)
    });
    let distributions = manifest::distributions(&vendor);
    let count = distributions.len();
    let manifest = manifest::Manifest {
        python: manifest::PythonEntry {
            version: facts.version.clone(),
            full_version: facts.full_version.clone(),
            platform_tag: facts.platform_tag.clone(),
        },
        distributions,
        custom_wheels: custom
            .iter()
            .map(|(_, w)| -> Result<manifest::CustomWheelEntry> {
                let bytes = fs::read(&w.path)?;
                Ok(manifest::CustomWheelEntry {
                    project: w.name.clone(),
                    version: w.version.clone(),
                    file: w.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                    sha256: sha256_hex(&bytes),
                })
            })
            .collect::<Result<_>>()?,
        launcher: manifest::LauncherEntry { name: opts.bin_name.clone(), version: crate::LAUNCHER_VERSION.into(), build: launcher_build },
        runtime: manifest::RuntimeEntry {
            file: built.runtime_name().into(),
            python: stamp.python.clone(),
            plan_format: stamp.plan_format,
            version: stamp.version.clone(),
            build: runtime_build,
        },
        mlxk2_version,
        bytecode: "unchecked-hash".into(),
    };
    fs::write(tmp.path.join("bundle-manifest.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;
    fs::remove_dir_all(&work)?;

    let sanity = sanity_check(opts, python.as_deref(), &facts, &tmp.path, &steps)?;

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
    let bytes = tree_size(&tmp.path);
    if output.exists() {
        let old = opts.dist_dir.join(format!(".{}.old-{}", opts.bin_name, std::process::id()));
        fs::rename(&output, &old).with_context(|| format!("cannot move the old `{}` aside", output.display()))?;
        fs::rename(&tmp.path, &output).with_context(|| format!("cannot move the bundle to `{}`", output.display()))?;
        fs::remove_dir_all(&old).with_context(|| format!("cannot remove the old bundle `{}`", old.display()))?;
    } else {
        fs::rename(&tmp.path, &output).with_context(|| format!("cannot move the bundle to `{}`", output.display()))?;
    }
    let mut tmp = tmp;
    tmp.keep = true;
    Ok(Summary {
        output,
        distributions: count,
        bytes,
        python: facts.version.clone(),
        launcher_version: crate::LAUNCHER_VERSION.into(),
        sanity,
    })
}

fn validate_bin_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.starts_with('.') {
        bail!("--bin-name `{name}` must be a plain file name");
    }
    Ok(())
}

fn resolve_project(opts: &Options) -> Result<Project> {
    let Some(given) = &opts.project else {
        let cwd = &opts.cwd;
        if cwd.join("pyproject.toml").is_file() && cwd.join("mlxk2").is_dir() {
            return Ok(Project::Tree(cwd.clone()));
        }
        bail!(
            "no --project given and `{}` is not the mlx-knife source tree (no pyproject.toml with mlxk2/); pass --project PATH or e.g. --project mlx-knife==2.0.8",
            cwd.display()
        );
    };
    let as_path = opts.cwd.join(given);
    if as_path.is_dir() {
        if !(as_path.join("pyproject.toml").is_file() || as_path.join("setup.py").is_file()) {
            bail!("--project `{}` is a directory without pyproject.toml or setup.py", as_path.display());
        }
        return Ok(Project::Tree(as_path.canonicalize().unwrap_or(as_path)));
    }
    if given.contains('/') && !given.contains("://") && !given.contains('@') {
        bail!("--project `{given}`: no such directory");
    }
    pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(given)
        .map_err(|e| anyhow!("--project `{given}` is neither a directory nor a requirement: {}", e.to_string().lines().next().unwrap_or("")))?;
    Ok(Project::Requirement(given.clone()))
}

fn resolve_python(opts: &Options) -> Result<(Option<PathBuf>, &'static str)> {
    if let Some(p) = &opts.python {
        let path = opts.cwd.join(p);
        if opts.wheels_only {
            return Ok((Some(path), "--python/EMBEDDED_PYTHON"));
        }
        if !path.is_file() {
            bail!("the interpreter `{}` (--python/EMBEDDED_PYTHON) does not exist", path.display());
        }
        return Ok((Some(path), "--python/EMBEDDED_PYTHON"));
    }
    let bundled = opts.cwd.join("python/bin/python3");
    if bundled.is_file() {
        return Ok((Some(bundled), "./python/bin/python3"));
    }
    if opts.wheels_only {
        return Ok((None, "none (wheels-only)"));
    }
    match find_on_path("python3") {
        Some(p) => Ok((Some(p), "python3 on PATH")),
        None => bail!("no interpreter: pass --python PATH (or EMBEDDED_PYTHON); ./python/bin/python3 does not exist and there is no python3 on PATH"),
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Wheels-only: the target is described by options; the interpreter is never run.
fn target_facts(opts: &Options, python: Option<&Path>) -> Result<PythonFacts> {
    let version = opts
        .target_python_version
        .clone()
        .ok_or_else(|| anyhow!("--wheels-only needs --target-python-version (TARGET_PY_VERSION), e.g. 3.11"))?;
    let ok = version.split('.').count() == 2 && version.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        bail!("--target-python-version `{version}` must be X.Y, e.g. 3.11");
    }
    let abi = opts.target_abi.clone().unwrap_or_else(|| format!("cp{}", version.replace('.', "")));
    let host = find_on_path("python3").ok_or_else(|| anyhow!("--wheels-only installs with the host's pip: no python3 on PATH"))?;
    let tags = probe::target_tags(&host, &version, &opts.target_platform, &abi)?;
    let prefix = python.and_then(|p| p.parent()).and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    Ok(PythonFacts {
        full_version: version.clone(),
        libdir: prefix.join("lib"),
        ldlibrary: String::new(),
        prefix,
        platform_tag: opts.target_platform.clone(),
        shared: true,
        supported_tags: tags,
        version,
    })
}

/// Custom wheels: flags/env, else auto-detected `scripts/mlx-custom.whl` and
/// `scripts/mlx-lm-custom.whl`; each must be a wheel for the target.
fn custom_wheels(opts: &Options, facts: &PythonFacts) -> Result<Vec<(&'static str, WheelInfo)>> {
    let mut out = Vec::new();
    for (project, given, default) in [("mlx", &opts.mlx_wheel, "scripts/mlx-custom.whl"), ("mlx-lm", &opts.mlx_lm_wheel, "scripts/mlx-lm-custom.whl")] {
        let path = match given {
            Some(p) => opts.cwd.join(p),
            None => {
                let auto = opts.cwd.join(default);
                if !auto.exists() {
                    continue;
                }
                auto
            }
        };
        let info = wheel::read(&path)?;
        if normalize(&info.name) != project {
            bail!("custom {project} wheel `{}` is a wheel of `{}`", path.display(), info.name);
        }
        if !facts.supported_tags.is_empty() && wheel::compatible_tag(&info, &facts.supported_tags).is_none() {
            bail!(
                "custom wheel `{}` ({}) does not fit Python {} on {}",
                path.display(),
                info.tags.join(", "),
                facts.version,
                facts.platform_tag
            );
        }
        out.push((project, info));
    }
    Ok(out)
}

/// Drops `mlx`/`mlx-lm` lines that a custom wheel replaces (the wheel is installed last).
fn filter_requirements(text: &str, custom: &[(&str, WheelInfo)]) -> String {
    text.lines()
        .filter(|line| {
            let spec = line.split('#').next().unwrap_or("").trim();
            if spec.is_empty() || spec.starts_with('-') {
                return true;
            }
            match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(spec) {
                Ok(req) => !custom.iter().any(|(project, _)| normalize(req.name.as_ref()) == *project),
                Err(_) => true,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// After `pip --target --upgrade`, the old dist-info of a replaced project stays behind
/// (its directory name differs): remove every dist-info of `wheel`'s project but the new one.
fn remove_superseded_dist_infos(vendor: &Path, wheel: &WheelInfo) -> Result<()> {
    let site = SiteDir::scan(vendor);
    let escaped = format!("{}-{}.dist-info", normalize(&wheel.name).replace('-', "_"), wheel.version);
    for path in site.by_name.get(&normalize(&wheel.name)).into_iter().flatten() {
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if name != escaped.to_lowercase() {
            fs::remove_dir_all(path).with_context(|| format!("cannot remove the superseded `{}`", path.display()))?;
        }
    }
    Ok(())
}

/// pip, run either by the embedded interpreter or (wheels-only) by the host for a target.
struct Installer {
    python: PathBuf,
    wheels_only: Option<(String, String, String)>,
    pip_args: Vec<String>,
    quiet: bool,
}

impl Installer {
    fn new(opts: &Options, python: Option<&Path>, facts: &PythonFacts) -> Result<Installer> {
        let (python, wheels_only) = if opts.wheels_only {
            let host = find_on_path("python3").ok_or_else(|| anyhow!("no python3 on PATH for the host's pip"))?;
            let abi = opts.target_abi.clone().unwrap_or_else(|| format!("cp{}", facts.version.replace('.', "")));
            (host, Some((opts.target_platform.clone(), facts.version.clone(), abi)))
        } else {
            (python.ok_or_else(|| anyhow!("no interpreter"))?.to_path_buf(), None)
        };
        Ok(Installer { python, wheels_only, pip_args: opts.pip_args.clone(), quiet: opts.quiet })
    }

    fn pip(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.args(["-m", "pip"]);
        // The caller's PIP_* / PYTHON* settings would silently change what gets bundled.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("PYTHON") || (k.starts_with("PIP_") && k != "PIP_CACHE_DIR") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    }

    fn install(&self, vendor: &Path, what: &[OsString], last: bool) -> Result<()> {
        let mut cmd = self.pip();
        cmd.args(["install", "--disable-pip-version-check", "--no-warn-script-location", "--no-compile", "--target"]).arg(vendor);
        if last {
            cmd.args(["--no-deps", "--upgrade"]);
        }
        if let Some((platform, version, abi)) = &self.wheels_only {
            cmd.args(["--platform", platform, "--python-version", version, "--implementation", "cp", "--abi", abi, "--only-binary=:all:"]);
        }
        cmd.args(&self.pip_args).args(what);
        run_streaming(cmd, self.quiet, "pip install")
    }

    /// Wheels-only mode cannot build sdists for the target: build the project's wheel here.
    fn build_local_wheel(&self, tree: &Path, work: &Path) -> Result<PathBuf> {
        let out = work.join("project-wheel");
        fs::create_dir_all(&out)?;
        let mut cmd = self.pip();
        cmd.args(["wheel", "--disable-pip-version-check", "--no-deps", "-w"]).arg(&out).args(&self.pip_args).arg(tree);
        run_streaming(cmd, self.quiet, "pip wheel")?;
        fs::read_dir(&out)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .ok_or_else(|| anyhow!("pip wheel produced no wheel for `{}`", tree.display()))
    }
}

/// Runs a tool with its output streamed (or captured with --quiet, then its last error line
/// is quoted on failure).
fn run_streaming(mut cmd: Command, quiet: bool, what: &str) -> Result<()> {
    if quiet {
        let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {what}"))?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr);
            let last = text.lines().rev().find(|l| l.starts_with("ERROR")).or_else(|| text.lines().rev().find(|l| !l.trim().is_empty())).unwrap_or("");
            bail!("{what} failed ({}): {}", out.status, last.trim());
        }
        return Ok(());
    }
    let status = cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit()).stdin(Stdio::null()).status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status}); see its output above");
    }
    Ok(())
}

/// The interpreter that can compile bytecode for the target X.Y here, if any.
fn compile_python(opts: &Options, python: Option<&Path>, facts: &PythonFacts) -> Option<PathBuf> {
    if !opts.wheels_only {
        return python.map(Path::to_path_buf);
    }
    // Wheels-only never executes the embedded interpreter; a host python of the same X.Y will do.
    let host = find_on_path(&format!("python{}", facts.version)).or_else(|| find_on_path("python3"))?;
    let out = Command::new(&host).args(["-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).output().ok()?;
    (String::from_utf8_lossy(&out.stdout).trim() == facts.version).then_some(host)
}

fn compile(python: &Path, vendor: &Path, quiet: bool) -> Result<()> {
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]).arg(vendor);
    // compileall exits non-zero for files that do not compile (e.g. Python-2 test data in
    // some packages); those modules are never imported and need no pyc.
    let out = cmd.output().context("cannot run compileall")?;
    if !out.status.success() && !quiet {
        let failed = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("***")).count();
        eprintln!("    compileall: {failed} file(s) did not compile and stay without pyc");
    }
    Ok(())
}

fn build_launcher(opts: &Options, python: Option<&Path>, facts: &PythonFacts, work: &Path) -> Result<launcher::LauncherFiles> {
    if let Some(prebuilt) = &opts.launcher {
        return launcher::LauncherFiles::prebuilt(&opts.cwd.join(prebuilt), &facts.platform_tag);
    }
    let target_dir = opts.repo.join("target").join(format!("bundle-py{}", facts.version));
    if opts.wheels_only {
        if !platform_runs_here(&facts.platform_tag) {
            // macOS from here: linked with zig (other platforms: one line saying what to do).
            return cross::build(&opts.repo, &facts.platform_tag, &facts.version, opts.quiet);
        }
        // The runtime links no libpython; pyo3 only needs the X.Y, never running `--python`.
        let config = work.join("pyo3-config.txt");
        fs::write(&config, launcher::pyo3_config(&facts.version, &facts.libdir))?;
        return launcher::build(&opts.repo, &target_dir, launcher::LinkTarget::ConfigFile(&config), &facts.platform_tag, opts.quiet);
    }
    let python = python.ok_or_else(|| anyhow!("no interpreter to build the runtime for"))?;
    launcher::build(&opts.repo, &target_dir, launcher::LinkTarget::Interpreter(python), &facts.platform_tag, opts.quiet)
}

/// Whether binaries for a wheel platform tag run on this machine (same OS and architecture).
fn platform_runs_here(tag: &str) -> bool {
    let os_ok = if cfg!(target_os = "macos") { tag.starts_with("macosx") } else { tag.starts_with("linux") || tag.starts_with("manylinux") || tag.starts_with("musllinux") };
    os_ok && (tag.ends_with(std::env::consts::ARCH) || (cfg!(target_os = "macos") && tag.ends_with("universal2")))
}

/// The seed's sanity check: the new launcher's `--check-mlx-stack` and an import of the
/// vendored stack, run from a temporary `Resources/` tree next to the interpreter.
fn sanity_check(opts: &Options, python: Option<&Path>, facts: &PythonFacts, bundle: &Path, steps: &Steps) -> Result<String> {
    let runnable = !opts.wheels_only || (platform_runs_here(&facts.platform_tag) && python.is_some_and(Path::is_file));
    if !runnable {
        let why = format!("skipped: the bundle targets {} and cannot run on this machine", facts.platform_tag);
        steps.header(format!("Sanity check {why}"));
        return Ok(why);
    }
    steps.header("Sanity check: --check-mlx-stack and imports");
    // The dist dir's own launcher, pointed at the interpreter by MLXK_PYTHON: the two-stage
    // launcher runs against any home of its runtime's X.Y.
    let interpreter = python.filter(|p| p.is_file()).map(Path::to_path_buf).unwrap_or_else(|| facts.prefix.join("bin/python3"));
    let exe = bundle.join(&opts.bin_name);
    let result = (|| -> Result<String> {
        let out = Command::new(&exe)
            .arg("--check-mlx-stack")
            .env_clear()
            .env("MLXK_PYTHON", std::path::absolute(&interpreter).unwrap_or(interpreter.clone()))
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .output()
            .with_context(|| format!("cannot run the new launcher `{}`", exe.display()))?;
        let report: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
            anyhow!("the new launcher's --check-mlx-stack did not answer JSON ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())
        })?;
        if report["ok"] != Value::Bool(true) {
            let _ = writeln!(std::io::stderr(), "{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            bail!("the bundle fails --check-mlx-stack: {}", report["error"].as_str().unwrap_or("see the report above"));
        }
        let site = SiteDir::scan(&bundle.join("_vendor"));
        let modules: Vec<&str> = ["mlxk2", "fastapi", "uvicorn", "mlx", "mlx_lm"]
            .into_iter()
            .filter(|m| *m == "mlxk2" || site.by_name.contains_key(&normalize(m)))
            .collect();
        let python = facts.prefix.join("bin/python3");
        let code = format!("import sys; sys.path.insert(0, sys.argv[1]); import {}", modules.join(", "));
        let out = Command::new(&python)
            .args(["-I", "-B", "-c", &code])
            .arg(bundle.join("_vendor"))
            .output()
            .with_context(|| format!("cannot run `{}`", python.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!("`import {}` fails in the bundle: {}", modules.join(", "), err.lines().last().unwrap_or("").trim());
        }
        Ok(format!("ok: --check-mlx-stack (mlx {}, mlx_lm {}), import {}", report["mlx"]["version"].as_str().unwrap_or("?"), report["mlx_lm"]["version"].as_str().unwrap_or("?"), modules.join(", ")))
    })();
    let outcome = result?;
    steps.note(&outcome);
    Ok(outcome)
}

/// Temporary siblings of earlier builds that were interrupted (their process is gone; where
/// there is no /proc to ask, once they are a day old).
fn remove_stale_temps(dist_dir: &Path, bin_name: &str) {
    for entry in fs::read_dir(dist_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(&format!(".{bin_name}.tmp-"))
            .or_else(|| name.strip_prefix(&format!(".{bin_name}.old-")))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let stale = if Path::new("/proc/self").exists() {
            !Path::new(&format!("/proc/{pid}")).exists()
        } else {
            entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age.as_secs() > 86_400)
        };
        if stale {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => total += tree_size(&entry.path()),
            Ok(t) if t.is_file() => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => {}
        }
    }
    total
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
