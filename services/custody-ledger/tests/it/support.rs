//! Fixtures: a ledger on each engine (a fresh SQLite file; a fresh PostgreSQL database when
//! CUSTODY_TEST_POSTGRES_URL is set), signer keys, signed envelopes, and HTTP helpers.

use std::future::Future;
use std::str::FromStr;
use std::sync::Once;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use custody_attest::{
    ImageBuild, KeyIdHint, KeyType, LayerBlob, LayerPredicate, ProvenanceLayer, ReviewPredicate,
    Reviewer, SbomDocument, SigningKey, sign_statement,
};
use custody_ledger::{ApiConfig, AppState, Db, LogIdentity, MigrateArgs, TokenRole};
use custody_log::Hash;
use custody_types::{DiffId, Digest, Role, chain_ids, media_types};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use sigstore_crypto::provider::{CryptoProvider, HashContext, install_default_provider};
use sigstore_crypto::{Error as SigstoreError, SigningScheme};
use sigstore_types::{HashAlgorithm, Sha256Hash};
use tower::ServiceExt as _;

/// A database to run a test on.
pub(crate) struct Engine {
    pub(crate) name: &'static str,
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Engine {
    pub(crate) async fn cleanup(self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(pool) = sqlx::PgPool::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&pool)
            .await;
            pool.close().await;
        }
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 6];
    getrandom(&mut b);
    hex::encode(b)
}

fn getrandom(buf: &mut [u8]) {
    use rand_core::TryRngCore as _;
    rand_core::OsRng.try_fill_bytes(buf).unwrap();
}

/// SQLite always; PostgreSQL when the test environment provides it.
pub(crate) async fn engines(test: &str) -> Vec<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Engine {
        name: "sqlite",
        url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
        _dir: Some(dir),
        pg: None,
    }];
    if let Some(admin) = custody_testkit::postgres_url(test) {
        out.push(fresh_postgres(&admin).await);
    }
    out
}

/// A new, empty PostgreSQL database on the test cluster.
pub(crate) async fn fresh_postgres(admin: &str) -> Engine {
    let name = format!("ledger_t_{}", random_suffix());
    let pool = sqlx::PgPool::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let base = &base[..base.rfind('/').unwrap()];
    Engine {
        name: "postgres",
        url: format!("{base}/{name}{query}"),
        _dir: None,
        pg: Some((admin.to_owned(), name)),
    }
}

/// Signer keys of every role, registered, plus one that is not.
pub(crate) struct Keys {
    pub(crate) builder: SigningKey,
    pub(crate) base: SigningKey,
    pub(crate) scanner: SigningKey,
    pub(crate) reviewer: SigningKey,
    pub(crate) reviewer2: SigningKey,
    pub(crate) unknown: SigningKey,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        Keys {
            builder: SigningKey::generate(KeyType::Ed25519).unwrap(),
            base: SigningKey::generate(KeyType::P256).unwrap(),
            scanner: SigningKey::generate(KeyType::Ed25519).unwrap(),
            reviewer: SigningKey::generate(KeyType::Ed25519).unwrap(),
            reviewer2: SigningKey::generate(KeyType::P256).unwrap(),
            unknown: SigningKey::generate(KeyType::Ed25519).unwrap(),
        }
    }
}

/// A ledger under test, driven through its router.
pub(crate) struct Ledger {
    pub(crate) engine: &'static str,
    pub(crate) router: Router,
    pub(crate) db: Db,
    pub(crate) identity: LogIdentity,
    pub(crate) keys: Keys,
    pub(crate) writer: String,
    pub(crate) admin: String,
    pub(crate) auditor: String,
}

pub(crate) async fn open_ledger(
    url: &str,
    config: ApiConfig,
) -> (Db, LogIdentity, AppState, Router) {
    let dir = tempfile::tempdir().unwrap();
    let args = MigrateArgs {
        db: custody_ledger::DbArgs {
            data_dir: dir.path().to_owned(),
            database_url: Some(url.to_owned()),
            db_connections: 8,
        },
        origin: Some("custody.test/ledger".into()),
    };
    let opened = custody_ledger::open(&args).await.unwrap();
    let (state, _task) = AppState::new(opened.db.clone(), opened.identity.clone(), config).unwrap();
    let router = custody_ledger::build_router(state.clone());
    (opened.db, opened.identity, state, router)
}

