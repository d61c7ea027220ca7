//! What the verifier is shown: envelopes with their place in the ledger, a signed checkpoint,
//! consistency proofs, and content-addressed blobs (manifest, config, SBOMs).
//!
//! Evidence comes from an [`EvidenceSource`]: a bundle file (parsed here, see
//! [`crate::Bundle`]) or a live ledger (fetched by the caller over a [`LedgerTransport`],
//! see [`crate::collect_from_ledger`]). Nothing in evidence is trusted: every envelope is
//! verified against the policy's keys, every inclusion proof against the checkpoint, the
//! checkpoint against the log key, and every blob against its digest on the way in.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custody_attest::Envelope;
use custody_log::{Hash, leaf_hash};
use custody_types::Digest;

/// One envelope and where the ledger says it is.
#[derive(Debug, Clone)]
pub struct LoggedEntry {
    /// The envelope (structurally checked, not yet verified).
    pub envelope: Envelope,
    /// Its index in the log.
    pub log_index: Option<u64>,
    /// Its RFC 9162 audit path in the tree of the evidence's checkpoint.
    pub inclusion_path: Option<Vec<Hash>>,
}

impl LoggedEntry {
    /// The leaf hash the ledger gives this envelope: RFC 6962 leaf hash of its canonical bytes.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&canonical_envelope_bytes(&self.envelope))
    }
}

/// A consistency proof from an older tree size to the evidence's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyStep {
    /// The older size.
    pub from_size: u64,
    /// RFC 9162 consistency proof hashes.
    pub hashes: Vec<Hash>,
}

/// Where evidence came from; the policy decides whether an offline bundle is acceptable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// An offline bundle file.
    Bundle {
        /// The bundle's digest.
        digest: Digest,
    },
    /// A live ledger.
    Ledger {
        /// Its base URL.
        url: String,
    },
}

/// A blob whose bytes matched its digest when it was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Media type, as the producer named it.
    pub media_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Why a blob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blob claimed to be {claimed} has digest {actual}")]
pub struct BlobMismatch {
    /// The digest it was offered under.
    pub claimed: Digest,
    /// Its real digest.
    pub actual: Digest,
}

/// Everything a decision may use.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Where it came from.
    pub origin: Origin,
    /// Envelopes.
    pub entries: Vec<LoggedEntry>,
    /// The C2SP signed checkpoint every inclusion path is relative to.
    pub checkpoint: Option<String>,
    /// Consistency proofs from older sizes to the checkpoint (for a verifier's `--state`).
    pub consistency: Vec<ConsistencyStep>,
    blobs: BTreeMap<Digest, Blob>,
}

impl Evidence {
    /// Empty evidence from `origin`.
    pub fn new(origin: Origin) -> Evidence {
        Evidence {
            origin,
            entries: Vec::new(),
            checkpoint: None,
            consistency: Vec::new(),
            blobs: BTreeMap::new(),
        }
    }

    /// Adds a blob after checking that `data` hashes to `digest`.
    pub fn add_blob(
        &mut self,
        digest: Digest,
        media_type: &str,
        data: Vec<u8>,
    ) -> Result<(), BlobMismatch> {
        let actual = match digest.algorithm() {
            custody_types::Algorithm::Sha256 => Digest::sha256_of(&data),
            custody_types::Algorithm::Sha512 => Digest::sha512_of(&data),
        };
        if actual != digest {
            return Err(BlobMismatch {
                claimed: digest,
                actual,
            });
        }
        self.blobs.insert(
            digest,
            Blob {
                media_type: media_type.to_owned(),
                data,
            },
        );
        Ok(())
    }

    /// A blob by digest.
    pub fn blob(&self, digest: &Digest) -> Option<&Blob> {
        self.blobs.get(digest)
    }

    /// Every blob, by digest.
    pub fn blobs(&self) -> &BTreeMap<Digest, Blob> {
        &self.blobs
    }
}

/// One signature as the canonical leaf bytes write it; ordered by (keyid, base64 sig).
#[derive(serde::Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct CanonicalSig {
    #[serde(skip_serializing_if = "String::is_empty")]
    keyid: String,
    sig: String,
}

