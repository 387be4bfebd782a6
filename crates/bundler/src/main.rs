//! build-external-python: produce `dist-ext-python/<BIN_NAME>/` (the vendored packages, the
//! launcher built for the embedded interpreter, and a manifest). Replaces the bash
//! `scripts/build_external_python.sh` and `scripts/clear_quarantine_python.sh`.

#![deny(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use msty_mlx_bundler::exit::BundlerExit;
use msty_mlx_bundler::{self as bundle, Options};

mod cli;
use cli::{BuildArgs, Cli, KitAction, Sub};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match cli.command {
        Some(Sub::ClearQuarantine { path }) => clear_quarantine(&path),
        Some(Sub::Verify { dir, json, sign_list, roles, signed, release, libpython, fix_install_names }) => {
            let checks = msty_mlx_verify::Checks { signatures: signed, release, libpython };
            let output = match (json, sign_list) {
                (true, _) => VerifyOutput::Json,
                (false, true) => VerifyOutput::SignList { roles },
                (false, false) => VerifyOutput::Text,
            };
            verify(&dir, output, checks, fix_install_names)
        }
        Some(Sub::Kit { action }) => kit(action),
        None => build(cli.build),
    };
    match result {
        Ok(done) => done.emit(),
        Err(e) => {
            eprintln!("build-external-python: error: {e:#}");
            BundlerExit::of_error(&e).into()
        }
    }
}

/// What a command decided: its exit, and the report for stdout.
struct Done {
    exit: BundlerExit,
    stdout: String,
    /// The one error line (and its details) of a failure that still has a report: after it.
    stderr: Option<String>,
}

impl Done {
    fn ok(stdout: String) -> Done {
        Done { exit: BundlerExit::Success, stdout, stderr: None }
    }

    /// Writes the report and ends with the exit already decided. A reader that stopped
    /// reading (`| head`, a closed pipe: EPIPE) changes nothing; any other write error is one
    /// line and a failure. Never panics (unlike `println!`).
    fn emit(self) -> ExitCode {
        let written = {
            let mut out = std::io::stdout().lock();
            out.write_all(self.stdout.as_bytes()).and_then(|()| out.flush())
        };
        if let Some(last) = &self.stderr {
            let _ = writeln!(std::io::stderr().lock(), "{last}");
        }
        match written {
            Ok(()) => self.exit.into(),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => self.exit.into(),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "build-external-python: error: cannot write the report to stdout: {e}"
                );
                BundlerExit::Failure.into()
            }
        }
    }
}

/// `--help` and `--version` as clap prints them; any other parse error as clap's details, then
/// the one `build-external-python: error: …` line last (exit 2).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    // clap's first paragraph says what is wrong (possibly over several lines): the error line.
    let rendered = e.render().to_string();
    let (first, details) = rendered.split_once("\n\n").unwrap_or((&rendered, ""));
    let what: Vec<&str> = first.lines().map(str::trim).collect();
    let what = what.join(" ");
    let what = what.strip_prefix("error: ").unwrap_or(&what);
    let mut err = std::io::stderr().lock();
    for line in details.lines().filter(|l| !l.starts_with("For more information")) {
        let _ = writeln!(err, "{line}");
    }
    let _ = writeln!(err, "build-external-python: error: {what}; see build-external-python --help");
    BundlerExit::Usage.into()
}

fn build(args: BuildArgs) -> anyhow::Result<Done> {
    let cwd = std::env::current_dir()?;
    let pip_args = match &args.pip_args {
        Some(text) => bundle::pip_args::split(text)?,
        None => Vec::new(),
    };
    let opts = Options {
        python: args.python,
        project: args.project,
        requirements: args.requirements.map(|r| cwd.join(r)),
        mlx_wheel: args.mlx_wheel,
        mlx_lm_wheel: args.mlx_lm_wheel,
        version_stamp: args.version_stamp,
        dist_dir: cwd.join(args.dist_dir),
        bin_name: args.bin_name,
        clean: args.clean,
        pip_args,
        wheels_only: args.wheels_only,
        target_python_version: args.target_python_version,
        target_platform: args.target_platform,
        target_abi: args.target_abi,
        launcher_kit: args.launcher_kit,
        from_source: args.from_source,
        quiet: args.quiet,
        cwd,
        // The workspace root: --from-source builds the launcher and the runtime there.
        repo: workspace_root(),
    };
    let s = bundle::build(&opts)?;
    Ok(Done::ok(format!(
        "bundle: {}\n  distributions: {}\n  size: {:.1} MiB\n  python: {}\n  launcher: {} {}\n  installer: {}\n  bytecode: {}\n  sanity check: {}\n",
        s.output.display(),
        s.distributions,
        s.bytes as f64 / (1024.0 * 1024.0),
        s.python,
        opts.bin_name,
        s.launcher_version,
        s.installer,
        s.bytecode,
        s.sanity
    )))
}

