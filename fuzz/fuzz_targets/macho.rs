//! Our Mach-O readers never panic on malformed bytes: the slice and load-command reader, the
//! bind-opcode and chained-fixups readers, and the code-signature reader (`inspect_macho`),
//! goblin's reader as `verify` uses it (`native_info`), and the BER/CMS reader of a
//! signature's certificate and time-stamp token (`read_cms`, also given the bytes directly:
//! a fuzzer rarely builds a SuperBlob that reaches it).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(slices) = msty_mlx_verify::inspect_macho(data) {
        for slice in slices {
            if let Some(signature) = slice.signature {
                for cd in &signature.directories {
                    assert!(cd.mismatched_pages.as_ref().is_none_or(|p| p.len() as u64 <= cd.code_limit.max(1)));
                }
            }
        }
    }
    let _ = msty_mlx_verify::native_info(data);
    let _ = msty_mlx_verify::read_cms(data);
});
