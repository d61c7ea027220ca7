//! Group commit: one task turns concurrent submissions into one append transaction.
//!
//! Handlers send checked envelopes here and wait. The task takes whatever has queued up (up
//! to `batch_max` envelopes), and in ONE transaction locks the tree head (PostgreSQL:
//! `SELECT ... FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`), drops envelopes already in the log,
//! gives the others the next indexes, writes entries, index rows and the nodes completed by
//! the append, moves the tree head and stores the signed checkpoint. Only after COMMIT does
//! any submitter get its receipt, so an acknowledged entry is durable and in the tree. One
//! fsync then covers hundreds of entries, which is where the throughput comes from.
//!
//! Several replicas on one PostgreSQL each run this task; the row lock on the tree head
//! serialises their transactions, so there is one log, without gaps or two leaves at one
//! index, whichever replica a client talks to.

use std::collections::HashMap;
use std::time::Instant;

use custody_log::{Frontier, Hash, InclusionProof, Node, NodeId, build_inclusion_proof};
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::ApiError;
use crate::ingest::Prepared;
use crate::log::LogIdentity;
use crate::metrics::Metrics;
use crate::on_db;
use crate::store::{DbNodes, node_filter, rows_to_nodes};
use crate::util::{now_millis, to_i64, to_u64};

/// Rows per multi-row INSERT (SQLite allows 32766 bound values per statement).
const ROWS_PER_INSERT: usize = 500;
/// Size of the chunks blobs are stored in.
pub(crate) const BLOB_CHUNK: usize = 1 << 20;

/// What a writer gets back for one envelope: where it is and the proof that it is there.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    /// Leaf index.
    pub index: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// False for a resubmission of an envelope already in the log.
    pub created: bool,
    /// Inclusion proof at `checkpoint`'s size.
    pub proof: InclusionProof,
    /// Root at the proof's tree size.
    pub root: Hash,
    /// The signed checkpoint (C2SP note) the proof leads to.
    pub checkpoint: String,
}

