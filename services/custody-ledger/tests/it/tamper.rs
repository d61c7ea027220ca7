//! Tamper evidence: an entry or node changed directly in the database is found by the audit
//! (`custody-ledger verify`), and a client holding an older checkpoint gets a consistency
//! proof that fails.

use custody_ledger::{ApiConfig, Db};
use custody_log::{Hash, MemoryStore, leaf_hash};

use crate::support::*;

async fn exec(db: &Db, sql: &str, a: Vec<u8>, b: i64) {
    let q = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        Db::Sqlite(p) => {
            sqlx::query(q).bind(a).bind(b).execute(p).await.unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query(q).bind(a).bind(b).execute(p).await.unwrap();
        }
    }
}

async fn consistency_holds(l: &Ledger, old: u64, old_root: &Hash) -> bool {
    let (s, v) = l
        .get(&format!("/api/v1/proofs/consistency?first={old}"))
        .await;
    if s != axum::http::StatusCode::OK {
        return false;
    }
    let path: Vec<Hash> = v["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect();
    let new_root = Hash::from_hex(v["second_root"].as_str().unwrap()).unwrap();
    let ours = custody_log::verify_consistency(
        old,
        v["second"].as_u64().unwrap(),
        &path,
        old_root,
        &new_root,
    )
    .is_ok();
    let theirs = sigstore_consistency(
        old,
        v["second"].as_u64().unwrap(),
        &path,
        old_root,
        &new_root,
    );
    assert_eq!(ours, theirs, "custody-log and sigstore-merkle disagree");
    ours
}

async fn setup(l: &Ledger) -> (u64, Hash, Vec<serde_json::Value>) {
    let m = digest("tamper image");
    let envs: Vec<_> = (0..6).map(|n| review(&l.keys.reviewer, &m, n)).collect();
    let r = l.submit(&envs[..4]).await;
    let (size, root) = check_receipt(l, &r[3], Some(&envs[3]));
    l.submit(&envs[4..]).await;
    assert!(consistency_holds(l, size, &root).await);
    assert!(
        custody_ledger::audit(&l.db, &l.identity)
            .await
            .unwrap()
            .ok()
    );
    (size, root, envs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_node_is_reported_and_breaks_consistency() {
    on_engines("tamper_node", ApiConfig::default(), |l| async move {
        let (size, root, _) = setup(&l).await;
        // Rewrite the level-1 node over leaves 2 and 3 (inside the tree of size 4)...
        exec(
            &l.db,
            "UPDATE nodes SET hash = $1 WHERE level = 1 AND idx = $2",
            vec![9u8; 32],
            1,
        )
        .await;
        let report = custody_ledger::audit(&l.db, &l.identity).await.unwrap();
        assert!(!report.ok());
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("node (level 1, index 1)")),
            "{:?}",
            report.problems
        );
        // ...so the inclusion proof of leaf 0 at size 4 no longer leads to the root the
        // client holds.
        let (_, v) = l.get("/api/v1/proofs/inclusion?index=0&tree_size=4").await;
        let path: Vec<Hash> = v["audit_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        let leaf = Hash::from_hex(v["leaf_hash"].as_str().unwrap()).unwrap();
        assert!(custody_log::verify_inclusion(&leaf, 0, 4, &path, &root).is_err());
        assert!(!sigstore_inclusion(&leaf, 0, 4, &path, &root));
        // And the node over leaves 4 and 5, which the proof from size 4 to 6 is made of.
        exec(
            &l.db,
            "UPDATE nodes SET hash = $1 WHERE level = 1 AND idx = $2",
            vec![7u8; 32],
            2,
        )
        .await;
        assert!(!consistency_holds(&l, size, &root).await, "{}", l.engine);
        let report = custody_ledger::audit(&l.db, &l.identity).await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("node (level 1, index 2)")),
            "{:?}",
            report.problems
        );
        // The sequencer refuses to append onto a frontier that does not match the tree head.
        let (s, v) = l
            .post_json(
                "/api/v1/entries",
                Some(&l.writer),
                &serde_json::json!({"envelopes": [review(&l.keys.reviewer, &digest("after"), 1)]}),
            )
            .await;
        assert_eq!(s, axum::http::StatusCode::INTERNAL_SERVER_ERROR, "{v}");
        assert_eq!(v["error"]["code"], "internal");
        assert!(
            !v["error"]["message"].as_str().unwrap().contains("frontier"),
            "causes are not echoed"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_entry_is_reported_even_when_the_tree_is_recomputed() {
    on_engines("tamper_entry", ApiConfig::default(), |l| async move {
        let (size, root, envs) = setup(&l).await;
        // The attacker swaps entry 2 for another validly signed envelope...
        let forged = review(&l.keys.reviewer, &digest("other image"), 2);
        let canonical = custody_attest::Envelope::from_json(&serde_json::to_vec(&forged).unwrap())
            .unwrap()
            .to_json();
        exec(
            &l.db,
            "UPDATE entries SET canonical = $1 WHERE idx = $2",
            canonical.clone(),
            2,
        )
        .await;
        let report = custody_ledger::audit(&l.db, &l.identity).await.unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains("entry 2")),
            "{:?}",
            report.problems
        );

        // ...and then recomputes every node, the leaf hash and the tree head so that the
        // database is self-consistent again.
        let mut leaves: Vec<Hash> = envs
            .iter()
            .map(|e| {
                leaf_hash(
                    &custody_attest::Envelope::from_json(&serde_json::to_vec(e).unwrap())
                        .unwrap()
                        .to_json(),
                )
            })
            .collect();
        leaves[2] = leaf_hash(&canonical);
        exec(
            &l.db,
            "UPDATE entries SET leaf_hash = $1 WHERE idx = $2",
            leaves[2].as_bytes().to_vec(),
            2,
        )
        .await;
        let store = MemoryStore::from_leaf_hashes(leaves.iter().copied()).unwrap();
        for n in store.nodes() {
            let sql = format!(
                "UPDATE nodes SET hash = $1 WHERE level = {} AND idx = $2",
                n.id.level
            );
            exec(&l.db, &sql, n.hash.as_bytes().to_vec(), n.id.index as i64).await;
        }
        exec(
            &l.db,
            "UPDATE tree_head SET root_hash = $1 WHERE id = $2",
            store.root().as_bytes().to_vec(),
            1,
        )
        .await;
        exec(
            &l.db,
            "DELETE FROM checkpoints WHERE root_hash = $1 OR tree_size = $2",
            vec![],
            6,
        )
        .await;
        // A client holding the checkpoint of size 4 notices: the new tree is not an extension.
        assert!(!consistency_holds(&l, size, &root).await, "{}", l.engine);
        // The audit still reports the checkpoints handed out before.
        let report = custody_ledger::audit(&l.db, &l.identity).await.unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("checkpoint at tree size 4")),
            "{:?}",
            report.problems
        );
    })
    .await;
}
