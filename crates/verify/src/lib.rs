//! `build-external-python verify DIR`: find what would break a bundle once it is signed —
//! bytecode that would be rewritten, paths leaving the bundle, build-machine interpreters and
//! library paths, loads dyld would not resolve, an X.Y or platform mix, a missing
//! `mlx.metallib` — and list every native binary in the order a packager signs them
//! (inside-out).

mod dyld;
mod install_names;
mod native;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

pub use dyld::Unresolved;
pub use install_names::{InstallNameFix, fix_install_names, fix_install_names_with, plan_install_name_fixes};
pub use native::{FileType, Load, LoadCommand, MachSlice, NativeInfo, native_info};

/// How bad a finding is: errors make `verify` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What a finding is about; shown (and serialised) as its kebab-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Timestamp-based pycs: recompiled at every start once copying restamps the sources.
    TimestampPyc,
    /// Bytecode for another Python X.Y.
    ForeignPyc,
    /// A symlink that is absolute or leaves the bundle.
    OutsideLink,
    /// A `.pth` line pointing outside the bundle.
    OutsidePth,
    /// An editable install: the code lives in a developer's tree.
    EditableInstall,
    /// A script whose shebang names the build machine's interpreter.
    BuildShebang,
    /// An absolute RPATH/RUNPATH/LC_RPATH (or an absolute DT_NEEDED).
    AbsoluteRpath,
    /// An absolute, non-system LC_ID_DYLIB or dylib load.
    AbsoluteInstallName,
    /// An extension module for another X.Y or platform.
    ForeignExtension,
    /// The launcher and the bundled interpreter are different X.Y.
    PythonMismatch,
    /// mlx without its Metal kernels.
    MissingMetallib,
    /// A Mach-O load (`@rpath/…`, `@loader_path/…`, `@executable_path/…`) dyld would not find.
    UnresolvedLoad,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TimestampPyc => "timestamp-pyc",
            Kind::ForeignPyc => "foreign-pyc",
            Kind::OutsideLink => "outside-link",
            Kind::OutsidePth => "outside-pth",
            Kind::EditableInstall => "editable-install",
            Kind::BuildShebang => "build-shebang",
            Kind::AbsoluteRpath => "absolute-rpath",
            Kind::AbsoluteInstallName => "absolute-install-name",
            Kind::ForeignExtension => "foreign-extension",
            Kind::PythonMismatch => "python-mismatch",
            Kind::MissingMetallib => "missing-metallib",
            Kind::UnresolvedLoad => "unresolved-load",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    pub path: PathBuf,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub bundle: PathBuf,
    /// `resources` (python/ + mlxk2/) or `dist` (a `dist-ext-python/<BIN_NAME>` folder).
    pub layout: &'static str,
    pub python: Option<String>,
    pub platform: Option<String>,
    pub findings: Vec<Finding>,
    /// Every Mach-O / ELF file, in signing order: libraries deepest first, executables last.
    pub sign_list: Vec<PathBuf>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }
}

struct Walk {
    root: PathBuf,
    report: Report,
    /// (path, depth, is_executable) of every native binary.
    natives: Vec<(PathBuf, usize, bool)>,
    runtime_xy: Option<String>,
    python_xy: Option<String>,
    /// Timestamp-based pycs per area (the stdlib, each top-level package of `_vendor`).
    timestamp_pycs: BTreeMap<PathBuf, usize>,
    /// Every Mach-O file, for resolving loads once all are known.
    machos: BTreeMap<PathBuf, NativeInfo>,
}

