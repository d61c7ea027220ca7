//! The online half of issue 5's benchmark: deciding about the 20-layer benchmark image
//! (`tests/it/scenario.rs`) from a real `custody-ledger serve` on loopback, in-process, N
//! times, and printing percentiles. `scripts/bench-verify-online` runs the whole thing:
//!
//! ```text
//! verify_online keys DIR                 # DIR/keys/*.pub and DIR/signers (file role), to register
//! verify_online run URL TOKEN DIR N      # submit, upload blobs, write DIR/policy.yaml, time N decisions
//! ```
//!
//! `run` submits the scenario's 25 envelopes (one batch) and the manifest and config blobs
//! with the writer TOKEN, reads the ledger's log key, then times N whole decisions: collect the
//! evidence over HTTP (`collect_from_ledger`, with the SBOM blobs the config rule asks for),
//! check the manifest and config, verify everything, run the rules. Each decision opens its
//! own HTTP agent, as a `custody verify` process or a fresh gate request would, so connection
//! set-up is inside the timing. It also writes DIR/policy.yaml (scan max age widened, since
//! the CLI decides at the real clock) and prints the image digest, for timing the CLI itself.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

#[path = "../tests/it/scenario.rs"]
mod scenario;

use std::path::Path;
use std::time::{Duration, Instant};

use custody_verify::{
    CollectOptions, FetchError, ImageFacts, LedgerTransport, collect_from_ledger, verify,
};

struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    fn new(base: &str) -> Http {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Http {
            agent,
            base: base.trim_end_matches('/').to_owned(),
        }
    }
}

impl LedgerTransport for Http {
    fn base_url(&self) -> &str {
        &self.base
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let mut resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .call()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        match status {
            200 => Ok(body),
            404 => Err(FetchError::NotFound),
            _ => Err(FetchError::Status {
                status,
                message: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }),
        }
    }
}

fn keys(dir: &Path, s: &scenario::Scenario) {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let mut signers = String::new();
    for (file, content) in s.key_files() {
        if file.ends_with(".pub") {
            std::fs::write(dir.join(&file), content).unwrap();
        }
    }
    for (file, role) in [
        ("base.pub", "base-library"),
        ("ci.pub", "builder"),
        ("scanner.pub", "scanner"),
        ("alice.pub", "reviewer"),
        ("bob.pub", "reviewer"),
    ] {
        signers.push_str(&format!("keys/{file} {role}\n"));
    }
    std::fs::write(dir.join("signers"), signers).unwrap();
}

fn run(url: &str, token: &str, dir: &Path, n: usize, s: &scenario::Scenario) {
    let http = Http::new(url);
    let auth = format!("Bearer {token}");
    // The envelopes, in the scenario's order, as one submission.
    let envelopes: Vec<serde_json::Value> = s
        .entries
        .iter()
        .map(|e| serde_json::from_slice(&e.to_json()).unwrap())
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "envelopes": envelopes })).unwrap();
    let mut resp = http
        .agent
        .post(format!("{}/api/v1/entries", http.base))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(&body[..])
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "submitting the scenario: {text}");
    for (digest, bytes) in [
        (&s.image.digest, &s.image.manifest),
        (&s.image.config_digest, &s.image.config),
    ] {
        let mut resp = http
            .agent
            .put(format!("{}/api/v1/blobs/{digest}", http.base))
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .send(&bytes[..])
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        assert!(status < 300, "uploading blob {digest}: {status} {text}");
    }
    let key: serde_json::Value =
        serde_json::from_slice(&http.get("/api/v1/log-key").unwrap()).unwrap();
    let vkey = key["vkey"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("keys/log.vkey"), &vkey).unwrap();
    let mut files = s.key_files();
    files.insert("keys/log.vkey".into(), vkey);
    let text = s.policy_text();
    let policy = custody_verify::Policy::parse(&text, &mut |p: &str| {
        files
            .get(p)
            .cloned()
            .ok_or_else(|| "no such file".to_owned())
    })
    .unwrap();
    // The CLI decides at the real clock: the scenario's scan would be stale under 7d.
    std::fs::write(
        dir.join("policy.yaml"),
        text.replace("max_age: 7d", "max_age: 3000d"),
    )
    .unwrap();

    let options = CollectOptions {
        trusted_size: None,
        consistency_from: Vec::new(),
        sboms: true,
    };
    let cx = s.context();
    let decide = || {
        let t = Instant::now();
        let http = Http::new(url);
        let ev = collect_from_ledger(&http, &s.image.digest, &options).unwrap();
        let facts = ImageFacts::from_blobs(
            &s.image.digest,
            &ev.blob(&s.image.digest).unwrap().data,
            &ev.blob(&s.image.config_digest).unwrap().data,
        )
        .unwrap();
        let d = verify(&policy, &facts, &ev, &cx);
        assert!(
            d.allowed,
            "the benchmark image must be allowed: {}",
            d.to_text()
        );
        t.elapsed().as_micros()
    };
    for _ in 0..20 {
        decide();
    }
    let mut times: Vec<u128> = (0..n).map(|_| decide()).collect();
    times.sort_unstable();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "verify 20-layer image from the ledger at {url} ({} entries): min {} us, median {} us, p90 {} us, p99 {} us, max {} us over {n} runs",
        s.entries.len(),
        times[0],
        pct(50),
        pct(90),
        pct(99),
        times[times.len() - 1],
    );
    println!("image {}", s.image.digest);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let s = scenario::Scenario::new(20);
    match args.get(1).map(String::as_str) {
        Some("keys") if args.len() == 3 => keys(Path::new(&args[2]), &s),
        Some("run") if args.len() == 6 => run(
            &args[2],
            &args[3],
            Path::new(&args[4]),
            args[5].parse().expect("N must be a number"),
            &s,
        ),
        _ => {
            eprintln!("usage: verify_online keys DIR | verify_online run URL TOKEN DIR N");
            std::process::exit(2);
        }
    }
}
