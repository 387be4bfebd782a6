//! What dyld will do with the runtime library's imports when the launcher `dlopen`s it
//! (`RTLD_NOW`, after libpython was opened `RTLD_NOW | RTLD_GLOBAL`): every undefined symbol
//! must be a flat-namespace lookup (a two-level ordinal names a library that is not there),
//! the binding format must be one dyld on the minimum macOS accepts, and every `_Py*` import
//! must be exported by libpython3.X of the runtime's stamped X.Y — else
//! `symbol not found in flat namespace '_Py…'` at `dlopen`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use goblin::Object;

use crate::binaries::in_slices;
use crate::macho::{self, Binding, Lookup, Slice};
use crate::native::arch_of_cputype;
use crate::report::{Kind, Layout, Severity};
use crate::walk::Walk;

/// Chained fixups are read by dyld from macOS 12 on.
const CHAINED_FIXUPS_SINCE: (u16, u8) = (12, 0);

impl Walk {
    /// The runtime's imports against libpython's exports (`libpython`: a stand-in given by the
    /// user; else the bundled `python/lib/libpython3.X.*` of a Resources folder).
    pub(crate) fn check_runtime_symbols(&mut self, libpython: Option<&Path>) -> Result<()> {
        let Some(runtime) = self.runtime.clone().filter(|r| self.machos.contains_key(r)) else { return Ok(()) };
        let bytes = fs::read(&runtime).with_context(|| format!("Failed to read `{}`", runtime.display()))?;
        let info = self.machos[&runtime].clone();
        let mut imports: BTreeSet<String> = BTreeSet::new();
        let slices = match macho::slices(&bytes) {
            Ok(s) => s,
            Err(e) => {
                self.finding(Kind::Malformed, Severity::Error, &runtime, e.0);
                return Ok(());
            }
        };
        for slice_bytes in slices {
            let checked = Slice::parse(slice_bytes).and_then(|s| Ok((s.imports(slice_bytes)?, s)));
            let (undefined, slice) = match checked {
                Ok(pair) => pair,
                Err(e) => {
                    self.finding(Kind::Malformed, Severity::Error, &runtime, e.0);
                    continue;
                }
            };
            let arch = [arch_of_cputype(slice.cputype)];
            if let Some(problem) = binding_problem(&slice).filter(|_| !undefined.is_empty()) {
                self.finding(Kind::BindingFormat, Severity::Error, &runtime, problem + &in_slices(&info, &arch));
            }
            let mut two_level: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (name, lookup) in undefined {
                match lookup {
                    Lookup::Flat => {}
                    Lookup::Library(lib) if lib.starts_with("/usr/lib/") || lib.starts_with("/System/") => {}
                    Lookup::Library(lib) => two_level.entry(lib).or_default().push(name.clone()),
                    Lookup::Other(ordinal) => {
                        two_level.entry(format!("library ordinal {ordinal}")).or_default().push(name.clone())
                    }
                }
                if name.starts_with("_Py") || name.starts_with("__Py") {
                    imports.insert(name);
                }
            }
            for (lib, names) in two_level {
                let detail = format!(
                    "{} undefined symbol(s) bound two-level to `{lib}` ({}): dyld looks them up only there, and the launcher loads libpython by dlopen from the chosen home — link with `-undefined dynamic_lookup`",
                    names.len(),
                    sample(&names)
                );
                self.finding(Kind::TwoLevelImport, Severity::Error, &runtime, detail + &in_slices(&info, &arch));
            }
        }
        let source = libpython.map(Path::to_path_buf).or_else(|| self.bundled_libpython());
        if imports.is_empty() {
            return Ok(());
        }
        let Some(source) = source else {
            self.libpython_not_at_hand(&runtime, imports.len());
            return Ok(());
        };
        let exported = exports(&source)?;
        let missing: Vec<String> = imports.into_iter().filter(|n| !exported.contains(n)).collect();
        if !missing.is_empty() {
            let xy = self.runtime_xy.clone().unwrap_or_else(|| "?".into());
            let detail = format!(
                "{} `_Py*` import(s) not exported by `{}` (Python {xy}): {} — dlopen fails with `symbol not found in flat namespace '{}'`",
                missing.len(),
                source.display(),
                sample(&missing),
                missing[0]
            );
            self.finding(Kind::MissingPythonSymbol, Severity::Error, &runtime, detail);
        }
        Ok(())
    }

