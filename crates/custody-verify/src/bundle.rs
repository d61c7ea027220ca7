//! The offline custody bundle: one JSON file with everything a policy needs to decide about
//! one image with zero network calls.
//!
//! ```json
//! {
//!   "mediaType": "application/vnd.custody.bundle.v1+json",
//!   "image": "sha256:<manifest digest>",
//!   "createdAt": "2025-01-01T00:00:00Z",
//!   "ledger": "https://ledger.example",
//!   "log": {
//!     "checkpoint": "<C2SP signed note, verbatim>",
//!     "consistency": [{"fromSize": 40, "hashes": ["<hex>", "..."]}]
//!   },
//!   "entries": [
//!     {"logIndex": 41, "inclusionPath": ["<hex>", "..."],
//!      "envelope": {"payload": "...", "payloadType": "...", "signatures": [{"keyid": "...", "sig": "..."}]}}
//!   ],
//!   "blobs": [{"digest": "sha256:...", "mediaType": "...", "data": "<base64>"}]
//! }
//! ```
//!
//! Every inclusion path is relative to the one checkpoint; `consistency` proves that
//! checkpoint extends older tree sizes a gate may have trusted (see `custody bundle
//! --consistency-from`). `blobs` carries the image manifest and config (so a gate deciding by
//! digest reads no registry and decompresses nothing) and the SBOMs the config rule needs
//! when the layer attestations name their SBOM by digest only.
//!
//! Parsing is strict: unknown or repeated members anywhere (envelopes included), a foreign
//! media type, a blob that does not match its digest, two entries at one log index, or a file
//! over [`MAX_BUNDLE_BYTES`] are errors, never ignored.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custody_attest::{Envelope, EnvelopeError, EnvelopeWire, SignatureWire};
use custody_log::Hash;
use custody_types::Digest;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::evidence::{BlobMismatch, ConsistencyStep, Evidence, LoggedEntry, Origin};

/// Media type of a custody bundle, version 1.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.custody.bundle.v1+json";

/// Largest bundle read: room for an image's attestations with embedded SBOMs and its SBOM
/// blobs (tens of MB for large images), far below what would exhaust a gate's memory.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;

/// Most entries in one bundle.
pub const MAX_BUNDLE_ENTRIES: usize = 100_000;

