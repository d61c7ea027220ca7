//! Signed-note parsing and verification (custody-log): any bytes, parsed as a note and as a
//! signed checkpoint, verified against fixed keys. Must never panic.
#![no_main]

use custody_log::{KeyName, Note, SignedCheckpoint, SignerKey, VerifierKey, open_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The C2SP example key and a key whose name the fuzzer can find in seeds.
    let mut keys: Vec<VerifierKey> = Vec::new();
    if let Ok(k) = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".parse() {
        keys.push(k);
    }
    if let Ok(name) = KeyName::new("custody.example/log") {
        keys.push(SignerKey::from_seed(name, &[7; 32]).verifier());
    }
    if let Ok(note) = Note::parse(data) {
        let text = note.unverified_text();
        assert!(text.ends_with('\n'));
        assert!(!note.signatures().is_empty());
        if let Ok(v) = note.verify(&keys) {
            assert_eq!(v.text(), text);
            assert!(!v.verified().is_empty());
        }
    }
    let _ = open_note(data, &keys);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(signed) = SignedCheckpoint::parse(s) {
            let _ = signed.unverified_checkpoint();
            for k in &keys {
                let _ = signed.verify(k);
            }
        }
        let _ = s.parse::<VerifierKey>();
        let _ = SignerKey::from_private_key(s);
    }
});
