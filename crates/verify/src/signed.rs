//! `verify --signed`: what Gatekeeper, notarization and the kernel would say about each Mach-O
//! file's embedded signature — unsigned, linker-signed only, ad hoc, no hardened runtime, a
//! Python host without its entitlements, mixed team ids, bytes changed after signing — read
//! with our own [`crate::codesign`] reader, on any OS.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::codesign::{self, CS_ADHOC, CS_LINKER_SIGNED, CS_RUNTIME, Signature};
use crate::dyld::is_python_host;
use crate::macho::{self, MH_EXECUTE, Malformed, Slice};
use crate::native::Arch;
use crate::report::{Kind, Severity};
use crate::walk::Walk;

/// The entitlements an executable that runs Python needs under the hardened runtime, each with
/// the failure it prevents (docs/packaging-macos.md says more).
pub const REQUIRED_ENTITLEMENTS: &[(&str, &str)] = &[
    (
        "com.apple.security.cs.allow-unsigned-executable-memory",
        "ctypes/cffi closures need writable+executable memory (else `MemoryError` from ctypes)",
    ),
    (
        "com.apple.security.cs.disable-library-validation",
        "MLX's CPU kernels are compiled and dlopened at run time, signed by no team (else `mapping process and mapped file (non-platform) have different Team IDs`)",
    ),
];

/// Entitlements this bundle does not need: (key, severity outside a release, why).
const UNNEEDED_ENTITLEMENTS: &[(&str, Severity, &str)] = &[
    ("com.apple.security.cs.allow-jit", Severity::Warning, "nothing in the bundle uses MAP_JIT"),
    ("com.apple.security.get-task-allow", Severity::Warning, "a debugging entitlement: notarization refuses it"),
];

type Problem = (Kind, Severity, String);

impl Walk {
    /// Reads the signature of every Mach-O file of the bundle (found by magic during the walk).
    pub(crate) fn check_signatures(&mut self, release: bool) {
        let mut teams: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let files: Vec<PathBuf> = self.machos.keys().cloned().collect();
        for path in files {
            let host = self.machos[&path].slices.first().is_some_and(|s| is_python_host(&path, s));
            let mut found: Vec<(Problem, Vec<Arch>)> = Vec::new();
            match fs::read(&path) {
                Ok(bytes) => match file_problems(&bytes, host, release, &path, &mut teams) {
                    Ok(per_slice) => {
                        for (arch, problems) in per_slice {
                            for problem in problems {
                                match found.iter_mut().find(|(p, _)| *p == problem) {
                                    Some((_, arches)) => arches.push(arch),
                                    None => found.push((problem, vec![arch])),
                                }
                            }
                        }
                    }
                    Err(e) => found.push(((Kind::Malformed, Severity::Error, e.0), Vec::new())),
                },
                Err(e) => found.push(((Kind::Malformed, Severity::Error, format!("cannot be read: {e}")), Vec::new())),
            }
            let info = self.machos[&path].clone();
            for ((kind, severity, detail), arches) in found {
                self.finding(kind, severity, &path, detail + &crate::binaries::in_slices(&info, &arches));
            }
        }
        if teams.len() > 1 {
            let list: Vec<String> = teams
                .iter()
                .map(|(team, files)| format!("`{team}` ({} file(s), e.g. `{}`)", files.len(), self.show(&files[0])))
                .collect();
            let root = self.root.clone();
            self.finding(
                Kind::TeamIdMix,
                Severity::Error,
                &root,
                format!(
                    "signed by {} teams: {}; library validation refuses a library of another team (`mapping process and mapped file (non-platform) have different Team IDs`): sign every file with one identity",
                    teams.len(),
                    list.join(", ")
                ),
            );
        }
    }

    fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// The problems of each slice of one file; team ids are collected into `teams`.
fn file_problems(
    bytes: &[u8],
    host: bool,
    release: bool,
    path: &Path,
    teams: &mut BTreeMap<String, Vec<PathBuf>>,
) -> Result<Vec<(Arch, Vec<Problem>)>, Malformed> {
    let mut out = Vec::new();
    for slice_bytes in macho::slices(bytes)? {
        let slice = Slice::parse(slice_bytes)?;
        let arch = crate::native::arch_of_cputype(slice.cputype);
        let problems = match slice.code_signature {
            None => vec![(
                Kind::NotSigned,
                Severity::Error,
                "no code signature (LC_CODE_SIGNATURE): `code object is not signed at all`; sign it".to_string(),
            )],
            Some((off, size)) => {
                let sig = codesign::read(slice_bytes, off, size)?;
                if let Some(team) = sig.primary().and_then(|cd| cd.team_id.clone()) {
                    let files = teams.entry(team).or_default();
                    if !files.iter().any(|f| f == path) {
                        files.push(path.to_path_buf());
                    }
                }
                signature_problems(&sig, slice.filetype == MH_EXECUTE, host, release)
            }
        };
        out.push((arch, problems));
    }
    Ok(out)
}

/// What is wrong with one slice's signature.
pub fn signature_problems(sig: &Signature, executable: bool, host: bool, release: bool) -> Vec<Problem> {
    let mut p: Vec<Problem> = Vec::new();
    let Some(cd) = sig.primary() else {
        return vec![(Kind::Malformed, Severity::Error, "the code signature has no CodeDirectory".into())];
    };
    for dir in &sig.directories {
        if let Some(pages) = dir.mismatched_pages.as_ref().filter(|p| !p.is_empty()) {
            let shown: Vec<String> = pages.iter().take(5).map(|i| i.to_string()).collect();
            let more = if pages.len() > 5 { format!(" and {} more", pages.len() - 5) } else { String::new() };
            p.push((
                Kind::ModifiedAfterSigning,
                Severity::Error,
                format!(
                    "{} page hash(es) no longer match (page(s) {}{more}; {}-byte pages, {:?}): the file changed after signing; the kernel kills the process when it maps such a page — re-sign it",
                    pages.len(),
                    shown.join(", "),
                    dir.page_size,
                    dir.hash_type
                ),
            ));
        }
        if !dir.mismatched_special.is_empty() {
            p.push((
                Kind::ModifiedAfterSigning,
                Severity::Error,
                format!(
                    "special slot(s) {:?} (entitlements) do not match their hash: re-sign it",
                    dir.mismatched_special
                ),
            ));
        }
    }
    p.dedup();
    if cd.flags & CS_LINKER_SIGNED != 0 {
        p.push((
            Kind::LinkerSigned,
            Severity::Error,
            "signed only by the linker (ad hoc, no hardened runtime, no entitlements): sign it with codesign/rcodesign"
                .into(),
        ));
        return p;
    }
    if cd.flags & CS_ADHOC != 0 || !sig.cms {
        let severity = if release { Severity::Error } else { Severity::Warning };
        p.push((
            Kind::AdHocSignature,
            severity,
            "ad-hoc signature (no certificate, no team id): Gatekeeper and notarization refuse it; sign with a Developer ID for a release".into(),
        ));
    }
    if executable && cd.flags & CS_RUNTIME == 0 {
        p.push((
            Kind::NoHardenedRuntime,
            Severity::Error,
            "an executable without the hardened runtime: `The executable does not have the hardened runtime enabled` (sign with --options runtime)".into(),
        ));
    }
    if executable && host {
        let xml = sig.entitlements.as_deref().unwrap_or("");
        for (key, why) in REQUIRED_ENTITLEMENTS {
            if !codesign::entitlement_is_true(xml, key) {
                p.push((
                    Kind::MissingEntitlement,
                    Severity::Error,
                    format!("runs Python without `{key}`: {why} (sign with packaging/entitlements.plist)"),
                ));
            }
        }
    }
    for (key, severity, why) in UNNEEDED_ENTITLEMENTS {
        if codesign::entitlement_is_true(sig.entitlements.as_deref().unwrap_or(""), key) {
            let severity = if release { Severity::Error } else { *severity };
            p.push((Kind::UnneededEntitlement, severity, format!("`{key}` is set: {why}")));
        }
    }
    p
}
