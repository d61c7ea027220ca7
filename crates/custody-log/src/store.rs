//! Storage behind a trait, and an in-memory store.
//!
//! A proof needs a few dozen node hashes that the caller can name in advance
//! ([`inclusion_proof_node_ids`] and friends), so the storage trait has a single method: fetch
//! these ids in one round trip. The sync [`NodeReader`] suits in-memory and embedded stores;
//! [`AsyncNodeReader`] is the same for a service on an async database driver, and the
//! `*_async` helpers run the plan-fetch-build sequence over it without tying this crate to a
//! runtime.

use std::collections::HashMap;
use std::future::Future;

use crate::frontier::{Frontier, NodeMismatch, compare_nodes};
use crate::hash::Hash;
use crate::node::{Node, NodeId, NodeLookup};
use crate::proof::{
    ConsistencyProof, InclusionProof, ProofError, build_consistency_proof, build_inclusion_proof,
    build_root, consistency_proof_node_ids, inclusion_proof_node_ids, root_node_ids,
};

/// A storage failure, carried through proof building with its cause.
#[derive(Debug, thiserror::Error)]
#[error("reading tree nodes from the store failed: {0}")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync + 'static>);

impl StoreError {
    /// Wraps a backend error.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        StoreError(err.into())
    }
}

/// Reads stored nodes, many per call.
pub trait NodeReader {
    /// The stored hashes of `ids`; ids not stored are simply absent from the map.
    fn read_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError>;
}

/// [`NodeReader`] for stores reached through an async driver.
pub trait AsyncNodeReader {
    /// The stored hashes of `ids`; ids not stored are simply absent from the map.
    fn read_nodes(
        &self,
        ids: &[NodeId],
    ) -> impl Future<Output = Result<HashMap<NodeId, Hash>, StoreError>> + Send;
}

/// Inclusion proof of leaf `index` at `tree_size` with one read.
pub fn prove_inclusion<R: NodeReader + ?Sized>(
    reader: &R,
    index: u64,
    tree_size: u64,
) -> Result<InclusionProof, ProofError> {
    let nodes = reader.read_nodes(&inclusion_proof_node_ids(index, tree_size)?)?;
    build_inclusion_proof(index, tree_size, &nodes)
}

/// Consistency proof from `old_size` to `new_size` with one read.
pub fn prove_consistency<R: NodeReader + ?Sized>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, ProofError> {
    let nodes = reader.read_nodes(&consistency_proof_node_ids(old_size, new_size)?)?;
    build_consistency_proof(old_size, new_size, &nodes)
}

/// Root at `tree_size` with one read.
pub fn root_at<R: NodeReader + ?Sized>(reader: &R, tree_size: u64) -> Result<Hash, ProofError> {
    let nodes = reader.read_nodes(&root_node_ids(tree_size)?)?;
    build_root(tree_size, &nodes)
}

/// The frontier of the tree of `size` leaves with one read, ready to append to.
pub fn load_frontier<R: NodeReader + ?Sized>(
    reader: &R,
    size: u64,
) -> Result<Frontier, ProofError> {
    let nodes = reader.read_nodes(&Frontier::node_ids(size)?)?;
    Frontier::from_nodes(size, &nodes)
}

/// [`prove_inclusion`] over an [`AsyncNodeReader`].
pub async fn prove_inclusion_async<R: AsyncNodeReader + Sync + ?Sized>(
    reader: &R,
    index: u64,
    tree_size: u64,
) -> Result<InclusionProof, ProofError> {
    let ids = inclusion_proof_node_ids(index, tree_size)?;
    let nodes = reader.read_nodes(&ids).await?;
    build_inclusion_proof(index, tree_size, &nodes)
}

/// [`prove_consistency`] over an [`AsyncNodeReader`].
pub async fn prove_consistency_async<R: AsyncNodeReader + Sync + ?Sized>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<ConsistencyProof, ProofError> {
    let ids = consistency_proof_node_ids(old_size, new_size)?;
    let nodes = reader.read_nodes(&ids).await?;
    build_consistency_proof(old_size, new_size, &nodes)
}

/// [`root_at`] over an [`AsyncNodeReader`].
pub async fn root_at_async<R: AsyncNodeReader + Sync + ?Sized>(
    reader: &R,
    tree_size: u64,
) -> Result<Hash, ProofError> {
    let ids = root_node_ids(tree_size)?;
    let nodes = reader.read_nodes(&ids).await?;
    build_root(tree_size, &nodes)
}

/// [`load_frontier`] over an [`AsyncNodeReader`].
pub async fn load_frontier_async<R: AsyncNodeReader + Sync + ?Sized>(
    reader: &R,
    size: u64,
) -> Result<Frontier, ProofError> {
    let ids = Frontier::node_ids(size)?;
    let nodes = reader.read_nodes(&ids).await?;
    Frontier::from_nodes(size, &nodes)
}

/// A whole log's nodes in memory: for tests, offline tooling and small logs.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    nodes: HashMap<NodeId, Hash>,
    frontier: Frontier,
}

