//! build-external-python: produce `dist-ext-python/<BIN_NAME>/` (the vendored packages, the
//! launcher built for the embedded interpreter, and a manifest). Replaces the bash
//! `scripts/build_external_python.sh` and `scripts/clear_quarantine_python.sh`.

#![deny(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use msty_mlx_bundler::{self as bundle, DEFAULT_TARGET_PLATFORM, Options};

#[derive(Parser, Debug)]
#[command(name = "build-external-python", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Remove macOS's com.apple.quarantine attribute recursively (nothing to do elsewhere).
    ClearQuarantine { path: PathBuf },
    /// Check a finished bundle (dist-ext-python/<BIN_NAME> or a Resources folder) before signing.
    Verify {
        dir: PathBuf,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
        /// Print only the native binaries to sign, inside-out, one per line (none, errors on
        /// stderr and exit 1, when the bundle has errors).
        #[arg(long, conflicts_with = "json")]
        sign_list: bool,
        /// With --sign-list: each line is `ROLE<TAB>PATH`, ROLE one of `library`, `executable`,
        /// `python-host` (sign with packaging/entitlements.plist).
        #[arg(long, requires = "sign_list")]
        roles: bool,
        /// Also read every Mach-O file's code signature: unsigned, ad hoc, no hardened runtime,
        /// missing entitlements, mixed team ids, files changed after signing.
        #[arg(long)]
        signed: bool,
        /// With --signed: what the notary refuses is an error — an ad-hoc signature, no secure
        /// timestamp, a signer that is not a Developer ID Application certificate.
        #[arg(long, requires = "signed")]
        release: bool,
        /// The libpython to check the runtime's `_Py*` imports against [default: the Resources
        /// folder's python/lib/libpython3.X.*]; a Linux libpython of the same X.Y stands in.
        #[arg(long, value_name = "PATH")]
        libpython: Option<PathBuf>,
        /// macOS: rewrite absolute libpython install names to @rpath/… (then re-sign).
        #[arg(long, conflicts_with_all = ["json", "sign_list", "signed"])]
        fix_install_names: bool,
    },
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// Interpreter to install with [default: ./python/bin/python3, then python3 on PATH]
    #[arg(long, env = "EMBEDDED_PYTHON", value_name = "PATH")]
    python: Option<PathBuf>,
    /// What to vendor as mlxk2: a source tree [default: cwd] or a requirement (mlx-knife==2.0.8)
    #[arg(long, value_name = "PATH_OR_REQ")]
    project: Option<String>,
    /// Extra requirements file
    #[arg(long, value_name = "FILE")]
    requirements: Option<PathBuf>,
    /// Custom mlx wheel, installed last [default: scripts/mlx-custom.whl if present]
    #[arg(long, env = "MLX_WHEEL", value_name = "WHEEL")]
    mlx_wheel: Option<PathBuf>,
    /// Custom mlx-lm wheel, installed last [default: scripts/mlx-lm-custom.whl if present]
    #[arg(long, env = "MLX_LM_WHEEL", value_name = "WHEEL")]
    mlx_lm_wheel: Option<PathBuf>,
    /// Stamp mlxk2.__version__ (and its dist-info) in the vendored copy only
    #[arg(long, env = "VERSION", value_name = "V")]
    version_stamp: Option<String>,
    /// Output location
    #[arg(long, env = "DIST_DIR", default_value = "dist-ext-python", value_name = "DIR")]
    dist_dir: PathBuf,
    /// Launcher (and output folder) name
    #[arg(long, env = "BIN_NAME", default_value = "msty-mlx-studio", value_name = "NAME")]
    bin_name: String,
    /// Delete the output directory first (refused for /, $HOME, the project root, outside the dist dir)
    #[arg(long, env = "CLEAN", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    clean: bool,
    /// Extra installer flags for every install, e.g. "--no-index --find-links DIR" (those uv's pip interface shares with pip)
    #[arg(long, env = "PIP_ARGS", value_name = "ARGS", allow_hyphen_values = true)]
    pip_args: Option<String>,
    /// Never execute the embedded interpreter: uv resolves wheels and markers for a target platform
    #[arg(long, env = "VENDOR_VIA_WHEELS", value_parser = BoolishValueParser::new(), default_value_t = false, num_args = 0, default_missing_value = "true")]
    wheels_only: bool,
    /// Target Python X.Y (wheels-only; required there)
    #[arg(long, env = "TARGET_PY_VERSION", value_name = "X.Y")]
    target_python_version: Option<String>,
    /// Target wheel platform tag (wheels-only)
    #[arg(long, env = "TARGET_PLATFORM", default_value = DEFAULT_TARGET_PLATFORM, value_name = "TAG")]
    target_platform: String,
    /// Target ABI tag (wheels-only) [default: cpXY]
    #[arg(long, env = "TARGET_ABI", value_name = "ABI")]
    target_abi: Option<String>,
    /// Use this prebuilt launcher instead of building one (it is checked all the same)
    #[arg(long, value_name = "PATH")]
    launcher: Option<PathBuf>,
    /// Only errors and the final summary
    #[arg(long, short)]
    quiet: bool,
}