/// What `verify` prints.
enum VerifyOutput {
    Text,
    Json,
    SignList { roles: bool },
}

/// `verify`: one line per finding and per check that could not run, the signing order, a
/// summary; exit 1 when anything must be fixed before signing.
fn verify(
    dir: &std::path::Path,
    output: VerifyOutput,
    checks: msty_mlx_verify::Checks,
    fix: bool,
) -> anyhow::Result<Done> {
    use msty_mlx_verify as verify;
    use std::fmt::Write as _;
    let mut out = String::new();
    if fix {
        let fixes = verify::fix_install_names(dir)?;
        for f in &fixes {
            writeln!(out, "install_name_tool {} {}", f.args.join(" "), f.file.display())?;
        }
        writeln!(
            out,
            "{} install name(s) rewritten; re-sign these files (codesign --force …) before shipping",
            fixes.len()
        )?;
        return Ok(Done::ok(out));
    }
    let report = verify::verify_with(dir, &checks)?;
    match output {
        VerifyOutput::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        VerifyOutput::SignList { roles } => return sign_list(&report, roles),
        VerifyOutput::Text => report_text(&mut out, &report)?,
    }
    if report.errors() == 0 {
        return Ok(Done::ok(out));
    }
    // The report (stdout) has the details; the failure ends, as every failure does, with the
    // one error line.
    let last = format!(
        "build-external-python: error: `{}` has {} error(s) to fix before signing (listed above)",
        report.bundle.display(),
        report.errors()
    );
    Ok(Done { exit: BundlerExit::Failure, stdout: out, stderr: Some(last) })
}

