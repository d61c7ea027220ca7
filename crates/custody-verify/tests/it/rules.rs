//! Each rule passing on an honest chain of custody, and failing on the attack it exists for.

use custody_attest::Decision as ReviewDecision;
use custody_log::{
    Checkpoint, KeyName, MemoryStore, SignedCheckpoint, SignerKey, TrustedCheckpoint,
};
use custody_types::{Digest, Role};
use custody_verify::{Context, Decision, RuleId, verify};
use serde_json::json;

use crate::scenario::{self, Image, ORIGIN, Scenario};

fn decide(s: &Scenario) -> Decision {
    verify(&s.policy(), &s.image.facts(), &s.evidence(), &s.context())
}

/// Position in `s.entries` of the `nth` statement whose predicate type contains `kind`.
fn pos(s: &Scenario, kind: &str, nth: usize) -> usize {
    s.entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            custody_attest::parse_statement(e.payload_unverified())
                .unwrap()
                .predicate_type
                .contains(kind)
        })
        .nth(nth)
        .unwrap()
        .0
}

fn failed(d: &Decision) -> Vec<RuleId> {
    d.failed().map(|v| v.rule).collect()
}

fn problems(d: &Decision, rule: RuleId) -> String {
    let v = d.verdicts.iter().find(|v| v.rule == rule).unwrap();
    format!("{}\n{}", v.summary, v.problems.join("\n"))
}

#[track_caller]
fn denied_by(d: &Decision, rule: RuleId, needle: &str) {
    assert!(!d.allowed, "allowed: {}", d.to_text());
    assert!(failed(d).contains(&rule), "{rule} passed: {}", d.to_text());
    let p = problems(d, rule);
    assert!(p.contains(needle), "{rule} problems lack {needle:?}:\n{p}");
}

#[test]
fn an_unbroken_chain_of_custody_is_allowed() {
    let s = Scenario::new(4);
    let d = decide(&s);
    assert!(d.allowed, "{}", d.to_text());
    assert_eq!(d.verdicts.len(), 7);
    // Every used attestation is an input: 4 layers, base provenance, provenance, scan, 2 reviews.
    assert_eq!(d.inputs.len(), 9);
    assert_eq!(d.next_state.as_ref().unwrap().size, s.entries.len() as u64);
    let layers = &d.verdicts[0];
    assert_eq!(layers.evidence.len(), 4);
    assert_eq!(layers.evidence[0].key_id, Some(s.keys.base.key_id()));
    assert_eq!(layers.evidence[1].key_id, Some(s.keys.builder.key_id()));
    assert_eq!(layers.evidence[1].log_index, Some(2));
}

#[test]
fn decision_text_and_json_snapshots() {
    let s = Scenario::new(3);
    let d = decide(&s);
    insta::assert_snapshot!("allowed_text", d.to_text());
    insta::assert_json_snapshot!("allowed_json", d);
    let mut s = Scenario::new(3);
    s.entries.retain(|e| {
        !custody_attest::parse_statement(e.payload_unverified())
            .unwrap()
            .predicate_type
            .contains("review")
    });
    let d = decide(&s);
    insta::assert_snapshot!("denied_text", d.to_text());
}

#[test]
fn a_layer_signed_by_an_untrusted_key_is_denied() {
    let mut s = Scenario::new(3);
    let sbom = scenario::layer_sbom(&[], &[], &s.image.diff_ids[2]);
    s.entries[3] = scenario::layer_envelope(&s.image, 2, &sbom, &s.keys.stranger);
    let d = decide(&s);
    denied_by(&d, RuleId::Layers, "signed by no key in the policy");
}

