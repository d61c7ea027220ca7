//! The ledger end to end: the real `custody-ledger` and `custody` binaries over HTTP and TLS
//! on loopback, two replicas on one PostgreSQL, kill -9 in the middle of a write burst, and a
//! database changed behind the ledger's back.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use custody_attest::{KeyIdHint, KeyType, ReviewPredicate, Reviewer, SigningKey, sign_statement};
use custody_log::{EntryProof, Hash, VerifierKey};
use custody_types::Digest;
use serde_json::{Value, json};

fn ledger_bin() -> PathBuf {
    custody_testkit::binary("custody-ledger")
}

fn custody_bin() -> PathBuf {
    custody_testkit::binary("custody")
}

/// Where a ledger keeps its data: a SQLite folder, or a PostgreSQL URL.
#[derive(Clone)]
enum Store {
    Dir(PathBuf),
    Url(String),
}

impl Store {
    fn args(&self) -> Vec<String> {
        match self {
            Store::Dir(d) => vec!["--data-dir".into(), d.display().to_string()],
            Store::Url(u) => vec!["--database-url".into(), u.clone()],
        }
    }
}

fn admin(store: &Store, args: &[&str]) -> (i32, String) {
    let out = Command::new(ledger_bin())
        .args(args)
        .args(store.args())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some(),
        "custody-ledger {args:?} died: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), stdout)
}

