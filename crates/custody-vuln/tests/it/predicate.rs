//! The vulns v0.1 predicate round trip, VEX application to it, and SARIF structure.

use custody_types::Digest;
use custody_vuln::{
    AdvisoryDb, Justification, PredicateInputs, SeverityLevel, VexDocument, VexProduct,
    VexStatement, VexStatus, VexVulnerability, VulnsPredicate, apply_vex, to_sarif,
};
use serde_json::json;

use crate::support::{component, record};

fn scan() -> (AdvisoryDb, custody_vuln::ScanReport) {
    let db = AdvisoryDb::from_records(vec![
        (
            "a.json".into(),
            record(
                "GHSA-aaaa-bbbb-cccc",
                json!([{"package": {"ecosystem": "npm", "name": "lodash"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.12"}]}]}]),
                json!({"aliases": ["CVE-2019-10744"], "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H"}]}),
            ),
        ),
        (
            "b.json".into(),
            record(
                "PYSEC-2000-1",
                json!([{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0"]}]),
                json!({"database_specific": {"severity": "LOW"}}),
            ),
        ),
    ]);
    let r = db.scan_components(
        &[
            component("pkg:npm/lodash@4.17.11"),
            component("pkg:pypi/x@1.0"),
            component("pkg:gem/rails@7.0.0"),
        ],
        None,
    );
    (db, r)
}

fn predicate() -> (VulnsPredicate, Digest) {
    let (db, report) = scan();
    let sbom = Digest::sha256_of(b"sbom");
    let p = VulnsPredicate::new(
        &report,
        &PredicateInputs {
            scanner_uri: "https://github.com/custody-dev/custody",
            scanner_version: "0.1.0",
            db_uri: Some("file:///osv"),
            snapshot: db.snapshot(),
            sbom_digest: sbom.clone(),
            sbom_media_type: "application/vnd.cyclonedx+json",
            started: "2026-01-01T00:00:00Z".parse().unwrap(),
            finished: "2026-01-01T00:00:01Z".parse().unwrap(),
        },
    );
    (p, sbom)
}

#[test]
fn predicate_round_trips_and_exposes_what_the_verifier_reads() {
    let (p, sbom) = predicate();
    let v = p.to_json();
    assert_eq!(v["scanner"]["result"][0]["id"], "GHSA-aaaa-bbbb-cccc");
    assert_eq!(
        v["scanner"]["result"][0]["annotations"][0]["purl"],
        "pkg:npm/lodash@4.17.11"
    );
    assert_eq!(
        v["scanner"]["result"][0]["annotations"][0]["fixedVersion"],
        "4.17.12"
    );
    assert_eq!(
        v["scanner"]["result"][0]["annotations"][0]["aliases"][0],
        "CVE-2019-10744"
    );
    assert_eq!(
        v["scanner"]["db"]["version"],
        json!(p.db_snapshot().unwrap().to_string())
    );
    assert!(v["metadata"]["scanStartedOn"].is_string());
    assert_eq!(v["custody"]["summary"]["unevaluated"], 1);
    assert_eq!(
        v["custody"]["unevaluated"][0]["reasons"][0]["reason"],
        "unsupported-ecosystem"
    );
    let back = VulnsPredicate::from_json(&v).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.max_severity(), Some(SeverityLevel::Critical));
    assert_eq!(back.sbom_digest(), Some(&sbom));
    assert_eq!(back.unevaluated_count(), Some(1));
    assert_eq!(
        back.scanned_at().map(|t| t.to_string()).as_deref(),
        Some("2026-01-01T00:00:01Z")
    );
}

#[test]
fn predicates_from_other_scanners_read_with_what_they_say() {
    // The spec's minimum plus free-form annotations in other spellings: no `custody` member,
    // no database, no metadata.
    let v = json!({
        "scanner": {"uri": "https://example.com/other-scanner", "result": [
            {"id": "CVE-2024-1", "severity": [{"method": "nvd", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}],
             "annotations": [{"componentPurl": "pkg:npm/a@1", "alias": "GHSA-x"}, "not an object",
                             {"aliases": [1, "GHSA-y"], "package": {"name": "only a name"}}]},
            {"id": "CVE-2024-2", "severity": [{"method": "x", "score": "spicy"}]},
            {"id": "CVE-2024-3"}
        ]},
        "unevaluated": [{"purl": "pkg:gem/x@1"}],
    });
    let p = VulnsPredicate::from_json(&v).unwrap();
    assert_eq!(p.sbom_digest(), None);
    assert_eq!(p.db_snapshot(), None);
    assert_eq!(p.scanned_at(), None);
    assert_eq!(p.unevaluated_count(), Some(1));
    let r = &p.scanner.result;
    // CVSS v2 has no critical band: a 10.0 is rated high.
    assert_eq!(r[0].level(), Some(SeverityLevel::High));
    assert_eq!(r[0].annotations[0].purl.as_deref(), Some("pkg:npm/a@1"));
    assert_eq!(r[0].annotations[0].aliases, ["GHSA-x"]);
    assert_eq!(r[0].annotations[1], Default::default());
    assert_eq!(r[0].annotations[2].aliases, ["GHSA-y"]);
    assert_eq!(r[0].annotations[2].package, None);
    assert_eq!(r[1].level(), None);
    assert_eq!(r[2].level(), None);
    // The worst readable rating counts.
    let mixed: custody_vuln::VulnResult = serde_json::from_value(json!({"id": "X", "severity": [
        {"method": "custody", "score": "unknown"}, {"method": "ghsa", "score": "moderate"},
        {"method": "cvss_score", "score": "9.8"}, {"method": "y", "score": "11"}]}))
    .unwrap();
    assert_eq!(mixed.level(), Some(SeverityLevel::Critical));
    // What the spec requires is still required.
    assert!(VulnsPredicate::from_json(&json!({"scanner": {"result": []}})).is_err());
    assert!(VulnsPredicate::from_json(&json!({"scanner": {"uri": "u", "result": [{}]}})).is_err());
    assert!(VulnsPredicate::from_json(&json!([])).is_err());
}

#[test]
fn vex_waives_matching_findings_only() {
    let (p, _) = predicate();
    let image = Digest::sha256_of(b"manifest");
    let st = |name: &str, status, products, ts: &str| VexStatement {
        id: None,
        vulnerability: VexVulnerability {
            id: None,
            name: name.into(),
            aliases: vec![],
            description: None,
        },
        timestamp: Some(ts.parse().unwrap()),
        products,
        status,
        justification: (status == VexStatus::NotAffected)
            .then_some(Justification::VulnerableCodeNotInExecutePath),
        impact_statement: None,
        action_statement: (status == VexStatus::Affected).then(|| "upgrade".into()),
        status_notes: None,
    };
    // By alias, for the image: waives the critical finding.
    let waive = st(
        "CVE-2019-10744",
        VexStatus::NotAffected,
        vec![VexProduct::image(&image)],
        "2026-01-02T00:00:00Z",
    );
    let a = apply_vex(&p, Some(&image), std::slice::from_ref(&waive));
    assert_eq!(a.max_severity(), Some(SeverityLevel::Low));
    assert_eq!(a.decisions.iter().filter(|d| d.waived).count(), 1);
    assert_eq!(
        a.decisions.iter().find(|d| d.waived).unwrap().statement,
        Some(0)
    );
    // Of two statements at the same time, the one given (logged) last decides.
    let same_time_affected = st(
        "CVE-2019-10744",
        VexStatus::Affected,
        vec![VexProduct::image(&image)],
        "2026-01-02T00:00:00Z",
    );
    let b = apply_vex(
        &p,
        Some(&image),
        &[waive.clone(), same_time_affected.clone()],
    );
    assert_eq!(b.max_severity(), Some(SeverityLevel::Critical));
    let c = apply_vex(&p, Some(&image), &[same_time_affected, waive.clone()]);
    assert_eq!(c.max_severity(), Some(SeverityLevel::Low));
    // An image reference pinned by the digest names the image too.
    let mut by_ref = waive.clone();
    by_ref.products = vec![VexProduct {
        id: Some(format!("registry.example/app@{image}")),
        identifiers: Default::default(),
        hashes: Default::default(),
        subcomponents: vec![],
    }];
    assert_eq!(
        apply_vex(&p, Some(&image), &[by_ref]).max_severity(),
        Some(SeverityLevel::Low)
    );
    // Another image: nothing waived.
    let other = Digest::sha256_of(b"other");
    assert_eq!(
        apply_vex(&p, Some(&other), std::slice::from_ref(&waive)).max_severity(),
        Some(SeverityLevel::Critical)
    );
    // A later `affected` statement takes precedence.
    let later = st(
        "GHSA-aaaa-bbbb-cccc",
        VexStatus::Affected,
        vec![VexProduct::purl("pkg:npm/lodash")],
        "2026-01-03T00:00:00Z",
    );
    assert_eq!(
        apply_vex(&p, Some(&image), &[waive.clone(), later]).max_severity(),
        Some(SeverityLevel::Critical)
    );
    // `fixed` for the component purl waives; `under_investigation` does not.
    let fixed = st(
        "GHSA-aaaa-bbbb-cccc",
        VexStatus::Fixed,
        vec![VexProduct::purl("pkg:npm/lodash@4.17.11")],
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(
        apply_vex(&p, None, &[fixed]).max_severity(),
        Some(SeverityLevel::Low)
    );
    let ui = st(
        "GHSA-aaaa-bbbb-cccc",
        VexStatus::UnderInvestigation,
        vec![VexProduct::image(&image)],
        "2026-01-02T00:00:00Z",
    );
    assert_eq!(
        apply_vex(&p, Some(&image), &[ui]).max_severity(),
        Some(SeverityLevel::Critical)
    );
    // A document carries statements; its timestamp stands in for theirs.
    let mut no_ts = waive;
    no_ts.timestamp = None;
    let doc = VexDocument::new(
        "security@example.com",
        "2026-01-05T00:00:00Z".parse().unwrap(),
        vec![no_ts],
    )
    .unwrap();
    let eff = doc.effective_statements();
    assert_eq!(
        eff[0].timestamp.unwrap().to_string(),
        "2026-01-05T00:00:00Z"
    );
}

#[test]
fn sarif_has_rules_results_levels_and_purl_locations() {
    let (_, report) = scan();
    let s = to_sarif(&report, "0.1.0", Some("sbom.cdx.json"));
    assert_eq!(s["version"], "2.1.0");
    let run = &s["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["id"] == "GHSA-aaaa-bbbb-cccc"
                && r["properties"]["security-severity"] == "9.1")
    );
    let results = run["results"].as_array().unwrap();
    let lodash = results
        .iter()
        .find(|r| r["ruleId"] == "GHSA-aaaa-bbbb-cccc")
        .unwrap();
    assert_eq!(lodash["level"], "error");
    assert_eq!(
        lodash["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "pkg:npm/lodash@4.17.11"
    );
    assert!(
        lodash["message"]["text"]
            .as_str()
            .unwrap()
            .contains("fixed in 4.17.12")
    );
    assert_eq!(
        results
            .iter()
            .find(|r| r["ruleId"] == "PYSEC-2000-1")
            .unwrap()["level"],
        "note"
    );
    assert!(results.iter().any(|r| r["ruleId"] == "custody/unevaluated"));
    // Every result's ruleId names a rule.
    for r in results {
        assert!(rules.iter().any(|rule| rule["id"] == r["ruleId"]));
    }
}
