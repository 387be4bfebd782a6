//! Our own reader of an embedded code signature (`LC_CODE_SIGNATURE`'s SuperBlob): every
//! CodeDirectory's flags, identifier, team id, hash type, code limit and hashes, whether the
//! page hashes still match the slice's bytes, the entitlements blobs, and the CMS signature
//! ([`crate::cms`]: the signer's certificate and its secure timestamp).
//!
//! Format: XNU `osfmk/kern/cs_blobs.h` (all fields big-endian). Offsets are checked; malformed
//! bytes give [`Malformed`], never a panic.

use sha2::{Digest, Sha256, Sha384};

use crate::cms::{self, Cms};
use crate::macho::{Malformed, be32, slice_at};

const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
const CSMAGIC_BLOBWRAPPER: u32 = 0xfade_0b01;
const CSMAGIC_EMBEDDED_ENTITLEMENTS: u32 = 0xfade_7171;
const CSMAGIC_EMBEDDED_DER_ENTITLEMENTS: u32 = 0xfade_7172;
const CSSLOT_CODEDIRECTORY: u32 = 0;
const CSSLOT_ENTITLEMENTS: u32 = 5;
const CSSLOT_DER_ENTITLEMENTS: u32 = 7;
const CSSLOT_ALTERNATE_CODEDIRECTORIES: u32 = 0x1000;
const CSSLOT_SIGNATURESLOT: u32 = 0x10000;
const CS_SUPPORTSTEAMID: u32 = 0x20200;

/// CodeDirectory flags (`cs_blobs.h`).
pub const CS_ADHOC: u32 = 0x2;
pub const CS_RUNTIME: u32 = 0x1_0000;
pub const CS_LINKER_SIGNED: u32 = 0x2_0000;

/// A CodeDirectory's hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashType {
    Sha1,
    Sha256,
    /// SHA-256 cut to 20 bytes.
    Sha256Truncated,
    Sha384,
    Unknown(u8),
}

impl HashType {
    fn from_byte(b: u8) -> HashType {
        match b {
            1 => HashType::Sha1,
            2 => HashType::Sha256,
            3 => HashType::Sha256Truncated,
            4 => HashType::Sha384,
            other => HashType::Unknown(other),
        }
    }

    /// The digest of `data`, or `None` for a type we do not compute (SHA-1: only alongside a
    /// SHA-256 CodeDirectory on the systems this bundle targets).
    fn digest(self, data: &[u8]) -> Option<Vec<u8>> {
        match self {
            HashType::Sha256 => Some(Sha256::digest(data).to_vec()),
            HashType::Sha256Truncated => Some(Sha256::digest(data)[..20].to_vec()),
            HashType::Sha384 => Some(Sha384::digest(data).to_vec()),
            HashType::Sha1 | HashType::Unknown(_) => None,
        }
    }
}

/// One CodeDirectory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeDirectory {
    pub version: u32,
    pub flags: u32,
    pub identifier: String,
    pub team_id: Option<String>,
    pub hash_type: HashType,
    pub code_limit: u64,
    pub page_size: u64,
    /// Code slots whose hash no longer matches the bytes (page indices); `None`: not computed.
    pub mismatched_pages: Option<Vec<usize>>,
    /// Special slots (entitlements) whose hash does not match the blob in the signature.
    pub mismatched_special: Vec<u32>,
}

/// An embedded signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub directories: Vec<CodeDirectory>,
    /// The XML entitlements (`0xfade7171`), if any.
    pub entitlements: Option<String>,
    pub der_entitlements: bool,
    /// The CMS signature of a certificate-based signature (ad-hoc ones have no CMS blob, or an
    /// empty one), or why it could not be read: the rest of the signature stays readable.
    pub cms: Option<Result<Cms, Malformed>>,
}

impl Signature {
    /// The primary CodeDirectory (slot 0).
    pub fn primary(&self) -> Option<&CodeDirectory> {
        self.directories.first()
    }
}

/// Reads the signature at (`dataoff`, `datasize`) of `slice` and checks its hashes against
/// the slice's bytes.
pub fn read(slice: &[u8], dataoff: u32, datasize: u32) -> Result<Signature, Malformed> {
    let blob = slice_at(slice, u64::from(dataoff), u64::from(datasize), "LC_CODE_SIGNATURE's data")?;
    if be32(blob, 0)? != CSMAGIC_EMBEDDED_SIGNATURE {
        return Err(Malformed(format!("the code signature's magic is {:#x}, not a SuperBlob", be32(blob, 0)?)));
    }
    let length = be32(blob, 4)? as usize;
    let blob = blob.get(..length).ok_or_else(|| Malformed(format!("the SuperBlob's length {length} overruns")))?;
    let count = be32(blob, 8)?;
    let mut sig = Signature { directories: Vec::new(), entitlements: None, der_entitlements: false, cms: None };
    let mut specials: Vec<(u32, &[u8])> = Vec::new();
    let mut directories: Vec<(u32, &[u8])> = Vec::new();
    for i in 0..count.min(64) as usize {
        let slot = be32(blob, 12 + i * 8)?;
        let offset = be32(blob, 16 + i * 8)?;
        let inner = sub_blob(blob, offset)?;
        match slot {
            CSSLOT_CODEDIRECTORY => directories.insert(0, (slot, inner)),
            s if (CSSLOT_ALTERNATE_CODEDIRECTORIES..CSSLOT_ALTERNATE_CODEDIRECTORIES + 5).contains(&s) => {
                directories.push((slot, inner))
            }
            CSSLOT_ENTITLEMENTS if be32(inner, 0)? == CSMAGIC_EMBEDDED_ENTITLEMENTS => {
                sig.entitlements = Some(String::from_utf8_lossy(inner.get(8..).unwrap_or_default()).into_owned());
                specials.push((slot, inner));
            }
            CSSLOT_DER_ENTITLEMENTS if be32(inner, 0)? == CSMAGIC_EMBEDDED_DER_ENTITLEMENTS => {
                sig.der_entitlements = true;
                specials.push((slot, inner));
            }
            CSSLOT_SIGNATURESLOT if be32(inner, 0)? == CSMAGIC_BLOBWRAPPER && inner.len() > 8 => {
                sig.cms = Some(cms::read(&inner[8..]));
            }
            CSSLOT_SIGNATURESLOT if be32(inner, 0)? == CSMAGIC_BLOBWRAPPER => {}
            _ => specials.push((slot, inner)),
        }
    }
    for (_, cd) in directories {
        sig.directories.push(code_directory(cd, slice, &specials)?);
    }
    Ok(sig)
}

