//! The facts our own Mach-O readers find in one file, slice by slice — code signature,
//! binding format, imports — for tools, tests and the fuzz target (`fuzz/fuzz_targets/macho.rs`).

use crate::codesign::{self, Signature};
use crate::macho::{self, Binding, Lookup, Malformed, Slice};
use crate::native::{Arch, arch_of_cputype};

/// One slice of a Mach-O file as `verify --signed` and the dyld checks read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceFacts {
    pub arch: Arch,
    /// `MH_EXECUTE` (2), `MH_DYLIB` (6), `MH_BUNDLE` (8), ….
    pub filetype: u32,
    /// The embedded signature, with its hashes checked against the slice (`None`: unsigned).
    pub signature: Option<Signature>,
    pub binding: Binding,
    /// Every imported symbol and where dyld looks it up.
    pub imports: Vec<(String, Lookup)>,
    /// The names the slice exports.
    pub exports: Vec<String>,
    /// `LC_BUILD_VERSION`'s minimum macOS as (major, minor), when it has one.
    pub minos: Option<(u16, u8)>,
}

/// Reads every 64-bit slice of a Mach-O file (`Ok(empty)`: not one); malformed bytes are an
/// error, never a panic.
pub fn inspect_macho(bytes: &[u8]) -> Result<Vec<SliceFacts>, Malformed> {
    let mut out = Vec::new();
    for slice_bytes in macho::slices(bytes)? {
        let slice = Slice::parse(slice_bytes)?;
        let signature = match slice.code_signature {
            Some((offset, size)) => Some(codesign::read(slice_bytes, offset, size)?),
            None => None,
        };
        out.push(SliceFacts {
            arch: arch_of_cputype(slice.cputype),
            filetype: slice.filetype,
            signature,
            binding: slice.binding,
            imports: slice.imports(slice_bytes)?,
            exports: slice.exported(slice_bytes)?,
            minos: slice.minos,
        });
    }
    Ok(out)
}
