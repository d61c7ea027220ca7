//! From a submitted DSSE envelope to a checked, indexed entry ready to be sequenced.
//!
//! The leaf of every entry is the envelope's *canonical bytes*: the JSON object
//! `{"payload":…,"payloadType":…,"signatures":[{"keyid":…,"sig":…},…]}` with exactly these
//! keys in this (lexicographic) order, no whitespace, `payload` and `sig` re-encoded as
//! standard padded base64 from their decoded bytes, `keyid` omitted when empty, and the
//! signatures sorted by (keyid, sig). Every string is JSON-escaped as serde_json does (which
//! is RFC 8785's escaping for these values). Two submissions that differ only in whitespace,
//! key order, base64 padding or signature order are the same entry.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use custody_log::{Hash, leaf_hash};
use custody_types::{Digest, KeyId, Role, predicate_types as pt};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::facts::{self, Facts};
use crate::signers::SignerCache;
use crate::util::truncate;

/// A DSSE envelope as submitted (wire form).
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
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// Base64 of the signature.
    pub sig: String,
}

/// Canonical serialization; field order here is the canonical key order.
#[derive(Serialize)]
struct CanonicalEnvelope<'a> {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    signatures: Vec<CanonicalSignature>,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct CanonicalSignature {
    #[serde(skip_serializing_if = "String::is_empty")]
    keyid: String,
    sig: String,
}

/// Largest number of signatures accepted on one envelope.
const MAX_SIGNATURES: usize = 16;

/// An envelope whose signature by a registered key was checked, with its canonical bytes
/// and everything the indexes need.
#[derive(Debug, Clone)]
pub struct Prepared {
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

fn decode_b64(what: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .map_err(|_| ApiError::BadRequest(format!("{what} is not valid base64")))
}

/// DSSE pre-authentication encoding (DSSE protocol.md).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The canonical bytes of an envelope given its decoded parts.
pub fn canonical_bytes(
    payload_type: &str,
    payload: &[u8],
    signatures: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let mut sigs: Vec<CanonicalSignature> = signatures
        .iter()
        .map(|(keyid, sig)| CanonicalSignature {
            keyid: keyid.clone(),
            sig: STANDARD.encode(sig),
        })
        .collect();
    sigs.sort();
    sigs.dedup();
    let c = CanonicalEnvelope {
        payload: STANDARD.encode(payload),
        payload_type,
        signatures: sigs,
    };
    // Serializing plain strings into a Vec cannot fail.
    serde_json::to_vec(&c).unwrap_or_default()
}

/// Checks one envelope: base64, signatures by registered keys, statement shape. Nothing is
/// written; the result goes to the sequencer.
pub async fn prepare(env: &WireEnvelope, signers: &SignerCache) -> Result<Prepared, ApiError> {
    if env.payload_type.is_empty() || env.payload_type.len() > 256 {
        return Err(ApiError::BadRequest(
            "payloadType must be 1 to 256 characters".into(),
        ));
    }
    if env.signatures.is_empty() {
        return Err(ApiError::BadRequest("envelope has no signatures".into()));
    }
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(ApiError::BadRequest(format!(
            "envelope has {} signatures; at most {MAX_SIGNATURES} are accepted",
            env.signatures.len()
        )));
    }
    let payload = decode_b64("payload", &env.payload)?;
    let mut sigs = Vec::with_capacity(env.signatures.len());
    for s in &env.signatures {
        if s.keyid.len() > 256 {
            return Err(ApiError::BadRequest("signature keyid is too long".into()));
        }
        sigs.push((s.keyid.clone(), decode_b64("signature", &s.sig)?));
    }
    prepare_decoded(&env.payload_type, payload, sigs, signers).await
}

/// [`prepare`] for an envelope whose fields are already decoded (gRPC).
pub async fn prepare_decoded(
    payload_type: &str,
    payload: Vec<u8>,
    sigs: Vec<(String, Vec<u8>)>,
    signers: &SignerCache,
) -> Result<Prepared, ApiError> {
    if sigs.is_empty() {
        return Err(ApiError::BadRequest("envelope has no signatures".into()));
    }
    let message = pae(payload_type, &payload);
    let mut verified: Vec<(KeyId, Role)> = Vec::new();
    let mut bad_signature = false;
    for (hint, sig) in &sigs {
        match signers.verify(hint, &message, sig).await? {
            Some(found) => verified.push(found),
            None => bad_signature = true,
        }
    }
    if verified.is_empty() {
        return Err(ApiError::Forbidden(
            "no signature on the envelope verifies with a registered signer key".into(),
        ));
    }
    if bad_signature {
        // Every signature must be from a registered key: an entry must not carry a signature
        // that a later reader could not attribute.
        return Err(ApiError::Forbidden(
            "a signature on the envelope does not verify with any registered signer key".into(),
        ));
    }
    let unique: BTreeSet<KeyId> = verified.iter().map(|(k, _)| *k).collect();
    if unique.len() != verified.len() {
        return Err(ApiError::BadRequest(
            "envelope carries two signatures by the same key".into(),
        ));
    }
    if payload_type != custody_types::media_types::IN_TOTO_JSON {
        return Err(ApiError::Unprocessable(format!(
            "payloadType {:?} is not {}",
            truncate(payload_type),
            custody_types::media_types::IN_TOTO_JSON
        )));
    }
    let facts = facts::extract(&payload)?;
    let canonical = canonical_bytes(payload_type, &payload, &sigs);
    let leaf_hash = leaf_hash(&canonical);
    Ok(Prepared {
        canonical,
        leaf_hash,
        payload_type: payload_type.to_owned(),
        kind: kind_of(&facts.predicate_type),
        predicate_type: facts.predicate_type.clone(),
        signers: verified,
        facts,
    })
}

/// The attestation kind of a predicate type, for the image view.
pub fn kind_of(predicate_type: &str) -> &'static str {
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

/// The SHA-256 digest of a blob, as stored.
pub fn blob_digest(bytes: &[u8]) -> Digest {
    Digest::sha256_of(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_ignore_signature_order_and_base64_padding() {
        let a = canonical_bytes(
            "t",
            b"hello",
            &[("k2".into(), vec![2]), ("k1".into(), vec![1])],
        );
        let b = canonical_bytes(
            "t",
            b"hello",
            &[("k1".into(), vec![1]), ("k2".into(), vec![2])],
        );
        assert_eq!(a, b);
        assert_eq!(
            String::from_utf8(a).unwrap(),
            r#"{"payload":"aGVsbG8=","payloadType":"t","signatures":[{"keyid":"k1","sig":"AQ=="},{"keyid":"k2","sig":"Ag=="}]}"#
        );
        let no_keyid = canonical_bytes("t", b"", &[(String::new(), vec![0])]);
        assert_eq!(
            String::from_utf8(no_keyid).unwrap(),
            r#"{"payload":"","payloadType":"t","signatures":[{"sig":"AA=="}]}"#
        );
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn base64_variants_decode_and_garbage_is_refused() {
        assert_eq!(decode_b64("x", "aGk=").unwrap(), b"hi");
        assert_eq!(decode_b64("x", "aGk").unwrap(), b"hi");
        assert!(decode_b64("x", "!!!").is_err());
    }
}
