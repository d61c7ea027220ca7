//! `custody submit`: record attestations in a ledger, store the blobs a digest-only verifier
//! needs, and keep each entry's proof beside its file.
//!
//! Each PATH is an attestation file (a DSSE envelope or a key-based Sigstore bundle) or a
//! `custody attest` output directory. For a directory, its `index.json` says what is there:
//! every file is checked against the digest listed for it before anything is sent (a DIR
//! edited after signing is refused), every attestation in it is submitted, and the image's
//! manifest and config, its image SBOM and the layer SBOMs its attestations name by digest
//! only are uploaded to the ledger's content-addressed blob store (`PUT /api/v1/blobs/{digest}`;
//! SBOMs embedded in layer attestations are stored by the ledger itself). That is what lets
//! `custody verify DIGEST`, `custody bundle DIGEST` and the deploy gate, which only ever have
//! a digest, read the manifest and config from the ledger and check them against the digest.
//!
//! Blobs go first (an entry is never logged while the blobs that make it checkable are
//! missing), then every envelope of every PATH in one batch request (the ledger commits a
//! batch in one transaction; very large submissions are split at 1,000 envelopes or 32 MiB).
//! The entry proof returned for each file is checked offline against the ledger's log key
//! (fetched once, or given with `--log-key`) and written to `FILE.proof.json`.

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use custody_attest::{BundleContent, Envelope, Limits, parse_bundle};
use custody_log::{EntryProof, VerifierKey};
use custody_types::{Digest, media_types};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::output::{Outcome, write_stdout};

/// Arguments of `custody submit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Attestation files (DSSE envelopes or key-based Sigstore bundles), or `custody attest`
    /// output directories: every attestation their index.json lists is submitted, and the
    /// image's manifest, config and SBOMs are uploaded as blobs.
    #[arg(value_name = "DIR|FILE", required_unless_present = "blobs")]
    paths: Vec<PathBuf>,
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
    /// Also upload this file to the ledger's blob store, under its SHA-256 (repeatable).
    #[arg(long = "blob", value_name = "FILE")]
    blobs: Vec<PathBuf>,
    /// Submit only the attestations of attest directories, not their manifest, config and
    /// SBOMs (a verifier then needs the image itself).
    #[arg(long)]
    no_blobs: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per blob (`DIGEST<TAB>new|existing<TAB>FILE`), then one per entry
    /// (`INDEX<TAB>new|existing<TAB>FILE`).
    Text,
    /// `{"blobs": [...], "entries": [...]}`.
    Json,
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

#[derive(Deserialize)]
struct BlobInfo {
    digest: String,
    created: bool,
}

/// An attestation to submit: the file it came from and its envelope's canonical bytes.
struct EnvelopeFile {
    path: PathBuf,
    canonical: Vec<u8>,
}

/// A blob to upload, its bytes checked against `digest`.
struct BlobFile {
    path: PathBuf,
    digest: Digest,
    media_type: String,
    kind: String,
    data: Vec<u8>,
}

/// Largest `index.json` read from an attest directory.
const MAX_INDEX_BYTES: usize = 16 << 20;
/// Largest blob read (the ledger's default blob limit).
const MAX_BLOB_BYTES: usize = 1 << 30;
/// Most envelopes per request (the ledger's batch limit).
const MAX_BATCH: usize = 1000;
/// A request is closed once its envelopes pass this many bytes (the ledger's default body
/// limit is 64 MiB).
const MAX_BATCH_BYTES: usize = 32 << 20;

/// Reads `path` whole, refusing more than `max` bytes.
fn read_capped(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max as u64 + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    Ok(bytes)
}

/// Reads an attestation file: a DSSE envelope, or a key-based Sigstore bundle holding one.
fn read_envelope(path: &Path) -> anyhow::Result<Envelope> {
    parse_attestation(path, &read_capped(path, max_attestation_bytes())?)
}

/// Largest attestation file read: an envelope, plus room for a bundle's wrapping.
fn max_attestation_bytes() -> usize {
    Limits::default().max_envelope_bytes() + (1 << 20)
}

