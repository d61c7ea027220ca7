//! Inclusion and consistency proofs: which stored nodes a proof needs, how to assemble it from
//! them, and how a client checks it.
//!
//! Building follows ct-merkle: its `indices_for_inclusion_proof` and
//! `indices_for_consistency_proof` name the proof's nodes in the array-tree layout of RFC 9420
//! (node `2i` is leaf `i`; a node's level is its number of trailing one bits). Each such node
//! either is a perfect subtree, read from the store as it is, or sits on the right edge of a
//! tree whose size is not a power of two; then its hash is the right fold of the perfect
//! subtrees under it ([`right_edge`]). Checking uses the verification algorithms of RFC 9162
//! sections 2.1.3.2 and 2.1.4.2, written out here so the client side does not depend on the
//! builder.

use serde::{Deserialize, Serialize};

use crate::hash::{Hash, node_hash};
use crate::node::{MAX_TREE_SIZE, NodeId, NodeLookup, fold_right, right_edge};
use crate::store::StoreError;

/// Why a proof could not be built or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The tree size is beyond [`MAX_TREE_SIZE`].
    #[error("tree size {size} exceeds the maximum of {max} leaves", max = MAX_TREE_SIZE)]
    TreeTooLarge {
        /// The requested size.
        size: u64,
    },
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The old size of a consistency proof is larger than the new one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizesOutOfOrder {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// A consistency proof from the empty tree proves nothing (every tree extends it), so none
    /// is built or accepted; callers that trust size 0 simply adopt the new checkpoint.
    #[error("a consistency proof from tree size 0 is meaningless")]
    EmptyOldTree,
    /// The requested tree size is larger than what the store holds.
    #[error("tree size {size} is beyond the log's current size {current}")]
    BeyondCurrentSize {
        /// The requested size.
        size: u64,
        /// The log's size.
        current: u64,
    },
    /// A tree was recomputed from a different number of leaves than the log holds.
    #[error("recomputed {leaves} leaves but the log holds {size}")]
    LeafCountMismatch {
        /// Leaves fed in.
        leaves: u64,
        /// The log's size.
        size: u64,
    },
    /// A node the proof needs is not in the fetched set or the store.
    #[error("node {0} is missing from the store")]
    MissingNode(NodeId),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit path has the wrong number of hashes for this index and size.
    #[error("proof for {what} has {got} hashes, expected {expected}")]
    WrongPathLength {
        /// Which proof: `leaf I in tree size N` or `tree sizes O to N`.
        what: String,
        /// Hashes the shape requires.
        expected: usize,
        /// Hashes supplied.
        got: usize,
    },
    /// The inclusion proof leads to a different root.
    #[error(
        "inclusion proof of leaf {index} in tree size {size} leads to root {computed}, not {expected}"
    )]
    InclusionRootMismatch {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
        /// Root computed from the proof.
        computed: Hash,
        /// Root it should have reached.
        expected: Hash,
    },
    /// The consistency proof does not reproduce both roots.
    #[error(
        "consistency proof from tree size {old_size} to {new_size} does not reproduce the {which} root"
    )]
    ConsistencyRootMismatch {
        /// Older size.
        old_size: u64,
        /// Newer size.
        new_size: u64,
        /// `"old"` or `"new"`.
        which: &'static str,
    },
    /// A value given as raw bytes is not a 32-byte SHA-256 hash.
    #[error("{what} is {len} bytes long, expected a 32-byte SHA-256 hash")]
    HashLength {
        /// Which value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// Two roots claimed for the same size differ.
    #[error("tree size {size} has two different roots {first} and {second}")]
    SameSizeDifferentRoots {
        /// The size.
        size: u64,
        /// One root.
        first: Hash,
        /// The other.
        second: Hash,
    },
}