/// Why bytes are not an acceptable bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("bundle is {0} bytes, more than the {MAX_BUNDLE_BYTES} accepted")]
    TooLarge(usize),
    /// Not JSON of the bundle's shape (truncated, unknown or repeated members, wrong types).
    #[error("bundle is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format or version.
    #[error("bundle has media type {0:?}, expected {BUNDLE_MEDIA_TYPE}")]
    MediaType(String),
    /// An envelope is malformed.
    #[error("bundle entry {index}: {source}")]
    Envelope {
        /// Position in `entries`.
        index: usize,
        /// Why.
        source: EnvelopeError,
    },
    /// Two entries claim one log index.
    #[error("bundle entries {first} and {second} both claim log index {log_index}")]
    DuplicateIndex {
        /// The index.
        log_index: u64,
        /// First entry.
        first: usize,
        /// Second entry.
        second: usize,
    },
    /// Too many entries.
    #[error("bundle has {0} entries, more than the {MAX_BUNDLE_ENTRIES} accepted")]
    TooManyEntries(usize),
    /// A blob's data is not base64.
    #[error("bundle blob {digest}: data is not valid base64")]
    BlobBase64 {
        /// The blob.
        digest: Digest,
    },
    /// A blob's data does not match its digest.
    #[error("bundle {0}")]
    Blob(#[from] BlobMismatch),
    /// A blob listed twice.
    #[error("bundle lists blob {0} twice")]
    DuplicateBlob(Digest),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BundleWire {
    media_type: String,
    image: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ledger: Option<String>,
    log: LogWire,
    entries: Vec<EntryWire>,
    #[serde(default)]
    blobs: Vec<BlobWire>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogWire {
    checkpoint: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    consistency: Vec<ConsistencyWire>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConsistencyWire {
    from_size: u64,
    hashes: Vec<Hash>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryWire {
    log_index: u64,
    inclusion_path: Vec<Hash>,
    envelope: EnvelopeJson,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<SigJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigJson {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BlobWire {
    digest: Digest,
    media_type: String,
    data: String,
}

/// A parsed, structurally checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The image manifest digest the bundle is for.
    pub image: Digest,
    /// When it was made.
    pub created_at: Option<Timestamp>,
    /// The ledger it was made from.
    pub ledger: Option<String>,
    /// Its contents.
    pub evidence: Evidence,
}

impl Bundle {
    /// Parses a bundle file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let wire: BundleWire = serde_json::from_slice(bytes)?;
        if wire.media_type != BUNDLE_MEDIA_TYPE {
            let mut shown = wire.media_type;
            shown.truncate(200);
            return Err(BundleError::MediaType(shown));
        }
        if wire.entries.len() > MAX_BUNDLE_ENTRIES {
            return Err(BundleError::TooManyEntries(wire.entries.len()));
        }
        let mut evidence = Evidence::new(Origin::Bundle {
            digest: Digest::sha256_of(bytes),
        });
        evidence.checkpoint = Some(wire.log.checkpoint);
        evidence.consistency = wire
            .log
            .consistency
            .into_iter()
            .map(|c| ConsistencyStep {
                from_size: c.from_size,
                hashes: c.hashes,
            })
            .collect();
        let mut seen: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        for (index, e) in wire.entries.into_iter().enumerate() {
            if let Some(first) = seen.insert(e.log_index, index) {
                return Err(BundleError::DuplicateIndex {
                    log_index: e.log_index,
                    first,
                    second: index,
                });
            }
            let env_wire = EnvelopeWire {
                payload: e.envelope.payload,
                payload_type: e.envelope.payload_type,
                signatures: e
                    .envelope
                    .signatures
                    .into_iter()
                    .map(|s| SignatureWire {
                        keyid: s.keyid,
                        sig: s.sig,
                    })
                    .collect(),
            };
            let envelope = Envelope::try_from(env_wire)
                .map_err(|source| BundleError::Envelope { index, source })?;
            evidence.entries.push(LoggedEntry {
                envelope,
                log_index: Some(e.log_index),
                inclusion_path: Some(e.inclusion_path),
            });
        }
        for b in wire.blobs {
            if evidence.blob(&b.digest).is_some() {
                return Err(BundleError::DuplicateBlob(b.digest));
            }
            let data = STANDARD
                .decode(&b.data)
                .map_err(|_| BundleError::BlobBase64 {
                    digest: b.digest.clone(),
                })?;
            evidence.add_blob(b.digest, &b.media_type, data)?;
        }
        Ok(Bundle {
            image: wire.image,
            created_at: wire.created_at,
            ledger: wire.ledger,
            evidence,
        })
    }

    /// Serializes the bundle (compact JSON with a final newline). Entries without a log
    /// position cannot be bundled and are left out; the caller collects only logged ones.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = BundleWire {
            media_type: BUNDLE_MEDIA_TYPE.to_owned(),
            image: self.image.clone(),
            created_at: self.created_at,
            ledger: self.ledger.clone(),
            log: LogWire {
                checkpoint: self.evidence.checkpoint.clone().unwrap_or_default(),
                consistency: self
                    .evidence
                    .consistency
                    .iter()
                    .map(|c| ConsistencyWire {
                        from_size: c.from_size,
                        hashes: c.hashes.clone(),
                    })
                    .collect(),
            },
            entries: self
                .evidence
                .entries
                .iter()
                .filter_map(|e| {
                    Some(EntryWire {
                        log_index: e.log_index?,
                        inclusion_path: e.inclusion_path.clone()?,
                        envelope: EnvelopeJson {
                            payload: STANDARD.encode(e.envelope.payload_unverified()),
                            payload_type: e.envelope.payload_type().to_owned(),
                            signatures: e
                                .envelope
                                .signatures()
                                .iter()
                                .map(|s| SigJson {
                                    keyid: Some(s.keyid().to_owned()),
                                    sig: STANDARD.encode(s.sig()),
                                })
                                .collect(),
                        },
                    })
                })
                .collect(),
            blobs: self
                .evidence
                .blobs()
                .iter()
                .map(|(digest, b)| BlobWire {
                    digest: digest.clone(),
                    media_type: b.media_type.clone(),
                    data: STANDARD.encode(&b.data),
                })
                .collect(),
        };
        // Strings, numbers and hex hashes always serialize.
        let mut out = serde_json::to_vec(&wire).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> String {
        format!(
            r#"{{"mediaType":"{BUNDLE_MEDIA_TYPE}","image":"sha256:{z}","log":{{"checkpoint":"x"}},"entries":[{{"logIndex":0,"inclusionPath":[],"envelope":{{"payload":"aGk=","payloadType":"t","signatures":[{{"keyid":"k","sig":"c2ln"}}]}}}}]}}"#,
            z = "0".repeat(64)
        )
    }

    #[test]
    fn a_bundle_round_trips() {
        let b = Bundle::parse(minimal().as_bytes()).unwrap();
        assert_eq!(b.evidence.entries.len(), 1);
        let again = Bundle::parse(&b.to_json()).unwrap();
        assert_eq!(
            again.evidence.entries[0].envelope,
            b.evidence.entries[0].envelope
        );
    }

    #[test]
    fn hostile_bundles_are_refused() {
        let ok = minimal();
        let cases: Vec<(String, &str)> = vec![
            (ok[..ok.len() - 10].to_owned(), "EOF"),
            (
                ok.replacen("\"log\"", "\"extra\":1,\"log\"", 1),
                "unknown field `extra`",
            ),
            (
                ok.replacen("\"log\":", "\"ledger\":\"a\",\"ledger\":\"b\",\"log\":", 1),
                "duplicate field `ledger`",
            ),
            (
                ok.replacen("\"sig\":", "\"x\":1,\"sig\":", 1),
                "unknown field `x`",
            ),
            (
                ok.replacen("\"payloadType\"", "\"payload\":\"aGk=\",\"payloadType\"", 1),
                "duplicate field `payload`",
            ),
            (ok.replacen("bundle.v1", "bundle.v9", 1), "media type"),
            (
                ok.replacen(
                    "\"signatures\":[{\"keyid\":\"k\",\"sig\":\"c2ln\"}]",
                    "\"signatures\":[]",
                    1,
                ),
                "no signatures",
            ),
        ];
        for (json, want) in cases {
            let err = Bundle::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?}, got {err:?}");
        }
        let big = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert!(matches!(Bundle::parse(&big), Err(BundleError::TooLarge(_))));
        let twice = ok.replacen(
            "\"entries\":[",
            "\"entries\":[{\"logIndex\":0,\"inclusionPath\":[],\"envelope\":{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"c2ln\"}]}},",
            1,
        );
        assert!(matches!(
            Bundle::parse(twice.as_bytes()),
            Err(BundleError::DuplicateIndex { log_index: 0, .. })
        ));
        let blob = ok.replacen(
            "\"log\":",
            "\"blobs\":[{\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"mediaType\":\"t\",\"data\":\"aGk=\"}],\"log\":",
            1,
        );
        let err = Bundle::parse(blob.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("has digest"), "{err}");
    }
}
