//! Arbitrary bytes through custody-sbom's parser of DEP-5 copyright files and the licence mapping: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::copyright(data);
});
