//! Signed-note and checkpoint vectors from ../shared/testdata/merkle/notes (see SOURCES.md):
//! golang.org/x/mod sumdb/note note_test.go @fe2ec04f (TestOpen, TestSign), C2SP signed-note.md
//! and tlog-checkpoint.md @5ba5ee83, transparency-dev/formats log/checkpoint_test.go @0b850f1a.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use custody_log::{
    CheckpointError, CheckpointText, KeyName, NoteError, SignedCheckpoint, SignerKey, VerifierKey,
    open_note,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct NoteVectors {
    cases: Vec<NoteCase>,
}

#[derive(Deserialize)]
struct NoteCase {
    id: String,
    note_b64: String,
    verifier_keys: Vec<String>,
    expect: String,
}

/// Signer names a case must end with: (verified, unverified).
type Signers = (Vec<&'static str>, Vec<&'static str>);
/// The error a case must end with.
type ErrorCheck = fn(&NoteError) -> bool;

/// What each published case must produce: verified and unverified signer names, or the error.
fn expectation(id: &str) -> Option<Result<Signers, ErrorCheck>> {
    Some(match id {
        "c2sp-example" => Ok((vec!["example.com/foo"], vec![])),
        "peter-signs" | "duplicated-verifier-unused" => Ok((vec!["PeterNeumann"], vec![])),
        "two-sigs-one-known" => Ok((vec!["PeterNeumann"], vec!["EnochRoot"])),
        "two-sigs-both-known" => Ok((vec!["PeterNeumann", "EnochRoot"], vec![])),
        // The two distinct EnochRoot lines stay; exact repeats are dropped, unknown keys unchecked.
        "duplicate-sigs-plus-corrupt-unknown" => {
            Ok((vec!["PeterNeumann"], vec!["EnochRoot", "EnochRoot"]))
        }
        "no-known-verifier" => Err(|e| matches!(e, NoteError::NoTrustedSignature)),
        "duplicated-verifier-used" => Err(|e| matches!(e, NoteError::AmbiguousKey { .. })),
        "too-many-signatures-101" => Err(|e| matches!(e, NoteError::TooManySignatures)),
        "corrupted-signature" => Err(|e| matches!(e, NoteError::InvalidSignature { .. })),
        "malformed-0" | "malformed-1" => Err(|e| matches!(e, NoteError::MissingSignatures)),
        "malformed-2" | "malformed-5" => Err(|e| matches!(e, NoteError::MissingFinalNewline)),
        "malformed-3" => Err(|e| matches!(e, NoteError::ControlCharacter { byte: 1, .. })),
        "malformed-4" => Err(|e| matches!(e, NoteError::InvalidUtf8 { offset: 0 })),
        "malformed-6" => Err(|e| matches!(e, NoteError::MalformedSignatureLine { .. })),
        _ => return None,
    })
}

#[test]
fn signed_note_vectors() {
    let data = custody_testkit::testdata_or_skip!();
    let v: NoteVectors = serde_json::from_slice(
        &std::fs::read(data.join("merkle/notes/signed-note-vectors.json")).unwrap(),
    )
    .unwrap();
    assert!(v.cases.len() >= 17);
    let mut specific = 0;
    for c in &v.cases {
        let msg = BASE64.decode(&c.note_b64).unwrap();
        let keys: Vec<VerifierKey> = c
            .verifier_keys
            .iter()
            .map(|k| {
                k.parse()
                    .unwrap_or_else(|e| panic!("{}: key {k}: {e}", c.id))
            })
            .collect();
        let got = open_note(&msg, &keys);
        assert_eq!(got.is_ok(), c.expect == "OK", "{}: {got:?}", c.id);
        match (expectation(&c.id), &got) {
            (Some(Ok((verified, unverified))), Ok(note)) => {
                let names = |s: &[custody_log::NoteSignature]| {
                    s.iter().map(|x| x.name.clone()).collect::<Vec<_>>()
                };
                assert_eq!(names(note.verified()), verified, "{}", c.id);
                assert_eq!(names(note.unverified()), unverified, "{}", c.id);
                specific += 1;
            }
            (Some(Err(check)), Err(e)) => {
                assert!(check(e), "{}: unexpected error {e:?}", c.id);
                specific += 1;
            }
            (None, _) => {}
            (Some(_), _) => panic!("{}: outcome mismatch {got:?}", c.id),
        }
    }
    assert_eq!(
        specific,
        v.cases.len(),
        "a vector has no specific expectation"
    );
}