/// The bytes the custody ledger hashes into an envelope's leaf: compact JSON with the members
/// `payload`, `payloadType`, `signatures` in that order, standard padded base64, each signature
/// `{"keyid","sig"}` with `keyid` left out when empty, signatures sorted by (keyid, sig) with
/// exact repeats dropped. Two encodings of one envelope (whitespace, member order, padding,
/// signature order) are therefore one leaf.
pub fn canonical_envelope_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut signatures: Vec<CanonicalSig> = envelope
        .signatures()
        .iter()
        .map(|s| CanonicalSig {
            keyid: s.keyid().to_owned(),
            sig: STANDARD.encode(s.sig()),
        })
        .collect();
    let as_written = signatures.len();
    let in_canonical_order = signatures.is_sorted_by(|a, b| a < b);
    signatures.sort();
    signatures.dedup();
    // The common case (custody writes one signature with its keyid): the canonical bytes are
    // the envelope's own JSON, which custody-attest writes without serde's per-byte string
    // escaping (base64 needs none).
    if in_canonical_order
        && signatures.len() == as_written
        && signatures.iter().all(|s| !s.keyid.is_empty())
    {
        return envelope.to_json();
    }
    serde_canonical(envelope, signatures)
}

/// [`canonical_envelope_bytes`] through serde, for envelopes whose own JSON is not canonical.
fn serde_canonical(envelope: &Envelope, signatures: Vec<CanonicalSig>) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Canonical<'a> {
        payload: String,
        #[serde(rename = "payloadType")]
        payload_type: &'a str,
        signatures: Vec<CanonicalSig>,
    }
    let c = Canonical {
        payload: STANDARD.encode(envelope.payload_unverified()),
        payload_type: envelope.payload_type(),
        signatures,
    };
    // Strings and a vector of string pairs always serialize.
    serde_json::to_vec(&c).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_ignore_encoding_differences() {
        let a = Envelope::from_json(
            br#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"b","sig":"c2ln"},{"keyid":"","sig":"c2lh"}]}"#,
        )
        .unwrap();
        let b = Envelope::from_json(
            br#"{ "signatures":[{"sig":"c2lh"},{"sig":"c2ln","keyid":"b"}], "payloadType":"t", "payload":"aGk="}"#,
        )
        .unwrap();
        let want = br#"{"payload":"aGk=","payloadType":"t","signatures":[{"sig":"c2lh"},{"keyid":"b","sig":"c2ln"}]}"#;
        assert_eq!(canonical_envelope_bytes(&a), want.to_vec());
        assert_eq!(canonical_envelope_bytes(&b), want.to_vec());
    }

    #[test]
    fn the_fast_path_writes_what_serde_writes() {
        let cases: [&[u8]; 4] = [
            br#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"k","sig":"c2ln"}]}"#,
            br#"{"payload":"aGk=","payloadType":"a\"b","signatures":[{"keyid":"a","sig":"c2ln"},{"keyid":"b","sig":"c2lh"}]}"#,
            br#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"b","sig":"c2ln"},{"keyid":"a","sig":"c2lh"}]}"#,
            br#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"","sig":"c2ln"}]}"#,
        ];
        for json in cases {
            let e = Envelope::from_json(json).unwrap();
            let mut sigs: Vec<CanonicalSig> = e
                .signatures()
                .iter()
                .map(|s| CanonicalSig {
                    keyid: s.keyid().to_owned(),
                    sig: STANDARD.encode(s.sig()),
                })
                .collect();
            sigs.sort();
            assert_eq!(
                canonical_envelope_bytes(&e),
                serde_canonical(&e, sigs),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        let first = Envelope::from_json(cases[0]).unwrap();
        assert_eq!(canonical_envelope_bytes(&first), cases[0].to_vec());
    }

    #[test]
    fn blobs_must_match_their_digest() {
        let mut e = Evidence::new(Origin::Ledger { url: "x".into() });
        let d = Digest::sha256_of(b"abc");
        assert!(e.add_blob(d.clone(), "t", b"abd".to_vec()).is_err());
        e.add_blob(d.clone(), "t", b"abc".to_vec()).unwrap();
        assert_eq!(e.blob(&d).unwrap().data, b"abc");
    }
}
