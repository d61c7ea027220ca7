//! Bad input: each refused with a clear reason naming the thing, never a panic or a hang.

use custody_attest::{
    Envelope, EnvelopeError, EnvelopeFileError, KeyError, KeyIdHint, KeySource, KeyType, Limits,
    PublicKey, SigningKey, load_public_key, load_signing_key, parse_bundle, read_envelope_file,
};
use custody_testkit::testdata_or_skip;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name)
}

#[test]
fn rsa_keys_are_refused_by_name() {
    let err = load_signing_key(&KeySource::File(fixture("rsa-1024.pkcs8.pem")), None).unwrap_err();
    assert!(matches!(err.reason, KeyError::Rsa));
    let msg = err.to_string();
    assert!(
        msg.starts_with("key ") && msg.contains("rsa-1024.pkcs8.pem is an RSA key"),
        "{msg}"
    );
    let rsa_legacy = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        SigningKey::from_pem(rsa_legacy, None),
        Err(KeyError::Rsa)
    ));
}

#[test]
fn rsa_public_keys_are_refused() {
    let dir = testdata_or_skip!();
    let err = load_public_key(&KeySource::File(
        dir.join("intoto/in-toto-golang-demo/alice.pub"),
    ))
    .unwrap_err();
    assert!(matches!(err.reason, KeyError::Rsa), "{err}");
}

#[test]
fn corrupt_and_foreign_key_files_are_refused() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let pem = key.to_pkcs8_pem(None).unwrap().to_string();
    let mut corrupt = pem.clone();
    corrupt.replace_range(40..44, "!!!!");
    let truncated = pem[..pem.len() / 2].to_owned();
    let wrong_body = String::from("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    for (text, want) in [
        (corrupt.as_str(), "is not a PEM key"),
        (truncated.as_str(), "is not a PEM key"),
        ("hello", "is not a PEM key"),
        (wrong_body.as_str(), "is corrupt"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "OpenSSH",
        ),
        (
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "SEC1 EC",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "PEM label \"CERTIFICATE\"",
        ),
    ] {
        let err = SigningKey::from_pem(text, None).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: got {err:?}, want {want:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.key");
    std::fs::write(&big, vec![b'A'; 100_000]).unwrap();
    let err = load_signing_key(&KeySource::File(big), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than any key"), "{err}");
    let missing =
        load_signing_key(&KeySource::File(dir.path().join("nope.key")), None).unwrap_err();
    assert!(
        missing.to_string().contains("nope.key cannot be read"),
        "{missing}"
    );
}

#[test]
fn key_type_mismatch_names_both_types() {
    let key = SigningKey::generate(KeyType::P256).unwrap();
    let err = key.expect_type(KeyType::Ed25519).unwrap_err();
    assert_eq!(err.to_string(), "is an p256 key, not ed25519 as requested");
}

#[test]
fn encrypted_keys_without_or_with_a_wrong_password_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enc.key");
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    std::fs::write(&path, key.to_pkcs8_pem(Some(b"pw")).unwrap().as_bytes()).unwrap();
    let source = KeySource::File(path);
    let err = load_signing_key(&source, None).unwrap_err().to_string();
    assert!(
        err.ends_with("enc.key is encrypted and no password was given (set CUSTODY_KEY_PASSWORD)"),
        "{err}"
    );
    let err = load_signing_key(&source, Some(b"nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("enc.key cannot be decrypted: wrong password or corrupt key"),
        "{err}"
    );
}

#[test]
fn public_keys_cannot_sign_and_private_keys_cannot_verify() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    assert!(matches!(
        SigningKey::from_pem(&key.public_key().to_spki_pem(), None),
        Err(KeyError::PublicKeyForSigning)
    ));
    assert!(matches!(
        PublicKey::from_text(&key.to_pkcs8_pem(None).unwrap()),
        Err(KeyError::PrivateKeyForVerifying)
    ));
}

#[test]
fn tampered_payloads_and_signatures_do_not_verify() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let env = Envelope::sign(
        "text/plain",
        b"payload".to_vec(),
        &[&key],
        KeyIdHint::default(),
    );
    let mut v: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
    v["payload"] = base64_of(b"payloaD").into();
    let tampered = Envelope::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(tampered.verify(&[key.public_key().clone()], 1).is_err());
    let mut v: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
    v["payloadType"] = "application/vnd.in-toto+json".into();
    let retyped = Envelope::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(
        retyped.verify(&[key.public_key().clone()], 1).is_err(),
        "the type is signed too"
    );
}

#[test]
fn a_100_mb_payload_is_a_clear_error_not_an_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    // A sparse file: 100 MB on paper, refused from its size before a byte is read.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(140 * 1024 * 1024).unwrap();
    let err = read_envelope_file(&path, &Limits::default()).unwrap_err();
    assert!(matches!(
        err,
        EnvelopeFileError::Invalid {
            source: EnvelopeError::TooLarge { .. },
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("huge.json") && msg.contains("over the"),
        "{msg}"
    );

    // And in memory: a 100 MB payload is refused from the length of the JSON, before parsing.
    let payload = "A".repeat(100 * 1024 * 1024 / 3 * 4);
    let json =
        format!(r#"{{"payload":"{payload}","payloadType":"t","signatures":[{{"sig":"c2ln"}}]}}"#);
    let err = Envelope::from_json(json.as_bytes()).unwrap_err();
    assert!(matches!(err, EnvelopeError::TooLarge { .. }), "{err}");
}

#[test]
fn envelopes_with_many_or_oversized_signatures_are_refused() {
    let sigs: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"sig":"{}"}}"#, base64_of(&[i as u8; 64])))
        .collect();
    let json = format!(
        r#"{{"payload":"","payloadType":"t","signatures":[{}]}}"#,
        sigs.join(",")
    );
    let err = Envelope::from_json(json.as_bytes()).unwrap_err();
    assert!(
        matches!(err, EnvelopeError::TooManySignatures { count: 100, .. }),
        "{err}"
    );
    let json = format!(
        r#"{{"payload":"","payloadType":"t","signatures":[{{"sig":"{}"}}]}}"#,
        base64_of(&[7; 4096])
    );
    assert!(matches!(
        Envelope::from_json(json.as_bytes()),
        Err(EnvelopeError::BadSignatureLength { .. })
    ));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn in_toto_links_are_parsed_but_are_not_statements() {
    let dir = testdata_or_skip!().join("intoto/in-toto-golang-demo");
    for name in [
        "clone-dsse.776a00e2.link",
        "package-dsse.2f89b927.link",
        "dsse-only.root.layout",
    ] {
        let env = Envelope::from_json(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        assert_eq!(env.payload_type(), "application/vnd.in-toto+json");
        let err = custody_attest::parse_statement(env.payload_unverified()).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not https://in-toto.io/Statement/v1"),
            "{name}: {err}"
        );
    }
}

#[test]
fn garbage_bundles_are_refused() {
    for bytes in [
        &b""[..],
        b"{}",
        b"[]",
        b"{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}",
        &[0xff, 0xfe],
    ] {
        assert!(parse_bundle(bytes, &Limits::default()).is_err());
    }
}
