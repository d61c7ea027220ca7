//! Hostile and broken input: zip bombs, a 1 GB record, broken records, broken SBOMs.

use std::io::Write;

use custody_testkit::testdata_or_skip;
use custody_vuln::cyclonedx::{SbomError, read_cyclonedx};
use custody_vuln::{AdvisoryDb, DbError, LoadLimits, UnevaluatedReason, WarningKind};
use serde_json::json;
use zip::write::SimpleFileOptions;

use crate::support::{component, record};

fn good(id: &str) -> Vec<u8> {
    record(
        id,
        json!([{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1.0"]}]),
        json!({}),
    )
}

/// Writes one archive entry's content.
type Fill<'a> = &'a dyn Fn(&mut dyn Write);

fn zip_with(path: &std::path::Path, entries: &[(&str, Fill<'_>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for (name, write) in entries {
        z.start_file(*name, opts).unwrap();
        write(&mut z);
    }
    z.finish().unwrap();
}

fn zeros(n: u64) -> impl Fn(&mut dyn Write) {
    move |w: &mut dyn Write| {
        std::io::copy(&mut std::io::repeat(b' ').take_bytes(n), w).unwrap();
    }
}

trait TakeBytes {
    fn take_bytes(self, n: u64) -> std::io::Take<Self>
    where
        Self: Sized;
}

impl<R: std::io::Read> TakeBytes for R {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}

#[test]
fn a_zip_bomb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.zip");
    let g = good("PYSEC-0000-1");
    let write_good = move |w: &mut dyn Write| w.write_all(&g).unwrap();
    // 40 entries of 8 MiB that compress to a few KiB each: 320 MiB from a small archive.
    let bomb = zeros(8 << 20);
    let mut entries: Vec<(String, Fill<'_>)> = vec![("good.json".into(), &write_good)];
    for i in 0..40 {
        entries.push((format!("bomb-{i}.json"), &bomb));
    }
    let refs: Vec<(&str, Fill<'_>)> = entries.iter().map(|(n, f)| (n.as_str(), *f)).collect();
    zip_with(&path, &refs);
    assert!(std::fs::metadata(&path).unwrap().len() < 4 << 20);
    let limits = LoadLimits {
        max_total_bytes: 64 << 20,
        ..LoadLimits::default()
    };
    let err = AdvisoryDb::load_with_limits(&path, &limits).unwrap_err();
    assert!(matches!(err, DbError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("zip bomb"), "{err}");
}

#[test]
fn too_many_entries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.zip");
    let g = good("PYSEC-0000-1");
    let w = move |out: &mut dyn Write| out.write_all(&g).unwrap();
    let names: Vec<String> = (0..50).map(|i| format!("{i}.json")).collect();
    let refs: Vec<(&str, Fill<'_>)> = names.iter().map(|n| (n.as_str(), &w as Fill<'_>)).collect();
    zip_with(&path, &refs);
    let limits = LoadLimits {
        max_entries: 10,
        ..LoadLimits::default()
    };
    assert!(matches!(
        AdvisoryDb::load_with_limits(&path, &limits),
        Err(DbError::TooManyEntries { .. })
    ));
    // Within the limits the same archive loads (one record, 49 duplicates of its ID).
    let db = AdvisoryDb::load(&path).unwrap();
    assert_eq!(db.advisories().len(), 1);
    assert_eq!(
        db.warnings()
            .iter()
            .filter(|w| w.kind == WarningKind::DuplicateId)
            .count(),
        49
    );
}

#[test]
fn a_one_gigabyte_record_is_skipped_unread() {
    // A sparse 1 GiB file: its size is real, its blocks are not, and it is never read.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.json"), good("PYSEC-0000-1")).unwrap();
    let big = std::fs::File::create(dir.path().join("GHSA-huge.json")).unwrap();
    big.set_len(1 << 30).unwrap();
    let db = AdvisoryDb::load(dir.path()).unwrap();
    assert_eq!(db.advisories().len(), 1);
    let warnings = db.warnings();
    let w = warnings
        .iter()
        .find(|w| w.kind == WarningKind::TooLarge)
        .unwrap();
    assert!(w.source.ends_with("GHSA-huge.json"), "{w}");
}

#[test]
fn a_zip_entry_expanding_past_the_record_limit_is_skipped() {
    // A streamed entry: 96 MiB of blanks, more than the 64 MiB default record limit, whose
    // declared size the bounded read does not trust.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.zip");
    let g = good("PYSEC-0000-1");
    let write_good = move |w: &mut dyn Write| w.write_all(&g).unwrap();
    zip_with(
        &path,
        &[("ok.json", &write_good), ("huge.json", &zeros(96 << 20))],
    );
    let db = AdvisoryDb::load(&path).unwrap();
    assert_eq!(db.advisories().len(), 1);
    let warnings = db.warnings();
    let w = warnings
        .iter()
        .find(|w| w.kind == WarningKind::TooLarge)
        .unwrap();
    assert!(w.source.ends_with("all.zip!huge.json"), "{w}");
}

#[test]
fn broken_records_are_warnings_naming_the_record_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("ok.json", good("PYSEC-0000-1")),
        (
            "truncated.json",
            b"{\"id\": \"PYSEC-0000-2\", \"modif".to_vec(),
        ),
        ("no-modified.json", br#"{"id":"PYSEC-0000-3"}"#.to_vec()),
        (
            "unknown-eco.json",
            record(
                "PYSEC-0000-4",
                json!([{"package": {"ecosystem": "Haskell-ish", "name": "x"}}]),
                json!({}),
            ),
        ),
        (
            "unsupported-eco.json",
            record(
                "PYSEC-0000-5",
                json!([{"package": {"ecosystem": "RubyGems", "name": "rails"}, "versions": ["1"]}]),
                json!({}),
            ),
        ),
        (
            "bad-range.json",
            record(
                "PYSEC-0000-6",
                json!([{"package": {"ecosystem": "PyPI", "name": "y"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "not/a/version"}]}]}]),
                json!({}),
            ),
        ),
        (
            "bad-event.json",
            record(
                "PYSEC-0000-7",
                json!([{"package": {"ecosystem": "PyPI", "name": "z"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}]),
                json!({}),
            ),
        ),
        ("binary.json", vec![0xff, 0xfe, 0x00, 0x01]),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let db = AdvisoryDb::load(dir.path()).unwrap();
    // Loading checks identities and keys; the rest of each record is checked when looked
    // up, or, as here, all at once.
    db.check_all();
    let ids: Vec<&str> = db.advisories().iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["PYSEC-0000-1", "PYSEC-0000-5", "PYSEC-0000-6"]);
    let named = |file: &str, kind: WarningKind| {
        db.warnings()
            .iter()
            .any(|w| w.source.ends_with(file) && w.kind == kind)
    };
    assert!(named("truncated.json", WarningKind::InvalidJson));
    assert!(named("no-modified.json", WarningKind::SchemaViolation));
    assert!(named("unknown-eco.json", WarningKind::SchemaViolation));
    assert!(named(
        "unsupported-eco.json",
        WarningKind::UnsupportedEcosystem
    ));
    assert!(named("bad-range.json", WarningKind::UnparseableRange));
    assert!(named("bad-event.json", WarningKind::SchemaViolation));
    assert!(named("binary.json", WarningKind::InvalidJson));

    // The package whose only range is unparseable is reported unevaluated, never clean.
    let r = db.scan_components(
        &[component("pkg:pypi/y@1.0"), component("pkg:pypi/x@1.0")],
        None,
    );
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.unevaluated.len(), 1);
    assert!(
        matches!(&r.unevaluated[0].reasons[0], UnevaluatedReason::IncompleteAdvisory { id, .. } if id == "PYSEC-0000-6")
    );
}

