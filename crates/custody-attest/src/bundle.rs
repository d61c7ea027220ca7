//! Sigstore bundles (v0.3, key-based): writing a signed envelope as a bundle, and reading
//! key-based bundles back (DSSE or plain message signatures).
//!
//! custody's bundles carry no transparency-log entries (`tlogEntries: []`): custody's log is
//! its own ledger, whose inclusion proofs travel separately. When reading a bundle that does
//! carry Rekor entries, they are counted but not checked: trust comes from the key given.

use custody_types::{KeyId, media_types};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use sigstore_types::{
    Bundle, DsseEnvelope, DsseSignature, HashAlgorithm, MediaType, PayloadBytes,
    PublicKeyIdentifier, SignatureBytes, SignatureContent, VerificationMaterial,
    VerificationMaterialContent,
};

use crate::dsse::{
    Envelope, EnvelopeError, EnvelopeWire, Limits, SignatureWire, VerifiedEnvelope, VerifyError,
};
use crate::keys::PublicKey;

/// Why a bundle could not be written, read or verified.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle is larger than the limits allow.
    #[error("bundle is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Size seen.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Not a Sigstore bundle.
    #[error("not a Sigstore bundle: {0}")]
    Parse(String),
    /// A certificate-based (keyless) bundle.
    #[error(
        "a certificate (keyless) bundle; custody verifies key-based bundles (verificationMaterial.publicKey) only"
    )]
    Keyless,
    /// A multi-signature envelope cannot be a bundle.
    #[error("a Sigstore bundle carries exactly one signature; this envelope has {0}")]
    NotOneSignature(usize),
    /// The bundle's envelope is not acceptable.
    #[error("bundle envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The bundle's envelope does not verify.
    #[error("bundle envelope: {0}")]
    Verify(#[from] VerifyError),
    /// The content is a message signature where a DSSE envelope was expected, or vice versa.
    #[error("bundle holds a {actual}, not a {expected}")]
    WrongContent {
        /// Expected.
        expected: &'static str,
        /// Found.
        actual: &'static str,
    },
    /// The message digest does not match the artifact.
    #[error("messageDigest {declared} does not match the artifact's {actual}")]
    DigestMismatch {
        /// The bundle's digest (hex).
        declared: String,
        /// The artifact's digest (hex).
        actual: String,
    },
    /// The message signature does not verify with any key given.
    #[error("message signature does not verify with any key given ({0})")]
    BadSignature(String),
    /// No key given.
    #[error("no public key given; a key-based bundle needs the signer's public key")]
    NoKey,
}

/// Writes a single-signature envelope as a Sigstore bundle v0.3 JSON document with
/// `verificationMaterial.publicKey.hint` = the signer's custody key ID and no tlog entries.
pub fn bundle_json(envelope: &Envelope, signer: &KeyId) -> Result<Vec<u8>, BundleError> {
    let [signature] = envelope.signatures() else {
        return Err(BundleError::NotOneSignature(envelope.signatures().len()));
    };
    let dsse = DsseEnvelope::new(
        envelope.payload_type(),
        PayloadBytes::from_bytes(envelope.payload_unverified()),
        DsseSignature::new(
            SignatureBytes::from_bytes(signature.sig()),
            sigstore_types::KeyId::new(signature.keyid()),
        ),
    );
    let bundle = Bundle::new(
        MediaType::Bundle0_3,
        VerificationMaterial::new(VerificationMaterialContent::PublicKey(
            PublicKeyIdentifier::new(signer.to_string()),
        )),
        SignatureContent::DsseEnvelope(dsse),
    );
    debug_assert_eq!(
        bundle.media_type().as_str(),
        media_types::SIGSTORE_BUNDLE_V03
    );
    serde_json::to_vec_pretty(&bundle).map_err(|e| BundleError::Parse(e.to_string()))
}

/// What a key-based bundle signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleContent {
    /// A DSSE envelope (one signature).
    Dsse(Envelope),
    /// A signature over an artifact's bytes, with the artifact's digest.
    Message {
        /// The declared digest (algorithm, raw bytes), if any.
        digest: Option<(HashAlgorithm, Vec<u8>)>,
        /// The signature.
        signature: Vec<u8>,
    },
}

