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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use custody_log::{Frontier, Hash, InclusionProof, Node, NodeId, build_inclusion_proof};
use sqlx::Acquire as _;
use sqlx::pool::PoolConnection;
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::ApiError;
use crate::facts::ComponentRow;
use crate::ingest::Prepared;
use crate::log::LogIdentity;
use crate::metrics::Metrics;
use crate::store::DbNodes;
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
    let mut writer = Writer::new(db);
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
        let result = writer.append(&identity, &items).await;
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
        writer.after_commit().await;
    }
}

/// The sequencer's own connection, kept from batch to batch (no pool checkout and liveness
/// ping per append) and replaced after a failure.
struct Writer {
    db: Db,
    conn: Option<WriterConn>,
    /// SQLite: when the WAL was last checkpointed, and whether a checkpoint is running.
    last_checkpoint: Instant,
    checkpointing: Arc<AtomicBool>,
    /// SQLite: set when a background checkpoint found the WAL large and not caught up.
    wal_behind: Arc<AtomicBool>,
}

enum WriterConn {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

/// How often the SQLite WAL is copied back into the database file, off the append path.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL size (pages) at which a committing connection checkpoints by itself; the background
/// checkpoints keep the WAL far below it, so appends do not pay for checkpoints.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16384;
/// WAL size (pages) beyond which the writer checkpoints by itself between two appends. Under
/// a sustained write load the background checkpoints never reach the end of the WAL (frames
/// keep arriving while they copy), so the WAL never restarts and its file only grows; one
/// checkpoint between appends, with no writer running, copies everything and lets the next
/// append restart the WAL (and `journal_size_limit` cut the file back).
const WAL_CATCH_UP_PAGES: i64 = 4 * WAL_AUTOCHECKPOINT_PAGES as i64;

impl Writer {
    fn new(db: Db) -> Writer {
        Writer {
            db,
            conn: None,
            last_checkpoint: Instant::now(),
            checkpointing: Arc::new(AtomicBool::new(false)),
            wal_behind: Arc::new(AtomicBool::new(false)),
        }
    }

