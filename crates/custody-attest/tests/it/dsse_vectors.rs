//! DSSE protocol vectors: ../shared/testdata/dsse (secure-systems-lab/dsse protocol.md "Test
//! Vectors" and go-securesystemslib dsse/sign_test.go; see its SOURCES.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custody_attest::{Envelope, EnvelopeError, PublicKey, SigningKey, load_public_key};
use custody_testkit::testdata_or_skip;
use pkcs8::EncodePrivateKey;
use serde_json::Value;

fn vectors(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("dsse/dsse-vectors.json")).unwrap()).unwrap()
}

/// Decimal string to 32 big-endian bytes (the spec gives the P-256 key in decimal).
fn decimal_to_be32(dec: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for digit in dec.bytes() {
        let mut carry = u32::from(digit - b'0');
        for byte in out.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "overflow");
    }
    out
}

#[test]
fn pae_vectors_match_sigstore_types_pae() {
    let dir = testdata_or_skip!();
    let v = vectors(&dir);
    let cases = v["pae"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let pae = sigstore_types::pae(
            case["payloadType"].as_str().unwrap(),
            case["payload_utf8"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(
            hex::encode(&pae),
            case["pae_hex"].as_str().unwrap(),
            "{}",
            case["source"]
        );
        assert_eq!(pae, case["pae_utf8"].as_str().unwrap().as_bytes());
    }
}

#[test]
fn spec_envelope_verifies_with_the_spec_p256_key_and_the_tampered_one_does_not() {
    let dir = testdata_or_skip!();
    let key = load_public_key(
        &dir.join("dsse/spec-hello-world.p256.pub.pem")
            .display()
            .to_string()
            .parse()
            .unwrap(),
    )
    .unwrap();
    let env = Envelope::from_json(
        &std::fs::read(dir.join("dsse/spec-hello-world.envelope.json")).unwrap(),
    )
    .unwrap();
    let verified = env.verify(std::slice::from_ref(&key), 1).unwrap();
    assert_eq!(verified.payload(), b"hello world");
    assert_eq!(verified.payload_type(), "http://example.com/HelloWorld");
    assert_eq!(verified.signers(), &[key.key_id()]);

    let tampered = Envelope::from_json(
        &std::fs::read(dir.join("dsse/derived-spec-hello-world.wrong-payload.envelope.json"))
            .unwrap(),
    )
    .unwrap();
    let err = tampered.verify(&[key], 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("0 of 1 required signatures verify"),
        "{err}"
    );
}

#[test]
fn signing_the_spec_vector_reproduces_its_signature() {
    let dir = testdata_or_skip!();
    let v = vectors(&dir);
    let case = &v["signing"][0];
    let d = decimal_to_be32(case["key"]["d_dec"].as_str().unwrap());
    let p256_key = p256::ecdsa::SigningKey::from_slice(&d).unwrap();
    let pem = p256_key.to_pkcs8_pem(pkcs8::LineEnding::LF).unwrap();
    let key = SigningKey::from_pem(&pem, None).unwrap();
    let spec_pub = load_public_key(
        &dir.join("dsse/spec-hello-world.p256.pub.pem")
            .display()
            .to_string()
            .parse()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        key.key_id(),
        spec_pub.key_id(),
        "d matches the published X/Y"
    );

    let payload = STANDARD
        .decode(case["payload_b64"].as_str().unwrap())
        .unwrap();
    let env = Envelope::sign(
        case["payloadType"].as_str().unwrap(),
        payload,
        &[&key],
        custody_attest::KeyIdHint::Empty,
    );
    // custody writes DER (as securesystemslib and cosign do); the spec shows raw r||s.
    let der = env.signatures()[0].sig();
    let sig = p256::ecdsa::Signature::from_der(der).unwrap();
    assert_eq!(
        STANDARD.encode(sig.to_bytes()),
        case["expected_sig_b64"].as_str().unwrap(),
        "RFC 6979 signing reproduces the spec's signature"
    );
    assert!(env.verify(&[spec_pub], 1).is_ok());
}

#[test]
fn base64_cases_follow_go_securesystemslib() {
    let dir = testdata_or_skip!();
    let v = vectors(&dir);
    let b64 = &v["payload_base64_decoding"];
    let want = hex::decode(b64["want_hex"].as_str().unwrap()).unwrap();
    for case in b64["cases"].as_array().unwrap() {
        let json = format!(
            r#"{{"payload":"{}","payloadType":"t","signatures":[{{"sig":"c2ln"}}]}}"#,
            case["input"].as_str().unwrap()
        );
        let result = Envelope::from_json(json.as_bytes());
        let expect = case["expect"].as_str().unwrap();
        if expect == "OK" {
            let env = result.unwrap_or_else(|e| panic!("{}: {e}", case["alphabet"]));
            assert_eq!(env.payload_unverified(), want.as_slice());
        } else {
            assert!(
                matches!(result, Err(EnvelopeError::Base64 { .. })),
                "{} must be refused",
                case["alphabet"]
            );
        }
    }
}

fn canonical_signed(link: &Value) -> Vec<u8> {
    // The `signed` objects of these links have sorted keys and only strings and empty
    // containers, so serde_json's compact output is their canonical JSON.
    serde_json::to_vec(&link["signed"]).unwrap()
}

#[test]
fn go_securesystemslib_keys_have_the_published_key_ids_and_verify_their_links() {
    let dir = testdata_or_skip!().join("dsse/go-securesystemslib");
    for (pem, json, link, keyid) in [
        (
            "ed25519-test-key-pem.pub",
            "ed25519-test-key.pub",
            "test-ed25519.52e3b8e7.link",
            "52e3b8e73279d6ebdd62a5016e2725ff284f569665eb92ccb145d83817a02997",
        ),
        (
            "ecdsa-test-key-pem.pub",
            "ecdsa-test-key.pub",
            "test-ecdsa.98adf386.link",
            "98adf38602c48c5479e9a991ee3f8cbf541ee4f985e00f7a5fc4148d9a45b704",
        ),
    ] {
        let from_pem =
            PublicKey::from_text(&std::fs::read_to_string(dir.join(pem)).unwrap()).unwrap();
        let from_json =
            PublicKey::from_text(&std::fs::read_to_string(dir.join(json)).unwrap()).unwrap();
        assert_eq!(from_pem, from_json, "{pem} and {json} are the same key");
        // These keys carry the legacy keyid_hash_algorithms member; the hint still matches.
        assert!(from_pem.matches_hint(keyid), "{pem} is known by {keyid}");
        let link: Value = serde_json::from_slice(&std::fs::read(dir.join(link)).unwrap()).unwrap();
        let sig = hex::decode(link["signatures"][0]["sig"].as_str().unwrap()).unwrap();
        assert_eq!(link["signatures"][0]["keyid"], keyid);
        assert!(
            from_pem.verify(&canonical_signed(&link), &sig),
            "{pem} verifies its link"
        );
        assert!(!from_pem.verify(b"something else", &sig));
    }
}

#[test]
fn go_securesystemslib_ed25519_private_key_reproduces_its_link_signature() {
    let dir = testdata_or_skip!().join("dsse/go-securesystemslib");
    let key: Value =
        serde_json::from_slice(&std::fs::read(dir.join("ed25519-test-key")).unwrap()).unwrap();
    let seed: [u8; 32] = hex::decode(key["keyval"]["private"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pem = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(pkcs8::LineEnding::LF)
        .unwrap();
    let signer = SigningKey::from_pem(&pem, None).unwrap();
    assert_eq!(
        hex::encode(signer.public_key().spki_der().get(12..).unwrap()),
        key["keyval"]["public"].as_str().unwrap()
    );
    let link: Value =
        serde_json::from_slice(&std::fs::read(dir.join("test-ed25519.52e3b8e7.link")).unwrap())
            .unwrap();
    assert_eq!(
        hex::encode(signer.sign(&canonical_signed(&link))),
        link["signatures"][0]["sig"].as_str().unwrap(),
        "ed25519 is deterministic: re-signing reproduces the published signature"
    );
}
