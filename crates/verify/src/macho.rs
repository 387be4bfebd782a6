//! Our own bounds-checked reader of what goblin does not give us: each slice of a (thin or
//! universal) 64-bit Mach-O file, its header, and the load commands the signature and dyld
//! checks need (`LC_CODE_SIGNATURE`, `LC_SYMTAB`/`LC_DYSYMTAB`, the binding format, the minimum
//! OS, the dylib loads in ordinal order), and the symbol table's undefined and exported names.
//!
//! Format: XNU `EXTERNAL_HEADERS/mach-o/loader.h`, `nlist.h`, `fat.h`. Every offset read from
//! the file is checked; malformed bytes give [`Malformed`], never a panic.

use std::fmt;

pub const MH_MAGIC_64: u32 = 0xfeed_facf;
const FAT_MAGIC: u32 = 0xcafe_babe;
const FAT_MAGIC_64: u32 = 0xcafe_babf;
/// Header flag: undefined symbols are bound to a library by ordinal (two-level namespace).
pub const MH_TWOLEVEL: u32 = 0x80;
pub const MH_EXECUTE: u32 = 0x2;

const LC_REQ_DYLD: u32 = 0x8000_0000;
const LC_SYMTAB: u32 = 0x2;
const LC_DYSYMTAB: u32 = 0xb;
const LC_LOAD_DYLIB: u32 = 0xc;
const LC_LOAD_WEAK_DYLIB: u32 = 0x18 | LC_REQ_DYLD;
const LC_REEXPORT_DYLIB: u32 = 0x1f | LC_REQ_DYLD;
const LC_LAZY_LOAD_DYLIB: u32 = 0x20;
const LC_LOAD_UPWARD_DYLIB: u32 = 0x23 | LC_REQ_DYLD;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_DYLD_INFO: u32 = 0x22;
const LC_DYLD_INFO_ONLY: u32 = 0x22 | LC_REQ_DYLD;
const LC_DYLD_CHAINED_FIXUPS: u32 = 0x34 | LC_REQ_DYLD;
const LC_BUILD_VERSION: u32 = 0x32;

/// `n_type` bits (nlist.h).
const N_STAB: u8 = 0xe0;
const N_TYPE: u8 = 0x0e;
const N_EXT: u8 = 0x01;
const N_UNDF: u8 = 0x0;
const N_SECT: u8 = 0xe;
const NLIST_64_SIZE: usize = 16;

/// Bytes that are not the Mach-O file they claim to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(what: impl Into<String>) -> Result<T, Malformed> {
    Err(Malformed(what.into()))
}

/// `len` bytes at `offset`, or an error naming `what`.
pub fn slice_at<'a>(bytes: &'a [u8], offset: u64, len: u64, what: &str) -> Result<&'a [u8], Malformed> {
    let start = usize::try_from(offset).ok();
    let end = start.zip(usize::try_from(len).ok()).and_then(|(s, l)| s.checked_add(l));
    match (start, end) {
        (Some(s), Some(e)) if e <= bytes.len() => Ok(&bytes[s..e]),
        _ => bad(format!("{what} ({len} bytes at {offset}) lies outside the file ({} bytes)", bytes.len())),
    }
}

pub fn le32(bytes: &[u8], at: usize) -> Result<u32, Malformed> {
    match bytes.get(at..at.wrapping_add(4)) {
        Some(b) if at.checked_add(4).is_some() => Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => bad(format!("truncated at byte {at}")),
    }
}

pub fn be32(bytes: &[u8], at: usize) -> Result<u32, Malformed> {
    match bytes.get(at..at.wrapping_add(4)) {
        Some(b) if at.checked_add(4).is_some() => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        _ => bad(format!("truncated at byte {at}")),
    }
}

fn be64(bytes: &[u8], at: usize) -> Result<u64, Malformed> {
    Ok((u64::from(be32(bytes, at)?) << 32) | u64::from(be32(bytes, at.saturating_add(4))?))
}

