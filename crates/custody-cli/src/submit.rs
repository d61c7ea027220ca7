//! `custody submit`: record envelopes in a ledger and keep each entry's proof beside it.
//!
//! Every file is parsed and checked as a DSSE envelope before anything is sent; the files go
//! in one batch request (the ledger commits a batch in one transaction). For each file the
//! entry proof the ledger returns is checked offline against the ledger's log key (fetched
//! once, or given with `--log-key`) and written to `FILE.proof.json`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use custody_attest::{Envelope, Limits};
use custody_log::{EntryProof, VerifierKey};
use serde::Deserialize;

use crate::output::{Outcome, write_stdout};

/// Arguments of `custody submit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// DSSE envelope files (JSON), e.g. the attestations `custody attest` wrote.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Base URL of the ledger, e.g. http://127.0.0.1:8480.
    #[arg(long, env = "CUSTODY_LEDGER_URL")]
    ledger: String,
    /// Writer token.
    #[arg(long, env = "CUSTODY_LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Extra CA certificate (PEM) to trust for an https ledger.
    #[arg(long, env = "CUSTODY_LEDGER_CA")]
    ca_cert: Option<PathBuf>,
    /// The ledger's log key (C2SP vkey string, or a file holding it or the PEM from log.pub)
    /// to check returned proofs with; fetched from the ledger when absent.
    #[arg(long)]
    log_key: Option<String>,
}

/// An HTTP client for the ledger: rustls (ring) with the webpki roots, plus `ca` if given.
pub(crate) fn client(ca: Option<&Path>) -> anyhow::Result<ureq::Agent> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading CA file {}", ca.display()))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing CA file {}", ca.display()))?;
        if certs.is_empty() {
            bail!("CA file {} holds no certificate", ca.display());
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Reads a JSON response, turning a ledger error body into an error naming the request.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    what: &str,
    mut resp: ureq::http::Response<ureq::Body>,
) -> anyhow::Result<T> {
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .with_context(|| format!("{what}: reading the response"))?;
    if !status.is_success() {
        if let Ok(e) = serde_json::from_slice::<ErrorBody>(&body) {
            bail!(
                "{what}: ledger answered {status} {}: {}",
                e.error.code,
                e.error.message
            );
        }
        bail!("{what}: ledger answered {status}");
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("{what}: response is not the expected JSON"))
}

/// The ledger base URL without a trailing slash, checked to be http(s).
pub(crate) fn base_url(url: &str) -> anyhow::Result<String> {
    let u = url.trim_end_matches('/');
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        bail!("ledger URL {u:?} must start with http:// or https://");
    }
    Ok(u.to_owned())
}

#[derive(Deserialize)]
struct LogKeyJson {
    vkey: String,
}

/// Parses a log key given as a vkey string, or a file holding one or a PEM public key (then
/// the key name is `origin`).
pub(crate) fn parse_log_key(spec: &str, origin: Option<&str>) -> anyhow::Result<VerifierKey> {
    let text = if Path::new(spec).is_file() {
        std::fs::read_to_string(spec).with_context(|| format!("reading log key {spec}"))?
    } else {
        spec.to_owned()
    };
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map_err(|e| anyhow::anyhow!("log key {spec} is not an ed25519 public key: {e}"))?;
        let origin = origin.context("a PEM log key needs the log origin (taken from the proof)")?;
        let name = custody_log::KeyName::new(origin)
            .map_err(|e| anyhow::anyhow!("log origin {origin:?}: {e}"))?;
        return Ok(VerifierKey::new(name, key));
    }
    text.parse::<VerifierKey>()
        .map_err(|e| anyhow::anyhow!("log key {spec:?} is neither a C2SP vkey nor a PEM file: {e}"))
}

#[derive(Deserialize)]
struct SubmitResponse {
    entries: Vec<Receipt>,
}

#[derive(Deserialize)]
struct Receipt {
    index: u64,
    created: bool,
    proof: EntryProof,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let base = base_url(&args.ledger)?;
    let agent = client(args.ca_cert.as_deref())?;
    let mut envelopes = Vec::with_capacity(args.files.len());
    let mut canonical = Vec::with_capacity(args.files.len());
    for f in &args.files {
        let mut bytes = Vec::new();
        std::fs::File::open(f)
            .and_then(|file| {
                file.take(Limits::default().max_envelope_bytes() as u64 + 1)
                    .read_to_end(&mut bytes)
            })
            .with_context(|| format!("reading {}", f.display()))?;
        let env = Envelope::from_json(&bytes)
            .with_context(|| format!("{} is not a DSSE envelope", f.display()))?;
        let value: serde_json::Value = serde_json::from_slice(&env.to_json())
            .with_context(|| format!("re-reading {}", f.display()))?;
        canonical.push(env.to_json());
        envelopes.push(value);
    }
    let log_key = match &args.log_key {
        Some(k) => Some(k.clone()),
        None => {
            let resp = agent
                .get(format!("{base}/api/v1/log-key"))
                .call()
                .with_context(|| format!("fetching the log key from {base}"))?;
            Some(read_json::<LogKeyJson>("fetching the log key", resp)?.vkey)
        }
    };
    let body = serde_json::to_vec(&serde_json::json!({ "envelopes": envelopes }))?;
    let mut req = agent
        .post(format!("{base}/api/v1/entries"))
        .header("content-type", "application/json");
    if let Some(t) = &args.token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req
        .send(&body[..])
        .with_context(|| format!("submitting to {base}"))?;
    let answer: SubmitResponse = read_json("submitting", resp)?;
    if answer.entries.len() != args.files.len() {
        bail!(
            "the ledger returned {} receipts for {} envelopes",
            answer.entries.len(),
            args.files.len()
        );
    }
    let mut out = String::new();
    for ((file, receipt), bytes) in args.files.iter().zip(answer.entries).zip(&canonical) {
        let key = parse_log_key(
            log_key.as_deref().unwrap_or_default(),
            Some(&receipt.proof.log_origin),
        )?;
        receipt.proof.verify(Some(bytes), &key).with_context(|| {
            format!("the ledger's proof for {} does not verify", file.display())
        })?;
        let mut proof_path = file.clone().into_os_string();
        proof_path.push(".proof.json");
        let proof_path = PathBuf::from(proof_path);
        std::fs::write(&proof_path, receipt.proof.to_json())
            .with_context(|| format!("writing {}", proof_path.display()))?;
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            receipt.index,
            if receipt.created { "new" } else { "existing" },
            file.display()
        ));
    }
    write_stdout(out.as_bytes())?;
    Ok(Outcome::Ok)
}
