//! Interoperability with the Python reference implementation (securesystemslib, via
//! ../shared/tools/interop): envelopes custody signs verify there (keyid-strict), and
//! envelopes it signs verify here. Skipped with one line when the interop venv is absent.

use std::path::Path;
use std::process::Command;

use custody_attest::{
    Envelope, KeyIdHint, KeySource, KeyType, SigningKey, load_public_key, sign_statement,
};
use custody_testkit::interop;

use crate::common::{diff_ids, layer};

fn run(python: &Path, script: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn custody_envelopes_verify_with_securesystemslib_strict_keyid() {
    let Some((python, tools)) = interop(module_path!()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for kt in [KeyType::Ed25519, KeyType::P256] {
        let key = SigningKey::generate(kt).unwrap();
        let pub_path = dir.path().join(format!("{kt}.pub.pem"));
        std::fs::write(&pub_path, key.public_key().to_spki_pem()).unwrap();
        let env = sign_statement(
            &layer(&diff_ids(2), 1, true).statement(),
            &key,
            KeyIdHint::Securesystemslib,
        );
        let env_path = dir.path().join(format!("{kt}.intoto.json"));
        std::fs::write(&env_path, env.to_json()).unwrap();
        let (ok, out) = run(
            &python,
            &tools.join("dsse_verify.py"),
            &[
                "--pub",
                pub_path.to_str().unwrap(),
                "--strict-keyid",
                env_path.to_str().unwrap(),
            ],
        );
        assert!(ok, "{kt}: {out}");
        assert!(
            out.contains("in-envelope=True"),
            "{kt}: securesystemslib found the key by keyid: {out}"
        );
        assert!(
            out.contains("sigstore-python Statement model: OK") || !out.contains("sigstore-python"),
            "{out}"
        );

        // With custody's own key ID as the hint, securesystemslib needs the non-strict mode.
        let env = sign_statement(
            &layer(&diff_ids(2), 1, false).statement(),
            &key,
            KeyIdHint::Custody,
        );
        std::fs::write(&env_path, env.to_json()).unwrap();
        let args = [
            "--pub",
            pub_path.to_str().unwrap(),
            env_path.to_str().unwrap(),
        ];
        let (ok, out) = run(&python, &tools.join("dsse_verify.py"), &args);
        assert!(ok, "{kt} custody keyid: {out}");

        // A tampered payload fails there too.
        let mut v: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
        v["payloadType"] = "application/x-other".into();
        std::fs::write(&env_path, serde_json::to_vec(&v).unwrap()).unwrap();
        let (ok, out) = run(&python, &tools.join("dsse_verify.py"), &args);
        assert!(!ok, "{kt} tampered: {out}");
    }
}

#[test]
fn securesystemslib_envelopes_verify_with_custody() {
    let Some((python, tools)) = interop(module_path!()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("sslib");
    let (ok, out) = run(
        &python,
        &tools.join("gen_key.py"),
        &[prefix.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let sslib_keyid = out.trim().to_owned();
    let statement = dir.path().join("statement.json");
    std::fs::write(
        &statement,
        custody_attest::statement_json(&layer(&diff_ids(1), 0, true).statement()),
    )
    .unwrap();
    let env_path = dir.path().join("env.json");
    let (ok, out) = run(
        &python,
        &tools.join("dsse_sign.py"),
        &[
            "--key",
            &format!("{}.pem", prefix.display()),
            statement.to_str().unwrap(),
            "-o",
            env_path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let env = Envelope::from_json(&std::fs::read(&env_path).unwrap()).unwrap();
    assert_eq!(env.signatures()[0].keyid(), sslib_keyid);
    for pub_file in ["pub.pem", "pub.json"] {
        let key = load_public_key(&KeySource::File(
            format!("{}.{pub_file}", prefix.display()).into(),
        ))
        .unwrap();
        assert_eq!(
            key.securesystemslib_keyid(),
            sslib_keyid,
            "custody computes the same keyid"
        );
        let verified = env.verify(&[key], 1).unwrap();
        let checked = custody_attest::CheckedStatement::try_from(&verified).unwrap();
        assert!(checked.layer().is_ok());
    }
    // securesystemslib's private key loads as a custody signing key, with the same identity.
    let signer = custody_attest::load_signing_key(
        &KeySource::File(format!("{}.pem", prefix.display()).into()),
        None,
    )
    .unwrap();
    assert_eq!(signer.public_key().securesystemslib_keyid(), sslib_keyid);

    // A P-256 key written by custody, used by securesystemslib (DER ECDSA signatures).
    let p256 = SigningKey::generate(KeyType::P256).unwrap();
    let key_path = dir.path().join("p256.key");
    std::fs::write(&key_path, p256.to_pkcs8_pem(None).unwrap().as_bytes()).unwrap();
    let (ok, out) = run(
        &python,
        &tools.join("dsse_sign.py"),
        &[
            "--key",
            key_path.to_str().unwrap(),
            "--payload-type",
            "text/plain",
            statement.to_str().unwrap(),
            "-o",
            env_path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let env = Envelope::from_json(&std::fs::read(&env_path).unwrap()).unwrap();
    let verified = env.verify(&[p256.public_key().clone()], 1).unwrap();
    assert_eq!(verified.payload_type(), "text/plain");
    assert!(
        p256.public_key().matches_hint(env.signatures()[0].keyid()),
        "custody knows python's ECDSA keyid"
    );
}

#[test]
fn encrypted_keys_interoperate_with_python_cryptography() {
    let Some((python, _tools)) = interop(module_path!()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Python encrypts (BestAvailableEncryption: PBES2 with PBKDF2-SHA256 and AES-256-CBC);
    // custody decrypts.
    let py_key = dir.path().join("py.key");
    let script = format!(
        "from cryptography.hazmat.primitives.asymmetric import ed25519, ec\n\
         from cryptography.hazmat.primitives import serialization as s\n\
         for name, k in (('ed', ed25519.Ed25519PrivateKey.generate()), ('ec', ec.generate_private_key(ec.SECP256R1()))):\n\
         \topen('{0}.' + name, 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(b'pw')))\n",
        py_key.display()
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (ext, kt) in [("ed", KeyType::Ed25519), ("ec", KeyType::P256)] {
        let source = KeySource::File(format!("{}.{ext}", py_key.display()).into());
        let key = custody_attest::load_signing_key(&source, Some(b"pw")).unwrap();
        assert_eq!(key.key_type(), kt);
        assert!(custody_attest::load_signing_key(&source, Some(b"no")).is_err());
    }
    // custody writes (plain, and encrypted with PBES2: scrypt and AES-256-CBC); Python reads
    // and derives the same public key.
    for kt in [KeyType::Ed25519, KeyType::P256] {
        let ours = SigningKey::generate(kt).unwrap();
        for password in [None, Some(&b"pw"[..])] {
            let ours_path = dir.path().join("ours.key");
            std::fs::write(&ours_path, ours.to_pkcs8_pem(password).unwrap().as_bytes()).unwrap();
            let script = format!(
                "from cryptography.hazmat.primitives import serialization as s\n\
                 k = s.load_pem_private_key(open('{}', 'rb').read(), {})\n\
                 print(k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo).hex())\n",
                ours_path.display(),
                if password.is_some() { "b'pw'" } else { "None" }
            );
            let out = Command::new(&python)
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{kt}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                hex::encode(ours.public_key().spki_der()),
                "{kt} {password:?}"
            );
        }
    }
}
