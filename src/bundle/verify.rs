//! `build-external-python verify DIR`: find what would break a bundle once it is signed —
//! bytecode that would be rewritten, paths leaving the bundle, build-machine interpreters and
//! library paths, an X.Y or platform mix, a missing `mlx.metallib` — and list every native
//! binary in the order a packager signs them (inside-out).

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use goblin::Object;
use serde::Serialize;

/// How bad a finding is: errors make `verify` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: &'static str,
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

/// What a native file declares about its loading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeInfo {
    pub macho: bool,
    pub executable: bool,
    /// ELF: DT_NEEDED; Mach-O: LC_LOAD_DYLIB (and friends).
    pub libs: Vec<String>,
    /// ELF: DT_RPATH + DT_RUNPATH; Mach-O: LC_RPATH.
    pub rpaths: Vec<String>,
    /// Mach-O: LC_ID_DYLIB; ELF: DT_SONAME.
    pub id: Option<String>,
    /// `x86_64`, `aarch64`/`arm64`, …
    pub arch: String,
}

/// Parses an ELF or thin Mach-O file (`None` for anything else).
pub fn native_info(bytes: &[u8]) -> Option<NativeInfo> {
    match Object::parse(bytes).ok()? {
        Object::Elf(elf) => Some(NativeInfo {
            macho: false,
            executable: !elf.is_lib || elf.interpreter.is_some(),
            libs: elf.libraries.iter().map(|s| s.to_string()).collect(),
            rpaths: elf.rpaths.iter().chain(elf.runpaths.iter()).flat_map(|r| r.split(':')).map(String::from).collect(),
            id: elf.soname.map(String::from),
            arch: match elf.header.e_machine {
                goblin::elf::header::EM_X86_64 => "x86_64".into(),
                goblin::elf::header::EM_AARCH64 => "aarch64".into(),
                other => format!("elf-machine-{other}"),
            },
        }),
        Object::Mach(goblin::mach::Mach::Binary(m)) => Some(NativeInfo {
            macho: true,
            executable: m.header.filetype == goblin::mach::header::MH_EXECUTE,
            // goblin lists "self" and the dylib's own LC_ID_DYLIB among the libraries.
            libs: m.libs.iter().filter(|l| **l != "self" && Some(**l) != m.name).map(|s| s.to_string()).collect(),
            rpaths: m.rpaths.iter().map(|s| s.to_string()).collect(),
            id: m.name.map(String::from),
            arch: match m.header.cputype {
                goblin::mach::constants::cputype::CPU_TYPE_ARM64 => "arm64".into(),
                goblin::mach::constants::cputype::CPU_TYPE_X86_64 => "x86_64".into(),
                other => format!("macho-cpu-{other}"),
            },
        }),
        Object::Mach(goblin::mach::Mach::Fat(_)) => Some(NativeInfo { macho: true, arch: "universal".into(), ..Default::default() }),
        _ => None,
    }
}

struct Walk {
    root: PathBuf,
    report: Report,
    /// (path, depth, is_executable) of every native binary.
    natives: Vec<(PathBuf, usize, bool)>,
    launcher_xy: Option<String>,
    python_xy: Option<String>,
    /// Timestamp-based pycs per area (the stdlib, each top-level package of `_vendor`).
    timestamp_pycs: std::collections::BTreeMap<PathBuf, usize>,
}

