//! Every OSV record of ../shared/testdata/osv against the outcome its SOURCES.md row states
//! (or, where the row only describes the record, the outcome its ranges define).

use custody_testkit::testdata_or_skip;
use custody_vuln::{AdvisoryDb, SeverityLevel, WarningKind};

use crate::support::component;

/// (file, purl of the component, expected: `Some(fixed)` = affected, `None` = not affected)
const ROWS: &[(&str, &str, Option<Option<&str>>)] = &[
    // crates.io: regex < 1.5.5 (row: "regex 1.5.4 AFFECTED, 1.5.5 NOT")
    (
        "crates.io/GHSA-m5pq-gvj9-9vr8.json",
        "pkg:cargo/regex@1.5.4",
        Some(Some("1.5.5")),
    ),
    (
        "crates.io/GHSA-m5pq-gvj9-9vr8.json",
        "pkg:cargo/regex@1.5.5",
        None,
    ),
    (
        "crates.io/GHSA-m5pq-gvj9-9vr8.json",
        "pkg:cargo/regex@0.1.0",
        Some(Some("1.5.5")),
    ),
    // Debian DSA for Debian:7 nginx, fixed 1.2.1-2.2+wheezy3; scoped to release 7.
    (
        "debian/DSA-3029-1.json",
        "pkg:deb/debian/nginx@1.2.1-2.2%2Bwheezy2?distro=debian-7",
        Some(Some("1.2.1-2.2+wheezy3")),
    ),
    (
        "debian/DSA-3029-1.json",
        "pkg:deb/debian/nginx@1.2.1-2.2%2Bwheezy3?distro=debian-7",
        None,
    ),
    (
        "debian/DSA-3029-1.json",
        "pkg:deb/debian/nginx@1.2.1-2.2?distro=debian-8",
        None,
    ),
    (
        "debian/DSA-3029-1.json",
        "pkg:deb/debian/nginx-light@1.2.1-2.2?distro=debian-7&upstream=nginx",
        Some(Some("1.2.1-2.2+wheezy3")),
    ),
    // GHSA converter expected outputs.
    (
        "ghsa-converter/equals_with_patch.osv.json",
        "pkg:npm/mixin-deep@1.3.1",
        Some(Some("1.3.2")),
    ),
    (
        "ghsa-converter/equals_with_patch.osv.json",
        "pkg:npm/mixin-deep@1.3.2",
        None,
    ),
    (
        "ghsa-converter/equals_with_patch.osv.json",
        "pkg:npm/mixin-deep@1.9.0",
        None,
    ),
    (
        "ghsa-converter/equals_with_patch.osv.json",
        "pkg:npm/mixin-deep@2.0.0",
        Some(Some("2.0.1")),
    ),
    (
        "ghsa-converter/equals_with_patch.osv.json",
        "pkg:npm/mixin-deep@2.0.1",
        None,
    ),
    (
        "ghsa-converter/less_than_equals_with_patch.osv.json",
        "pkg:npm/i18next@1.10.2",
        Some(Some("1.10.3")),
    ),
    (
        "ghsa-converter/less_than_equals_with_patch.osv.json",
        "pkg:npm/i18next@1.10.3",
        None,
    ),
    (
        "ghsa-converter/npm_greater_than.osv.json",
        "pkg:npm/jquery@2.1.0",
        None,
    ),
    (
        "ghsa-converter/npm_greater_than.osv.json",
        "pkg:npm/jquery@2.1.1-beta.1",
        Some(Some("3.0.0")),
    ),
    (
        "ghsa-converter/npm_greater_than.osv.json",
        "pkg:npm/jquery@2.2.4",
        Some(Some("3.0.0")),
    ),
    (
        "ghsa-converter/npm_greater_than.osv.json",
        "pkg:npm/jquery@3.0.0",
        None,
    ),
    (
        "ghsa-converter/pypi_normalize.osv.json",
        "pkg:pypi/Products.PluggableAuthService@2.6.0",
        Some(Some("2.6.1")),
    ),
    (
        "ghsa-converter/pypi_normalize.osv.json",
        "pkg:pypi/products-pluggableauthservice@2.6.1",
        None,
    ),
    // npm lodash (row: "lodash 4.17.11 AFFECTED, 4.17.12 NOT"), and its sibling packages.
    (
        "npm/GHSA-jf85-cpcp-j695.json",
        "pkg:npm/lodash@4.17.11",
        Some(Some("4.17.12")),
    ),
    (
        "npm/GHSA-jf85-cpcp-j695.json",
        "pkg:npm/lodash@4.17.12",
        None,
    ),
    (
        "npm/GHSA-jf85-cpcp-j695.json",
        "pkg:npm/lodash-es@4.17.13",
        Some(Some("4.17.14")),
    ),
    (
        "npm/GHSA-jf85-cpcp-j695.json",
        "pkg:npm/lodash.defaultsdeep@4.6.1",
        None,
    ),
    // osv-linter fixtures.
    (
        "osv-linter/CVE-2018-5407.json",
        "pkg:apk/alpine/openssl@1.0.2p-r0?distro=alpine-3.8.5",
        Some(Some("1.0.2q-r0")),
    ),
    (
        "osv-linter/CVE-2018-5407.json",
        "pkg:apk/alpine/libssl1.0@1.0.2p-r0?distro=alpine-3.8.5&upstream=openssl",
        Some(Some("1.0.2q-r0")),
    ),
    (
        "osv-linter/CVE-2018-5407.json",
        "pkg:apk/alpine/openssl@1.0.2q-r0?distro=alpine-3.8.5",
        None,
    ),
    (
        "osv-linter/CVE-2018-5407.json",
        "pkg:apk/alpine/openssl@1.0.2p-r0?distro=alpine-3.9.0",
        None,
    ),
    (
        "osv-linter/GHSA-9v2f-6vcg-3hgv.json",
        "pkg:pypi/gradio@4.36.1",
        Some(None),
    ),
    (
        "osv-linter/GHSA-9v2f-6vcg-3hgv.json",
        "pkg:pypi/gradio@4.36.0",
        None,
    ),
    (
        "osv-linter/GO-2020-0001.json",
        "pkg:golang/github.com/gin-gonic/gin@v1.5.0",
        Some(Some("1.6.0")),
    ),
    (
        "osv-linter/GO-2020-0001.json",
        "pkg:golang/github.com/gin-gonic/gin@v0.0.0-20190101000000-abcdefabcdef",
        Some(Some("1.6.0")),
    ),
    (
        "osv-linter/GO-2020-0001.json",
        "pkg:golang/github.com/gin-gonic/gin@v1.6.0",
        None,
    ),
    (
        "osv-linter/MAL-2024-10238.json",
        "pkg:pypi/123bla@0.0.1",
        Some(None),
    ),
    (
        "osv-linter/MAL-2024-10238.json",
        "pkg:pypi/123bla@0.0.2",
        None,
    ),
    (
        "osv-linter/PYSEC-2023-74.json",
        "pkg:pypi/requests@2.30.0",
        Some(Some("2.31.0")),
    ),
    (
        "osv-linter/PYSEC-2023-74.json",
        "pkg:pypi/requests@2.31.0",
        None,
    ),
    (
        "osv-linter/PYSEC-2023-74.json",
        "pkg:pypi/requests@2.2.1",
        None,
    ),
    (
        "osv-linter/nopackage-GHSA-9v2f-6vcg-3hgv.json",
        "pkg:pypi/gradi0@4.36.1",
        Some(None),
    ),
    (
        "osv-linter/nopackage-GHSA-9v2f-6vcg-3hgv.json",
        "pkg:pypi/gradio@4.36.1",
        None,
    ),
    // PyPI advisory database records.
    (
        "pypi/PYSEC-2021-142.json",
        "pkg:pypi/PyYAML@5.3.1",
        Some(Some("5.4")),
    ),
    (
        "pypi/PYSEC-2021-142.json",
        "pkg:pypi/pyyaml@5.4b2",
        Some(Some("5.4")),
    ),
    ("pypi/PYSEC-2021-142.json", "pkg:pypi/pyyaml@5.4", None),
    (
        "pypi/PYSEC-2021-66.json",
        "pkg:pypi/Jinja2@2.11.2",
        Some(Some("2.11.3")),
    ),
    ("pypi/PYSEC-2021-66.json", "pkg:pypi/jinja2@2.11.3", None),
    (
        "pypi/PYSEC-2023-212.json",
        "pkg:pypi/urllib3@2.0.6",
        Some(Some("2.0.7")),
    ),
    (
        "pypi/PYSEC-2023-212.json",
        "pkg:pypi/urllib3@1.26.17",
        Some(Some("1.26.18")),
    ),
    ("pypi/PYSEC-2023-212.json", "pkg:pypi/urllib3@1.26.18", None),
    ("pypi/PYSEC-2023-212.json", "pkg:pypi/urllib3@2.0.7", None),
    ("pypi/PYSEC-2023-212.json", "pkg:pypi/urllib3@2.2.3", None),
    (
        "pypi/PYSEC-2023-254.json",
        "pkg:pypi/cryptography@41.0.5",
        Some(Some("41.0.6")),
    ),
    (
        "pypi/PYSEC-2023-254.json",
        "pkg:pypi/cryptography@3.0",
        None,
    ),
    (
        "pypi/PYSEC-2023-254.json",
        "pkg:pypi/cryptography@41.0.6",
        None,
    ),
    (
        "pypi/PYSEC-2023-62.json",
        "pkg:pypi/Flask@2.2.4",
        Some(Some("2.2.5")),
    ),
    (
        "pypi/PYSEC-2023-62.json",
        "pkg:pypi/flask@2.3.1",
        Some(Some("2.3.2")),
    ),
    ("pypi/PYSEC-2023-62.json", "pkg:pypi/flask@2.2.5", None),
    ("pypi/PYSEC-2023-62.json", "pkg:pypi/flask@2.3.2", None),
    (
        "pypi/PYSEC-2023-74.json",
        "pkg:pypi/requests@2.28.2",
        Some(Some("2.31.0")),
    ),
    ("pypi/PYSEC-2023-74.json", "pkg:pypi/requests@2.32.3", None),
    (
        "pypi/osvdev-test_vuln.json",
        "pkg:pypi/cryptography@3.1.1",
        Some(Some("3.1.2")),
    ),
    (
        "pypi/osvdev-test_vuln.json",
        "pkg:pypi/cryptography@3.2",
        Some(Some("3.3.2")),
    ),
    (
        "pypi/osvdev-test_vuln.json",
        "pkg:pypi/cryptography@3.1.2",
        None,
    ),
    (
        "pypi/osvdev-test_vuln.json",
        "pkg:pypi/cryptography@3.3.2",
        None,
    ),
    // Withdrawn: "must be ignored by matchers".
    (
        "pypi/osvdev-test_vuln_withdrawn.json",
        "pkg:pypi/cryptography@3.2",
        None,
    ),
];

