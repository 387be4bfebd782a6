//! The walk over a bundle's tree: symlinks (leaving the bundle, or dangling), bytecode, `.pth`
//! files, editable installs, shebangs, build-time folders; native files are handed to
//! [`crate::binaries`]; at the end, the sign list in its order with each file's role.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::native::{NativeInfo, native_info};
use crate::paths::{cache_tag, normalize_path, read_dir_sorted};
use crate::report::{Finding, Kind, NotRun, Report, Role, Severity};

pub(crate) struct Walk {
    pub(crate) root: PathBuf,
    pub(crate) report: Report,
    /// (path, depth, is_executable) of every native binary.
    pub(crate) natives: Vec<(PathBuf, usize, bool)>,
    pub(crate) runtime_xy: Option<String>,
    /// The runtime library (`libmsty_mlx_runtime.*`), once found.
    pub(crate) runtime: Option<PathBuf>,
    pub(crate) python_xy: Option<String>,
    /// Timestamp-based pycs per area (the stdlib, each top-level package of `_vendor`).
    pub(crate) timestamp_pycs: BTreeMap<PathBuf, usize>,
    /// Every Mach-O file, for resolving loads once all are known.
    pub(crate) machos: BTreeMap<PathBuf, NativeInfo>,
}

impl Walk {
    pub(crate) fn finding(&mut self, kind: Kind, severity: Severity, path: &Path, detail: impl Into<String>) {
        self.report.findings.push(Finding { kind, severity, path: path.to_path_buf(), detail: detail.into() });
    }

    /// A check that could not run on `path`, and why.
    pub(crate) fn not_run(&mut self, check: Kind, path: &Path, reason: String) {
        self.report.not_run.push(NotRun { check, path: path.to_path_buf(), reason });
    }

    pub(crate) fn inside(&self, path: &Path) -> bool {
        normalize_path(path).starts_with(&self.root)
    }