/// The 64-bit Mach-O slices of a file: the file itself when thin, each architecture of a
/// universal file. `Ok(empty)`: not a 64-bit Mach-O file (ELF, a 32-bit slice, a Java class).
pub fn slices(bytes: &[u8]) -> Result<Vec<&[u8]>, Malformed> {
    let Ok(magic) = be32(bytes, 0) else { return Ok(Vec::new()) };
    if le32(bytes, 0)? == MH_MAGIC_64 {
        return Ok(vec![bytes]);
    }
    if magic != FAT_MAGIC && magic != FAT_MAGIC_64 {
        return Ok(Vec::new());
    }
    let count = be32(bytes, 4)?;
    // A Java class file shares the magic; its "count" is a version (>= 45).
    if count == 0 || count > 32 {
        // (native.rs's MAX_SLICES: a larger count is no universal file we can use.)
        return Ok(Vec::new());
    }
    let entry = if magic == FAT_MAGIC_64 { 32 } else { 20 };
    let mut out = Vec::new();
    for i in 0..count as usize {
        let at = 8 + i * entry;
        let (offset, size) = if magic == FAT_MAGIC_64 {
            (be64(bytes, at + 8)?, be64(bytes, at + 16)?)
        } else {
            (u64::from(be32(bytes, at + 8)?), u64::from(be32(bytes, at + 12)?))
        };
        let slice = slice_at(bytes, offset, size, "a universal file's slice")?;
        if le32(slice, 0).is_ok_and(|m| m == MH_MAGIC_64) {
            out.push(slice);
        }
    }
    Ok(out)
}

/// How a slice's imports are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `LC_DYLD_INFO` / `LC_DYLD_INFO_ONLY` opcodes (every macOS; what zig 0.17 emits).
    DyldInfo,
    /// `LC_DYLD_CHAINED_FIXUPS` (macOS 12 and later).
    ChainedFixups,
    /// Neither: classic relocations only.
    Classic,
}

/// One 64-bit Mach-O slice as the signature and dyld checks read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub cputype: u32,
    pub filetype: u32,
    pub flags: u32,
    /// `LC_CODE_SIGNATURE`: (dataoff, datasize) within the slice.
    pub code_signature: Option<(u32, u32)>,
    pub binding: Binding,
    /// `LC_BUILD_VERSION`'s minos as (major, minor).
    pub minos: Option<(u16, u8)>,
    /// Dylib load names; library ordinal N names `dylibs[N - 1]`.
    pub dylibs: Vec<String>,
    symtab: Option<(u32, u32, u32, u32)>,
    /// `LC_DYLD_INFO(_ONLY)`: (bind, weak bind, lazy bind) as (offset, size).
    bind: Option<[(u32, u32); 3]>,
    /// `LC_DYLD_CHAINED_FIXUPS`: (dataoff, datasize).
    fixups: Option<(u32, u32)>,
    /// `LC_DYSYMTAB`: (iundefsym, nundefsym).
    undefs: Option<(u32, u32)>,
}

/// Where dyld looks an imported symbol up, from its library ordinal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// `BIND_SPECIAL_DYLIB_FLAT_LOOKUP` (-2), weak lookup (-3), or a flat-namespace image: any
    /// loaded image may define it.
    Flat,
    /// Two-level: the library of that load command.
    Library(String),
    /// The image itself (0), the main executable (-1), or an ordinal past the loads.
    Other(i32),
}

