//! Sigstore conformance bundles (../shared/testdata/sigstore/conformance/bundle-verify; see
//! its SOURCES.md and README.md). The key-based `managed-key-*` cases verify or fail as their
//! names say; every other bundle parses or is refused without a panic (custody reads
//! key-based bundles only).

use custody_attest::{BundleError, KeySource, Limits, load_public_key, parse_bundle};
use custody_testkit::testdata_or_skip;

#[test]
fn managed_key_cases_verify_or_fail_as_named() {
    let dir = testdata_or_skip!().join("sigstore/conformance/bundle-verify");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("managed-key-") {
            continue;
        }
        seen += 1;
        let expect_pass = !name.ends_with("_fail");
        let artifact = if case.join("artifact").is_file() {
            std::fs::read(case.join("artifact")).unwrap()
        } else {
            std::fs::read(dir.join("a.txt")).unwrap()
        };
        let bundle = parse_bundle(
            &std::fs::read(case.join("bundle.sigstore.json")).unwrap(),
            &Limits::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        // README: "key.pub ... verification will be attempted with the key"; without it there
        // is no key to verify with.
        let keys: Vec<_> = if case.join("key.pub").is_file() {
            vec![load_public_key(&KeySource::File(case.join("key.pub"))).unwrap()]
        } else {
            Vec::new()
        };
        let result = bundle.verify_artifact(&artifact, &keys);
        assert_eq!(result.is_ok(), expect_pass, "{name}: {result:?}");
        if expect_pass {
            // The bundle's hint is base64 of SHA-256 of the SPKI DER: custody's key ID.
            assert!(keys[0].matches_hint(&bundle.hint), "{name}");
            assert_eq!(result.unwrap(), keys[0].key_id());
            // The same bundle over other bytes fails.
            assert!(matches!(
                bundle.verify_artifact(b"not a.txt", &keys),
                Err(BundleError::DigestMismatch { .. })
            ));
        } else {
            assert!(matches!(result, Err(BundleError::NoKey)), "{name}");
        }
    }
    assert_eq!(
        seen, 2,
        "managed-key-happy-path and managed-key-no-key_fail"
    );
}

#[test]
fn every_conformance_bundle_is_parsed_or_refused_without_panicking() {
    let dir = testdata_or_skip!().join("sigstore/conformance/bundle-verify");
    let mut keyless = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let path = case.join("bundle.sigstore.json");
        if !path.is_file() {
            continue;
        }
        match parse_bundle(&std::fs::read(&path).unwrap(), &Limits::default()) {
            Ok(_) => {}
            Err(BundleError::Keyless) => keyless += 1,
            Err(_) => assert!(
                case.to_string_lossy().ends_with("_fail"),
                "{} is a passing case but was refused",
                case.display()
            ),
        }
    }
    assert!(
        keyless > 10,
        "the keyless cases are recognised as such ({keyless})"
    );
}
