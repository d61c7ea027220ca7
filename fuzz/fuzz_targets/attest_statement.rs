//! in-toto statement and predicate reading (custody-attest): the fuzzed bytes are signed with
//! a fixed key as an in-toto payload, verified, and read through every checked accessor.
//! Never a panic; whatever an accessor accepts re-serializes and is read back the same.
#![no_main]

use std::sync::OnceLock;

use custody_attest::{
    Attestation, CheckedStatement, Envelope, KeyIdHint, SigningKey, sign_statement,
};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&[7; 32]);
        SigningKey::from_pkcs8_der(&der).expect("a fixed valid key")
    })
}

fuzz_target!(|data: &[u8]| {
    let env = Envelope::sign(
        custody_types::media_types::IN_TOTO_JSON,
        data.to_vec(),
        &[key()],
        KeyIdHint::Custody,
    );
    let Ok(verified) = env.verify(&[key().public_key().clone()], 1) else {
        panic!("a fresh signature must verify");
    };
    let Ok(checked) = CheckedStatement::try_from(&verified) else {
        return;
    };
    let _ = checked.subjects();
    let _ = (checked.layer(), checked.provenance(), checked.review());
    let _ = (checked.scan(), checked.vex(), checked.decision());
    if let Ok(att) = checked.attestation() {
        // Re-sign the statement as parsed: it must read back as the same attestation.
        let again = sign_statement(checked.statement(), key(), KeyIdHint::Custody);
        let v = again
            .verify(&[key().public_key().clone()], 1)
            .expect("fresh signature");
        let back = CheckedStatement::try_from(&v).and_then(|c| c.attestation());
        if !matches!(att, Attestation::Other(_)) {
            assert_eq!(back.ok(), Some(att));
        }
    }
});