/// Writes the entry rows and every index row of `fresh` (placed from `first`) into `tx`.
macro_rules! insert_entries {
    ($tx:ident, $fresh:ident, $first:expr, $now:expr) => {{
        let first: u64 = $first;
        let now: i64 = $now;
        let idx_of = |i: usize| to_i64(first + i as u64).unwrap_or(i64::MAX);
        let numbered: Vec<(i64, &Prepared)> =
            $fresh.iter().enumerate().map(|(i, p)| (idx_of(i), *p)).collect();
        for chunk in numbered.chunks(ROWS_PER_INSERT) {
            let mut b = sqlx::QueryBuilder::new(
                "INSERT INTO entries (idx, leaf_hash, canonical, payload_type, predicate_type, kind, integrated_at) ",
            );
            b.push_values(chunk, |mut row, (idx, p)| {
                row.push_bind(*idx)
                    .push_bind(p.leaf_hash.as_bytes().to_vec())
                    .push_bind(p.canonical.clone())
                    .push_bind(p.payload_type.clone())
                    .push_bind(p.predicate_type.clone())
                    .push_bind(p.kind)
                    .push_bind(now);
            });
            b.build().execute(&mut *$tx).await?;
        }
        let signers: Vec<(i64, String, &'static str)> = numbered
            .iter()
            .flat_map(|(idx, p)| p.signers.iter().map(move |(k, r)| (*idx, k.to_string(), r.as_str())))
            .collect();
        for chunk in signers.chunks(ROWS_PER_INSERT) {
            let mut b = sqlx::QueryBuilder::new("INSERT INTO entry_signers (key_id, entry_idx, role) ");
            b.push_values(chunk, |mut row, (idx, key, role)| {
                row.push_bind(key.clone()).push_bind(*idx).push_bind(*role);
            });
            b.build().execute(&mut *$tx).await?;
        }
        let subjects: Vec<(i64, &str, &str)> = {
            let mut v: Vec<(i64, &str, &str)> = numbered
                .iter()
                .flat_map(|(idx, p)| p.facts.subjects.iter().map(move |(d, n)| (*idx, d.as_str(), n.as_str())))
                .collect();
            v.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            v.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            v
        };
        for chunk in subjects.chunks(ROWS_PER_INSERT) {
            let mut b = sqlx::QueryBuilder::new("INSERT INTO entry_subjects (digest, entry_idx, name) ");
            b.push_values(chunk, |mut row, (idx, d, n)| {
                row.push_bind(d.to_string()).push_bind(*idx).push_bind(n.to_string());
            });
            b.build().execute(&mut *$tx).await?;
        }
        let components: Vec<(i64, &crate::facts::ComponentRow)> = numbered
            .iter()
            .flat_map(|(idx, p)| p.facts.components.iter().map(move |c| (*idx, c)))
            .collect();
        for chunk in components.chunks(ROWS_PER_INSERT) {
            let mut b = sqlx::QueryBuilder::new(
                "INSERT INTO components (entry_idx, purl, purl_type, namespace, name, version, layer, image) ",
            );
            b.push_values(chunk, |mut row, (idx, c)| {
                row.push_bind(*idx)
                    .push_bind(c.purl.clone())
                    .push_bind(c.purl_type.clone())
                    .push_bind(c.namespace.clone())
                    .push_bind(c.name.clone())
                    .push_bind(c.version.clone())
                    .push_bind(c.layer.clone())
                    .push_bind(c.image.clone());
            });
            b.build().execute(&mut *$tx).await?;
        }
        let mut layers: Vec<(String, String, i64, i64)> = numbered
            .iter()
            .flat_map(|(idx, p)| {
                p.facts.image_layers.iter().map(move |(d, i, pos)| (d.clone(), i.clone(), *pos, *idx))
            })
            .collect();
        layers.sort();
        layers.dedup();
        for chunk in layers.chunks(ROWS_PER_INSERT) {
            let mut b = sqlx::QueryBuilder::new("INSERT INTO image_layers (diff_id, image, position, entry_idx) ");
            b.push_values(chunk, |mut row, (d, i, pos, idx)| {
                row.push_bind(d.clone()).push_bind(i.clone()).push_bind(*pos).push_bind(*idx);
            });
            b.build().execute(&mut *$tx).await?;
        }
        let mut bases: Vec<(String, String, i64)> = numbered
            .iter()
            .flat_map(|(idx, p)| p.facts.image_bases.iter().map(move |(i, b)| (i.clone(), b.clone(), *idx)))
            .collect();
        bases.sort();
        bases.dedup();
        for chunk in bases.chunks(ROWS_PER_INSERT) {
            let mut b = sqlx::QueryBuilder::new("INSERT INTO image_bases (image, base_image, entry_idx) ");
            b.push_values(chunk, |mut row, (i, base, idx)| {
                row.push_bind(i.clone()).push_bind(base.clone()).push_bind(*idx);
            });
            b.build().execute(&mut *$tx).await?;
        }
        for (idx, p) in &numbered {
            let mut seen = std::collections::HashSet::new();
            for blob in &p.facts.blobs {
                let digest = blob.digest.to_string();
                if !seen.insert(digest.clone()) {
                    continue;
                }
                if let Some(data) = &blob.data {
                    let inserted = sqlx::query(
                        "INSERT INTO blobs (digest, size, media_type, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (digest) DO NOTHING",
                    )
                    .bind(&digest)
                    .bind(data.len() as i64)
                    .bind(blob.media_type)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        for (seq, part) in data.chunks(BLOB_CHUNK).enumerate() {
                            sqlx::query("INSERT INTO blob_chunks (digest, seq, data) VALUES ($1, $2, $3)")
                                .bind(&digest)
                                .bind(seq as i64)
                                .bind(part)
                                .execute(&mut *$tx)
                                .await?;
                        }
                    }
                }
                sqlx::query("INSERT INTO entry_blobs (entry_idx, digest, relation) VALUES ($1, $2, $3)")
                    .bind(*idx)
                    .bind(&digest)
                    .bind(blob.relation)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}

struct Job {
    items: Vec<Prepared>,
    reply: oneshot::Sender<Result<Vec<Receipt>, ApiError>>,
}

/// Handle to the sequencer task.
#[derive(Clone)]
pub(crate) struct Sequencer {
    tx: mpsc::Sender<Job>,
}

impl Sequencer {
    /// Starts the task. It ends when every handle is dropped and the queue is drained.
    pub(crate) fn spawn(
        db: Db,
        identity: LogIdentity,
        batch_max: usize,
        metrics: Metrics,
    ) -> (Sequencer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4096);
        let handle = tokio::spawn(run(db, identity, batch_max.max(1), metrics, rx));
        (Sequencer { tx }, handle)
    }

    /// Appends `items` (or finds them already in the log) and returns their receipts, in order.
    pub(crate) async fn submit(&self, items: Vec<Prepared>) -> Result<Vec<Receipt>, ApiError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { items, reply })
            .await
            .map_err(|_| ApiError::Unavailable("the ledger is shutting down".into()))?;
        rx.await
            .map_err(|_| ApiError::internal("sequencer dropped a submission"))?
    }
}

async fn run(
    db: Db,
    identity: LogIdentity,
    batch_max: usize,
    metrics: Metrics,
    mut rx: mpsc::Receiver<Job>,
) {
    while let Some(first) = rx.recv().await {
        let mut count = first.items.len();
        let mut jobs = vec![first];
        while count < batch_max {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.items.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let items: Vec<&Prepared> = jobs.iter().flat_map(|j| j.items.iter()).collect();
        let result = append_batch(&db, &identity, &items).await;
        metrics.observe_batch(count, started.elapsed());
        match result {
            Ok(receipts) => {
                let mut it = receipts.into_iter();
                for job in jobs {
                    let mine: Vec<Receipt> = it.by_ref().take(job.items.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, entries = count, "append transaction failed");
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(ApiError::internal(format!("append failed: {e}"))));
                }
            }
        }
    }
}

/// Where each submitted item ended up.
struct Placement {
    index: u64,
    created: bool,
}

/// One append transaction over `items`; returns receipts in the same order.
pub(crate) async fn append_batch(
    db: &Db,
    identity: &LogIdentity,
    items: &[&Prepared],
) -> Result<Vec<Receipt>, ApiError> {
    let now = now_millis();
    let (size, placements, appended_nodes, frontier_nodes, root, note) = on_db!(db, pool => {
        let mut tx = match db {
            Db::Sqlite(_) => pool.begin_with("BEGIN IMMEDIATE").await?,
            Db::Postgres(_) => pool.begin().await?,
        };
        let lock_sql = match db {
            Db::Sqlite(_) => "SELECT tree_size, root_hash FROM tree_head WHERE id = 1",
            Db::Postgres(_) => "SELECT tree_size, root_hash FROM tree_head WHERE id = 1 FOR UPDATE",
        };
        let (old_size, old_root): (i64, Vec<u8>) =
            sqlx::query_as(lock_sql).fetch_one(&mut *tx).await?;
        let old_size = to_u64(old_size);

        // Envelopes already in the log keep their entry.
        let mut existing: HashMap<Hash, u64> = HashMap::new();
        for chunk in items.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "SELECT idx, leaf_hash FROM entries WHERE leaf_hash IN ({})",
                crate::db::placeholders(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql.clone()));
            for item in chunk {
                q = q.bind(item.leaf_hash.as_bytes().as_slice());
            }
            for (idx, leaf) in q.fetch_all(&mut *tx).await? {
                if let Ok(h) = Hash::from_slice(&leaf) {
                    existing.insert(h, to_u64(idx));
                }
            }
        }
        let mut placements = Vec::with_capacity(items.len());
        let mut fresh: Vec<&Prepared> = Vec::new();
        for item in items {
            if let Some(&index) = existing.get(&item.leaf_hash) {
                placements.push(Placement { index, created: false });
                continue;
            }
            let index = old_size + fresh.len() as u64;
            existing.insert(item.leaf_hash, index);
            fresh.push(item);
            placements.push(Placement { index, created: true });
        }

        let frontier_ids = Frontier::node_ids(old_size).map_err(ApiError::internal)?;
        let frontier_rows: Vec<(i64, i64, Vec<u8>)> = if frontier_ids.is_empty() {
            Vec::new()
        } else {
            let sql = node_filter(frontier_ids.len());
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for id in &frontier_ids {
                q = q.bind(i64::from(id.level)).bind(to_i64(id.index).unwrap_or(i64::MAX));
            }
            q.fetch_all(&mut *tx).await?
        };
        let frontier_map = rows_to_nodes(frontier_rows);
        let mut frontier = Frontier::from_nodes(old_size, &frontier_map)
            .map_err(|e| ApiError::internal(format!("loading the frontier: {e}")))?;
        let frontier_nodes: Vec<Node> = frontier.nodes().to_vec();
        if frontier.root().as_bytes().as_slice() != old_root.as_slice() {
            return Err(ApiError::internal(
                "stored frontier does not match the tree head's root; run custody-ledger verify",
            ));
        }
        let leaves: Vec<Hash> = fresh.iter().map(|p| p.leaf_hash).collect();
        let appended = frontier.append(&leaves).map_err(ApiError::internal)?;

        if !fresh.is_empty() {
            insert_entries!(tx, fresh, old_size, now);
            for chunk in appended.nodes.chunks(ROWS_PER_INSERT) {
                let mut b = sqlx::QueryBuilder::new("INSERT INTO nodes (level, idx, hash) ");
                b.push_values(chunk, |mut row, n| {
                    row.push_bind(i64::from(n.id.level))
                        .push_bind(to_i64(n.id.index).unwrap_or(i64::MAX))
                        .push_bind(n.hash.as_bytes().to_vec());
                });
                b.build().execute(&mut *tx).await?;
            }
            let note = identity
                .sign_checkpoint(appended.size, appended.root)
                .map_err(ApiError::internal)?;
            let new_size = to_i64(appended.size).ok_or_else(|| ApiError::internal("tree full"))?;
            sqlx::query("UPDATE tree_head SET tree_size = $1, root_hash = $2, updated_at = $3 WHERE id = 1")
                .bind(new_size)
                .bind(appended.root.as_bytes().as_slice())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO checkpoints (tree_size, root_hash, note, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING",
            )
            .bind(new_size)
            .bind(appended.root.as_bytes().as_slice())
            .bind(&note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            (appended.size, placements, appended.nodes, frontier_nodes, appended.root, Some(note))
        } else {
            tx.commit().await?;
            (old_size, placements, Vec::new(), frontier_nodes, appended.root, None)
        }
    });

    let note = match note {
        Some(n) => n,
        None => crate::store::checkpoint_at(db, identity, size).await?.0,
    };
    // Proofs for the new leaves need only the old frontier and the nodes just written; older
    // entries (resubmissions) may need a read.
    let mut known: HashMap<NodeId, Hash> = frontier_nodes
        .iter()
        .chain(appended_nodes.iter())
        .map(|n| (n.id, n.hash))
        .collect();
    let mut receipts = Vec::with_capacity(items.len());
    for (item, placement) in items.iter().zip(placements) {
        let ids = custody_log::inclusion_proof_node_ids(placement.index, size)
            .map_err(ApiError::internal)?;
        let missing: Vec<NodeId> = ids
            .iter()
            .filter(|id| !known.contains_key(id))
            .copied()
            .collect();
        if !missing.is_empty() {
            use custody_log::AsyncNodeReader as _;
            let fetched = DbNodes(db)
                .read_nodes(&missing)
                .await
                .map_err(ApiError::internal)?;
            known.extend(fetched);
        }
        let proof =
            build_inclusion_proof(placement.index, size, &known).map_err(ApiError::internal)?;
        receipts.push(Receipt {
            index: placement.index,
            leaf_hash: item.leaf_hash,
            created: placement.created,
            proof,
            root,
            checkpoint: note.clone(),
        });
    }
    Ok(receipts)
}