/// Verifies the bundle at `dir`.
pub fn verify(dir: &Path) -> Result<Report> {
    let root = dir.canonicalize().with_context(|| format!("Failed to open `{}`", dir.display()))?;
    let layout = if root.join("python").is_dir() && root.join("mlxk2").is_dir() {
        "resources"
    } else if root.join("_vendor").is_dir() {
        "dist"
    } else {
        bail!("`{}` is neither a Resources folder (python/ + mlxk2/) nor a bundle folder (_vendor/)", root.display());
    };
    let mut w = Walk {
        report: Report {
            bundle: root.clone(),
            layout,
            python: None,
            platform: None,
            findings: Vec::new(),
            sign_list: Vec::new(),
        },
        root: root.clone(),
        natives: Vec::new(),
        runtime_xy: None,
        python_xy: None,
        timestamp_pycs: Default::default(),
        machos: BTreeMap::new(),
    };
    if layout == "resources" {
        w.python_xy = python_xy_of(&root.join("python/lib"));
    }
    w.walk(&root, 0)?;
    w.check_loads();
    w.finish();
    Ok(w.report)
}

/// `3.11` from a `lib/` holding `python3.11/` or `libpython3.11.*`.
fn python_xy_of(lib: &Path) -> Option<String> {
    fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix("libpython").or_else(|| name.strip_prefix("python"))?;
        let xy: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let xy = xy.trim_end_matches('.');
        (xy.matches('.').count() == 1 && xy.starts_with("3.")).then(|| xy.to_string())
    })
}

impl Walk {
    fn finding(&mut self, kind: Kind, severity: Severity, path: &Path, detail: impl Into<String>) {
        self.report.findings.push(Finding { kind, severity, path: path.to_path_buf(), detail: detail.into() });
    }

    fn inside(&self, path: &Path) -> bool {
        normalize_path(path).starts_with(&self.root)
    }

