//! An OSV record from untrusted bytes: parsing, checking, indexing and evaluating it against
//! versions of its ecosystem must never panic.
#![no_main]

use custody_vuln::version::Version;
use custody_vuln::{AdvisoryDb, Verdict, parse_record};
use libfuzzer_sys::fuzz_target;

const PROBES: &[&str] = &["0", "1", "1.0", "1.0.0", "1.0.0-rc.1", "2.36-9+deb12u14", "1:1.0-1", "1.0-r0", "1.0_rc1", "v1.2.3", "1.0a1", "1.0-SNAPSHOT"];

fuzz_target!(|data: &[u8]| {
    if let Ok((advisory, _warnings)) = parse_record(data, "fuzz") {
        let _ = advisory.package_keys();
        for entry in &advisory.affected {
            let _ = entry.severity(&advisory);
            for probe in PROBES {
                if let Ok(v) = Version::parse(entry.key.ecosystem.scheme(), probe) {
                    match entry.evaluate(&v) {
                        Verdict::Affected { .. } | Verdict::NotAffected | Verdict::Indeterminate(_) => {}
                    }
                }
            }
        }
    }
    let db = AdvisoryDb::from_records(vec![("fuzz".to_owned(), data.to_vec())]);
    let _ = db.check_all();
    let _ = db.warnings();
});
