//! Arbitrary bytes through custody-sbom's parser of ELF binaries: cargo-auditable sections and Go build info: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::binary(data);
});
