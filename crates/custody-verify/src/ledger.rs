//! Collecting evidence from a live custody ledger, over a transport the caller supplies.
//!
//! This crate knows the ledger's REST shapes (`GET /api/v1/images/{digest}` for an image's
//! custody with log indices, `/api/v1/proofs/entries` for entries with their inclusion
//! proofs (or `/api/v1/entries/{index}` and `/api/v1/proofs/inclusion` one by one),
//! `/api/v1/proofs/consistency`, `/api/v1/checkpoint`, `/api/v1/blobs/{digest}`); the caller
//! supplies the HTTP GET ([`LedgerTransport`]), so the CLI (blocking, rustls) and the gate
//! share one collector and this crate still does no I/O of its own. Nothing fetched is
//! trusted: it becomes [`Evidence`] that [`crate::verify`] checks like any bundle.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use custody_attest::{Envelope, EnvelopeWire, parse_statement};
use custody_log::{EntryProof, Hash};
use custody_types::{Digest, predicate_types};
use serde_json::Value;

use crate::bundle::Bundle;
use crate::evidence::{ConsistencyStep, Evidence, LoggedEntry, Origin};

/// OCI image-spec media types, for a manifest or config that does not declare its own.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Most entries gathered for one image (the ledger caps its image view at 10,000).
const MAX_ENTRIES: usize = 10_000;

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 404.
    #[error("not found")]
    NotFound,
    /// Any other HTTP status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status code.
        status: u16,
        /// The ledger's error message (truncated).
        message: String,
    },
    /// Connection, TLS, timeout, or a body over the size limit.
    #[error("{0}")]
    Transport(String),
}

/// A blocking HTTP GET against the ledger's base URL.
pub trait LedgerTransport: Sync {
    /// The ledger's base URL (for decisions and bundles).
    fn base_url(&self) -> &str;
    /// GETs `path` (absolute, with query string) and returns the body of a 200 answer.
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError>;
}

/// Why evidence could not be collected.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A request failed.
    #[error("ledger GET {path}: {source}")]
    Fetch {
        /// The path.
        path: String,
        /// Why.
        source: FetchError,
    },
    /// An answer is not what the ledger API documents.
    #[error("ledger answer to {path} is not valid: {reason}")]
    Answer {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The ledger has nothing about the image.
    #[error("the ledger has no entries about image {0}")]
    UnknownImage(Digest),
    /// A bundle is for another image.
    #[error("the bundle is for image {bundle}, not {wanted}")]
    WrongBundle {
        /// The bundle's image.
        bundle: Digest,
        /// The image asked about.
        wanted: Digest,
    },
}

/// Where a decision's evidence comes from: a bundle file or a live ledger.
pub trait EvidenceSource {
    /// Evidence about `image`. `trusted_size` is the tree size of the checkpoint the verifier
    /// trusts (a ledger then supplies a consistency proof from it).
    fn evidence(&self, image: &Digest, trusted_size: Option<u64>) -> Result<Evidence, LedgerError>;
}

impl EvidenceSource for Bundle {
    fn evidence(
        &self,
        image: &Digest,
        _trusted_size: Option<u64>,
    ) -> Result<Evidence, LedgerError> {
        if &self.image != image {
            return Err(LedgerError::WrongBundle {
                bundle: self.image.clone(),
                wanted: image.clone(),
            });
        }
        Ok(self.evidence.clone())
    }
}

/// What to collect besides the attestations.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// The verifier's trusted tree size, for a consistency proof.
    pub trusted_size: Option<u64>,
    /// More sizes to prove consistency from (bundles for gates whose state is known).
    pub consistency_from: Vec<u64>,
    /// Fetch the SBOM blobs the config rule needs (image SBOM, layer SBOMs not embedded).
    pub sboms: bool,
}

fn fetch<T: LedgerTransport + ?Sized>(t: &T, path: &str) -> Result<Vec<u8>, LedgerError> {
    t.get(path).map_err(|source| LedgerError::Fetch {
        path: path.to_owned(),
        source,
    })
}