#[test]
fn an_empty_or_wrong_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.json"), b"[]").unwrap();
    assert!(matches!(
        AdvisoryDb::load(dir.path()),
        Err(DbError::Empty { .. })
    ));
    assert!(matches!(
        AdvisoryDb::load(&dir.path().join("missing")),
        Err(DbError::Io { .. })
    ));
    std::fs::write(dir.path().join("db.txt"), b"x").unwrap();
    assert!(matches!(
        AdvisoryDb::load(&dir.path().join("db.txt")),
        Err(DbError::NotADatabase(_))
    ));
    std::fs::write(dir.path().join("db.zip"), b"not a zip").unwrap();
    assert!(matches!(
        AdvisoryDb::load(&dir.path().join("db.zip")),
        Err(DbError::Zip { .. })
    ));
}

#[test]
fn sboms_from_the_cyclonedx_test_suite() {
    let dir = testdata_or_skip!().join("cyclonedx");
    for v in ["1.4", "1.5", "1.6"] {
        let doc =
            read_cyclonedx(&std::fs::read(dir.join(format!("{v}/valid-bom-{v}.json"))).unwrap())
                .unwrap();
        assert_eq!(doc.spec_version, v);
        assert!(!doc.components.is_empty());
        let bad = read_cyclonedx(
            &std::fs::read(dir.join(format!("{v}/invalid-bomformat-{v}.json"))).unwrap(),
        );
        assert!(matches!(bad, Err(SbomError::NotCycloneDx(_))), "{v}");
    }
    // Maven components of the 1.6 example map to Maven keys; components without a purl are
    // listed as unevaluated, not clean.
    let doc = read_cyclonedx(&std::fs::read(dir.join("1.6/valid-bom-1.6.json")).unwrap()).unwrap();
    let db = AdvisoryDb::from_records(vec![("x".into(), good("PYSEC-0000-1"))]);
    let r = db.scan(&doc);
    assert_eq!(
        r.evaluated + r.unevaluated.len() + r.not_packages,
        doc.components.len()
    );
    for path in ["1.4/valid-bom-1.4.json", "1.5/valid-bom-1.5.json"] {
        let doc = read_cyclonedx(&std::fs::read(dir.join(path)).unwrap()).unwrap();
        let r = db.scan(&doc);
        assert!(
            r.unevaluated
                .iter()
                .any(|u| u.reasons == [UnevaluatedReason::NoPurl]),
            "{path}"
        );
    }
}
