//! Scanning debian-py-node's SBOM against a 200,000-record synthetic OSV database (issue 6:
//! under 1 s for load + index + match).
//!
//! The database is an osv.dev-style `all.zip` generated once per run: records shaped like
//! real ones (ID, aliases, summary, a details paragraph, a CVSS vector, ranges, a versions
//! list for PyPI-style records, database_specific), spread over PyPI, npm, Debian:12, Maven,
//! Go and crates.io, with 1% of them naming packages the image really contains so that the
//! index lookups hit and ranges are evaluated.
//!
//! `CUSTODY_TESTDATA` must point at ../shared/testdata (the SBOM is built from the image's
//! ground truth). Run: `CUSTODY_TESTDATA=../shared/testdata cargo bench -p custody-vuln`.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use custody_vuln::AdvisoryDb;
use custody_vuln::cyclonedx::read_cyclonedx;

#[path = "../examples/support/synthetic_db.rs"]
mod synthetic_db;
use synthetic_db::{RECORDS, record, write_db};

#[path = "../tests/it/truth_sbom.rs"]
#[allow(dead_code, unreachable_pub)]
mod truth_sbom;

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn bench(c: &mut Criterion) {
    let Some(testdata) = std::env::var_os("CUSTODY_TESTDATA") else {
        eprintln!("skipped scan benchmark: CUSTODY_TESTDATA is not set");
        return;
    };
    let testdata = std::path::PathBuf::from(testdata);
    let testdata = if testdata.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(testdata)
    } else {
        testdata
    };
    let image_dir = testdata.join("images/debian-py-node");
    let image = truth_sbom::read_image(&image_dir);
    let sbom_bytes = truth_sbom::sbom(&image_dir, &image);

    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("all.zip");
    let t = Instant::now();
    write_db(&db_path);
    let zip_len = std::fs::metadata(&db_path).unwrap().len();
    eprintln!(
        "generated {RECORDS} records ({:.1} MB zipped) in {:.1?}",
        zip_len as f64 / 1e6,
        t.elapsed()
    );

    // One timed pass with the split, as docs/benchmarks.md reports it. CPU time is reported
    // too: on a shared machine the wall time also measures the neighbours.
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let db = AdvisoryDb::load(&db_path).unwrap();
    let t1 = Instant::now();
    let doc = read_cyclonedx(&sbom_bytes).unwrap();
    let report = db.scan(&doc);
    let t2 = Instant::now();
    let cpu = cpu_seconds() - cpu0;
    eprintln!(
        "cpu time of load+match: {cpu:.2}s over {} threads",
        rayon::current_num_threads()
    );
    eprintln!(
        "split: load+check+index {:.0?} ({} records, {} package keys), read SBOM + match {:.1?} ({} components, {} findings, {} unevaluated), total {:.0?}",
        t1 - t0,
        db.snapshot().records,
        db.indexed_packages(),
        t2 - t1,
        doc.components.len(),
        report.findings.len(),
        report.unevaluated.len(),
        t2 - t0
    );

    let samples: Vec<Vec<u8>> = (0..11)
        .map(|i| serde_json::to_vec(&record(i + 1)).unwrap())
        .collect();
    c.bench_function("parse_record_x11", |b| {
        b.iter(|| {
            samples
                .iter()
                .filter(|r| custody_vuln::parse_record(r, "bench").is_ok())
                .count()
        })
    });

    let mut g = c.benchmark_group("scan");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("load_index_match_200k", |b| {
        b.iter(|| {
            let db = AdvisoryDb::load(&db_path).unwrap();
            let doc = read_cyclonedx(&sbom_bytes).unwrap();
            db.scan(&doc).findings.len()
        })
    });
    g.bench_function("match_only", |b| {
        b.iter(|| {
            let doc = read_cyclonedx(&sbom_bytes).unwrap();
            db.scan(&doc).findings.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