/// A parsed key-based Sigstore bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBundle {
    /// The unauthenticated public-key hint.
    pub hint: String,
    /// The signed content.
    pub content: BundleContent,
    /// How many transparency-log entries the bundle carries (not checked by custody).
    pub tlog_entries: usize,
}

/// Parses a Sigstore bundle (v0.1 to v0.3) that uses a public key (not a certificate).
pub fn parse_bundle(bytes: &[u8], limits: &Limits) -> Result<KeyBundle, BundleError> {
    // Rekor entries and timestamps add well under a megabyte to the envelope.
    let max = limits.max_envelope_bytes().saturating_add(1024 * 1024);
    if bytes.len() > max {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| BundleError::Parse(e.to_string()))?;
    let bundle = Bundle::from_json(text).map_err(|e| BundleError::Parse(e.to_string()))?;
    let hint = match &bundle.verification_material.content {
        VerificationMaterialContent::PublicKey(p) => p.hint.clone(),
        _ => return Err(BundleError::Keyless),
    };
    let content = match &bundle.content {
        SignatureContent::DsseEnvelope(env) => {
            // Re-check the envelope under custody's rules and limits.
            let wire = EnvelopeWire {
                payload: env.payload.to_base64(),
                payload_type: env.payload_type.clone(),
                signatures: vec![SignatureWire {
                    keyid: Some(env.signature.keyid.as_str().to_owned()),
                    sig: env.signature.sig.to_base64(),
                }],
            };
            BundleContent::Dsse(Envelope::from_wire(wire, limits)?)
        }
        SignatureContent::MessageSignature(m) => BundleContent::Message {
            digest: m
                .message_digest
                .as_ref()
                .map(|d| (d.algorithm, d.digest.as_bytes().to_vec())),
            signature: m.signature.as_bytes().to_vec(),
        },
        _ => return Err(BundleError::Parse("unknown bundle content".into())),
    };
    Ok(KeyBundle {
        hint,
        content,
        tlog_entries: bundle.verification_material.tlog_entries.len(),
    })
}

impl KeyBundle {
    /// Verifies a DSSE bundle with `keys`.
    pub fn verify_dsse(
        &self,
        keys: &[PublicKey],
        threshold: usize,
    ) -> Result<VerifiedEnvelope, BundleError> {
        match &self.content {
            BundleContent::Dsse(env) => Ok(env.verify(keys, threshold)?),
            BundleContent::Message { .. } => Err(BundleError::WrongContent {
                expected: "DSSE envelope",
                actual: "message signature",
            }),
        }
    }

    /// Verifies a message-signature bundle over `artifact`: the declared digest must match the
    /// artifact, and one of `keys` must verify the signature over the artifact's bytes.
    /// Returns the key ID that verified.
    pub fn verify_artifact(
        &self,
        artifact: &[u8],
        keys: &[PublicKey],
    ) -> Result<KeyId, BundleError> {
        let BundleContent::Message { digest, signature } = &self.content else {
            return Err(BundleError::WrongContent {
                expected: "message signature",
                actual: "DSSE envelope",
            });
        };
        if keys.is_empty() {
            return Err(BundleError::NoKey);
        }
        if let Some((algorithm, declared)) = digest {
            let actual = match algorithm {
                HashAlgorithm::Sha2256 => Sha256::digest(artifact).to_vec(),
                HashAlgorithm::Sha2384 => Sha384::digest(artifact).to_vec(),
                HashAlgorithm::Sha2512 => Sha512::digest(artifact).to_vec(),
                other => {
                    return Err(BundleError::Parse(format!(
                        "unsupported messageDigest algorithm {other:?}"
                    )));
                }
            };
            if &actual != declared {
                return Err(BundleError::DigestMismatch {
                    declared: hex::encode(declared),
                    actual: hex::encode(actual),
                });
            }
        }
        keys.iter()
            .find(|k| k.verify(artifact, signature))
            .map(PublicKey::key_id)
            .ok_or_else(|| {
                BundleError::BadSignature(
                    keys.iter()
                        .map(|k| k.key_id().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
    }
}
