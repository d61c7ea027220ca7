//! Every predicate custody writes: built, signed, verified, read back through the checked
//! accessors, and refused when tampered with.

use custody_attest::{
    Attestation, CheckedStatement, Decision, Envelope, KeyIdHint, KeyType, ReviewPredicate,
    Reviewer, ScanSubject, SigningKey, Statement, StatementError, VerificationResult,
    VerificationSummary, VexSubject, sign_statement, statement_json,
};
use custody_types::{Digest, media_types, predicate_types};
use serde_json::{Value, json};

use crate::common::{diff_ids, image_build, layer, time};

fn check(statement: &Statement, key: &SigningKey) -> CheckedStatement {
    let env = sign_statement(statement, key, KeyIdHint::default());
    let env = Envelope::from_json(&env.to_json()).unwrap();
    let verified = env.verify(&[key.public_key().clone()], 1).unwrap();
    CheckedStatement::try_from(&verified).unwrap()
}

/// Re-signs a statement after `edit` changed its JSON: what a signer who lies would produce.
fn check_edited(
    statement: &Statement,
    key: &SigningKey,
    edit: impl FnOnce(&mut Value),
) -> CheckedStatement {
    let mut v: Value = serde_json::from_slice(&statement_json(statement)).unwrap();
    edit(&mut v);
    let env = Envelope::sign(
        media_types::IN_TOTO_JSON,
        serde_json::to_vec(&v).unwrap(),
        &[key],
        KeyIdHint::default(),
    );
    let verified = env.verify(&[key.public_key().clone()], 1).unwrap();
    CheckedStatement::try_from(&verified).unwrap()
}

#[test]
fn layer_attestations_round_trip_and_bind_their_position() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let ids = diff_ids(3);
    for index in 0..3 {
        for embed in [true, false] {
            let predicate = layer(&ids, index, embed);
            let checked = check(&predicate.statement(), &key);
            let att = checked.layer().unwrap();
            assert_eq!(att.predicate, predicate);
            assert!(att.sbom_is_cyclonedx());
            assert_eq!(att.predicate.sbom.document.is_some(), embed);
            assert!(checked.is_about(&ids[index].0));
            assert!(checked.is_about(&predicate.blob.digest));
            assert_eq!(checked.subjects()[0].0, format!("layer/{index}"));
            assert!(matches!(
                checked.attestation().unwrap(),
                Attestation::Layer(_)
            ));
            assert_eq!(checked.clone().into_layer().unwrap(), att);
            assert_eq!(
                checked.clone().into_attestation().unwrap(),
                checked.attestation().unwrap()
            );
        }
    }
    let p = layer(&ids, 0, true);
    assert_eq!(p.parent_chain_id, None);
    assert_eq!(p.chain_id.0, ids[0].0);
    let p2 = layer(&ids, 2, true);
    assert_eq!(
        p2.parent_chain_id.as_ref().unwrap().0,
        custody_types::chain_ids(&ids)[1].0
    );
}

#[test]
fn layer_statements_are_deterministic() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let ids = diff_ids(2);
    let a = sign_statement(
        &layer(&ids, 1, true).statement(),
        &key,
        KeyIdHint::default(),
    );
    let b = sign_statement(
        &layer(&ids, 1, true).statement(),
        &key,
        KeyIdHint::default(),
    );
    assert_eq!(a.to_json(), b.to_json());
    let p256 = SigningKey::generate(KeyType::P256).unwrap();
    let a = sign_statement(
        &layer(&ids, 1, true).statement(),
        &p256,
        KeyIdHint::default(),
    );
    let b = sign_statement(
        &layer(&ids, 1, true).statement(),
        &p256,
        KeyIdHint::default(),
    );
    assert_eq!(
        a.to_json(),
        b.to_json(),
        "RFC 6979 makes P-256 deterministic too"
    );
}