#[test]
fn a_layer_signed_by_a_trusted_key_of_the_wrong_role_is_denied() {
    let mut s = Scenario::new(3);
    let sbom = scenario::layer_sbom(&[], &[], &s.image.diff_ids[2]);
    s.entries[3] = scenario::layer_envelope(&s.image, 2, &sbom, &s.keys.scanner);
    let d = decide(&s);
    denied_by(&d, RuleId::Layers, "(scanner), not a builder key");
    // A base layer signed by the builder instead of the base library.
    let mut s = Scenario::new(3);
    let sbom = scenario::layer_sbom(&[], &[], &s.base.diff_ids[0]);
    s.entries[0] = scenario::layer_envelope(&s.base, 0, &sbom, &s.keys.builder);
    let d = decide(&s);
    denied_by(&d, RuleId::Layers, "not a base-library key");
    assert!(failed(&d).contains(&RuleId::BaseImage));
}

#[test]
fn reordered_layers_are_denied() {
    let mut s = Scenario::new(4);
    let mut ids = s.image.diff_ids.clone();
    ids.swap(2, 3);
    s.image = Image::new(ids, "65532");
    let d = decide(&s);
    denied_by(&d, RuleId::Layers, "signed for another stack");
    assert!(failed(&d).contains(&RuleId::Provenance));
}

#[test]
fn a_layer_appended_after_signing_is_denied() {
    let mut s = Scenario::new(3);
    let mut ids = s.image.diff_ids.clone();
    ids.push(scenario::diff_id("appended"));
    s.image = Image::new(ids, "65532");
    let d = decide(&s);
    denied_by(&d, RuleId::Layers, "layer 3");
    denied_by(&d, RuleId::Provenance, "no build provenance about manifest");
}

#[test]
fn a_swapped_layer_is_denied() {
    let mut s = Scenario::new(3);
    let mut ids = s.image.diff_ids.clone();
    ids[1] = scenario::diff_id("evil layer of the same size");
    s.image = Image::new(ids, "65532");
    let d = decide(&s);
    denied_by(&d, RuleId::Layers, "layer 1");
    assert!(failed(&d).contains(&RuleId::Provenance));
}

#[test]
fn a_provenance_replayed_from_another_image_is_denied() {
    let s0 = Scenario::new(3);
    // Another image with the same layers but another config: its provenance names itself.
    let mut s = Scenario::with_user(3, "1000");
    let other = &s0.image;
    let at = pos(&s, "provenance", 1);
    let envs = vec![
        None,
        Some(s.entries[2].digest()),
        Some(s.entries[3].digest()),
    ];
    s.entries[at] = scenario::provenance(
        other,
        Some((&s.base, 1)),
        &envs,
        None,
        Role::Builder,
        &s.keys.builder,
    );
    let d = decide(&s);
    denied_by(&d, RuleId::Provenance, "not this image");
}

#[test]
fn a_stale_scan_is_denied() {
    let mut s = Scenario::new(3);
    s.now = scenario::time("2025-07-01T00:00:00Z");
    let d = decide(&s);
    denied_by(&d, RuleId::Scan, "the scan is stale");
}

#[test]
fn a_scan_of_a_different_sbom_is_denied() {
    let mut s = Scenario::new(3);
    let other = Digest::sha256_of(b"another sbom");
    let at = pos(&s, "vulns", 0);
    s.entries[at] = scenario::scan(
        &s.image,
        &other,
        json!([]),
        "2025-06-01T10:30:00Z",
        &s.keys.scanner,
    );
    let d = decide(&s);
    denied_by(&d, RuleId::Scan, "not the image's SBOM");
}

