//! PEP 503 normalisation is idempotent and leaves no separators but single inner `-`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msty_mlx_studio::distinfo::normalize;

fuzz_target!(|name: &str| {
    let once = normalize(name);
    assert_eq!(normalize(&once), once);
    assert!(!once.contains(['_', '.']) && !once.contains("--"));
    assert!(!once.starts_with('-') && !once.ends_with('-'));
});
