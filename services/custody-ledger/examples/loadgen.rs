//! Load generator for `scripts/bench-ledger`: drives a running ledger over HTTP from several
//! client threads and prints throughput and latency percentiles.
//!
//! ```text
//! loadgen keygen DIR                      # DIR/signer.pem, DIR/signer.pub
//! loadgen ingest URL TOKEN KEY CLIENTS BATCH SECONDS
//! loadgen fill URL TOKEN KEY CLIENTS BATCH COUNT          # append COUNT entries, signing as it goes
//! loadgen seed-images URL TOKEN KEY IMAGES LAYERS COMPONENTS   # layer attestations with SBOMs + provenances
//! loadgen proofs URL CLIENTS REQUESTS
//! loadgen purl URL CLIENTS REQUESTS PURL [VERSIONS]
//! ```
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custody_attest::{
    ImageBuild, KeyIdHint, KeyType, LayerBlob, LayerPredicate, ProvenanceLayer, ReviewPredicate,
    Reviewer, SbomDocument, SigningKey, sign_statement,
};
use custody_types::{DiffId, Digest, Role, chain_ids, media_types};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .max_idle_connections_per_host(64)
        .build()
        .into()
}

fn env_json(e: &custody_attest::Envelope) -> Value {
    serde_json::from_slice(&e.to_json()).unwrap()
}

fn review(key: &SigningKey, manifest: &Digest, n: u64) -> Value {
    let p = ReviewPredicate {
        decision: custody_attest::Decision::Approved,
        reviewer: Reviewer {
            key_id: key.key_id(),
        },
        source_ref: None,
        comment: Some(format!("bench {n}")),
        reviewed_on: jiff::Timestamp::now(),
    };
    env_json(&sign_statement(
        &p.statement(manifest, None),
        key,
        KeyIdHint::Custody,
    ))
}

/// The request body of one submission.
fn body_of(envelopes: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "envelopes": envelopes })).unwrap()
}

fn post(agent: &ureq::Agent, url: &str, token: &str, envelopes: &[Value]) -> Result<(), String> {
    post_body(agent, url, token, &body_of(envelopes))
}