fn fetch_json<T: LedgerTransport + ?Sized>(t: &T, path: &str) -> Result<Value, LedgerError> {
    let body = fetch(t, path)?;
    serde_json::from_slice(&body).map_err(|e| LedgerError::Answer {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn indices(v: &Value, key: &str, out: &mut BTreeSet<u64>) {
    if let Some(list) = v.get(key).and_then(Value::as_array) {
        out.extend(
            list.iter()
                .filter_map(|e| e.get("index").and_then(Value::as_u64)),
        );
    }
}

/// Gathers everything the ledger knows about `image`: its provenance, its layers'
/// attestations, scans, reviews, VEX, its base image's provenance, the manifest and config
/// blobs when the ledger stores them, and one inclusion proof per entry, all at one checkpoint.
pub fn collect_from_ledger<T: LedgerTransport + ?Sized>(
    t: &T,
    image: &Digest,
    options: &CollectOptions,
) -> Result<Evidence, LedgerError> {
    let view = fetch_json(t, &format!("/api/v1/images/{image}"))?;
    let mut wanted: BTreeSet<u64> = BTreeSet::new();
    for key in ["provenance", "scans", "reviews", "vex", "sboms"] {
        indices(&view, key, &mut wanted);
    }
    if let Some(layers) = view.get("layers").and_then(Value::as_array) {
        for l in layers {
            indices(l, "attestations", &mut wanted);
        }
    }
    let bases: Vec<Digest> = view
        .get("base_images")
        .and_then(Value::as_array)
        .map(|b| b.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    for base in bases.iter().take(16) {
        let base_view = fetch_json(t, &format!("/api/v1/images/{base}"))?;
        indices(&base_view, "provenance", &mut wanted);
    }
    if wanted.is_empty() {
        return Err(LedgerError::UnknownImage(image.clone()));
    }
    if wanted.len() > MAX_ENTRIES {
        return Err(LedgerError::Answer {
            path: format!("/api/v1/images/{image}"),
            reason: format!("{} entries, more than {MAX_ENTRIES}", wanted.len()),
        });
    }
    // The checkpoint is fetched after the image view, so every index listed is below it.
    let cp = fetch_json(t, "/api/v1/checkpoint")?;
    let answer = |reason: &str| LedgerError::Answer {
        path: "/api/v1/checkpoint".into(),
        reason: reason.to_owned(),
    };
    let size = cp
        .get("tree_size")
        .and_then(Value::as_u64)
        .ok_or_else(|| answer("no tree_size"))?;
    let note = cp
        .get("checkpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| answer("no checkpoint"))?
        .to_owned();
    let wanted: Vec<u64> = wanted.into_iter().filter(|i| *i < size).collect();
    let entries = fetch_entries(t, &wanted, size)?;

    let mut evidence = Evidence::new(Origin::Ledger {
        url: t.base_url().to_owned(),
    });
    evidence.checkpoint = Some(note);
    evidence.entries = entries;
    let mut from: BTreeSet<u64> = options.consistency_from.iter().copied().collect();
    from.extend(options.trusted_size);
    for s in from.into_iter().filter(|s| *s > 0 && *s < size) {
        let path = format!("/api/v1/proofs/consistency?first={s}&second={size}");
        let v = fetch_json(t, &path)?;
        let hashes = v
            .get("hashes")
            .and_then(Value::as_array)
            .ok_or_else(|| LedgerError::Answer {
                path: path.clone(),
                reason: "no hashes".into(),
            })?
            .iter()
            .map(|h| h.as_str().and_then(|h| Hash::from_hex(h).ok()))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| LedgerError::Answer {
                path: path.clone(),
                reason: "a hash is not hex".into(),
            })?;
        evidence.consistency.push(ConsistencyStep {
            from_size: s,
            hashes,
        });
    }
    collect_blobs(t, image, &mut evidence, options.sboms)?;
    Ok(evidence)
}

/// Requests in flight at once while gathering entries and proofs one by one from a ledger
/// without `/api/v1/proofs/entries` (a 20-layer image then needs ~50 GETs; on loopback each
/// is mostly the ledger's work, so a handful in flight keeps both sides busy without
/// queueing behind the ledger's database pool).
const FETCH_WORKERS: usize = 6;

/// One GET of [`fetch_entries`]: an entry's envelope or its inclusion proof.
enum Fetched {
    Envelope(Envelope),
    Proof(Vec<Hash>),
}

/// Indices per `/api/v1/proofs/entries` request (the ledger answers up to 256). Layer
/// attestations embed their SBOMs, so 32 keeps one answer to a few MB while a 20-layer
/// image's ~25 entries still come in one request.
const PROVEN_BATCH: usize = 32;

/// Gathers the entries at `wanted` with inclusion proofs at `size`: one
/// `/api/v1/proofs/entries` request per [`PROVEN_BATCH`] indices, or, from a ledger without
/// that route (404), two GETs per entry.
fn fetch_entries<T: LedgerTransport + ?Sized>(
    t: &T,
    wanted: &[u64],
    size: u64,
) -> Result<Vec<LoggedEntry>, LedgerError> {
    let mut out = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(PROVEN_BATCH) {
        match fetch_proven(t, chunk, size) {
            Ok(entries) => out.extend(entries),
            Err(LedgerError::Fetch {
                source: FetchError::NotFound,
                ..
            }) if out.is_empty() => return fetch_entries_one_by_one(t, wanted, size),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One `/api/v1/proofs/entries` request: the envelopes and audit paths of `indices`, checked
/// to be exactly the ones asked for, in order, at `size`. Nothing else is trusted: the
/// verifier checks every path against the checkpoint and every signature itself.
fn fetch_proven<T: LedgerTransport + ?Sized>(
    t: &T,
    indices: &[u64],
    size: u64,
) -> Result<Vec<LoggedEntry>, LedgerError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        tree_size: u64,
        entries: Vec<Proven>,
    }
    #[derive(serde::Deserialize)]
    struct Proven {
        index: u64,
        envelope: EnvelopeWire,
        audit_path: Vec<Hash>,
    }
    let list: Vec<String> = indices.iter().map(u64::to_string).collect();
    let path = format!(
        "/api/v1/proofs/entries?indices={}&tree_size={size}",
        list.join(",")
    );
    let answer_error = |reason: String| LedgerError::Answer {
        path: path.clone(),
        reason,
    };
    let answer: Answer =
        serde_json::from_slice(&fetch(t, &path)?).map_err(|e| answer_error(e.to_string()))?;
    if answer.tree_size != size {
        return Err(answer_error(format!(
            "proofs are at size {}, not {size}",
            answer.tree_size
        )));
    }
    let got: Vec<u64> = answer.entries.iter().map(|e| e.index).collect();
    if got != indices {
        return Err(answer_error(format!(
            "answered indices {got:?}, asked for {indices:?}"
        )));
    }
    answer
        .entries
        .into_iter()
        .map(|e| {
            if e.audit_path.len() > custody_log::MAX_AUDIT_PATH {
                return Err(answer_error(format!(
                    "the audit path of entry {} has {} hashes",
                    e.index,
                    e.audit_path.len()
                )));
            }
            let envelope = Envelope::try_from(e.envelope)
                .map_err(|err| answer_error(format!("entry {}: {err}", e.index)))?;
            Ok(LoggedEntry {
                envelope,
                log_index: Some(e.index),
                inclusion_path: Some(e.audit_path),
            })
        })
        .collect()
}

/// [`fetch_entries`] against a ledger without the batch route: each entry's envelope and
/// proof as separate GETs, a few in flight.
fn fetch_entries_one_by_one<T: LedgerTransport + ?Sized>(
    t: &T,
    wanted: &[u64],
    size: u64,
) -> Result<Vec<LoggedEntry>, LedgerError> {
    let envelope = |index: u64| -> Result<Fetched, LedgerError> {
        let path = format!("/api/v1/entries/{index}");
        // Only the envelope matters (the summary beside it is the ledger's say-so); it is read
        // straight into the strict wire form, with no intermediate JSON tree.
        #[derive(serde::Deserialize)]
        struct Detail {
            envelope: EnvelopeWire,
        }
        let detail: Detail =
            serde_json::from_slice(&fetch(t, &path)?).map_err(|e| LedgerError::Answer {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Envelope::try_from(detail.envelope)
            .map(Fetched::Envelope)
            .map_err(|e| LedgerError::Answer {
                path,
                reason: e.to_string(),
            })
    };
    let proof = |index: u64| -> Result<Fetched, LedgerError> {
        let path = format!("/api/v1/proofs/inclusion?index={index}&tree_size={size}");
        let proof = EntryProof::from_json(&fetch(t, &path)?).map_err(|e| LedgerError::Answer {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if proof.log_index != index || proof.tree_size != size {
            return Err(LedgerError::Answer {
                path,
                reason: format!(
                    "proof is for index {} at size {}",
                    proof.log_index, proof.tree_size
                ),
            });
        }
        Ok(Fetched::Proof(proof.audit_path))
    };
    // Task 2i fetches entry i's envelope, 2i+1 its proof; workers take the next task from a
    // shared counter, so one slow answer does not hold up a fixed share of the rest.
    let tasks = wanted.len() * 2;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut done: Vec<(usize, Result<Fetched, LedgerError>)> = Vec::new();
        loop {
            let task = next.fetch_add(1, Ordering::Relaxed);
            if task >= tasks || failed.load(Ordering::Relaxed) {
                return done;
            }
            let index = wanted[task / 2];
            let got = if task.is_multiple_of(2) {
                envelope(index)
            } else {
                proof(index)
            };
            if got.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            done.push((task, got));
        }
    };
    let workers = FETCH_WORKERS.min(tasks).max(1);
    let mut results: Vec<(usize, Result<Fetched, LedgerError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
        let mut all = Vec::with_capacity(tasks);
        for h in handles {
            match h.join() {
                Ok(done) => all.extend(done),
                Err(_) => all.push((
                    0,
                    Err(LedgerError::Answer {
                        path: "/api/v1/entries".into(),
                        reason: "a fetch worker panicked".into(),
                    }),
                )),
            }
        }
        all
    });
    results.sort_by_key(|(task, _)| *task);
    let mut out: Vec<LoggedEntry> = Vec::with_capacity(wanted.len());
    let mut pending: Option<(usize, Envelope)> = None;
    for (task, got) in results {
        match got? {
            Fetched::Envelope(e) => pending = Some((task, e)),
            Fetched::Proof(path) => {
                // An envelope pairs only with the proof of the same entry (the task after it).
                let (Some((_, envelope)), Some(&index)) = (
                    pending.take().filter(|(t, _)| t + 1 == task),
                    wanted.get(task / 2),
                ) else {
                    continue;
                };
                out.push(LoggedEntry {
                    envelope,
                    log_index: Some(index),
                    inclusion_path: Some(path),
                });
            }
        }
    }
    if out.len() != wanted.len() {
        return Err(LedgerError::Answer {
            path: "/api/v1/entries".into(),
            reason: format!("gathered {} of {} entries", out.len(), wanted.len()),
        });
    }
    Ok(out)
}

fn get_blob<T: LedgerTransport + ?Sized>(
    t: &T,
    evidence: &mut Evidence,
    digest: &Digest,
    media_type: &str,
) -> Result<bool, LedgerError> {
    if evidence.blob(digest).is_some() {
        return Ok(true);
    }
    let path = format!("/api/v1/blobs/{digest}");
    match t.get(&path) {
        Ok(data) => {
            evidence
                .add_blob(digest.clone(), media_type, data)
                .map_err(|e| LedgerError::Answer {
                    path,
                    reason: e.to_string(),
                })?;
            Ok(true)
        }
        Err(FetchError::NotFound) => Ok(false),
        Err(source) => Err(LedgerError::Fetch { path, source }),
    }
}

fn collect_blobs<T: LedgerTransport + ?Sized>(
    t: &T,
    image: &Digest,
    evidence: &mut Evidence,
    sboms: bool,
) -> Result<(), LedgerError> {
    // The manifest and config, when the ledger stores them (`custody submit DIR` uploads the
    // exact bytes `custody attest` read), so a gate deciding by digest needs no registry.
    // Both are checked against their digests by `add_blob`; the media types are the ones
    // the manifest declares (OCI's when it declares none).
    if evidence.blob(image).is_none() {
        let path = format!("/api/v1/blobs/{image}");
        match t.get(&path) {
            Ok(data) => {
                let manifest_type = serde_json::from_slice::<Value>(&data)
                    .ok()
                    .and_then(|m| m.get("mediaType")?.as_str().map(str::to_owned))
                    .unwrap_or_else(|| OCI_MANIFEST.to_owned());
                evidence
                    .add_blob(image.clone(), &manifest_type, data)
                    .map_err(|e| LedgerError::Answer {
                        path,
                        reason: e.to_string(),
                    })?;
            }
            Err(FetchError::NotFound) => {}
            Err(source) => return Err(LedgerError::Fetch { path, source }),
        }
    }
    let config = evidence
        .blob(image)
        .and_then(|b| serde_json::from_slice::<Value>(&b.data).ok())
        .and_then(|m| {
            let digest = m
                .pointer("/config/digest")?
                .as_str()?
                .parse::<Digest>()
                .ok()?;
            let media_type = m
                .pointer("/config/mediaType")
                .and_then(Value::as_str)
                .unwrap_or(OCI_CONFIG)
                .to_owned();
            Some((digest, media_type))
        });
    if let Some((digest, media_type)) = config {
        get_blob(t, evidence, &digest, &media_type)?;
    }
    if !sboms {
        return Ok(());
    }
    // Which SBOMs: read (unverified: only to know what to fetch) the provenance's image SBOM
    // and the layer SBOMs named by digest only.
    let mut wanted: Vec<Digest> = Vec::new();
    for e in &evidence.entries {
        let Ok(st) = parse_statement(e.envelope.payload_unverified()) else {
            continue;
        };
        match st.predicate_type.as_str() {
            predicate_types::SLSA_PROVENANCE_V1 => {
                if let Some(list) = st
                    .predicate
                    .pointer("/runDetails/byproducts")
                    .and_then(Value::as_array)
                {
                    for rd in list {
                        if rd.get("name").and_then(Value::as_str)
                            == Some(custody_attest::provenance::IMAGE_SBOM_NAME)
                            && let Some(d) = rd
                                .pointer("/digest/sha256")
                                .and_then(Value::as_str)
                                .and_then(|h| format!("sha256:{h}").parse().ok())
                        {
                            wanted.push(d);
                        }
                    }
                }
            }
            predicate_types::LAYER_V1 => {
                if st.predicate.pointer("/sbom/document").is_none()
                    && let Some(d) = st
                        .predicate
                        .pointer("/sbom/digest")
                        .and_then(Value::as_str)
                        .and_then(|d| d.parse().ok())
                {
                    wanted.push(d);
                }
            }
            _ => {}
        }
    }
    for d in wanted {
        get_blob(t, evidence, &d, custody_types::media_types::CYCLONEDX_JSON)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A ledger that serves fixed blobs.
    struct Blobs(HashMap<String, Vec<u8>>);

    impl LedgerTransport for Blobs {
        fn base_url(&self) -> &str {
            "http://ledger.test"
        }
        fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
            self.0.get(path).cloned().ok_or(FetchError::NotFound)
        }
    }

    fn serve(blobs: &[(&Digest, &[u8])]) -> Blobs {
        Blobs(
            blobs
                .iter()
                .map(|(d, b)| (format!("/api/v1/blobs/{d}"), b.to_vec()))
                .collect(),
        )
    }

    fn manifest(config: &Digest, media_type: Option<&str>) -> Vec<u8> {
        let mut m = serde_json::json!({"schemaVersion": 2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 2},
            "layers": []});
        if let Some(t) = media_type {
            m["mediaType"] = t.into();
        }
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn the_manifest_and_the_config_it_names_are_fetched_with_their_media_types() {
        let config = b"{}".to_vec();
        let config_digest = Digest::sha256_of(&config);
        let m = manifest(
            &config_digest,
            Some(custody_types::media_types::DOCKER_MANIFEST_V2),
        );
        let image = Digest::sha256_of(&m);
        let t = serve(&[(&image, &m), (&config_digest, &config)]);
        let mut e = Evidence::new(Origin::Ledger { url: "x".into() });
        collect_blobs(&t, &image, &mut e, false).unwrap();
        assert_eq!(e.blob(&image).unwrap().data, m);
        assert_eq!(
            e.blob(&image).unwrap().media_type,
            custody_types::media_types::DOCKER_MANIFEST_V2
        );
        assert_eq!(
            e.blob(&config_digest).unwrap().media_type,
            custody_types::media_types::DOCKER_CONFIG
        );
        // An OCI manifest may leave its media type out.
        let m = manifest(&config_digest, None);
        let image = Digest::sha256_of(&m);
        let mut e = Evidence::new(Origin::Ledger { url: "x".into() });
        collect_blobs(&serve(&[(&image, &m)]), &image, &mut e, false).unwrap();
        assert_eq!(e.blob(&image).unwrap().media_type, OCI_MANIFEST);
        assert!(e.blob(&config_digest).is_none(), "the config is not stored");
    }

    #[test]
    fn blobs_that_do_not_match_their_digest_are_refused() {
        let config_digest = Digest::sha256_of(b"{}");
        let m = manifest(&config_digest, None);
        let image = Digest::sha256_of(&m);
        // The ledger answers the config's digest with other bytes.
        let t = serve(&[(&image, &m), (&config_digest, b"{\"user\":\"0\"}")]);
        let mut e = Evidence::new(Origin::Ledger { url: "x".into() });
        let err = collect_blobs(&t, &image, &mut e, false).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("claimed to be {config_digest}")),
            "{err}"
        );
        // And a manifest that is not the image's.
        let t = serve(&[(&image, b"{\"schemaVersion\":2}")]);
        let mut e = Evidence::new(Origin::Ledger { url: "x".into() });
        assert!(collect_blobs(&t, &image, &mut e, false).is_err());
        // A ledger that does not store them is not an error: the verifier then says what
        // is missing.
        let mut e = Evidence::new(Origin::Ledger { url: "x".into() });
        collect_blobs(&serve(&[]), &image, &mut e, false).unwrap();
        assert!(e.blobs().is_empty());
    }
}
