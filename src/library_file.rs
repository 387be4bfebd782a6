//! A shared library read from its headers only (a few KB, never the 20 MB of a libpython):
//! whether the loader can map it without crashing, and its SONAME / install id.
//!
//! glibc's `dlopen` trusts an ELF file's program headers: a library truncated after its headers
//! (an interrupted copy, a full disk) is mapped beyond its end, and the first touch of a missing
//! page kills the launcher with SIGBUS — no message, no exit code. So before loading, each
//! `PT_LOAD` segment's file range must lie inside the file. dyld checks Mach-O segment bounds
//! itself and fails cleanly.
//!
//! Formats: ELF (`<elf.h>`: Elf64_Ehdr/Phdr/Dyn and their 32-bit forms) and Mach-O (XNU
//! `<mach-o/loader.h>`, `<mach-o/fat.h>`). Every read is bounds-checked; malformed bytes give
//! an `Err`, never a panic.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const HEAD: usize = 64 * 1024;
const ELF_MAGIC: &[u8] = b"\x7fELF";
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_STRTAB: u64 = 5;
const DT_SONAME: u64 = 14;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_1_PIE: u64 = 0x0800_0000;
const ET_DYN: u16 = 3;
const MH_MAGIC: u32 = 0xfeed_face;
const MH_MAGIC_64: u32 = 0xfeed_facf;
const FAT_MAGIC: u32 = 0xcafe_babe;
const MH_DYLIB: u32 = 0x6;
const LC_ID_DYLIB: u32 = 0xd;

/// What a library file is, from its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A shared library (ELF `ET_DYN`, Mach-O `MH_DYLIB`) with its SONAME / install id.
    Shared { soname: Option<String> },
    /// Something else, said in a few words (`an ELF executable`, `neither ELF nor Mach-O`).
    Other(&'static str),
    /// An ELF file the loader would map beyond its end (`is truncated: …`).
    Unloadable(String),
}

/// The file's first bytes and length, read once.
struct Head {
    file: File,
    len: u64,
    bytes: Vec<u8>,
}

impl Head {
    fn open(path: &Path) -> std::io::Result<Head> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let bytes = read_at(&file, 0, HEAD.min(len as usize))?;
        Ok(Head { file, len, bytes })
    }
}

fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buffer = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buffer[filled..], offset + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// Bounds-checked integer reads of one byte order.
#[derive(Clone, Copy)]
struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn u16(self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }
    fn u32(self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }
    fn u64(self, at: usize) -> Option<u64> {
        let b: [u8; 8] = self.bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
    }
    /// A word of the file's class (`wide`: 64-bit).
    fn word(self, at: usize, wide: bool) -> Option<u64> {
        if wide { self.u64(at) } else { self.u32(at).map(u64::from) }
    }
    fn c_string(self, at: usize) -> Option<String> {
        let rest = self.bytes.get(at..)?;
        let end = rest.iter().take(4096).position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok().map(String::from)
    }
}

/// One ELF program header: (type, file offset, file size, virtual address).
type Segment = (u32, u64, u64, u64);

/// The ELF header's fields we use, and the program headers.
struct Elf {
    wide: bool,
    little: bool,
    kind: u16,
    segments: Vec<Segment>,
}

