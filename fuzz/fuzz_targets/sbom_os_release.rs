//! Arbitrary bytes through custody-sbom's parser of os-release: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::os_release(data);
});