impl Slice {
    /// Reads the header and load commands of a 64-bit little-endian slice.
    pub fn parse(bytes: &[u8]) -> Result<Slice, Malformed> {
        if le32(bytes, 0)? != MH_MAGIC_64 {
            return bad("not a 64-bit Mach-O slice");
        }
        let ncmds = le32(bytes, 16)?;
        let sizeofcmds = le32(bytes, 20)?;
        let commands = slice_at(bytes, 32, u64::from(sizeofcmds), "the load commands")?;
        let mut s = Slice {
            cputype: le32(bytes, 4)?,
            filetype: le32(bytes, 12)?,
            flags: le32(bytes, 24)?,
            code_signature: None,
            binding: Binding::Classic,
            minos: None,
            dylibs: Vec::new(),
            symtab: None,
            bind: None,
            fixups: None,
            undefs: None,
        };
        let mut at = 0usize;
        for i in 0..ncmds {
            let cmd = le32(commands, at)?;
            let size = le32(commands, at + 4)? as usize;
            if size < 8 || at.checked_add(size).is_none_or(|end| end > commands.len()) {
                return bad(format!("load command {i} (size {size}) overruns sizeofcmds {sizeofcmds}"));
            }
            s.command(cmd, &commands[at..at + size])?;
            at += size;
        }
        Ok(s)
    }

    fn command(&mut self, cmd: u32, c: &[u8]) -> Result<(), Malformed> {
        match cmd {
            LC_CODE_SIGNATURE => self.code_signature = Some((le32(c, 8)?, le32(c, 12)?)),
            LC_SYMTAB => self.symtab = Some((le32(c, 8)?, le32(c, 12)?, le32(c, 16)?, le32(c, 20)?)),
            LC_DYSYMTAB => self.undefs = Some((le32(c, 24)?, le32(c, 28)?)),
            LC_DYLD_INFO | LC_DYLD_INFO_ONLY => {
                self.binding = Binding::DyldInfo;
                let pair = |at: usize| -> Result<(u32, u32), Malformed> { Ok((le32(c, at)?, le32(c, at + 4)?)) };
                self.bind = Some([pair(16)?, pair(24)?, pair(32)?]);
            }
            LC_DYLD_CHAINED_FIXUPS => {
                self.binding = Binding::ChainedFixups;
                self.fixups = Some((le32(c, 8)?, le32(c, 12)?));
            }
            LC_BUILD_VERSION => {
                let minos = le32(c, 12)?;
                self.minos = Some(((minos >> 16) as u16, (minos >> 8) as u8));
            }
            LC_LOAD_DYLIB | LC_LOAD_WEAK_DYLIB | LC_REEXPORT_DYLIB | LC_LAZY_LOAD_DYLIB | LC_LOAD_UPWARD_DYLIB => {
                let offset = le32(c, 8)? as usize;
                let name = c.get(offset..).unwrap_or_default();
                let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
                self.dylibs.push(String::from_utf8_lossy(&name[..end]).into_owned());
            }
            _ => {}
        }
        Ok(())
    }

    /// Every imported symbol with where dyld looks it up, read from what dyld reads: the bind
    /// opcodes (`LC_DYLD_INFO_ONLY`), the chained-fixups import table, or else the symbol
    /// table's undefined externals.
    pub fn imports(&self, bytes: &[u8]) -> Result<Vec<(String, Lookup)>, Malformed> {
        let raw: Vec<(String, i32)> = if let Some(tables) = self.bind {
            let mut out = Vec::new();
            for (i, (offset, size)) in tables.into_iter().enumerate() {
                // Weak binds (i == 1) coalesce by name across images: no ordinal.
                if i != 1 {
                    crate::bind::bind_opcodes(
                        slice_at(bytes, offset.into(), size.into(), "the bind opcodes")?,
                        &mut out,
                    )?;
                }
            }
            out
        } else if let Some((offset, size)) = self.fixups {
            crate::bind::chained_imports(slice_at(bytes, offset.into(), size.into(), "the chained fixups")?)?
        } else {
            let first_last =
                self.undefs.map(|(first, count)| (first as usize)..(first as usize).saturating_add(count as usize));
            let all = self.symbols(bytes)?.into_iter().enumerate();
            all.filter(|(i, s)| s.undefined && first_last.as_ref().is_none_or(|r| r.contains(i)))
                .map(|(_, s)| {
                    let ordinal = (s.desc >> 8) as u8;
                    (
                        s.name,
                        if ordinal == 0xfe {
                            -2
                        } else if ordinal == 0xff {
                            -1
                        } else {
                            i32::from(ordinal)
                        },
                    )
                })
                .collect()
        };
        let mut seen = std::collections::BTreeSet::new();
        Ok(raw.into_iter().filter(|(n, o)| seen.insert((n.clone(), *o))).map(|(n, o)| (n, self.lookup(o))).collect())
    }

