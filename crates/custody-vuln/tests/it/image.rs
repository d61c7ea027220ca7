//! The real debian-py-node image: an SBOM built from its ground-truth package lists (and the
//! `Source:` fields of its real dpkg database, read from the image's layer), scanned against
//! the testdata OSV records plus SYNTHETIC advisories that target packages actually in the
//! image at their real versions, with exactly the expected findings.
//!
//! The synthetic records (IDs `x_custody-synthetic-…`, the OSV schema's private prefix) are
//! not real vulnerabilities; they exist to prove each ecosystem matches on real package data.

use std::collections::BTreeSet;

use custody_testkit::testdata_or_skip;
use custody_vuln::cyclonedx::read_cyclonedx;
use custody_vuln::{AdvisoryDb, SeverityLevel};
use serde_json::{Value, json};

use crate::support::{json_files, record};
use crate::truth_sbom::{read_image, sbom};

fn range(eco: &str, name: &str, events: Value) -> Value {
    json!([{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}])
}

fn synthetic() -> Vec<(String, Vec<u8>)> {
    let cvss_critical = json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]});
    let none = json!({});
    let records = vec![
        (
            "x_custody-synthetic-urllib3",
            range(
                "PyPI",
                "urllib3",
                json!([{"introduced": "0"}, {"fixed": "2.2.4"}]),
            ),
            json!({"database_specific": {"severity": "MODERATE"}}),
        ),
        (
            "x_custody-synthetic-glibc",
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u15"}]),
            ),
            cvss_critical.clone(),
        ),
        (
            "x_custody-synthetic-glibc-fixed",
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u14"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-glibc-debian11",
            range("Debian:11", "glibc", json!([{"introduced": "0"}])),
            none.clone(),
        ),
        (
            "x_custody-synthetic-bzip2-binnmu",
            range(
                "Debian:12",
                "bzip2",
                json!([{"introduced": "0"}, {"last_affected": "1.0.8-5"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            range(
                "Debian",
                "e2fsprogs",
                json!([{"introduced": "0"}, {"fixed": "1.47.0-3"}]),
            ),
            json!({"affected": [{"package": {"ecosystem": "Debian", "name": "e2fsprogs"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.47.0-3"}]}], "ecosystem_specific": {"urgency": "low"}}]}),
        ),
        (
            "x_custody-synthetic-lodash",
            range(
                "npm",
                "lodash",
                json!([{"introduced": "4.17.0"}, {"fixed": "4.17.22"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-lodash-last-affected",
            range(
                "npm",
                "lodash",
                json!([{"introduced": "0"}, {"last_affected": "4.17.20"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-ms",
            json!([{"package": {"ecosystem": "npm", "name": "ms"}, "versions": ["2.0.0"]}]),
            none.clone(),
        ),
        (
            "x_custody-synthetic-charset",
            range(
                "PyPI",
                "Charset_Normalizer",
                json!([{"introduced": "0"}, {"fixed": "3.4.1"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-memchr",
            range(
                "crates.io",
                "memchr",
                json!([{"introduced": "2.0.0"}, {"fixed": "2.7.5"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-six-removed",
            range("PyPI", "six", json!([{"introduced": "0"}])),
            none.clone(),
        ),
        (
            "x_custody-synthetic-logsave-purged",
            range("Debian:12", "logsave", json!([{"introduced": "0"}])),
            none,
        ),
    ];
    records
        .into_iter()
        .map(|(id, affected, extra)| (format!("synthetic/{id}.json"), record(id, affected, extra)))
        .collect()
}

#[test]
fn debian_py_node_gives_exactly_the_expected_findings() {
    let testdata = testdata_or_skip!();
    let dir = testdata.join("images/debian-py-node");
    let image = read_image(&dir);
    let doc = read_cyclonedx(&sbom(&dir, &image)).unwrap();
    assert!(doc.components.len() > 200, "{}", doc.components.len());

    let mut records: Vec<(String, Vec<u8>)> = json_files(&testdata.join("osv"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    records.extend(synthetic());
    let db = AdvisoryDb::from_records(records);
    let report = db.scan(&doc);

    assert!(report.unevaluated.is_empty(), "{:#?}", report.unevaluated);
    assert_eq!(report.not_packages, 1);
    let got: BTreeSet<(String, String)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.component
                    .purl
                    .clone()
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("x_custody-synthetic-urllib3", "pkg:pypi/urllib3@2.2.3"),
        (
            "x_custody-synthetic-glibc",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14",
        ),
        (
            "x_custody-synthetic-glibc",
            "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u14",
        ),
        (
            "x_custody-synthetic-bzip2-binnmu",
            "pkg:deb/debian/libbz2-1.0@1.0.8-5%2Bb1",
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libcom-err2@1.47.0-2%2Bb2",
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libext2fs2@1.47.0-2%2Bb2",
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libss2@1.47.0-2%2Bb2",
        ),
        ("x_custody-synthetic-lodash", "pkg:npm/lodash@4.17.21"),
        ("x_custody-synthetic-ms", "pkg:npm/ms@2.0.0"),
        (
            "x_custody-synthetic-charset",
            "pkg:pypi/charset-normalizer@3.4.0",
        ),
        ("x_custody-synthetic-memchr", "pkg:cargo/memchr@2.7.4"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(
        got,
        want,
        "missing: {:?}\nextra: {:?}",
        want.difference(&got).collect::<Vec<_>>(),
        got.difference(&want).collect::<Vec<_>>()
    );

    // Layer attribution, fixed versions and severities travel with the findings.
    let find = |id: &str, name: &str| {
        report
            .findings
            .iter()
            .find(|f| f.id == id && f.component.name == name)
            .unwrap()
    };
    let urllib3 = find("x_custody-synthetic-urllib3", "urllib3");
    assert_eq!(
        urllib3.component.layer.as_deref(),
        Some(image.diff_ids[2].as_str())
    );
    assert_eq!(urllib3.fixed.as_deref(), Some("2.2.4"));
    assert_eq!(urllib3.severity.level, Some(SeverityLevel::Medium));
    let libc = find("x_custody-synthetic-glibc", "libc6");
    assert_eq!(
        libc.component.layer.as_deref(),
        Some(image.diff_ids[0].as_str())
    );
    assert_eq!(
        (libc.package.name.as_str(), libc.package.version.as_str()),
        ("glibc", "2.36-9+deb12u14")
    );
    assert_eq!(libc.severity.level, Some(SeverityLevel::Critical));
    let bz = find("x_custody-synthetic-bzip2-binnmu", "libbz2-1.0");
    assert_eq!(
        bz.package.version, "1.0.8-5",
        "compared by source version, not the binNMU's"
    );
    assert_eq!(
        find("x_custody-synthetic-e2fsprogs", "libss2")
            .severity
            .level,
        Some(SeverityLevel::Low)
    );
    assert_eq!(
        find("x_custody-synthetic-lodash", "lodash")
            .component
            .layer
            .as_deref(),
        Some(image.diff_ids[3].as_str())
    );
    assert_eq!(
        report.findings[0].severity.level,
        Some(SeverityLevel::Critical),
        "most severe first"
    );
}
