//! The node-store builder against ct-merkle's `MemoryBackedTree` and the RFC 9162 recursive
//! definitions, with every proof checked by this crate's verifier, sigstore-merkle and
//! ct-merkle's verifier. Historic sizes are served from one store of the largest size.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof as CtConsistency, InclusionProof as CtInclusion, RootHash};
use custody_log::{Hash, MemoryStore, leaf_hash};
use proptest::prelude::*;
use sha2_011::Sha256 as CtSha256;

use crate::common::{
    leaf_data, mth, rfc_path, rfc_proof, sigstore_consistency, sigstore_inclusion,
};

type CtTree = MemoryBackedTree<CtSha256, Vec<u8>>;

fn concat(path: &[Hash]) -> Vec<u8> {
    path.iter().flat_map(|h| h.to_bytes()).collect()
}

fn ct_root(tree: &CtTree) -> Hash {
    Hash::from_slice(tree.root().as_bytes().as_slice()).unwrap()
}

fn ct_root_hash(root: &Hash, size: u64) -> RootHash<CtSha256> {
    let out = ct_merkle::digest::Output::<CtSha256>::try_from(root.as_bytes().as_slice()).unwrap();
    RootHash::new(out, size)
}

fn store_of(n: u64) -> MemoryStore {
    MemoryStore::from_leaf_hashes((0..n).map(|i| leaf_hash(&leaf_data(i)))).unwrap()
}

/// Checks every inclusion and consistency proof of a tree of `n` leaves (served by `store`,
/// which may be larger) against ct-merkle's tree of exactly `n` leaves.
fn check_size(store: &MemoryStore, tree: &CtTree, n: u64, roots: &[Hash]) {
    let root = store.root_at(n).unwrap();
    assert_eq!(root, ct_root(tree), "root at size {n}");
    assert_eq!(root, roots[n as usize]);
    let ct_root_n = ct_root_hash(&root, n);
    for i in 0..n {
        let ours = store.inclusion_proof(i, n).unwrap();
        let theirs = tree.prove_inclusion(i as usize);
        assert_eq!(
            concat(&ours.path),
            theirs.as_bytes(),
            "inclusion {i} in {n}"
        );
        let leaf = leaf_hash(&leaf_data(i));
        ours.verify(&leaf, &root).unwrap();
        assert!(
            sigstore_inclusion(&leaf, i, n, &ours.path, &root),
            "sigstore {i}/{n}"
        );
        let ct_proof = CtInclusion::<CtSha256>::try_from_bytes(concat(&ours.path)).unwrap();
        ct_root_n
            .verify_inclusion(&leaf_data(i), i, &ct_proof)
            .unwrap();
    }
    for m in 1..=n {
        let ours = store.consistency_proof(m, n).unwrap();
        let theirs = tree.prove_consistency((n - m) as usize);
        assert_eq!(
            concat(&ours.path),
            theirs.as_bytes(),
            "consistency {m} to {n}"
        );
        let old_root = roots[m as usize];
        ours.verify(&old_root, &root).unwrap();
        assert!(
            sigstore_consistency(m, n, &ours.path, &old_root, &root),
            "sigstore {m}->{n}"
        );
        let ct_proof = CtConsistency::<CtSha256>::try_from_bytes(concat(&ours.path)).unwrap();
        ct_root_n
            .verify_consistency(&ct_root_hash(&old_root, m), &ct_proof)
            .unwrap();
    }
}

#[test]
fn every_proof_up_to_300_leaves_matches_ct_merkle_and_verifies_three_ways() {
    const N: u64 = 300;
    let store = store_of(N);
    let roots: Vec<Hash> = (0..=N).map(|n| store.root_at(n).unwrap()).collect();
    let mut tree = CtTree::new();
    assert_eq!(roots[0], ct_root(&tree));
    for n in 1..=N {
        tree.push(leaf_data(n - 1));
        check_size(&store, &tree, n, &roots);
    }
}

