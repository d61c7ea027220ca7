//! Entry proof files and proof verification (custody-log): any bytes as a proof file,
//! verified against a fixed log key, plus the raw RFC 9162 verifiers on fuzzer-chosen sizes
//! and hashes. Must never panic.
#![no_main]

use custody_log::{EntryProof, KeyName, SignerKey, verify_consistency_bytes, verify_inclusion_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = KeyName::new("ledger.custody.example/log") {
        let key = SignerKey::from_seed(name, &[0x42; 32]).verifier();
        if let Ok(proof) = EntryProof::from_json(data) {
            let _ = proof.verify(None, &key);
            let _ = proof.verify(Some(data), &key);
            let _ = EntryProof::from_json(proof.to_json().as_bytes());
        }
    }
    // Raw verification: two sizes, then 32-byte chunks (root(s), leaf, path).
    if data.len() >= 16 {
        let a = u64::from_le_bytes(data[..8].try_into().unwrap_or_default());
        let b = u64::from_le_bytes(data[8..16].try_into().unwrap_or_default());
        let chunks: Vec<&[u8]> = data[16..].chunks(32).collect();
        if chunks.len() >= 2 {
            let _ = verify_inclusion_bytes(chunks[0], a, b, &chunks[2.min(chunks.len())..], chunks[1]);
            let _ = verify_consistency_bytes(a, b, &chunks[2.min(chunks.len())..], chunks[0], chunks[1]);
        }
    }
});