/// An RFC 9162 inclusion proof (`PATH(m, D[n])`): the audit path of leaf `index` in the tree
/// of the first `tree_size` leaves, ordered from the leaf's sibling upwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Leaf index (0-based).
    pub index: u64,
    /// Size of the tree the path leads to the root of.
    pub tree_size: u64,
    /// Sibling hashes, bottom to top.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// Checks that `leaf` is at `self.index` in the tree of `self.tree_size` leaves with `root`.
    pub fn verify(&self, leaf: &Hash, root: &Hash) -> Result<(), ProofError> {
        verify_inclusion(leaf, self.index, self.tree_size, &self.path, root)
    }
}

/// An RFC 9162 consistency proof (`PROOF(m, D[n])`) that the tree of `old_size` leaves is a
/// prefix of the tree of `new_size` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The older (smaller) size.
    pub old_size: u64,
    /// The newer size.
    pub new_size: u64,
    /// The proof's hashes in RFC order.
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that `old_root` (at `old_size`) and `new_root` (at `new_size`) are consistent.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), ProofError> {
        verify_consistency(self.old_size, self.new_size, &self.path, old_root, new_root)
    }
}

/// One hash of a proof, in terms of stored nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    /// A perfect subtree, read as it is.
    Perfect(NodeId),
    /// A node on the right edge of a non-perfect tree: leaves `[start, end)`, hashed as the
    /// right fold of its perfect parts.
    RightEdge { start: u64, end: u64 },
}

/// The nodes one proof (or root) is made of, in output order.
#[derive(Debug, Clone)]
struct Plan {
    elements: Vec<Element>,
}

impl Plan {
    /// Translates ct-merkle array-tree indices of a tree of `tree_size` leaves.
    fn from_array_indices(indices: &[u64], tree_size: u64) -> Plan {
        let elements = indices
            .iter()
            .map(|&i| array_index_element(i, tree_size))
            .collect();
        Plan { elements }
    }

    fn node_ids(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        for e in &self.elements {
            match *e {
                Element::Perfect(id) => out.push(id),
                Element::RightEdge { start, end } => out.extend(right_edge(start, end)),
            }
        }
        out
    }

    fn build(&self, nodes: &impl NodeLookup) -> Result<Vec<Hash>, ProofError> {
        let get = |id: NodeId| nodes.node(id).ok_or(ProofError::MissingNode(id));
        let mut out = Vec::with_capacity(self.elements.len());
        for e in &self.elements {
            match *e {
                Element::Perfect(id) => out.push(get(id)?),
                Element::RightEdge { start, end } => {
                    let parts = right_edge(start, end)
                        .into_iter()
                        .map(get)
                        .collect::<Result<Vec<_>, _>>()?;
                    // A right-edge element always covers at least one leaf.
                    out.extend(fold_right(&parts));
                }
            }
        }
        Ok(out)
    }
}

/// Maps node `i` of the RFC 9420 array layout, in a tree of `tree_size` leaves, to stored
/// nodes. Node `i` has level `k = trailing_ones(i)` and covers leaves `[p*2^k, (p+1)*2^k)`
/// with `p = i >> (k+1)`, cut at `tree_size`.
fn array_index_element(i: u64, tree_size: u64) -> Element {
    let level = i.trailing_ones();
    // Indices come from trees of at most 2^62 leaves, so level <= 62 and nothing overflows.
    let pos = i.checked_shr(level + 1).unwrap_or(0);
    let start = u128::from(pos) << level;
    let end = start + (1u128 << level);
    if end <= u128::from(tree_size) {
        Element::Perfect(NodeId::new(level as u8, pos))
    } else {
        Element::RightEdge {
            start: start as u64,
            end: tree_size,
        }
    }
}

fn check_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::TreeTooLarge { size });
    }
    Ok(())
}

fn inclusion_plan(index: u64, tree_size: u64) -> Result<Plan, ProofError> {
    check_size(tree_size)?;
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    // Cannot panic: 0 <= index < tree_size <= 2^62.
    let indices = ct_merkle::indices_for_inclusion_proof(tree_size, index);
    Ok(Plan::from_array_indices(&indices, tree_size))
}

