//! The entry proof file `custody submit` keeps beside each envelope (`FILE.proof.json`).

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, SignedCheckpoint, VerifiedCheckpoint};
use crate::hash::{Hash, leaf_hash};
use crate::note::VerifierKey;
use crate::proof::{ProofError, verify_inclusion};

/// Media type written in every entry proof file.
pub const ENTRY_PROOF_MEDIA_TYPE: &str = "application/vnd.custody.entry-proof.v1+json";

/// Largest entry proof file read (a checkpoint note is at most 1 MiB; paths are ≤ 64 hashes).
pub const MAX_ENTRY_PROOF_BYTES: usize = 2 << 20;

/// Longest audit path of any tree this crate builds (2^62 leaves).
pub const MAX_AUDIT_PATH: usize = 64;

/// Why an entry proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum EntryProofError {
    /// Larger than [`MAX_ENTRY_PROOF_BYTES`].
    #[error("entry proof is {0} bytes, more than the {max} accepted", max = MAX_ENTRY_PROOF_BYTES)]
    TooLarge(usize),
    /// Not the JSON shape above (unknown or duplicate fields included).
    #[error("entry proof is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format or version.
    #[error("entry proof has media type {0:?}, expected {ENTRY_PROOF_MEDIA_TYPE}")]
    MediaType(String),
    /// The audit path is longer than any tree allows.
    #[error("entry proof audit path has {0} hashes; no tree needs more than {MAX_AUDIT_PATH}")]
    PathTooLong(usize),
    /// The entry's bytes do not hash to the proof's leaf hash.
    #[error("entry hashes to leaf {computed}, but the proof is for leaf {claimed} (index {index})")]
    LeafHashMismatch {
        /// Log index of the proof.
        index: u64,
        /// Leaf hash in the proof.
        claimed: Hash,
        /// Leaf hash of the given bytes.
        computed: Hash,
    },
    /// The checkpoint note or its signature is bad.
    #[error("entry proof checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The proof names a different log from the trusted key or its checkpoint.
    #[error("entry proof is for log {claimed:?}, but {what} is {actual:?}")]
    OriginMismatch {
        /// `log_origin` in the proof.
        claimed: String,
        /// What it was compared with.
        what: &'static str,
        /// That value.
        actual: String,
    },
    /// The embedded log key is not the trusted one.
    #[error("entry proof names log key {embedded}, not the trusted key {trusted}")]
    LogKeyMismatch {
        /// `log_key` in the file.
        embedded: String,
        /// The key the caller trusts.
        trusted: String,
    },
    /// The checkpoint is for another tree size than the audit path.
    #[error("entry proof is for tree size {proof}, but its checkpoint signs size {checkpoint}")]
    TreeSizeMismatch {
        /// `tree_size` in the file.
        proof: u64,
        /// Size in the checkpoint.
        checkpoint: u64,
    },
    /// The audit path does not lead from the leaf to the checkpoint's root.
    #[error("entry proof inclusion check failed: {0}")]
    Inclusion(#[from] ProofError),
}

/// An entry's inclusion proof under a signed checkpoint: the file `custody submit` keeps
/// beside each envelope as `FILE.proof.json`, so the entry can be checked offline with nothing
/// but the log's key.
///
/// ```json
/// {
///   "media_type": "application/vnd.custody.entry-proof.v1+json",
///   "log_origin": "custody.example/log",
///   "log_index": 5,
///   "leaf_hash": "<64 lowercase hex: SHA-256(0x00 || entry bytes)>",
///   "tree_size": 8,
///   "audit_path": ["<hex>", "..."],
///   "checkpoint": "custody.example/log\n8\n<base64 root>\n\n— custody.example/log <base64 sig>\n",
///   "log_key": "custody.example/log+1a2b3c4d+<base64(0x01 || pubkey)>"
/// }
/// ```
///
/// Hashes are lowercase hex, as `sha256sum` prints them and as Rekor's API writes inclusion
/// proofs, so `printf '\0' | cat - FILE | sha256sum` reproduces `leaf_hash`; the checkpoint is
/// the C2SP signed note verbatim (its root is base64, per that spec), checkable with
/// golang.org/x/mod/sumdb/note and the key in `log_key`. The audit path is RFC 9162 `PATH`
/// from the leaf's sibling upwards, in the tree of `tree_size` leaves the checkpoint signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryProof {
    /// Always [`ENTRY_PROOF_MEDIA_TYPE`].
    pub media_type: String,
    /// The log's origin (its checkpoints' first line and its key's name).
    pub log_origin: String,
    /// The entry's index in the log (0-based).
    pub log_index: u64,
    /// `SHA-256(0x00 || entry bytes)`.
    pub leaf_hash: Hash,
    /// Size of the tree the audit path and checkpoint are for.
    pub tree_size: u64,
    /// RFC 9162 audit path, leaf's sibling first.
    pub audit_path: Vec<Hash>,
    /// The C2SP signed checkpoint note for `tree_size`.
    pub checkpoint: String,
    /// The log's verifier key (`name+keyid+base64`); informational: checks use the key the
    /// caller trusts, and a different key here is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
}

