//! The custody deploy gate: `custody verify` as a service.
//!
//! - `POST /validate`: a Kubernetes ValidatingAdmissionWebhook (admission.k8s.io/v1
//!   AdmissionReview) for Pods and workload kinds. Every container image must be pinned by
//!   digest (`name@sha256:…`: a tag cannot be resolved without trusting a registry) and
//!   must pass the policy; otherwise the request is denied with the failing rules in the
//!   message. Any error (ledger down, malformed request) denies: the gate fails closed.
//! - `POST /v1/verify` `{"image": "sha256:…"}`: the decision as JSON (custody-verify's
//!   `Decision`), 200 whether allowed or denied, 4xx/5xx with a JSON error otherwise.
//! - `GET /healthz`, `GET /metrics` (Prometheus).
//!
//! Evidence comes from the ledger (custody-verify's collector over a blocking rustls client,
//! run on the blocking pool). The gate keeps the last checkpoint it trusted in memory (and in
//! `--state` when given), so a ledger that rolls back or forks is denied. Each decision is
//! signed with the gate key as a SLSA Verification Summary and recorded in the ledger.
#![deny(missing_docs)]

pub mod admission;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use custody_attest::{
    KeyIdHint, ResourceDescriptor, SigningKey, VerificationResult, VerificationSummary,
    sign_statement,
};
use custody_log::TrustedCheckpoint;
use custody_types::Digest;
use custody_verify::{
    CollectOptions, Context, Decision, FetchError, ImageFacts, LedgerTransport, Policy,
    collect_from_ledger,
};
use serde_json::{Value, json};

pub use custody_server::{TlsError, serve, shutdown_signal, tls_config};

/// The gate's configuration, parsed once from flags and `CUSTODY_GATE_*` variables.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "custody-gate",
    version,
    about = "The custody deploy gate: admission webhook and /v1/verify"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CUSTODY_GATE_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// The policy file (docs/policy.md).
    #[arg(long, env = "CUSTODY_GATE_POLICY")]
    pub policy: PathBuf,
    /// The ledger's base URL.
    #[arg(long, env = "CUSTODY_GATE_LEDGER")]
    pub ledger: String,
    /// Extra CA certificate (PEM) to trust for an https ledger (e.g. a cluster-internal CA).
    #[arg(long, env = "CUSTODY_GATE_LEDGER_CA")]
    pub ledger_ca_cert: Option<PathBuf>,
    /// Token for the ledger (reads, and writes when recording decisions).
    #[arg(long, env = "CUSTODY_GATE_LEDGER_TOKEN", hide_env_values = true)]
    pub ledger_token: Option<String>,
    /// The gate's signing key (PKCS#8 PEM file, or env:NAME); decisions are recorded in the
    /// ledger only when it is given.
    #[arg(long, env = "CUSTODY_GATE_KEY")]
    pub key: Option<String>,
    /// A file keeping the last checkpoint the gate trusted across restarts.
    #[arg(long, env = "CUSTODY_GATE_STATE")]
    pub state: Option<PathBuf>,
    /// TLS certificate chain (PEM); Kubernetes calls webhooks over HTTPS only.
    #[arg(long, env = "CUSTODY_GATE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CUSTODY_GATE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a request may take (the webhook's own timeout should be a little longer).
    #[arg(long, env = "CUSTODY_GATE_REQUEST_TIMEOUT", default_value_t = 10)]
    pub request_timeout: u64,
}

