//! From a submitted DSSE envelope to a checked, indexed entry ready to be sequenced.
//!
//! The leaf of every entry is the envelope's *canonical bytes*, custody-attest's
//! [`Envelope::to_json`]: compact JSON with the members `payload`, `payloadType`,
//! `signatures` in that order, each signature `{"keyid", "sig"}` (keyid always present,
//! possibly empty), standard padded base64 re-encoded from the decoded bytes. Its SHA-256 is
//! the envelope digest a build provenance lists for its layer attestations, so the ledger, the
//! builder and the verifier name an envelope the same way. Two submissions that differ only in
//! whitespace, member order or base64 alphabet/padding are the same entry; signature order is
//! kept as submitted (it is part of what the signers handed over).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custody_attest::{
    CheckedStatement, Envelope, EnvelopeError, EnvelopeWire, Limits, SignatureWire,
    VerifiedEnvelope,
};
use custody_log::{Hash, leaf_hash};
use custody_types::{KeyId, Role, predicate_types as pt};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::facts::{self, Facts};
use crate::signers::{Keys, SignerCache, forbidden};

/// A DSSE envelope as submitted (wire form; documents the request body).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WireEnvelope {
    /// Base64 of the serialized payload (an in-toto Statement).
    pub payload: String,
    /// `application/vnd.in-toto+json` for in-toto Statements.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// At least one signature over PAE(payloadType, payload).
    pub signatures: Vec<WireSignature>,
}

/// One DSSE signature (wire form).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WireSignature {
    /// Optional hint naming the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// Base64 of the signature.
    pub sig: String,
}

impl From<WireEnvelope> for EnvelopeWire {
    fn from(w: WireEnvelope) -> EnvelopeWire {
        EnvelopeWire {
            payload: w.payload,
            payload_type: w.payload_type,
            signatures: w
                .signatures
                .into_iter()
                .map(|s| SignatureWire {
                    keyid: s.keyid,
                    sig: s.sig,
                })
                .collect(),
        }
    }
}

/// An envelope whose signatures by registered keys were checked, with its canonical bytes
/// and everything the indexes need.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The leaf data.
    pub canonical: Vec<u8>,
    /// RFC 6962 leaf hash of `canonical`.
    pub leaf_hash: Hash,
    /// DSSE payload type.
    pub payload_type: String,
    /// in-toto predicate type.
    pub predicate_type: String,
    /// Which kind of attestation (layer, provenance, scan, ...).
    pub kind: &'static str,
    /// Registered keys whose signature verified, with their role.
    pub signers: Vec<(KeyId, Role)>,
    /// Subjects, statement facts, components.
    pub facts: Facts,
}

/// The canonical leaf bytes of a JSON DSSE envelope (what `custody proof verify --entry`
/// hashes).
pub fn canonical_bytes(envelope_json: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    Ok(Envelope::from_json(envelope_json)?.to_json())
}

fn envelope_error(e: EnvelopeError) -> ApiError {
    match e {
        EnvelopeError::TooLarge { .. } | EnvelopeError::PayloadTooLarge { .. } => {
            ApiError::TooLarge(e.to_string())
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// Submissions checked at once: about one per core. Checking is CPU work (base64, signature
/// verification, statement and SBOM parsing) done on the blocking pool, so it never stalls
/// the async threads the sequencer and the reads run on; bounding it makes a burst of
/// submissions wait its turn here instead of time-slicing every core.
static CHECK_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, NonZeroUsize::get))
});

/// An envelope still to check.
enum Pending {
    Wire(EnvelopeWire),
    Parsed(Envelope),
}

/// Why checking stopped before the end of a submission.
enum Stop {
    /// The envelope is refused (400, 413, 422).
    Failed(ApiError),
    /// No registered key verifies it, by the keys as last loaded.
    Unverified(Envelope, String),
}

/// Checks envelopes in order until one fails or needs fresher keys; returns those checked,
/// why it stopped, and what is left.
fn check_in_order(
    mut todo: VecDeque<Pending>,
    keys: &Keys,
) -> (Vec<Prepared>, Option<Stop>, VecDeque<Pending>) {
    let mut done = Vec::with_capacity(todo.len());
    while let Some(next) = todo.pop_front() {
        let envelope = match next {
            Pending::Parsed(e) => e,
            Pending::Wire(w) => match Envelope::from_wire(w, &Limits::default()) {
                Ok(e) => e,
                Err(e) => return (done, Some(Stop::Failed(envelope_error(e))), todo),
            },
        };
        let (verified, roles) = match keys.verify(&envelope) {
            Ok(v) => v,
            Err(why) => return (done, Some(Stop::Unverified(envelope, why)), todo),
        };
        match check_statement(&envelope, &verified, roles) {
            Ok(p) => done.push(p),
            Err(e) => return (done, Some(Stop::Failed(e)), todo),
        }
    }
    (done, None, todo)
}

