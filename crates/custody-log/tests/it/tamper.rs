//! A log changed behind the service's back: what the ledger's `verify` and clients see.

use custody_log::{
    Checkpoint, Hash, KeyName, MemoryStore, Node, NodeId, SignedCheckpoint, SignerKey, TrustError,
    TrustedCheckpoint, leaf_hash,
};

const ORIGIN: &str = "ledger.custody.example/log";

fn key() -> SignerKey {
    SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[9; 32])
}

fn leaves(n: u64, rewrite: Option<u64>) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            if Some(i) == rewrite {
                leaf_hash(b"rewritten entry")
            } else {
                leaf_hash(&i.to_be_bytes())
            }
        })
        .collect()
}

fn checkpoint(store: &MemoryStore, size: u64) -> custody_log::VerifiedCheckpoint {
    let k = key();
    let cp = Checkpoint::new(ORIGIN, size, store.root_at(size).unwrap()).unwrap();
    SignedCheckpoint::sign(&cp, &k)
        .unwrap()
        .verify(&k.verifier())
        .unwrap()
}

#[test]
fn an_altered_node_is_reported_by_the_audit_and_breaks_proofs_through_it() {
    let honest = leaves(100, None);
    let mut store = MemoryStore::from_leaf_hashes(honest.clone()).unwrap();
    let signed_root = store.root();
    let target = NodeId::new(3, 2); // leaves 16..24
    store.insert_node(Node {
        id: target,
        hash: leaf_hash(b"altered"),
    });
    let report = store.audit(honest.iter().copied()).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].id, target);
    // Inclusion proofs that use the altered node (leaves 24..32 have it as a sibling) no longer
    // reach the signed root.
    for i in 24..32 {
        let proof = store.inclusion_proof(i, 100).unwrap();
        assert!(proof.verify(&honest[i as usize], &signed_root).is_err());
    }
    // Proofs that do not use it still do, which is why the audit recomputes every node.
    for i in [5, 90] {
        let proof = store.inclusion_proof(i, 100).unwrap();
        proof.verify(&honest[i as usize], &signed_root).unwrap();
    }
}

#[test]
fn a_rewritten_history_fails_the_consistency_check_of_an_older_checkpoint() {
    let honest = MemoryStore::from_leaf_hashes(leaves(60, None)).unwrap();
    let trusted = TrustedCheckpoint::from(&checkpoint(&honest, 60));

    // The operator (or an attacker with the key and the database) rewrites entry 10 and
    // recomputes every node, then keeps appending and signs the result.
    let forged = MemoryStore::from_leaf_hashes(leaves(100, Some(10))).unwrap();
    let new = checkpoint(&forged, 100);
    let proof = forged.consistency_proof(60, 100).unwrap();
    let err = trusted.advance(&new, &proof.path).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Inconsistent {
                trusted_size: 60,
                new_size: 100,
                ..
            }
        ),
        "{err}"
    );

    // Serving the forged tree at the trusted size is a fork.
    let same_size = checkpoint(&forged, 60);
    assert!(matches!(
        trusted.advance(&same_size, &[]),
        Err(TrustError::Fork { size: 60, .. })
    ));

    // Going back to before the trusted size is a rollback, even with a valid proof.
    let older = checkpoint(&honest, 40);
    let p = honest.consistency_proof(40, 60).unwrap();
    assert!(matches!(
        trusted.advance(&older, &p.path),
        Err(TrustError::Rollback { .. })
    ));

    // The honest continuation advances.
    let grown = MemoryStore::from_leaf_hashes(leaves(100, None)).unwrap();
    let next = trusted
        .advance(
            &checkpoint(&grown, 100),
            &grown.consistency_proof(60, 100).unwrap().path,
        )
        .unwrap();
    assert_eq!(next.size, 100);
}
