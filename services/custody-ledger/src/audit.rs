//! `custody-ledger verify`: replays every stored leaf through a fresh frontier and checks
//! each entry's leaf hash, every stored node, the tree head and every checkpoint handed out.

use std::collections::{BTreeMap, HashMap};

use custody_log::{AsyncNodeReader as _, Frontier, Hash, NodeId, SignedCheckpoint, leaf_hash};

use crate::db::Db;
use crate::log::LogIdentity;
use crate::on_db;
use crate::store::DbNodes;
use crate::util::to_u64;

/// What the audit found.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// Leaves replayed.
    pub entries: u64,
    /// Stored nodes compared.
    pub nodes_checked: u64,
    /// Checkpoints checked.
    pub checkpoints_checked: u64,
    /// Every discrepancy, one line each, naming the index or node.
    pub problems: Vec<String>,
}

impl AuditReport {
    /// Whether nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Why the audit could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading failed.
    #[error("audit: database: {0}")]
    Db(#[from] sqlx::Error),
    /// Reading nodes failed.
    #[error("audit: {0}")]
    Store(String),
}

const PAGE: i64 = 5000;

/// Runs the audit.
pub async fn audit(db: &Db, identity: &LogIdentity) -> Result<AuditReport, AuditError> {
    let mut report = AuditReport::default();
    let (head_size, head_root): (i64, Vec<u8>) = on_db!(db, pool => {
        sqlx::query_as("SELECT tree_size, root_hash FROM tree_head WHERE id = 1")
            .fetch_one(pool)
            .await?
    });
    let head_size = to_u64(head_size);
    let checkpoints: Vec<(i64, Vec<u8>, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT tree_size, root_hash, note FROM checkpoints ORDER BY tree_size")
            .fetch_all(pool)
            .await?
    });
    let mut wanted: BTreeMap<u64, Vec<(Vec<u8>, String)>> = BTreeMap::new();
    let verifier = identity.vkey().parse::<custody_log::VerifierKey>().ok();
    for (size, root, note) in checkpoints {
        report.checkpoints_checked += 1;
        let size = to_u64(size);
        match (SignedCheckpoint::parse(&note), &verifier) {
            (Ok(signed), Some(v)) => match signed.verify_origin(v, identity.origin()) {
                Ok(cp) => {
                    if cp.size() != size || cp.root().as_bytes().as_slice() != root.as_slice() {
                        report.problems.push(format!(
                            "checkpoint at tree size {size}: the signed note says size {} root {}, the row says root {}",
                            cp.size(),
                            cp.root(),
                            hex::encode(&root)
                        ));
                    }
                }
                Err(e) => report
                    .problems
                    .push(format!("checkpoint at tree size {size}: signature: {e}")),
            },
            (Err(e), _) => report.problems.push(format!(
                "checkpoint at tree size {size}: does not parse: {e}"
            )),
            (_, None) => report
                .problems
                .push("log key does not give a note verifier".to_owned()),
        }
        if size > head_size {
            report.problems.push(format!(
                "checkpoint at tree size {size} is beyond the tree head's size {head_size}"
            ));
        }
        wanted.entry(size).or_default().push((root, note));
    }

    let mut frontier = Frontier::new();
    let mut expected_index: u64 = 0;
    let mut after: i64 = -1;
    loop {
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = on_db!(db, pool => {
            sqlx::query_as(
                "SELECT idx, leaf_hash, canonical FROM entries WHERE idx > $1 ORDER BY idx LIMIT $2",
            )
            .bind(after)
            .bind(PAGE)
            .fetch_all(pool)
            .await?
        });
        if rows.is_empty() {
            break;
        }
        let mut completed = Vec::new();
        for (idx, stored_leaf, canonical) in &rows {
            after = *idx;
            let idx = to_u64(*idx);
            if idx != expected_index {
                report.problems.push(format!(
                    "entries jump from index {} to {idx}: {} missing",
                    expected_index.saturating_sub(1),
                    idx.saturating_sub(expected_index)
                ));
                expected_index = idx;
            }
            let computed = leaf_hash(canonical);
            if computed.as_bytes().as_slice() != stored_leaf.as_slice() {
                report.problems.push(format!(
                    "entry {idx}: leaf hash column {} does not match its content (hash {computed})",
                    hex::encode(stored_leaf)
                ));
            }
            // The tree is recomputed from the content, so a changed entry shows up in its
            // level-0 node and every node above it too.
            if frontier.push(computed, &mut completed).is_err() {
                report.problems.push(format!("entry {idx}: tree too large"));
                break;
            }
            expected_index += 1;
            report.entries += 1;
            if let Some(list) = wanted.get(&frontier.size()) {
                let root = frontier.root();
                for (stored_root, _) in list {
                    if stored_root.as_slice() != root.as_bytes().as_slice() {
                        report.problems.push(format!(
                            "checkpoint at tree size {}: root {} differs from the root recomputed from the leaves {root}",
                            frontier.size(),
                            hex::encode(stored_root)
                        ));
                    }
                }
            }
        }
        let ids: Vec<NodeId> = completed.iter().map(|n| n.id).collect();
        let stored: HashMap<NodeId, Hash> = DbNodes(db)
            .read_nodes(&ids)
            .await
            .map_err(|e| AuditError::Store(e.to_string()))?;
        report.nodes_checked += ids.len() as u64;
        for m in custody_log::compare_nodes(&completed, &stored) {
            report.problems.push(match m.stored {
                Some(s) => format!(
                    "node {}: stored hash {s} differs from the recomputed {}",
                    m.id, m.expected
                ),
                None => format!("node {}: missing (recomputed {})", m.id, m.expected),
            });
        }
        if report.problems.len() > 10_000 {
            report.problems.push("too many problems; stopped".into());
            return Ok(report);
        }
    }
    if frontier.size() != head_size {
        report.problems.push(format!(
            "tree head says {head_size} leaves, the entries table holds {}",
            frontier.size()
        ));
    } else if frontier.root().as_bytes().as_slice() != head_root.as_slice() {
        report.problems.push(format!(
            "tree head root {} differs from the root recomputed from the leaves {}",
            hex::encode(&head_root),
            frontier.root()
        ));
    }
    let node_count: (i64,) = on_db!(db, pool => {
        sqlx::query_as("SELECT COUNT(*) FROM nodes").fetch_one(pool).await?
    });
    let n = frontier.size();
    let expected_nodes = 2 * n - u64::from(n.count_ones());
    if to_u64(node_count.0) != expected_nodes {
        report.problems.push(format!(
            "nodes table holds {} rows; a tree of {n} leaves has {expected_nodes} stored nodes",
            node_count.0
        ));
    }
    Ok(report)
}