    pub(crate) fn walk(&mut self, dir: &Path, depth: usize) -> Result<()> {
        for entry in read_dir_sorted(dir)? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let ty = entry.file_type().with_context(|| format!("Failed to read the type of `{}`", path.display()))?;
            if ty.is_symlink() {
                let target =
                    fs::read_link(&path).with_context(|| format!("Failed to read the symlink `{}`", path.display()))?;
                let resolved = if target.is_absolute() { target.clone() } else { dir.join(&target) };
                if target.is_absolute() && !self.inside(&target) || !self.inside(&resolved) {
                    self.finding(
                        Kind::OutsideLink,
                        Severity::Error,
                        &path,
                        format!("symlink to `{}` leaves the bundle", target.display()),
                    );
                } else if target.is_absolute() {
                    self.finding(
                        Kind::OutsideLink,
                        Severity::Error,
                        &path,
                        format!("absolute symlink `{}` breaks when the app moves", target.display()),
                    );
                } else if fs::metadata(&path).is_err() {
                    self.finding(
                        Kind::DanglingLink,
                        Severity::Error,
                        &path,
                        format!("symlink to `{}`, which resolves to nothing (missing, or a loop): electron-builder's signing (osx-sign) stats every path and stops at it; delete the link or ship its target", target.display()),
                    );
                }
                continue;
            }
            if ty.is_dir() {
                self.check_build_folder(&path, &name);
                if name == "__pycache__" {
                    let count = self.check_pycache(&path)?;
                    if count > 0 {
                        *self.timestamp_pycs.entry(self.area(dir)).or_default() += count;
                    }
                    continue;
                }
                if name.ends_with(".dist-info") {
                    self.check_direct_url(&path);
                }
                self.walk(&path, depth + 1)?;
                continue;
            }
            if name.ends_with(".pth") {
                self.check_pth(&path);
            }
            if name.starts_with("__editable__") {
                self.finding(
                    Kind::EditableInstall,
                    Severity::Error,
                    &path,
                    "an editable-install finder points at a developer's source tree",
                );
            }
            self.check_file(&path, &name, depth)?;
        }
        Ok(())
    }

    /// python-build-standalone's `lib/python3.X/config-3.X-darwin/` (`python.o`,
    /// `libpython3.X.a`, a `Makefile` with build paths): for building extensions, not for
    /// running; nothing in it is signed.
    fn check_build_folder(&mut self, dir: &Path, name: &str) {
        let in_python_lib = dir.strip_prefix(&self.root).is_ok_and(|rel| {
            let parts: Vec<Component> = rel.components().collect();
            parts.len() == 4 && parts[0].as_os_str() == "python" && parts[1].as_os_str() == "lib"
        });
        if in_python_lib && name.starts_with("config-") && name.ends_with("-darwin") {
            self.finding(
                Kind::PythonBuildFiles,
                Severity::Warning,
                dir,
                "build-time files of the interpreter (python.o, libpython3.X.a, a Makefile with the build machine's paths): nothing at run time needs them; delete the folder before signing",
            );
        }
    }

    /// Where timestamp-pyc counts are reported: `python/lib/python3.X`, `_vendor/<package>`.
    fn area(&self, dir: &Path) -> PathBuf {
        let rel: Vec<Component> = dir.strip_prefix(&self.root).unwrap_or(dir).components().collect();
        let take = if rel.len() >= 3 && rel[0].as_os_str() == "python" && rel[1].as_os_str() == "lib" {
            3
        } else if let Some(i) = rel.iter().position(|c| c.as_os_str() == "_vendor") {
            (i + 2).min(rel.len())
        } else {
            rel.len()
        };
        rel[..take].iter().fold(self.root.clone(), |p, c| p.join(c))
    }

    /// Returns the number of timestamp-based pycs; reports pycs of another X.Y.
    fn check_pycache(&mut self, dir: &Path) -> Result<usize> {
        let mut timestamp = 0;
        for entry in read_dir_sorted(dir)? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".pyc") {
                continue;
            }
            if let (Some(tag), Some(xy)) = (cache_tag(&name), self.target_xy())
                && tag != format!("cpython-{}", xy.replace('.', ""))
            {
                self.finding(
                    Kind::ForeignPyc,
                    Severity::Error,
                    &path,
                    format!("bytecode for {tag}, the bundle runs Python {xy}"),
                );
                continue;
            }
            let mut header = [0u8; 8];
            if let Ok(mut f) = fs::File::open(&path)
                && f.read_exact(&mut header).is_ok()
                && u32::from_le_bytes([header[4], header[5], header[6], header[7]]) & 1 == 0
            {
                timestamp += 1;
            }
        }
        Ok(timestamp)
    }

    pub(crate) fn target_xy(&self) -> Option<String> {
        self.python_xy.clone().or_else(|| self.runtime_xy.clone())
    }

    fn check_pth(&mut self, path: &Path) {
        let Ok(text) = fs::read_to_string(path) else { return };
        let site = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with("import ") || line.starts_with("import\t") {
                if line.contains("__editable__") {
                    self.finding(
                        Kind::EditableInstall,
                        Severity::Error,
                        path,
                        format!("`{line}` loads an editable-install finder"),
                    );
                }
                continue;
            }
            let target = site.join(line);
            if Path::new(line).is_absolute() || !self.inside(&target) {
                self.finding(
                    Kind::OutsidePth,
                    Severity::Error,
                    path,
                    format!("path line `{line}` points outside the bundle"),
                );
            }
        }
    }

    fn check_direct_url(&mut self, dist_info: &Path) {
        let file = dist_info.join("direct_url.json");
        let Ok(text) = fs::read_to_string(&file) else { return };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { return };
        if json["dir_info"]["editable"] == serde_json::Value::Bool(true) {
            let url = json["url"].as_str().unwrap_or("?");
            self.finding(
                Kind::EditableInstall,
                Severity::Error,
                &file,
                format!("editable install of `{url}`: the code lives outside the bundle"),
            );
        }
    }

    fn check_file(&mut self, path: &Path, name: &str, depth: usize) -> Result<()> {
        let failed = || format!("Failed to read `{}`", path.display());
        let meta = fs::metadata(path).with_context(failed)?;
        if meta.len() < 4 {
            return Ok(());
        }
        let mut head = [0u8; 4];
        fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).with_context(failed)?;
        if head[..2] == *b"#!" {
            // Scripts are what gets executed: anything in a bin/ directory, and executable files
            // outside the stdlib (whose modules, e.g. cgi.py, keep historic shebangs).
            use std::os::unix::fs::PermissionsExt;
            let in_bin = path.parent().and_then(Path::file_name).is_some_and(|d| d == "bin");
            let stdlib = path.strip_prefix(&self.root).is_ok_and(|rel| rel.starts_with("python/lib"));
            if in_bin || (meta.permissions().mode() & 0o111 != 0 && !stdlib) {
                self.check_shebang(path);
            }
            return Ok(());
        }
        let thin_macho = matches!(u32::from_le_bytes(head), 0xfeedfacf | 0xfeedface);
        let native = head == [0x7f, b'E', b'L', b'F'] || thin_macho || u32::from_be_bytes(head) == 0xcafebabe;
        if native {
            let bytes = fs::read(path).with_context(failed)?;
            match native_info(&bytes) {
                Some(info) => self.check_native(path, name, depth, &info),
                // The fat magic is also a Java class file's; a thin Mach-O magic is not shared.
                None if thin_macho => self.finding(
                    Kind::Malformed,
                    Severity::Error,
                    path,
                    "a Mach-O file (by its magic) that cannot be read: it is left out of the sign list, and an unsigned file fails notarization",
                ),
                None => {}
            }
        }
        Ok(())
    }

    fn check_shebang(&mut self, path: &Path) {
        let Ok(bytes) = fs::read(path) else { return };
        let first = String::from_utf8_lossy(bytes.split(|b| *b == b'\n').next().unwrap_or(&[])).into_owned();
        let interpreter = first.trim_start_matches("#!").split_whitespace().next().unwrap_or("").to_string();
        let system = ["/bin/", "/usr/bin/", "/usr/local/bin/"].iter().any(|p| interpreter.starts_with(p))
            && !interpreter.contains("python")
            || interpreter == "/usr/bin/env";
        if interpreter.starts_with('/') && !system && !self.inside(Path::new(&interpreter)) {
            self.finding(
                Kind::BuildShebang,
                Severity::Error,
                path,
                format!("shebang names `{interpreter}`, which will not exist on a user's machine"),
            );
        }
    }
    pub(crate) fn finish(&mut self) {
        for (area, count) in std::mem::take(&mut self.timestamp_pycs) {
            self.finding(
                Kind::TimestampPyc,
                Severity::Warning,
                &area,
                format!("{count} timestamp-based pyc(s): copying restamps their sources, so they are recompiled at every start (ship unchecked hash-based pycs)"),
            );
        }
        let hosts = self.python_hosts();
        let r = &mut self.report;
        r.python = self.python_xy.clone().or_else(|| self.runtime_xy.clone());
        if let (Some(launcher), Some(python)) = (&self.runtime_xy, &self.python_xy)
            && launcher != python
        {
            r.findings.push(Finding {
                kind: Kind::PythonMismatch,
                severity: Severity::Error,
                path: self.root.clone(),
                detail: format!(
                    "the runtime library is built for Python {launcher}, the bundled interpreter is Python {python}"
                ),
            });
        }
        // macOS: MLX's Metal kernels ship as mlx/lib/mlx.metallib.
        if r.platform.as_deref().is_some_and(|p| p.starts_with("macos")) {
            for vendor in [self.root.join("_vendor"), self.root.join("mlxk2/_vendor")] {
                if vendor.join("mlx").is_dir() && !vendor.join("mlx/lib/mlx.metallib").is_file() {
                    r.findings.push(Finding {
                        kind: Kind::MissingMetallib,
                        severity: Severity::Error,
                        path: vendor.join("mlx/lib/mlx.metallib"),
                        detail: "mlx is vendored without its Metal kernels (install mlx-metal or a full mlx wheel)"
                            .into(),
                    });
                }
            }
        }
        // Inside-out: libraries deepest first, then executables (python3, the launcher) last.
        self.natives.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
        r.sign_list = self.natives.iter().map(|n| n.0.clone()).collect();
        r.roles = self
            .natives
            .iter()
            .map(|(path, _, executable)| match (hosts.contains(path), executable) {
                (true, _) => Role::PythonHost,
                (false, true) => Role::Executable,
                (false, false) => Role::Library,
            })
            .collect();
        r.python_hosts = r.signing().filter(|(_, role)| *role == Role::PythonHost).map(|(p, _)| p.clone()).collect();
    }

    /// The executables that run Python: the launcher (an executable beside the runtime library)
    /// and the file `python/bin/python3` resolves to — python-build-standalone ships `python3`
    /// as a symlink to `python3.X`, and a symlink is never signed: its target is.
    pub(crate) fn python_hosts(&self) -> Vec<PathBuf> {
        let mut hosts = Vec::new();
        let executables = || self.natives.iter().filter(|n| n.2).map(|n| &n.0);
        if let Some(dir) = self.runtime.as_deref().and_then(Path::parent) {
            hosts.extend(executables().filter(|p| p.parent() == Some(dir)).cloned());
        }
        if let Ok(python) = self.root.join("python/bin/python3").canonicalize()
            && executables().any(|p| *p == python)
        {
            hosts.push(python);
        }
        hosts
    }
}