#[test]
fn every_record_gives_the_outcome_its_row_states() {
    let dir = testdata_or_skip!().join("osv");
    for (file, purl, expect) in ROWS {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let db = AdvisoryDb::from_records(vec![(file.to_string(), bytes)]);
        let report = db.scan_components(&[component(purl)], None);
        assert!(
            report.unevaluated.is_empty(),
            "{file} {purl}: unevaluated {:?}",
            report.unevaluated
        );
        match expect {
            Some(fixed) => {
                assert_eq!(report.findings.len(), 1, "{file}: {purl} must be affected");
                assert_eq!(
                    report.findings[0].fixed.as_deref(),
                    *fixed,
                    "{file}: {purl} fixed version"
                );
            }
            None => assert!(
                report.findings.is_empty(),
                "{file}: {purl} must not be affected, got {:?}",
                report.findings
            ),
        }
    }
}

#[test]
fn invalid_fragment_and_non_osv_files_are_skipped_with_a_warning_naming_them() {
    let dir = testdata_or_skip!().join("osv");
    for (file, id) in [
        (
            "osv-linter/nointroduced-CVE-2023-41045.json",
            Some("CVE-2023-41045"),
        ),
        ("debian/CVE-2016-1585.debian-part.json", None),
        ("ghsa-converter/withdrawn.ghsa.json", None),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let db = AdvisoryDb::from_records(vec![(file.to_string(), bytes)]);
        assert!(db.advisories().is_empty(), "{file}");
        let w = &db.warnings()[0];
        assert_eq!(w.kind, WarningKind::SchemaViolation, "{file}: {w}");
        assert_eq!(w.source, file);
        assert_eq!(w.id.as_deref(), id, "{file}");
    }
    // The withdrawn record is read and counted, but never matched.
    let file = "pypi/osvdev-test_vuln_withdrawn.json";
    let db = AdvisoryDb::from_records(vec![(file.into(), std::fs::read(dir.join(file)).unwrap())]);
    assert_eq!((db.advisories().len(), db.withdrawn()), (0, 1));
}

