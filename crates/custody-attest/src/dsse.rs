//! DSSE envelopes: the wire form, the structurally checked [`Envelope`], signing, and
//! verification into a [`VerifiedEnvelope`].
//!
//! The flow is wire -> checked -> verified, each a distinct type: [`EnvelopeWire`] is whatever
//! the JSON said; [`Envelope`] has decoded, bounded, de-duplicated fields; [`VerifiedEnvelope`]
//! exists only after enough of the given keys verified a signature over the PAE. Code that
//! acts on a payload takes a `VerifiedEnvelope`, so it cannot forget to verify.
//!
//! sigstore-types' `DsseEnvelope` allows exactly one signature (what a Sigstore bundle
//! carries); the DSSE protocol allows several, so bare envelopes are parsed here and only the
//! PAE comes from sigstore-types.

use std::fmt;
use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use custody_types::{Digest, KeyId};
use serde::Deserialize;

use crate::keys::{PublicKey, SigningKey};

/// Size limits applied while parsing an envelope, so a hostile file is refused before it is
/// buffered or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest decoded payload accepted. The default, 64 MiB, is far above any layer
    /// statement with an embedded SBOM custody writes (a few MB) and far below what would
    /// exhaust memory.
    pub max_payload_bytes: usize,
    /// Most signatures an envelope may carry.
    pub max_signatures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 64 * 1024 * 1024,
            max_signatures: 64,
        }
    }
}

impl Limits {
    /// Largest serialized envelope these limits allow: the base64 of the payload plus room for
    /// the signatures and the JSON around them.
    pub fn max_envelope_bytes(&self) -> usize {
        self.max_payload_bytes
            .saturating_div(3)
            .saturating_add(1)
            .saturating_mul(4)
            .saturating_add(self.max_signatures.saturating_mul(MAX_SIGNATURE_JSON_BYTES))
            .saturating_add(64 * 1024)
    }
}

/// Room for one signature object in the JSON: a keyid of up to 1 KiB and a signature of up to
/// 1 KiB (ed25519: 64 bytes, ECDSA P-256 DER: at most 72).
const MAX_SIGNATURE_JSON_BYTES: usize = 4096;
const MAX_SIGNATURE_BYTES: usize = 1024;
const MAX_KEYID_BYTES: usize = 1024;
const MAX_PAYLOAD_TYPE_BYTES: usize = 1024;

/// Why bytes are not an acceptable DSSE envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than [`Limits::max_envelope_bytes`].
    #[error("envelope is {size} bytes, over the {max}-byte limit for a {payload_max}-byte payload")]
    TooLarge {
        /// Size seen.
        size: u64,
        /// Envelope limit.
        max: usize,
        /// Payload limit it derives from.
        payload_max: usize,
    },
    /// The payload decodes to more than [`Limits::max_payload_bytes`].
    #[error("payload is {size} bytes, over the {max}-byte limit")]
    PayloadTooLarge {
        /// Decoded size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Not JSON, or not the DSSE shape (missing, unknown, duplicate or mistyped fields).
    #[error("not a DSSE envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// A field is not valid base64.
    #[error("{field} is not valid base64 (standard or URL-safe alphabet, padded): {reason}")]
    Base64 {
        /// Which field (`payload`, `signatures[1].sig`).
        field: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// `payloadType` is empty or absurdly long.
    #[error("payloadType is {0}")]
    BadPayloadType(&'static str),
    /// `signatures` is empty.
    #[error("envelope has no signatures")]
    NoSignatures,
    /// More signatures than [`Limits::max_signatures`].
    #[error("envelope has {count} signatures, more than the {max} accepted")]
    TooManySignatures {
        /// Count seen.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A signature is empty or too long to be one.
    #[error("signatures[{index}].sig is {len} bytes, not a signature")]
    BadSignatureLength {
        /// Position in `signatures`.
        index: usize,
        /// Decoded length.
        len: usize,
    },
    /// A keyid longer than any key ID.
    #[error("signatures[{0}].keyid is too long")]
    KeyIdTooLong(usize),
    /// The same signature bytes appear twice.
    #[error("signatures[{index}] repeats signatures[{first}]")]
    DuplicateSignature {
        /// The later position.
        index: usize,
        /// The first position.
        first: usize,
    },
    /// The same non-empty keyid appears twice (securesystemslib refuses such envelopes too).
    #[error("signatures[{index}].keyid {keyid:?} repeats signatures[{first}].keyid")]
    DuplicateKeyId {
        /// The later position.
        index: usize,
        /// The first position.
        first: usize,
        /// The keyid.
        keyid: String,
    },
}

/// Why a well-formed envelope did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No keys, or a threshold of zero.
    #[error("nothing to verify with: {0}")]
    NoKeys(&'static str),
    /// The threshold asks for more distinct keys than were given.
    #[error("{required} distinct signers required but only {keys} distinct keys given")]
    ThresholdUnreachable {
        /// Threshold.
        required: usize,
        /// Distinct keys given.
        keys: usize,
    },
    /// The payload type is not the one the caller expects.
    #[error("payloadType is {actual:?}, expected {expected:?}")]
    WrongPayloadType {
        /// The expected type.
        expected: String,
        /// The envelope's type.
        actual: String,
    },
    /// Fewer keys than required verified a signature.
    #[error(
        "{verified} of {required} required signatures verify ({signatures} signature(s) in the envelope; keys tried: {tried})"
    )]
    NotEnoughSignatures {
        /// Distinct keys that verified.
        verified: usize,
        /// Threshold.
        required: usize,
        /// Signatures in the envelope.
        signatures: usize,
        /// The key IDs tried, comma-separated.
        tried: String,
    },
}

/// The DSSE envelope as JSON says it, before any check. Unknown members are refused (see
/// docs/attestations.md): a verifier that silently ignored, say, a second `payload`-like
/// member would invite parser differentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeWire {
    /// Base64 payload.
    pub payload: String,
    /// Payload type URI or media type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures.
    pub signatures: Vec<SignatureWire>,
}

