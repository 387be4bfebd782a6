//! The two tables dyld binds imports from: `LC_DYLD_INFO_ONLY`'s bind opcodes and
//! `LC_DYLD_CHAINED_FIXUPS`' import table, read for (symbol, library ordinal) only.
//!
//! Format: XNU `EXTERNAL_HEADERS/mach-o/loader.h` (`BIND_OPCODE_*`) and `fixup-chains.h`.
//! Ordinals: > 0 a load command, 0 the image itself, -1 the main executable, -2 flat lookup,
//! -3 weak lookup.

use crate::macho::{Malformed, le32};

const BIND_OPCODE_MASK: u8 = 0xf0;
const BIND_IMMEDIATE_MASK: u8 = 0x0f;
const BIND_OPCODE_DONE: u8 = 0x00;
const BIND_OPCODE_SET_DYLIB_ORDINAL_IMM: u8 = 0x10;
const BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB: u8 = 0x20;
const BIND_OPCODE_SET_DYLIB_SPECIAL_IMM: u8 = 0x30;
const BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM: u8 = 0x40;
const BIND_OPCODE_SET_TYPE_IMM: u8 = 0x50;
const BIND_OPCODE_SET_ADDEND_SLEB: u8 = 0x60;
const BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB: u8 = 0x70;
const BIND_OPCODE_ADD_ADDR_ULEB: u8 = 0x80;
const BIND_OPCODE_DO_BIND: u8 = 0x90;
const BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB: u8 = 0xa0;
const BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED: u8 = 0xb0;
const BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB: u8 = 0xc0;
const BIND_OPCODE_THREADED: u8 = 0xd0;
const BIND_SUBOPCODE_THREADED_SET_BIND_ORDINAL_TABLE_SIZE_ULEB: u8 = 0x00;

/// Appends each bound (symbol, ordinal) of a bind-opcode stream to `out`.
pub fn bind_opcodes(data: &[u8], out: &mut Vec<(String, i32)>) -> Result<(), Malformed> {
    let mut at = 0usize;
    let mut ordinal = 0i32;
    let mut name = String::new();
    while at < data.len() {
        let byte = data[at];
        at += 1;
        let imm = byte & BIND_IMMEDIATE_MASK;
        match byte & BIND_OPCODE_MASK {
            BIND_OPCODE_DONE | BIND_OPCODE_SET_TYPE_IMM => {}
            BIND_OPCODE_SET_DYLIB_ORDINAL_IMM => ordinal = i32::from(imm),
            BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB => ordinal = i32::try_from(uleb(data, &mut at)?).unwrap_or(i32::MAX),
            // The immediate is a negative number in 4 bits (0 stays 0: the image itself).
            BIND_OPCODE_SET_DYLIB_SPECIAL_IMM => ordinal = if imm == 0 { 0 } else { i32::from((imm | 0xf0) as i8) },
            BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM => {
                let rest = &data[at..];
                let end = rest.iter().position(|b| *b == 0).ok_or_else(|| bad("a symbol name is not terminated"))?;
                name = String::from_utf8_lossy(&rest[..end]).into_owned();
                at += end + 1;
            }
            BIND_OPCODE_SET_ADDEND_SLEB | BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB | BIND_OPCODE_ADD_ADDR_ULEB => {
                uleb(data, &mut at)?;
            }
            BIND_OPCODE_DO_BIND | BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED => out.push((name.clone(), ordinal)),
            BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB => {
                uleb(data, &mut at)?;
                out.push((name.clone(), ordinal));
            }
            BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB => {
                uleb(data, &mut at)?;
                uleb(data, &mut at)?;
                out.push((name.clone(), ordinal));
            }
            BIND_OPCODE_THREADED if imm == BIND_SUBOPCODE_THREADED_SET_BIND_ORDINAL_TABLE_SIZE_ULEB => {
                uleb(data, &mut at)?;
            }
            BIND_OPCODE_THREADED => {}
            other => return Err(bad(&format!("unknown bind opcode {other:#x} at byte {}", at - 1))),
        }
    }
    Ok(())
}

/// The (symbol, ordinal) of every entry of a chained-fixups import table.
pub fn chained_imports(data: &[u8]) -> Result<Vec<(String, i32)>, Malformed> {
    let imports_offset = le32(data, 8)? as usize;
    let symbols_offset = le32(data, 12)? as usize;
    let count = le32(data, 16)? as usize;
    let format = le32(data, 20)?;
    let (entry, wide) = match format {
        1 => (4, false),
        2 => (8, false),
        3 => (16, true),
        other => return Err(bad(&format!("unknown chained-import format {other}"))),
    };
    let symbols = data.get(symbols_offset..).ok_or_else(|| bad("the chained-fixups symbol table lies outside"))?;
    let mut out = Vec::new();
    for i in 0..count.min(data.len()) {
        let at = imports_offset.saturating_add(i.saturating_mul(entry));
        let (ordinal, name_offset) = if wide {
            let low = le32(data, at)?;
            (i32::from((low & 0xffff) as u16 as i16), le32(data, at.saturating_add(4))? as usize)
        } else {
            let v = le32(data, at)?;
            (i32::from((v & 0xff) as u8 as i8), (v >> 9) as usize)
        };
        let name = symbols.get(name_offset..).ok_or_else(|| bad("a chained import's name lies outside"))?;
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        out.push((String::from_utf8_lossy(&name[..end]).into_owned(), ordinal));
    }
    Ok(out)
}

fn uleb(data: &[u8], at: &mut usize) -> Result<u64, Malformed> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *data.get(*at).ok_or_else(|| bad("a ULEB128 number runs past the end"))?;
        *at += 1;
        if shift < 64 {
            value |= u64::from(byte & 0x7f) << shift;
        }
        shift = shift.saturating_add(7);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

fn bad(what: &str) -> Malformed {
    Malformed(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_two_level_binds_are_told_apart() {
        let mut data = vec![BIND_OPCODE_SET_DYLIB_SPECIAL_IMM | 0x0e, BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM];
        data.extend(b"_PyBool_Type\0");
        data.extend([BIND_OPCODE_DO_BIND, BIND_OPCODE_SET_DYLIB_ORDINAL_IMM | 2, 0x40]);
        data.extend(b"_PyLong_FromLong\0");
        data.extend([BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB, 0x81, 0x01, 0x02, BIND_OPCODE_DONE]);
        let mut out = Vec::new();
        bind_opcodes(&data, &mut out).unwrap();
        assert_eq!(out, [("_PyBool_Type".to_string(), -2), ("_PyLong_FromLong".to_string(), 2)]);
        assert!(bind_opcodes(&[BIND_OPCODE_ADD_ADDR_ULEB, 0x80], &mut out).is_err());
        assert!(bind_opcodes(&[0xe0], &mut out).is_err());
    }
}
