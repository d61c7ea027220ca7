//! What a verifier remembers between runs, and how a new checkpoint may replace it.
//!
//! A log may only grow. A verifier that keeps the last checkpoint it trusted accepts a newer
//! one only with a consistency proof from the old size; anything else is a rollback (a smaller
//! tree, however it was signed) or a fork (a second root for a size, or a proof that fails),
//! and both mean the log showed different histories to different people.

use serde::{Deserialize, Serialize};

use crate::checkpoint::VerifiedCheckpoint;
use crate::hash::{Hash, empty_root};
use crate::proof::{ProofError, verify_consistency};

/// The last checkpoint a verifier trusted: stored in its `--state` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedCheckpoint {
    /// The log's origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash at that size (hex).
    pub root: Hash,
}

/// Why a new checkpoint cannot replace the trusted one.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The new checkpoint is for a different log.
    #[error("checkpoint is for log {got:?}, but the trusted state is for log {trusted:?}")]
    OriginMismatch {
        /// Origin of the trusted state.
        trusted: String,
        /// Origin of the new checkpoint.
        got: String,
    },
    /// The log shrank.
    #[error(
        "rollback: checkpoint has tree size {new_size}, smaller than the trusted size {trusted_size}"
    )]
    Rollback {
        /// Trusted size.
        trusted_size: u64,
        /// New size.
        new_size: u64,
    },
    /// Two different roots for one size.
    #[error("fork: tree size {size} has root {new_root}, but the trusted root is {trusted_root}")]
    Fork {
        /// The size.
        size: u64,
        /// Trusted root.
        trusted_root: Hash,
        /// New root.
        new_root: Hash,
    },
    /// The consistency proof does not link the trusted checkpoint to the new one.
    #[error("fork: no valid consistency proof from trusted size {trusted_size} to {new_size}")]
    Inconsistent {
        /// Trusted size.
        trusted_size: u64,
        /// New size.
        new_size: u64,
        /// Why the proof failed.
        #[source]
        source: ProofError,
    },
}

impl From<&VerifiedCheckpoint> for TrustedCheckpoint {
    fn from(cp: &VerifiedCheckpoint) -> Self {
        TrustedCheckpoint {
            origin: cp.origin().to_owned(),
            size: cp.size(),
            root: cp.root(),
        }
    }
}

impl TrustedCheckpoint {
    /// Decides whether `new` (already signature-checked) may replace this state, given the
    /// consistency proof from `self.size` to `new.size()` (empty when the sizes are equal or
    /// the trusted tree is empty). Returns the state to store next.
    pub fn advance(
        &self,
        new: &VerifiedCheckpoint,
        consistency_proof: &[Hash],
    ) -> Result<TrustedCheckpoint, TrustError> {
        if new.origin() != self.origin {
            return Err(TrustError::OriginMismatch {
                trusted: self.origin.clone(),
                got: new.origin().to_owned(),
            });
        }
        let next = TrustedCheckpoint::from(new);
        if new.size() < self.size {
            return Err(TrustError::Rollback {
                trusted_size: self.size,
                new_size: new.size(),
            });
        }
        let fork = || TrustError::Fork {
            size: self.size,
            trusted_root: self.root,
            new_root: new.root(),
        };
        if self.size == 0 {
            // Every tree extends the empty one, whose root is fixed.
            if self.root != empty_root() || (new.size() == 0 && new.root() != empty_root()) {
                return Err(fork());
            }
            if !consistency_proof.is_empty() {
                return Err(TrustError::Inconsistent {
                    trusted_size: 0,
                    new_size: new.size(),
                    source: ProofError::EmptyOldTree,
                });
            }
            return Ok(next);
        }
        if new.size() == self.size && new.root() != self.root {
            return Err(fork());
        }
        verify_consistency(
            self.size,
            new.size(),
            consistency_proof,
            &self.root,
            &new.root(),
        )
        .map_err(|source| TrustError::Inconsistent {
            trusted_size: self.size,
            new_size: new.size(),
            source,
        })?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, SignedCheckpoint};
    use crate::hash::leaf_hash;
    use crate::note::{KeyName, SignerKey};
    use crate::store::MemoryStore;

