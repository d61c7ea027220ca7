//! Arbitrary bytes through custody-sbom's parser of Cargo.lock: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::cargo_lock(data);
});
