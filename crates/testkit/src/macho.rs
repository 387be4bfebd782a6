//! Synthetic Mach-O files (header and dylib/rpath load commands only), so that verify and the
//! install-name planning are exercised on Linux without Apple's tools. Real Apple-built and
//! zig-linked files are tested in verify's integration tests.

const MH_EXECUTE: u32 = 0x2;
const MH_DYLIB: u32 = 0x6;
const CPU_TYPE_ARM64: u32 = 0x0100_000c;
/// `CPU_TYPE_X86_64`, for [`synthetic_retarget`].
pub const CPU_TYPE_X86_64: u32 = 0x0100_0007;

/// A minimal thin arm64 Mach-O (header and dylib/rpath load commands only): enough for
/// `verify` and the install-name planning to be exercised on Linux, in tests and fixtures.
pub fn synthetic_macho(executable: bool, id: Option<&str>, loads: &[&str], rpaths: &[&str]) -> Vec<u8> {
    const LC_ID_DYLIB: u32 = 0xd;
    const LC_LOAD_DYLIB: u32 = 0xc;
    const LC_RPATH: u32 = 0x8000_001c;
    let padded = |s: &str, offset: usize| {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0);
        while !(offset + bytes.len()).is_multiple_of(8) {
            bytes.push(0);
        }
        bytes
    };
    let mut commands: Vec<Vec<u8>> = Vec::new();
    let mut dylib = |cmd: u32, name: &str| {
        let name = padded(name, 24);
        let mut c = Vec::new();
        for v in [cmd, (24 + name.len()) as u32, 24, 2, 0x10000, 0x10000] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        c.extend(name);
        commands.push(c);
    };
    if let Some(id) = id {
        dylib(LC_ID_DYLIB, id);
    }
    for l in loads {
        dylib(LC_LOAD_DYLIB, l);
    }
    for r in rpaths {
        let path = padded(r, 12);
        let mut c = Vec::new();
        for v in [LC_RPATH, (12 + path.len()) as u32, 12] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        c.extend(path);
        commands.push(c);
    }
    let sizeofcmds: usize = commands.iter().map(Vec::len).sum();
    let mut out = Vec::new();
    let filetype = if executable { MH_EXECUTE } else { MH_DYLIB };
    for v in [0xfeed_facf_u32, CPU_TYPE_ARM64, 0, filetype, commands.len() as u32, sizeofcmds as u32, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for c in commands {
        out.extend(c);
    }
    out
}

/// `thin`, a [`synthetic_macho`], relabelled as an x86_64 (or any other CPU's) slice.
pub fn synthetic_retarget(mut thin: Vec<u8>, cpu: u32) -> Vec<u8> {
    thin[4..8].copy_from_slice(&cpu.to_le_bytes());
    thin
}

/// A universal (fat) file holding the given thin Mach-O files, as `lipo -create` lays it out.
pub fn synthetic_universal(thins: &[Vec<u8>]) -> Vec<u8> {
    const ALIGN: usize = 1 << 14;
    let mut out = Vec::new();
    out.extend_from_slice(&0xcafe_babe_u32.to_be_bytes());
    out.extend_from_slice(&(thins.len() as u32).to_be_bytes());
    let mut offset = ALIGN;
    for thin in thins {
        let cpu = u32::from_le_bytes([thin[4], thin[5], thin[6], thin[7]]);
        let subtype = u32::from_le_bytes([thin[8], thin[9], thin[10], thin[11]]);
        for v in [cpu, subtype, offset as u32, thin.len() as u32, 14] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        offset += thin.len().div_ceil(ALIGN) * ALIGN;
    }
    for thin in thins {
        out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
        out.extend_from_slice(thin);
    }
    out
}