/// Verifies the bundle at `dir`.
pub fn verify(dir: &Path) -> Result<Report> {
    let root = dir.canonicalize().with_context(|| format!("cannot open `{}`", dir.display()))?;
    let layout = if root.join("python").is_dir() && root.join("mlxk2").is_dir() {
        "resources"
    } else if root.join("_vendor").is_dir() {
        "dist"
    } else {
        bail!("`{}` is neither a Resources folder (python/ + mlxk2/) nor a bundle folder (_vendor/)", root.display());
    };
    let mut w = Walk {
        report: Report { bundle: root.clone(), layout, python: None, platform: None, findings: Vec::new(), sign_list: Vec::new() },
        root: root.clone(),
        natives: Vec::new(),
        launcher_xy: None,
        python_xy: None,
        timestamp_pycs: Default::default(),
    };
    if layout == "resources" {
        w.python_xy = python_xy_of(&root.join("python/lib"));
    }
    w.walk(&root, 0)?;
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
    fn finding(&mut self, kind: &'static str, severity: Severity, path: &Path, detail: impl Into<String>) {
        self.report.findings.push(Finding { kind, severity, path: path.to_path_buf(), detail: detail.into() });
    }

    fn inside(&self, path: &Path) -> bool {
        normalize_path(path).starts_with(&self.root)
    }

    fn walk(&mut self, dir: &Path, depth: usize) -> Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir).with_context(|| format!("cannot list `{}`", dir.display()))?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let ty = entry.file_type()?;
            if ty.is_symlink() {
                let target = fs::read_link(&path)?;
                let resolved = if target.is_absolute() { target.clone() } else { dir.join(&target) };
                if target.is_absolute() && !self.inside(&target) || !self.inside(&resolved) {
                    self.finding("outside-link", Severity::Error, &path, format!("symlink to `{}` leaves the bundle", target.display()));
                } else if target.is_absolute() {
                    self.finding("outside-link", Severity::Error, &path, format!("absolute symlink `{}` breaks when the app moves", target.display()));
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
                self.finding("editable-install", Severity::Error, &path, "an editable-install finder points at a developer's source tree");
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
        for entry in fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".pyc") {
                continue;
            }
            if let (Some(tag), Some(xy)) = (cache_tag(&name), self.target_xy()) {
                if tag != format!("cpython-{}", xy.replace('.', "")) {
                    self.finding("foreign-pyc", Severity::Error, &path, format!("bytecode for {tag}, the bundle runs Python {xy}"));
                    continue;
                }
            }
            let mut header = [0u8; 8];
            if let Ok(mut f) = fs::File::open(&path) {
                use std::io::Read;
                if f.read_exact(&mut header).is_ok() && u32::from_le_bytes([header[4], header[5], header[6], header[7]]) & 1 == 0 {
                    timestamp += 1;
                }
            }
        }
        Ok(timestamp)
    }

    fn target_xy(&self) -> Option<String> {
        self.python_xy.clone().or_else(|| self.launcher_xy.clone())
    }

    fn check_pth(&mut self, path: &Path) {
        let Ok(text) = fs::read_to_string(path) else { return };
        let site = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with("import ") || line.starts_with("import\t") {
                if line.contains("__editable__") {
                    self.finding("editable-install", Severity::Error, path, format!("`{line}` loads an editable-install finder"));
                }
                continue;
            }
            let target = site.join(line);
            if Path::new(line).is_absolute() || !self.inside(&target) {
                self.finding("outside-pth", Severity::Error, path, format!("path line `{line}` points outside the bundle"));
            }
        }
    }

    fn check_direct_url(&mut self, dist_info: &Path) {
        let file = dist_info.join("direct_url.json");
        let Ok(text) = fs::read_to_string(&file) else { return };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { return };
        if json["dir_info"]["editable"] == serde_json::Value::Bool(true) {
            let url = json["url"].as_str().unwrap_or("?");
            self.finding("editable-install", Severity::Error, &file, format!("editable install of `{url}`: the code lives outside the bundle"));
        }
    }

    fn check_file(&mut self, path: &Path, name: &str, depth: usize) -> Result<()> {
        let meta = fs::metadata(path)?;
        if meta.len() < 4 {
            return Ok(());
        }
        let mut head = [0u8; 4];
        {
            use std::io::Read;
            let mut f = fs::File::open(path)?;
            f.read_exact(&mut head)?;
        }
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
        let native = head == [0x7f, b'E', b'L', b'F'] || matches!(u32::from_le_bytes(head), 0xfeedfacf | 0xfeedface | 0xbebafeca) || u32::from_be_bytes(head) == 0xcafebabe;
        if native {
            let bytes = fs::read(path)?;
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
        let system = ["/bin/", "/usr/bin/", "/usr/local/bin/"].iter().any(|p| interpreter.starts_with(p)) && !interpreter.contains("python")
            || interpreter == "/usr/bin/env";
        if interpreter.starts_with('/') && !system && !self.inside(Path::new(&interpreter)) {
            self.finding("build-shebang", Severity::Error, path, format!("shebang names `{interpreter}`, which will not exist on a user's machine"));
        }
    }

    fn check_native(&mut self, path: &Path, name: &str, depth: usize, info: &NativeInfo) {
        let rel_name = path.strip_prefix(&self.root).unwrap_or(path).to_path_buf();
        // The runtime library says which X.Y it was built for in its stamp; the launcher is
        // the executable next to it (neither links libpython).
        let is_runtime = name == crate::runtime_stamp::FILE_NAME || name == "libmsty_mlx_runtime.so" || name == "libmsty_mlx_runtime.dylib";
        if is_runtime {
            self.launcher_xy = crate::runtime_stamp::RuntimeStamp::read(path).ok().map(|s| s.python);
        }
        let is_launcher = rel_name.components().count() <= 2 && info.executable && !rel_name.starts_with("python") && !name.contains(".so") && !name.ends_with(".dylib");
        if self.report.platform.is_none() && (is_launcher || is_runtime || name == "python3") {
            self.report.platform = Some(format!("{}-{}", if info.macho { "macos" } else { "linux" }, info.arch));
        }
        for rpath in &info.rpaths {
            let relative = rpath.starts_with("$ORIGIN") || rpath.starts_with("@loader_path") || rpath.starts_with("@executable_path") || rpath.starts_with("@rpath");
            if relative || rpath.is_empty() {
                continue;
            }
            let what = if info.macho { "LC_RPATH" } else { "RPATH/RUNPATH" };
            // A path of this (the building) machine would be searched on users' machines too;
            // one left by a wheel's own build container (manylinux `/opt/_internal/…`) exists
            // nowhere and only costs a failed lookup.
            if info.macho || Path::new(rpath).exists() {
                self.finding("absolute-rpath", Severity::Error, path, format!("{what} `{rpath}` is a build-machine path"));
            } else {
                self.finding("absolute-rpath", Severity::Warning, path, format!("{what} `{rpath}` is a path of the machine that built this wheel (absent here)"));
            }
        }
        if info.macho {
            if let Some(id) = &info.id {
                if id.starts_with('/') && !id.starts_with("/usr/lib/") && !id.starts_with("/System/") {
                    self.finding("absolute-install-name", Severity::Error, path, format!("LC_ID_DYLIB `{id}` is a build-machine path (use @rpath/…)"));
                }
            }
            for lib in &info.libs {
                if lib.starts_with('/') && !lib.starts_with("/usr/lib/") && !lib.starts_with("/System/") {
                    self.finding("absolute-install-name", Severity::Error, path, format!("LC_LOAD_DYLIB `{lib}` is a build-machine path (use @rpath/…)"));
                }
            }
        } else {
            for lib in info.libs.iter().filter(|l| l.starts_with('/')) {
                self.finding("absolute-rpath", Severity::Error, path, format!("DT_NEEDED `{lib}` is an absolute path"));
            }
        }
        // Extension modules: `x.cpython-311-x86_64-linux-gnu.so`, `x.cpython-311-darwin.so`.
        if let Some(tag) = name.split('.').find(|p| p.starts_with("cpython-")) {
            let mut parts = tag.splitn(3, '-');
            let (_, version, platform) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if let Some(xy) = self.target_xy() {
                if version != xy.replace('.', "") {
                    self.finding("foreign-extension", Severity::Error, path, format!("extension built for cpython-{version}, the bundle runs Python {xy}"));
                }
            }
            let foreign = if info.macho { !platform.is_empty() && platform != "darwin" } else { platform.contains("darwin") || (!platform.is_empty() && !platform.contains(&info.arch)) };
            if foreign {
                self.finding("foreign-extension", Severity::Error, path, format!("extension for `{platform}` in a {} bundle", if info.macho { "macOS" } else { "Linux" }));
            }
        }
        let executable = info.executable && !name.contains(".so") && !name.ends_with(".dylib");
        self.natives.push((path.to_path_buf(), depth, executable));
    }

    fn finish(&mut self) {
        for (area, count) in std::mem::take(&mut self.timestamp_pycs) {
            self.finding(
                "timestamp-pyc",
                Severity::Warning,
                &area,
                format!("{count} timestamp-based pyc(s): copying restamps their sources, so they are recompiled at every start (ship unchecked hash-based pycs)"),
            );
        }
        let r = &mut self.report;
        r.python = self.python_xy.clone().or_else(|| self.launcher_xy.clone());
        if let (Some(launcher), Some(python)) = (&self.launcher_xy, &self.python_xy) {
            if launcher != python {
                r.findings.push(Finding {
                    kind: "python-mismatch",
                    severity: Severity::Error,
                    path: self.root.clone(),
                    detail: format!("the runtime library is built for Python {launcher}, the bundled interpreter is Python {python}"),
                });
            }
        }
        // macOS: MLX's Metal kernels ship as mlx/lib/mlx.metallib.
        if r.platform.as_deref().is_some_and(|p| p.starts_with("macos")) {
            for vendor in [self.root.join("_vendor"), self.root.join("mlxk2/_vendor")] {
                if vendor.join("mlx").is_dir() && !vendor.join("mlx/lib/mlx.metallib").is_file() {
                    r.findings.push(Finding {
                        kind: "missing-metallib",
                        severity: Severity::Error,
                        path: vendor.join("mlx/lib/mlx.metallib"),
                        detail: "mlx is vendored without its Metal kernels (install mlx-metal or a full mlx wheel)".into(),
                    });
                }
            }
        }
        // Inside-out: libraries deepest first, then executables (python3, the launcher) last.
        self.natives.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
        r.sign_list = self.natives.iter().map(|n| n.0.clone()).collect();
    }
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

/// One `install_name_tool` edit `--fix-install-names` would make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstallNameFix {
    pub file: PathBuf,
    /// `-id NEW` or `-change OLD NEW`.
    pub args: Vec<String>,
}