#[test]
fn layer_predicate_snapshot() {
    let ids = diff_ids(2);
    let statement = layer(&ids, 1, false).statement();
    let v: Value = serde_json::from_slice(&statement_json(&statement)).unwrap();
    insta::assert_json_snapshot!("layer_statement_digest_only", v);
}

#[test]
fn lying_layer_statements_are_refused() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let ids = diff_ids(3);
    let statement = layer(&ids, 2, true).statement();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "does not follow from parentChainId",
            Box::new(|v: &mut Value| v["predicate"]["chainId"] = json!(Digest::sha256_of(b"x"))),
        ),
        (
            "does not follow from parentChainId",
            Box::new(|v: &mut Value| {
                v["predicate"]["parentChainId"] = json!(Digest::sha256_of(b"other stack"))
            }),
        ),
        (
            "has no parentChainId",
            Box::new(|v: &mut Value| v["predicate"]["parentChainId"] = Value::Null),
        ),
        (
            "embedded SBOM has digest",
            Box::new(|v: &mut Value| v["predicate"]["sbom"]["document"]["version"] = json!(2)),
        ),
        (
            "first subject is not the layer's diffId",
            Box::new(|v: &mut Value| {
                v["subject"][0]["digest"]["sha256"] = json!(Digest::sha256_of(b"y").hex())
            }),
        ),
        (
            "subjects must be the diffId and then the blob digest",
            Box::new(|v: &mut Value| {
                v["subject"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "unknown field `extra`",
            Box::new(|v: &mut Value| v["predicate"]["extra"] = json!(1)),
        ),
    ];
    for (want, edit) in cases {
        let checked = check_edited(&statement, &key, edit);
        let err = checked.layer().unwrap_err().to_string();
        assert!(err.contains(want), "want {want:?}, got {err:?}");
    }
    let checked = check(&statement, &key);
    assert!(matches!(
        checked.review(),
        Err(StatementError::WrongPredicateType { .. })
    ));
}

#[test]
fn provenance_round_trips_with_base_byproducts_and_ci() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let build = image_build(true);
    let checked = check(&build.statement(), &key);
    let prov = checked.provenance().unwrap();
    assert!(prov.is_custody_build());
    assert_eq!(prov.manifest.as_ref(), Some(&build.manifest));
    assert_eq!(prov.config.as_ref(), Some(&build.config));
    assert_eq!(prov.base, build.base);
    assert_eq!(prov.layers, build.layers);
    assert_eq!(
        prov.layers.iter().filter(|l| l.envelope.is_some()).count(),
        2,
        "only the layers above the base are this build's"
    );
    assert_eq!(prov.layers[2].diff_id, diff_ids(4)[2]);
    assert_eq!(prov.image_sbom, Some(Digest::sha256_of(b"image sbom")));
    assert_eq!(
        prov.builder_id(),
        "https://github.com/acme/app/.github/workflows/build.yml@refs/heads/main"
    );
    let p = &prov.provenance;
    assert_eq!(
        p.run_details.metadata.invocation_id.as_deref(),
        Some("https://github.com/acme/app/actions/runs/4242/attempts/2")
    );
    let source = &p.build_definition.resolved_dependencies[0];
    assert_eq!(
        source.uri.as_deref(),
        Some("git+https://github.com/acme/app@refs/heads/main")
    );
    assert_eq!(
        source.digest.get("gitCommit").map(String::as_str),
        Some("1ac93ce21ee526b36fd154b9058d97dfaa424c50")
    );
    assert_eq!(
        p.build_definition.external_parameters["workflow"]["path"],
        ".github/workflows/build.yml"
    );

    let no_base = check(&image_build(false).statement(), &key)
        .provenance()
        .unwrap();
    assert_eq!(no_base.base, None);
    assert!(no_base.layers.iter().all(|l| l.envelope.is_some()));
}

#[test]
fn provenance_snapshot() {
    let v: Value = serde_json::from_slice(&statement_json(&image_build(true).statement())).unwrap();
    insta::assert_json_snapshot!("provenance_with_base", v);
}