    async fn connection(&mut self) -> Result<&mut WriterConn, ApiError> {
        if self.conn.is_none() {
            self.conn = Some(match &self.db {
                Db::Sqlite(pool) => {
                    let mut c = pool.acquire().await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}"
                    )))
                    .execute(&mut *c)
                    .await?;
                    WriterConn::Sqlite(c)
                }
                Db::Postgres(pool) => WriterConn::Postgres(pool.acquire().await?),
            });
        }
        self.conn
            .as_mut()
            .ok_or_else(|| ApiError::internal("sequencer connection missing"))
    }

    /// One append transaction over `items`; receipts in the same order. A failed append
    /// leaves nothing behind: its transaction is rolled back, and a connection that cannot
    /// even roll back is closed.
    async fn append(
        &mut self,
        identity: &LogIdentity,
        items: &[&Prepared],
    ) -> Result<Vec<Receipt>, ApiError> {
        let result = match self.connection().await? {
            WriterConn::Sqlite(c) => {
                let r = sqlite_append(c, identity, items).await;
                if r.is_err() && sqlx::query("ROLLBACK").execute(&mut **c).await.is_err() {
                    // "no transaction is active" after a failed COMMIT is fine too; anything
                    // else: do not reuse this connection.
                    if !sqlite_autocommit(c).await {
                        c.close_on_drop();
                        self.conn = None;
                    }
                }
                r
            }
            WriterConn::Postgres(c) => {
                let r = postgres_append(c, identity, items).await;
                if r.is_err() {
                    // The transaction was rolled back when it was dropped; after a broken
                    // connection, take a new one.
                    c.close_on_drop();
                    self.conn = None;
                }
                r
            }
        }?;
        let (plan, note) = result;
        receipts(&self.db, identity, items, plan, note).await
    }

    /// SQLite: starts a background WAL checkpoint when one is due and none is running, or,
    /// when the last one found the WAL far behind, checkpoints on the writer connection
    /// itself before the next append.
    async fn after_commit(&mut self) {
        let Db::Sqlite(pool) = &self.db else {
            return;
        };
        if self.wal_behind.load(Ordering::Acquire)
            && !self.checkpointing.swap(true, Ordering::AcqRel)
        {
            self.wal_behind.store(false, Ordering::Release);
            if let Some(WriterConn::Sqlite(c)) = self.conn.as_mut()
                && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&mut **c)
                    .await
            {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
            }
            self.last_checkpoint = Instant::now();
            self.checkpointing.store(false, Ordering::Release);
            return;
        }
        if self.last_checkpoint.elapsed() < CHECKPOINT_EVERY
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.last_checkpoint = Instant::now();
        let (pool, running, behind) = (
            pool.clone(),
            self.checkpointing.clone(),
            self.wal_behind.clone(),
        );
        tokio::spawn(async move {
            // PASSIVE: copies what no reader still needs, never blocks the writer. It answers
            // (busy, frames in the WAL, frames copied).
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await
            {
                Ok((_, log, copied)) => {
                    if log > WAL_CATCH_UP_PAGES && copied < log {
                        behind.store(true, Ordering::Release);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Whether the SQLite connection is outside any transaction.
async fn sqlite_autocommit(c: &mut PoolConnection<sqlx::Sqlite>) -> bool {
    // BEGIN succeeds only outside a transaction; undo it at once.
    sqlx::query("BEGIN").execute(&mut **c).await.is_ok()
        && sqlx::query("ROLLBACK").execute(&mut **c).await.is_ok()
}

/// Where each submitted item ended up.
struct Placement {
    index: u64,
    created: bool,
}

/// Most values in one `IN (...)` list of the SQLite read (SQLite allows 32766 per statement).
const IN_LIST_MAX: usize = 1000;

/// Kinds of the rows the append's read query returns, one query for all of them.
const ROW_HEAD: i64 = 0;
const ROW_NODE: i64 = 1;
const ROW_ENTRY: i64 = 2;
const ROW_BLOB: i64 = 3;

/// The frontier of the locked tree head, computed in SQL from its size: the node at level L
/// is stored (and needed) when bit L of the size is set, and it is the (size >> L)-th node of
/// that level, so its index is (size >> L) - 1. Levels 0..=62 cover every size up to 2^62.
const SQLITE_HEAD_AND_FRONTIER: &str = "WITH RECURSIVE levels(level) AS \
     (SELECT 0 UNION ALL SELECT level + 1 FROM levels WHERE level < 62) \
     SELECT 0, tree_size, 0, root_hash FROM tree_head WHERE id = 1 \
     UNION ALL SELECT 1, n.level, n.idx, n.hash FROM tree_head t, levels l, nodes n \
     WHERE t.id = 1 AND ((t.tree_size >> l.level) & 1) = 1 \
     AND n.level = l.level AND n.idx = (t.tree_size >> l.level) - 1";

/// The same on PostgreSQL, locking the tree head row (which serialises the replicas), plus
/// the envelopes already logged and the blobs already stored: one round trip.
const POSTGRES_READ: &str = "WITH head AS \
     (SELECT tree_size, root_hash FROM tree_head WHERE id = 1 FOR UPDATE) \
     SELECT 0::BIGINT, tree_size, 0::BIGINT, root_hash FROM head \
     UNION ALL SELECT 1, n.level, n.idx, n.hash \
     FROM head h CROSS JOIN generate_series(0, 62) AS l(level) \
     JOIN nodes n ON n.level = l.level AND n.idx = (h.tree_size >> l.level) - 1 \
     WHERE ((h.tree_size >> l.level) & 1) = 1 \
     UNION ALL SELECT 2, idx, 0, leaf_hash FROM entries WHERE leaf_hash = ANY($1) \
     UNION ALL SELECT 3, 0, 0, convert_to(digest, 'UTF8') FROM blobs WHERE digest = ANY($2)";

/// Every write of one append on PostgreSQL in ONE statement: each table's rows arrive as
/// column arrays (UNNEST), so the statement text never changes (prepared once per
/// connection) and a batch costs one round trip whatever its size. Foreign keys are checked
/// at the end of the statement, when the entries it inserts are there.
const POSTGRES_WRITE: &str = "WITH \
     e AS (INSERT INTO entries (idx, leaf_hash, canonical, payload_type, predicate_type, kind, integrated_at) \
           SELECT u.*, $1 FROM UNNEST($2::BIGINT[], $3::BYTEA[], $4::BYTEA[], $5::TEXT[], $6::TEXT[], $7::TEXT[]) AS u), \
     s AS (INSERT INTO entry_signers (key_id, entry_idx, role) \
           SELECT * FROM UNNEST($8::TEXT[], $9::BIGINT[], $10::TEXT[])), \
     j AS (INSERT INTO entry_subjects (digest, entry_idx, name) \
           SELECT * FROM UNNEST($11::TEXT[], $12::BIGINT[], $13::TEXT[])), \
     c AS (INSERT INTO components (entry_idx, purl, purl_type, namespace, name, version, layer, image) \
           SELECT * FROM UNNEST($14::BIGINT[], $15::TEXT[], $16::TEXT[], $17::TEXT[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::TEXT[])), \
     il AS (INSERT INTO image_layers (diff_id, image, position, entry_idx) \
           SELECT * FROM UNNEST($22::TEXT[], $23::TEXT[], $24::BIGINT[], $25::BIGINT[])), \
     ib AS (INSERT INTO image_bases (image, base_image, entry_idx) \
           SELECT * FROM UNNEST($26::TEXT[], $27::TEXT[], $28::BIGINT[])), \
     b AS (INSERT INTO blobs (digest, size, media_type, created_at) \
           SELECT u.*, $1 FROM UNNEST($29::TEXT[], $30::BIGINT[], $31::TEXT[]) AS u \
           ON CONFLICT (digest) DO NOTHING), \
     bc AS (INSERT INTO blob_chunks (digest, seq, data) \
           SELECT * FROM UNNEST($32::TEXT[], $33::BIGINT[], $34::BYTEA[]) \
           ON CONFLICT (digest, seq) DO NOTHING), \
     eb AS (INSERT INTO entry_blobs (entry_idx, digest, relation) \
           SELECT * FROM UNNEST($35::BIGINT[], $36::TEXT[], $37::TEXT[])), \
     n AS (INSERT INTO nodes (level, idx, hash) \
           SELECT * FROM UNNEST($38::BIGINT[], $39::BIGINT[], $40::BYTEA[])), \
     h AS (UPDATE tree_head SET tree_size = $41, root_hash = $42, updated_at = $1 WHERE id = 1) \
     INSERT INTO checkpoints (tree_size, root_hash, note, created_at) VALUES ($41, $42, $43, $1) \
     ON CONFLICT (tree_size) DO NOTHING";

/// What the append transaction reads before it writes.
#[derive(Default)]
struct Snapshot {
    /// The tree head (locked).
    head: Option<(u64, Vec<u8>)>,
    /// The stored frontier of the head's size.
    frontier: HashMap<NodeId, Hash>,
    /// Submitted envelopes already in the log, by leaf hash.
    existing: HashMap<Hash, u64>,
    /// Embedded blobs already stored.
    blobs: HashSet<String>,
}

impl Snapshot {
    fn absorb(&mut self, rows: Vec<(i64, i64, i64, Vec<u8>)>) {
        for (kind, a, b, bytes) in rows {
            match kind {
                ROW_HEAD => self.head = Some((to_u64(a), bytes)),
                ROW_NODE => {
                    if let (Ok(level), Ok(hash)) = (u8::try_from(a), Hash::from_slice(&bytes)) {
                        self.frontier.insert(NodeId::new(level, to_u64(b)), hash);
                    }
                }
                ROW_ENTRY => {
                    if let Ok(h) = Hash::from_slice(&bytes) {
                        self.existing.insert(h, to_u64(a));
                    }
                }
                ROW_BLOB => {
                    if let Ok(d) = String::from_utf8(bytes) {
                        self.blobs.insert(d);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Embedded blobs the items carry, deduplicated by digest (an SBOM shared by many layer
/// attestations of one batch is one blob).
fn embedded_blob_digests(items: &[&Prepared]) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .iter()
        .flat_map(|p| p.facts.blobs.iter())
        .filter(|b| b.data.is_some())
        .map(|b| b.digest.to_string())
        .filter(|d| seen.insert(d.clone()))
        .collect()
}

/// Every row one append writes. Rows borrow from the prepared items; PostgreSQL gets them as
/// column arrays, SQLite as multi-row VALUES.
struct Rows<'a> {
    now: i64,
    entries: Vec<(i64, &'a Prepared)>,
    signers: Vec<(String, i64, &'static str)>,
    subjects: Vec<(&'a str, i64, &'a str)>,
    components: Vec<(i64, &'a ComponentRow)>,
    layers: Vec<(&'a str, &'a str, i64, i64)>,
    bases: Vec<(&'a str, &'a str, i64)>,
    /// New blobs: digest, size, media type, bytes.
    blobs: Vec<(String, i64, &'static str, &'a [u8])>,
    entry_blobs: Vec<(i64, String, &'static str)>,
    nodes: Vec<(i64, i64, [u8; 32])>,
    new_size: i64,
    new_root: [u8; 32],
    note: String,
}

impl<'a> Rows<'a> {
    /// The rows of `fresh` (placed from `first`), skipping blobs in `stored`.
    fn gather(
        fresh: &[&'a Prepared],
        first: u64,
        stored: &HashSet<String>,
        appended: &custody_log::Appended,
        note: String,
        now: i64,
    ) -> Result<Rows<'a>, ApiError> {
        let mut entries = Vec::with_capacity(fresh.len());
        for (i, p) in fresh.iter().enumerate() {
            let idx = to_i64(first + i as u64).ok_or_else(|| ApiError::internal("tree full"))?;
            entries.push((idx, *p));
        }
        let signers = entries
            .iter()
            .flat_map(|(idx, p)| {
                p.signers
                    .iter()
                    .map(move |(k, r)| (k.to_string(), *idx, r.as_str()))
            })
            .collect();
        let mut subjects: Vec<(&str, i64, &str)> = entries
            .iter()
            .flat_map(|(idx, p)| {
                p.facts
                    .subjects
                    .iter()
                    .map(move |(d, n)| (d.as_str(), *idx, n.as_str()))
            })
            .collect();
        subjects.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        subjects.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let components = entries
            .iter()
            .flat_map(|(idx, p)| p.facts.components.iter().map(move |c| (*idx, c)))
            .collect();
        let mut layers: Vec<(&str, &str, i64, i64)> = entries
            .iter()
            .flat_map(|(idx, p)| {
                p.facts
                    .image_layers
                    .iter()
                    .map(move |(d, i, pos)| (d.as_str(), i.as_str(), *pos, *idx))
            })
            .collect();
        layers.sort_unstable();
        layers.dedup();
        let mut bases: Vec<(&str, &str, i64)> = entries
            .iter()
            .flat_map(|(idx, p)| {
                p.facts
                    .image_bases
                    .iter()
                    .map(move |(i, b)| (i.as_str(), b.as_str(), *idx))
            })
            .collect();
        bases.sort_unstable();
        bases.dedup();
        let mut blobs = Vec::new();
        let mut entry_blobs = Vec::new();
        let mut written: HashSet<String> = HashSet::new();
        for (idx, p) in &entries {
            let mut named = HashSet::new();
            for blob in &p.facts.blobs {
                let digest = blob.digest.to_string();
                if !named.insert(digest.clone()) {
                    continue;
                }
                if let Some(data) = &blob.data
                    && !stored.contains(&digest)
                    && written.insert(digest.clone())
                {
                    let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
                    blobs.push((digest.clone(), size, blob.media_type, data.as_slice()));
                }
                entry_blobs.push((*idx, digest, blob.relation));
            }
        }
        let nodes = appended
            .nodes
            .iter()
            .map(|n| {
                (
                    i64::from(n.id.level),
                    to_i64(n.id.index).unwrap_or(i64::MAX),
                    *n.hash.as_bytes(),
                )
            })
            .collect();
        Ok(Rows {
            now,
            entries,
            signers,
            subjects,
            components,
            layers,
            bases,
            blobs,
            entry_blobs,
            nodes,
            new_size: to_i64(appended.size).ok_or_else(|| ApiError::internal("tree full"))?,
            new_root: *appended.root.as_bytes(),
            note,
        })
    }

    /// Blob chunks: digest, sequence number, bytes.
    fn chunks(&self) -> Vec<(&str, i64, &'a [u8])> {
        self.blobs
            .iter()
            .flat_map(|(d, _, _, data)| {
                data.chunks(BLOB_CHUNK)
                    .enumerate()
                    .map(move |(seq, part)| (d.as_str(), seq as i64, part))
            })
            .collect()
    }
}

/// Pushes `INSERT INTO {head} VALUES (...), ...{tail};` for every chunk of `rows`.
fn push_insert<'q, T>(
    b: &mut sqlx::QueryBuilder<sqlx::Sqlite>,
    head: &str,
    tail: &str,
    rows: &'q [T],
    mut row: impl FnMut(&mut sqlx::query_builder::Separated<'_, sqlx::Sqlite, &'static str>, &'q T),
) {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        b.push("INSERT INTO ");
        b.push(head);
        b.push_values(chunk, |mut sep, r| row(&mut sep, r));
        b.push(tail);
        b.push(";\n");
    }
}

/// Every write of one append on SQLite as one multi-statement query: one hand-off to the
/// connection's worker thread instead of one per statement (sqlx runs each statement of the
/// text in turn, taking the `?` arguments in order).
fn sqlite_write(rows: &Rows<'_>) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut b = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
    let now = rows.now;
    push_insert(
        &mut b,
        "entries (idx, leaf_hash, canonical, payload_type, predicate_type, kind, integrated_at) ",
        "",
        &rows.entries,
        |r, (idx, p)| {
            r.push_bind(*idx)
                .push_bind(p.leaf_hash.as_bytes().to_vec())
                .push_bind(p.canonical.clone())
                .push_bind(p.payload_type.clone())
                .push_bind(p.predicate_type.clone())
                .push_bind(p.kind)
                .push_bind(now);
        },
    );
    push_insert(
        &mut b,
        "entry_signers (key_id, entry_idx, role) ",
        "",
        &rows.signers,
        |r, (key, idx, role)| {
            r.push_bind(key.clone()).push_bind(*idx).push_bind(*role);
        },
    );
    push_insert(
        &mut b,
        "entry_subjects (digest, entry_idx, name) ",
        "",
        &rows.subjects,
        |r, (digest, idx, name)| {
            r.push_bind(digest.to_string())
                .push_bind(*idx)
                .push_bind(name.to_string());
        },
    );
    push_insert(
        &mut b,
        "components (entry_idx, purl, purl_type, namespace, name, version, layer, image) ",
        "",
        &rows.components,
        |r, (idx, c)| {
            r.push_bind(*idx)
                .push_bind(c.purl.clone())
                .push_bind(c.purl_type.clone())
                .push_bind(c.namespace.clone())
                .push_bind(c.name.clone())
                .push_bind(c.version.clone())
                .push_bind(c.layer.clone())
                .push_bind(c.image.clone());
        },
    );
    push_insert(
        &mut b,
        "image_layers (diff_id, image, position, entry_idx) ",
        "",
        &rows.layers,
        |r, (d, i, pos, idx)| {
            r.push_bind(d.to_string())
                .push_bind(i.to_string())
                .push_bind(*pos)
                .push_bind(*idx);
        },
    );
    push_insert(
        &mut b,
        "image_bases (image, base_image, entry_idx) ",
        "",
        &rows.bases,
        |r, (i, base, idx)| {
            r.push_bind(i.to_string())
                .push_bind(base.to_string())
                .push_bind(*idx);
        },
    );
    push_insert(
        &mut b,
        "blobs (digest, size, media_type, created_at) ",
        " ON CONFLICT (digest) DO NOTHING",
        &rows.blobs,
        |r, (d, size, media, _)| {
            r.push_bind(d.clone())
                .push_bind(*size)
                .push_bind(*media)
                .push_bind(now);
        },
    );
    let chunks = rows.chunks();
    // One chunk per statement at most ROWS_PER_INSERT, but chunks are up to 1 MiB each: keep
    // statements to a few chunks so a statement's bound data stays bounded.
    for part in chunks.chunks(8) {
        push_insert(
            &mut b,
            "blob_chunks (digest, seq, data) ",
            " ON CONFLICT (digest, seq) DO NOTHING",
            part,
            |r, (d, seq, data)| {
                r.push_bind(d.to_string())
                    .push_bind(*seq)
                    .push_bind(data.to_vec());
            },
        );
    }
    push_insert(
        &mut b,
        "entry_blobs (entry_idx, digest, relation) ",
        "",
        &rows.entry_blobs,
        |r, (idx, d, rel)| {
            r.push_bind(*idx).push_bind(d.clone()).push_bind(*rel);
        },
    );
    push_insert(
        &mut b,
        "nodes (level, idx, hash) ",
        "",
        &rows.nodes,
        |r, (level, idx, hash)| {
            r.push_bind(*level).push_bind(*idx).push_bind(hash.to_vec());
        },
    );
    b.push("UPDATE tree_head SET tree_size = ");
    b.push_bind(rows.new_size);
    b.push(", root_hash = ");
    b.push_bind(rows.new_root.to_vec());
    b.push(", updated_at = ");
    b.push_bind(now);
    b.push(
        " WHERE id = 1;\nINSERT INTO checkpoints (tree_size, root_hash, note, created_at) VALUES (",
    );
    b.push_bind(rows.new_size);
    b.push(", ");
    b.push_bind(rows.new_root.to_vec());
    b.push(", ");
    b.push_bind(rows.note.clone());
    b.push(", ");
    b.push_bind(now);
    b.push(") ON CONFLICT (tree_size) DO NOTHING");
    b
}

/// The read of the SQLite append: head and frontier, then the envelopes and blobs already
/// stored, in as few statements as the variable limit allows (usually one).
async fn sqlite_read(
    conn: &mut PoolConnection<sqlx::Sqlite>,
    leaves: &[&[u8]],
    blobs: &[String],
) -> Result<Snapshot, ApiError> {
    let mut snapshot = Snapshot::default();
    let mut leaf_chunks = leaves.chunks(IN_LIST_MAX);
    let mut blob_chunks = blobs.chunks(IN_LIST_MAX);
    let mut first = true;
    loop {
        let (l, b) = (leaf_chunks.next(), blob_chunks.next());
        if !first && l.is_none() && b.is_none() {
            break;
        }
        let mut parts: Vec<String> = Vec::new();
        if first {
            parts.push(SQLITE_HEAD_AND_FRONTIER.to_owned());
        }
        if let Some(l) = l {
            parts.push(format!(
                "SELECT 2, idx, 0, leaf_hash FROM entries WHERE leaf_hash IN ({})",
                vec!["?"; l.len()].join(", ")
            ));
        }
        if let Some(b) = b {
            parts.push(format!(
                "SELECT 3, 0, 0, CAST(digest AS BLOB) FROM blobs WHERE digest IN ({})",
                vec!["?"; b.len()].join(", ")
            ));
        }
        let mut sql = parts.join(" UNION ALL ");
        if first {
            sql.insert_str(0, "BEGIN IMMEDIATE;\n");
        }
        first = false;
        let mut q = sqlx::query_as::<_, (i64, i64, i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql));
        for leaf in l.unwrap_or_default() {
            q = q.bind(leaf.to_vec());
        }
        for d in b.unwrap_or_default() {
            q = q.bind(d.clone());
        }
        snapshot.absorb(
            q.persistent(l.is_none_or(|l| l.len() <= 64))
                .fetch_all(&mut **conn)
                .await?,
        );
    }
    Ok(snapshot)
}

/// The sequencing decisions of one append, made under the lock.
struct Plan<'a> {
    old_size: u64,
    placements: Vec<Placement>,
    fresh: Vec<&'a Prepared>,
    frontier_nodes: Vec<Node>,
    appended: custody_log::Appended,
}

/// Places `items` after the snapshot's head: envelopes already logged keep their entry, the
/// others get the next indexes; checks the stored frontier against the head's root first.
fn plan<'a>(snapshot: &Snapshot, items: &[&'a Prepared]) -> Result<Plan<'a>, ApiError> {
    let (old_size, old_root) = snapshot
        .head
        .as_ref()
        .ok_or_else(|| ApiError::internal("the tree head row is missing"))?;
    let old_size = *old_size;
    let mut existing = snapshot.existing.clone();
    let mut placements = Vec::with_capacity(items.len());
    let mut fresh: Vec<&Prepared> = Vec::new();
    for item in items {
        if let Some(&index) = existing.get(&item.leaf_hash) {
            placements.push(Placement {
                index,
                created: false,
            });
            continue;
        }
        let index = old_size + fresh.len() as u64;
        existing.insert(item.leaf_hash, index);
        fresh.push(item);
        placements.push(Placement {
            index,
            created: true,
        });
    }
    let mut frontier = Frontier::from_nodes(old_size, &snapshot.frontier)
        .map_err(|e| ApiError::internal(format!("loading the frontier: {e}")))?;
    if frontier.root().as_bytes().as_slice() != old_root.as_slice() {
        return Err(ApiError::internal(
            "stored frontier does not match the tree head's root; run custody-ledger verify",
        ));
    }
    let frontier_nodes = frontier.nodes().to_vec();
    let leaves: Vec<Hash> = fresh.iter().map(|p| p.leaf_hash).collect();
    let appended = frontier.append(&leaves).map_err(ApiError::internal)?;
    Ok(Plan {
        old_size,
        placements,
        fresh,
        frontier_nodes,
        appended,
    })
}

/// What an append decided and the checkpoint it signed (None when every item was already
/// logged).
type Appended<'a> = (Plan<'a>, Option<String>);

/// The append on SQLite: two hand-offs to the connection's thread whatever the batch size.
/// `BEGIN IMMEDIATE` (the write lock) and the read go together, then every write and the
/// COMMIT, whose one fsync the whole batch shares.
async fn sqlite_append<'a>(
    c: &mut PoolConnection<sqlx::Sqlite>,
    identity: &LogIdentity,
    items: &[&'a Prepared],
) -> Result<Appended<'a>, ApiError> {
    let now = now_millis();
    let leaves: Vec<&[u8]> = items
        .iter()
        .map(|p| p.leaf_hash.as_bytes().as_slice())
        .collect();
    let blob_digests = embedded_blob_digests(items);
    let snapshot = sqlite_read(c, &leaves, &blob_digests).await?;
    let plan = plan(&snapshot, items)?;
    if plan.fresh.is_empty() {
        sqlx::query("COMMIT").execute(&mut **c).await?;
        return Ok((plan, None));
    }
    let note = identity
        .sign_checkpoint(plan.appended.size, plan.appended.root)
        .map_err(ApiError::internal)?;
    let rows = Rows::gather(
        &plan.fresh,
        plan.old_size,
        &snapshot.blobs,
        &plan.appended,
        note.clone(),
        now,
    )?;
    let mut write = sqlite_write(&rows);
    write.push(";\nCOMMIT");
    write.build().persistent(false).execute(&mut **c).await?;
    Ok((plan, Some(note)))
}

/// The append on PostgreSQL: BEGIN, one read that locks the tree head row (which serialises
/// the replicas), one write statement, COMMIT.
async fn postgres_append<'a>(
    c: &mut PoolConnection<sqlx::Postgres>,
    identity: &LogIdentity,
    items: &[&'a Prepared],
) -> Result<Appended<'a>, ApiError> {
    let now = now_millis();
    let leaves: Vec<&[u8]> = items
        .iter()
        .map(|p| p.leaf_hash.as_bytes().as_slice())
        .collect();
    let blob_digests = embedded_blob_digests(items);
    let mut tx = c.begin().await?;
    let rows: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(POSTGRES_READ)
        .bind(&leaves)
        .bind(&blob_digests)
        .fetch_all(&mut *tx)
        .await?;
    let mut snapshot = Snapshot::default();
    snapshot.absorb(rows);
    let plan = plan(&snapshot, items)?;
    if plan.fresh.is_empty() {
        tx.commit().await?;
        return Ok((plan, None));
    }
    let note = identity
        .sign_checkpoint(plan.appended.size, plan.appended.root)
        .map_err(ApiError::internal)?;
    let rows = Rows::gather(
        &plan.fresh,
        plan.old_size,
        &snapshot.blobs,
        &plan.appended,
        note.clone(),
        now,
    )?;
    postgres_write(&rows).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok((plan, Some(note)))
}

/// Receipts of a committed append, in submission order. Proofs for the new leaves need only
/// the old frontier and the nodes just written; resubmissions of older entries may need a
/// read.
async fn receipts(
    db: &Db,
    identity: &LogIdentity,
    items: &[&Prepared],
    plan: Plan<'_>,
    note: Option<String>,
) -> Result<Vec<Receipt>, ApiError> {
    let size = plan.appended.size;
    let root = plan.appended.root;
    let note = match note {
        Some(n) => n,
        None => crate::store::checkpoint_at(db, identity, size).await?.0,
    };
    let mut known: HashMap<NodeId, Hash> = plan
        .frontier_nodes
        .iter()
        .chain(plan.appended.nodes.iter())
        .map(|n| (n.id, n.hash))
        .collect();
    let mut receipts = Vec::with_capacity(items.len());
    for (item, placement) in items.iter().zip(plan.placements) {
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

/// The PostgreSQL write statement with its column arrays bound.
fn postgres_write<'q>(
    rows: &'q Rows<'q>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    fn col<T, U>(v: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
        v.iter().map(f).collect()
    }
    let e = &rows.entries;
    let c = &rows.components;
    let chunks = rows.chunks();
    sqlx::query(POSTGRES_WRITE)
        .bind(rows.now)
        .bind(col(e, |(i, _)| *i))
        .bind(col(e, |(_, p)| p.leaf_hash.as_bytes().to_vec()))
        .bind(col(e, |(_, p)| p.canonical.clone()))
        .bind(col(e, |(_, p)| p.payload_type.clone()))
        .bind(col(e, |(_, p)| p.predicate_type.clone()))
        .bind(col(e, |(_, p)| p.kind.to_owned()))
        .bind(col(&rows.signers, |s| s.0.clone()))
        .bind(col(&rows.signers, |s| s.1))
        .bind(col(&rows.signers, |s| s.2.to_owned()))
        .bind(col(&rows.subjects, |s| s.0.to_owned()))
        .bind(col(&rows.subjects, |s| s.1))
        .bind(col(&rows.subjects, |s| s.2.to_owned()))
        .bind(col(c, |(i, _)| *i))
        .bind(col(c, |(_, r)| r.purl.clone()))
        .bind(col(c, |(_, r)| r.purl_type.clone()))
        .bind(col(c, |(_, r)| r.namespace.clone()))
        .bind(col(c, |(_, r)| r.name.clone()))
        .bind(col(c, |(_, r)| r.version.clone()))
        .bind(col(c, |(_, r)| r.layer.clone()))
        .bind(col(c, |(_, r)| r.image.clone()))
        .bind(col(&rows.layers, |l| l.0.to_owned()))
        .bind(col(&rows.layers, |l| l.1.to_owned()))
        .bind(col(&rows.layers, |l| l.2))
        .bind(col(&rows.layers, |l| l.3))
        .bind(col(&rows.bases, |b| b.0.to_owned()))
        .bind(col(&rows.bases, |b| b.1.to_owned()))
        .bind(col(&rows.bases, |b| b.2))
        .bind(col(&rows.blobs, |b| b.0.clone()))
        .bind(col(&rows.blobs, |b| b.1))
        .bind(col(&rows.blobs, |b| b.2.to_owned()))
        .bind(col(&chunks, |k| k.0.to_owned()))
        .bind(col(&chunks, |k| k.1))
        .bind(col(&chunks, |k| k.2.to_vec()))
        .bind(col(&rows.entry_blobs, |b| b.0))
        .bind(col(&rows.entry_blobs, |b| b.1.clone()))
        .bind(col(&rows.entry_blobs, |b| b.2.to_owned()))
        .bind(col(&rows.nodes, |n| n.0))
        .bind(col(&rows.nodes, |n| n.1))
        .bind(col(&rows.nodes, |n| n.2.to_vec()))
        .bind(rows.new_size)
        .bind(rows.new_root.to_vec())
        .bind(rows.note.clone())
}
