//! The entry proof file: round trip, the attacks a verifier must refuse, hostile JSON.

use custody_log::{
    Checkpoint, CheckpointError, ENTRY_PROOF_MEDIA_TYPE, EntryProof, EntryProofError, Hash,
    KeyName, MemoryStore, ProofError, SignedCheckpoint, SignerKey, leaf_hash,
};

const ORIGIN: &str = "ledger.custody.example/log";

fn log_key() -> SignerKey {
    SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[0x42; 32])
}

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"payloadType\":\"application/vnd.in-toto+json\",\"n\":{i}}}").into_bytes()
}

/// A log of `n` entries and the proof file of entry `i` at the current size.
fn proof_file(n: u64, i: u64) -> (EntryProof, MemoryStore) {
    let key = log_key();
    let store = MemoryStore::from_leaf_hashes((0..n).map(|k| leaf_hash(&entry(k)))).unwrap();
    let cp = Checkpoint::new(ORIGIN, n, store.root()).unwrap();
    let signed = SignedCheckpoint::sign(&cp, &key).unwrap();
    let path = store.inclusion_proof(i, n).unwrap().path;
    let file = EntryProof::new(
        i,
        leaf_hash(&entry(i)),
        path,
        &signed,
        Some(&key.verifier()),
    )
    .unwrap();
    (file, store)
}

#[test]
fn every_entry_of_a_log_verifies_from_its_file() {
    let key = log_key().verifier();
    for n in [1u64, 2, 7, 64, 100] {
        for i in 0..n {
            let (file, _) = proof_file(n, i);
            let back = EntryProof::from_json(file.to_json().as_bytes()).unwrap();
            assert_eq!(back, file);
            let v = back.verify(Some(&entry(i)), &key).unwrap();
            assert_eq!(v.log_index, i);
            assert_eq!(v.checkpoint.size(), n);
            back.verify(None, &key).unwrap();
        }
    }
}

#[test]
fn proof_file_snapshot() {
    let (file, _) = proof_file(5, 3);
    // The log key is fixed and Ed25519 is deterministic, so nothing needs redacting.
    insta::assert_snapshot!(file.to_json());
}

#[test]
fn attacks_are_refused_with_a_named_reason() {
    let key = log_key().verifier();
    let (good, store) = proof_file(20, 6);

    // Another entry's bytes.
    let err = good.verify(Some(&entry(7)), &key).unwrap_err();
    assert!(
        matches!(err, EntryProofError::LeafHashMismatch { index: 6, .. }),
        "{err}"
    );

    // A forged audit path.
    let mut forged = good.clone();
    forged.audit_path[2] = leaf_hash(b"forged");
    assert!(matches!(
        forged.verify(None, &key),
        Err(EntryProofError::Inclusion(
            ProofError::InclusionRootMismatch { .. }
        ))
    ));

    // The right path for another index.
    let mut moved = good.clone();
    moved.log_index = 7;
    assert!(moved.verify(None, &key).is_err());

    // A checkpoint signed by another key with the same name.
    let impostor = SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[0x43; 32]);
    let cp = Checkpoint::new(ORIGIN, 20, store.root()).unwrap();
    let mut resigned = good.clone();
    resigned.checkpoint = SignedCheckpoint::sign(&cp, &impostor)
        .unwrap()
        .as_str()
        .to_owned();
    resigned.log_key = None;
    let err = resigned.verify(None, &key).unwrap_err();
    assert!(
        matches!(
            err,
            EntryProofError::Checkpoint(CheckpointError::NotSignedByLogKey { .. })
        ),
        "{err}"
    );

    // The file claims the impostor's key: refused before anything else.
    let mut claims = resigned.clone();
    claims.log_key = Some(impostor.verifier().to_string());
    assert!(matches!(
        claims.verify(None, &key),
        Err(EntryProofError::LogKeyMismatch { .. })
    ));

    // A checkpoint of another size than the path.
    let mut other_size = good.clone();
    other_size.tree_size = 19;
    assert!(matches!(
        other_size.verify(None, &key),
        Err(EntryProofError::TreeSizeMismatch {
            proof: 19,
            checkpoint: 20
        })
    ));

    // A proof for another log.
    let mut other_log = good.clone();
    other_log.log_origin = "elsewhere/log".into();
    assert!(matches!(
        other_log.verify(None, &key),
        Err(EntryProofError::OriginMismatch { .. })
    ));

    // An edited checkpoint body (root swapped) breaks the signature.
    let mut edited = good.clone();
    let fake_root = leaf_hash(b"fake").to_base64();
    let real_root = store.root().to_base64();
    edited.checkpoint = edited.checkpoint.replace(&real_root, &fake_root);
    assert!(matches!(
        edited.verify(None, &key),
        Err(EntryProofError::Checkpoint(CheckpointError::Note(
            custody_log::NoteError::InvalidSignature { .. }
        )))
    ));
}

#[test]
fn hostile_json_is_refused() {
    let (good, _) = proof_file(9, 4);
    let json = good.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();

    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", json.as_bytes()[..json.len() / 2].to_vec()),
        ("not json", b"\xff\xfe".to_vec()),
        ("empty", Vec::new()),
        ("unknown field", with(&|v| v["extra"] = 1.into())),
        (
            "missing field",
            with(&|v| {
                v.as_object_mut().unwrap().remove("audit_path");
            }),
        ),
        ("negative index", with(&|v| v["log_index"] = (-1).into())),
        (
            "uppercase hex",
            with(&|v| v["leaf_hash"] = v["leaf_hash"].as_str().unwrap().to_uppercase().into()),
        ),
        ("short hash", with(&|v| v["audit_path"][0] = "00".into())),
        (
            "media type",
            with(&|v| v["media_type"] = "application/json".into()),
        ),
        (
            "long path",
            with(&|v| v["audit_path"] = vec![Hash::new([0; 32]).to_hex(); 65].into()),
        ),
        (
            "oversized",
            vec![b' '; custody_log::MAX_ENTRY_PROOF_BYTES + 1],
        ),
        (
            "duplicate key",
            json.replacen(
                "\"log_index\": 4,",
                "\"log_index\": 4,\n  \"log_index\": 5,",
                1,
            )
            .into_bytes(),
        ),
    ];
    for (name, bytes) in cases {
        assert!(
            EntryProof::from_json(&bytes).is_err(),
            "{name} was accepted"
        );
    }
    assert_eq!(good.media_type, ENTRY_PROOF_MEDIA_TYPE);
    // A garbage checkpoint parses as JSON but fails verification cleanly.
    let mut junk = good.clone();
    junk.checkpoint = "not a note".into();
    assert!(matches!(
        junk.verify(None, &log_key().verifier()),
        Err(EntryProofError::Checkpoint(_))
    ));
}