fn consistency_plan(old_size: u64, new_size: u64) -> Result<Plan, ProofError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    // Cannot panic: 0 < old_size <= new_size <= 2^62.
    let indices = ct_merkle::indices_for_consistency_proof(old_size, new_size - old_size);
    Ok(Plan::from_array_indices(&indices, new_size))
}

fn root_plan(tree_size: u64) -> Result<Plan, ProofError> {
    check_size(tree_size)?;
    let elements = if tree_size == 0 {
        Vec::new()
    } else {
        vec![Element::RightEdge {
            start: 0,
            end: tree_size,
        }]
    };
    Ok(Plan { elements })
}

/// The stored nodes an inclusion proof of leaf `index` at `tree_size` is built from (at most
/// about `2 * log2(tree_size)`), so a database-backed caller can fetch them in one query.
pub fn inclusion_proof_node_ids(index: u64, tree_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(inclusion_plan(index, tree_size)?.node_ids())
}

/// Builds the inclusion proof of leaf `index` at any `tree_size` up to the log's size from
/// the nodes named by [`inclusion_proof_node_ids`].
pub fn build_inclusion_proof(
    index: u64,
    tree_size: u64,
    nodes: &impl NodeLookup,
) -> Result<InclusionProof, ProofError> {
    let path = inclusion_plan(index, tree_size)?.build(nodes)?;
    Ok(InclusionProof {
        index,
        tree_size,
        path,
    })
}

/// The stored nodes a consistency proof from `old_size` to `new_size` is built from.
pub fn consistency_proof_node_ids(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(consistency_plan(old_size, new_size)?.node_ids())
}

/// Builds the consistency proof from `old_size` to `new_size` (`0 < old_size <= new_size`)
/// from the nodes named by [`consistency_proof_node_ids`].
pub fn build_consistency_proof(
    old_size: u64,
    new_size: u64,
    nodes: &impl NodeLookup,
) -> Result<ConsistencyProof, ProofError> {
    let path = consistency_plan(old_size, new_size)?.build(nodes)?;
    Ok(ConsistencyProof {
        old_size,
        new_size,
        path,
    })
}

/// The stored nodes the root at `tree_size` is computed from: one per set bit of the size.
pub fn root_node_ids(tree_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(root_plan(tree_size)?.node_ids())
}

/// The root of the tree of the first `tree_size` leaves, from the nodes named by
/// [`root_node_ids`]; the empty tree's root is `SHA-256("")`.
pub fn build_root(tree_size: u64, nodes: &impl NodeLookup) -> Result<Hash, ProofError> {
    let hashes = root_plan(tree_size)?.build(nodes)?;
    Ok(hashes
        .first()
        .copied()
        .unwrap_or_else(crate::hash::empty_root))
}