#[test]
fn proofs_match_the_rfc_9162_recursive_definitions() {
    let leaves: Vec<Hash> = (0..70).map(|i| leaf_hash(&leaf_data(i))).collect();
    let store = MemoryStore::from_leaf_hashes(leaves.iter().copied()).unwrap();
    for n in 1..=leaves.len() {
        let d = &leaves[..n];
        assert_eq!(store.root_at(n as u64).unwrap(), mth(d));
        for m in 0..n {
            assert_eq!(
                store.inclusion_proof(m as u64, n as u64).unwrap().path,
                rfc_path(m, d),
                "PATH({m}, D[{n}])"
            );
        }
        for m in 1..=n {
            assert_eq!(
                store.consistency_proof(m as u64, n as u64).unwrap().path,
                rfc_proof(m, d),
                "PROOF({m}, D[{n}])"
            );
        }
    }
}

#[test]
fn tampered_proofs_fail_in_all_three_verifiers() {
    let n = 77u64;
    let store = store_of(n);
    let root = store.root();
    for i in [0, 1, 31, 64, 76] {
        let leaf = leaf_hash(&leaf_data(i));
        let proof = store.inclusion_proof(i, n).unwrap();
        for k in 0..proof.path.len() {
            let mut bad = proof.clone();
            let mut bytes = bad.path[k].to_bytes();
            bytes[k % 32] ^= 0x01;
            bad.path[k] = Hash::new(bytes);
            assert!(bad.verify(&leaf, &root).is_err());
            assert!(!sigstore_inclusion(&leaf, i, n, &bad.path, &root));
        }
        // Wrong index or size.
        assert!(custody_log::verify_inclusion(&leaf, i ^ 1, n, &proof.path, &root).is_err());
        assert!(custody_log::verify_inclusion(&leaf, i, 2 * n, &proof.path, &root).is_err());
        let mut short = proof.path.clone();
        short.pop();
        assert!(custody_log::verify_inclusion(&leaf, i, n, &short, &root).is_err());
        assert!(!sigstore_inclusion(&leaf, i, n, &short, &root));
    }
    for m in [1, 2, 3, 32, 50, 76] {
        let old_root = store.root_at(m).unwrap();
        let proof = store.consistency_proof(m, n).unwrap();
        for k in 0..proof.path.len() {
            let mut bad = proof.clone();
            let mut bytes = bad.path[k].to_bytes();
            bytes[0] ^= 0x80;
            bad.path[k] = Hash::new(bytes);
            assert!(bad.verify(&old_root, &root).is_err(), "{m}: element {k}");
            assert!(!sigstore_consistency(m, n, &bad.path, &old_root, &root));
        }
        assert!(proof.verify(&root, &old_root).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random sizes up to 3000 leaves, served as historic sizes of a larger store.
    #[test]
    fn random_sizes_match_ct_merkle(n in 1u64..3000, extra in 0u64..200, picks in proptest::collection::vec(any::<u64>(), 8)) {
        let store = store_of(n + extra);
        let mut tree = CtTree::new();
        for i in 0..n {
            tree.push(leaf_data(i));
        }
        let root = store.root_at(n).unwrap();
        prop_assert_eq!(root, ct_root(&tree));
        for p in &picks {
            let i = p % n;
            let ours = store.inclusion_proof(i, n).unwrap();
            prop_assert_eq!(concat(&ours.path), tree.prove_inclusion(i as usize).as_bytes().to_vec());
            let leaf = leaf_hash(&leaf_data(i));
            prop_assert!(ours.verify(&leaf, &root).is_ok());
            prop_assert!(sigstore_inclusion(&leaf, i, n, &ours.path, &root));

            let m = 1 + p % n;
            let cons = store.consistency_proof(m, n).unwrap();
            prop_assert_eq!(concat(&cons.path), tree.prove_consistency((n - m) as usize).as_bytes().to_vec());
            let old_root = store.root_at(m).unwrap();
            prop_assert!(cons.verify(&old_root, &root).is_ok());
            prop_assert!(sigstore_consistency(m, n, &cons.path, &old_root, &root));
        }
    }
}
