//! What `verify` reports: findings (kind, severity, path, detail), the checks that could not
//! run and why, the bundle's layout, and the sign list with each file's role.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

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
    /// A symlink whose target does not exist (osx-sign's walk stops at it).
    DanglingLink,
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
    /// An object file (`MH_OBJECT`, ELF `ET_REL`): nothing to sign, nothing loads it.
    ObjectFile,
    /// python-build-standalone's build-time folder (`config-3.X-darwin/`) in a shipped `python/`.
    PythonBuildFiles,
    /// A Mach-O load (`@rpath/…`, `@loader_path/…`, `@executable_path/…`) dyld would not find.
    UnresolvedLoad,
    /// `--signed`: a Mach-O file without a code signature (arm64 runs no unsigned code).
    NotSigned,
    /// `--signed`: only the linker's ad-hoc signature: no hardened runtime, no entitlements.
    LinkerSigned,
    /// `--signed`: an ad-hoc signature (no certificate, no team id).
    AdHocSignature,
    /// `--signed`: a certificate signature without an RFC 3161 time-stamp token.
    NoSecureTimestamp,
    /// `--signed`: the signer's certificate is not a Developer ID Application one.
    NotDeveloperId,
    /// `--signed`: an executable without the hardened runtime (notarization refuses it).
    NoHardenedRuntime,
    /// `--signed`: an executable that runs Python lacks an entitlement it needs.
    MissingEntitlement,
    /// `--signed`: an entitlement the bundle does not need, or one a release must not have.
    UnneededEntitlement,
    /// `--signed`: more than one team id among the files (library validation refuses the mix).
    TeamIdMix,
    /// `--signed`: bytes changed after signing (page or entitlements hashes do not match).
    ModifiedAfterSigning,
    /// A Mach-O file or code signature that cannot be read.
    Malformed,
    /// The runtime's undefined symbol is bound two-level to a library (not a flat lookup).
    TwoLevelImport,
    /// A binding format dyld on the minimum OS does not accept.
    BindingFormat,
    /// A `_Py*` symbol the runtime imports that libpython does not export.
    MissingPythonSymbol,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TimestampPyc => "timestamp-pyc",
            Kind::ForeignPyc => "foreign-pyc",
            Kind::OutsideLink => "outside-link",
            Kind::DanglingLink => "dangling-link",
            Kind::OutsidePth => "outside-pth",
            Kind::EditableInstall => "editable-install",
            Kind::BuildShebang => "build-shebang",
            Kind::AbsoluteRpath => "absolute-rpath",
            Kind::AbsoluteInstallName => "absolute-install-name",
            Kind::ForeignExtension => "foreign-extension",
            Kind::PythonMismatch => "python-mismatch",
            Kind::MissingMetallib => "missing-metallib",
            Kind::ObjectFile => "object-file",
            Kind::PythonBuildFiles => "python-build-files",
            Kind::UnresolvedLoad => "unresolved-load",
            Kind::NotSigned => "not-signed",
            Kind::LinkerSigned => "linker-signed",
            Kind::AdHocSignature => "ad-hoc-signature",
            Kind::NoSecureTimestamp => "no-secure-timestamp",
            Kind::NotDeveloperId => "not-developer-id",
            Kind::NoHardenedRuntime => "no-hardened-runtime",
            Kind::MissingEntitlement => "missing-entitlement",
            Kind::UnneededEntitlement => "unneeded-entitlement",
            Kind::TeamIdMix => "team-id-mix",
            Kind::ModifiedAfterSigning => "modified-after-signing",
            Kind::Malformed => "malformed",
            Kind::TwoLevelImport => "two-level-import",
            Kind::BindingFormat => "binding-format",
            Kind::MissingPythonSymbol => "missing-python-symbol",
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

/// A check that did not run, and why: `verify` never reports `clean` for what it did not look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotRun {
    /// The finding the check would have given (`missing-python-symbol`, …).
    pub check: Kind,
    pub path: PathBuf,
    /// Why it did not run, and how to make it run.
    pub reason: String,
}

/// How a file of the sign list is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A library or extension module: no hardened-runtime flag needed, no entitlements.
    Library,
    /// An executable: the hardened runtime, no entitlements.
    Executable,
    /// An executable that runs Python — the launcher, and the real file `python/bin/python3`
    /// resolves to: the hardened runtime and packaging/entitlements.plist.
    PythonHost,
}

/// `error: <kind>: <path>: <detail>` (or `warning: …`): a finding as `verify` prints it.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.severity == Severity::Error { "error" } else { "warning" };
        write!(f, "{level}: {}: {}: {}", self.kind, self.path.display(), self.detail)
    }
}

/// `not run: <check>: <path>: <reason>`: a check that could not run, as `verify` prints it.
impl fmt::Display for NotRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not run: {}: {}: {}", self.check, self.path.display(), self.reason)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Library => "library",
            Role::Executable => "executable",
            Role::PythonHost => "python-host",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub bundle: PathBuf,
    pub layout: Layout,
    pub python: Option<String>,
    pub platform: Option<String>,
    pub findings: Vec<Finding>,
    /// Checks that could not run on this bundle with these options.
    pub not_run: Vec<NotRun>,
    /// Every Mach-O / ELF file, in signing order: libraries deepest first, executables last.
    pub sign_list: Vec<PathBuf>,
    /// The files of the sign list that run Python (the launcher; the file `python/bin/python3`
    /// resolves to): they get the entitlements.
    pub python_hosts: Vec<PathBuf>,
    /// The role of each file of the sign list, in its order ([`Report::signing`]).
    #[serde(skip)]
    pub(crate) roles: Vec<Role>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }
    /// The sign list with each file's role, inside-out.
    pub fn signing(&self) -> impl Iterator<Item = (&PathBuf, Role)> {
        self.sign_list.iter().zip(self.roles.iter().copied())
    }
}

/// Which kind of folder was verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// An app's Resources folder: `python/` + `mlxk2/`.
    Resources,
    /// A bundle folder, `dist-ext-python/<BIN_NAME>` (`_vendor/`, the launcher, the runtime).
    Dist,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Resources => "resources",
            Layout::Dist => "dist",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_shown_and_serialised_in_kebab_case() {
        assert_eq!(Kind::UnresolvedLoad.to_string(), "unresolved-load");
        assert_eq!(serde_json::to_value(Kind::AbsoluteInstallName).unwrap(), "absolute-install-name");
        assert_eq!(serde_json::to_value(Kind::TimestampPyc).unwrap(), "timestamp-pyc");
        assert_eq!(serde_json::to_value(Layout::Resources).unwrap(), "resources");
        assert_eq!(Layout::Dist.to_string(), "dist");
    }
}
