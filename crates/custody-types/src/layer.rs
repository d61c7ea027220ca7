//! Layer identities: DiffID names a layer's content, ChainID places it in a stack.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Digest, DigestError};

/// The digest of a layer's uncompressed tar stream, as listed in the image config's
/// `rootfs.diff_ids`.
///
/// The same layer compressed two ways has two blob digests but one DiffID, which is why
/// attestations name layers by DiffID.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DiffId(pub Digest);

/// The identity of a layer *at a position*: ChainID(L0) = DiffID(L0) and
/// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)) (OCI image-spec, config.md).
///
/// Signing a ChainID binds a layer to every layer beneath it, so a signature over it cannot
/// be replayed onto a different stack.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub Digest);

impl ChainId {
    /// The ChainID of a bottom layer: its DiffID.
    pub fn base(diff_id: &DiffId) -> ChainId {
        ChainId(diff_id.0.clone())
    }

    /// The ChainID of `diff_id` stacked on the layer whose ChainID is `self`.
    pub fn extend(&self, diff_id: &DiffId) -> ChainId {
        ChainId(Digest::sha256_of(
            format!("{} {}", self.0, diff_id.0).as_bytes(),
        ))
    }
}

/// The ChainID of every position of a stack of layers, bottom first.
pub fn chain_ids(diff_ids: &[DiffId]) -> Vec<ChainId> {
    let mut out: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => ChainId::base(diff_id),
            Some(parent) => parent.extend(diff_id),
        };
        out.push(next);
    }
    out
}

macro_rules! digest_newtype {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = DigestError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<Digest> for $name {
            fn from(d: Digest) -> Self {
                $name(d)
            }
        }

        impl AsRef<Digest> for $name {
            fn as_ref(&self) -> &Digest {
                &self.0
            }
        }
    };
}

digest_newtype!(DiffId);
digest_newtype!(ChainId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec_formula() {
        let a: DiffId = Digest::sha256_of(b"a").into();
        let b: DiffId = Digest::sha256_of(b"b").into();
        let c: DiffId = Digest::sha256_of(b"c").into();
        let ids = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ids[0].0, a.0);
        let ab = Digest::sha256_of(format!("{a} {b}").as_bytes());
        assert_eq!(ids[1].0, ab);
        let abc = Digest::sha256_of(format!("{ab} {c}").as_bytes());
        assert_eq!(ids[2].0, abc);
        // Reordering changes every ChainID above the swap.
        let swapped = chain_ids(&[b, a, c]);
        assert_ne!(swapped[1], ids[1]);
        assert_ne!(swapped[2], ids[2]);
    }
}
