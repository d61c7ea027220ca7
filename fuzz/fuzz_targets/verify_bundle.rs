//! Bundle parsing and a full verification of whatever parses: never a panic, and never an
//! allow (the fuzzer cannot forge the fixed policy's signatures).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn policy() -> &'static custody_verify::Policy {
    static POLICY: OnceLock<custody_verify::Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let key = |seed: u8| {
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            der.extend_from_slice(&[seed; 32]);
            custody_attest::SigningKey::from_pkcs8_der(&der)
                .map(|k| k.public_key().to_spki_pem())
                .unwrap_or_default()
        };
        let text = "version: 1\nlog_key: log.pub\nlog_origin: custody.fuzz/log\nroles:\n  base-library: [1]\n  builder: [2]\n  scanner: [3]\n  reviewer: [4, 5]\nrules:\n  ledger: {accept_bundles: true}\n  config: {forbidden_packages: [telnetd]}\n";
        let mut load = |p: &str| -> Result<String, String> {
            Ok(match p {
                "log.pub" => key(9),
                n => key(n.parse::<u8>().unwrap_or(1)),
            })
        };
        match custody_verify::Policy::parse(text, &mut load) {
            Ok(p) => p,
            Err(e) => panic!("fuzz policy must parse: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = custody_verify::Bundle::parse(data) else {
        return;
    };
    let ev = &bundle.evidence;
    let Some(manifest) = ev.blob(&bundle.image) else {
        return;
    };
    for (digest, blob) in ev.blobs() {
        if let Ok(facts) = custody_verify::ImageFacts::from_blobs(&bundle.image, &manifest.data, &blob.data) {
            let _ = digest;
            let cx = custody_verify::Context {
                now: jiff::Timestamp::UNIX_EPOCH,
                trusted: None,
            };
            let decision = custody_verify::verify(policy(), &facts, ev, &cx);
            assert!(!decision.allowed, "a fuzzed bundle was allowed");
        }
    }
});