#[test]
fn findings_above_the_threshold_need_a_vex_waiver_from_an_allowed_signer() {
    let findings = json!([{"id": "CVE-2025-9999", "severity": [{"method": "nvd", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]);
    let mut s = Scenario::new(3);
    let sbom = Digest::sha256_of(b"image sbom");
    let at = pos(&s, "vulns", 0);
    s.entries[at] = scenario::scan(
        &s.image,
        &sbom,
        findings,
        "2025-06-01T10:30:00Z",
        &s.keys.scanner,
    );
    denied_by(&decide(&s), RuleId::Scan, "CVE-2025-9999 is critical");
    // A VEX statement by a key the policy does not allow changes nothing.
    s.entries.push(scenario::vex(
        &s.image.digest,
        "CVE-2025-9999",
        &s.keys.alice,
    ));
    denied_by(
        &decide(&s),
        RuleId::Scan,
        "no VEX statement from an allowed signer",
    );
    // One by the scanner role waives it.
    s.entries.push(scenario::vex(
        &s.image.digest,
        "CVE-2025-9999",
        &s.keys.scanner,
    ));
    let d = decide(&s);
    assert!(d.allowed, "{}", d.to_text());
    assert!(d.verdicts[3].summary.contains("1 waived by VEX"));
}

#[test]
fn vex_waives_a_finding_only_for_the_components_it_covers() {
    // One high finding in two components; the scanner role may sign VEX.
    let findings = json!([{"id": "CVE-2025-7777",
        "severity": [{"method": "custody", "score": "high"}],
        "annotations": [{"purl": "pkg:npm/a@1.0.0", "aliases": ["GHSA-aaaa"]},
                        {"purl": "pkg:npm/b@2.0.0", "aliases": ["GHSA-aaaa"]}]}]);
    let mut s = Scenario::new(2);
    let sbom = Digest::sha256_of(b"image sbom");
    let at = pos(&s, "vulns", 0);
    s.entries[at] = scenario::scan(
        &s.image,
        &sbom,
        findings,
        "2025-06-01T10:30:00Z",
        &s.keys.scanner,
    );
    let image = s.image.digest.clone();
    let key = &s.keys.scanner;
    // Only component a, by alias: b still stands, and is named.
    s.entries.push(scenario::vex_for(
        &image,
        "GHSA-aaaa",
        custody_vuln::VexProduct::purl("pkg:npm/a"),
        custody_vuln::VexStatus::NotAffected,
        "2025-06-01T12:00:00Z",
        key,
    ));
    let d = decide(&s);
    denied_by(&d, RuleId::Scan, "(component pkg:npm/b@2.0.0)");
    assert!(!problems(&d, RuleId::Scan).contains("pkg:npm/a@1.0.0"));
    // A statement about another version of b does not cover it.
    s.entries.push(scenario::vex_for(
        &image,
        "CVE-2025-7777",
        custody_vuln::VexProduct::purl("pkg:npm/b@2.0.1"),
        custody_vuln::VexStatus::Fixed,
        "2025-06-01T12:00:00Z",
        key,
    ));
    denied_by(&decide(&s), RuleId::Scan, "(component pkg:npm/b@2.0.0)");
    // `fixed` for b itself: both components waived, the finding passes.
    s.entries.push(scenario::vex_for(
        &image,
        "CVE-2025-7777",
        custody_vuln::VexProduct::purl("pkg:npm/b@2.0.0"),
        custody_vuln::VexStatus::Fixed,
        "2025-06-01T12:00:00Z",
        key,
    ));
    let d = decide(&s);
    assert!(d.allowed, "{}", d.to_text());
    let scan = &d.verdicts[3];
    assert!(scan.summary.contains("1 waived by VEX"), "{}", scan.summary);
    let details: Vec<&str> = scan
        .evidence
        .iter()
        .filter_map(|e| e.detail.as_deref())
        .collect();
    assert!(details.contains(&"waives CVE-2025-7777 (not_affected)"));
    assert!(details.contains(&"waives CVE-2025-7777 (fixed)"));
    // A later `affected` statement for the image takes the waiver back.
    s.entries.push(scenario::vex_for(
        &image,
        "CVE-2025-7777",
        custody_vuln::VexProduct::image(&image),
        custody_vuln::VexStatus::Affected,
        "2025-06-02T00:00:00Z",
        key,
    ));
    denied_by(&decide(&s), RuleId::Scan, "CVE-2025-7777 is high");
}

#[test]
fn vex_attached_to_another_image_waives_nothing() {
    let findings =
        json!([{"id": "CVE-2025-9999", "severity": [{"method": "nvd", "score": "9.8"}]}]);
    let mut s = Scenario::new(2);
    let sbom = Digest::sha256_of(b"image sbom");
    let at = pos(&s, "vulns", 0);
    s.entries[at] = scenario::scan(
        &s.image,
        &sbom,
        findings,
        "2025-06-01T10:30:00Z",
        &s.keys.scanner,
    );
    // The statement names this image as its product but is attached (subject) to the base.
    let product = custody_vuln::VexProduct::image(&s.image.digest);
    s.entries.push(scenario::vex_for(
        &s.base.digest,
        "CVE-2025-9999",
        product,
        custody_vuln::VexStatus::NotAffected,
        "2025-06-01T12:00:00Z",
        &s.keys.scanner,
    ));
    denied_by(&decide(&s), RuleId::Scan, "CVE-2025-9999 is critical");
}

#[test]
fn a_scan_whose_predicate_does_not_read_is_named() {
    let mut s = Scenario::new(2);
    let at = pos(&s, "vulns", 0);
    // A vulns statement by the scanner whose predicate lacks the required scanner.uri.
    let st = custody_attest::ScanSubject {
        manifest: s.image.digest.clone(),
        image_name: None,
        sbom: Some(Digest::sha256_of(b"image sbom")),
    }
    .statement(json!({"scanner": {"result": []}}))
    .unwrap();
    s.entries[at] =
        custody_attest::sign_statement(&st, &s.keys.scanner, custody_attest::KeyIdHint::default());
    let d = decide(&s);
    denied_by(
        &d,
        RuleId::Scan,
        "is signed by a policy key but cannot be used: https://in-toto.io/attestation/vulns/v0.1 predicate is invalid: missing field `uri`",
    );
}

#[test]
fn unreadable_severities_count_as_critical() {
    let mut s = Scenario::new(2);
    let sbom = Digest::sha256_of(b"image sbom");
    let at = pos(&s, "vulns", 0);
    s.entries[at] = scenario::scan(
        &s.image,
        &sbom,
        json!([{"id": "X-1", "severity": [{"method": "x", "score": "spicy"}]}]),
        "2025-06-01T10:30:00Z",
        &s.keys.scanner,
    );
    denied_by(&decide(&s), RuleId::Scan, "treated as critical");
}

#[test]
fn a_reviewer_who_is_the_builder_is_denied() {
    let mut s = Scenario::new(3);
    s.reviews_min = 1;
    s.entries.truncate(pos(&s, "review", 0));
    // The builder's key is also listed as a reviewer and approves its own build.
    s.entries.push(scenario::review(
        &s.image.digest,
        &s.keys.builder,
        ReviewDecision::Approved,
    ));
    let text = s.policy_text().replace(
        "reviewer: [keys/alice.pub, keys/bob.pub]",
        "reviewer: [keys/alice.pub, keys/ci.pub]",
    );
    let d = verify(
        &s.policy_from(&text),
        &s.image.facts(),
        &s.evidence(),
        &s.context(),
    );
    denied_by(&d, RuleId::Reviews, "that key is the builder's (four eyes)");
}

#[test]
fn the_same_reviewer_twice_counts_once() {
    let mut s = Scenario::new(3);
    s.entries.truncate(pos(&s, "review", 0));
    s.entries.push(scenario::review(
        &s.image.digest,
        &s.keys.alice,
        ReviewDecision::Approved,
    ));
    // A second, distinct envelope by the same key (another comment and time).
    let p = custody_attest::ReviewPredicate {
        decision: ReviewDecision::Approved,
        reviewer: custody_attest::Reviewer {
            key_id: s.keys.alice.key_id(),
        },
        source_ref: None,
        comment: Some("again".into()),
        reviewed_on: scenario::time("2025-06-01T11:30:00Z"),
    };
    let again = custody_attest::sign_statement(
        &p.statement(&s.image.digest, None),
        &s.keys.alice,
        Default::default(),
    );
    s.entries.push(again);
    let d = decide(&s);
    denied_by(
        &d,
        RuleId::Reviews,
        "1 distinct reviewer keys approved this image; the policy requires 2",
    );
}

#[test]
fn a_rejection_by_a_reviewer_blocks() {
    let mut s = Scenario::new(3);
    s.entries.push(scenario::review(
        &s.image.digest,
        &s.keys.bob,
        ReviewDecision::Rejected,
    ));
    denied_by(&decide(&s), RuleId::Reviews, "rejected this image");
}

#[test]
fn root_images_and_forbidden_packages_are_denied() {
    let s = Scenario::with_user(3, "0:0");
    denied_by(&decide(&s), RuleId::Config, "runs as root");
    let mut s = Scenario::new(3);
    s.forbidden = vec!["openssl".into()];
    denied_by(&decide(&s), RuleId::Config, "forbidden package openssl");
    s.forbidden = vec!["pkg:deb/debian/pkg2".into()];
    denied_by(
        &decide(&s),
        RuleId::Config,
        "forbidden package pkg:deb/debian/pkg2",
    );
}

#[test]
fn a_package_removed_by_a_later_layer_is_not_in_the_final_filesystem() {
    let mut s = Scenario::new(3);
    s.forbidden = vec!["openssl".into()];
    let sbom = scenario::layer_sbom(&[], &[("openssl", "3.0.15-1")], &s.image.diff_ids[2]);
    s.entries[3] = scenario::layer_envelope(&s.image, 2, &sbom, &s.keys.builder);
    // The provenance names layer envelopes by digest; re-sign it over the new one.
    let envs = vec![
        None,
        Some(s.entries[2].digest()),
        Some(s.entries[3].digest()),
    ];
    s.entries[4] = scenario::provenance(
        &s.image,
        Some((&s.base, 1)),
        &envs,
        Some(&Digest::sha256_of(b"image sbom")),
        Role::Builder,
        &s.keys.builder,
    );
    let d = decide(&s);
    assert!(d.allowed, "{}", d.to_text());
}

#[test]
fn a_forged_inclusion_proof_is_denied() {
    let s = Scenario::new(3);
    let mut ev = s.evidence();
    let path = ev.entries[4].inclusion_path.as_mut().unwrap();
    path[0] = custody_log::leaf_hash(b"forged");
    let d = verify(&s.policy(), &s.image.facts(), &ev, &s.context());
    denied_by(&d, RuleId::Ledger, "inclusion proof at log index 4 fails");
    // An entry claiming another index.
    let mut ev = s.evidence();
    ev.entries[4].log_index = Some(5);
    let d = verify(&s.policy(), &s.image.facts(), &ev, &s.context());
    denied_by(&d, RuleId::Ledger, "not proven to be in the ledger");
}

#[test]
fn a_checkpoint_signed_by_another_key_is_denied() {
    let s = Scenario::new(3);
    let mut ev = s.evidence();
    let log = s.log();
    let other = SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[42; 32]);
    let cp = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap();
    ev.checkpoint = Some(
        SignedCheckpoint::sign(&cp, &other)
            .unwrap()
            .as_str()
            .to_owned(),
    );
    let d = verify(&s.policy(), &s.image.facts(), &ev, &s.context());
    denied_by(&d, RuleId::Ledger, "not signed by log key");
}

#[test]
fn rollback_and_fork_against_the_trusted_state_are_denied() {
    let s = Scenario::new(3);
    let log = s.log();
    // Trusted: a larger tree than the evidence shows (rolled back).
    let mut bigger = s.log();
    bigger
        .append(&[custody_log::leaf_hash(b"later entry")])
        .unwrap();
    let trusted = TrustedCheckpoint {
        origin: ORIGIN.into(),
        size: bigger.size(),
        root: bigger.root(),
    };
    let cx = Context {
        now: s.now,
        trusted: Some(trusted),
    };
    let d = verify(&s.policy(), &s.image.facts(), &s.evidence(), &cx);
    denied_by(&d, RuleId::Ledger, "rollback");
    // Trusted: the same size with another root (a fork).
    let forked = MemoryStore::from_leaf_hashes(
        (0..log.size()).map(|i| custody_log::leaf_hash(&i.to_be_bytes())),
    )
    .unwrap();
    let trusted = TrustedCheckpoint {
        origin: ORIGIN.into(),
        size: log.size(),
        root: forked.root(),
    };
    let cx = Context {
        now: s.now,
        trusted: Some(trusted),
    };
    denied_by(
        &verify(&s.policy(), &s.image.facts(), &s.evidence(), &cx),
        RuleId::Ledger,
        "fork",
    );
    // Trusted: an older size with no consistency proof in the evidence.
    let trusted = TrustedCheckpoint {
        origin: ORIGIN.into(),
        size: 2,
        root: log.root_at(2).unwrap(),
    };
    let cx = Context {
        now: s.now,
        trusted: Some(trusted.clone()),
    };
    denied_by(
        &verify(&s.policy(), &s.image.facts(), &s.evidence(), &cx),
        RuleId::Ledger,
        "no consistency proof",
    );
    // With the proof, it advances.
    let mut ev = s.evidence();
    ev.consistency.push(custody_verify::ConsistencyStep {
        from_size: 2,
        hashes: log.consistency_proof(2, log.size()).unwrap().path,
    });
    let d = verify(&s.policy(), &s.image.facts(), &ev, &cx);
    assert!(d.allowed, "{}", d.to_text());
    assert_eq!(d.next_state.unwrap().size, log.size());
    // A proof from another history fails as a fork.
    let mut ev = s.evidence();
    ev.consistency.push(custody_verify::ConsistencyStep {
        from_size: 2,
        hashes: forked.consistency_proof(2, log.size()).unwrap().path,
    });
    denied_by(
        &verify(&s.policy(), &s.image.facts(), &ev, &cx),
        RuleId::Ledger,
        "fork",
    );
}

#[test]
fn evidence_with_an_entry_removed_is_denied() {
    for removed in 0..8 {
        let s = Scenario::new(3);
        let mut ev = s.evidence();
        ev.entries.remove(removed);
        let d = verify(&s.policy(), &s.image.facts(), &ev, &s.context());
        assert!(!d.allowed, "entry {removed} removed: {}", d.to_text());
    }
}

#[test]
fn scans_and_reviews_logged_before_the_build_are_denied() {
    let mut s = Scenario::new(3);
    let at = pos(&s, "vulns", 0);
    let scan = s.entries.remove(at);
    s.entries.insert(0, scan);
    denied_by(
        &decide(&s),
        RuleId::Ledger,
        "logged before the build provenance",
    );
}

#[test]
fn bundles_are_refused_unless_the_policy_accepts_them() {
    let s = Scenario::new(3);
    let text = s
        .policy_text()
        .replace("accept_bundles: true", "accept_bundles: false");
    let d = verify(
        &s.policy_from(&text),
        &s.image.facts(),
        &s.evidence(),
        &s.context(),
    );
    denied_by(&d, RuleId::Ledger, "does not accept bundles");
}

#[test]
fn without_a_base_image_the_base_rule_follows_the_policy() {
    let mut s = Scenario::new(2);
    // Rebuild as an image built from scratch: every layer by the builder.
    let sbom = scenario::layer_sbom(&[], &[], &s.image.diff_ids[0]);
    let l0 = scenario::layer_envelope(&s.image, 0, &sbom, &s.keys.builder);
    let at = pos(&s, "provenance", 1);
    let envs = vec![Some(l0.digest()), Some(s.entries[2].digest())];
    s.entries[at] = scenario::provenance(
        &s.image,
        None,
        &envs,
        Some(&Digest::sha256_of(b"image sbom")),
        Role::Builder,
        &s.keys.builder,
    );
    s.entries.insert(at, l0);
    denied_by(&decide(&s), RuleId::BaseImage, "names no base image");
    let text = s
        .policy_text()
        .replace("base_image: required", "base_image: optional");
    let d = verify(
        &s.policy_from(&text),
        &s.image.facts(),
        &s.evidence(),
        &s.context(),
    );
    assert!(d.allowed, "{}", d.to_text());
}
