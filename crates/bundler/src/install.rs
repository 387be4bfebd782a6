//! Installing into `_vendor` with `uv pip install --target`: resolved for the embedded
//! interpreter (`--python`), or in wheels-only mode for the target's wheel tags **and**
//! environment markers (`--python-platform`, `--python-version`, wheels only).

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use fs_err as fs;

use super::mode::Mode;
use super::pip_args::PipArgs;
use super::platform::UvTarget;
use super::uv::Uv;
use msty_mlx_contract::python::PyVersion;

/// Environment variables of the caller that uv may see: none that changes what is resolved.
const UV_ENV_KEPT: &[&str] = &[
    "UV_CACHE_DIR",
    "UV_LINK_MODE",
    "UV_HTTP_TIMEOUT",
    "UV_CONCURRENT_DOWNLOADS",
    "UV_CONCURRENT_INSTALLS",
    "UV_NATIVE_TLS",
    "UV_SYSTEM_CERTS",
    "UV_OFFLINE",
];

/// One way of running uv for this build.
pub struct Installer {
    uv: PathBuf,
    /// uv's `--python`: the embedded interpreter, or (wheels-only) the host's python3 helper.
    python: PathBuf,
    /// Wheels-only: the target and its X.Y.
    target: Option<(UvTarget, PyVersion)>,
    args: PipArgs,
    cwd: PathBuf,
    quiet: bool,
}

impl Installer {
    pub fn new(uv: &Uv, mode: &Mode, version: PyVersion, args: PipArgs, cwd: &Path, quiet: bool) -> Installer {
        let (python, target) = match mode {
            Mode::Embedded { python } => (python.clone(), None),
            Mode::WheelsOnly { target, host, .. } => (host.clone(), Some((target.clone(), version))),
        };
        Installer { uv: uv.program.clone(), python, target, args, cwd: cwd.to_path_buf(), quiet }
    }

    /// `uv <sub…>` with no configuration files, no caller's settings that change resolution,
    /// and the target (if any).
    fn uv(&self, sub: &[&str]) -> Command {
        let mut cmd = Command::new(&self.uv);
        cmd.args(sub).arg("--no-config").arg("--python").arg(&self.python).current_dir(&self.cwd);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            let drop = k.starts_with("PYTHON")
                || k.starts_with("PIP_")
                || (k.starts_with("UV_") && !UV_ENV_KEPT.contains(&k.as_ref()))
                || matches!(k.as_ref(), "VIRTUAL_ENV" | "CONDA_PREFIX" | "MACOSX_DEPLOYMENT_TARGET");
            if drop {
                cmd.env_remove(&key);
            }
        }
        // A build backend run for a source tree must not leave __pycache__ in it.
        cmd.env("PYTHONDONTWRITEBYTECODE", "1").env("UV_PYTHON_DOWNLOADS", "never");
        cmd
    }

    fn install_command(&self, vendor: &Path) -> Command {
        let mut cmd = self.uv(&["pip", "install"]);
        cmd.arg("--target").arg(vendor);
        if let Some((target, version)) = &self.target {
            cmd.args(["--python-platform", &target.triple, "--python-version", &version.to_string()]);
            cmd.args(["--only-binary", ":all:"]);
            if let Some(macos) = &target.macos_deployment_target {
                cmd.env("MACOSX_DEPLOYMENT_TARGET", macos);
            }
        }
        cmd
    }

    /// Installs `what` (requirements, wheels, a tree, `-r FILE`) into `vendor`; `last` installs
    /// exactly these files over what is there (custom wheels).
    pub fn install(&self, vendor: &Path, what: &[OsString], last: bool) -> Result<()> {
        let mut cmd = self.install_command(vendor);
        if last {
            cmd.args(["--no-deps", "--reinstall"]);
        }
        cmd.args(&self.args.install).args(what);
        run_tool(cmd, self.quiet, "uv pip install", self.hint())?;
        // uv's lock for the target directory is no part of the bundle.
        match fs::remove_file(vendor.join(".lock")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Whether uv would install `wheel` for this target: `Err` carries uv's reason.
    pub fn accepts_wheel(&self, wheel: &Path) -> Result<(), String> {
        let scratch = std::env::temp_dir().join(format!("msty-mlx-studio-wheel-check-{}", std::process::id()));
        let mut cmd = self.install_command(&scratch);
        cmd.args(["--dry-run", "--no-deps", "--offline", "--no-index"]).arg(wheel);
        let out = cmd.stdin(Stdio::null()).output();
        let _ = fs::remove_dir_all(&scratch);
        match out {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(uv_error(&String::from_utf8_lossy(&out.stderr))),
            Err(e) => Err(format!("cannot run `{}`: {e}", self.uv.display())),
        }
    }

    /// A source tree's wheel, built here with uv (wheels-only installs no source trees).
    pub fn build_wheel(&self, tree: &Path, work: &Path) -> Result<PathBuf> {
        let out = work.join("project-wheel");
        fs::create_dir_all(&out)?;
        let mut cmd = self.uv(&["build", "--wheel"]);
        cmd.arg("--out-dir").arg(&out).args(&self.args.build).arg(tree);
        run_tool(cmd, self.quiet, "uv build", "")?;
        fs::read_dir(&out)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .ok_or_else(|| anyhow!("uv build produced no wheel for `{}`", tree.display()))
    }

    fn hint(&self) -> &'static str {
        if self.target.is_some() {
            "check that every requirement has wheels for the target platform and Python, and PIP_ARGS' index or --find-links"
        } else {
            "check the requirements and PIP_ARGS' index or --find-links"
        }
    }
}