impl Ledger {
    pub(crate) async fn new(engine: &Engine, config: ApiConfig) -> Ledger {
        let (db, identity, _state, router) = open_ledger(&engine.url, config).await;
        let keys = Keys::new();
        for (k, role) in [
            (&keys.builder, Role::Builder),
            (&keys.base, Role::BaseLibrary),
            (&keys.scanner, Role::Scanner),
            (&keys.reviewer, Role::Reviewer),
            (&keys.reviewer2, Role::Reviewer),
        ] {
            custody_ledger::add_signer(&db, k.public_key(), role, "test")
                .await
                .unwrap();
        }
        let writer = custody_ledger::create_token(&db, TokenRole::Writer, "t")
            .await
            .unwrap();
        let admin = custody_ledger::create_token(&db, TokenRole::Admin, "t")
            .await
            .unwrap();
        let auditor = custody_ledger::create_token(&db, TokenRole::Auditor, "t")
            .await
            .unwrap();
        Ledger {
            engine: engine.name,
            router,
            db,
            identity,
            keys,
            writer,
            admin,
            auditor,
        }
    }

    /// One request; returns status and body bytes.
    pub(crate) async fn raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, bytes, headers)
    }

    pub(crate) async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, b, _) = self.raw(Method::GET, uri, None, None, Vec::new()).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub(crate) async fn post_json(
        &self,
        uri: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let (s, b, _) = self
            .raw(
                Method::POST,
                uri,
                token,
                Some("application/json"),
                serde_json::to_vec(body).unwrap(),
            )
            .await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// Submits envelopes as writer; asserts success; returns the receipts.
    pub(crate) async fn submit(&self, envelopes: &[Value]) -> Vec<Value> {
        let (s, v) = self
            .post_json(
                "/api/v1/entries",
                Some(&self.writer),
                &json!({ "envelopes": envelopes }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{}: submit failed: {v}", self.engine);
        v["entries"].as_array().unwrap().clone()
    }

    pub(crate) async fn tree_size(&self) -> u64 {
        let (s, v) = self.get("/api/v1/checkpoint").await;
        assert_eq!(s, StatusCode::OK);
        v["tree_size"].as_u64().unwrap()
    }

    pub(crate) fn verifier(&self) -> custody_log::VerifierKey {
        self.identity.vkey().parse().unwrap()
    }
}

/// Runs `f` on a fresh ledger on every engine, then drops the PostgreSQL database.
pub(crate) async fn on_engines<F, Fut>(test: &str, config: ApiConfig, f: F)
where
    F: Fn(Ledger) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in engines(test).await {
        let ledger = Ledger::new(&engine, config.clone()).await;
        f(ledger).await;
        engine.cleanup().await;
    }
}

pub(crate) fn env_json(env: &custody_attest::Envelope) -> Value {
    serde_json::from_slice(&env.to_json()).unwrap()
}

/// A review of `manifest` signed by `key` (distinct per `n`).
pub(crate) fn review(key: &SigningKey, manifest: &Digest, n: u64) -> Value {
    let p = ReviewPredicate {
        decision: custody_attest::Decision::Approved,
        reviewer: Reviewer {
            key_id: key.key_id(),
        },
        source_ref: None,
        comment: Some(format!("review {n}")),
        reviewed_on: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
    };
    env_json(&sign_statement(
        &p.statement(manifest, None),
        key,
        KeyIdHint::Securesystemslib,
    ))
}

pub(crate) fn digest(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

/// A CycloneDX SBOM with the given purls.
pub(crate) fn sbom(purls: &[&str]) -> Value {
    let components: Vec<Value> = purls
        .iter()
        .map(|p| {
            let parsed = packageurl::PackageUrl::from_str(p).unwrap();
            json!({"type": "library", "name": parsed.name(), "version": parsed.version().unwrap_or(""), "purl": p, "bom-ref": p})
        })
        .collect();
    json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components})
}

/// A layer attestation for layer `index` of `diff_ids` with an embedded SBOM of `purls`.
pub(crate) fn layer(key: &SigningKey, diff_ids: &[DiffId], index: usize, purls: &[&str]) -> Value {
    let doc = SbomDocument::from_value(sbom(purls), media_types::CYCLONEDX_JSON);
    let blob = LayerBlob {
        digest: diff_ids[index].0.clone(),
        size: 1234,
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
    };
    let p = LayerPredicate::for_stack(diff_ids, index, blob, doc.embedded()).unwrap();
    env_json(&sign_statement(
        &p.statement(),
        key,
        KeyIdHint::Securesystemslib,
    ))
}