/// Parses the bytes of an attestation file (`path` is for messages).
fn parse_attestation(path: &Path, bytes: &[u8]) -> anyhow::Result<Envelope> {
    let limits = Limits::default();
    let media_type = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned));
    if media_type.is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle")) {
        let bundle = parse_bundle(bytes, &limits)
            .with_context(|| format!("{} is not a valid Sigstore bundle", path.display()))?;
        return match bundle.content {
            BundleContent::Dsse(env) => Ok(env),
            BundleContent::Message { .. } => bail!(
                "{} is a Sigstore bundle with a message signature, not a DSSE envelope",
                path.display()
            ),
        };
    }
    Envelope::from_json(bytes).with_context(|| format!("{} is not a DSSE envelope", path.display()))
}

/// A path listed in index.json, refused unless it stays inside the directory.
fn listed_path(dir: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!(
            "{}/index.json lists {rel:?}, which is not a relative path inside the directory",
            dir.display()
        );
    }
    Ok(dir.join(p))
}

/// Reads a listed file and checks it against the size and digest index.json gives.
fn read_listed(dir: &Path, file: &Value, max: usize) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let rel = file.get("path").and_then(Value::as_str).unwrap_or("");
    let path = listed_path(dir, rel)?;
    let digest: Digest = file
        .get("digest")
        .and_then(Value::as_str)
        .and_then(|d| d.parse().ok())
        .with_context(|| format!("{}/index.json gives {rel} no valid digest", dir.display()))?;
    let bytes = read_capped(&path, max)?;
    let actual = Digest::sha256_of(&bytes);
    if actual != digest {
        bail!(
            "{} has digest {actual}, but {}/index.json lists {digest}: the directory changed after `custody attest` wrote it",
            path.display(),
            dir.display()
        );
    }
    Ok((path, bytes))
}

/// What `custody attest` wrote into `dir`: its attestations, and the blobs a verifier that
/// only has the image digest needs from the ledger.
fn read_attest_dir(
    dir: &Path,
    with_blobs: bool,
) -> anyhow::Result<(Vec<EnvelopeFile>, Vec<BlobFile>)> {
    let index_path = dir.join("index.json");
    if !index_path.is_file() {
        bail!(
            "{} is a directory without index.json; give `custody attest` output directories or attestation files",
            dir.display()
        );
    }
    let index: Value = serde_json::from_slice(&read_capped(&index_path, MAX_INDEX_BYTES)?)
        .with_context(|| format!("{} is not JSON", index_path.display()))?;
    if index.get("version").and_then(Value::as_u64) != Some(1) {
        bail!(
            "{} is not a custody attest index (version 1)",
            index_path.display()
        );
    }
    let files = index
        .get("files")
        .and_then(Value::as_array)
        .with_context(|| format!("{} lists no files", index_path.display()))?;
    let kind = |f: &Value| {
        f.get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };

    let mut envelopes = Vec::new();
    // Layer SBOMs the attestations of this directory name by digest only: the ledger cannot
    // take them from the envelopes.
    let mut sbom_by_digest_only: HashSet<String> = HashSet::new();
    for f in files {
        let Some(expected) = f.get("envelopeDigest") else {
            continue;
        };
        let (path, bytes) = read_listed(dir, f, max_attestation_bytes())?;
        let envelope = parse_attestation(&path, &bytes)?;
        let canonical = envelope.to_json();
        let digest = Digest::sha256_of(&canonical);
        if expected.as_str() != Some(digest.to_string().as_str()) {
            bail!(
                "{} holds envelope {digest}, but {} lists {expected}",
                path.display(),
                index_path.display()
            );
        }
        if f.get("sbomEmbedded").and_then(Value::as_bool) == Some(false)
            && let Some(sbom) = f.get("sbom").and_then(Value::as_str)
        {
            sbom_by_digest_only.insert(sbom.to_owned());
        }
        envelopes.push(EnvelopeFile { path, canonical });
    }
    if envelopes.is_empty() {
        bail!("{} lists no attestations", index_path.display());
    }

    let mut blobs = Vec::new();
    if with_blobs {
        let manifest = index.pointer("/image/manifest").and_then(Value::as_str);
        let mut has_manifest = false;
        for f in files {
            let kind = kind(f);
            let rel = f.get("path").and_then(Value::as_str).unwrap_or("");
            let wanted = match kind.as_str() {
                "manifest" | "config" | "image-sbom" => true,
                "layer-sbom" => sbom_by_digest_only.contains(rel),
                _ => false,
            };
            if !wanted {
                continue;
            }
            let (path, data) = read_listed(dir, f, MAX_BLOB_BYTES)?;
            let digest = Digest::sha256_of(&data);
            if kind == "manifest" {
                has_manifest = true;
                if manifest != Some(digest.to_string().as_str()) {
                    bail!(
                        "{} is manifest {digest}, but {} names the image's manifest {}",
                        path.display(),
                        index_path.display(),
                        manifest.unwrap_or("(none)")
                    );
                }
            }
            let media_type = f
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_owned();
            blobs.push(BlobFile {
                path,
                digest,
                media_type,
                kind,
                data,
            });
        }
        if !has_manifest {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "warning: {} holds no image manifest (written by an older custody attest?); \
                 verifying {} by digest will need the image itself\n\
                 hint: attest again with this custody to include image/manifest.json and image/config.json",
                dir.display(),
                manifest.unwrap_or("the image")
            );
        }
    }
    Ok((envelopes, blobs))
}