    fn lookup(&self, ordinal: i32) -> Lookup {
        if self.flags & MH_TWOLEVEL == 0 || ordinal == -2 || ordinal == -3 {
            return Lookup::Flat;
        }
        match usize::try_from(ordinal).ok().filter(|o| *o > 0).and_then(|o| self.dylibs.get(o - 1)) {
            Some(lib) => Lookup::Library(lib.clone()),
            None => Lookup::Other(ordinal),
        }
    }

    /// The names this slice defines and exports (external, in a section).
    pub fn exported(&self, bytes: &[u8]) -> Result<Vec<String>, Malformed> {
        Ok(self.symbols(bytes)?.into_iter().filter(|s| s.exported).map(|s| s.name).collect())
    }

    fn symbols(&self, bytes: &[u8]) -> Result<Vec<Symbol>, Malformed> {
        let Some((symoff, nsyms, stroff, strsize)) = self.symtab else { return Ok(Vec::new()) };
        let table = slice_at(bytes, u64::from(symoff), u64::from(nsyms) * NLIST_64_SIZE as u64, "the symbol table")?;
        let strings = slice_at(bytes, u64::from(stroff), u64::from(strsize), "the string table")?;
        let mut out = Vec::with_capacity(nsyms as usize);
        for entry in table.chunks_exact(NLIST_64_SIZE) {
            let strx = le32(entry, 0)? as usize;
            let n_type = entry[4];
            let desc = u16::from_le_bytes([entry[6], entry[7]]);
            let name = strings.get(strx..).unwrap_or_default();
            let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
            let external = n_type & N_STAB == 0 && n_type & N_EXT != 0;
            out.push(Symbol {
                name: String::from_utf8_lossy(&name[..end]).into_owned(),
                desc,
                undefined: external && n_type & N_TYPE == N_UNDF,
                exported: external && n_type & N_TYPE == N_SECT,
            });
        }
        Ok(out)
    }
}

struct Symbol {
    name: String,
    desc: u16,
    undefined: bool,
    exported: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use msty_mlx_testkit::{synthetic_macho, synthetic_universal};

    #[test]
    fn thin_and_universal_files_give_their_slices() {
        let thin = synthetic_macho(true, None, &["@rpath/libx.dylib", "/usr/lib/libSystem.B.dylib"], &[]);
        assert_eq!(slices(&thin).unwrap().len(), 1);
        let s = Slice::parse(&thin).unwrap();
        assert_eq!(s.filetype, MH_EXECUTE);
        assert_eq!(s.dylibs, ["@rpath/libx.dylib", "/usr/lib/libSystem.B.dylib"]);
        assert_eq!((s.code_signature, s.binding), (None, Binding::Classic));
        let fat = synthetic_universal(&[thin.clone(), thin]);
        assert_eq!(slices(&fat).unwrap().len(), 2);
        assert_eq!(slices(b"\x7fELF\x02\x01\x01\x00").unwrap().len(), 0);
    }

    #[test]
    fn malformed_bytes_are_errors() {
        let mut thin = synthetic_macho(true, None, &["/usr/lib/libSystem.B.dylib"], &[]);
        thin[20] = 0xff; // sizeofcmds past the end
        assert!(Slice::parse(&thin).unwrap_err().0.contains("the load commands"));
        let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1];
        fat.extend([0u8; 8]);
        fat.extend(0xffff_fff0_u32.to_be_bytes());
        fat.extend(64u32.to_be_bytes());
        fat.extend([0u8; 4]);
        assert!(slices(&fat).unwrap_err().0.contains("outside the file"));
    }
}
