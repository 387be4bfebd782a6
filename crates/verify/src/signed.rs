//! `verify --signed`: what Gatekeeper, notarization and the kernel would say about each Mach-O
//! file's embedded signature — unsigned, linker-signed only, ad hoc, no Developer ID
//! Application leaf, no secure timestamp, no hardened runtime, a Python host without its
//! entitlements, mixed team ids, bytes changed after signing — read with our own
//! [`crate::codesign`] and [`crate::cms`] readers, on any OS.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cms::{Cms, Imprint, OID_DEVELOPER_ID_APPLICATION, OID_TIME_STAMP_TOKEN};
use crate::codesign::{self, CS_ADHOC, CS_LINKER_SIGNED, CS_RUNTIME, Signature};
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

/// Entitlements this bundle does not need: (key, asked of the Python hosts only, why). Each is
/// a warning, an error with `--release`. `allow-jit` is Electron's (V8): osx-sign gives
/// `entitlementsInherit` to every file it signs, native Node modules in Resources included.
const UNNEEDED_ENTITLEMENTS: &[(&str, bool, &str)] = &[
    (
        "com.apple.security.cs.allow-jit",
        true,
        "Python, MLX and the launcher do not use MAP_JIT (Electron's V8 does: its entitlements are not these)",
    ),
    ("com.apple.security.get-task-allow", false, "a debugging entitlement: notarization refuses it"),
];

/// What is said about one slice: a finding, or a check that could not run on it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Said {
    Finding(Kind, Severity, String),
    NotRun(Kind, String),
}