/// Plans the rewrite of absolute libpython install names to `@rpath/libpython3.X.dylib` in the
/// given Mach-O files (the bundled libpython, `python3`, the launcher).
pub fn plan_install_name_fixes(files: &[(PathBuf, NativeInfo)]) -> Vec<InstallNameFix> {
    let mut fixes = Vec::new();
    let rpath_name = |old: &str| format!("@rpath/{}", old.rsplit('/').next().unwrap_or(old));
    for (file, info) in files.iter().filter(|(_, i)| i.macho) {
        if let Some(id) = &info.id {
            if id.starts_with('/') && id.contains("libpython") {
                fixes.push(InstallNameFix { file: file.clone(), args: vec!["-id".into(), rpath_name(id)] });
            }
        }
        for lib in info.libs.iter().filter(|l| l.starts_with('/') && l.contains("libpython")) {
            fixes.push(InstallNameFix { file: file.clone(), args: vec!["-change".into(), lib.clone(), rpath_name(lib)] });
        }
    }
    fixes
}

/// `--fix-install-names` on the Resources folder at `dir` (macOS only).
pub fn fix_install_names(dir: &Path) -> Result<Vec<InstallNameFix>> {
    if !cfg!(target_os = "macos") {
        bail!("--fix-install-names edits Mach-O files with install_name_tool and runs on macOS only; on this system run `verify` to see what would be changed");
    }
    let report = verify(dir)?;
    let files: Vec<(PathBuf, NativeInfo)> = report
        .sign_list
        .iter()
        .filter_map(|p| Some((p.clone(), native_info(&fs::read(p).ok()?)?)))
        .collect();
    let fixes = plan_install_name_fixes(&files);
    for fix in &fixes {
        let status = std::process::Command::new("install_name_tool")
            .args(&fix.args)
            .arg(&fix.file)
            .status()
            .context("cannot run install_name_tool (Xcode command line tools)")?;
        if !status.success() {
            bail!("install_name_tool {} `{}` failed ({status})", fix.args.join(" "), fix.file.display());
        }
    }
    Ok(fixes)
}

