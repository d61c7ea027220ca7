//! One cold scan as `custody scan` does it, for `scripts/bench-scan` (hyperfine) and
//! profiling: load + check + index an OSV database, read an SBOM, match it.
//!
//! ```text
//! scan_db generate OUT_DIR     # OUT_DIR/all.zip (200,000 synthetic records) and
//!                              # OUT_DIR/debian-py-node.cdx.json (needs CUSTODY_TESTDATA)
//! scan_db scan DB SBOM         # load DB, scan SBOM; prints the split and the CPU time
//! ```
#![allow(clippy::unwrap_used, clippy::print_stderr, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use custody_vuln::AdvisoryDb;
use custody_vuln::cyclonedx::read_cyclonedx;

#[path = "support/synthetic_db.rs"]
#[allow(dead_code)]
mod synthetic_db;

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

fn generate(out: &Path) {
    let testdata = PathBuf::from(
        std::env::var_os("CUSTODY_TESTDATA").expect("CUSTODY_TESTDATA must name the test data"),
    );
    std::fs::create_dir_all(out).unwrap();
    let image_dir = testdata.join("images/debian-py-node");
    let image = truth_sbom::read_image(&image_dir);
    std::fs::write(
        out.join("debian-py-node.cdx.json"),
        truth_sbom::sbom(&image_dir, &image),
    )
    .unwrap();
    let t = Instant::now();
    let db = out.join("all.zip");
    synthetic_db::write_db(&db);
    eprintln!(
        "wrote {} records to {} ({:.1} MB) in {:.1?}",
        synthetic_db::RECORDS,
        db.display(),
        std::fs::metadata(&db).unwrap().len() as f64 / 1e6,
        t.elapsed()
    );
}

fn scan(db_path: &Path, sbom: &Path) {
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let db = AdvisoryDb::load(db_path).unwrap();
    let t1 = Instant::now();
    let doc = read_cyclonedx(&std::fs::read(sbom).unwrap()).unwrap();
    let report = db.scan(&doc);
    let t2 = Instant::now();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "load+check+index {:.0?} ({} records, {} package keys); read SBOM + match {:.1?} \
         ({} components, {} findings, {} unevaluated); total {:.0?}; CPU {cpu:.2}s on {} threads",
        t1 - t0,
        db.snapshot().records,
        db.indexed_packages(),
        t2 - t1,
        doc.components.len(),
        report.findings.len(),
        report.unevaluated.len(),
        t2 - t0,
        rayon::current_num_threads()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.len()) {
        (Some("generate"), 3) => generate(Path::new(&args[2])),
        (Some("scan"), 4) => scan(Path::new(&args[2]), Path::new(&args[3])),
        _ => {
            eprintln!("usage: scan_db generate OUT_DIR | scan DB SBOM");
            std::process::exit(2);
        }
    }
}
