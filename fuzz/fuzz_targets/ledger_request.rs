//! The ledger's request parsers: a submission body (one envelope or a batch) down to checked
//! DSSE envelopes and their canonical bytes, and a search query string.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelopes) = custody_ledger::Submission::parse(data) {
        for e in envelopes {
            if let Ok(env) = custody_attest::Envelope::from_wire(e.into(), &Default::default()) {
                let _ = custody_attest::parse_statement(env.payload_unverified());
                let again = custody_ledger::canonical_bytes(&env.to_json()).ok();
                assert_eq!(
                    again,
                    Some(env.to_json()),
                    "canonical bytes are a fixed point"
                );
            }
        }
    }
    if let Ok(q) = std::str::from_utf8(data) {
        let _ = custody_ledger::parse_search_query(q);
    }
});
