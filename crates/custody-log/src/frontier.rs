//! Appending leaves and recomputing a tree from its leaves.
//!
//! Both are the same operation: a binary counter over perfect subtrees. The frontier of a tree
//! of `n` leaves is its right edge, one perfect subtree per set bit of `n`; pushing a leaf
//! merges equal-sized subtrees like carrying a bit, and every merge completes one node that
//! will never change again. The ledger stores exactly those completed nodes on append, and
//! `custody-ledger verify` replays the leaves through a fresh frontier and compares what it
//! emits with what the database holds.

use crate::hash::{Hash, empty_root, node_hash};
use crate::node::{MAX_TREE_SIZE, Node, NodeId, NodeLookup, fold_right};
use crate::proof::{ProofError, root_node_ids};

/// The right edge of a tree: enough to append to it and to compute its root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Perfect subtrees on the right edge, largest (leftmost) first.
    nodes: Vec<Node>,
}

/// What an append produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Index given to the first appended leaf (the size before the append).
    pub first_index: u64,
    /// The tree size after the append.
    pub size: u64,
    /// The root after the append.
    pub root: Hash,
    /// Every node completed by the append (the new leaves' level-0 nodes and the interior
    /// nodes they filled), in the order they completed. Store all of them.
    pub nodes: Vec<Node>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// The stored nodes that make up the frontier of a tree of `size` leaves; fetch them and
    /// pass them to [`Frontier::from_nodes`].
    pub fn node_ids(size: u64) -> Result<Vec<NodeId>, ProofError> {
        root_node_ids(size)
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its stored nodes.
    pub fn from_nodes(size: u64, nodes: &impl NodeLookup) -> Result<Self, ProofError> {
        let nodes = Frontier::node_ids(size)?
            .into_iter()
            .map(|id| {
                nodes
                    .node(id)
                    .map(|hash| Node { id, hash })
                    .ok_or(ProofError::MissingNode(id))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Frontier { size, nodes })
    }

    /// Number of leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtrees on the right edge, largest first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The tree's root (`SHA-256("")` when empty).
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.nodes.iter().map(|n| n.hash).collect();
        fold_right(&hashes).unwrap_or_else(empty_root)
    }

    /// Appends one leaf hash and pushes every node it completes onto `completed`: the leaf's
    /// own level-0 node first, then each interior node upwards.
    pub fn push(&mut self, leaf: Hash, completed: &mut Vec<Node>) -> Result<(), ProofError> {
        if self.size >= MAX_TREE_SIZE {
            return Err(ProofError::TreeTooLarge {
                size: self.size.saturating_add(1),
            });
        }
        let mut carry = Node {
            id: NodeId::leaf(self.size),
            hash: leaf,
        };
        completed.push(carry);
        while let Some(last) = self.nodes.last().copied() {
            if last.id.level != carry.id.level {
                break;
            }
            self.nodes.pop();
            carry = Node {
                id: last.id.parent(),
                hash: node_hash(&last.hash, &carry.hash),
            };
            completed.push(carry);
        }
        self.nodes.push(carry);
        self.size += 1;
        Ok(())
    }

    /// Appends a batch of leaf hashes; returns the nodes to store and the new root. Costs one
    /// hash per new node (about two per leaf), never a pass over older leaves.
    pub fn append(&mut self, leaves: &[Hash]) -> Result<Appended, ProofError> {
        let new_size = self.size.saturating_add(leaves.len() as u64);
        if new_size > MAX_TREE_SIZE {
            return Err(ProofError::TreeTooLarge { size: new_size });
        }
        let first_index = self.size;
        let mut nodes = Vec::with_capacity(leaves.len() * 2 + 1);
        for leaf in leaves {
            self.push(*leaf, &mut nodes)?;
        }
        Ok(Appended {
            first_index,
            size: self.size,
            root: self.root(),
            nodes,
        })
    }
}

/// A stored node that differs from what the leaves say it must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMismatch {
    /// The node.
    pub id: NodeId,
    /// The hash recomputed from the leaves.
    pub expected: Hash,
    /// What the store holds (`None`: nothing).
    pub stored: Option<Hash>,
}

/// Compares nodes recomputed by [`Frontier::push`] with the stored ones, returning every
/// difference (missing or altered node).
pub fn compare_nodes(expected: &[Node], stored: &impl NodeLookup) -> Vec<NodeMismatch> {
    expected
        .iter()
        .filter_map(|n| {
            let got = stored.node(n.id);
            (got != Some(n.hash)).then_some(NodeMismatch {
                id: n.id,
                expected: n.hash,
                stored: got,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn push_emits_every_perfect_node_exactly_once() {
        let mut f = Frontier::new();
        let mut all = Vec::new();
        for i in 0..37u64 {
            f.push(leaf_hash(&i.to_be_bytes()), &mut all).unwrap();
        }
        // A tree of n leaves has 2n - popcount(n) perfect nodes.
        assert_eq!(all.len() as u64, 2 * 37 - u64::from(37u64.count_ones()));
        let map: HashMap<NodeId, Hash> = all.iter().map(|n| (n.id, n.hash)).collect();
        assert_eq!(map.len(), all.len());
        assert_eq!(f.nodes().len(), 37u64.count_ones() as usize);
        let rebuilt = Frontier::from_nodes(37, &map).unwrap();
        assert_eq!(rebuilt, f);
        assert_eq!(rebuilt.root(), f.root());
    }

    #[test]
    fn append_in_batches_equals_one_by_one() {
        let leaves: Vec<Hash> = (0..100u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut one = Frontier::new();
        let mut sink = Vec::new();
        for l in &leaves {
            one.push(*l, &mut sink).unwrap();
        }
        let mut batched = Frontier::new();
        let mut nodes = Vec::new();
        for chunk in leaves.chunks(7) {
            let a = batched.append(chunk).unwrap();
            assert_eq!(a.size, batched.size());
            nodes.extend(a.nodes);
        }
        assert_eq!(one, batched);
        assert_eq!(nodes, sink);
    }

    #[test]
    fn empty_frontier_has_the_empty_root() {
        assert_eq!(Frontier::new().root(), empty_root());
        assert_eq!(
            Frontier::from_nodes(0, &HashMap::new()).unwrap(),
            Frontier::new()
        );
    }

    #[test]
    fn compare_nodes_reports_missing_and_altered() {
        let mut f = Frontier::new();
        let mut nodes = Vec::new();
        for i in 0..4u64 {
            f.push(leaf_hash(&[i as u8]), &mut nodes).unwrap();
        }
        let mut stored: HashMap<NodeId, Hash> = nodes.iter().map(|n| (n.id, n.hash)).collect();
        assert!(compare_nodes(&nodes, &stored).is_empty());
        stored.insert(NodeId::new(1, 1), leaf_hash(b"forged"));
        stored.remove(&NodeId::leaf(0));
        let diffs = compare_nodes(&nodes, &stored);
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].id, NodeId::leaf(0));
        assert_eq!(diffs[0].stored, None);
        assert_eq!(diffs[1].id, NodeId::new(1, 1));
    }
}
