//! Can the dynamic loader map this file without crashing the process?
//!
//! glibc's `dlopen` trusts an ELF file's program headers: a library truncated after its headers
//! (an interrupted copy, a full disk) is mapped beyond its end, and the first touch of a missing
//! page kills the launcher with SIGBUS — no message, no exit code. So before loading, each
//! `PT_LOAD` segment's file range must lie inside the file. Only the headers are read (a few KB,
//! not the 20 MB of a libpython). dyld checks Mach-O segment bounds itself and fails cleanly.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header;
use goblin::elf::program_header::{PT_LOAD, ProgramHeader};

/// `Err` says why loading `path` would fail or crash; `Ok` leaves the rest to the loader.
pub fn check(path: &Path) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    let len = file.metadata().map_err(|e| format!("cannot be read ({e})"))?.len();
    let mut head = Vec::with_capacity(64 * 1024);
    file.by_ref().take(64 * 1024).read_to_end(&mut head).map_err(|e| format!("cannot be read ({e})"))?;
    if !head.starts_with(header::ELFMAG) {
        return Ok(());
    }
    let header = goblin::elf::Elf::parse_header(&head).map_err(|e| format!("is a damaged ELF file ({e})"))?;
    let container = if header.e_ident[header::EI_CLASS] == header::ELFCLASS64 { Container::Big } else { Container::Little };
    let endian = Endian::from(header.e_ident[header::EI_DATA] == header::ELFDATA2LSB);
    let table_end = header.e_phoff.saturating_add(u64::from(header.e_phnum) * u64::from(header.e_phentsize));
    if table_end > head.len() as u64 {
        return Err(format!("is a damaged ELF file (program headers end at byte {table_end}, the first {} bytes were read)", head.len()));
    }
    let ctx = Ctx::new(container, endian);
    let headers = ProgramHeader::parse(&head, header.e_phoff as usize, header.e_phnum as usize, ctx).map_err(|e| format!("is a damaged ELF file ({e})"))?;
    for ph in headers.iter().filter(|ph| ph.p_type == PT_LOAD) {
        let end = ph.p_offset.saturating_add(ph.p_filesz);
        if end > len {
            return Err(format!("is truncated: a loadable segment ends at byte {end}, the file has {len} bytes"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_elf_files_are_refused() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(check(&exe), Ok(()));
        let bytes = std::fs::read(&exe).unwrap();
        let dir = std::env::temp_dir().join(format!("mlxk2-loadable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cut = dir.join("cut");
        std::fs::write(&cut, &bytes[..bytes.len().min(200_000)]).unwrap();
        assert!(check(&cut).unwrap_err().starts_with("is truncated: a loadable segment ends at byte"));
        std::fs::write(&cut, &bytes[..40]).unwrap();
        assert!(check(&cut).unwrap_err().starts_with("is a damaged ELF file"));
        std::fs::write(&cut, b"not elf").unwrap();
        assert_eq!(check(&cut), Ok(()), "left to the loader, which fails cleanly");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
