//! A bounds-checked reader of ASN.1 BER/DER values (X.690): tag, definite or indefinite
//! length, content — enough for the CMS signatures of code signatures, which Apple's codesign
//! writes with indefinite lengths (BER) around DER certificates.
//!
//! Only one-byte tags (tag numbers below 31) occur in CMS, X.509 and RFC 3161; a longer tag is
//! [`Malformed`]. Nesting is limited, so hostile bytes cannot recurse without bound.

use std::borrow::Cow;

use crate::macho::Malformed;

pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
/// `[n]` context-specific, constructed (EXPLICIT tags and IMPLICIT SETs/SEQUENCEs).
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}
const CONSTRUCTED: u8 = 0x20;
/// Deeper than any CMS structure nests (a certificate inside a SignedData inside a
/// time-stamp token inside an attribute of a SignerInfo is about 12 levels).
const MAX_DEPTH: usize = 48;

/// One value: its tag byte and its content (the children, for a constructed value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    pub tag: u8,
    pub content: &'a [u8],
}

fn bad<T>(what: &str) -> Result<T, Malformed> {
    Err(Malformed(format!("the code signature's CMS data is not valid BER: {what}")))
}

/// The first value of `bytes` and the bytes after it.
pub fn read(bytes: &[u8]) -> Result<(Value<'_>, &[u8]), Malformed> {
    read_at(bytes, 0)
}

fn read_at(bytes: &[u8], depth: usize) -> Result<(Value<'_>, &[u8]), Malformed> {
    if depth > MAX_DEPTH {
        return bad("nested too deeply");
    }
    let (&tag, rest) = bytes.split_first().map_or_else(|| bad("a value is cut short"), Ok)?;
    if tag & 0x1f == 0x1f {
        return bad("a multi-byte tag");
    }
    let (&first, rest) = rest.split_first().map_or_else(|| bad("a length is cut short"), Ok)?;
    if first == 0x80 {
        // Indefinite: constructed only; the children run up to the end-of-contents octets.
        if tag & CONSTRUCTED == 0 {
            return bad("an indefinite length on a primitive value");
        }
        let mut at = rest;
        loop {
            if at.starts_with(&[0, 0]) {
                let used = rest.len() - at.len();
                return Ok((Value { tag, content: &rest[..used] }, &at[2..]));
            }
            at = read_at(at, depth + 1)?.1;
        }
    }
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 || rest.len() < n {
            return bad("a length field");
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        return split(tag, &rest[n..], len);
    };
    split(tag, rest, len)
}

fn split(tag: u8, rest: &[u8], len: usize) -> Result<(Value<'_>, &[u8]), Malformed> {
    if len > rest.len() {
        return bad("a length past the end of the data");
    }
    Ok((Value { tag, content: &rest[..len] }, &rest[len..]))
}

impl<'a> Value<'a> {
    /// The children of a constructed value, in order.
    pub fn children(&self) -> Result<Vec<Value<'a>>, Malformed> {
        if self.tag & CONSTRUCTED == 0 {
            return bad("children asked of a primitive value");
        }
        let mut out = Vec::new();
        let mut at = self.content;
        while !at.is_empty() {
            let (v, rest) = read(at)?;
            out.push(v);
            at = rest;
        }
        Ok(out)
    }

    /// The content if the tag is `tag`, else an error naming `what`.
    pub fn expect(self, tag: u8, what: &str) -> Result<Value<'a>, Malformed> {
        if self.tag == tag { Ok(self) } else { bad(&format!("{what} has tag {:#04x}, not {tag:#04x}", self.tag)) }
    }

    /// An OCTET STRING's bytes; a constructed one (BER) is the concatenation of its parts.
    pub fn octets(&self) -> Result<Cow<'a, [u8]>, Malformed> {
        if self.tag == OCTET_STRING {
            return Ok(Cow::Borrowed(self.content));
        }
        let mut out = Vec::new();
        self.append_octets(&mut out, 0)?;
        Ok(Cow::Owned(out))
    }

    /// Appends the bytes of a (possibly constructed) OCTET STRING nested `depth` deep: parts
    /// nest with definite lengths too, so the limit is counted here as well as in [`read_at`].
    fn append_octets(&self, out: &mut Vec<u8>, depth: usize) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return bad("nested too deeply");
        }
        match self.tag {
            OCTET_STRING => out.extend_from_slice(self.content),
            t if t == OCTET_STRING | CONSTRUCTED => {
                for part in self.children()? {
                    part.append_octets(out, depth + 1)?;
                }
            }
            _ => return bad("an OCTET STRING expected"),
        }
        Ok(())
    }

    /// An OBJECT IDENTIFIER in dotted form (`1.2.840.113549.1.7.2`).
    pub fn oid(&self) -> Result<String, Malformed> {
        if self.tag != OID || self.content.is_empty() {
            return bad("an OBJECT IDENTIFIER expected");
        }
        let mut arcs: Vec<u64> = Vec::new();
        let mut value: u64 = 0;
        for (i, b) in self.content.iter().enumerate() {
            if value > u64::MAX >> 7 {
                return bad("an OBJECT IDENTIFIER arc too large");
            }
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (value / 40).min(2);
                    arcs.extend([first, value - first * 40]);
                } else {
                    arcs.push(value);
                }
                value = 0;
            } else if i + 1 == self.content.len() {
                return bad("an OBJECT IDENTIFIER cut short");
            }
        }
        Ok(arcs.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
    }
}