/// Checks a submission's envelopes, in order: shape and base64, signatures by registered keys
/// (all of them), the in-toto statement and its predicate. Nothing is written; the result
/// goes to the sequencer. On failure, the position of the first bad envelope and why.
pub(crate) async fn prepare_all(
    wires: Vec<EnvelopeWire>,
    signers: &SignerCache,
) -> Result<Vec<Prepared>, (usize, ApiError)> {
    let mut done: Vec<Prepared> = Vec::with_capacity(wires.len());
    let mut todo: VecDeque<Pending> = wires.into_iter().map(Pending::Wire).collect();
    loop {
        let at = done.len();
        let keys = signers.snapshot();
        let used = keys.clone();
        let slot = CHECK_SLOTS
            .acquire()
            .await
            .map_err(|e| (at, ApiError::internal(e)))?;
        let (checked, stop, rest) =
            tokio::task::spawn_blocking(move || check_in_order(todo, &keys))
                .await
                .map_err(|e| (at, ApiError::internal(format!("checking envelopes: {e}"))))?;
        drop(slot);
        done.extend(checked);
        let at = done.len();
        match stop {
            None => return Ok(done),
            Some(Stop::Failed(e)) => return Err((at, e)),
            Some(Stop::Unverified(envelope, why)) => {
                // Keys not loaded yet, or one registered since (by another replica or the
                // admin CLI): check again with newer keys, reloaded at most every 500 ms.
                if signers.refresh(&used).await.map_err(|e| (at, e))? {
                    todo = rest;
                    todo.push_front(Pending::Parsed(envelope));
                    continue;
                }
                return Err((at, forbidden(why)));
            }
        }
    }
}

/// One envelope whose fields gRPC has already decoded: payload type, payload bytes, and
/// `(keyid, signature)` pairs.
pub(crate) type DecodedEnvelope = (String, Vec<u8>, Vec<(String, Vec<u8>)>);

/// [`prepare_all`] for envelopes whose fields are already decoded (gRPC).
pub(crate) async fn prepare_decoded(
    envelopes: Vec<DecodedEnvelope>,
    signers: &SignerCache,
) -> Result<Vec<Prepared>, (usize, ApiError)> {
    let wires = envelopes
        .into_iter()
        .map(|(payload_type, payload, sigs)| EnvelopeWire {
            payload: STANDARD.encode(payload),
            payload_type,
            signatures: sigs
                .into_iter()
                .map(|(keyid, sig)| SignatureWire {
                    keyid: (!keyid.is_empty()).then_some(keyid),
                    sig: STANDARD.encode(sig),
                })
                .collect(),
        })
        .collect();
    prepare_all(wires, signers).await
}

/// The statement checks and index facts of a verified envelope.
fn check_statement(
    envelope: &Envelope,
    verified: &VerifiedEnvelope,
    roles: Vec<(KeyId, Role)>,
) -> Result<Prepared, ApiError> {
    let checked = CheckedStatement::try_from(verified)
        .map_err(|e| ApiError::Unprocessable(format!("statement: {e}")))?;
    let facts = facts::extract(&checked)?;
    let canonical = envelope.to_json();
    Ok(Prepared {
        leaf_hash: leaf_hash(&canonical),
        canonical,
        payload_type: envelope.payload_type().to_owned(),
        kind: kind_of(&facts.predicate_type),
        predicate_type: facts.predicate_type.clone(),
        signers: roles,
        facts,
    })
}

/// The attestation kind of a predicate type, for the image view.
pub(crate) fn kind_of(predicate_type: &str) -> &'static str {
    match predicate_type {
        pt::LAYER_V1 => "layer",
        pt::SLSA_PROVENANCE_V1 => "provenance",
        pt::VULNS_V01 => "scan",
        pt::REVIEW_V1 => "review",
        pt::VERIFICATION_SUMMARY_V1 => "decision",
        pt::OPENVEX_V02 => "vex",
        pt::CYCLONEDX_BOM => "sbom",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_ignore_whitespace_member_order_and_absent_keyids() {
        let a = br#"{"payloadType":"t","payload":"aGk=","signatures":[{"sig":"AQ=="}]}"#;
        let b = br#"{ "payload": "aGk=", "payloadType": "t", "signatures": [ {"keyid": "", "sig": "AQ=="} ] }"#;
        let ca = canonical_bytes(a).unwrap();
        assert_eq!(ca, canonical_bytes(b).unwrap());
        assert_eq!(
            String::from_utf8(ca).unwrap(),
            r#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"","sig":"AQ=="}]}"#
        );
        assert!(canonical_bytes(b"{}").is_err());
        assert!(
            canonical_bytes(br#"{"payload":"!","payloadType":"t","signatures":[{"sig":"AQ=="}]}"#)
                .is_err()
        );
    }
}