    fn walk(&mut self, dir: &Path, depth: usize) -> Result<()> {
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
                }
                continue;
            }
            if ty.is_dir() {
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

    fn target_xy(&self) -> Option<String> {
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
        let native = head == [0x7f, b'E', b'L', b'F']
            || matches!(u32::from_le_bytes(head), 0xfeedfacf | 0xfeedface | 0xbebafeca)
            || u32::from_be_bytes(head) == 0xcafebabe;
        if native {
            let bytes = fs::read(path).with_context(failed)?;
            if let Some(info) = native_info(&bytes) {
                self.check_native(path, name, depth, &info);
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

    fn check_native(&mut self, path: &Path, name: &str, depth: usize, info: &NativeInfo) {
        let rel_name = path.strip_prefix(&self.root).unwrap_or(path).to_path_buf();
        // The runtime library says which X.Y it was built for in its stamp; the launcher is
        // the executable next to it (neither links libpython).
        let is_runtime = name == msty_mlx_contract::stamp::FILE_NAME
            || name == "libmsty_mlx_runtime.so"
            || name == "libmsty_mlx_runtime.dylib";
        if is_runtime {
            self.runtime_xy = msty_mlx_contract::stamp::RuntimeStamp::read(path).ok().map(|s| s.python.to_string());
        }
        let is_launcher = rel_name.components().count() <= 2
            && info.executable
            && !rel_name.starts_with("python")
            && !name.contains(".so")
            && !name.ends_with(".dylib");
        if self.report.platform.is_none() && (is_launcher || is_runtime || name == "python3") {
            self.report.platform = Some(format!("{}-{}", if info.macho { "macos" } else { "linux" }, info.arch));
        }
        if info.macho {
            self.check_macho_names(path, info);
        } else {
            for rpath in
                info.rpaths.iter().filter(|r| !r.is_empty() && !r.starts_with("$ORIGIN") && !r.starts_with("${ORIGIN}"))
            {
                // A path of this (the building) machine would be searched on users' machines
                // too; one left by a wheel's own build container (manylinux `/opt/_internal/…`)
                // exists nowhere and only costs a failed lookup.
                if Path::new(rpath).exists() {
                    self.finding(
                        Kind::AbsoluteRpath,
                        Severity::Error,
                        path,
                        format!("RPATH/RUNPATH `{rpath}` is a build-machine path"),
                    );
                } else {
                    self.finding(
                        Kind::AbsoluteRpath,
                        Severity::Warning,
                        path,
                        format!("RPATH/RUNPATH `{rpath}` is a path of the machine that built this wheel (absent here)"),
                    );
                }
            }
            for lib in info.libs.iter().filter(|l| l.starts_with('/')) {
                self.finding(
                    Kind::AbsoluteRpath,
                    Severity::Error,
                    path,
                    format!("DT_NEEDED `{lib}` is an absolute path"),
                );
            }
        }
        // Extension modules: `x.cpython-311-x86_64-linux-gnu.so`, `x.cpython-311-darwin.so`.
        if let Some(tag) = name.split('.').find(|p| p.starts_with("cpython-")) {
            let mut parts = tag.splitn(3, '-');
            let (_, version, platform) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if let Some(xy) = self.target_xy()
                && version != xy.replace('.', "")
            {
                self.finding(
                    Kind::ForeignExtension,
                    Severity::Error,
                    path,
                    format!("extension built for cpython-{version}, the bundle runs Python {xy}"),
                );
            }
            let foreign = if info.macho {
                !platform.is_empty() && platform != "darwin"
            } else {
                platform.contains("darwin") || (!platform.is_empty() && !platform.contains(&info.arch))
            };
            if foreign {
                self.finding(
                    Kind::ForeignExtension,
                    Severity::Error,
                    path,
                    format!("extension for `{platform}` in a {} bundle", if info.macho { "macOS" } else { "Linux" }),
                );
            }
        }
        let executable = info.executable && !name.contains(".so") && !name.ends_with(".dylib");
        self.natives.push((path.to_path_buf(), depth, executable));
        if info.macho {
            self.machos.insert(path.to_path_buf(), info.clone());
        }
    }

    /// Build-machine paths in a Mach-O file, slice by slice: each problem once, naming the
    /// slices that have it when the file is universal.
    ///
    /// Wheels from PyPI carry names of the machines that built them (delocate's
    /// `/DLC/<pkg>/.dylibs/…` ids, Homebrew LC_RPATHs in opencv and scipy): as for ELF, an
    /// LC_RPATH that does not exist here is a warning (one failed lookup on users' Macs; one
    /// of this machine is an error), and so is a library's own absolute id — dyld never finds a
    /// library by its id, and an image loading it by that name is an error of its own — except
    /// libpython's, which python3 and extension modules record when they are linked.
    fn check_macho_names(&mut self, path: &Path, info: &NativeInfo) {
        type Problem = (Kind, Severity, String);
        let mut found: Vec<(Problem, Vec<&str>)> = Vec::new();
        for slice in &info.slices {
            let mut problems = Vec::new();
            for rpath in slice.rpaths.iter().filter(|r| !r.is_empty() && !r.starts_with('@')) {
                if Path::new(rpath).exists() {
                    problems.push((
                        Kind::AbsoluteRpath,
                        Severity::Error,
                        format!("LC_RPATH `{rpath}` is a build-machine path"),
                    ));
                } else {
                    problems.push((Kind::AbsoluteRpath, Severity::Warning, format!("LC_RPATH `{rpath}` is a path of the machine that built this wheel (absent here; dyld still searches it)")));
                }
            }
            if let Some(id) = slice.id.as_deref().filter(|id| build_machine_name(id)) {
                if dyld::is_libpython(id) || path.file_name().is_some_and(|n| dyld::is_libpython(&n.to_string_lossy()))
                {
                    problems.push((
                        Kind::AbsoluteInstallName,
                        Severity::Error,
                        format!("LC_ID_DYLIB `{id}` is a build-machine path (use @rpath/…)"),
                    ));
                } else {
                    problems.push((Kind::AbsoluteInstallName, Severity::Warning, format!("LC_ID_DYLIB `{id}` is a build-machine path (the library's own name: dyld does not look it up)")));
                }
            }
            for load in slice.loads.iter().filter(|l| build_machine_name(&l.name)) {
                problems.push((
                    Kind::AbsoluteInstallName,
                    Severity::Error,
                    format!("{} `{}` is a build-machine path (use @rpath/…)", load.command.as_str(), load.name),
                ));
            }
            for problem in problems {
                match found.iter_mut().find(|(p, _)| *p == problem) {
                    Some((_, arches)) => arches.push(&slice.arch),
                    None => found.push((problem, vec![&slice.arch])),
                }
            }
        }
        for ((kind, severity, problem), arches) in found {
            self.finding(kind, severity, path, problem + &in_slices(info, &arches));
        }
    }

    /// `unresolved-load`: every Mach-O load dyld would not find (see [`dyld`] for the rules).
    fn check_loads(&mut self) {
        // The dist layout holds no interpreter: the launcher finds libpython only once it sits
        // in the app's Resources folder, which is verified as a whole.
        let dist = self.report.layout == "dist";
        let skip = |name: &str| name.starts_with('/') || dist && dyld::is_libpython(name);
        let machos = &self.machos;
        let find = |candidate: &Path| {
            if machos.contains_key(candidate) {
                return dyld::Found::Image(candidate.to_path_buf());
            }
            // A symlink (`libfoo.dylib` -> `libfoo.1.dylib`) names the file it points to.
            match candidate.canonicalize() {
                Ok(real) if machos.contains_key(&real) => dyld::Found::Image(real),
                _ => dyld::Found::Nothing,
            }
        };
        let unresolved = dyld::unresolved_loads(&dyld::Images { images: machos, find: &find, skip: &skip });
        for u in unresolved {
            let info = &self.machos[&u.image];
            let arches: Vec<&str> = u.arches.iter().map(String::as_str).collect();
            let detail = u.describe(|p| p.strip_prefix(&self.root).unwrap_or(p).display().to_string())
                + &in_slices(info, &arches);
            let severity = if u.weak() { Severity::Warning } else { Severity::Error };
            self.report.findings.push(Finding { kind: Kind::UnresolvedLoad, severity, path: u.image, detail });
        }
    }

    fn finish(&mut self) {
        for (area, count) in std::mem::take(&mut self.timestamp_pycs) {
            self.finding(
                Kind::TimestampPyc,
                Severity::Warning,
                &area,
                format!("{count} timestamp-based pyc(s): copying restamps their sources, so they are recompiled at every start (ship unchecked hash-based pycs)"),
            );
        }
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
    }
}

/// An absolute install name that is not a system library (those exist on every Mac, and
/// nowhere else).
fn build_machine_name(name: &str) -> bool {
    name.starts_with('/') && !name.starts_with("/usr/lib/") && !name.starts_with("/System/")
}

/// ` (arm64 slice)`, ` (arm64, x86_64 slices)` for a universal file; nothing for a thin one.
fn in_slices(info: &NativeInfo, arches: &[&str]) -> String {
    match arches {
        _ if !info.universal() => String::new(),
        [one] => format!(" ({one} slice)"),
        many => format!(" ({} slices)", many.join(", ")),
    }
}

/// The entries of `dir`, by name; an unreadable directory or entry is an error naming `dir`.
fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let failed = || format!("Failed to list `{}`", dir.display());
    let mut entries =
        fs::read_dir(dir).with_context(failed)?.collect::<std::io::Result<Vec<_>>>().with_context(failed)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// `a/b/../c` → `a/c` without touching the filesystem (symlink targets may not exist).
fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `cpython-311` from `mod.cpython-311.pyc` / `mod.cpython-311.opt-1.pyc`.
fn cache_tag(name: &str) -> Option<String> {
    name.split('.').find(|p| p.starts_with("cpython-")).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_shown_and_serialised_in_kebab_case() {
        assert_eq!(Kind::UnresolvedLoad.to_string(), "unresolved-load");
        assert_eq!(serde_json::to_value(Kind::AbsoluteInstallName).unwrap(), "absolute-install-name");
        assert_eq!(serde_json::to_value(Kind::TimestampPyc).unwrap(), "timestamp-pyc");
    }

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(normalize_path(Path::new("/a/b/../../../c")), PathBuf::from("/c"));
        assert_eq!(normalize_path(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
