//! Reads of the log: the tree head, stored nodes (for proofs), checkpoints and entries.
//!
//! Proofs are planned by custody-log, which names the O(log n) stored perfect nodes they are
//! built from; those are fetched in one query and never recomputed from leaves.

use std::collections::HashMap;

use custody_log::{
    AsyncNodeReader, ConsistencyProof, Hash, InclusionProof, NodeId, StoreError,
    prove_consistency_async,
};

use crate::db::Db;
use crate::error::ApiError;
use crate::log::LogIdentity;
use crate::on_db;
use crate::util::{now_millis, to_i64, to_u64};

/// Reads nodes from the database (one query per call).
pub(crate) struct DbNodes<'a>(pub &'a Db);

/// The OR-chain that selects `ids` from `nodes`, with placeholders starting at `$1`.
pub(crate) fn node_filter(count: usize) -> String {
    let mut sql = String::from("SELECT level, idx, hash FROM nodes WHERE ");
    for i in 0..count {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str(&format!(
            "(level = ${} AND idx = ${})",
            2 * i + 1,
            2 * i + 2
        ));
    }
    sql
}

pub(crate) fn rows_to_nodes(rows: Vec<(i64, i64, Vec<u8>)>) -> HashMap<NodeId, Hash> {
    rows.into_iter()
        .filter_map(|(level, idx, hash)| {
            let level = u8::try_from(level).ok()?;
            let hash = Hash::from_slice(&hash).ok()?;
            Some((NodeId::new(level, to_u64(idx)), hash))
        })
        .collect()
}

impl AsyncNodeReader for DbNodes<'_> {
    async fn read_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(200) {
            let sql = node_filter(chunk.len());
            let rows: Vec<(i64, i64, Vec<u8>)> = on_db!(self.0, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(i64::from(id.level)).bind(to_i64(id.index).unwrap_or(i64::MAX));
                }
                q.fetch_all(pool).await.map_err(StoreError::new)?
            });
            out.extend(rows_to_nodes(rows));
        }
        Ok(out)
    }
}

/// The current tree size and root.
pub(crate) async fn head(db: &Db) -> Result<(u64, Hash), ApiError> {
    let (size, root): (i64, Vec<u8>) = on_db!(db, pool => {
        sqlx::query_as("SELECT tree_size, root_hash FROM tree_head WHERE id = 1")
            .fetch_one(pool)
            .await?
    });
    let root = Hash::from_slice(&root).map_err(ApiError::internal)?;
    Ok((to_u64(size), root))
}

/// Creates the tree head row of an empty log if missing.
pub(crate) async fn init_head(db: &Db) -> Result<(), sqlx::Error> {
    let empty = custody_log::empty_root();
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO tree_head (id, tree_size, root_hash, updated_at) VALUES (1, 0, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(empty.as_bytes().as_slice())
        .bind(now_millis())
        .execute(pool)
        .await?;
    });
    Ok(())
}

fn proof_error(e: custody_log::ProofError) -> ApiError {
    match e {
        custody_log::ProofError::Store(e) => ApiError::internal(e),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// The signed checkpoint of `size` (which must not exceed the head), stored so that every
/// checkpoint ever handed out can be audited later.
pub(crate) async fn checkpoint_at(
    db: &Db,
    identity: &LogIdentity,
    size: u64,
) -> Result<(String, Hash), ApiError> {
    let size_i = to_i64(size).ok_or_else(|| ApiError::BadRequest("tree size too large".into()))?;
    let row: Option<(String, Vec<u8>)> = on_db!(db, pool => {
        sqlx::query_as("SELECT note, root_hash FROM checkpoints WHERE tree_size = $1")
            .bind(size_i)
            .fetch_optional(pool)
            .await?
    });
    if let Some((note, root)) = row {
        return Ok((note, Hash::from_slice(&root).map_err(ApiError::internal)?));
    }
    let root = custody_log::root_at_async(&DbNodes(db), size)
        .await
        .map_err(proof_error)?;
    let note = identity
        .sign_checkpoint(size, root)
        .map_err(ApiError::internal)?;
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO checkpoints (tree_size, root_hash, note, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING",
        )
        .bind(size_i)
        .bind(root.as_bytes().as_slice())
        .bind(&note)
        .bind(now_millis())
        .execute(pool)
        .await?;
    });
    Ok((note, root))
}

/// Checks `0 < size <= head` style bounds and resolves 0 to the head.
fn resolve_size(requested: u64, head: u64) -> Result<u64, ApiError> {
    let size = if requested == 0 { head } else { requested };
    if size > head {
        return Err(ApiError::BadRequest(format!(
            "tree size {size} is beyond the log's size {head}"
        )));
    }
    Ok(size)
}