fn parse_elf(head: &[u8]) -> Result<Elf, String> {
    let damaged = |what: &str| format!("is a damaged ELF file ({what})");
    let wide = match head.get(4) {
        Some(2) => true,
        Some(1) => false,
        _ => return Err(damaged("unknown class")),
    };
    let little = head.get(5) == Some(&1);
    let r = Reader { bytes: head, little };
    let field = |at32: usize, at64: usize| if wide { at64 } else { at32 };
    let kind = r.u16(16).ok_or_else(|| damaged("header cut short"))?;
    let phoff = r.word(field(28, 32), wide).ok_or_else(|| damaged("header cut short"))?;
    let phentsize = u64::from(r.u16(field(42, 54)).ok_or_else(|| damaged("header cut short"))?);
    let phnum = u64::from(r.u16(field(44, 56)).ok_or_else(|| damaged("header cut short"))?);
    let table_end = phoff.saturating_add(phnum.saturating_mul(phentsize));
    if table_end > head.len() as u64 || phentsize < if wide { 56 } else { 32 } {
        return Err(format!(
            "is a damaged ELF file (program headers end at byte {table_end}, the first {} bytes were read)",
            head.len()
        ));
    }
    let segments = (0..phnum)
        .map(|i| {
            let at = (phoff + i * phentsize) as usize;
            let kind = r.u32(at)?;
            Some(if wide {
                (kind, r.u64(at + 8)?, r.u64(at + 32)?, r.u64(at + 16)?)
            } else {
                (kind, u64::from(r.u32(at + 4)?), u64::from(r.u32(at + 16)?), u64::from(r.u32(at + 8)?))
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| damaged("program headers cut short"))?;
    Ok(Elf { wide, little, kind, segments })
}

/// `Err` says why loading `path` would fail or crash; `Ok` leaves the rest to the loader.
pub fn check_loadable(path: &Path) -> Result<(), String> {
    let head = Head::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    if !head.bytes.starts_with(ELF_MAGIC) {
        return Ok(());
    }
    segments_inside(&parse_elf(&head.bytes)?, head.len)
}

fn segments_inside(elf: &Elf, len: u64) -> Result<(), String> {
    for &(_, offset, size, _) in elf.segments.iter().filter(|s| s.0 == PT_LOAD) {
        let end = offset.saturating_add(size);
        if end > len {
            return Err(format!("is truncated: a loadable segment ends at byte {end}, the file has {len} bytes"));
        }
    }
    Ok(())
}

/// Reads what kind of file `path` is and, for a shared library, its SONAME / install id.
pub fn inspect(path: &Path) -> std::io::Result<Kind> {
    let head = Head::open(path)?;
    let magic = Reader { bytes: &head.bytes, little: false }.u32(0).unwrap_or(0);
    if head.bytes.starts_with(ELF_MAGIC) {
        elf_kind(&head)
    } else if magic == FAT_MAGIC {
        fat_kind(&head)
    } else if [MH_MAGIC, MH_MAGIC_64].contains(&magic.swap_bytes()) {
        Ok(macho_kind(&head.bytes))
    } else {
        Ok(Kind::Other("neither ELF nor Mach-O"))
    }
}

fn elf_kind(head: &Head) -> std::io::Result<Kind> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let elf = parse_elf(&head.bytes).map_err(invalid)?;
    if let Err(why) = segments_inside(&elf, head.len) {
        return Ok(Kind::Unloadable(why));
    }
    if elf.kind != ET_DYN {
        return Ok(Kind::Other("an ELF executable"));
    }
    let Some(&(_, offset, size, _)) = elf.segments.iter().find(|s| s.0 == PT_DYNAMIC) else {
        return Ok(Kind::Shared { soname: None });
    };
    let dynamic = read_at(&head.file, offset, size.min(1 << 20) as usize)?;
    let r = Reader { bytes: &dynamic, little: elf.little };
    let entry = if elf.wide { 16 } else { 8 };
    let (mut strtab, mut soname, mut flags) = (None, None, 0);
    for at in (0..dynamic.len()).step_by(entry) {
        let (Some(tag), Some(value)) = (r.word(at, elf.wide), r.word(at + entry / 2, elf.wide)) else { break };
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(value),
            DT_SONAME => soname = Some(value),
            DT_FLAGS_1 => flags = value,
            _ => {}
        }
    }
    // A position-independent executable is ET_DYN too.
    if flags & DF_1_PIE != 0 {
        return Ok(Kind::Other("an ELF executable"));
    }
    let (Some(strtab), Some(soname)) = (strtab, soname) else { return Ok(Kind::Shared { soname: None }) };
    // DT_STRTAB is an address: the PT_LOAD segment holding it gives its file offset.
    let file_offset = elf
        .segments
        .iter()
        .filter(|s| s.0 == PT_LOAD)
        .find(|&&(_, _, size, vaddr)| (vaddr..vaddr.saturating_add(size)).contains(&strtab))
        .map(|&(_, offset, _, vaddr)| offset + (strtab - vaddr));
    let name = match file_offset {
        Some(at) => read_at(&head.file, at.saturating_add(soname), 4096)?,
        None => Vec::new(),
    };
    Ok(Kind::Shared { soname: Reader { bytes: &name, little: true }.c_string(0) })
}

fn fat_kind(head: &Head) -> std::io::Result<Kind> {
    let r = Reader { bytes: &head.bytes, little: false };
    let count = r.u32(4).unwrap_or(0).min(16) as usize;
    for i in 0..count {
        let at = 8 + i * 20;
        let (Some(offset), Some(size)) = (r.u32(at + 8), r.u32(at + 12)) else { break };
        let slice = read_at(&head.file, u64::from(offset), (size as usize).min(HEAD))?;
        if let Kind::Shared { soname } = macho_kind(&slice) {
            return Ok(Kind::Shared { soname });
        }
    }
    Ok(Kind::Other("a universal binary without a dylib slice"))
}

fn macho_kind(bytes: &[u8]) -> Kind {
    let r = Reader { bytes, little: true };
    let (wide, filetype, ncmds) = match (r.u32(0), r.u32(12), r.u32(16)) {
        (Some(MH_MAGIC_64), Some(t), Some(n)) => (true, t, n),
        (Some(MH_MAGIC), Some(t), Some(n)) => (false, t, n),
        _ => return Kind::Other("a damaged Mach-O file"),
    };
    if filetype != MH_DYLIB {
        return Kind::Other("a Mach-O file that is not a dylib");
    }
    let mut at = if wide { 32 } else { 28 };
    for _ in 0..ncmds.min(4096) {
        let (Some(cmd), Some(size)) = (r.u32(at), r.u32(at + 4)) else { break };
        if cmd == LC_ID_DYLIB {
            let name = r.u32(at + 8).and_then(|offset| r.c_string(at + offset as usize));
            return Kind::Shared { soname: name };
        }
        if size < 8 {
            break;
        }
        at += size as usize;
    }
    Kind::Shared { soname: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_dir::test_dir as scratch;

    #[test]
    fn truncated_elf_files_are_refused() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(check_loadable(&exe), Ok(()));
        let bytes = std::fs::read(&exe).unwrap();
        let dir = scratch("cut");
        let cut = dir.join("cut");
        std::fs::write(&cut, &bytes[..bytes.len().min(200_000)]).unwrap();
        assert!(check_loadable(&cut).unwrap_err().starts_with("is truncated: a loadable segment ends at byte"));
        std::fs::write(&cut, &bytes[..40]).unwrap();
        assert!(check_loadable(&cut).unwrap_err().starts_with("is a damaged ELF file"));
        std::fs::write(&cut, b"not elf").unwrap();
        assert_eq!(check_loadable(&cut), Ok(()), "left to the loader, which fails cleanly");
    }

    #[test]
    fn elf_kinds_and_sonames() {
        assert_eq!(inspect(&std::env::current_exe().unwrap()).unwrap(), Kind::Other("an ELF executable"));
        // The C library this test links is a shared library with a SONAME.
        let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists());
        if let Some(libc) = libc {
            assert_eq!(inspect(libc).unwrap(), Kind::Shared { soname: Some("libc.so.6".into()) });
        }
        let dir = scratch("kinds");
        std::fs::write(dir.join("text"), b"hello").unwrap();
        assert_eq!(inspect(&dir.join("text")).unwrap(), Kind::Other("neither ELF nor Mach-O"));
        std::fs::write(dir.join("short"), b"\x7fELF\x02\x01").unwrap();
        assert!(inspect(&dir.join("short")).is_err());
    }

    #[test]
    fn macho_install_ids() {
        // mach_header_64 + one LC_ID_DYLIB.
        let name = b"@rpath/libpython3.12.dylib\0\0\0\0\0\0";
        let mut bytes = Vec::new();
        for v in [MH_MAGIC_64, 0x0100_000c, 0, MH_DYLIB, 1, 24 + name.len() as u32, 0, 0] {
            bytes.extend(v.to_le_bytes());
        }
        for v in [LC_ID_DYLIB, 24 + name.len() as u32, 24, 2, 0, 0] {
            bytes.extend(v.to_le_bytes());
        }
        bytes.extend(name);
        assert_eq!(macho_kind(&bytes), Kind::Shared { soname: Some("@rpath/libpython3.12.dylib".into()) });
        bytes[12] = 2; // MH_EXECUTE
        assert_eq!(macho_kind(&bytes), Kind::Other("a Mach-O file that is not a dylib"));
        assert_eq!(macho_kind(&bytes[..10]), Kind::Other("a damaged Mach-O file"));
    }
}
