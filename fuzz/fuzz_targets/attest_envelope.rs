//! DSSE envelope and Sigstore bundle parsing and verification (custody-attest): never a
//! panic, and never a valid verification (the fuzzer cannot forge the fixed keys' signatures).
#![no_main]

use std::sync::OnceLock;

use custody_attest::{Envelope, Limits, PublicKey, SigningKey, parse_bundle};
use libfuzzer_sys::fuzz_target;

/// An ed25519 PKCS#8 v1 key from a fixed seed.
fn ed25519(seed: u8) -> SigningKey {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[seed; 32]);
    SigningKey::from_pkcs8_der(&der).expect("a fixed valid key")
}

fn keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            ed25519(1).public_key().clone(),
            ed25519(2).public_key().clone(),
        ]
    })
}

fn limits() -> Limits {
    // Small limits so the fuzzer explores the limit paths too.
    Limits {
        max_payload_bytes: 64 * 1024,
        max_signatures: 8,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_json_with(data, &limits()) {
        // Canonical JSON round-trips to the same checked envelope.
        let again = Envelope::from_json_with(&env.to_json(), &limits());
        assert_eq!(again.as_ref().ok(), Some(&env));
        for threshold in [1, 2] {
            assert!(
                env.verify(keys(), threshold).is_err(),
                "forged signature accepted"
            );
        }
        let _ = custody_attest::parse_statement(env.payload_unverified());
    }
    if let Ok(bundle) = parse_bundle(data, &limits()) {
        assert!(bundle.verify_dsse(keys(), 1).is_err());
        assert!(bundle.verify_artifact(b"a.txt", keys()).is_err());
    }
});