impl Walk {
    /// Reads the signature of every Mach-O file of the bundle (found by magic during the walk).
    pub(crate) fn check_signatures(&mut self, release: bool) {
        let mut teams: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let hosts = self.python_hosts();
        let files: Vec<PathBuf> = self.machos.keys().cloned().collect();
        for path in files {
            let host = hosts.contains(&path);
            let mut found: Vec<(Said, Vec<Arch>)> = Vec::new();
            let per_slice = fs::read(&path)
                .map_err(|e| Malformed(format!("cannot be read: {e}")))
                .and_then(|bytes| file_problems(&bytes, host, release, &path, &mut teams));
            match per_slice {
                Ok(per_slice) => {
                    for (arch, said) in per_slice.into_iter().flat_map(|(a, s)| s.into_iter().map(move |x| (a, x))) {
                        match found.iter_mut().find(|(s, _)| *s == said) {
                            Some((_, arches)) => arches.push(arch),
                            None => found.push((said, vec![arch])),
                        }
                    }
                }
                Err(e) => found.push((Said::Finding(Kind::Malformed, Severity::Error, e.0), Vec::new())),
            }
            let info = self.machos[&path].clone();
            for (said, arches) in found {
                let slices = crate::binaries::in_slices(&info, &arches);
                match said {
                    Said::Finding(kind, severity, detail) => self.finding(kind, severity, &path, detail + &slices),
                    Said::NotRun(check, reason) => self.not_run(check, &path, reason + &slices),
                }
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
        if release {
            let root = self.root.clone();
            self.not_run(
                Kind::NotDeveloperId,
                &root,
                "the certificates' chain to Apple's root and the notary's own checks are Apple's: `spctl --assess` on a Mac, after notarization, proves them".into(),
            );
        }
    }

    fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// What is said of each slice of one file; team ids are collected into `teams`.
fn file_problems(
    bytes: &[u8],
    host: bool,
    release: bool,
    path: &Path,
    teams: &mut BTreeMap<String, Vec<PathBuf>>,
) -> Result<Vec<(Arch, Vec<Said>)>, Malformed> {
    let mut out = Vec::new();
    for slice_bytes in macho::slices(bytes)? {
        let slice = Slice::parse(slice_bytes)?;
        let arch = crate::native::arch_of_cputype(slice.cputype);
        let said = match slice.code_signature {
            None => vec![Said::Finding(
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
        out.push((arch, said));
    }
    Ok(out)
}

/// What is wrong with one slice's signature.
fn signature_problems(sig: &Signature, executable: bool, host: bool, release: bool) -> Vec<Said> {
    let error = |kind, detail: String| Said::Finding(kind, Severity::Error, detail);
    let mut p: Vec<Said> = Vec::new();
    let Some(cd) = sig.primary() else {
        return vec![error(Kind::Malformed, "the code signature has no CodeDirectory".into())];
    };
    p.extend(hash_problems(sig));
    if cd.flags & CS_LINKER_SIGNED != 0 {
        p.push(error(
            Kind::LinkerSigned,
            "signed only by the linker (ad hoc, no hardened runtime, no entitlements): sign it with codesign/rcodesign"
                .into(),
        ));
        return p;
    }
    let release_severity = if release { Severity::Error } else { Severity::Warning };
    match &sig.cms {
        Some(Ok(cms)) if cd.flags & CS_ADHOC == 0 => p.extend(notary_problems(cms, release_severity)),
        Some(Err(e)) if cd.flags & CS_ADHOC == 0 => p.push(Said::NotRun(
            Kind::NoSecureTimestamp,
            format!("{e}: its secure timestamp and its signer's Developer ID were not checked"),
        )),
        _ => p.push(Said::Finding(
            Kind::AdHocSignature,
            release_severity,
            "ad-hoc signature (no certificate, no team id): Gatekeeper and notarization refuse it; sign with a Developer ID for a release".into(),
        )),
    }
    if executable && cd.flags & CS_RUNTIME == 0 {
        p.push(error(
            Kind::NoHardenedRuntime,
            "an executable without the hardened runtime: `The executable does not have the hardened runtime enabled` (sign with --options runtime)".into(),
        ));
    }
    let entitlements = sig.entitlements.as_deref().unwrap_or("");
    if executable && host {
        for (key, why) in REQUIRED_ENTITLEMENTS {
            if !codesign::entitlement_is_true(entitlements, key) {
                p.push(error(
                    Kind::MissingEntitlement,
                    format!("runs Python without `{key}`: {why} (sign with packaging/entitlements.plist)"),
                ));
            }
        }
    }
    for (key, hosts_only, why) in UNNEEDED_ENTITLEMENTS {
        if (host || !hosts_only) && codesign::entitlement_is_true(entitlements, key) {
            p.push(Said::Finding(Kind::UnneededEntitlement, release_severity, format!("`{key}` is set: {why}")));
        }
    }
    p
}

/// Page and special-slot hashes that no longer match: the bytes changed after signing.
fn hash_problems(sig: &Signature) -> Vec<Said> {
    let mut p = Vec::new();
    for dir in &sig.directories {
        if let Some(pages) = dir.mismatched_pages.as_ref().filter(|p| !p.is_empty()) {
            let shown: Vec<String> = pages.iter().take(5).map(|i| i.to_string()).collect();
            let more = if pages.len() > 5 { format!(" and {} more", pages.len() - 5) } else { String::new() };
            p.push(Said::Finding(
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
            p.push(Said::Finding(
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
    if sig.directories.iter().all(|d| d.mismatched_pages.is_none()) {
        let types: Vec<String> = sig.directories.iter().map(|d| format!("{:?}", d.hash_type)).collect();
        p.push(Said::NotRun(
            Kind::ModifiedAfterSigning,
            format!(
                "page hashes not recomputed: no CodeDirectory of a hash type verify computes ({})",
                types.join(", ")
            ),
        ));
    }
    p
}

/// What Apple's notary service requires of a certificate signature: a Developer ID
/// Application leaf and a secure timestamp that stamps this very signature.
fn notary_problems(cms: &Cms, severity: Severity) -> Vec<Said> {
    let mut p = Vec::new();
    let refused = "`The binary is not signed with a valid Developer ID certificate.`";
    match &cms.signer {
        None => p.push(Said::Finding(
            Kind::NotDeveloperId,
            severity,
            format!("the signer's certificate is not in the signature: the notary refuses it ({refused}); sign with a Developer ID Application identity"),
        )),
        Some(cert) if !cert.is_developer_id_application() => {
            let name = cert.common_name.as_deref().unwrap_or("(no common name)");
            let kinds = if cert.apple_kinds.is_empty() { "none".to_string() } else { cert.apple_kinds.join(", ") };
            p.push(Said::Finding(
                Kind::NotDeveloperId,
                severity,
                format!("signed by `{name}`, not a Developer ID Application certificate (no extension {OID_DEVELOPER_ID_APPLICATION}; Apple kinds: {kinds}): the notary refuses it ({refused})"),
            ));
        }
        Some(_) => {}
    }
    let no_timestamp = "`The signature does not include a secure timestamp.` (sign with codesign --timestamp; rcodesign: drop --timestamp-url none)";
    match &cms.timestamp {
        None => p.push(Said::Finding(
            Kind::NoSecureTimestamp,
            severity,
            format!("no time-stamp token ({OID_TIME_STAMP_TOKEN}) in the signature: the notary refuses it: {no_timestamp}"),
        )),
        Some(t) => match &t.imprint {
            Imprint::Matches => {}
            Imprint::Differs => p.push(Said::Finding(
                Kind::NoSecureTimestamp,
                severity,
                format!("the time-stamp token of {} stamps other bytes than this signature (copied from another one?): {no_timestamp}", t.time),
            )),
            Imprint::NotComputed(algorithm) => p.push(Said::NotRun(
                Kind::NoSecureTimestamp,
                format!("the time-stamp token of {} was not matched to the signature: its imprint's hash ({algorithm}) is not one verify computes", t.time),
            )),
        },
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cms::{Certificate, Timestamp};
    use crate::codesign::{CodeDirectory, HashType};

    fn signature(flags: u32, entitlements: &str, cms: Option<Result<Cms, Malformed>>) -> Signature {
        let cd = CodeDirectory {
            version: 0x20400,
            flags,
            identifier: "x".into(),
            team_id: Some("TEAM".into()),
            hash_type: HashType::Sha256,
            code_limit: 4096,
            page_size: 4096,
            mismatched_pages: Some(vec![]),
            mismatched_special: vec![],
        };
        Signature { directories: vec![cd], entitlements: Some(entitlements.into()), der_entitlements: false, cms }
    }

    fn cms(kinds: &[&str], imprint: Option<Imprint>) -> Option<Result<Cms, Malformed>> {
        let signer = Certificate {
            common_name: Some("Apple Development: X (TEAM)".into()),
            apple_kinds: kinds.iter().map(|k| k.to_string()).collect(),
        };
        let timestamp = imprint.map(|imprint| Timestamp { time: "20260101000000Z".into(), imprint });
        Some(Ok(Cms { signer: Some(signer), timestamp }))
    }

    fn kinds(said: &[Said]) -> Vec<(Kind, Option<Severity>)> {
        said.iter()
            .map(|s| match s {
                Said::Finding(k, sev, _) => (*k, Some(*sev)),
                Said::NotRun(k, _) => (*k, None),
            })
            .collect()
    }

    const HOST: &str = "<key>com.apple.security.cs.allow-unsigned-executable-memory</key><true/><key>com.apple.security.cs.disable-library-validation</key><true/>";

    #[test]
    fn a_release_needs_a_developer_id_leaf_and_a_timestamp_that_stamps_this_signature() {
        let good = cms(&[OID_DEVELOPER_ID_APPLICATION], Some(Imprint::Matches));
        assert_eq!(kinds(&signature_problems(&signature(CS_RUNTIME, HOST, good), true, true, true)), []);
        let bare = cms(&[OID_DEVELOPER_ID_APPLICATION], None);
        let sig = signature(CS_RUNTIME, HOST, bare);
        assert_eq!(
            kinds(&signature_problems(&sig, true, true, false)),
            [(Kind::NoSecureTimestamp, Some(Severity::Warning))]
        );
        assert_eq!(
            kinds(&signature_problems(&sig, true, true, true)),
            [(Kind::NoSecureTimestamp, Some(Severity::Error))]
        );
        let copied = signature(0, "", cms(&[OID_DEVELOPER_ID_APPLICATION], Some(Imprint::Differs)));
        assert_eq!(
            kinds(&signature_problems(&copied, false, false, true)),
            [(Kind::NoSecureTimestamp, Some(Severity::Error))]
        );
        let sha1 =
            signature(0, "", cms(&[OID_DEVELOPER_ID_APPLICATION], Some(Imprint::NotComputed("1.3.14.3.2.26".into()))));
        assert_eq!(kinds(&signature_problems(&sha1, false, false, true)), [(Kind::NoSecureTimestamp, None)]);
        let development = signature(0, "", cms(&["1.2.840.113635.100.6.1.12"], Some(Imprint::Matches)));
        let said = signature_problems(&development, false, false, true);
        assert_eq!(kinds(&said), [(Kind::NotDeveloperId, Some(Severity::Error))]);
        let Said::Finding(_, _, detail) = &said[0] else { unreachable!() };
        assert!(
            detail.contains("`Apple Development: X (TEAM)`") && detail.contains("1.2.840.113635.100.6.1.12"),
            "{detail}"
        );
        let no_signer = signature(0, "", Some(Ok(Cms { signer: None, timestamp: None })));
        assert_eq!(
            kinds(&signature_problems(&no_signer, false, false, true)),
            [(Kind::NotDeveloperId, Some(Severity::Error)), (Kind::NoSecureTimestamp, Some(Severity::Error))]
        );
        // A CMS blob our reader cannot make sense of: those two checks did not run, and say so.
        let unreadable = signature(0, "", Some(Err(Malformed("the code signature's CMS data: …".into()))));
        assert_eq!(kinds(&signature_problems(&unreadable, false, false, true)), [(Kind::NoSecureTimestamp, None)]);
        // Ad hoc: no CMS to look into, one finding.
        let adhoc = signature(CS_ADHOC, "", None);
        assert_eq!(
            kinds(&signature_problems(&adhoc, false, false, true)),
            [(Kind::AdHocSignature, Some(Severity::Error))]
        );
    }

    #[test]
    fn allow_jit_is_asked_of_python_hosts_only() {
        let jit = format!("{HOST}<key>com.apple.security.cs.allow-jit</key><true/>");
        let good = || cms(&[OID_DEVELOPER_ID_APPLICATION], Some(Imprint::Matches));
        let host = signature(CS_RUNTIME, &jit, good());
        assert_eq!(
            kinds(&signature_problems(&host, true, true, false)),
            [(Kind::UnneededEntitlement, Some(Severity::Warning))]
        );
        // osx-sign gives Electron's entitlementsInherit (allow-jit) to native Node modules too.
        let node_module = signature(0, &jit, good());
        assert_eq!(kinds(&signature_problems(&node_module, false, false, true)), []);
        let debuggable = signature(0, "<key>com.apple.security.get-task-allow</key><true/>", good());
        assert_eq!(
            kinds(&signature_problems(&debuggable, false, false, true)),
            [(Kind::UnneededEntitlement, Some(Severity::Error))]
        );
    }

    #[test]
    fn page_hashes_that_were_not_recomputed_say_so() {
        let mut sig = signature(0, "", cms(&[OID_DEVELOPER_ID_APPLICATION], Some(Imprint::Matches)));
        sig.directories[0].hash_type = HashType::Sha1;
        sig.directories[0].mismatched_pages = None;
        assert_eq!(kinds(&signature_problems(&sig, false, false, true)), [(Kind::ModifiedAfterSigning, None)]);
    }
}