/// A blocking GET against the ledger (ureq, rustls with ring).
pub struct LedgerHttp {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl LedgerHttp {
    /// A client for `url` with an optional bearer token, trusting the webpki roots and, when
    /// given, the CA certificates in the PEM file `ca`.
    pub fn new(
        url: &str,
        token: Option<String>,
        timeout: Duration,
        ca: Option<&Path>,
    ) -> Result<LedgerHttp, TlsError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(ca) = ca {
            let pem_err = |reason: String| TlsError::Pem {
                path: ca.display().to_string(),
                reason,
            };
            let pem = std::fs::read(ca).map_err(|e| pem_err(e.to_string()))?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(pem_err("no certificate in the file".into()));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build();
        Ok(LedgerHttp {
            agent: config.into(),
            base: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// POSTs JSON; the status and (up to 64 KiB of) the answer.
    fn post_json(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.send(body).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let answer = resp
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_vec()
            .unwrap_or_default();
        Ok((status, answer))
    }
}

impl LedgerTransport for LedgerHttp {
    fn base_url(&self) -> &str {
        &self.base
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req
            .call()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
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

/// Prometheus metrics of the gate.
pub struct Metrics {
    registry: prometheus::Registry,
    decisions: prometheus::IntCounterVec,
    seconds: prometheus::Histogram,
    recorded: prometheus::IntCounterVec,
    state_errors: prometheus::IntCounter,
}

impl Metrics {
    fn new() -> Result<Metrics, prometheus::Error> {
        let registry = prometheus::Registry::new();
        let decisions = prometheus::IntCounterVec::new(
            prometheus::Opts::new("custody_gate_decisions_total", "Decisions by outcome"),
            &["outcome"],
        )?;
        let seconds = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
            "custody_gate_verify_seconds",
            "Time to collect evidence and decide about one image",
        ))?;
        let recorded = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "custody_gate_recorded_total",
                "Decisions recorded in the ledger",
            ),
            &["result"],
        )?;
        registry.register(Box::new(decisions.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        let state_errors = prometheus::IntCounter::new(
            "custody_gate_state_write_errors_total",
            "Failed writes of the trusted checkpoint to --state",
        )?;
        registry.register(Box::new(recorded.clone()))?;
        registry.register(Box::new(state_errors.clone()))?;
        Ok(Metrics {
            registry,
            decisions,
            seconds,
            recorded,
            state_errors,
        })
    }

    fn render(&self) -> String {
        use prometheus::Encoder as _;
        let mut out = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Shared state of the gate.
pub struct Gate {
    policy: Policy,
    ledger: Box<dyn LedgerTransport + Send>,
    recorder: Option<(SigningKey, LedgerHttp)>,
    trusted: Mutex<Option<TrustedCheckpoint>>,
    state_file: Option<PathBuf>,
    metrics: Metrics,
}

/// Why the gate could not decide.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Collecting evidence failed.
    #[error("{0}")]
    Ledger(#[from] custody_verify::LedgerError),
    /// The evidence lacks the manifest or config, or they do not match the digest.
    #[error("image {digest}: {reason}")]
    Image {
        /// The image.
        digest: Digest,
        /// Why.
        reason: String,
    },
    /// The decision could not run.
    #[error("internal: {0}")]
    Internal(String),
}

impl Gate {
    /// A gate over `policy`, fetching from `ledger`, recording with `recorder` when given.
    pub fn new(
        policy: Policy,
        ledger: Box<dyn LedgerTransport + Send>,
        recorder: Option<(SigningKey, LedgerHttp)>,
        trusted: Option<TrustedCheckpoint>,
        state_file: Option<PathBuf>,
    ) -> Result<Gate, prometheus::Error> {
        Ok(Gate {
            policy,
            ledger,
            recorder,
            trusted: Mutex::new(trusted),
            state_file,
            metrics: Metrics::new()?,
        })
    }

    /// Decides about one image by digest (blocking: call from the blocking pool), recording
    /// the decision in the ledger when `record` (never for an admission dry run). `reference`
    /// is the image as the caller named it (`registry/app@sha256:…`), recorded as the
    /// summary's resource URI.
    pub fn decide(
        &self,
        digest: &Digest,
        reference: Option<&str>,
        record: bool,
    ) -> Result<Decision, GateError> {
        let started = std::time::Instant::now();
        let trusted = self
            .trusted
            .lock()
            .map_err(|_| GateError::Internal("state lock poisoned".into()))?
            .clone();
        let options = CollectOptions {
            trusted_size: trusted.as_ref().map(|t| t.size),
            consistency_from: Vec::new(),
            sboms: !self.policy.rules().config.forbidden_packages.is_empty(),
        };
        let evidence = collect_from_ledger(self.ledger.as_ref(), digest, &options)?;
        let image_err = |reason: String| GateError::Image {
            digest: digest.clone(),
            reason,
        };
        let manifest = evidence
            .blob(digest)
            .ok_or_else(|| image_err("the ledger does not store its manifest".into()))?;
        let config_digest: Digest = serde_json::from_slice::<Value>(&manifest.data)
            .ok()
            .and_then(|m| m.pointer("/config/digest")?.as_str()?.parse().ok())
            .ok_or_else(|| image_err("its manifest names no config".into()))?;
        let config = evidence
            .blob(&config_digest)
            .ok_or_else(|| image_err("the ledger does not store its config".into()))?;
        let facts = ImageFacts::from_blobs(digest, &manifest.data, &config.data)
            .map_err(|e| image_err(e.to_string()))?;
        let decision = custody_verify::verify(
            &self.policy,
            &facts,
            &evidence,
            &Context {
                now: jiff::Timestamp::now(),
                trusted,
            },
        );
        self.metrics
            .seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .decisions
            .with_label_values(&[if decision.allowed {
                "allowed"
            } else {
                "denied"
            }])
            .inc();
        if let Some(next) = &decision.next_state {
            self.advance(next);
        }
        if record {
            self.record(&decision, reference);
        }
        Ok(decision)
    }

    fn advance(&self, next: &TrustedCheckpoint) {
        let Ok(mut t) = self.trusted.lock() else {
            return;
        };
        // Only ever move forward: a concurrent decision may have advanced further already.
        if t.as_ref().is_some_and(|cur| cur.size > next.size) {
            return;
        }
        *t = Some(next.clone());
        // Written while the lock is held, so two decisions never interleave their writes.
        if let Some(path) = &self.state_file
            && let Ok(mut json) = serde_json::to_vec_pretty(next)
        {
            json.push(b'\n');
            if let Err(e) = write_durably(path, &json) {
                self.metrics.state_errors.inc();
                tracing::warn!(error = %e, path = %path.display(), "cannot save the trusted checkpoint");
            }
        }
    }

    /// Signs the decision, allowed or denied, as a SLSA Verification Summary (PASSED or
    /// FAILED) and submits it to the ledger, so auditors see every admission attempt. A
    /// decision that could not be made is not recorded (there is nothing signed to record,
    /// and the ledger is usually why). Recording is best effort: the admission answer never
    /// waits on a ledger refusal, which is logged and counted instead.
    fn record(&self, decision: &Decision, reference: Option<&str>) {
        let Some((key, ledger)) = &self.recorder else {
            return;
        };
        // The reference only names the resource when it pins this very digest.
        let resource = match reference {
            Some(r) if admission::pinned_digest(r).as_ref() == Some(&decision.image) => {
                format!("oci://{r}")
            }
            _ => format!("oci://{}", decision.image),
        };
        let mut summary = VerificationSummary::new(
            "https://custody.dev/gate",
            decision.verified_at,
            &resource,
            None,
            &decision.policy,
            if decision.allowed {
                VerificationResult::Passed
            } else {
                VerificationResult::Failed
            },
        );
        summary.input_attestations = decision
            .inputs
            .iter()
            .map(|d| ResourceDescriptor::named("attestation", d))
            .collect();
        summary
            .verifier
            .version
            .insert("custody".into(), env!("CARGO_PKG_VERSION").into());
        let envelope = sign_statement(
            &summary.statement(&decision.image, None),
            key,
            KeyIdHint::default(),
        );
        let result = match ledger.post_json("/api/v1/entries", &envelope.to_json()) {
            Ok((200..=299, answer)) => {
                let index = serde_json::from_slice::<Value>(&answer)
                    .ok()
                    .and_then(|v| v.pointer("/entries/0/index")?.as_u64());
                tracing::info!(image = %decision.image, allowed = decision.allowed, index, "decision recorded");
                "ok"
            }
            Ok((status, answer)) => {
                let message = String::from_utf8_lossy(&answer)
                    .chars()
                    .take(300)
                    .collect::<String>();
                tracing::warn!(status, %message, image = %decision.image, "the ledger refused the decision record");
                "refused"
            }
            Err(e) => {
                tracing::warn!(error = %e, image = %decision.image, "cannot record the decision");
                "error"
            }
        };
        self.metrics.recorded.with_label_values(&[result]).inc();
    }
}

/// Replaces `path` with `bytes` so that a crash at any point leaves the old or the new file,
/// never a torn one: a temporary file in the same folder, written and fsynced, renamed over
/// `path`, then the folder fsynced so the rename itself survives power loss.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn error_json(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn decide_blocking(
    gate: Arc<Gate>,
    digest: Digest,
    reference: Option<String>,
    record: bool,
) -> Result<Decision, GateError> {
    tokio::task::spawn_blocking(move || gate.decide(&digest, reference.as_deref(), record))
        .await
        .map_err(|e| GateError::Internal(e.to_string()))?
}

async fn verify_api(State(gate): State<Arc<Gate>>, body: axum::body::Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Req {
        image: String,
    }
    let req: Req = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("request body: {e}"),
            );
        }
    };
    let digest = match admission::pinned_digest(&req.image).or_else(|| req.image.parse().ok()) {
        Some(d) => d,
        None => {
            return error_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "image must be a manifest digest (sha256:…) or a reference pinned by digest",
            );
        }
    };
    match decide_blocking(gate, digest, Some(req.image), true).await {
        Ok(d) => (StatusCode::OK, Json(d)).into_response(),
        Err(e) => error_json(StatusCode::BAD_GATEWAY, "undecided", &e.to_string()),
    }
}

async fn validate(State(gate): State<Arc<Gate>>, body: axum::body::Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("request body: {e}"),
            );
        }
    };
    let review = match admission::parse_review(&value) {
        Ok(r) => r,
        Err(admission::AdmissionError::UnknownKind { kind }) => {
            let uid = value
                .pointer("/request/uid")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Json(admission::response(
                uid,
                false,
                &format!("custody gate: {kind} objects are not understood; denied (fail closed)"),
            ))
            .into_response();
        }
        Err(e) => return error_json(StatusCode::BAD_REQUEST, "bad_request", &e.to_string()),
    };
    let mut denials = Vec::new();
    for image in &review.images {
        let Some(digest) = image.digest.clone() else {
            denials.push(format!(
                "container {}: image {:?} is not pinned by digest (use name@sha256:…)",
                image.container, image.reference
            ));
            continue;
        };
        match decide_blocking(
            gate.clone(),
            digest,
            Some(image.reference.clone()),
            !review.dry_run,
        )
        .await
        {
            Ok(d) if d.allowed => {}
            Ok(d) => denials.push(format!(
                "container {} ({}): {}",
                image.container,
                d.image,
                d.denial_message()
            )),
            Err(e) => denials.push(format!(
                "container {}: could not decide ({e}); denied (fail closed)",
                image.container
            )),
        }
    }
    if review.images.is_empty() {
        denials.push("no container images found".into());
    }
    let allowed = denials.is_empty();
    tracing::info!(uid = %review.uid, kind = %review.kind, object = %review.object, allowed, "admission");
    let message = format!(
        "custody gate denied {} {}: {}",
        review.kind,
        review.object,
        denials.join("; ")
    );
    Json(admission::response(&review.uid, allowed, &message)).into_response()
}

async fn metrics(State(gate): State<Arc<Gate>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        gate.metrics.render(),
    )
        .into_response()
}

/// The gate's routes, with a body limit and a request timeout.
pub fn build_router(gate: Arc<Gate>, timeout: Duration) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/v1/verify", post(verify_api))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(4 << 20))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(gate)
}