    const ORIGIN: &str = "custody.example/log";

    fn signer() -> SignerKey {
        SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[1; 32])
    }

    fn checkpoint(size: u64, root: Hash) -> VerifiedCheckpoint {
        let k = signer();
        let cp = Checkpoint::new(ORIGIN, size, root).unwrap();
        SignedCheckpoint::sign(&cp, &k)
            .unwrap()
            .verify(&k.verifier())
            .unwrap()
    }

    fn log(n: u64) -> MemoryStore {
        MemoryStore::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes()))).unwrap()
    }

    #[test]
    fn consistent_growth_advances() {
        let store = log(30);
        let trusted = TrustedCheckpoint::from(&checkpoint(10, store.root_at(10).unwrap()));
        let new = checkpoint(30, store.root());
        let proof = store.consistency_proof(10, 30).unwrap();
        let next = trusted.advance(&new, &proof.path).unwrap();
        assert_eq!(next.size, 30);
        // The same checkpoint again is fine.
        assert_eq!(next.advance(&new, &[]).unwrap(), next);
        // Starting from nothing needs no proof.
        let empty = TrustedCheckpoint {
            origin: ORIGIN.into(),
            size: 0,
            root: empty_root(),
        };
        assert_eq!(empty.advance(&new, &[]).unwrap(), next);
    }

    #[test]
    fn rollback_fork_and_bad_proofs_are_named() {
        let store = log(30);
        let trusted = TrustedCheckpoint::from(&checkpoint(20, store.root_at(20).unwrap()));
        let smaller = checkpoint(10, store.root_at(10).unwrap());
        assert!(matches!(
            trusted.advance(&smaller, &store.consistency_proof(10, 20).unwrap().path),
            Err(TrustError::Rollback {
                trusted_size: 20,
                new_size: 10
            })
        ));
        let forked = checkpoint(20, leaf_hash(b"other history"));
        let err = trusted.advance(&forked, &[]).unwrap_err();
        assert!(matches!(err, TrustError::Fork { size: 20, .. }), "{err}");
        assert!(err.to_string().starts_with("fork:"));
        // A larger tree that does not extend the trusted one.
        let other = log(31);
        let evil = MemoryStore::from_leaf_hashes((0..31u64).map(|i| {
            if i == 3 {
                leaf_hash(b"rewritten")
            } else {
                leaf_hash(&i.to_be_bytes())
            }
        }))
        .unwrap();
        let new = checkpoint(31, evil.root());
        let proof = evil.consistency_proof(20, 31).unwrap();
        assert!(matches!(
            trusted.advance(&new, &proof.path),
            Err(TrustError::Inconsistent { .. })
        ));
        // An honest proof but the wrong one for the sizes.
        let honest = checkpoint(31, other.root());
        let wrong = other.consistency_proof(19, 31).unwrap();
        assert!(trusted.advance(&honest, &wrong.path).is_err());
    }

    #[test]
    fn origins_must_match_and_state_round_trips() {
        let trusted = TrustedCheckpoint {
            origin: "another/log".into(),
            size: 0,
            root: empty_root(),
        };
        let cp = checkpoint(0, empty_root());
        assert!(matches!(
            trusted.advance(&cp, &[]),
            Err(TrustError::OriginMismatch { .. })
        ));
        let json = serde_json::to_string(&trusted).unwrap();
        assert_eq!(
            serde_json::from_str::<TrustedCheckpoint>(&json).unwrap(),
            trusted
        );
        assert!(
            serde_json::from_str::<TrustedCheckpoint>(
                r#"{"origin":"x","size":1,"root":"00","extra":1}"#
            )
            .is_err()
        );
    }
}