/// One signature as JSON says it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureWire {
    /// Optional, unauthenticated key hint.
    #[serde(default)]
    pub keyid: Option<String>,
    /// Base64 signature.
    pub sig: String,
}

/// One signature of a checked envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    keyid: String,
    sig: Vec<u8>,
}

impl Signature {
    /// The keyid hint (possibly empty).
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The raw signature bytes.
    pub fn sig(&self) -> &[u8] {
        &self.sig
    }
}

/// Which key ID to write in a signature's `keyid` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyIdHint {
    /// securesystemslib's key ID, so that python/go securesystemslib (in-toto, TUF), which
    /// match signatures to keys by keyid, find the key. custody's default.
    #[default]
    Securesystemslib,
    /// custody's key ID (SHA-256 of the SPKI DER).
    Custody,
    /// An empty keyid.
    Empty,
}

impl KeyIdHint {
    fn for_key(self, key: &SigningKey) -> String {
        match self {
            KeyIdHint::Securesystemslib => key.public_key().securesystemslib_keyid(),
            KeyIdHint::Custody => key.key_id().to_string(),
            KeyIdHint::Empty => String::new(),
        }
    }
}

/// A structurally checked DSSE envelope: base64 decoded, within [`Limits`], at least one
/// signature, no duplicate signatures or keyids. Not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    payload_type: String,
    payload: Vec<u8>,
    signatures: Vec<Signature>,
}

impl TryFrom<EnvelopeWire> for Envelope {
    type Error = EnvelopeError;

    fn try_from(wire: EnvelopeWire) -> Result<Self, Self::Error> {
        Envelope::from_wire(wire, &Limits::default())
    }
}