/// An entry proven to be in the log at `log_index`, under a checkpoint signed by the log key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// Log index.
    pub log_index: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// The checkpoint it is included under.
    pub checkpoint: VerifiedCheckpoint,
}

impl EntryProof {
    /// Assembles a proof file (for the ledger's responses and `custody submit`).
    pub fn new(
        log_index: u64,
        leaf_hash: Hash,
        audit_path: Vec<Hash>,
        checkpoint: &SignedCheckpoint,
        log_key: Option<&VerifierKey>,
    ) -> Result<Self, EntryProofError> {
        let cp = checkpoint.unverified_checkpoint()?;
        Ok(EntryProof {
            media_type: ENTRY_PROOF_MEDIA_TYPE.to_owned(),
            log_origin: cp.origin().to_owned(),
            log_index,
            leaf_hash,
            tree_size: cp.size(),
            audit_path,
            checkpoint: checkpoint.as_str().to_owned(),
            log_key: log_key.map(ToString::to_string),
        })
    }

    /// Reads a proof file, refusing oversized input, unknown and duplicate fields.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EntryProofError> {
        if bytes.len() > MAX_ENTRY_PROOF_BYTES {
            return Err(EntryProofError::TooLarge(bytes.len()));
        }
        let proof: EntryProof = serde_json::from_slice(bytes)?;
        if proof.media_type != ENTRY_PROOF_MEDIA_TYPE {
            return Err(EntryProofError::MediaType(crate::hash::truncate(
                &proof.media_type,
            )));
        }
        if proof.audit_path.len() > MAX_AUDIT_PATH {
            return Err(EntryProofError::PathTooLong(proof.audit_path.len()));
        }
        Ok(proof)
    }

    /// Pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, integers and hex hashes cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Checks everything offline: the entry's leaf hash (when its bytes are given), the
    /// checkpoint's signature by `log_key` and its origin, that the checkpoint signs this tree
    /// size, and the audit path from the leaf to the checkpoint's root.
    pub fn verify(
        &self,
        entry_bytes: Option<&[u8]>,
        log_key: &VerifierKey,
    ) -> Result<VerifiedEntry, EntryProofError> {
        if self.media_type != ENTRY_PROOF_MEDIA_TYPE {
            return Err(EntryProofError::MediaType(crate::hash::truncate(
                &self.media_type,
            )));
        }
        if let Some(embedded) = &self.log_key {
            let trusted = log_key.to_string();
            if *embedded != trusted {
                return Err(EntryProofError::LogKeyMismatch {
                    embedded: crate::hash::truncate(embedded),
                    trusted,
                });
            }
        }
        if self.log_origin != log_key.name().as_str() {
            return Err(EntryProofError::OriginMismatch {
                claimed: crate::hash::truncate(&self.log_origin),
                what: "the trusted log key's name",
                actual: log_key.name().to_string(),
            });
        }
        if let Some(bytes) = entry_bytes {
            let computed = leaf_hash(bytes);
            if computed != self.leaf_hash {
                return Err(EntryProofError::LeafHashMismatch {
                    index: self.log_index,
                    claimed: self.leaf_hash,
                    computed,
                });
            }
        }
        let checkpoint =
            SignedCheckpoint::parse(&self.checkpoint)?.verify_origin(log_key, &self.log_origin)?;
        if checkpoint.size() != self.tree_size {
            return Err(EntryProofError::TreeSizeMismatch {
                proof: self.tree_size,
                checkpoint: checkpoint.size(),
            });
        }
        verify_inclusion(
            &self.leaf_hash,
            self.log_index,
            self.tree_size,
            &self.audit_path,
            &checkpoint.root(),
        )?;
        Ok(VerifiedEntry {
            log_index: self.log_index,
            leaf_hash: self.leaf_hash,
            checkpoint,
        })
    }
}