#[test]
fn gitlab_ci_variables_give_builder_and_invocation() {
    let env = |k: &str| {
        Some(
            match k {
                "GITLAB_CI" => "true",
                "CI_SERVER_URL" => "https://gitlab.example",
                "CI_PROJECT_PATH" => "acme/app",
                "CI_PIPELINE_ID" => "77",
                "CI_JOB_ID" => "991",
                "CI_COMMIT_SHA" => "a1234567b1234567c1234567d1234567e1234567",
                "CI_COMMIT_REF_NAME" => "main",
                _ => return None,
            }
            .to_owned(),
        )
    };
    let ci = custody_attest::CiContext::from_env(env).unwrap();
    assert_eq!(
        ci.builder_id(),
        "https://gitlab.example/acme/app/-/blob/main/.gitlab-ci.yml"
    );
    assert_eq!(
        ci.invocation_id(),
        "https://gitlab.example/acme/app/-/jobs/991"
    );
    assert_eq!(
        ci.source_dependency().unwrap().uri.as_deref(),
        Some("git+https://gitlab.example/acme/app@main")
    );
    assert!(custody_attest::CiContext::from_env(|_| None).is_none());
    // GitHub without its required variables is not taken as GitHub.
    assert!(
        custody_attest::CiContext::from_env(|k| (k == "GITHUB_ACTIONS").then(|| "true".into()))
            .is_none()
    );
}

#[test]
fn tampered_provenance_is_refused() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let statement = image_build(true).statement();
    let checked = check_edited(&statement, &key, |v| {
        v["predicate"]["runDetails"]["builder"]["id"] = json!("")
    });
    let err = checked.provenance().unwrap_err().to_string();
    assert!(err.contains("builder.id is required"), "{err}");
    let checked = check_edited(&statement, &key, |v| {
        v["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array_mut()
            .unwrap()
            .pop();
    });
    let err = checked.provenance().unwrap_err().to_string();
    assert!(
        err.contains("declares Some(2) layers but 1 are listed"),
        "{err}"
    );
    let checked = check_edited(&statement, &key, |v| {
        v["subject"].as_array_mut().unwrap().pop();
    });
    assert!(checked.provenance().is_err());
    // Layers reordered in the recorded list: the ChainIDs no longer follow.
    let checked = check_edited(&statement, &key, |v| {
        v["predicate"]["buildDefinition"]["internalParameters"]["layers"]
            .as_array_mut()
            .unwrap()
            .swap(2, 3);
    });
    let err = checked.provenance().unwrap_err().to_string();
    assert!(
        err.contains("has index 3") || err.contains("does not follow"),
        "{err}"
    );
    // A byproduct pointing at a layer it does not describe.
    let checked = check_edited(&statement, &key, |v| {
        v["predicate"]["runDetails"]["byproducts"][0]["name"] = json!("layer/3");
    });
    let err = checked.provenance().unwrap_err().to_string();
    assert!(err.contains("does not name layer 3"), "{err}");
}

#[test]
fn reviews_must_be_signed_by_their_reviewer() {
    let alice = SigningKey::generate(KeyType::Ed25519).unwrap();
    let mallory = SigningKey::generate(KeyType::Ed25519).unwrap();
    let manifest = Digest::sha256_of(b"manifest");
    let predicate = ReviewPredicate {
        decision: Decision::Approved,
        reviewer: Reviewer {
            key_id: alice.key_id(),
        },
        source_ref: Some("https://github.com/acme/app/pull/7".into()),
        comment: Some("LGTM".into()),
        reviewed_on: time(),
    };
    let statement = predicate.statement(&manifest, None);
    let review = check(&statement, &alice).review().unwrap();
    assert_eq!(review.manifest, manifest);
    assert_eq!(review.predicate, predicate);
    let err = check(&statement, &mallory)
        .review()
        .unwrap_err()
        .to_string();
    assert!(err.contains("did not sign this review"), "{err}");
}