impl Envelope {
    /// Checks a wire envelope against `limits`.
    pub fn from_wire(wire: EnvelopeWire, limits: &Limits) -> Result<Envelope, EnvelopeError> {
        if wire.payload_type.is_empty() {
            return Err(EnvelopeError::BadPayloadType("empty"));
        }
        if wire.payload_type.len() > MAX_PAYLOAD_TYPE_BYTES {
            return Err(EnvelopeError::BadPayloadType("longer than 1024 bytes"));
        }
        // Check the size before decoding so the decoder never allocates past the limit.
        let decoded_len = wire.payload.len() / 4 * 3;
        if decoded_len > limits.max_payload_bytes.saturating_add(3) {
            return Err(EnvelopeError::PayloadTooLarge {
                size: decoded_len,
                max: limits.max_payload_bytes,
            });
        }
        let payload = decode_base64("payload", &wire.payload)?;
        if payload.len() > limits.max_payload_bytes {
            return Err(EnvelopeError::PayloadTooLarge {
                size: payload.len(),
                max: limits.max_payload_bytes,
            });
        }
        if wire.signatures.is_empty() {
            return Err(EnvelopeError::NoSignatures);
        }
        if wire.signatures.len() > limits.max_signatures {
            return Err(EnvelopeError::TooManySignatures {
                count: wire.signatures.len(),
                max: limits.max_signatures,
            });
        }
        let mut signatures: Vec<Signature> = Vec::with_capacity(wire.signatures.len());
        for (index, s) in wire.signatures.into_iter().enumerate() {
            let keyid = s.keyid.unwrap_or_default();
            if keyid.len() > MAX_KEYID_BYTES {
                return Err(EnvelopeError::KeyIdTooLong(index));
            }
            if s.sig.len() > MAX_SIGNATURE_BYTES * 2 {
                return Err(EnvelopeError::BadSignatureLength {
                    index,
                    len: s.sig.len() / 4 * 3,
                });
            }
            let sig = decode_base64(&format!("signatures[{index}].sig"), &s.sig)?;
            if sig.is_empty() || sig.len() > MAX_SIGNATURE_BYTES {
                return Err(EnvelopeError::BadSignatureLength {
                    index,
                    len: sig.len(),
                });
            }
            if let Some(first) = signatures.iter().position(|o| o.sig == sig) {
                return Err(EnvelopeError::DuplicateSignature { index, first });
            }
            if !keyid.is_empty()
                && let Some(first) = signatures.iter().position(|o| o.keyid == keyid)
            {
                return Err(EnvelopeError::DuplicateKeyId {
                    index,
                    first,
                    keyid,
                });
            }
            signatures.push(Signature { keyid, sig });
        }
        Ok(Envelope {
            payload_type: wire.payload_type,
            payload,
            signatures,
        })
    }

