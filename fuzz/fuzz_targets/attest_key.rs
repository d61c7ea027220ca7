//! Key and PEM loading (custody-attest): private keys (plain and encrypted PKCS#8), public keys
//! (SPKI PEM, securesystemslib JSON). Never a panic, never a hang: encryption parameters are
//! bounded before any key derivation.
#![no_main]

use custody_attest::{PublicKey, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let password: Option<&[u8]> = if first & 1 == 1 {
        Some(b"password")
    } else {
        None
    };
    if let Ok(key) = SigningKey::from_pem(text, password) {
        let public = key.public_key();
        assert!(public.verify(b"message", &key.sign(b"message")));
        let pem = key.to_pkcs8_pem(None).expect("encoding a valid key");
        assert_eq!(
            SigningKey::from_pem(&pem, None).map(|k| k.key_id()).ok(),
            Some(key.key_id())
        );
    }
    if let Ok(public) = PublicKey::from_text(text) {
        let again = PublicKey::from_text(&public.to_spki_pem()).expect("re-encoded key");
        assert_eq!(again.key_id(), public.key_id());
        let _ = public.securesystemslib_keyid();
        let _ = public.verify(b"m", rest);
    }
});
