//! Arbitrary bytes through custody-sbom's parser of dpkg status database, dpkg file lists and md5sums: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::dpkg_status(data);
});
