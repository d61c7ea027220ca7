//! Collecting evidence from a live custody ledger, over a transport the caller supplies.
//!
//! This crate knows the ledger's REST shapes (`GET /api/v1/images/{digest}` for an image's
//! custody with log indices, `/api/v1/entries/{index}`, `/api/v1/proofs/inclusion`,
//! `/api/v1/proofs/consistency`, `/api/v1/checkpoint`, `/api/v1/blobs/{digest}`); the caller
//! supplies the HTTP GET ([`LedgerTransport`]), so the CLI (blocking, rustls) and the gate
//! share one collector and this crate still does no I/O of its own. Nothing fetched is
//! trusted: it becomes [`Evidence`] that [`crate::verify`] checks like any bundle.

use std::collections::BTreeSet;

use custody_attest::{Envelope, parse_statement};
use custody_log::{EntryProof, Hash};
use custody_types::{Digest, predicate_types};
use serde_json::Value;

use crate::bundle::Bundle;
use crate::evidence::{ConsistencyStep, Evidence, LoggedEntry, Origin};

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

fn fetch_entries<T: LedgerTransport + ?Sized>(
    t: &T,
    wanted: &[u64],
    size: u64,
) -> Result<Vec<LoggedEntry>, LedgerError> {
    let one = |index: u64| -> Result<LoggedEntry, LedgerError> {
        let path = format!("/api/v1/entries/{index}");
        let detail = fetch_json(t, &path)?;
        let envelope_json = detail.get("envelope").ok_or_else(|| LedgerError::Answer {
            path: path.clone(),
            reason: "no envelope".into(),
        })?;
        let bytes = serde_json::to_vec(envelope_json).unwrap_or_default();
        let envelope = Envelope::from_json(&bytes).map_err(|e| LedgerError::Answer {
            path: path.clone(),
            reason: e.to_string(),
        })?;
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
        Ok(LoggedEntry {
            envelope,
            log_index: Some(index),
            inclusion_path: Some(proof.audit_path),
        })
    };
    // A few requests in flight at once: a 20-layer image is ~50 round trips.
    const WORKERS: usize = 4;
    let chunks: Vec<&[u64]> = wanted
        .chunks(wanted.len().div_ceil(WORKERS).max(1))
        .collect();
    let results: Vec<Result<Vec<LoggedEntry>, LedgerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| s.spawn(|| chunk.iter().map(|&i| one(i)).collect::<Result<Vec<_>, _>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(LedgerError::Answer {
                        path: "/api/v1/entries".into(),
                        reason: "a fetch worker panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(wanted.len());
    for r in results {
        out.extend(r?);
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
    // The manifest and config, when the ledger stores them (so a gate deciding by digest
    // needs no registry).
    if get_blob(
        t,
        evidence,
        image,
        "application/vnd.oci.image.manifest.v1+json",
    )? && let Some(blob) = evidence.blob(image)
        && let Ok(m) = serde_json::from_slice::<Value>(&blob.data)
        && let Some(config) = m
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok())
    {
        get_blob(
            t,
            evidence,
            &config,
            "application/vnd.oci.image.config.v1+json",
        )?;
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