/// Inclusion proof of `index` at `tree_size` (0 = latest), with the leaf hash and checkpoint.
///
/// Two queries whatever the tree size: the head together with the stored checkpoint of the
/// proof's size, then the proof's O(log n) stored nodes together with the leaf. (A size
/// without a stored checkpoint, rare since every append stores its own, costs two more.)
pub(crate) async fn inclusion(
    db: &Db,
    identity: &LogIdentity,
    index: u64,
    tree_size: u64,
) -> Result<(InclusionProof, Hash, String, Hash), ApiError> {
    let requested =
        to_i64(tree_size).ok_or_else(|| ApiError::BadRequest("tree size too large".into()))?;
    let (head_size, note, root): (i64, Option<String>, Option<Vec<u8>>) = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT t.tree_size, c.note, c.root_hash FROM tree_head t \
             LEFT JOIN checkpoints c \
             ON c.tree_size = CASE WHEN $1 = 0 THEN t.tree_size ELSE $1 END \
             WHERE t.id = 1",
        )
        .bind(requested)
        .fetch_one(pool)
        .await?
    });
    let size = resolve_size(tree_size, to_u64(head_size))?;
    if index >= size {
        return Err(ApiError::BadRequest(format!(
            "leaf index {index} is not below tree size {size}"
        )));
    }
    let mut ids = custody_log::inclusion_proof_node_ids(index, size).map_err(proof_error)?;
    let leaf_id = NodeId::leaf(index);
    if !ids.contains(&leaf_id) {
        ids.push(leaf_id);
    }
    let nodes = DbNodes(db)
        .read_nodes(&ids)
        .await
        .map_err(ApiError::internal)?;
    let proof = custody_log::build_inclusion_proof(index, size, &nodes).map_err(proof_error)?;
    let leaf = nodes
        .get(&leaf_id)
        .copied()
        .ok_or_else(|| ApiError::internal(format!("leaf node {index} missing")))?;
    let (note, root) = match (note, root) {
        (Some(note), Some(root)) => (note, Hash::from_slice(&root).map_err(ApiError::internal)?),
        _ => checkpoint_at(db, identity, size).await?,
    };
    Ok((proof, leaf, note, root))
}

/// Inclusion proofs of several `indices` at one `tree_size` (not 0: a batch is proven at a
/// size the caller names), with their leaf hashes and the checkpoint of that size: the head
/// and checkpoint once, then every proof's stored nodes in one read.
pub(crate) async fn inclusion_many(
    db: &Db,
    identity: &LogIdentity,
    indices: &[u64],
    tree_size: u64,
) -> Result<(Vec<(InclusionProof, Hash)>, String), ApiError> {
    let requested =
        to_i64(tree_size).ok_or_else(|| ApiError::BadRequest("tree size too large".into()))?;
    let (head_size, note, root): (i64, Option<String>, Option<Vec<u8>>) = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT t.tree_size, c.note, c.root_hash FROM tree_head t \
             LEFT JOIN checkpoints c ON c.tree_size = $1 WHERE t.id = 1",
        )
        .bind(requested)
        .fetch_one(pool)
        .await?
    });
    let size = resolve_size(tree_size, to_u64(head_size))?;
    let mut ids: Vec<NodeId> = Vec::new();
    for &index in indices {
        if index >= size {
            return Err(ApiError::BadRequest(format!(
                "leaf index {index} is not below tree size {size}"
            )));
        }
        ids.extend(custody_log::inclusion_proof_node_ids(index, size).map_err(proof_error)?);
        ids.push(NodeId::leaf(index));
    }
    ids.sort_unstable();
    ids.dedup();
    let nodes = DbNodes(db)
        .read_nodes(&ids)
        .await
        .map_err(ApiError::internal)?;
    let proofs = indices
        .iter()
        .map(|&index| {
            let proof =
                custody_log::build_inclusion_proof(index, size, &nodes).map_err(proof_error)?;
            let leaf = nodes
                .get(&NodeId::leaf(index))
                .copied()
                .ok_or_else(|| ApiError::internal(format!("leaf node {index} missing")))?;
            Ok((proof, leaf))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let note = match (note, root) {
        (Some(note), Some(_)) => note,
        _ => checkpoint_at(db, identity, size).await?.0,
    };
    Ok((proofs, note))
}

/// Consistency proof between `first` and `second` (0 = latest).
pub(crate) async fn consistency(
    db: &Db,
    identity: &LogIdentity,
    first: u64,
    second: u64,
) -> Result<(ConsistencyProof, Hash, Hash, String), ApiError> {
    let (head_size, _) = head(db).await?;
    let second = resolve_size(second, head_size)?;
    if first == 0 || first > second {
        return Err(ApiError::BadRequest(format!(
            "first size {first} must be between 1 and the second size {second}"
        )));
    }
    let proof = prove_consistency_async(&DbNodes(db), first, second)
        .await
        .map_err(proof_error)?;
    let (_, first_root) = checkpoint_at(db, identity, first).await?;
    let (note, second_root) = checkpoint_at(db, identity, second).await?;
    Ok((proof, first_root, second_root, note))
}
