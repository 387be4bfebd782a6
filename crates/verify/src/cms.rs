//! What the CMS signature of a code signature (RFC 5652 `SignedData` in the blob wrapper of
//! slot 0x10000) says, as Apple's notary service reads it: the signer's certificate — its
//! common name and Apple's certificate-kind extensions (a Developer ID Application leaf
//! carries 1.2.840.113635.100.6.1.13) — and the secure timestamp, an RFC 3161 time-stamp
//! token in the signer's unsigned attributes (1.2.840.113549.1.9.16.2.14) whose message
//! imprint is the hash of the signer's signature.
//!
//! Read with [`crate::der`] (BER: Apple's codesign writes indefinite lengths). Trust is not
//! checked here — no certificate chain, no signature verification: that needs Apple's roots
//! and is Gatekeeper's and the notary's work on a Mac.

use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::der::{self, GENERALIZED_TIME, INTEGER, OCTET_STRING, SEQUENCE, SET, Value, children_of, context};
use crate::macho::Malformed;

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
/// `id-aa-timeStampToken`: the unsigned attribute holding an RFC 3161 token.
pub const OID_TIME_STAMP_TOKEN: &str = "1.2.840.113549.1.9.16.2.14";
const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
/// Apple's extension marking a Developer ID Application certificate.
pub const OID_DEVELOPER_ID_APPLICATION: &str = "1.2.840.113635.100.6.1.13";
/// Apple's certificate-kind extensions live under this arc.
const APPLE_CERTIFICATE_KINDS: &str = "1.2.840.113635.100.6.";
const OID_COMMON_NAME: &str = "2.5.4.3";
const OID_SUBJECT_KEY_IDENTIFIER: &str = "2.5.29.14";

/// The facts of one CMS signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cms {
    /// The signer's certificate (`None`: the signature does not carry it).
    pub signer: Option<Certificate>,
    /// The time-stamp token (`None`: no secure timestamp).
    pub timestamp: Option<Timestamp>,
}

/// A certificate as far as the notary's rules go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The subject's common name (`Developer ID Application: Name (TEAMID)`).
    pub common_name: Option<String>,
    /// Apple's certificate-kind extensions it carries (dotted OIDs under 1.2.840.113635.100.6).
    pub apple_kinds: Vec<String>,
}

impl Certificate {
    pub fn is_developer_id_application(&self) -> bool {
        self.apple_kinds.iter().any(|k| k == OID_DEVELOPER_ID_APPLICATION)
    }
}

/// An RFC 3161 time-stamp token of a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// `genTime` as written (`20260101120000Z`).
    pub time: String,
    pub imprint: Imprint,
}

/// Whether the token's message imprint is the hash of the signer's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imprint {
    Matches,
    /// The token stamps other bytes (copied from another signature, or the signature changed).
    Differs,
    /// A hash algorithm we do not compute (its dotted OID).
    NotComputed(String),
}

/// Reads a CMS `ContentInfo` holding `SignedData`.
pub fn read(bytes: &[u8]) -> Result<Cms, Malformed> {
    let signed = signed_data(der::read(bytes)?.0)?;
    let info = signed.signer_info()?;
    let signer = match &info.sid {
        Sid::IssuerSerial(issuer, serial) => {
            signed.certificates.iter().find(|c| c.issuer == *issuer && c.serial == *serial)
        }
        Sid::KeyId(id) => signed.certificates.iter().find(|c| c.key_id.as_deref() == Some(id.as_slice())),
    };
    let timestamp = match info.time_stamp_token {
        Some(token) => Some(time_stamp(token, &info.signature)?),
        None => None,
    };
    Ok(Cms { signer: signer.map(|c| c.facts.clone()), timestamp })
}

struct SignedData<'a> {
    encap_content: Value<'a>,
    certificates: Vec<ParsedCert<'a>>,
    signer_infos: Vec<Value<'a>>,
}

struct ParsedCert<'a> {
    issuer: &'a [u8],
    serial: &'a [u8],
    key_id: Option<Vec<u8>>,
    facts: Certificate,
}

enum Sid<'a> {
    IssuerSerial(&'a [u8], &'a [u8]),
    KeyId(Vec<u8>),
}

struct SignerInfo<'a> {
    sid: Sid<'a>,
    signature: Vec<u8>,
    time_stamp_token: Option<Value<'a>>,
}