/// The children of `value`, which must carry `tag`; `what` names it in errors.
pub fn children_of<'a>(value: Value<'a>, tag: u8, what: &str) -> Result<Vec<Value<'a>>, Malformed> {
    value.expect(tag, what)?.children()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_and_indefinite_lengths_read_alike() {
        // SEQUENCE { INTEGER 5, OCTET STRING "ab" }, DER and BER (indefinite, constructed octets).
        let der = [0x30, 0x07, 0x02, 0x01, 0x05, 0x04, 0x02, b'a', b'b'];
        let ber = [0x30, 0x80, 0x02, 0x01, 0x05, 0x24, 0x80, 0x04, 0x01, b'a', 0x04, 0x01, b'b', 0, 0, 0, 0];
        for bytes in [&der[..], &ber[..]] {
            let (v, rest) = read(bytes).unwrap();
            assert!(rest.is_empty());
            let kids = children_of(v, SEQUENCE, "the test").unwrap();
            assert_eq!(kids[0], Value { tag: INTEGER, content: &[5] });
            assert_eq!(&*kids[1].octets().unwrap(), b"ab");
        }
        let long = [0x04, 0x82, 0x01, 0x00];
        assert!(read(&long).is_err(), "256 bytes announced, none there");
    }

    #[test]
    fn oids_are_dotted() {
        let (v, _) = read(&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02]).unwrap();
        assert_eq!(v.oid().unwrap(), "1.2.840.113549.1.7.2");
        let (v, _) = read(&[0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x01, 0x0d]).unwrap();
        assert_eq!(v.oid().unwrap(), "1.2.840.113635.100.6.1.13");
        assert!(read(&[0x06, 0x01, 0x86]).unwrap().0.oid().is_err());
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        // Unterminated indefinite lengths, nested past the limit, a primitive one, a long tag.
        assert!(read(&[0x30, 0x80, 0x02, 0x01, 0x05]).is_err());
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 200).flatten().collect();
        assert!(read(&deep).is_err());
        assert!(read(&[0x04, 0x80, 0, 0]).is_err());
        assert!(read(&[0x1f, 0x81, 0x01, 0x00]).is_err());
        assert!(read(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert!(read(&[]).is_err());
    }

    /// Constructed OCTET STRINGs nest with definite lengths too: reading their bytes recursed
    /// once a level, without the depth limit (a stack overflow, not an error, on ~100k levels).
    #[test]
    fn deeply_nested_definite_octet_strings_are_an_error_not_a_stack_overflow() {
        // Built back to front: each level's header goes before what it wraps.
        let mut bytes = vec![b'x', 0x01, OCTET_STRING];
        for _ in 0..100_000 {
            let len = u32::try_from(bytes.len()).unwrap().to_le_bytes();
            bytes.extend([len[0], len[1], len[2], len[3], 0x84, OCTET_STRING | CONSTRUCTED]);
        }
        bytes.reverse();
        let (v, rest) = read(&bytes).unwrap();
        assert!(rest.is_empty());
        let err = v.octets().unwrap_err();
        assert!(err.0.contains("nested too deeply"), "{}", err.0);
        // A few levels are BER's constructed strings, read as the concatenation.
        let shallow = [0x24, 0x08, 0x24, 0x03, 0x04, 0x01, b'a', 0x04, 0x01, b'b'];
        assert_eq!(&*read(&shallow).unwrap().0.octets().unwrap(), b"ab");
    }
}