#[test]
fn scan_vex_and_decision_round_trip() {
    let key = SigningKey::generate(KeyType::P256).unwrap();
    let manifest = Digest::sha256_of(b"manifest");
    let sbom = Digest::sha256_of(b"sbom");
    let vulns = json!({
        "scanner": {
            "uri": "pkg:github/custody-dev/custody@0.1.0",
            "version": "0.1.0",
            "db": {"uri": "osv", "version": "sha256:abc", "lastUpdate": "2026-01-01T00:00:00Z"},
            "result": [{"id": "CVE-2024-1", "severity": [{"method": "cvss_v3", "score": "7.5"}]}]
        },
        "metadata": {"scanStartedOn": "2026-01-02T00:00:00Z", "scanFinishedOn": "2026-01-02T00:00:01Z"}
    });
    let subject = ScanSubject {
        manifest: manifest.clone(),
        image_name: None,
        sbom: Some(sbom.clone()),
    };
    let scan = check(&subject.statement(vulns.clone()).unwrap(), &key);
    assert_eq!(
        scan.scan().unwrap(),
        custody_attest::ScanAttestation {
            manifest: manifest.clone(),
            sbom: Some(sbom),
        }
    );
    // The predicate travels untouched, for custody-vuln to read.
    assert_eq!(scan.predicate(), &vulns);
    assert!(matches!(scan.attestation(), Ok(Attestation::Scan(_))));
    assert!(
        subject.statement(json!(["not", "an", "object"])).is_err(),
        "a predicate is an object"
    );

    // An OpenVEX document (custody-vuln builds and checks it) attached to the image.
    let doc = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://openvex.dev/docs/public/vex-1",
        "author": "security@acme.example",
        "timestamp": "2026-01-02T00:00:00Z",
        "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2024-1"},
                        "products": [{"@id": format!("pkg:oci/app@{manifest}")}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path"}]
    });
    let at = VexSubject {
        manifest: manifest.clone(),
        image_name: None,
    };
    let vex = check(&at.statement(doc.clone()).unwrap(), &key);
    assert_eq!(vex.vex().unwrap().subjects, vec![manifest.clone()]);
    assert_eq!(vex.predicate(), &doc);
    let mut other_version = doc.clone();
    other_version["@context"] = "https://openvex.dev/ns/v0.1.0".into();
    let err = at.statement(other_version.clone()).unwrap_err();
    assert!(err.to_string().contains("@context"), "{err}");
    // A signer who wraps another OpenVEX version anyway is refused on reading.
    let lying = check_edited(&at.statement(doc).unwrap(), &key, |v| {
        v["predicate"] = other_version;
    });
    assert!(lying.vex().is_err());
    assert!(lying.attestation().is_err());

    let summary = VerificationSummary::new(
        "https://custody.dev/gate",
        time(),
        &format!("oci://registry.example/app@{manifest}"),
        None,
        &Digest::sha256_of(b"policy"),
        VerificationResult::Passed,
    );
    let checked = check(&summary.statement(&manifest, None), &key);
    assert_eq!(checked.decision().unwrap(), summary);
    assert_eq!(checked.predicate()["verificationResult"], "PASSED");
    assert_eq!(
        checked.predicate_type(),
        predicate_types::VERIFICATION_SUMMARY_V1
    );
}

#[test]
fn statements_in_the_wrong_payload_type_are_refused() {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let env = Envelope::sign(
        "application/json",
        statement_json(&layer(&diff_ids(1), 0, false).statement()),
        &[&key],
        KeyIdHint::default(),
    );
    let verified = env.verify(&[key.public_key().clone()], 1).unwrap();
    let err = CheckedStatement::try_from(&verified).unwrap_err();
    assert!(matches!(err, StatementError::WrongPayloadType(_)), "{err}");
}