/// `ContentInfo { id-signedData, [0] SignedData }`.
fn signed_data(content_info: Value<'_>) -> Result<SignedData<'_>, Malformed> {
    let parts = children_of(content_info, SEQUENCE, "ContentInfo")?;
    let [kind, content, ..] = parts.as_slice() else { return malformed("ContentInfo is cut short") };
    if kind.oid()? != OID_SIGNED_DATA {
        return malformed(&format!("ContentInfo holds {}, not SignedData", kind.oid()?));
    }
    let inner = children_of(*content, context(0), "ContentInfo's content")?;
    let body = children_of(*inner.first().ok_or_else(|| bad("SignedData is empty"))?, SEQUENCE, "SignedData")?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos.
    let encap_content = *body.get(2).ok_or_else(|| bad("SignedData is cut short"))?;
    let mut certificates = Vec::new();
    let mut signer_infos = Vec::new();
    for part in body.iter().skip(3) {
        match part.tag {
            // CertificateChoices: X.509 certificates are SEQUENCEs; the other (obsolete) kinds are
            // tagged and cannot be the signer's.
            t if t == context(0) => {
                for cert in part.children()?.into_iter().filter(|c| c.tag == SEQUENCE) {
                    certificates.push(certificate(cert)?);
                }
            }
            SET => signer_infos = part.children()?,
            _ => {}
        }
    }
    Ok(SignedData { encap_content, certificates, signer_infos })
}

impl<'a> SignedData<'a> {
    /// The one signer (codesign and rcodesign write one; a second is not Apple's format).
    fn signer_info(&self) -> Result<SignerInfo<'a>, Malformed> {
        let [info] = self.signer_infos.as_slice() else {
            return malformed(&format!("{} SignerInfos, not one", self.signer_infos.len()));
        };
        let parts = children_of(*info, SEQUENCE, "SignerInfo")?;
        let sid = match parts.get(1) {
            Some(v) if v.tag == SEQUENCE => match v.children()?.as_slice() {
                [issuer, serial, ..] => Sid::IssuerSerial(
                    issuer.expect(SEQUENCE, "the issuer")?.content,
                    serial.expect(INTEGER, "the serial")?.content,
                ),
                _ => return malformed("IssuerAndSerialNumber is cut short"),
            },
            // [0] SubjectKeyIdentifier (IMPLICIT OCTET STRING: primitive, or constructed in BER).
            Some(v) if v.tag & 0xdf == 0x80 => {
                let octets = Value { tag: OCTET_STRING | (v.tag & 0x20), content: v.content };
                Sid::KeyId(octets.octets()?.into_owned())
            }
            _ => return malformed("SignerInfo has no signer identifier"),
        };
        // After the sid: digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature, [1] unsignedAttrs.
        let signature = parts
            .iter()
            .skip(2)
            .find(|v| v.tag & 0xdf == OCTET_STRING)
            .ok_or_else(|| bad("SignerInfo has no signature"))?
            .octets()?
            .into_owned();
        let mut time_stamp_token = None;
        if let Some(unsigned) = parts.iter().skip(2).find(|v| v.tag == context(1)) {
            for attribute in unsigned.children()? {
                let fields = children_of(attribute, SEQUENCE, "an attribute")?;
                let [kind, values, ..] = fields.as_slice() else { return malformed("an attribute is cut short") };
                if kind.oid()? == OID_TIME_STAMP_TOKEN {
                    time_stamp_token = children_of(*values, SET, "the token's values")?.first().copied();
                }
            }
        }
        Ok(SignerInfo { sid, signature, time_stamp_token })
    }
}

