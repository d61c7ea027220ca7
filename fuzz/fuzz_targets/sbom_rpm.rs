//! Arbitrary bytes through custody-sbom's parser of RPM header blobs and rpmdb.sqlite through SQLite: warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::rpm(data);
});
