//! The CycloneDX component reader on untrusted bytes, and the matcher's preparation of each
//! component (purl parsing, source packages, version parsing): never a panic.
#![no_main]

use custody_vuln::cyclonedx::read_cyclonedx;
use custody_vuln::{AdvisoryDb, Distro, target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = read_cyclonedx(data) else { return };
    let distro = Distro::of(&doc);
    for c in &doc.components {
        let _ = target(c, distro.as_ref());
    }
    let record = br#"{"id":"OSV-FUZZ-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1.0.0"]}]}"#;
    let db = AdvisoryDb::from_records(vec![("fuzz".to_owned(), record.to_vec())]);
    let _ = db.scan(&doc);
});