/// A running `custody-ledger serve`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(store: &Store, extra: &[&str]) -> Server {
        let mut child = Command::new(ledger_bin())
            .arg("serve")
            .args(store.args())
            .args(["--listen", "127.0.0.1:0", "--rate-limit", "0"])
            .args(extra)
            .env("CUSTODY_LEDGER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, base }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "ledger did not stop cleanly: {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get_json(agent: &ureq::Agent, url: &str) -> Value {
    let mut resp = agent.get(url).call().unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.body_mut().read_json().unwrap()
}

fn review(key: &SigningKey, manifest: &Digest, n: u64) -> Value {
    let p = ReviewPredicate {
        decision: custody_attest::Decision::Approved,
        reviewer: Reviewer {
            key_id: key.key_id(),
        },
        source_ref: None,
        comment: Some(format!("review {n}")),
        reviewed_on: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
    };
    let env = sign_statement(
        &p.statement(manifest, None),
        key,
        KeyIdHint::Securesystemslib,
    );
    serde_json::from_slice(&env.to_json()).unwrap()
}

/// Registers a fresh reviewer key and creates a writer token.
fn provision(store: &Store, dir: &Path) -> (SigningKey, String) {
    let key = SigningKey::generate(KeyType::Ed25519).unwrap();
    let pub_path = dir.join("reviewer.pub");
    std::fs::write(&pub_path, key.public_key().to_spki_pem()).unwrap();
    let (code, out) = admin(
        store,
        &[
            "signer",
            "add",
            pub_path.to_str().unwrap(),
            "--role",
            "reviewer",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, token) = admin(store, &["token", "create", "--role", "writer"]);
    assert_eq!(code, 0);
    (key, token.trim().to_owned())
}

fn log_key(agent: &ureq::Agent, base: &str) -> VerifierKey {
    get_json(agent, &format!("{base}/api/v1/log-key"))["vkey"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A fresh PostgreSQL database, or None (skip) without CUSTODY_TEST_POSTGRES_URL.
fn fresh_postgres(test: &str) -> Option<(String, impl FnOnce())> {
    let admin_url = custody_testkit::postgres_url(test)?;
    let name =
        format!("ledger_e2e_{}", std::process::id()) + &format!("_{}", test.len() + rand_suffix());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let base = &admin_url[..admin_url.rfind('/').unwrap()];
    let url = format!("{base}/{name}");
    let cleanup = move || {
        rt.block_on(async {
            if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&pool)
                .await;
            }
        });
    };
    Some((url, cleanup))
}

fn rand_suffix() -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() % 1_000_000) as usize
}

/// One acknowledged submission as a client keeps it.
#[derive(Clone)]
struct Ack {
    index: u64,
    leaf: Hash,
    proof: EntryProof,
}

fn submit(agent: &ureq::Agent, base: &str, token: &str, envs: &[Value]) -> Option<Vec<Ack>> {
    let body = serde_json::to_vec(&json!({ "envelopes": envs })).unwrap();
    let mut resp = agent
        .post(format!("{base}/api/v1/entries"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(&body[..])
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let v: Value = resp.body_mut().read_json().ok()?;
    Some(
        v["entries"]
            .as_array()?
            .iter()
            .map(|e| {
                let proof: EntryProof = serde_json::from_value(e["proof"].clone()).unwrap();
                Ack {
                    index: e["index"].as_u64().unwrap(),
                    leaf: proof.leaf_hash,
                    proof,
                }
            })
            .collect(),
    )
}

fn consistency_ok(agent: &ureq::Agent, base: &str, old: u64, old_root: &Hash) -> bool {
    let v = get_json(
        agent,
        &format!("{base}/api/v1/proofs/consistency?first={old}"),
    );
    let path: Vec<Hash> = v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    let new_root = Hash::from_hex(v["second_root"].as_str().unwrap()).unwrap();
    custody_log::verify_consistency(
        old,
        v["second"].as_u64().unwrap(),
        &path,
        old_root,
        &new_root,
    )
    .is_ok()
}

/// Writers hammer `bases` (round robin) until `stop` is set; returns what was acknowledged.
fn burst(
    bases: Vec<String>,
    token: String,
    key: Arc<SigningKey>,
    writers: usize,
    until: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> Vec<Ack> {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let until = Arc::new(until);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (bases, token, key, acks, until) = (
                bases.clone(),
                token.clone(),
                key.clone(),
                acks.clone(),
                until.clone(),
            );
            std::thread::spawn(move || {
                let agent = agent();
                let manifest = Digest::sha256_of(format!("writer {w}").as_bytes());
                let mut n = 0u64;
                loop {
                    let count = acks.lock().unwrap().len();
                    if until(count) {
                        break;
                    }
                    let batch: Vec<Value> = (0..1 + (n % 4))
                        .map(|i| review(&key, &manifest, n * 10 + i))
                        .collect();
                    let base = &bases[(n as usize + w) % bases.len()];
                    match submit(&agent, base, &token, &batch) {
                        Some(a) => acks.lock().unwrap().extend(a),
                        None => std::thread::sleep(Duration::from_millis(20)),
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    Arc::try_unwrap(acks).ok().unwrap().into_inner().unwrap()
}

#[test]
fn two_ledger_processes_on_one_postgres_make_one_log() {
    let Some((url, cleanup)) = fresh_postgres("two_ledger_processes_on_one_postgres") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Url(url);
    let (code, _) = admin(&store, &["migrate"]);
    assert_eq!(code, 0);
    let (key, token) = provision(&store, dir.path());
    let a = Server::start(&store, &[]);
    let b = Server::start(&store, &[]);
    let bases = vec![a.base.clone(), b.base.clone()];
    let acks = burst(bases, token, Arc::new(key), 6, |n| n >= 600);
    let agent = agent();
    let vkey = log_key(&agent, &a.base);
    assert_eq!(
        vkey.to_string(),
        log_key(&agent, &b.base).to_string(),
        "one log key"
    );
    let mut indexes: Vec<u64> = acks.iter().map(|a| a.index).collect();
    indexes.sort_unstable();
    let n = indexes.len() as u64;
    assert_eq!(
        indexes,
        (0..n).collect::<Vec<_>>(),
        "no gap, no duplicate index"
    );
    for ack in &acks {
        ack.proof.verify(None, &vkey).unwrap();
    }
    // Both replicas serve the same head, and every receipt's checkpoint is consistent with it.
    let head_a = get_json(&agent, &format!("{}/api/v1/checkpoint", a.base));
    let head_b = get_json(&agent, &format!("{}/api/v1/checkpoint", b.base));
    assert_eq!(head_a["tree_size"], n);
    assert_eq!(head_a["root_hash"], head_b["root_hash"]);
    for ack in acks.iter().step_by(25) {
        let cp = custody_log::SignedCheckpoint::parse(&ack.proof.checkpoint)
            .unwrap()
            .verify(&vkey)
            .unwrap();
        assert!(consistency_ok(&agent, &b.base, cp.size(), &cp.root()));
    }
    drop((a, b));
    let (code, out) = admin(&store, &["verify"]);
    assert_eq!(code, 0, "{out}");
    cleanup();
}

fn kill9_scenario(store: Store, dir: &Path) {
    let (key, token) = provision(&store, dir);
    let mut server = Server::start(&store, &[]);
    let base = server.base.clone();
    let started = Instant::now();
    let acks = {
        let key = Arc::new(key);
        let bases = vec![base.clone()];
        let killer = std::thread::spawn({
            let pid = server.child.id();
            move || {
                std::thread::sleep(Duration::from_millis(1500));
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        });
        let acks = burst(bases, token.clone(), key, 6, move |_| {
            started.elapsed() > Duration::from_secs(3)
        });
        killer.join().unwrap();
        acks
    };
    server.kill9();
    assert!(
        acks.len() > 10,
        "the burst acknowledged only {} entries",
        acks.len()
    );
    let restarted = Server::start(&store, &[]);
    let agent = agent();
    let vkey = log_key(&agent, &restarted.base);
    for ack in &acks {
        let e = get_json(
            &agent,
            &format!("{}/api/v1/entries/{}", restarted.base, ack.index),
        );
        assert_eq!(
            e["leaf_hash"],
            ack.leaf.to_hex(),
            "acknowledged entry {} lost or changed",
            ack.index
        );
        let cp = custody_log::SignedCheckpoint::parse(&ack.proof.checkpoint)
            .unwrap()
            .verify(&vkey)
            .unwrap();
        assert!(
            consistency_ok(&agent, &restarted.base, cp.size(), &cp.root()),
            "checkpoint of size {} handed out before the crash is not consistent with the log after it",
            cp.size()
        );
    }
    drop(restarted);
    let (code, out) = admin(&store, &["verify"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn kill_9_during_a_write_burst_loses_no_acknowledged_entry_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill9_scenario(Store::Dir(dir.path().join("data")), dir.path());
}

#[test]
fn kill_9_during_a_write_burst_loses_no_acknowledged_entry_postgres() {
    let Some((url, cleanup)) = fresh_postgres("kill_9_postgres") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    kill9_scenario(Store::Url(url), dir.path());
    cleanup();
}

fn run(bin: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn custody_cli_over_tls_submit_verify_query_and_tamper_detection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let store = Store::Dir(data.clone());
    let (key, token) = provision(&store, d);
    // A self-signed certificate for 127.0.0.1, made here (rcgen, ring).
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let mut server = Server::start(
        &store,
        &[
            "--tls-cert",
            d.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            d.join("key.pem").to_str().unwrap(),
        ],
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let base = server.base.clone();
    let ca = d.join("cert.pem");
    let manifest = Digest::sha256_of(b"cli image");
    let mut files = Vec::new();
    for n in 0..3 {
        let path = d.join(format!("review{n}.dsse.json"));
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&review(&key, &manifest, n)).unwrap(),
        )
        .unwrap();
        files.push(path);
    }
    let file_args: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["submit"];
    args.extend(&file_args);
    args.extend([
        "--ledger",
        &base,
        "--token",
        &token,
        "--ca-cert",
        ca.to_str().unwrap(),
    ]);
    let (code, out, err) = run(&custody_bin(), &args);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("0\tnew\t"), "{out}");
    // Resubmitting: same entries.
    let (code, out, _) = run(&custody_bin(), &args);
    assert_eq!(code, 0);
    assert!(out.lines().all(|l| l.contains("\texisting\t")), "{out}");
    // Without trusting the certificate, the CLI refuses to talk.
    let (code, _, err) = run(
        &custody_bin(),
        &[
            "query",
            "--ledger",
            &base,
            "--subject",
            &manifest.to_string(),
        ],
    );
    assert_eq!(code, 2, "{err}");

    // Offline proof checks, with the PEM the ledger wrote to DATA_DIR/log.pub.
    let log_pub = data.join("log.pub");
    let proof1 = d.join("review1.dsse.json.proof.json");
    let (code, out, err) = run(
        &custody_bin(),
        &[
            "proof",
            "verify",
            proof1.to_str().unwrap(),
            "--log-key",
            log_pub.to_str().unwrap(),
            "--entry",
            files[1].to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("valid: entry 1"), "{out}");
    // The wrong entry, a doctored proof, another log's key: exit 1.
    let (code, _, _) = run(
        &custody_bin(),
        &[
            "proof",
            "verify",
            proof1.to_str().unwrap(),
            "--log-key",
            log_pub.to_str().unwrap(),
            "--entry",
            files[2].to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let mut doctored: Value = serde_json::from_slice(&std::fs::read(&proof1).unwrap()).unwrap();
    doctored["log_index"] = json!(2);
    let doctored_path = d.join("doctored.proof.json");
    std::fs::write(&doctored_path, serde_json::to_vec(&doctored).unwrap()).unwrap();
    let (code, _, _) = run(
        &custody_bin(),
        &[
            "proof",
            "verify",
            doctored_path.to_str().unwrap(),
            "--log-key",
            log_pub.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let other = custody_log::SignerKey::generate(
        custody_log::KeyName::new(doctored["log_origin"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let (code, _, _) = run(
        &custody_bin(),
        &[
            "proof",
            "verify",
            proof1.to_str().unwrap(),
            "--log-key",
            &other.verifier().to_string(),
        ],
    );
    assert_eq!(code, 1);

    // Queries.
    let (code, out, err) = run(
        &custody_bin(),
        &[
            "query",
            "--ledger",
            &base,
            "--ca-cert",
            ca.to_str().unwrap(),
            "--subject",
            &manifest.to_string(),
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 3);
    let (code, out, err) = run(
        &custody_bin(),
        &[
            "query",
            "--ledger",
            &base,
            "--ca-cert",
            ca.to_str().unwrap(),
            "--image",
            &manifest.to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reviews:"), "{out}");
    let (code, out, err) = run(
        &custody_bin(),
        &[
            "query",
            "--ledger",
            &base,
            "--ca-cert",
            ca.to_str().unwrap(),
            "--signer",
            &key.key_id().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");

    // Stop cleanly (SIGTERM), change a stored node behind the ledger's back, and audit.
    server.stop();
    let (code, out) = admin(&store, &["verify"]);
    assert_eq!(code, 0, "{out}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("ledger.db").display()))
                .await
                .unwrap();
        sqlx::query("UPDATE nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 1")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let (code, out) = admin(&store, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("TAMPERED: node (level 0, index 1)"), "{out}");
}