/// `kit check`, `kit build` and `kit add`.
fn kit(action: KitAction) -> anyhow::Result<Done> {
    use bundle::kit::{self, Kit};
    use bundle::kit_make::{self, NewTarget};
    match action {
        KitAction::Check { dir } => {
            let dir = match dir {
                Some(dir) => dir,
                None => bundle::launcher_source::installed_kit()?,
            };
            let kit = Kit::open(&dir)?;
            let files = kit.check_all()?;
            let m = &kit.manifest;
            let targets: Vec<&str> = m.targets.iter().map(|t| t.target.as_str()).collect();
            Ok(Done::ok(format!(
                "kit `{}`: version {}, commit {}, plan format {}, {files} files for {} match {} and {}\n",
                dir.display(),
                m.version,
                m.commit,
                m.plan_format,
                targets.join(", "),
                kit::MANIFEST,
                kit::SUMS
            )))
        }
        KitAction::Build { dir, target, pythons, commit, file } => {
            let repo = bundle::from_source::checkout(workspace_root().as_deref())?.to_path_buf();
            let pythons = pythons
                .iter()
                .map(|xy| xy.parse().map_err(|e| anyhow::anyhow!("--python `{xy}`: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let extra = kit_make::other_files(&file)?;
            bundle::kit_build::build(&repo, &dir, &target, &pythons, extra, &commit, false)?;
            Ok(Done::ok(format!("kit `{}`: {target} built and added\n", dir.display())))
        }
        KitAction::Add { dir, target, commit, built_on, linker, launcher, runtime, file } => {
            let files = kit_make::files_of(launcher, &target, &runtime, &file)?;
            let new = NewTarget { target, built_on, linker, files };
            kit_make::add(&dir, &new, msty_mlx_contract::VERSION, &commit)?;
            Ok(Done::ok(format!("kit `{}`: {} added\n", dir.display(), new.target)))
        }
    }
}

/// `verify --sign-list [--roles]`: the list for a script, or — when the bundle must be fixed
/// first — no list, the errors on stderr and exit 1 (a script signs what it is given). What was
/// not checked goes to stderr, as notes: stdout is the list.
fn sign_list(report: &msty_mlx_verify::Report, roles: bool) -> anyhow::Result<Done> {
    use std::fmt::Write as _;
    let mut notes = String::new();
    for n in &report.not_run {
        writeln!(notes, "note: {n}")?;
    }
    if report.errors() > 0 {
        let mut err = notes;
        for f in report.findings.iter().filter(|f| f.severity == msty_mlx_verify::Severity::Error) {
            writeln!(err, "{f}")?;
        }
        write!(
            err,
            "build-external-python: error: `{}` has {} error(s) to fix before signing; no sign list printed",
            report.bundle.display(),
            report.errors()
        )?;
        return Ok(Done { exit: BundlerExit::Failure, stdout: String::new(), stderr: Some(err) });
    }
    let mut out = String::new();
    for (path, role) in report.signing() {
        if roles {
            writeln!(out, "{role}\t{}", path.display())?;
        } else {
            writeln!(out, "{}", path.display())?;
        }
    }
    let notes = notes.strip_suffix('\n').map(String::from).filter(|n| !n.is_empty());
    Ok(Done { exit: BundlerExit::Success, stdout: out, stderr: notes })
}

/// `verify`'s text report: findings, checks not run, the signing order, the summary line.
fn report_text(out: &mut String, report: &msty_mlx_verify::Report) -> anyhow::Result<()> {
    use msty_mlx_verify::Role;
    use std::fmt::Write as _;
    for f in &report.findings {
        writeln!(out, "{f}")?;
    }
    for n in &report.not_run {
        writeln!(out, "{n}")?;
    }
    writeln!(out, "sign inside-out ({} native binaries):", report.sign_list.len())?;
    for (path, role) in report.signing() {
        let host = if role == Role::PythonHost { "  (python host: entitlements)" } else { "" };
        writeln!(out, "  {}{host}", path.display())?;
    }
    let not_run = match report.not_run.len() {
        0 => String::new(),
        n => format!(", {n} check(s) not run"),
    };
    writeln!(
        out,
        "{}: {} error(s), {} warning(s){not_run} in {} ({} layout, Python {}, {})",
        if report.errors() == 0 { "clean" } else { "must be fixed" },
        report.errors(),
        report.warnings(),
        report.bundle.display(),
        report.layout,
        report.python.as_deref().unwrap_or("?"),
        report.platform.as_deref().unwrap_or("platform unknown")
    )?;
    Ok(())
}

#[cfg(target_os = "macos")]
fn clear_quarantine(path: &std::path::Path) -> anyhow::Result<Done> {
    let status = std::process::Command::new("xattr").args(["-r", "-d", "com.apple.quarantine"]).arg(path).status()?;
    // xattr exits 1 when no file had the attribute; that is success for us.
    if !status.success() && status.code() != Some(1) {
        anyhow::bail!("xattr failed on `{}` ({status})", path.display());
    }
    Ok(Done::ok(format!("removed com.apple.quarantine under {}\n", path.display())))
}

#[cfg(not(target_os = "macos"))]
fn clear_quarantine(path: &std::path::Path) -> anyhow::Result<Done> {
    Ok(Done::ok(format!(
        "nothing to do: com.apple.quarantine exists only on macOS ({} left unchanged)\n",
        path.display()
    )))
}

/// The workspace this bundler was built from (the launcher and the runtime are built there),
/// without `..` components: its path is remapped out of the binaries it builds. A release build
/// (feature `from-source` off) remembers none, so no build-machine path is inside it.
#[cfg(feature = "from-source")]
fn workspace_root() -> Option<PathBuf> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    Some(root.canonicalize().unwrap_or(root))
}

#[cfg(not(feature = "from-source"))]
fn workspace_root() -> Option<PathBuf> {
    None
}