/// The blob at `offset` of the SuperBlob, by its own length field.
fn sub_blob(blob: &[u8], offset: u32) -> Result<&[u8], Malformed> {
    let length = be32(blob, (offset as usize).saturating_add(4))?;
    slice_at(blob, u64::from(offset), u64::from(length), "a blob of the code signature")
}

fn code_directory(cd: &[u8], slice: &[u8], specials: &[(u32, &[u8])]) -> Result<CodeDirectory, Malformed> {
    if be32(cd, 0)? != CSMAGIC_CODEDIRECTORY {
        return Err(Malformed("a CodeDirectory slot holds another kind of blob".into()));
    }
    let version = be32(cd, 8)?;
    let hash_offset = be32(cd, 16)? as usize;
    let n_special = be32(cd, 24)? as usize;
    let n_code = be32(cd, 28)? as usize;
    let small = |at: usize| cd.get(at).copied().ok_or_else(|| Malformed("the CodeDirectory is truncated".into()));
    let hash_size = usize::from(small(36)?);
    let hash_type = HashType::from_byte(small(37)?);
    let page_shift = small(39)?;
    let mut code_limit = u64::from(be32(cd, 32)?);
    if version >= 0x20300 && code_limit == 0 {
        code_limit = (u64::from(be32(cd, 56)?) << 32) | u64::from(be32(cd, 60)?);
    }
    let team_id = if version >= CS_SUPPORTSTEAMID {
        match be32(cd, 48)? as usize {
            0 => None,
            at => Some(c_string(cd, at)),
        }
    } else {
        None
    };
    let page_size = if page_shift == 0 || page_shift >= 32 { 0 } else { 1u64 << page_shift };
    let hash_at = |slot: isize| -> Result<&[u8], Malformed> {
        let at = (hash_offset as isize).checked_add(slot.checked_mul(hash_size as isize).unwrap_or(isize::MAX));
        let at = at.and_then(|a| u64::try_from(a).ok()).unwrap_or(u64::MAX);
        slice_at(cd, at, hash_size as u64, "a hash slot of the CodeDirectory")
    };
    let mismatched_pages = match hash_type.digest(&[]) {
        None => None,
        Some(_) => {
            let code = slice_at(slice, 0, code_limit, "the signed code (code limit)")?;
            let chunk = if page_size == 0 { code.len().max(1) } else { page_size as usize };
            let mut bad = Vec::new();
            for (i, page) in code.chunks(chunk).enumerate() {
                // A page past the CodeDirectory's slots is code it does not cover.
                if i >= n_code || hash_type.digest(page).as_deref() != Some(hash_at(i as isize)?) {
                    bad.push(i);
                }
            }
            Some(bad)
        }
    };
    let mut mismatched_special = Vec::new();
    for (slot, blob) in specials {
        if (*slot as usize) <= n_special
            && let Some(actual) = hash_type.digest(blob)
            && hash_at(-(*slot as isize))? != actual.as_slice()
        {
            mismatched_special.push(*slot);
        }
    }
    Ok(CodeDirectory {
        version,
        flags: be32(cd, 12)?,
        identifier: c_string(cd, be32(cd, 20)? as usize),
        team_id,
        hash_type,
        code_limit,
        page_size,
        mismatched_pages,
        mismatched_special,
    })
}

fn c_string(bytes: &[u8], at: usize) -> String {
    let s = bytes.get(at..).unwrap_or_default();
    let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

/// Whether XML entitlements set `key` to `<true/>` (whitespace and comments between allowed).
pub fn entitlement_is_true(xml: &str, key: &str) -> bool {
    let needle = format!("<key>{key}</key>");
    xml.match_indices(&needle).any(|(at, _)| {
        let mut rest = xml[at + needle.len()..].trim_start();
        while let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.split_once("-->").map_or("", |(_, r)| r).trim_start();
        }
        rest.starts_with("<true/>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlements_are_read_from_xml() {
        let xml = "<plist><dict>\n <key>a.b</key>\n\t<true/>\n <key>c</key><!-- no --> <false/></dict></plist>";
        assert!(entitlement_is_true(xml, "a.b"));
        assert!(!entitlement_is_true(xml, "c"));
        assert!(!entitlement_is_true(xml, "d"));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let slice = vec![0u8; 64];
        assert!(read(&slice, 0, 64).is_err());
        assert!(read(&slice, 60, 64).is_err());
        let mut sb = Vec::new();
        for v in [CSMAGIC_EMBEDDED_SIGNATURE, 28, 2, 0, 0xffff_fff0, 5, 20] {
            sb.extend(v.to_be_bytes());
        }
        assert!(read(&sb, 0, sb.len() as u32).is_err());
    }
}
