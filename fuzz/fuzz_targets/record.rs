//! The hand RECORD reader never panics, and every path it returns is a substring's worth of
//! the input (no invented bytes beyond unescaped quotes).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for path in msty_mlx_distinfo::record_paths(text) {
            assert!(!path.is_empty());
            assert!(path.len() <= text.len());
        }
    }
});