/// A custody build provenance for an image of `diff_ids` (the first `base_layers` from `base`).
pub(crate) fn provenance(
    key: &SigningKey,
    manifest: &Digest,
    diff_ids: &[DiffId],
    layer_envelopes: &[Option<Digest>],
    base: Option<(&Digest, usize)>,
) -> Value {
    let chains = chain_ids(diff_ids);
    let t = jiff::Timestamp::from_second(1_700_000_000).unwrap();
    let build = ImageBuild {
        image_name: Some("example/app:1".into()),
        manifest: manifest.clone(),
        config: digest(&format!("config of {manifest}")),
        source: "oci:./image".into(),
        platform: None,
        role: Role::Builder,
        base: base.map(|(m, n)| custody_attest::BaseImage {
            reference: Some("library/base:1".into()),
            manifest: m.clone(),
            config: None,
            diff_ids: diff_ids[..n].to_vec(),
        }),
        builder_id: "https://ci.example/builder".into(),
        custody_version: "0.1.0".into(),
        ci: None,
        invocation_id: Some("run-1".into()),
        started_on: t,
        finished_on: t,
        layers: diff_ids
            .iter()
            .enumerate()
            .map(|(i, d)| ProvenanceLayer {
                index: i as u32,
                diff_id: d.clone(),
                chain_id: chains[i].clone(),
                envelope: layer_envelopes.get(i).cloned().flatten(),
            })
            .collect(),
        image_sbom: None,
    };
    env_json(&sign_statement(
        &build.statement(),
        key,
        KeyIdHint::Securesystemslib,
    ))
}

/// Digest of an envelope as the ledger and provenance name it.
pub(crate) fn envelope_digest(v: &Value) -> Digest {
    custody_attest::Envelope::from_json(&serde_json::to_vec(v).unwrap())
        .unwrap()
        .digest()
}

// sigstore-merkle, as a second verifier of every proof the ledger hands out.

#[derive(Debug)]
struct Sha2Only;

struct Ctx(sha2::Sha256);

impl HashContext for Ctx {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

impl CryptoProvider for Sha2Only {
    fn hash(&self, algorithm: HashAlgorithm) -> sigstore_crypto::Result<Box<dyn HashContext>> {
        match algorithm {
            HashAlgorithm::Sha2256 => Ok(Box::new(Ctx(sha2::Sha256::new()))),
            other => Err(SigstoreError::UnsupportedAlgorithm(format!("{other:?}"))),
        }
    }

    fn verify_raw(
        &self,
        _: SigningScheme,
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> sigstore_crypto::Result<()> {
        Err(SigstoreError::UnsupportedAlgorithm("hash only".into()))
    }

    fn verify_prehashed(
        &self,
        _: SigningScheme,
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> sigstore_crypto::Result<()> {
        Err(SigstoreError::UnsupportedAlgorithm("hash only".into()))
    }
}

static PROVIDER: Sha2Only = Sha2Only;
static INSTALL: Once = Once::new();

fn sig(h: &Hash) -> Sha256Hash {
    Sha256Hash::new(h.to_bytes())
}

pub(crate) fn sigstore_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> bool {
    INSTALL.call_once(|| {
        let _ = install_default_provider(&PROVIDER);
    });
    let path: Vec<Sha256Hash> = path.iter().map(sig).collect();
    sigstore_merkle::verify_inclusion_proof(&sig(leaf), index, size, &path, &sig(root)).is_ok()
}

pub(crate) fn sigstore_consistency(
    old: u64,
    new: u64,
    path: &[Hash],
    r1: &Hash,
    r2: &Hash,
) -> bool {
    INSTALL.call_once(|| {
        let _ = install_default_provider(&PROVIDER);
    });
    let path: Vec<Sha256Hash> = path.iter().map(sig).collect();
    sigstore_merkle::verify_consistency_proof(old, new, &path, &sig(r1), &sig(r2)).is_ok()
}

/// Checks a receipt's entry proof with custody-log and with sigstore-merkle; returns the
/// verified checkpoint's (size, root).
pub(crate) fn check_receipt(
    ledger: &Ledger,
    receipt: &Value,
    envelope: Option<&Value>,
) -> (u64, Hash) {
    let proof: custody_log::EntryProof = serde_json::from_value(receipt["proof"].clone()).unwrap();
    let canonical = envelope.map(|e| {
        custody_attest::Envelope::from_json(&serde_json::to_vec(e).unwrap())
            .unwrap()
            .to_json()
    });
    let v = proof
        .verify(canonical.as_deref(), &ledger.verifier())
        .unwrap_or_else(|e| panic!("{}: proof does not verify: {e}", ledger.engine));
    assert!(sigstore_inclusion(
        &proof.leaf_hash,
        proof.log_index,
        proof.tree_size,
        &proof.audit_path,
        &v.checkpoint.root()
    ));
    (v.checkpoint.size(), v.checkpoint.root())
}
