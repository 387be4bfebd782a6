//! The METADATA reader never panics; what it accepts has a name and a version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msty_mlx_distinfo::Metadata;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Metadata::parse(text) {
        assert!(!m.name.is_empty() && !m.version.is_empty());
        assert!(m.requires_dist.iter().all(|r| text.contains(r.lines().next().unwrap_or(""))));
    }
});
