//! Deciding about a 20-layer image from an offline bundle: parse the bundle, check the
//! manifest and config, verify every signature, inclusion proof and the checkpoint, run the
//! seven rules. Target (issue 5): under 2 ms median and 5 ms p99 on one core.
//!
//! `cargo bench -p custody-verify --bench verify` prints criterion's estimate and then a
//! percentile line from 2,000 timed runs (criterion reports means and medians, not p99).
#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../tests/it/scenario.rs"]
mod scenario;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use custody_verify::{Bundle, ImageFacts, verify};

fn decide(bundle_bytes: &[u8], policy: &custody_verify::Policy, s: &scenario::Scenario) -> bool {
    let bundle = Bundle::parse(bundle_bytes).unwrap();
    let ev = &bundle.evidence;
    let manifest = &ev.blob(&bundle.image).unwrap().data;
    let facts = ImageFacts::from_blobs(
        &bundle.image,
        manifest,
        &ev.blob(&s.image.config_digest).unwrap().data,
    )
    .unwrap();
    verify(policy, &facts, ev, &s.context()).allowed
}

fn bench(c: &mut Criterion) {
    let s = scenario::Scenario::new(20);
    let policy = s.policy();
    let bundle = Bundle {
        image: s.image.digest.clone(),
        created_at: None,
        ledger: None,
        evidence: s.evidence(),
    }
    .to_json();
    assert!(
        decide(&bundle, &policy, &s),
        "the benchmark image must be allowed"
    );
    c.bench_function("verify 20-layer image from bundle", |b| {
        b.iter(|| black_box(decide(black_box(&bundle), &policy, &s)))
    });

    let mut times: Vec<u128> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            black_box(decide(&bundle, &policy, &s));
            t.elapsed().as_micros()
        })
        .collect();
    times.sort_unstable();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    eprintln!(
        "verify 20-layer bundle ({} bytes, {} entries): min {} us, median {} us, p90 {} us, p99 {} us, max {} us over {} runs",
        bundle.len(),
        s.entries.len(),
        times[0],
        pct(50),
        pct(90),
        pct(99),
        times[times.len() - 1],
        times.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
