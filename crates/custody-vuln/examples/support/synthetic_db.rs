//! The synthetic 200,000-record OSV database of the scan benchmark, shared by
//! `benches/scan.rs` and `examples/scan_db.rs`: records shaped like real ones (ID, aliases,
//! summary, a details paragraph, a CVSS vector, ranges, a versions list for PyPI-style
//! records, database_specific), spread over PyPI, npm, Debian:12, Maven, Go and crates.io,
//! with 1% of them naming packages debian-py-node really contains so that the index lookups
//! hit and ranges are evaluated. All IDs and packages are SYNTHETIC.

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// Records in the benchmark database.
pub(crate) const RECORDS: usize = 200_000;

/// Real package names of the image, to aim a share of the records at.
const IMAGE_PACKAGES: &[(&str, &str)] = &[
    ("PyPI", "urllib3"),
    ("PyPI", "requests"),
    ("PyPI", "idna"),
    ("PyPI", "certifi"),
    ("npm", "lodash"),
    ("npm", "express"),
    ("npm", "qs"),
    ("npm", "debug"),
    ("Debian:12", "glibc"),
    ("Debian:12", "openssl"),
    ("Debian:12", "e2fsprogs"),
    ("Debian:12", "python3.11"),
    ("crates.io", "serde"),
    ("crates.io", "memchr"),
];

/// Synthetic record number `i`.
pub(crate) fn record(i: usize) -> serde_json::Value {
    let ecos = [
        "PyPI",
        "PyPI",
        "PyPI",
        "npm",
        "npm",
        "npm",
        "Debian:12",
        "Debian:12",
        "Maven",
        "Go",
        "crates.io",
    ];
    let (eco, name) = if i.is_multiple_of(100) {
        let (e, n) = IMAGE_PACKAGES[(i / 100) % IMAGE_PACKAGES.len()];
        (e.to_owned(), n.to_owned())
    } else {
        let e = ecos[i % ecos.len()];
        let n = match e {
            "Maven" => format!("org.example{}:artifact-{}", i % 997, i),
            "Go" => format!("github.com/example{}/module-{}", i % 991, i),
            _ => format!("package-{}", i / 3),
        };
        (e.to_owned(), n)
    };
    let (intro, fixed) = match eco.as_str() {
        "Debian:12" => (
            format!("{}.{}-1", i % 7, i % 13),
            format!("{}.{}-1+deb12u{}", i % 7 + 2, i % 13, i % 5 + 1),
        ),
        "Go" => (
            format!("{}.{}.0", i % 3, i % 11),
            format!("{}.{}.1", i % 3 + 1, i % 11),
        ),
        _ => (
            format!("{}.{}.0", i % 5, i % 17),
            format!("{}.{}.{}", i % 5 + 1, i % 17, i % 9),
        ),
    };
    let mut affected = json!({
        "package": {"ecosystem": eco, "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": intro}, {"introduced": intro.replace(".0", ".1")}, {"fixed": fixed}]}],
        "database_specific": {"source": format!("https://example.org/advisories/{i}.yaml")},
    });
    if eco == "PyPI" {
        affected["versions"] = json!(
            (0..12)
                .map(|k| format!("{}.{}.{}", i % 5, k, i % 3))
                .collect::<Vec<_>>()
        );
    }
    json!({
        "schema_version": "1.6.0",
        "id": format!("GHSA-{:04x}-{:04x}-{:04x}", i / 4096, i % 4096, (i * 7919) % 65536),
        "modified": format!("2025-{:02}-{:02}T{:02}:00:00Z", i % 12 + 1, i % 28 + 1, i % 24),
        "published": "2024-01-01T00:00:00Z",
        "aliases": [format!("CVE-2024-{}", 10000 + i)],
        "summary": format!("Synthetic benchmark advisory {i} for {name}"),
        "details": "A synthetic advisory generated for the scan benchmark. It is shaped like a real record, with a paragraph of details that the matcher has to read past, references and severity.".repeat(2),
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        "affected": [affected],
        "references": [{"type": "ADVISORY", "url": format!("https://example.org/advisories/{i}")}, {"type": "WEB", "url": "https://example.org/"}],
        "database_specific": {"severity": "HIGH", "cwe_ids": ["CWE-400"], "github_reviewed": true},
    })
}

/// Writes the whole database as one osv.dev-style `all.zip` (deflate level 1).
pub(crate) fn write_db(path: &Path) {
    let mut z = zip::ZipWriter::new(std::io::BufWriter::new(
        std::fs::File::create(path).unwrap(),
    ));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for i in 0..RECORDS {
        let r = record(i);
        z.start_file(format!("{}.json", r["id"].as_str().unwrap()), opts)
            .unwrap();
        z.write_all(&serde_json::to_vec(&r).unwrap()).unwrap();
    }
    z.finish().unwrap();
}