    /// The check that could not run: no libpython to read the exports of.
    fn libpython_not_at_hand(&mut self, runtime: &Path, imports: usize) {
        let xy = self.runtime_xy.clone().unwrap_or_else(|| "3.X".into());
        let whence = match self.report.layout {
            Layout::Dist => "this folder holds no python/".to_string(),
            Layout::Resources => format!("python/lib has no libpython{xy}.dylib (or .so)"),
        };
        self.not_run(
            Kind::MissingPythonSymbol,
            runtime,
            format!(
                "the runtime's {imports} `_Py*` import(s) were not checked against libpython: {whence}; verify the app's Resources folder, or pass --libpython PATH (the Linux libpython{xy}.so.1.0 stands in)"
            ),
        );
    }

    /// `python/lib/libpython3.X.dylib` (or a Linux `.so`) of a Resources folder, for the runtime's X.Y.
    fn bundled_libpython(&self) -> Option<PathBuf> {
        if self.report.layout != Layout::Resources {
            return None;
        }
        let xy = self.runtime_xy.as_deref()?;
        let lib = self.root.join("python/lib");
        [format!("libpython{xy}.dylib"), format!("libpython{xy}.so.1.0"), format!("libpython{xy}.so")]
            .into_iter()
            .map(|name| lib.join(name))
            .find(|p| p.is_file())
    }
}

/// Why a slice's binding format will not do, if it will not (asked only of a slice that
/// imports something: one with nothing to bind needs no binding information).
fn binding_problem(slice: &Slice) -> Option<String> {
    match slice.binding {
        Binding::DyldInfo => None,
        Binding::ChainedFixups if slice.minos.is_none_or(|m| m >= CHAINED_FIXUPS_SINCE) => None,
        Binding::ChainedFixups => {
            let (major, minor) = slice.minos.unwrap_or_default();
            Some(format!(
                "LC_DYLD_CHAINED_FIXUPS with minimum macOS {major}.{minor}: dyld reads chained fixups from macOS 12 on (link for 12.0+, or emit LC_DYLD_INFO_ONLY)"
            ))
        }
        Binding::Classic => Some(
            "no LC_DYLD_INFO_ONLY or LC_DYLD_CHAINED_FIXUPS: dyld on current macOS binds no classic relocations of a dylib"
                .into(),
        ),
    }
}

/// The first few names, for a readable finding.
fn sample(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(5).map(|n| format!("`{n}`")).collect();
    let more = if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
    shown.join(", ") + &more
}

/// The symbols a libpython exports, in Mach-O spelling (`_PyBool_Type`): from a Mach-O file's
/// symbol table, or from an ELF file's dynamic symbols with the underscore added — the Linux
/// libpython of the same X.Y exports the same C-API names (the stand-in when no macOS
/// libpython is at hand).
pub fn exports(path: &Path) -> Result<BTreeSet<String>> {
    let bytes = fs::read(path).with_context(|| format!("Failed to read libpython `{}`", path.display()))?;
    exports_in(path, &bytes)
}

/// [`exports`] of a file already read (`path` names it in errors).
pub fn exports_in(path: &Path, bytes: &[u8]) -> Result<BTreeSet<String>> {
    let slices = macho::slices(bytes).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?;
    if let Some(first) = slices.first() {
        let slice = Slice::parse(first).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?;
        return Ok(slice
            .exported(first)
            .map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?
            .into_iter()
            .collect());
    }
    match Object::parse(bytes) {
        Ok(Object::Elf(elf)) => Ok(elf
            .dynsyms
            .iter()
            .filter(|s| s.st_shndx != 0 && s.st_bind() != goblin::elf::sym::STB_LOCAL)
            .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
            .map(|n| format!("_{n}"))
            .collect()),
        _ => anyhow::bail!("`{}` is neither a Mach-O nor an ELF libpython", path.display()),
    }
}
