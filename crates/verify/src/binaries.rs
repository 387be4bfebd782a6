//! The checks of native files: object files (never signed), build-machine paths in ELF and
//! Mach-O, extension modules for another X.Y or platform, which X.Y the runtime is stamped
//! for, and the loads dyld would not resolve.

use std::path::Path;

use crate::dyld;
use crate::native::{Arch, NativeInfo};
use crate::report::{Finding, Kind, Severity};
use crate::walk::Walk;

impl Walk {
    pub(crate) fn check_native(&mut self, path: &Path, name: &str, depth: usize, info: &NativeInfo) {
        if info.object {
            // codesign has nowhere to put a signature in an object file, and nothing loads it:
            // it stays off the sign list and out of `--signed`.
            let what = if info.macho { "MH_OBJECT" } else { "ELF ET_REL" };
            self.finding(
                Kind::ObjectFile,
                Severity::Warning,
                path,
                format!("an object file ({what}): nothing at run time loads it and it cannot carry a code signature, so it is left off the sign list; delete it from the bundle"),
            );
            return;
        }
        self.identify(path, name, info);
        if info.macho {
            self.check_macho_names(path, info);
        } else {
            self.check_elf_names(path, info);
        }
        self.check_extension_tag(path, name, info);
        let executable = info.executable && !name.contains(".so") && !name.ends_with(".dylib");
        self.natives.push((path.to_path_buf(), depth, executable));
        if info.macho {
            self.machos.insert(path.to_path_buf(), info.clone());
        }
    }

    /// The runtime library says which X.Y it was built for in its stamp; the launcher is the
    /// executable next to it (neither links libpython). Either, or python3, names the platform.
    fn identify(&mut self, path: &Path, name: &str, info: &NativeInfo) {
        let rel_name = path.strip_prefix(&self.root).unwrap_or(path).to_path_buf();
        let is_runtime = name == msty_mlx_contract::stamp::FILE_NAME
            || name == "libmsty_mlx_runtime.so"
            || name == "libmsty_mlx_runtime.dylib";
        if is_runtime {
            self.runtime_xy = msty_mlx_contract::stamp::RuntimeStamp::read(path).ok().map(|s| s.python.to_string());
            self.runtime = Some(path.to_path_buf());
        }
        let is_launcher = rel_name.components().count() <= 2
            && info.executable
            && !rel_name.starts_with("python")
            && !name.contains(".so")
            && !name.ends_with(".dylib");
        if self.report.platform.is_none() && (is_launcher || is_runtime || name == "python3") {
            self.report.platform = Some(format!("{}-{}", if info.macho { "macos" } else { "linux" }, info.arch));
        }
    }

    /// Absolute RPATH/RUNPATH entries and absolute DT_NEEDED names of an ELF file.
    fn check_elf_names(&mut self, path: &Path, info: &NativeInfo) {
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
            self.finding(Kind::AbsoluteRpath, Severity::Error, path, format!("DT_NEEDED `{lib}` is an absolute path"));
        }
    }

    /// Extension modules: `x.cpython-311-x86_64-linux-gnu.so`, `x.cpython-311-darwin.so`.
    fn check_extension_tag(&mut self, path: &Path, name: &str, info: &NativeInfo) {
        let Some(tag) = name.split('.').find(|p| p.starts_with("cpython-")) else { return };
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
            platform.contains("darwin") || (!platform.is_empty() && !platform.contains(&info.arch.to_string()))
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
        let mut found: Vec<(Problem, Vec<Arch>)> = Vec::new();
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
                    Some((_, arches)) => arches.push(slice.arch),
                    None => found.push((problem, vec![slice.arch])),
                }
            }
        }
        for ((kind, severity, problem), arches) in found {
            self.finding(kind, severity, path, problem + &in_slices(info, &arches));
        }
    }

    /// `unresolved-load`: every Mach-O load dyld would not find (see [`dyld`] for the rules).
    pub(crate) fn check_loads(&mut self) {
        // The dist layout holds no interpreter: the launcher finds libpython only once it sits
        // in the app's Resources folder, which is verified as a whole.
        let dist = self.report.layout == crate::report::Layout::Dist;
        let unchecked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let skip = |name: &str| {
            let libpython = !name.starts_with('/') && dist && dyld::is_libpython(name);
            if libpython {
                unchecked.borrow_mut().insert(name.to_string());
            }
            name.starts_with('/') || libpython
        };
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
            let detail = u.describe(|p| p.strip_prefix(&self.root).unwrap_or(p).display().to_string())
                + &in_slices(info, &u.arches);
            let severity = if u.weak() { Severity::Warning } else { Severity::Error };
            self.report.findings.push(Finding { kind: Kind::UnresolvedLoad, severity, path: u.image, detail });
        }
        let unchecked = unchecked.into_inner();
        if !unchecked.is_empty() {
            let names: Vec<String> = unchecked.iter().map(|n| format!("`{n}`")).collect();
            let root = self.root.clone();
            self.not_run(
                Kind::UnresolvedLoad,
                &root,
                format!(
                    "load(s) of {} not resolved: this folder holds no python/ (the app's Resources folder does: verify it)",
                    names.join(", ")
                ),
            );
        }
    }
}

/// An absolute install name that is not a system library (those exist on every Mac, and
/// nowhere else).
fn build_machine_name(name: &str) -> bool {
    name.starts_with('/') && !name.starts_with("/usr/lib/") && !name.starts_with("/System/")
}

/// ` (arm64 slice)`, ` (arm64, x86_64 slices)` for a universal file; nothing for a thin one.
pub(crate) fn in_slices(info: &NativeInfo, arches: &[Arch]) -> String {
    match arches {
        _ if !info.universal() => String::new(),
        [one] => format!(" ({one} slice)"),
        many => format!(" ({} slices)", many.iter().map(Arch::to_string).collect::<Vec<_>>().join(", ")),
    }
}