/// The media type of an extra `--blob` file: a JSON document's own `mediaType` (manifests),
/// CycloneDX or SPDX by their markers, else bytes.
fn sniff_media_type(data: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return "application/octet-stream".into();
    };
    if let Some(m) = v.get("mediaType").and_then(Value::as_str) {
        return m.to_owned();
    }
    if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        return media_types::CYCLONEDX_JSON.into();
    }
    if v.get("spdxVersion").is_some() {
        return media_types::SPDX_JSON.into();
    }
    if v.pointer("/rootfs/diff_ids").is_some() {
        return "application/vnd.oci.image.config.v1+json".into();
    }
    "application/json".into()
}

fn upload_blob(
    agent: &ureq::Agent,
    base: &str,
    token: Option<&str>,
    blob: &BlobFile,
) -> anyhow::Result<bool> {
    let mut req = agent
        .put(format!("{base}/api/v1/blobs/{}", blob.digest))
        .header("content-type", &blob.media_type);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let what = format!("uploading {} ({})", blob.path.display(), blob.digest);
    let resp = req
        .send(&blob.data[..])
        .with_context(|| format!("{what} to {base}"))?;
    let info: BlobInfo = read_json(&what, resp)?;
    if info.digest != blob.digest.to_string() {
        bail!(
            "{what}: the ledger stored it as {}, not {}",
            info.digest,
            blob.digest
        );
    }
    Ok(info.created)
}