    /// Parses and checks JSON bytes with default [`Limits`].
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::from_json_with(bytes, &Limits::default())
    }

    /// Parses and checks JSON bytes with `limits`.
    pub fn from_json_with(bytes: &[u8], limits: &Limits) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > limits.max_envelope_bytes() {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len() as u64,
                max: limits.max_envelope_bytes(),
                payload_max: limits.max_payload_bytes,
            });
        }
        let wire: EnvelopeWire = serde_json::from_slice(bytes)?;
        Envelope::from_wire(wire, limits)
    }

    /// Signs `payload` with each of `keys` (at least one), writing `hint` as each signature's
    /// keyid. Deterministic: ed25519 and RFC 6979 ECDSA give the same bytes for the same input.
    pub fn sign(
        payload_type: &str,
        payload: Vec<u8>,
        keys: &[&SigningKey],
        hint: KeyIdHint,
    ) -> Envelope {
        let pae = sigstore_types::pae(payload_type, &payload);
        let signatures = keys
            .iter()
            .map(|k| Signature {
                keyid: hint.for_key(k),
                sig: k.sign(&pae),
            })
            .collect();
        Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures,
        }
    }

    /// The payload type.
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }

    /// The payload bytes. Unverified: use [`Envelope::verify`] before acting on them.
    pub fn payload_unverified(&self) -> &[u8] {
        &self.payload
    }

    /// The signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The DSSE pre-authentication encoding the signatures cover.
    pub fn pae(&self) -> Vec<u8> {
        sigstore_types::pae(&self.payload_type, &self.payload)
    }

    /// The envelope's canonical JSON: compact, members in the order `payload`, `payloadType`,
    /// `signatures`, each signature as `{"keyid", "sig"}` (keyid always present, possibly
    /// empty, as securesystemslib requires), standard padded base64. custody writes envelope
    /// files in exactly this form, so the file's SHA-256 is [`Envelope::digest`].
    pub fn to_json(&self) -> Vec<u8> {
        // Written by hand: base64 needs no JSON escaping, and a layer payload is ~100 KB, so
        // skipping serde's per-byte escape check is most of the cost of this function. Strings
        // that may need escaping (payloadType, keyids) go through serde_json.
        let b64_len = |n: usize| n.div_ceil(3) * 4;
        let mut out = Vec::with_capacity(
            b64_len(self.payload.len())
                + self.payload_type.len()
                + 64
                + self.signatures.len() * 256,
        );
        let push_b64 = |out: &mut Vec<u8>, bytes: &[u8]| {
            let start = out.len();
            out.resize(start + b64_len(bytes.len()), 0);
            // The buffer was sized for the padded encoding, so this cannot fail.
            let written = STANDARD
                .encode_slice(bytes, &mut out[start..])
                .unwrap_or_default();
            out.truncate(start + written);
        };
        let push_str = |out: &mut Vec<u8>, s: &str| {
            // Serializing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        };
        out.extend_from_slice(b"{\"payload\":\"");
        push_b64(&mut out, &self.payload);
        out.extend_from_slice(b"\",\"payloadType\":");
        push_str(&mut out, &self.payload_type);
        out.extend_from_slice(b",\"signatures\":[");
        for (i, s) in self.signatures.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"keyid\":");
            push_str(&mut out, &s.keyid);
            out.extend_from_slice(b",\"sig\":\"");
            push_b64(&mut out, &s.sig);
            out.extend_from_slice(b"\"}");
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// SHA-256 of [`Envelope::to_json`]: how provenance byproducts and the ledger name an
    /// envelope.
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.to_json())
    }

    /// Verifies the envelope: at least `threshold` distinct keys of `keys` must each verify
    /// one signature over the PAE. Every key is tried against every signature; the keyid is
    /// only a hint (custody IDs, securesystemslib IDs and empty keyids are all accepted).
    pub fn verify(
        &self,
        keys: &[PublicKey],
        threshold: usize,
    ) -> Result<VerifiedEnvelope, VerifyError> {
        if keys.is_empty() {
            return Err(VerifyError::NoKeys("no public keys given"));
        }
        if threshold == 0 {
            return Err(VerifyError::NoKeys("a threshold of zero verifies nothing"));
        }
        let mut distinct: Vec<&PublicKey> = Vec::with_capacity(keys.len());
        for k in keys {
            if !distinct.iter().any(|d| d.key_id() == k.key_id()) {
                distinct.push(k);
            }
        }
        if threshold > distinct.len() {
            return Err(VerifyError::ThresholdUnreachable {
                required: threshold,
                keys: distinct.len(),
            });
        }
        let pae = self.pae();
        let mut signers: Vec<KeyId> = Vec::new();
        for key in &distinct {
            // Try the signature whose hint names this key first; then the rest.
            let mut order: Vec<&Signature> = self.signatures.iter().collect();
            order.sort_by_key(|s| !key.matches_hint(&s.keyid));
            if order.iter().any(|s| key.verify(&pae, &s.sig)) {
                signers.push(key.key_id());
            }
        }
        if signers.len() < threshold {
            return Err(VerifyError::NotEnoughSignatures {
                verified: signers.len(),
                required: threshold,
                signatures: self.signatures.len(),
                tried: distinct
                    .iter()
                    .map(|k| k.key_id().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(VerifiedEnvelope {
            digest: self.digest(),
            envelope: self.clone(),
            signers,
        })
    }

    /// The verified form, for [`crate::verify_batch`] once a batch equation covering a
    /// signature by each of `signers` has held.
    pub(crate) fn verified_by(&self, signers: Vec<KeyId>) -> VerifiedEnvelope {
        VerifiedEnvelope {
            digest: self.digest(),
            envelope: self.clone(),
            signers,
        }
    }

    /// [`Envelope::verify`], then checks that the payload type is `payload_type`.
    pub fn verify_typed(
        &self,
        keys: &[PublicKey],
        threshold: usize,
        payload_type: &str,
    ) -> Result<VerifiedEnvelope, VerifyError> {
        let verified = self.verify(keys, threshold)?;
        if verified.payload_type() != payload_type {
            return Err(VerifyError::WrongPayloadType {
                expected: payload_type.to_owned(),
                actual: verified.payload_type().to_owned(),
            });
        }
        Ok(verified)
    }
}

/// An envelope that at least the required number of the caller's keys verified. Only
/// [`Envelope::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEnvelope {
    envelope: Envelope,
    signers: Vec<KeyId>,
    digest: Digest,
}

impl VerifiedEnvelope {
    /// The payload type.
    pub fn payload_type(&self) -> &str {
        &self.envelope.payload_type
    }

    /// The verified payload.
    pub fn payload(&self) -> &[u8] {
        &self.envelope.payload
    }

    /// Key IDs of the given keys that verified a signature, in the order the keys were given.
    pub fn signers(&self) -> &[KeyId] {
        &self.signers
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// SHA-256 of the envelope's canonical JSON.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

/// An error reading an envelope file, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeFileError {
    /// The file could not be read.
    #[error("cannot read envelope {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an acceptable envelope.
    #[error("envelope {path}: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        source: EnvelopeError,
    },
}

/// Reads and checks an envelope file, refusing files over [`Limits::max_envelope_bytes`]
/// before reading them.
pub fn read_envelope_file(path: &Path, limits: &Limits) -> Result<Envelope, EnvelopeFileError> {
    let bytes = read_bounded(path, limits.max_envelope_bytes() as u64).map_err(|e| match e {
        BoundedReadError::Io(source) => EnvelopeFileError::Read {
            path: path.display().to_string(),
            source,
        },
        BoundedReadError::TooLarge(size) => EnvelopeFileError::Invalid {
            path: path.display().to_string(),
            source: EnvelopeError::TooLarge {
                size,
                max: limits.max_envelope_bytes(),
                payload_max: limits.max_payload_bytes,
            },
        },
    })?;
    Envelope::from_json_with(&bytes, limits).map_err(|source| EnvelopeFileError::Invalid {
        path: path.display().to_string(),
        source,
    })
}

pub(crate) enum BoundedReadError {
    Io(std::io::Error),
    TooLarge(u64),
}

/// Reads a file of at most `max` bytes, checking the size before reading and bounding the read
/// (the file may grow in between).
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, BoundedReadError> {
    let file = std::fs::File::open(path).map_err(BoundedReadError::Io)?;
    let len = file.metadata().map_err(BoundedReadError::Io)?.len();
    if len > max {
        return Err(BoundedReadError::TooLarge(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(BoundedReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Decodes DSSE base64. The spec lets parsers accept standard or URL-safe base64; custody
/// accepts both alphabets (not mixed within one value) and requires canonical padding, as both
/// securesystemslib implementations do (../shared/testdata/dsse/dsse-vectors.json).
pub(crate) fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, EnvelopeError> {
    // Standard base64 first: it is what custody and most signers write, and it refuses `-`
    // and `_`, so only a value that fails and holds one of them is tried as URL-safe (which
    // refuses `+` and `/`, so the alphabets are never mixed). Scanning for `-` and `_` only on
    // failure keeps a ~100 KB payload to one pass.
    let standard = STANDARD.decode(value);
    let result = match standard {
        Err(_) if value.bytes().any(|b| b == b'-' || b == b'_') => URL_SAFE.decode(value),
        other => other,
    };
    result.map_err(|e| EnvelopeError::Base64 {
        field: field.to_owned(),
        reason: e.to_string(),
    })
}

impl fmt::Display for KeyIdHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyIdHint::Securesystemslib => "securesystemslib",
            KeyIdHint::Custody => "custody",
            KeyIdHint::Empty => "empty",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    fn signed(keys: &[&SigningKey]) -> Envelope {
        Envelope::sign("text/plain", b"hello".to_vec(), keys, KeyIdHint::default())
    }

    #[test]
    fn sign_then_verify_round_trips_through_json() {
        let k = SigningKey::generate(KeyType::Ed25519).unwrap();
        let env = signed(&[&k]);
        let json = env.to_json();
        let back = Envelope::from_json(&json).unwrap();
        assert_eq!(back, env);
        let v = back.verify(&[k.public_key().clone()], 1).unwrap();
        assert_eq!(v.payload(), b"hello");
        assert_eq!(v.signers(), &[k.key_id()]);
        assert_eq!(v.digest(), &Digest::sha256_of(&json));
    }

    #[test]
    fn canonical_json_is_what_serde_json_writes() {
        let a = SigningKey::generate(KeyType::Ed25519).unwrap();
        let b = SigningKey::generate(KeyType::P256).unwrap();
        for (payload_type, payload) in [
            ("text/plain", b"".to_vec()),
            ("a \"quoted\" \\ type\n\u{1}", vec![0, 1, 2, 255]),
            ("application/vnd.in-toto+json", vec![b'x'; 1000]),
        ] {
            let mut env =
                Envelope::sign(payload_type, payload.clone(), &[&a, &b], KeyIdHint::Custody);
            env.signatures[1].keyid = "weird \"keyid\"\t".into();
            let expected = serde_json::json!({
                "payload": STANDARD.encode(&payload),
                "payloadType": payload_type,
                "signatures": env.signatures.iter().map(|s| serde_json::json!({
                    "keyid": s.keyid, "sig": STANDARD.encode(&s.sig)
                })).collect::<Vec<_>>(),
            });
            assert_eq!(env.to_json(), serde_json::to_vec(&expected).unwrap());
            assert_eq!(Envelope::from_json(&env.to_json()).unwrap(), env);
        }
    }

    #[test]
    fn multi_signature_thresholds_count_distinct_keys() {
        let a = SigningKey::generate(KeyType::Ed25519).unwrap();
        let b = SigningKey::generate(KeyType::P256).unwrap();
        let c = SigningKey::generate(KeyType::Ed25519).unwrap();
        let env = signed(&[&a, &b]);
        let keys = [a.public_key().clone(), b.public_key().clone()];
        assert_eq!(env.verify(&keys, 2).unwrap().signers().len(), 2);
        // The same key twice still counts once.
        let twice = [a.public_key().clone(), a.public_key().clone()];
        assert!(matches!(
            env.verify(&twice, 2),
            Err(VerifyError::ThresholdUnreachable { .. })
        ));
        let with_c = [a.public_key().clone(), c.public_key().clone()];
        let err = env.verify(&with_c, 2).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("1 of 2 required signatures verify"),
            "{err}"
        );
    }

    #[test]
    fn structural_problems_are_refused() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"payload":"aGk=","payloadType":"t","signatures":[]}"#,
                "no signatures",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"t","signatures":[{"sig":"c2ln"},{"sig":"c2ln"}]}"#,
                "repeats signatures[0]",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"k","sig":"c2ln"},{"keyid":"k","sig":"c2lh"}]}"#,
                "keyid \"k\" repeats",
            ),
            (
                r#"{"payload":"a!k=","payloadType":"t","signatures":[{"sig":"c2ln"}]}"#,
                "payload is not valid base64",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"t","signatures":[{"sig":"c2l"}]}"#,
                "signatures[0].sig is not valid base64",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"t","signatures":[{"sig":"c2ln"}],"extra":1}"#,
                "unknown field `extra`",
            ),
            (
                r#"{"payload":"aGk=","payload":"aGk=","payloadType":"t","signatures":[{"sig":"c2ln"}]}"#,
                "duplicate field `payload`",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"","signatures":[{"sig":"c2ln"}]}"#,
                "payloadType is empty",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"t"}"#,
                "missing field `signatures`",
            ),
            (
                r#"{"payload":"aGk=","payloadType":"t","signatures":[{"sig":""}]}"#,
                "0 bytes, not a signature",
            ),
            ("[1,2]", "not a DSSE envelope"),
        ];
        for (json, want) in cases {
            let err = Envelope::from_json(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn oversized_payloads_are_refused_before_decoding() {
        let limits = Limits {
            max_payload_bytes: 1000,
            max_signatures: 4,
        };
        let big = STANDARD.encode(vec![b'x'; 2000]);
        let json =
            format!(r#"{{"payload":"{big}","payloadType":"t","signatures":[{{"sig":"c2ln"}}]}}"#);
        let err = Envelope::from_json_with(json.as_bytes(), &limits).unwrap_err();
        assert!(
            matches!(err, EnvelopeError::PayloadTooLarge { .. }),
            "{err}"
        );
        let huge = vec![b' '; limits.max_envelope_bytes() + 1];
        assert!(matches!(
            Envelope::from_json_with(&huge, &limits),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }

    #[test]
    fn wrong_payload_type_is_reported_after_verification() {
        let k = SigningKey::generate(KeyType::Ed25519).unwrap();
        let env = signed(&[&k]);
        let err = env
            .verify_typed(&[k.public_key().clone()], 1, "application/vnd.in-toto+json")
            .unwrap_err();
        assert!(matches!(err, VerifyError::WrongPayloadType { .. }));
    }
}