#[test]
fn the_whole_folder_loads_with_warnings_for_what_is_not_usable() {
    let dir = testdata_or_skip!().join("osv");
    let db = AdvisoryDb::load(&dir).unwrap();
    db.check_all();
    let w = |kind: WarningKind| db.warnings().iter().filter(|w| w.kind == kind).count();
    // nointroduced, the Debian fragment, six GHSA API inputs and the JSON schema itself.
    assert_eq!(w(WarningKind::SchemaViolation), 9, "{:#?}", db.warnings());
    assert!(
        db.warnings()
            .iter()
            .any(|w| w.source.ends_with("nointroduced-CVE-2023-41045.json")
                && w.id.as_deref() == Some("CVE-2023-41045"))
    );
    assert_eq!(w(WarningKind::IgnoredFile), 1); // SOURCES.md
    assert!(w(WarningKind::UnsupportedEcosystem) >= 1); // RubyGems
    assert!(w(WarningKind::DuplicateId) >= 3); // PYSEC-2023-74, PYSEC-2021-63, GHSA-9v2f-6vcg-3hgv
    // Every valid distinct record is kept (24 valid records, 3 of them duplicate IDs).
    assert_eq!(
        db.advisories().len(),
        21,
        "{:?}",
        db.advisories().iter().map(|a| &a.id).collect::<Vec<_>>()
    );
    // Same content, same digest, whatever the order it was read in.
    let again = AdvisoryDb::load(&dir).unwrap();
    assert_eq!(again.snapshot(), db.snapshot());
    assert_eq!(
        db.snapshot().last_modified.unwrap().to_string(),
        "2024-10-27T13:55:45Z"
    );
    // PYSEC-2021-63: the active and the withdrawn copy share `modified`; the one in force wins.
    assert!(db.get("PYSEC-2021-63").is_some());
    // The keys an advisory touches, for the ledger.
    let keys: Vec<String> = db
        .get("GHSA-jf85-cpcp-j695")
        .unwrap()
        .package_keys()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        keys,
        [
            "npm/lodash",
            "npm/lodash-amd",
            "npm/lodash-es",
            "npm/lodash.defaultsdeep"
        ]
    );
}

#[test]
fn severities_come_from_vectors_then_database_ratings() {
    let dir = testdata_or_skip!().join("osv");
    for (file, purl, level, score) in [
        (
            "crates.io/GHSA-m5pq-gvj9-9vr8.json",
            "pkg:cargo/regex@1.5.4",
            Some(SeverityLevel::High),
            Some(7.5),
        ),
        (
            "npm/GHSA-jf85-cpcp-j695.json",
            "pkg:npm/lodash@4.17.11",
            Some(SeverityLevel::Critical),
            Some(9.1),
        ),
        (
            "pypi/PYSEC-2023-212.json",
            "pkg:pypi/urllib3@2.0.6",
            Some(SeverityLevel::Medium),
            Some(4.2),
        ),
        (
            "pypi/PYSEC-2021-66.json",
            "pkg:pypi/jinja2@2.11.2",
            None,
            None,
        ),
    ] {
        let db =
            AdvisoryDb::from_records(vec![(file.into(), std::fs::read(dir.join(file)).unwrap())]);
        let r = db.scan_components(&[component(purl)], None);
        assert_eq!(r.findings[0].severity.level, level, "{file}");
        assert_eq!(r.findings[0].severity.score, score, "{file}");
    }
}