/// Splits envelopes into requests the ledger accepts.
fn batches(envelopes: &[EnvelopeFile]) -> Vec<&[EnvelopeFile]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, e) in envelopes.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH || bytes + e.canonical.len() > MAX_BATCH_BYTES) {
            out.push(&envelopes[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += e.canonical.len() + 1;
    }
    if start < envelopes.len() {
        out.push(&envelopes[start..]);
    }
    out
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let base = base_url(&args.ledger)?;
    let agent = client(args.ca_cert.as_deref())?;

    // Read and check everything before the first request.
    let mut envelopes: Vec<EnvelopeFile> = Vec::new();
    let mut blobs: Vec<BlobFile> = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            let (e, b) = read_attest_dir(p, !args.no_blobs)?;
            envelopes.extend(e);
            blobs.extend(b);
        } else {
            let envelope = read_envelope(p)?;
            envelopes.push(EnvelopeFile {
                path: p.clone(),
                canonical: envelope.to_json(),
            });
        }
    }
    for p in &args.blobs {
        let data = read_capped(p, MAX_BLOB_BYTES)?;
        blobs.push(BlobFile {
            path: p.clone(),
            digest: Digest::sha256_of(&data),
            media_type: sniff_media_type(&data),
            kind: "blob".into(),
            data,
        });
    }
    // One upload per digest (two directories of one base share its SBOMs).
    let mut seen = HashSet::new();
    blobs.retain(|b| seen.insert(b.digest.clone()));

    let mut blob_results = Vec::with_capacity(blobs.len());
    for b in &blobs {
        let created = upload_blob(&agent, &base, args.token.as_deref(), b)?;
        blob_results.push((b, created));
    }

    let mut receipts: Vec<(&EnvelopeFile, Receipt)> = Vec::with_capacity(envelopes.len());
    if !envelopes.is_empty() {
        let log_key = match &args.log_key {
            Some(k) => k.clone(),
            None => {
                let resp = agent
                    .get(format!("{base}/api/v1/log-key"))
                    .call()
                    .with_context(|| format!("fetching the log key from {base}"))?;
                read_json::<LogKeyJson>("fetching the log key", resp)?.vkey
            }
        };
        let mut keys: BTreeMap<String, VerifierKey> = BTreeMap::new();
        for batch in batches(&envelopes) {
            let mut body = Vec::with_capacity(batch.iter().map(|e| e.canonical.len() + 1).sum());
            body.extend_from_slice(b"{\"envelopes\":[");
            for (i, e) in batch.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&e.canonical);
            }
            body.extend_from_slice(b"]}");
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
            if answer.entries.len() != batch.len() {
                bail!(
                    "the ledger returned {} receipts for {} envelopes",
                    answer.entries.len(),
                    batch.len()
                );
            }
            for (file, receipt) in batch.iter().zip(answer.entries) {
                let origin = receipt.proof.log_origin.clone();
                if !keys.contains_key(&origin) {
                    keys.insert(origin.clone(), parse_log_key(&log_key, Some(&origin))?);
                }
                let key = &keys[&origin];
                receipt
                    .proof
                    .verify(Some(&file.canonical), key)
                    .with_context(|| {
                        format!(
                            "the ledger's proof for {} does not verify",
                            file.path.display()
                        )
                    })?;
                let mut proof_path = file.path.clone().into_os_string();
                proof_path.push(".proof.json");
                crate::output::write_atomic(
                    Path::new(&proof_path),
                    receipt.proof.to_json().as_bytes(),
                    None,
                    true,
                )?;
                receipts.push((file, receipt));
            }
        }
    }

    let status = |created: bool| if created { "new" } else { "existing" };
    let out = match args.output {
        Format::Text => {
            let mut out = String::new();
            for (b, created) in &blob_results {
                out.push_str(&format!(
                    "{}\t{}\t{}\n",
                    b.digest,
                    status(*created),
                    b.path.display()
                ));
            }
            for (file, r) in &receipts {
                out.push_str(&format!(
                    "{}\t{}\t{}\n",
                    r.index,
                    status(r.created),
                    file.path.display()
                ));
            }
            out
        }
        Format::Json => {
            let blobs: Vec<Value> = blob_results
                .iter()
                .map(|(b, created)| {
                    json!({
                        "path": b.path,
                        "digest": b.digest,
                        "size": b.data.len(),
                        "mediaType": b.media_type,
                        "kind": b.kind,
                        "created": created,
                    })
                })
                .collect();
            let entries: Vec<Value> = receipts
                .iter()
                .map(|(file, r)| {
                    let mut proof_path = file.path.clone().into_os_string();
                    proof_path.push(".proof.json");
                    json!({
                        "path": file.path,
                        "index": r.index,
                        "leafHash": r.proof.leaf_hash.to_hex(),
                        "created": r.created,
                        "proof": PathBuf::from(proof_path),
                    })
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&json!({"blobs": blobs, "entries": entries}))?;
            s.push('\n');
            s
        }
    };
    write_stdout(out.as_bytes())?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_paths_stay_inside_the_directory() {
        let dir = Path::new("/tmp/att");
        assert!(listed_path(dir, "image/manifest.json").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(listed_path(dir, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches_respect_count_and_size() {
        let small = |n: usize| -> Vec<EnvelopeFile> {
            (0..n)
                .map(|i| EnvelopeFile {
                    path: PathBuf::from(format!("{i}")),
                    canonical: vec![b'x'; 10],
                })
                .collect()
        };
        let e = small(2500);
        let b = batches(&e);
        assert_eq!(
            b.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        let big: Vec<EnvelopeFile> = (0..3)
            .map(|i| EnvelopeFile {
                path: PathBuf::from(format!("{i}")),
                canonical: vec![b'x'; 20 << 20],
            })
            .collect();
        assert_eq!(batches(&big).len(), 3);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn media_types_are_sniffed_from_the_document() {
        assert_eq!(
            sniff_media_type(
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#
            ),
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            sniff_media_type(br#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#),
            media_types::CYCLONEDX_JSON
        );
        assert_eq!(sniff_media_type(b"\x00\x01"), "application/octet-stream");
    }
}
