//! `build-external-python verify DIR`: find what would break a bundle once it is signed —
//! bytecode that would be rewritten, paths leaving the bundle, build-machine interpreters and
//! library paths, loads dyld would not resolve, an X.Y or platform mix, a missing
//! `mlx.metallib`, runtime imports dyld would not bind, dangling links — and list every native
//! binary in the order a packager signs them (inside-out), each with its role (library,
//! executable, Python host); with `--signed`, read every Mach-O file's code signature as
//! Gatekeeper, the notary and the kernel would. A check that cannot run says so.

mod binaries;
mod bind;
mod cms;
mod codesign;
mod der;
mod dyld;
mod inspect;
mod install_names;
mod macho;
mod native;
mod paths;
mod report;
mod signed;
mod symbols;
mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use walk::Walk;

pub use cms::{Certificate, Cms, Imprint, Timestamp, read as read_cms};
pub use codesign::{CS_ADHOC, CS_LINKER_SIGNED, CS_RUNTIME, CodeDirectory, HashType, Signature, entitlement_is_true};
pub use dyld::Unresolved;
pub use inspect::{SliceFacts, inspect_macho};
pub use install_names::{InstallNameFix, fix_install_names, fix_install_names_with, plan_install_name_fixes};
pub use macho::{Binding, Lookup, Malformed};
pub use native::{Arch, FileArch, FileType, Load, LoadCommand, MachSlice, NativeInfo, native_info};
pub use report::{Finding, Kind, Layout, NotRun, Report, Role, Severity};
pub use signed::REQUIRED_ENTITLEMENTS;
pub use symbols::{exports as libpython_exports, exports_in};

/// What `verify` checks beyond the tree and its loads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    /// Read every Mach-O file's embedded code signature (`verify --signed`).
    pub signatures: bool,
    /// A release (`--release`): what Apple's notary refuses — an ad-hoc signature, no secure
    /// timestamp, no Developer ID Application leaf, an unneeded entitlement — is an error, not
    /// a warning.
    pub release: bool,
    /// The libpython whose exports the runtime's `_Py*` imports are checked against (default:
    /// a Resources folder's own `python/lib/libpython3.X.*`; a Linux libpython of the same X.Y
    /// stands in for the macOS one).
    pub libpython: Option<PathBuf>,
}

/// Verifies the bundle at `dir` (the tree and its loads; no signatures).
pub fn verify(dir: &Path) -> Result<Report> {
    verify_with(dir, &Checks::default())
}

/// Verifies the bundle at `dir` with the given extra checks.
pub fn verify_with(dir: &Path, checks: &Checks) -> Result<Report> {
    let root = dir.canonicalize().with_context(|| format!("Failed to open `{}`", dir.display()))?;
    let layout = if root.join("python").is_dir() && root.join("mlxk2").is_dir() {
        Layout::Resources
    } else if root.join("_vendor").is_dir() {
        Layout::Dist
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
            not_run: Vec::new(),
            sign_list: Vec::new(),
            python_hosts: Vec::new(),
            roles: Vec::new(),
        },
        root: root.clone(),
        natives: Vec::new(),
        runtime_xy: None,
        runtime: None,
        python_xy: None,
        timestamp_pycs: Default::default(),
        machos: BTreeMap::new(),
    };
    if layout == Layout::Resources {
        w.python_xy = paths::python_xy_of(&root.join("python/lib"));
    }
    w.walk(&root, 0)?;
    w.check_loads();
    w.check_runtime_symbols(checks.libpython.as_deref())?;
    if checks.signatures {
        w.check_signatures(checks.release);
    }
    w.finish();
    Ok(w.report)
}