fn post_body(agent: &ureq::Agent, url: &str, token: &str, body: &[u8]) -> Result<(), String> {
    let mut resp = agent
        .post(format!("{url}/api/v1/entries"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let text = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .unwrap_or_default();
    if status != 200 {
        return Err(format!("{status}: {}", &text[..text.len().min(300)]));
    }
    Ok(())
}

/// Signs `count` review envelopes for `manifest` starting at `first`, as the body of one
/// submission.
fn review_body(key: &SigningKey, manifest: &Digest, first: u64, count: u64) -> Vec<u8> {
    let envelopes: Vec<Value> = (first..first + count)
        .map(|n| review(key, manifest, n))
        .collect();
    body_of(&envelopes)
}

/// Threads to sign on (the machine's cores).
fn signing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut lat: Vec<Duration>, items: u64, elapsed: Duration) {
    lat.sort_unstable();
    println!(
        "{what}: {items} in {:.2}s = {:.0}/s; requests {}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        items as f64 / elapsed.as_secs_f64(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
    );
}

fn load_key(path: &str) -> SigningKey {
    SigningKey::from_pem(&std::fs::read_to_string(path).unwrap(), None).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("missing argument {i}; see the module docs"))
    };
    let num = |i: usize| arg(i).parse::<u64>().unwrap();
    match arg(1).as_str() {
        "keygen" => {
            let dir = std::path::PathBuf::from(arg(2));
            std::fs::create_dir_all(&dir).unwrap();
            for name in ["signer", "base"] {
                let k = SigningKey::generate(KeyType::Ed25519).unwrap();
                std::fs::write(
                    dir.join(format!("{name}.pem")),
                    k.to_pkcs8_pem(None).unwrap().as_bytes(),
                )
                .unwrap();
                std::fs::write(
                    dir.join(format!("{name}.pub")),
                    k.public_key().to_spki_pem(),
                )
                .unwrap();
            }
        }
        "ingest" => {
            let (url, token, key) = (arg(2), arg(3), Arc::new(load_key(&arg(4))));
            let (clients, batch, seconds) = (num(5), num(6), num(7));
            // Pre-sign and pre-serialize (on every core, before the clock starts) so the
            // clients measure the ledger, not ed25519 or JSON; sized for up to
            // BENCH_MAX_RATE (default 12,000) entries/s.
            let max_rate: u64 = std::env::var("BENCH_MAX_RATE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(12_000);
            let per_client = ((max_rate * seconds) / clients / batch + 2) as usize;
            let run_id = jiff::Timestamp::now().as_nanosecond();
            eprintln!(
                "signing {} envelopes...",
                per_client as u64 * batch * clients
            );
            let jobs: Vec<(u64, usize)> = (0..clients)
                .flat_map(|c| (0..per_client).map(move |b| (c, b)))
                .collect();
            let next = AtomicU64::new(0);
            let signed: Mutex<Vec<Vec<Option<Vec<u8>>>>> =
                Mutex::new(vec![vec![None; per_client]; clients as usize]);
            std::thread::scope(|scope| {
                for _ in 0..signing_threads() {
                    scope.spawn(|| {
                        loop {
                            let j = next.fetch_add(1, Ordering::Relaxed) as usize;
                            let Some(&(c, b)) = jobs.get(j) else { break };
                            let m =
                                Digest::sha256_of(format!("bench image {run_id} {c}").as_bytes());
                            let body = review_body(&key, &m, b as u64 * batch, batch);
                            signed.lock().unwrap()[c as usize][b] = Some(body);
                        }
                    });
                }
            });
            let work: Vec<Vec<Vec<u8>>> = signed
                .into_inner()
                .unwrap()
                .into_iter()
                .map(|bodies| bodies.into_iter().map(Option::unwrap).collect())
                .collect();
            let lat = Arc::new(Mutex::new(Vec::new()));
            let done = Arc::new(AtomicU64::new(0));
            let errors = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let deadline = start + Duration::from_secs(seconds);
            let threads: Vec<_> = work
                .into_iter()
                .map(|batches| {
                    let (url, token, lat, done, errors) = (
                        url.clone(),
                        token.clone(),
                        lat.clone(),
                        done.clone(),
                        errors.clone(),
                    );
                    std::thread::spawn(move || {
                        let agent = agent();
                        let mut mine = Vec::new();
                        for b in batches {
                            if Instant::now() >= deadline {
                                break;
                            }
                            let t = Instant::now();
                            match post_body(&agent, &url, &token, &b) {
                                Ok(()) => {
                                    mine.push(t.elapsed());
                                    done.fetch_add(batch, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                        eprintln!("error: {e}");
                                    }
                                }
                            }
                        }
                        lat.lock().unwrap().extend(mine);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let elapsed = start.elapsed();
            let lat = Arc::try_unwrap(lat).unwrap().into_inner().unwrap();
            report(
                &format!("ingest ({clients} clients x batch {batch})"),
                lat,
                done.load(Ordering::Relaxed),
                elapsed,
            );
            println!("errors: {}", errors.load(Ordering::Relaxed));
        }
        "fill" => {
            // Appends COUNT review entries as fast as the ledger takes them: signing threads
            // feed a short queue of ready bodies that CLIENTS posting threads drain.
            let (url, token, key) = (arg(2), arg(3), Arc::new(load_key(&arg(4))));
            let (clients, batch, count) = (num(5), num(6), num(7));
            let batches = count.div_ceil(batch);
            let run_id = jiff::Timestamp::now().as_nanosecond();
            let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(clients as usize * 4);
            let rx = Arc::new(Mutex::new(rx));
            let next = Arc::new(AtomicU64::new(0));
            let done = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let signers: Vec<_> = (0..signing_threads())
                .map(|_| {
                    let (key, next, tx) = (key.clone(), next.clone(), tx.clone());
                    std::thread::spawn(move || {
                        let m = Digest::sha256_of(format!("bench fill {run_id}").as_bytes());
                        loop {
                            let b = next.fetch_add(1, Ordering::Relaxed);
                            if b >= batches {
                                break;
                            }
                            let n = batch.min(count - b * batch);
                            if tx.send((n, review_body(&key, &m, b * batch, n))).is_err() {
                                break;
                            }
                        }
                    })
                })
                .collect();
            drop(tx);
            let posters: Vec<_> = (0..clients)
                .map(|_| {
                    let (url, token, rx, done) =
                        (url.clone(), token.clone(), rx.clone(), done.clone());
                    std::thread::spawn(move || {
                        let agent = agent();
                        loop {
                            let Ok((n, body)) = rx.lock().unwrap().recv() else {
                                break;
                            };
                            // A failed request is retried: resubmitting an envelope is
                            // idempotent, so the log still grows by exactly COUNT.
                            let mut tries = 0;
                            while let Err(e) = post_body(&agent, &url, &token, &body) {
                                tries += 1;
                                assert!(tries < 5, "fill: {e}");
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            let total = done.fetch_add(n, Ordering::Relaxed) + n;
                            if total / 100_000 != (total - n) / 100_000 {
                                eprintln!(
                                    "filled {total} in {:.0}s",
                                    start.elapsed().as_secs_f64()
                                );
                            }
                        }
                    })
                })
                .collect();
            for t in signers.into_iter().chain(posters) {
                t.join().unwrap();
            }
            let elapsed = start.elapsed();
            let n = done.load(Ordering::Relaxed);
            println!(
                "filled {n} entries in {:.1}s = {:.0}/s (signing included)",
                elapsed.as_secs_f64(),
                n as f64 / elapsed.as_secs_f64()
            );
        }
        "seed-images" => {
            // IMAGES images of LAYERS layers; layer 0 is a shared base layer; every layer's SBOM
            // has COMPONENTS components, so component rows = (1 + IMAGES*(LAYERS-1)) * COMPONENTS.
            let (url, token, key) = (arg(2), arg(3), load_key(&arg(4)));
            let (images, layers, components) = (num(5), num(6) as usize, num(7));
            let start = Instant::now();
            let purl = |l: u64, c: u64| format!("pkg:pypi/pkg-{c}@{}.{}.0", l % 50, c % 10);
            let base: DiffId = Digest::sha256_of(b"bench base layer").into();
            let sbom_of = |seed: u64| {
                let comps: Vec<Value> = (0..components)
                    .map(|c| json!({"type": "library", "name": format!("pkg-{c}"), "version": format!("{}.{}.0", seed % 50, c % 10), "purl": purl(seed, c)}))
                    .collect();
                SbomDocument::from_value(
                    json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": comps}),
                    media_types::CYCLONEDX_JSON,
                )
            };
            let layer_env = |diff_ids: &[DiffId], i: usize, seed: u64| {
                let blob = LayerBlob {
                    digest: diff_ids[i].0.clone(),
                    size: 1,
                    media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                };
                let p =
                    LayerPredicate::for_stack(diff_ids, i, blob, sbom_of(seed).embedded()).unwrap();
                env_json(&sign_statement(&p.statement(), &key, KeyIdHint::Custody))
            };
            let digest_of = |v: &Value| {
                custody_attest::Envelope::from_json(&serde_json::to_vec(v).unwrap())
                    .unwrap()
                    .digest()
            };
            let base_env = layer_env(std::slice::from_ref(&base), 0, 0);
            let base_digest = digest_of(&base_env);
            post(&agent(), &url, &token, &[base_env]).unwrap();
            // Two threads sign and post (one per core), each its share of the images.
            std::thread::scope(|scope| {
                for t in 0..2u64 {
                    let (url, token, key) = (&url, &token, &key);
                    let (layer_env, digest_of, base, base_digest) =
                        (&layer_env, &digest_of, &base, &base_digest);
                    scope.spawn(move || {
                        let agent = agent();
                        let mut pending = Vec::new();
                        for img in (t..images).step_by(2) {
                            let mut diff_ids = vec![base.clone()];
                            for l in 1..layers {
                                diff_ids.push(
                                    Digest::sha256_of(format!("image {img} layer {l}").as_bytes())
                                        .into(),
                                );
                            }
                            // The provenance names every layer attestation by envelope digest.
                            let mut envelopes = vec![base_digest.clone()];
                            for l in 1..layers {
                                let env = layer_env(&diff_ids, l, img * 31 + l as u64);
                                envelopes.push(digest_of(&env));
                                pending.push(env);
                            }
                            let chains = chain_ids(&diff_ids);
                            let t = jiff::Timestamp::now();
                            let build = ImageBuild {
                                image_name: Some(format!("bench/app-{img}:1")),
                                manifest: Digest::sha256_of(format!("manifest {img}").as_bytes()),
                                config: Digest::sha256_of(format!("config {img}").as_bytes()),
                                source: "bench".into(),
                                platform: None,
                                role: Role::Builder,
                                base: None,
                                builder_id: "https://bench.example/builder".into(),
                                custody_version: "0.1.0".into(),
                                ci: None,
                                invocation_id: Some(format!("bench-{img}")),
                                started_on: t,
                                finished_on: t,
                                layers: diff_ids
                                    .iter()
                                    .enumerate()
                                    .map(|(i, d)| ProvenanceLayer {
                                        index: i as u32,
                                        diff_id: d.clone(),
                                        chain_id: chains[i].clone(),
                                        envelope: Some(envelopes[i].clone()),
                                    })
                                    .collect(),
                                image_sbom: None,
                            };
                            pending.push(env_json(&sign_statement(
                                &build.statement(),
                                key,
                                KeyIdHint::Custody,
                            )));
                            if pending.len() >= 40 {
                                post(&agent, url, token, &pending).unwrap();
                                pending.clear();
                            }
                            if img % 1000 == 999 {
                                eprintln!(
                                    "seeded {} images in {:.0}s",
                                    img + 1,
                                    start.elapsed().as_secs_f64()
                                );
                            }
                        }
                        if !pending.is_empty() {
                            post(&agent, url, token, &pending).unwrap();
                        }
                    });
                }
            });
            println!(
                "seeded {images} images ({} component rows) in {:.1}s",
                (1 + images * (layers as u64 - 1)) * components,
                start.elapsed().as_secs_f64()
            );
        }
        "proofs" | "purl" => {
            let url = arg(2);
            let (clients, requests) = (num(3), num(4));
            let purl = if arg(1) == "purl" { Some(arg(5)) } else { None };
            let versions = args.get(6).cloned();
            let a = agent();
            let size: u64 = {
                let mut r = a.get(format!("{url}/api/v1/checkpoint")).call().unwrap();
                r.body_mut().read_json::<Value>().unwrap()["tree_size"]
                    .as_u64()
                    .unwrap()
            };
            let lat = Arc::new(Mutex::new(Vec::new()));
            let found = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let threads: Vec<_> = (0..clients)
                .map(|c| {
                    let (url, lat, purl, found, versions) = (
                        url.clone(),
                        lat.clone(),
                        purl.clone(),
                        found.clone(),
                        versions.clone(),
                    );
                    std::thread::spawn(move || {
                        let agent = agent();
                        let mut x = 0x9e3779b97f4a7c15u64 ^ c;
                        let mut mine = Vec::new();
                        for _ in 0..requests / clients {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let t = Instant::now();
                            let mut resp = match &purl {
                                None => agent
                                    .get(format!(
                                        "{url}/api/v1/proofs/inclusion?index={}&tree_size={size}",
                                        x % size
                                    ))
                                    .call()
                                    .unwrap(),
                                Some(p) => {
                                    let mut req = agent
                                        .get(format!("{url}/api/v1/images"))
                                        .query("purl", p)
                                        .query("limit", "1000");
                                    if let Some(v) = &versions {
                                        req = req.query("versions", v);
                                    }
                                    req.call().unwrap()
                                }
                            };
                            let body = resp
                                .body_mut()
                                .with_config()
                                .limit(64 << 20)
                                .read_to_string()
                                .unwrap();
                            mine.push(t.elapsed());
                            assert!(resp.status() == 200, "{body}");
                            if purl.is_some() {
                                let v: Value = serde_json::from_str(&body).unwrap();
                                found.fetch_add(
                                    v["images"].as_array().map(|a| a.len() as u64).unwrap_or(0),
                                    Ordering::Relaxed,
                                );
                            }
                        }
                        lat.lock().unwrap().extend(mine);
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let elapsed = start.elapsed();
            let lat = Arc::try_unwrap(lat).unwrap().into_inner().unwrap();
            let n = lat.len() as u64;
            report(
                if purl.is_some() {
                    "images containing purl"
                } else {
                    "inclusion proofs"
                },
                lat,
                n,
                elapsed,
            );
            if purl.is_some() {
                println!(
                    "images per answer: {}",
                    found.load(Ordering::Relaxed) / n.max(1)
                );
            } else {
                println!("tree size: {size}");
            }
        }
        other => panic!("unknown mode {other}"),
    }
}