/// Usage errors (clap's): exit 2, as clap's own.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match cli.command {
        Some(Sub::ClearQuarantine { path }) => clear_quarantine(&path).map(|()| ExitCode::SUCCESS),
        Some(Sub::Verify { dir, json, sign_list, roles, signed, release, libpython, fix_install_names }) => {
            let checks = msty_mlx_verify::Checks { signatures: signed, release, libpython };
            let output = match (json, sign_list) {
                (true, _) => VerifyOutput::Json,
                (false, true) => VerifyOutput::SignList { roles },
                (false, false) => VerifyOutput::Text,
            };
            verify(&dir, output, checks, fix_install_names)
        }
        None => build(cli.build).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("build-external-python: error: {e:#}");
            ExitCode::FAILURE
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
    ExitCode::from(USAGE)
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
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
        launcher: args.launcher,
        quiet: args.quiet,
        cwd,
        // The workspace root: the launcher and the runtime are built from there.
        repo: workspace_root(),
    };
    let s = bundle::build(&opts)?;
    println!(
        "bundle: {}\n  distributions: {}\n  size: {:.1} MiB\n  python: {}\n  launcher: {} {}\n  installer: {}\n  bytecode: {}\n  sanity check: {}",
        s.output.display(),
        s.distributions,
        s.bytes as f64 / (1024.0 * 1024.0),
        s.python,
        opts.bin_name,
        s.launcher_version,
        s.installer,
        s.bytecode,
        s.sanity
    );
    Ok(())
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
) -> anyhow::Result<ExitCode> {
    use msty_mlx_verify as verify;
    let mut out = std::io::stdout().lock();
    if fix {
        let fixes = verify::fix_install_names(dir)?;
        for f in &fixes {
            quiet_pipe(writeln!(out, "install_name_tool {} {}", f.args.join(" "), f.file.display()))?;
        }
        quiet_pipe(writeln!(
            out,
            "{} install name(s) rewritten; re-sign these files (codesign --force …) before shipping",
            fixes.len()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = verify::verify_with(dir, &checks)?;
    let code = if report.errors() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    match output {
        VerifyOutput::Json => quiet_pipe(writeln!(out, "{}", serde_json::to_string_pretty(&report)?))?,
        VerifyOutput::SignList { roles } => return print_sign_list(&mut out, &report, roles),
        VerifyOutput::Text => print_report(&mut out, &report)?,
    }
    if report.errors() > 0 {
        // The report (stdout) has the details; the failure ends, as every failure does, with
        // the one error line.
        eprintln!(
            "build-external-python: error: `{}` has {} error(s) to fix before signing (listed above)",
            report.bundle.display(),
            report.errors()
        );
    }
    Ok(code)
}

fn not_run_line(n: &msty_mlx_verify::NotRun) -> String {
    format!("not run: {}: {}: {}", n.check, n.path.display(), n.reason)
}

/// `verify --sign-list [--roles]`: the list for a script, or — when the bundle must be fixed
/// first — no list, the errors on stderr and exit 1 (a script signs what it is given).
fn print_sign_list(out: &mut impl Write, report: &msty_mlx_verify::Report, roles: bool) -> anyhow::Result<ExitCode> {
    // What was not checked goes to stderr, as a note: stdout is the list.
    for n in &report.not_run {
        eprintln!("note: {}", not_run_line(n));
    }
    if report.errors() > 0 {
        for f in report.findings.iter().filter(|f| f.severity == msty_mlx_verify::Severity::Error) {
            eprintln!("error: {}: {}: {}", f.kind, f.path.display(), f.detail);
        }
        eprintln!(
            "build-external-python: error: `{}` has {} error(s) to fix before signing; no sign list printed",
            report.bundle.display(),
            report.errors()
        );
        return Ok(ExitCode::FAILURE);
    }
    for (path, role) in report.signing() {
        if roles {
            quiet_pipe(writeln!(out, "{role}\t{}", path.display()))?;
        } else {
            quiet_pipe(writeln!(out, "{}", path.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify`'s text report: findings, checks not run, the signing order, the summary line.
fn print_report(out: &mut impl Write, report: &msty_mlx_verify::Report) -> anyhow::Result<()> {
    use msty_mlx_verify::{Role, Severity};
    for f in &report.findings {
        let level = if f.severity == Severity::Error { "error" } else { "warning" };
        quiet_pipe(writeln!(out, "{level}: {}: {}: {}", f.kind, f.path.display(), f.detail))?;
    }
    for n in &report.not_run {
        quiet_pipe(writeln!(out, "{}", not_run_line(n)))?;
    }
    quiet_pipe(writeln!(out, "sign inside-out ({} native binaries):", report.sign_list.len()))?;
    for (path, role) in report.signing() {
        let host = if role == Role::PythonHost { "  (python host: entitlements)" } else { "" };
        quiet_pipe(writeln!(out, "  {}{host}", path.display()))?;
    }
    let not_run = match report.not_run.len() {
        0 => String::new(),
        n => format!(", {n} check(s) not run"),
    };
    quiet_pipe(writeln!(
        out,
        "{}: {} error(s), {} warning(s){not_run} in {} ({} layout, Python {}, {})",
        if report.errors() == 0 { "clean" } else { "must be fixed" },
        report.errors(),
        report.warnings(),
        report.bundle.display(),
        report.layout,
        report.python.as_deref().unwrap_or("?"),
        report.platform.as_deref().unwrap_or("platform unknown")
    ))
}

/// A reader that stopped reading (`| head`) is not an error worth a message.
fn quiet_pipe(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

#[cfg(target_os = "macos")]
fn clear_quarantine(path: &std::path::Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("xattr").args(["-r", "-d", "com.apple.quarantine"]).arg(path).status()?;
    // xattr exits 1 when no file had the attribute; that is success for us.
    if !status.success() && status.code() != Some(1) {
        anyhow::bail!("xattr failed on `{}` ({status})", path.display());
    }
    println!("removed com.apple.quarantine under {}", path.display());
    Ok(())
}

#[cfg(not(target_os = "macos"))]
fn clear_quarantine(path: &std::path::Path) -> anyhow::Result<()> {
    println!("nothing to do: com.apple.quarantine exists only on macOS ({} left unchanged)", path.display());
    Ok(())
}

/// The workspace this bundler was built from (the launcher and the runtime are built there),
/// without `..` components: its path is remapped out of the binaries it builds.
fn workspace_root() -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    root.canonicalize().unwrap_or(root)
}
