//! Arbitrary bytes through custody-sbom's parser of Python core metadata (METADATA, PKG-INFO): warnings, never a panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    custody_sbom::fuzzing::python_metadata(data);
});