/// Runs a tool with its stderr streamed (unless quiet) and kept: a failure is one line made of
/// the tool's own error and `hint`.
fn run_tool(mut cmd: Command, quiet: bool, what: &str, hint: &str) -> Result<()> {
    cmd.stdin(Stdio::null()).stdout(if quiet { Stdio::null() } else { Stdio::inherit() }).stderr(Stdio::piped());
    let program = PathBuf::from(cmd.get_program());
    let mut child = cmd.spawn().with_context(|| format!("cannot run `{}`", program.display()))?;
    let mut captured = String::new();
    if let Some(stderr) = child.stderr.take() {
        let mut reader = std::io::BufReader::new(stderr);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line);
            if !quiet {
                eprint!("{text}");
            }
            captured.push_str(&text);
            line.clear();
        }
    }
    let status = child.wait().with_context(|| format!("cannot wait for `{}`", program.display()))?;
    if status.success() {
        return Ok(());
    }
    let mut message = uv_error(&captured);
    let offline = ["Failed to fetch", "Could not connect", "error sending request", "dns error", "are you offline"]
        .iter()
        .any(|m| captured.contains(m));
    let hint = if offline {
        "no network? pass PIP_ARGS='--no-index --find-links DIR' with a wheelhouse, or build once online to fill uv's cache"
    } else {
        hint
    };
    if !hint.is_empty() {
        message = format!("{}; {hint}", message.trim_end_matches('.'));
    }
    bail!("{what} failed ({status}): {message}")
}

/// uv's error, from its first `error:` line on, as one line (`cause:`/`hint:` sections kept,
/// wrapped lines joined).
pub fn uv_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let Some(start) =
        lines.iter().position(|l| l.trim_start().starts_with("error:") || l.trim_start().starts_with('×'))
    else {
        return lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| "no error message".into());
    };
    let mut out = String::new();
    for line in &lines[start..] {
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let (sep, rest) = ["error:", "×", "cause:", "Caused by:", "╰─▶", "├─▶", "hint:", "help:"]
            .iter()
            .find_map(|marker| {
                text.strip_prefix(marker).map(|rest| (if marker.starts_with('h') { "; " } else { ": " }, rest.trim()))
            })
            .unwrap_or((" ", text));
        if !out.is_empty() {
            if sep == "; " && out.ends_with('.') {
                out.pop();
            }
            out.push_str(sep);
        }
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uv_errors_become_one_line() {
        let text = "Using CPython 3.11.7 interpreter at: /p/python\nerror: No solution found when resolving dependencies\n  cause: Because mlx==0.29.3 requires Python >=3.9 and only mlx==0.29.3 is available, we can conclude that all versions of mlx cannot be used.\n         And because you require mlx, we can conclude that your requirements are unsatisfiable.\n";
        assert_eq!(
            uv_error(text),
            "No solution found when resolving dependencies: Because mlx==0.29.3 requires Python >=3.9 and only mlx==0.29.3 is available, we can conclude that all versions of mlx cannot be used. And because you require mlx, we can conclude that your requirements are unsatisfiable."
        );
        let text = "Resolved 1 package in 4ms\nerror: Failed to determine installation plan\n  cause: A path (w.whl) dependency is incompatible with the current platform\n\nhint: The wheel is compatible with macOS (`macosx_14_0_arm64`), but you're on Linux (`manylinux_2_28_x86_64`)\n";
        assert_eq!(
            uv_error(text),
            "Failed to determine installation plan: A path (w.whl) dependency is incompatible with the current platform; The wheel is compatible with macOS (`macosx_14_0_arm64`), but you're on Linux (`manylinux_2_28_x86_64`)"
        );
        assert_eq!(uv_error("something\nlast words\n\n"), "last words");
        assert_eq!(uv_error(""), "no error message");
    }
}
