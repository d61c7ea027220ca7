//! Identities of stored nodes: perfect subtrees named by `(level, index)`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use crate::hash::{Hash, node_hash};

/// The largest tree this crate builds proofs for: 2^62 leaves.
///
/// Every size, index and node coordinate then fits a signed 64-bit database column, and the
/// array-tree arithmetic inside ct-merkle (which doubles indices) cannot overflow.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// A perfect subtree of the log: the `2^level` leaves starting at leaf `index * 2^level`.
///
/// Level 0 nodes are the leaf hashes themselves. A perfect node never changes once the log
/// has grown past its last leaf, which is why these (and only these) are stored: the hash of
/// any non-perfect node on the right edge of an older tree is recomputed from at most
/// `log2(size)` perfect nodes when a proof needs it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId {
    /// Height above the leaves (0 = leaf).
    pub level: u8,
    /// Position among the nodes of this level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// A node id.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }

    /// The level-0 node holding leaf `index`'s hash.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// The range of leaves `[first, end)` this node covers, or `None` when the id lies
    /// outside any tree of at most [`MAX_TREE_SIZE`] leaves.
    pub fn leaf_range(&self) -> Option<(u64, u64)> {
        let level = u32::from(self.level);
        if level > 62 {
            return None;
        }
        let first = u128::from(self.index) << level;
        let end = first + (1u128 << level);
        if end > u128::from(MAX_TREE_SIZE) {
            return None;
        }
        // Both fit: end <= 2^62.
        Some((first as u64, end as u64))
    }

    /// The node one level up that contains this one.
    pub fn parent(&self) -> NodeId {
        NodeId {
            level: self.level.saturating_add(1),
            index: self.index >> 1,
        }
    }

    /// The two children, or `None` for a leaf.
    pub fn children(&self) -> Option<(NodeId, NodeId)> {
        let level = self.level.checked_sub(1)?;
        let left = self.index.checked_mul(2)?;
        Some((NodeId::new(level, left), NodeId::new(level, left + 1)))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(level {}, index {})", self.level, self.index)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({}, {})", self.level, self.index)
    }
}

/// A stored node: its id and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Which perfect subtree.
    pub id: NodeId,
    /// Its RFC 6962 hash.
    pub hash: Hash,
}

/// Anything proofs can read node hashes from: a map filled by one database query, or a
/// [`MemoryStore`](crate::MemoryStore).
pub trait NodeLookup {
    /// The stored hash of `id`, or `None` when it is not available.
    fn node(&self, id: NodeId) -> Option<Hash>;
}

impl<S: BuildHasher> NodeLookup for HashMap<NodeId, Hash, S> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl NodeLookup for BTreeMap<NodeId, Hash> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl<T: NodeLookup + ?Sized> NodeLookup for &T {
    fn node(&self, id: NodeId) -> Option<Hash> {
        (**self).node(id)
    }
}

/// The perfect subtrees that make up leaves `[start, end)`, largest first, where `start` is a
/// multiple of the largest power of two not above `end - start` (true of a whole tree, where
/// `start = 0`, and of the right part of any node of an RFC 6962 tree).
///
/// The RFC 6962 hash of the range is then the right fold of their hashes (see [`fold_right`]).
pub(crate) fn right_edge(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let count = end.saturating_sub(start);
    let mut cursor = start;
    for level in (0..64u32).rev() {
        if count & (1u64 << level) != 0 {
            debug_assert_eq!(cursor % (1u64 << level), 0, "unaligned range");
            out.push(NodeId::new(level as u8, cursor >> level));
            cursor += 1u64 << level;
        }
    }
    out
}

/// `MTH` of a range given the hashes of its [`right_edge`] subtrees, left to right:
/// `H(a, H(b, H(c, d)))`. `None` for an empty list.
pub(crate) fn fold_right(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_edge_follows_the_binary_representation() {
        assert!(right_edge(0, 0).is_empty());
        assert_eq!(right_edge(0, 1), vec![NodeId::leaf(0)]);
        assert_eq!(
            right_edge(0, 7),
            vec![NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]
        );
        assert_eq!(right_edge(8, 13), vec![NodeId::new(2, 2), NodeId::leaf(12)]);
        assert_eq!(right_edge(0, 8), vec![NodeId::new(3, 0)]);
    }

    #[test]
    fn leaf_range_and_family() {
        let n = NodeId::new(3, 5);
        assert_eq!(n.leaf_range(), Some((40, 48)));
        assert_eq!(n.parent(), NodeId::new(4, 2));
        assert_eq!(n.children(), Some((NodeId::new(2, 10), NodeId::new(2, 11))));
        assert_eq!(NodeId::leaf(3).children(), None);
        assert_eq!(NodeId::new(63, 0).leaf_range(), None);
        assert_eq!(NodeId::new(62, 0).leaf_range(), Some((0, MAX_TREE_SIZE)));
        assert_eq!(NodeId::new(62, 1).leaf_range(), None);
        assert_eq!(n.to_string(), "(level 3, index 5)");
    }
}