/// A minimal thin arm64 Mach-O (header and dylib/rpath load commands only): enough for
/// `verify` and the install-name planning to be exercised on Linux, in tests and fixtures.
pub fn synthetic_macho(executable: bool, id: Option<&str>, loads: &[&str], rpaths: &[&str]) -> Vec<u8> {
    const LC_ID_DYLIB: u32 = 0xd;
    const LC_LOAD_DYLIB: u32 = 0xc;
    const LC_RPATH: u32 = 0x8000_001c;
    let padded = |s: &str, offset: usize| {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        while (offset + bytes.len()) % 8 != 0 {
            bytes.push(0);
        }
        bytes
    };
    let mut commands: Vec<Vec<u8>> = Vec::new();
    let mut dylib = |cmd: u32, name: &str| {
        let name = padded(name, 24);
        let mut c = Vec::new();
        for v in [cmd, (24 + name.len()) as u32, 24, 2, 0x10000, 0x10000] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        c.extend(name);
        commands.push(c);
    };
    if let Some(id) = id {
        dylib(LC_ID_DYLIB, id);
    }
    for l in loads {
        dylib(LC_LOAD_DYLIB, l);
    }
    for r in rpaths {
        let path = padded(r, 12);
        let mut c = Vec::new();
        for v in [LC_RPATH, (12 + path.len()) as u32, 12] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        c.extend(path);
        commands.push(c);
    }
    let sizeofcmds: usize = commands.iter().map(Vec::len).sum();
    let mut out = Vec::new();
    let filetype = if executable { 2 } else { 6 }; // MH_EXECUTE / MH_DYLIB
    for v in [0xfeed_facf_u32, 0x0100_000c, 0, filetype, commands.len() as u32, sizeofcmds as u32, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for c in commands {
        out.extend(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_macho_parses() {
        let lib = native_info(&synthetic_macho(false, Some("/install/lib/libpython3.11.dylib"), &["/usr/lib/libSystem.B.dylib"], &[])).unwrap();
        assert!(lib.macho && !lib.executable);
        assert_eq!(lib.id.as_deref(), Some("/install/lib/libpython3.11.dylib"));
        assert_eq!(lib.arch, "arm64");
        assert_eq!(lib.libs, ["/usr/lib/libSystem.B.dylib"]);
        let exe = native_info(&synthetic_macho(true, None, &["/install/lib/libpython3.11.dylib"], &["@executable_path/../lib", "/install/lib"])).unwrap();
        assert!(exe.executable);
        assert_eq!(exe.libs, ["/install/lib/libpython3.11.dylib"]);
        assert_eq!(exe.rpaths, ["@executable_path/../lib", "/install/lib"]);
    }

    #[test]
    fn install_name_planning_rewrites_only_absolute_libpython_names() {
        let files = vec![
            (PathBuf::from("python/lib/libpython3.11.dylib"), native_info(&synthetic_macho(false, Some("/install/lib/libpython3.11.dylib"), &["/usr/lib/libSystem.B.dylib"], &[])).unwrap()),
            (PathBuf::from("python/bin/python3"), native_info(&synthetic_macho(true, None, &["/install/lib/libpython3.11.dylib", "/usr/lib/libSystem.B.dylib"], &["@executable_path/../lib"])).unwrap()),
            (PathBuf::from("mlxk2/msty-mlx-studio"), native_info(&synthetic_macho(true, None, &["@rpath/libpython3.11.dylib"], &["@executable_path/../python/lib"])).unwrap()),
        ];
        let plan = plan_install_name_fixes(&files);
        assert_eq!(plan, vec![
            InstallNameFix { file: "python/lib/libpython3.11.dylib".into(), args: vec!["-id".into(), "@rpath/libpython3.11.dylib".into()] },
            InstallNameFix {
                file: "python/bin/python3".into(),
                args: vec!["-change".into(), "/install/lib/libpython3.11.dylib".into(), "@rpath/libpython3.11.dylib".into()],
            },
        ]);
        // Already relocatable: nothing to do; ELF files are never touched.
        assert!(plan_install_name_fixes(&files[2..]).is_empty());
    }

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(normalize_path(Path::new("/a/b/../../../c")), PathBuf::from("/c"));
        assert_eq!(normalize_path(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
