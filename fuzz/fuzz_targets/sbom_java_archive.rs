//! Arbitrary bytes through custody-sbom's parser of Java archives: zip, nested archives, pom.properties, MANIFEST.MF: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::java_archive(data);
});