/// A token: `ContentInfo` of `SignedData` whose content is a `TSTInfo` stamping `signature`.
fn time_stamp(token: Value<'_>, signature: &[u8]) -> Result<Timestamp, Malformed> {
    let signed = signed_data(token)?;
    let encap = children_of(signed.encap_content, SEQUENCE, "the token's encapsulated content")?;
    let [kind, content, ..] = encap.as_slice() else { return malformed("the time-stamp token holds no TSTInfo") };
    if kind.oid()? != OID_TST_INFO {
        return malformed(&format!("the time-stamp token holds {}, not TSTInfo", kind.oid()?));
    }
    let explicit = children_of(*content, context(0), "the token's content")?;
    let octets = explicit.first().ok_or_else(|| bad("the token's content is empty"))?.octets()?;
    let tst = children_of(der::read(&octets)?.0, SEQUENCE, "TSTInfo")?;
    // version, policy, messageImprint, serialNumber, genTime, ….
    let [_, _, imprint, _, time, ..] = tst.as_slice() else { return malformed("TSTInfo is cut short") };
    let imprint = children_of(*imprint, SEQUENCE, "messageImprint")?;
    let [algorithm, hashed, ..] = imprint.as_slice() else { return malformed("messageImprint is cut short") };
    let algorithm = children_of(*algorithm, SEQUENCE, "the imprint's algorithm")?
        .first()
        .ok_or_else(|| bad("the imprint's algorithm is empty"))?
        .oid()?;
    let expected: Option<Vec<u8>> = match algorithm.as_str() {
        "2.16.840.1.101.3.4.2.1" => Some(Sha256::digest(signature).to_vec()),
        "2.16.840.1.101.3.4.2.2" => Some(Sha384::digest(signature).to_vec()),
        "2.16.840.1.101.3.4.2.3" => Some(Sha512::digest(signature).to_vec()),
        _ => None,
    };
    let imprint = match expected {
        None => Imprint::NotComputed(algorithm),
        Some(digest) if *hashed.octets()? == *digest => Imprint::Matches,
        Some(_) => Imprint::Differs,
    };
    let time = String::from_utf8_lossy(time.expect(GENERALIZED_TIME, "genTime")?.content).into_owned();
    Ok(Timestamp { time, imprint })
}

/// `Certificate { tbsCertificate, … }`: issuer, serial, subject's common name, extensions.
fn certificate(cert: Value<'_>) -> Result<ParsedCert<'_>, Malformed> {
    let outer = children_of(cert, SEQUENCE, "a certificate")?;
    let tbs = children_of(*outer.first().ok_or_else(|| bad("a certificate is empty"))?, SEQUENCE, "tbsCertificate")?;
    // [0] version is optional; then serial, signature, issuer, validity, subject, key, ….
    let skip = usize::from(tbs.first().is_some_and(|v| v.tag == context(0)));
    let field = |i: usize| tbs.get(skip + i).copied().ok_or_else(|| bad("tbsCertificate is cut short"));
    let serial = field(0)?.expect(INTEGER, "the serial number")?.content;
    let issuer = field(2)?.expect(SEQUENCE, "the issuer")?.content;
    let subject = field(4)?;
    let mut apple_kinds = Vec::new();
    let mut key_id = None;
    if let Some(extensions) = tbs.iter().skip(skip + 6).find(|v| v.tag == context(3)) {
        let list = children_of(
            *extensions.children()?.first().ok_or_else(|| bad("empty extensions"))?,
            SEQUENCE,
            "extensions",
        )?;
        for extension in list {
            let fields = children_of(extension, SEQUENCE, "an extension")?;
            let oid = fields.first().ok_or_else(|| bad("an extension is empty"))?.oid()?;
            if oid == OID_SUBJECT_KEY_IDENTIFIER
                && let Some(value) = fields.last()
            {
                key_id = Some(der::read(&value.octets()?)?.0.octets()?.into_owned());
            }
            if oid.starts_with(APPLE_CERTIFICATE_KINDS) {
                apple_kinds.push(oid);
            }
        }
    }
    let facts = Certificate { common_name: common_name(subject)?, apple_kinds };
    Ok(ParsedCert { issuer, serial, key_id, facts })
}

/// The subject's CN: `Name ::= SEQUENCE OF SET OF { type, value }`.
fn common_name(name: Value<'_>) -> Result<Option<String>, Malformed> {
    for rdn in children_of(name, SEQUENCE, "a name")? {
        for pair in rdn.children()? {
            let fields = children_of(pair, SEQUENCE, "a name's attribute")?;
            if let [kind, value, ..] = fields.as_slice()
                && kind.oid()? == OID_COMMON_NAME
            {
                return Ok(Some(match value.tag {
                    // BMPString: UTF-16BE.
                    0x1e => char::decode_utf16(
                        value.content.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
                    )
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
                    _ => String::from_utf8_lossy(value.content).into_owned(),
                }));
            }
        }
    }
    Ok(None)
}

fn bad(what: &str) -> Malformed {
    Malformed(format!("the code signature's CMS data: {what}"))
}

fn malformed<T>(what: &str) -> Result<T, Malformed> {
    Err(bad(what))
}
