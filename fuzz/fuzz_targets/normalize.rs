//! PEP 503 normalisation is idempotent; what it changes comes out as a normalised name (ASCII
//! lowercase and digits, single inner `-`); what is no valid name it leaves as it is; the
//! allocation-free comparison agrees with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msty_mlx_distinfo::{normalize, normalizes_to};

fuzz_target!(|name: &str| {
    let once = normalize(name);
    assert_eq!(normalize(&once), once);
    assert!(normalizes_to(name, &once));
    if once != name {
        assert!(once.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert!(!once.contains("--") && !once.starts_with('-') && !once.ends_with('-'));
    }
});