/// Number of hashes in the inclusion proof of `index` at `size` (`index < size`), from the
/// split of RFC 9162 proofs into an inner part (below the point where the paths to `index`
/// and to the last leaf meet) and a border part (left siblings on the right edge).
fn inclusion_path_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Number of hashes in the consistency proof from `old` to `new` (`0 < old < new`).
fn consistency_path_len(old: u64, new: u64) -> usize {
    let shift = old.trailing_zeros();
    let inner = 64 - ((old - 1) ^ (new - 1)).leading_zeros();
    let border = (old - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let seed = usize::from(old != 1u64 << shift);
    seed + inner.saturating_sub(shift) as usize + border as usize
}

/// Verifies an inclusion proof with the algorithm of RFC 9162 section 2.1.3.2.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let expected = inclusion_path_len(index, tree_size);
    if path.len() != expected {
        return Err(ProofError::WrongPathLength {
            what: format!("leaf {index} in tree size {tree_size}"),
            expected,
            got: path.len(),
        });
    }
    let mut f_n = index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return Err(ProofError::WrongPathLength {
                what: format!("leaf {index} in tree size {tree_size}"),
                expected,
                got: path.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 || r != *root {
        return Err(ProofError::InclusionRootMismatch {
            index,
            size: tree_size,
            computed: r,
            expected: *root,
        });
    }
    Ok(())
}

/// Verifies a consistency proof with the algorithm of RFC 9162 section 2.1.4.2.
///
/// Equal sizes need an empty proof and equal roots. An old size of 0 is refused: the
/// transparency-dev vectors treat a consistency check from the empty tree as an error.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    path: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    let what = || format!("tree sizes {old_size} to {new_size}");
    if old_size == new_size {
        if !path.is_empty() {
            return Err(ProofError::WrongPathLength {
                what: what(),
                expected: 0,
                got: path.len(),
            });
        }
        if old_root != new_root {
            return Err(ProofError::SameSizeDifferentRoots {
                size: old_size,
                first: *old_root,
                second: *new_root,
            });
        }
        return Ok(());
    }
    let expected = consistency_path_len(old_size, new_size);
    if path.len() != expected || path.is_empty() {
        return Err(ProofError::WrongPathLength {
            what: what(),
            expected,
            got: path.len(),
        });
    }
    // Step 2: when the old tree is perfect its root is the proof's implicit first element.
    let (first, rest): (Hash, &[Hash]) = if old_size.is_power_of_two() {
        (*old_root, path)
    } else {
        (path[0], &path[1..])
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = first;
    let mut s_r = first;
    for c in rest {
        if s_n == 0 {
            return Err(ProofError::WrongPathLength {
                what: what(),
                expected,
                got: path.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if f_r != *old_root {
        return Err(ProofError::ConsistencyRootMismatch {
            old_size,
            new_size,
            which: "old",
        });
    }
    if s_n != 0 || s_r != *new_root {
        return Err(ProofError::ConsistencyRootMismatch {
            old_size,
            new_size,
            which: "new",
        });
    }
    Ok(())
}

fn raw_hash(what: &'static str, bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::from_slice(bytes).map_err(|_| ProofError::HashLength {
        what,
        len: bytes.len(),
    })
}

fn raw_path(path: &[impl AsRef<[u8]>]) -> Result<Vec<Hash>, ProofError> {
    path.iter()
        .map(|p| raw_hash("proof hash", p.as_ref()))
        .collect()
}

/// [`verify_inclusion`] over byte strings as they arrive in foreign JSON (the shape of Go's
/// `proof.VerifyInclusion`): every value must be a 32-byte hash.
pub fn verify_inclusion_bytes(
    leaf: &[u8],
    index: u64,
    tree_size: u64,
    path: &[impl AsRef<[u8]>],
    root: &[u8],
) -> Result<(), ProofError> {
    verify_inclusion(
        &raw_hash("leaf hash", leaf)?,
        index,
        tree_size,
        &raw_path(path)?,
        &raw_hash("root hash", root)?,
    )
}

/// [`verify_consistency`] over byte strings as they arrive in foreign JSON (the shape of Go's
/// `proof.VerifyConsistency`). As there, equal sizes only compare the roots, whatever their
/// length; otherwise every value must be a 32-byte hash.
pub fn verify_consistency_bytes(
    old_size: u64,
    new_size: u64,
    path: &[impl AsRef<[u8]>],
    old_root: &[u8],
    new_root: &[u8],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size == new_size && (old_root.len() != 32 || new_root.len() != 32) {
        if !path.is_empty() {
            return Err(ProofError::WrongPathLength {
                what: format!("tree sizes {old_size} to {new_size}"),
                expected: 0,
                got: path.len(),
            });
        }
        if old_root != new_root {
            return Err(raw_hash("old root hash", old_root)
                .and(raw_hash("new root hash", new_root))
                .err()
                .unwrap_or(ProofError::HashLength {
                    what: "root hash",
                    len: old_root.len(),
                }));
        }
        return Ok(());
    }
    verify_consistency(
        old_size,
        new_size,
        &raw_path(path)?,
        &raw_hash("old root hash", old_root)?,
        &raw_hash("new root hash", new_root)?,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::hash::leaf_hash;

    fn perfect_nodes(size: u64) -> HashMap<NodeId, Hash> {
        let mut map = HashMap::new();
        for i in 0..size {
            map.insert(NodeId::leaf(i), leaf_hash(&i.to_be_bytes()));
        }
        let mut level = 0u8;
        loop {
            let width = size >> (level + 1);
            if width == 0 {
                break;
            }
            for j in 0..width {
                let l = map[&NodeId::new(level, 2 * j)];
                let r = map[&NodeId::new(level, 2 * j + 1)];
                map.insert(NodeId::new(level + 1, j), node_hash(&l, &r));
            }
            level += 1;
        }
        map
    }

    #[test]
    fn array_indices_map_to_perfect_or_right_edge_nodes() {
        // Tree of 3 leaves: array nodes 0..5; node 3 (level 2) is the non-perfect root.
        assert_eq!(array_index_element(0, 3), Element::Perfect(NodeId::leaf(0)));
        assert_eq!(
            array_index_element(1, 3),
            Element::Perfect(NodeId::new(1, 0))
        );
        assert_eq!(array_index_element(4, 3), Element::Perfect(NodeId::leaf(2)));
        assert_eq!(
            array_index_element(3, 3),
            Element::RightEdge { start: 0, end: 3 }
        );
    }

    #[test]
    fn path_lengths_match_the_built_proofs() {
        for size in 1..70u64 {
            for index in 0..size {
                let ids = inclusion_plan(index, size).unwrap();
                assert_eq!(ids.elements.len(), inclusion_path_len(index, size));
            }
            for old in 1..size {
                let ids = consistency_plan(old, size).unwrap();
                assert_eq!(ids.elements.len(), consistency_path_len(old, size));
            }
        }
    }

    #[test]
    fn historic_sizes_use_only_perfect_nodes_of_that_size() {
        let store = perfect_nodes(100);
        for size in 1..=100u64 {
            let root = build_root(size, &store).unwrap();
            for index in 0..size {
                for id in inclusion_proof_node_ids(index, size).unwrap() {
                    let (_, end) = id.leaf_range().unwrap();
                    assert!(end <= size, "{id} is not complete at size {size}");
                }
                let proof = build_inclusion_proof(index, size, &store).unwrap();
                proof
                    .verify(&leaf_hash(&index.to_be_bytes()), &root)
                    .unwrap();
            }
        }
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        let store = perfect_nodes(4);
        assert!(matches!(
            inclusion_proof_node_ids(0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        ));
        assert!(matches!(
            inclusion_proof_node_ids(5, 4),
            Err(ProofError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            inclusion_proof_node_ids(0, u64::MAX),
            Err(ProofError::TreeTooLarge { .. })
        ));
        assert!(matches!(
            consistency_proof_node_ids(0, 4),
            Err(ProofError::EmptyOldTree)
        ));
        assert!(matches!(
            consistency_proof_node_ids(5, 4),
            Err(ProofError::SizesOutOfOrder { .. })
        ));
        assert!(matches!(
            build_inclusion_proof(0, 8, &store),
            Err(ProofError::MissingNode(_))
        ));
        assert_eq!(
            consistency_proof_node_ids(4, 4).unwrap(),
            Vec::<NodeId>::new()
        );
        assert_eq!(build_root(0, &store).unwrap(), crate::hash::empty_root());
        // Largest supported tree: planning must not overflow.
        assert!(
            !inclusion_proof_node_ids(MAX_TREE_SIZE - 1, MAX_TREE_SIZE)
                .unwrap()
                .is_empty()
        );
        assert!(
            !consistency_proof_node_ids(MAX_TREE_SIZE - 3, MAX_TREE_SIZE)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn verification_never_panics_on_extreme_sizes() {
        let h = leaf_hash(b"x");
        for (i, n) in [(u64::MAX - 1, u64::MAX), (0, u64::MAX), (1 << 63, u64::MAX)] {
            assert!(verify_inclusion(&h, i, n, &[h; 64], &h).is_err());
        }
        for (a, b) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
            assert!(verify_consistency(a, b, &[h; 64], &h, &h).is_err());
            assert!(verify_consistency(a, b, &[h; 3], &h, &h).is_err());
        }
    }
}