impl MemoryStore {
    /// An empty log.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A log holding these leaf hashes in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Result<Self, ProofError> {
        let mut store = MemoryStore::new();
        let mut completed = Vec::new();
        for leaf in leaves {
            completed.clear();
            store.frontier.push(leaf, &mut completed)?;
            store.nodes.extend(completed.iter().map(|n| (n.id, n.hash)));
        }
        Ok(store)
    }

    /// Appends leaf hashes; returns the new root.
    pub fn append(&mut self, leaves: &[Hash]) -> Result<Hash, ProofError> {
        let appended = self.frontier.append(leaves)?;
        self.nodes
            .extend(appended.nodes.iter().map(|n| (n.id, n.hash)));
        Ok(appended.root)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Number of stored nodes (`2n - popcount(n)` for `n` leaves).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every stored node, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        self.nodes.iter().map(|(&id, &hash)| Node { id, hash })
    }

    /// Overwrites one stored node without touching the frontier. This exists to load node
    /// sets exported elsewhere and to let tests tamper with a log the way an attacker with
    /// database access would.
    pub fn insert_node(&mut self, node: Node) {
        self.nodes.insert(node.id, node.hash);
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::BeyondCurrentSize {
                size,
                current: self.size(),
            });
        }
        Ok(())
    }

    /// The root at any `tree_size` up to the current size.
    pub fn root_at(&self, tree_size: u64) -> Result<Hash, ProofError> {
        self.check_size(tree_size)?;
        build_root(tree_size, &self.nodes)
    }

    /// Inclusion proof of leaf `index` at any `tree_size` up to the current size.
    pub fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, ProofError> {
        self.check_size(tree_size)?;
        build_inclusion_proof(index, tree_size, &self.nodes)
    }

    /// Consistency proof between any two sizes up to the current size.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<ConsistencyProof, ProofError> {
        self.check_size(new_size)?;
        build_consistency_proof(old_size, new_size, &self.nodes)
    }

    /// Recomputes the tree from `leaves` (which must be this log's leaf hashes, from wherever
    /// the entries live) and reports every stored node that is missing or altered, plus whether
    /// fails when the number of leaves is not the log's size.
    pub fn audit(
        &self,
        leaves: impl IntoIterator<Item = Hash>,
    ) -> Result<Vec<NodeMismatch>, ProofError> {
        let mut frontier = Frontier::new();
        let mut expected = Vec::new();
        let mut mismatches = Vec::new();
        for leaf in leaves {
            expected.clear();
            frontier.push(leaf, &mut expected)?;
            mismatches.extend(compare_nodes(&expected, &self.nodes));
        }
        if frontier.size() != self.size() {
            return Err(ProofError::LeafCountMismatch {
                leaves: frontier.size(),
                size: self.size(),
            });
        }
        Ok(mismatches)
    }
}

impl NodeLookup for MemoryStore {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.nodes.get(&id).copied()
    }
}

impl NodeReader for MemoryStore {
    fn read_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        Ok(ids
            .iter()
            .filter_map(|id| self.nodes.get(id).map(|h| (*id, *h)))
            .collect())
    }
}

impl<S: std::hash::BuildHasher> NodeReader for HashMap<NodeId, Hash, S> {
    fn read_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        Ok(ids
            .iter()
            .filter_map(|id| self.get(id).map(|h| (*id, *h)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn memory_store_serves_historic_sizes() {
        let mut store = MemoryStore::new();
        let mut roots = vec![store.root()];
        for i in 0..40u64 {
            roots.push(store.append(&[leaf_hash(&i.to_be_bytes())]).unwrap());
        }
        for (size, root) in roots.iter().enumerate() {
            assert_eq!(store.root_at(size as u64).unwrap(), *root);
            assert_eq!(root_at(&store, size as u64).unwrap(), *root);
        }
        assert!(matches!(
            store.inclusion_proof(0, 41),
            Err(ProofError::BeyondCurrentSize {
                size: 41,
                current: 40
            })
        ));
        let p = prove_consistency(&store, 13, 40).unwrap();
        p.verify(&roots[13], &roots[40]).unwrap();
        let f = load_frontier(&store, 25).unwrap();
        assert_eq!(f.root(), roots[25]);
    }

    #[test]
    fn audit_finds_a_tampered_node() {
        let leaves: Vec<Hash> = (0..20u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut store = MemoryStore::from_leaf_hashes(leaves.clone()).unwrap();
        assert!(store.audit(leaves.clone()).unwrap().is_empty());
        store.insert_node(Node {
            id: NodeId::new(2, 1),
            hash: leaf_hash(b"evil"),
        });
        let report = store.audit(leaves.clone()).unwrap();
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].id, NodeId::new(2, 1));
        assert!(store.audit(leaves[..19].to_vec()).is_err());
    }

    /// An async store, driven without a runtime: the futures are ready at once.
    struct AsyncMemory(MemoryStore);

    impl AsyncNodeReader for AsyncMemory {
        async fn read_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
            NodeReader::read_nodes(&self.0, ids)
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn async_helpers_match_the_sync_ones() {
        let store =
            MemoryStore::from_leaf_hashes((0..50u64).map(|i| leaf_hash(&i.to_be_bytes()))).unwrap();
        let sync_incl = prove_inclusion(&store, 17, 41).unwrap();
        let sync_cons = prove_consistency(&store, 9, 41).unwrap();
        let a = AsyncMemory(store);
        assert_eq!(
            block_on(prove_inclusion_async(&a, 17, 41)).unwrap(),
            sync_incl
        );
        assert_eq!(
            block_on(prove_consistency_async(&a, 9, 41)).unwrap(),
            sync_cons
        );
        assert_eq!(
            block_on(root_at_async(&a, 41)).unwrap(),
            a.0.root_at(41).unwrap()
        );
        assert_eq!(
            block_on(load_frontier_async(&a, 50)).unwrap().root(),
            a.0.root()
        );
    }

    struct Failing;
    impl NodeReader for Failing {
        fn read_nodes(&self, _: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
            Err(StoreError::new("database is locked"))
        }
    }

    #[test]
    fn store_errors_surface_with_their_cause() {
        let err = prove_inclusion(&Failing, 0, 5).unwrap_err();
        assert!(matches!(err, ProofError::Store(_)));
        assert!(err.to_string().contains("database is locked"), "{err}");
    }
}