#[test]
fn go_private_key_signs_byte_identically() {
    let data = custody_testkit::testdata_or_skip!();
    let v: NoteVectors = serde_json::from_slice(
        &std::fs::read(data.join("merkle/notes/signed-note-vectors.json")).unwrap(),
    )
    .unwrap();
    let peter = v.cases.iter().find(|c| c.id == "peter-signs").unwrap();
    let want = String::from_utf8(BASE64.decode(&peter.note_b64).unwrap()).unwrap();
    let signer = SignerKey::from_private_key(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    )
    .unwrap();
    assert_eq!(signer.verifier().to_string(), peter.verifier_keys[0]);
    let text = &want[..want.rfind("\n\n").unwrap() + 1];
    assert_eq!(signer.sign(text).unwrap(), want);
}

#[test]
fn c2sp_signed_note_example() {
    let data = custody_testkit::testdata_or_skip!();
    let notes = data.join("merkle/notes");
    let note = std::fs::read(notes.join("c2sp-signed-note-example.note")).unwrap();
    let vkey = std::fs::read_to_string(notes.join("c2sp-signed-note-example.vkey")).unwrap();
    let key: VerifierKey = vkey.trim_end().parse().unwrap();
    let opened = open_note(&note, &[key]).unwrap();
    assert_eq!(opened.text(), "This is an example message.\n");
    // A different key of the same name is ignored, leaving no trusted signature.
    let stranger = SignerKey::from_seed(KeyName::new("example.com/foo").unwrap(), &[3; 32]);
    assert!(matches!(
        open_note(&note, &[stranger.verifier()]),
        Err(NoteError::NoTrustedSignature)
    ));
}

#[test]
fn c2sp_tlog_checkpoint_example_parses_but_has_no_published_key() {
    let data = custody_testkit::testdata_or_skip!();
    let note = std::fs::read_to_string(data.join("merkle/notes/c2sp-tlog-checkpoint-example.note"))
        .unwrap();
    let signed = SignedCheckpoint::parse(&note).unwrap();
    let cp = signed.unverified_checkpoint().unwrap();
    assert_eq!(cp.origin(), "example.com/behind-the-sofa");
    assert_eq!(cp.size(), 20852163);
    assert_eq!(
        cp.root().to_base64(),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert_eq!(signed.as_str(), note);
    let stranger = SignerKey::from_seed(
        KeyName::new("example.com/behind-the-sofa").unwrap(),
        &[4; 32],
    );
    assert!(matches!(
        signed.verify(&stranger.verifier()),
        Err(CheckpointError::NotSignedByLogKey { .. })
    ));
}

#[derive(Deserialize)]
struct BodyVectors {
    cases: Vec<BodyCase>,
}

#[derive(Deserialize)]
struct BodyCase {
    id: String,
    checkpoint_body: String,
    expect: String,
    want: Option<BodyWant>,
    want_rest: Option<String>,
}

#[derive(Deserialize)]
struct BodyWant {
    origin: String,
    size: u64,
    hash_b64: String,
}

#[test]
fn checkpoint_body_vectors() {
    let data = custody_testkit::testdata_or_skip!();
    let v: BodyVectors = serde_json::from_slice(
        &std::fs::read(data.join("merkle/notes/checkpoint-body-vectors.json")).unwrap(),
    )
    .unwrap();
    assert!(v.cases.len() >= 13);
    for c in &v.cases {
        let got = CheckpointText::parse(&c.checkpoint_body);
        match c.expect.as_str() {
            "OK" => {
                let got = got.unwrap_or_else(|e| panic!("{}: {e}", c.id));
                let want = c.want.as_ref().unwrap();
                assert_eq!(got.origin, want.origin, "{}", c.id);
                assert_eq!(got.size, want.size, "{}", c.id);
                assert_eq!(BASE64.encode(&got.root_hash), want.hash_b64, "{}", c.id);
                assert_eq!(Some(&got.rest), c.want_rest.as_ref(), "{}", c.id);
            }
            _ => assert!(got.is_err(), "{}: parsed {got:?}", c.id),
        }
    }
}

/// The transparency-dev "Marshal" cases: a checkpoint written by this crate is byte-identical.
#[test]
fn checkpoint_bodies_marshal_like_transparency_dev() {
    let data = custody_testkit::testdata_or_skip!();
    let v: BodyVectors = serde_json::from_slice(
        &std::fs::read(data.join("merkle/notes/checkpoint-body-vectors.json")).unwrap(),
    )
    .unwrap();
    let c = v
        .cases
        .iter()
        .find(|c| c.id == "c2sp-tlog-checkpoint-example-body")
        .unwrap();
    let want = c.want.as_ref().unwrap();
    let cp = custody_log::Checkpoint::new(
        &want.origin,
        want.size,
        custody_log::Hash::from_base64(&want.hash_b64).unwrap(),
    )
    .unwrap();
    assert_eq!(cp.to_text(), c.checkpoint_body);
}
