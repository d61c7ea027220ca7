//! Decides about the benchmark's 20-layer image from its offline bundle N times (default 1)
//! and prints how long each took: a small binary to profile under callgrind
//! (`valgrind --tool=callgrind target/release/examples/verify_bundle 20`), whose
//! instruction counts do not depend on what else the machine is running.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../tests/it/scenario.rs"]
mod scenario;

use std::hint::black_box;
use std::time::Instant;

use custody_verify::{Bundle, ImageFacts, verify};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1, |a| a.parse().expect("N must be a number"));
    let s = scenario::Scenario::new(20);
    let policy = s.policy();
    let bundle = Bundle {
        image: s.image.digest.clone(),
        created_at: None,
        ledger: None,
        evidence: s.evidence(),
    }
    .to_json();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let b = Bundle::parse(black_box(&bundle)).unwrap();
        let ev = &b.evidence;
        let facts = ImageFacts::from_blobs(
            &b.image,
            &ev.blob(&b.image).unwrap().data,
            &ev.blob(&s.image.config_digest).unwrap().data,
        )
        .unwrap();
        let d = verify(&policy, &facts, ev, &s.context());
        assert!(d.allowed, "the benchmark image must be allowed");
        times.push(t.elapsed().as_micros());
    }
    times.sort_unstable();
    println!(
        "{} bytes, {} envelopes, {n} runs: min {} us, median {} us, max {} us",
        bundle.len(),
        s.entries.len(),
        times[0],
        times[n / 2],
        times[n - 1]
    );
}
