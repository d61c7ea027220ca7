//! Re-evaluation without rescanning: OSV advisories imported into the ledger, checked against
//! the components the ledger already indexed from every recorded SBOM, and owners told when an
//! import makes their images newly affected.
//!
//! An image is scanned once, in CI, and its scan attestation is what the deploy gate trusts.
//! What that cannot cover is the advisory published the day after. The ledger holds every
//! layer's SBOM, so it can answer "which recorded images does this new advisory affect"
//! without pulling or rescanning anything:
//!
//! - every component row carries its **match key** ([`index`]): the ecosystem, release,
//!   normalised name and compared version custody-vuln would look it up under (a Debian
//!   binary package by its source package and source version), computed from the stored
//!   SBOM once, after the row is committed;
//! - an **import** ([`import_path`], `POST /api/v1/admin/advisories`) reads OSV records
//!   ([`source`]: folder, `.json`, osv.dev zip export; bounded, so a zip bomb is refused),
//!   checks each with custody-vuln (a bad one is a warning naming it), and stores the newest
//!   version of each ID: the same ID and `modified` again is a no-op, a newer `modified`
//!   replaces it and is evaluated again, a withdrawal is stored and matches nothing;
//! - **evaluation** ([`eval`]) looks up the distinct (release, version) pairs recorded under
//!   an advisory's package keys (an index lookup, however many images share a base layer:
//!   components are stored per layer and joined to images through `image_layers`), runs
//!   custody-vuln's range evaluation on each pair once, and only then expands the affected
//!   pairs to layers and images;
//! - **notices** ([`notify`]): the (advisory, image) pairs an import newly affects are the
//!   images its affected keys reach below the log size it evaluated against, less those an
//!   earlier import of the same advisory reached ([`pairs`]: derived from the stored hits
//!   and log sizes, not stored pair by pair); for those it writes one message per owner
//!   ([`owners`]) per channel to the outbox, in the same transaction as the advisories
//!   themselves, so an import is all or nothing. Messages are sent after commit.
//!
//! Queries ([`affected_page`], `GET /api/v1/affected`) evaluate live, so an image recorded
//! after an advisory was imported is found too.

mod api;
mod eval;
mod index;
mod notify;
mod owners;
mod pairs;
mod source;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use custody_vuln::{Warning, WarningKind};
use serde::{Deserialize, Serialize};

use crate::db::{Db, placeholders};
use crate::error::ApiError;
use crate::on_db;
use crate::util::{format_millis, now_millis};

pub(crate) use api::routes;
pub use api::{AdvisoryApiDoc, AffectedParams};
pub use eval::AffectedComponent;
pub use notify::{
    Delivered, EVENT, NoticeAdvisory, NoticeFinding, NoticeImage, NoticeImport, NoticeTotals,
    NotifyArgs, NotifyConfig, NotifyConfigError, OwnerNotice, deliver_pending, requeue,
    webhook_signature,
};
pub use owners::{set_signer_owner, signer_owners};
pub use source::{ReadLimits, SourceError};
pub use store::AdvisoryInfo;

use eval::{Outcome, Tuple};
use source::Records;
use store::Checked;

/// Why an import did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The records could not be read (nothing was written).
    #[error(transparent)]
    Read(#[from] SourceError),
    /// The database refused (the transaction was rolled back: nothing was written).
    #[error("storing advisories: {}", .0.public_message())]
    Store(ApiError),
}

impl From<ApiError> for ImportError {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(cause) = &e {
            tracing::error!(%cause, "advisory import failed");
        }
        ImportError::Store(e)
    }
}

/// Most warnings kept in a report (their total is always given).
const MAX_REPORTED_WARNINGS: usize = 1000;
/// Most images listed in one owner's message (the totals are always given).
const MAX_LISTED_IMAGES: usize = 200;

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct ImportReport {
    /// The import's number.
    pub import_id: i64,
    /// When it ran (RFC 3339).
    pub at: String,
    /// What was imported (a path, or `request`).
    pub source: String,
    /// Records read (files and archive entries that held one).
    pub records_read: usize,
    /// Advisories stored for the first time.
    pub new: usize,
    /// Advisories replaced by a newer version (`modified`).
    pub updated: usize,
    /// Records already stored with the same `modified` (no-ops).
    pub unchanged: usize,
    /// Records older than the stored version (ignored).
    pub older: usize,
    /// Withdrawn records stored (they match nothing from now on).
    pub withdrawn: usize,
    /// Records skipped because they are not valid OSV (each named in `warnings`).
    pub invalid: usize,
    /// Stored advisories none of whose affected packages is of an ecosystem custody
    /// evaluates (RubyGems, Red Hat, ...): they cannot affect anything the ledger checks.
    pub unevaluated: usize,
    /// IDs of those (up to 100).
    pub unevaluated_ids: Vec<String>,
    /// Recorded (package, version) pairs found affected by the stored advisories.
    pub affected_packages: usize,
    /// Recorded (package, version) pairs an advisory could not be decided for.
    pub undecided_packages: usize,
    /// Images newly affected (not yet notified for the advisory).
    pub newly_affected_images: usize,
    /// (advisory, image) pairs newly affected.
    pub newly_affected_pairs: usize,
    /// Messages written to the outbox.
    pub notifications: usize,
    /// Problems with single records or files (at most 1000).
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Warning>,
    /// How many warnings there were.
    pub warnings_total: usize,
}

/// Imports the OSV records at `path` (a folder, a `.json` record or an osv.dev `.zip`
/// export). `origin` names the ledger in messages.
pub async fn import_path(
    db: &Db,
    origin: &str,
    notify: &NotifyConfig,
    path: &Path,
    limits: ReadLimits,
) -> Result<ImportReport, ImportError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || source::read_path(&owned, limits))
        .await
        .map_err(ApiError::internal)??;
    Ok(import_records(db, origin, notify, read, &path.display().to_string()).await?)
}

/// Imports a REST request body: JSON (a record, an array, `{"records": [...]}`) or a zip.
pub(crate) async fn import_body(
    db: &Db,
    origin: &str,
    notify: &NotifyConfig,
    bytes: Vec<u8>,
    zip: bool,
    limits: ReadLimits,
) -> Result<ImportReport, ImportError> {
    let read = tokio::task::spawn_blocking(move || {
        if zip {
            source::read_zip_body(&bytes, limits)
        } else {
            source::read_json_body(&bytes, limits)
        }
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(import_records(db, origin, notify, read, "request").await?)
}

/// Parses records in parallel; keeps the newest of each ID (a withdrawal wins a tie only
/// if newer, as in custody-vuln).
fn check_all(records: Vec<source::RawRecord>) -> (Vec<Checked>, Vec<Warning>, usize) {
    use rayon::prelude::*;
    let results: Vec<Result<(Checked, Vec<Warning>), Warning>> = records
        .into_par_iter()
        .map(|r| store::check(r.source, r.bytes))
        .collect();
    let mut warnings = Vec::new();
    let mut invalid = 0;
    let mut checked = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok((c, w)) => {
                warnings.extend(w);
                checked.push(c);
            }
            Err(w) => {
                invalid += 1;
                warnings.push(w);
            }
        }
    }
    checked.sort_by(|a, b| {
        a.id.cmp(&b.id)
            .then(b.modified.cmp(&a.modified))
            .then(a.withdrawn.is_some().cmp(&b.withdrawn.is_some()))
            .then(a.sha256.cmp(&b.sha256))
    });
    let mut kept: Vec<Checked> = Vec::with_capacity(checked.len());
    for c in checked {
        if let Some(prev) = kept.last()
            && prev.id == c.id
        {
            warnings.push(Warning {
                source: c.source.clone(),
                id: Some(c.id.clone()),
                kind: WarningKind::DuplicateId,
                message: format!(
                    "{} (modified {}) takes precedence; this one (modified {}) is ignored",
                    prev.source,
                    format_millis(prev.modified),
                    format_millis(c.modified)
                ),
            });
            continue;
        }
        kept.push(c);
    }
    (kept, warnings, invalid)
}

/// What the write transaction needs.
struct Plan<'a> {
    started: i64,
    source: &'a str,
    /// The log size the import evaluates against (read before keying pending rows).
    log_size: i64,
    /// IDs stored before this import (an earlier version of them may have told images).
    stored_before: BTreeSet<String>,
    write: Vec<Checked>,
    hits: HashMap<String, Vec<(Tuple, Outcome)>>,
}

/// The write transaction's results.
#[derive(Default)]
struct Written {
    import_id: i64,
    written: BTreeSet<String>,
    pairs: usize,
    images: usize,
    notifications: usize,
}

async fn import_records(
    db: &Db,
    origin: &str,
    notify: &NotifyConfig,
    read: Records,
    label: &str,
) -> Result<ImportReport, ApiError> {
    let started = now_millis();
    let mut report = ImportReport {
        at: format_millis(started),
        source: label.to_owned(),
        records_read: read.records.len(),
        ..ImportReport::default()
    };
    let mut warnings = read.warnings;
    let records = read.records;
    let (checked, parse_warnings, invalid) =
        tokio::task::spawn_blocking(move || check_all(records))
            .await
            .map_err(ApiError::internal)?;
    warnings.extend(parse_warnings);
    report.invalid = invalid;

    // What the import evaluates: the log below its current size. Read before keying the
    // pending rows, so every component below it has its match key.
    let log_size = store::log_size(db).await?;
    // Rows recorded before match keys existed are keyed first, so they are evaluated too.
    index::backfill(db).await?;

    let ids: Vec<&str> = checked.iter().map(|c| c.id.as_str()).collect();
    let stored = store::stored_versions(db, &ids).await?;
    let mut write = Vec::new();
    for c in checked {
        match stored.get(&c.id) {
            Some((m, sha)) if *m == c.modified => {
                report.unchanged += 1;
                if *sha != c.sha256 {
                    warnings.push(Warning {
                        source: c.source.clone(),
                        id: Some(c.id.clone()),
                        kind: WarningKind::DuplicateId,
                        message: "same id and modified time as the stored record but different content; the stored record is kept (a changed record must have a newer modified time)".into(),
                    });
                }
            }
            Some((m, _)) if *m > c.modified => report.older += 1,
            _ => write.push(c),
        }
    }
    let evaluated: Vec<&custody_vuln::Advisory> = write
        .iter()
        .filter(|c| c.withdrawn.is_none())
        .map(|c| &c.advisory)
        .collect();
    let hits = eval::evaluate_all(db, &evaluated).await?;
    let plan = Plan {
        started,
        source: label,
        log_size,
        stored_before: stored.keys().cloned().collect(),
        write,
        hits,
    };
    let written = write_import(db, origin, notify, &plan, &report).await?;
    report.import_id = written.import_id;
    for c in plan
        .write
        .iter()
        .filter(|c| written.written.contains(&c.id))
    {
        if c.withdrawn.is_some() {
            report.withdrawn += 1;
        } else if stored.contains_key(&c.id) {
            report.updated += 1;
        } else {
            report.new += 1;
        }
        if c.withdrawn.is_none() && !c.evaluable() {
            report.unevaluated += 1;
            if report.unevaluated_ids.len() < 100 {
                report.unevaluated_ids.push(c.id.clone());
            }
        }
        if let Some(h) = plan.hits.get(&c.id) {
            for (_, o) in h {
                match o {
                    Outcome::Affected { .. } => report.affected_packages += 1,
                    Outcome::Unevaluated(_) => report.undecided_packages += 1,
                }
            }
        }
    }
    // Records a concurrent import stored first count as unchanged.
    report.unchanged += plan.write.len() - written.written.len();
    report.newly_affected_pairs = written.pairs;
    report.newly_affected_images = written.images;
    report.notifications = written.notifications;
    report.warnings_total = warnings.len();
    warnings.truncate(MAX_REPORTED_WARNINGS);
    report.warnings = warnings;
    let json = serde_json::to_string(&ReportSummary::of(&report)).map_err(ApiError::internal)?;
    on_db!(db, pool => {
        sqlx::query("UPDATE advisory_imports SET report = $1 WHERE id = $2")
            .bind(json)
            .bind(report.import_id)
            .execute(pool)
            .await?;
    });
    tracing::info!(
        import = report.import_id,
        source = %report.source,
        new = report.new,
        updated = report.updated,
        unchanged = report.unchanged,
        withdrawn = report.withdrawn,
        invalid = report.invalid,
        newly_affected_images = report.newly_affected_images,
        notifications = report.notifications,
        "advisories imported"
    );
    Ok(report)
}

/// The counts of a report, as stored with the import.
#[derive(Serialize)]
struct ReportSummary<'a> {
    records_read: usize,
    new: usize,
    updated: usize,
    unchanged: usize,
    older: usize,
    withdrawn: usize,
    invalid: usize,
    unevaluated: usize,
    newly_affected_images: usize,
    newly_affected_pairs: usize,
    notifications: usize,
    warnings: usize,
    source: &'a str,
}

impl<'a> ReportSummary<'a> {
    fn of(r: &'a ImportReport) -> Self {
        ReportSummary {
            records_read: r.records_read,
            new: r.new,
            updated: r.updated,
            unchanged: r.unchanged,
            older: r.older,
            withdrawn: r.withdrawn,
            invalid: r.invalid,
            unevaluated: r.unevaluated,
            newly_affected_images: r.newly_affected_images,
            newly_affected_pairs: r.newly_affected_pairs,
            notifications: r.notifications,
            warnings: r.warnings_total,
            source: &r.source,
        }
    }
}

/// Rows per multi-row INSERT (SQLite allows 32766 bound values per statement).
const ROWS: usize = 200;
/// Most record bytes per advisory INSERT.
const RECORD_BYTES_PER_INSERT: usize = 32 << 20;

/// Groups records so that no INSERT carries more than ROWS rows or RECORD_BYTES_PER_INSERT.
fn record_chunks(records: &[Checked]) -> Vec<&[Checked]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, r) in records.iter().enumerate() {
        if i > start && (i - start >= ROWS || bytes + r.bytes.len() > RECORD_BYTES_PER_INSERT) {
            out.push(&records[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += r.bytes.len();
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

/// A finding of a listed image at key level: advisory, the layer (number) and its position
/// or none for the image's own SBOM, the key number, and the log index of the entry that
/// recorded the component.
type KeyFinding<'a> = (&'a str, Option<(u32, i64)>, usize, i64);

/// A component of a listed image's entry: entry, ecosystem, release, name, match version,
/// purl, installed version.
type InstalledRow = (i64, String, String, String, String, String, String);

/// This import's affected hit on a key: advisory, fixed version, severity.
type HitOn<'a> = (&'a str, &'a Option<String>, &'a custody_vuln::Severity);

/// Most keys per fleet query (bound as one JSON parameter).
const KEYS_PER_QUERY: usize = 2000;
/// Most findings listed in one owner's message (whole images; the totals count everything).
const MAX_LISTED_FINDINGS: usize = 500;

/// The number of `key` in `keys`, adding it if new.
fn number(numbers: &mut HashMap<Tuple, usize>, keys: &mut Vec<Tuple>, key: Tuple) -> usize {
    if let Some(n) = numbers.get(&key) {
        return *n;
    }
    keys.push(key.clone());
    numbers.insert(key, keys.len() - 1);
    keys.len() - 1
}

/// An earlier import's affected hit: advisory, import, its log size (none before log sizes
/// were kept), ecosystem, release, name, version.
type EarlierHitRow = (String, i64, Option<i64>, String, String, String, String);

/// Items per JSON-array list bound as one parameter (see [`json_list`]).
const LIST_ITEMS: usize = 5000;

/// A subquery listing the strings of the JSON array bound as `$1`, for `IN (...)`: one
/// parameter however long the list, on both engines.
fn json_list(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => "SELECT value FROM json_each($1)",
        Db::Postgres(_) => "SELECT jsonb_array_elements_text($1::jsonb)",
    }
}

/// Everything an import writes, in one transaction: the import row, the advisories (only
/// where newer than what is stored, decided by the database so concurrent imports agree),
/// their package keys, what they affect, the new (advisory, image) notices and the messages.
async fn write_import(
    db: &Db,
    origin: &str,
    notify: &NotifyConfig,
    plan: &Plan<'_>,
    report: &ImportReport,
) -> Result<Written, ApiError> {
    let now = plan.started;
    let mut out = Written::default();
    on_db!(db, pool => {
        let mut tx = match db {
            Db::Sqlite(_) => pool.begin_with("BEGIN IMMEDIATE").await?,
            Db::Postgres(_) => pool.begin().await?,
        };
        let (import_id,): (i64,) = sqlx::query_as(
            "INSERT INTO advisory_imports (started_at, source, report, log_size) VALUES ($1, $2, '{}', $3) RETURNING id",
        )
        .bind(now)
        .bind(crate::util::truncate(plan.source))
        .bind(plan.log_size)
        .fetch_one(&mut *tx)
        .await?;
        out.import_id = import_id;

        for chunk in record_chunks(&plan.write) {
            let mut b = sqlx::QueryBuilder::new(
                "INSERT INTO advisories (id, modified, published, withdrawn, summary, aliases, evaluable, \
                 record_sha256, record, source, first_imported_at, imported_at, import_id) ",
            );
            b.push_values(chunk, |mut row, c| {
                row.push_bind(c.id.clone())
                    .push_bind(c.modified)
                    .push_bind(c.published)
                    .push_bind(c.withdrawn)
                    .push_bind(c.summary.clone())
                    .push_bind(serde_json::to_string(&c.aliases).unwrap_or_else(|_| "[]".into()))
                    .push_bind(c.evaluable())
                    .push_bind(c.sha256.clone())
                    .push_bind(c.bytes.clone())
                    .push_bind(crate::util::truncate(&c.source))
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(import_id);
            });
            b.push(
                " ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, \
                 published = excluded.published, withdrawn = excluded.withdrawn, \
                 summary = excluded.summary, aliases = excluded.aliases, evaluable = excluded.evaluable, \
                 record_sha256 = excluded.record_sha256, record = excluded.record, source = excluded.source, \
                 imported_at = excluded.imported_at, import_id = excluded.import_id \
                 WHERE advisories.modified < excluded.modified RETURNING id",
            );
            let ids: Vec<(String,)> = b.build_query_as().fetch_all(&mut *tx).await?;
            out.written.extend(ids.into_iter().map(|r| r.0));
        }

        let written: Vec<&Checked> = plan.write.iter().filter(|c| out.written.contains(&c.id)).collect();
        for chunk in written.chunks(ROWS) {
            let sql = format!(
                "DELETE FROM advisory_packages WHERE advisory_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.id.clone());
            }
            q.execute(&mut *tx).await?;
        }
        let packages: Vec<(String, String, String, String)> = written
            .iter()
            .flat_map(|c| {
                c.advisory.package_keys().into_iter().map(move |k| {
                    (
                        c.id.clone(),
                        k.ecosystem.osv_name().to_owned(),
                        k.release.clone().unwrap_or_default(),
                        k.name.clone(),
                    )
                })
            })
            .collect();
        for chunk in packages.chunks(ROWS) {
            let mut b = sqlx::QueryBuilder::new(
                "INSERT INTO advisory_packages (advisory_id, ecosystem, release, name) ",
            );
            b.push_values(chunk, |mut row, (a, e, r, n)| {
                row.push_bind(a.clone()).push_bind(e.clone()).push_bind(r.clone()).push_bind(n.clone());
            });
            b.push(" ON CONFLICT DO NOTHING");
            b.build().execute(&mut *tx).await?;
        }

        let hit_rows: Vec<(&str, &Tuple, &Outcome)> = written
            .iter()
            .filter(|c| c.withdrawn.is_none())
            .flat_map(|c| {
                plan.hits
                    .get(&c.id)
                    .into_iter()
                    .flatten()
                    .map(move |(t, o)| (c.id.as_str(), t, o))
            })
            .collect();
        for chunk in hit_rows.chunks(ROWS) {
            let mut b = sqlx::QueryBuilder::new(
                "INSERT INTO advisory_hits (import_id, advisory_id, ecosystem, release, name, version, \
                 affected, fixed, severity, detail) ",
            );
            b.push_values(chunk, |mut row, (id, t, o)| {
                let (affected, fixed, severity, detail) = match o {
                    Outcome::Affected { fixed, severity } => (
                        true,
                        fixed.clone().unwrap_or_default(),
                        severity.level.map(|l| l.as_str().to_owned()).unwrap_or_default(),
                        serde_json::to_string(severity).unwrap_or_default(),
                    ),
                    Outcome::Unevaluated(why) => {
                        (false, String::new(), String::new(), crate::util::truncate(why))
                    }
                };
                row.push_bind(import_id)
                    .push_bind(id.to_string())
                    .push_bind(t.ecosystem.clone())
                    .push_bind(t.release.clone())
                    .push_bind(t.name.clone())
                    .push_bind(t.version.clone())
                    .push_bind(affected)
                    .push_bind(fixed)
                    .push_bind(severity)
                    .push_bind(detail);
            });
            b.build().execute(&mut *tx).await?;
        }

        // The newly affected (advisory, image) pairs (see `pairs`): the images each stored
        // advisory reaches through its affected keys below this import's log size, less the
        // ones an earlier import of it reached. Computed here, not stored pair by pair.
        // Keys are numbered: this import's affected ones, then earlier imports' ones.
        let mut key_no: HashMap<Tuple, usize> = HashMap::new();
        let mut keys: Vec<Tuple> = Vec::new();
        let mut affected_by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        // key -> this import's affected hits on it: (advisory, fixed, severity)
        let mut hits_on: HashMap<usize, Vec<HitOn<'_>>> = HashMap::new();
        for (id, t, o) in &hit_rows {
            if let Outcome::Affected { fixed, severity } = o {
                let n = number(&mut key_no, &mut keys, (*t).clone());
                affected_by.entry(*id).or_default().push(n);
                hits_on.entry(n).or_default().push((*id, fixed, severity));
            }
        }
        let again: Vec<&str> = affected_by
            .keys()
            .copied()
            .filter(|id| plan.stored_before.contains(*id))
            .collect();
        let mut evaluations: BTreeMap<(String, i64), (i64, Vec<usize>)> = BTreeMap::new();
        let mut earlier: HashMap<String, pairs::Earlier> = HashMap::new();
        for chunk in again.chunks(ROWS) {
            let list = placeholders(2, chunk.len());
            let sql = format!(
                "SELECT h.advisory_id, h.import_id, i.log_size, h.ecosystem, h.release, h.name, h.version \
                 FROM advisory_hits h JOIN advisory_imports i ON i.id = h.import_id \
                 WHERE h.advisory_id IN ({list}) AND h.affected = TRUE AND h.import_id <> $1"
            );
            let mut q = sqlx::query_as::<_, EarlierHitRow>(sqlx::AssertSqlSafe(sql)).bind(import_id);
            for id in chunk {
                q = q.bind(*id);
            }
            for (advisory, import, log_size, ecosystem, release, name, version) in q.fetch_all(&mut *tx).await? {
                // An import from before log sizes were kept: what it told is in its notices.
                let Some(log_size) = log_size else { continue };
                let n = number(&mut key_no, &mut keys, Tuple { ecosystem, release, name, version });
                evaluations
                    .entry((advisory, import))
                    .or_insert_with(|| (log_size, Vec::new()))
                    .1
                    .push(n);
            }
            let list = placeholders(1, chunk.len());
            let sql = format!("SELECT advisory_id, image FROM advisory_notices WHERE advisory_id IN ({list})");
            let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            for (advisory, image) in q.fetch_all(&mut *tx).await? {
                earlier.entry(advisory).or_default().notified.push(image);
            }
        }
        for ((advisory, _), evaluation) in evaluations {
            earlier.entry(advisory).or_default().evaluations.push(evaluation);
        }

        // The layers and image-level SBOMs holding those keys (one row per holder entry, the
        // keys it holds aggregated: an index-only scan), then the images listing the layers.
        let mut fleet = pairs::Fleet::default();
        for (start, chunk) in (0..).step_by(KEYS_PER_QUERY).zip(keys.chunks(KEYS_PER_QUERY)) {
            let list: Vec<serde_json::Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    serde_json::json!({"i": start + i, "e": t.ecosystem, "n": t.name, "r": t.release, "v": t.version})
                })
                .collect();
            let (keys_sql, agg) = match db {
                Db::Sqlite(_) => (
                    "SELECT json_extract(value, '$.i') AS i, json_extract(value, '$.e') AS e, \
                     json_extract(value, '$.n') AS n, json_extract(value, '$.r') AS r, \
                     json_extract(value, '$.v') AS v FROM json_each($1)",
                    "group_concat(k.i, ',')",
                ),
                Db::Postgres(_) => (
                    "SELECT * FROM jsonb_to_recordset($1::jsonb) AS k(i bigint, e text, n text, r text, v text)",
                    "string_agg(CAST(k.i AS TEXT), ',')",
                ),
            };
            let sql = format!(
                "SELECT c.layer, c.image, c.entry_idx, {agg} FROM ({keys_sql}) k \
                 JOIN components c ON c.vuln_ecosystem = k.e AND c.vuln_name = k.n \
                   AND c.vuln_release = k.r AND c.vuln_version = k.v \
                 WHERE c.entry_idx < $2 GROUP BY c.layer, c.image, c.entry_idx"
            );
            let rows: Vec<(String, String, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(serde_json::Value::Array(list).to_string())
                .bind(plan.log_size)
                .fetch_all(&mut *tx)
                .await?;
            for (layer, image, entry, held) in rows {
                let holders = [
                    (!image.is_empty()).then(|| pairs::Holder::Image(fleet.image_id(&image))),
                    (!layer.is_empty()).then(|| pairs::Holder::Layer(fleet.layer_id(&layer))),
                ];
                for k in held.split(',') {
                    let k: usize = k.parse().map_err(ApiError::internal)?;
                    for h in holders.iter().flatten() {
                        fleet.add_component(k, *h, entry);
                    }
                }
            }
        }
        let layers: Vec<String> = fleet.layers().to_vec();
        for chunk in layers.chunks(LIST_ITEMS) {
            let sql = format!(
                "SELECT diff_id, image, position, entry_idx FROM image_layers \
                 WHERE entry_idx < $2 AND diff_id IN ({})",
                json_list(db)
            );
            let json = serde_json::to_string(chunk).map_err(ApiError::internal)?;
            let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(json)
                .bind(plan.log_size)
                .fetch_all(&mut *tx)
                .await?;
            for (layer, image, position, entry) in rows {
                fleet.add_layer_use(&layer, &image, position, entry);
            }
        }
        let mut new_of: Vec<(&str, Vec<u32>)> = Vec::with_capacity(affected_by.len());
        let mut count: HashMap<u32, i64> = HashMap::new();
        for (id, keys) in &affected_by {
            let images = pairs::newly_affected(&fleet, keys, plan.log_size, earlier.get(*id));
            for i in &images {
                *count.entry(*i).or_default() += 1;
            }
            new_of.push((id, images));
        }
        out.pairs = new_of.iter().map(|(_, v)| v.len()).sum();
        let mut per_image: Vec<(String, i64)> = count
            .into_iter()
            .map(|(i, n)| (fleet.image(i).to_owned(), n))
            .collect();
        per_image.sort_unstable();
        out.images = per_image.len();

        if out.pairs > 0 && notify.enabled() {
                let mut owner_rows: Vec<(String, String)> = Vec::new();
                for chunk in per_image.chunks(LIST_ITEMS) {
                    let sql = format!(
                        "SELECT DISTINCT es.digest, so.owner FROM entry_subjects es \
                         JOIN entries e ON e.idx = es.entry_idx AND e.kind = 'provenance' \
                         JOIN entry_signers s ON s.entry_idx = es.entry_idx \
                         JOIN signer_owners so ON so.key_id = s.key_id \
                         WHERE es.digest IN ({})",
                        json_list(db)
                    );
                    let json = serde_json::to_string(&chunk.iter().map(|(i, _)| i).collect::<Vec<_>>())
                        .map_err(ApiError::internal)?;
                    owner_rows.extend(
                        sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql))
                            .bind(json)
                            .fetch_all(&mut *tx)
                            .await?,
                    );
                }
                let groups = owner_groups(&per_image, owner_rows, notify.default_owner.as_deref());

                // What each owner's message lists: its images in digest order, each with all
                // its findings, up to MAX_LISTED_IMAGES images and MAX_LISTED_FINDINGS
                // findings (at least one image); the totals always count everything.
                let candidates: HashSet<u32> = groups
                    .values()
                    .flat_map(|imgs| imgs.iter().take(MAX_LISTED_IMAGES))
                    .filter_map(|(i, _)| fleet.known_image(i))
                    .collect();
                let mut advisories_of: HashMap<u32, BTreeSet<&str>> = HashMap::new();
                for (id, images) in &new_of {
                    for i in images.iter().filter(|i| candidates.contains(i)) {
                        advisories_of.entry(*i).or_default().insert(id);
                    }
                }
                // (advisory, layer and position or none for an image-level SBOM, key, entry)
                let findings_of = |image: u32| -> Vec<KeyFinding<'_>> {
                    let mut out = Vec::new();
                    let Some(advisories) = advisories_of.get(&image) else {
                        return out;
                    };
                    let layers = fleet
                        .layers_of(image)
                        .iter()
                        .filter(|(_, _, listed)| *listed < plan.log_size)
                        .map(|(layer, position, _)| (pairs::Holder::Layer(*layer), Some((*layer, *position))));
                    let own = std::iter::once((pairs::Holder::Image(image), None));
                    for (holder, at) in layers.chain(own) {
                        for (key, entry) in fleet.held_by(holder) {
                            if *entry >= plan.log_size {
                                continue;
                            }
                            for (advisory, _, _) in hits_on.get(key).into_iter().flatten() {
                                if advisories.contains(advisory) {
                                    out.push((*advisory, at, *key, *entry));
                                }
                            }
                        }
                    }
                    out
                };
                let mut listed: BTreeMap<u32, Vec<KeyFinding<'_>>> = BTreeMap::new();
                let mut listed_per_owner: HashMap<Option<String>, usize> = HashMap::new();
                for (owner, images) in &groups {
                    let mut n = 0;
                    let mut findings = 0;
                    for (image, _) in images.iter().take(MAX_LISTED_IMAGES) {
                        let Some(id) = fleet.known_image(image) else { break };
                        let f = listed.entry(id).or_insert_with(|| findings_of(id));
                        if n > 0 && findings + f.len() > MAX_LISTED_FINDINGS {
                            break;
                        }
                        findings += f.len();
                        n += 1;
                    }
                    listed_per_owner.insert(owner.clone(), n);
                }
                // Their components' purls and versions, by recording entry.
                let entries: BTreeSet<i64> = listed.values().flatten().map(|f| f.3).collect();
                let entries: Vec<i64> = entries.into_iter().collect();
                let mut installed: HashMap<(i64, usize), Vec<(String, String)>> = HashMap::new();
                for chunk in entries.chunks(LIST_ITEMS) {
                    let ints = match db {
                        Db::Sqlite(_) => "SELECT value FROM json_each($1)",
                        Db::Postgres(_) => "SELECT CAST(jsonb_array_elements_text($1::jsonb) AS BIGINT)",
                    };
                    let sql = format!(
                        "SELECT entry_idx, vuln_ecosystem, vuln_release, vuln_name, vuln_version, purl, version \
                         FROM components WHERE entry_idx IN ({ints}) AND vuln_ecosystem IS NOT NULL"
                    );
                    let json = serde_json::to_string(chunk).map_err(ApiError::internal)?;
                    let rows: Vec<InstalledRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(json)
                        .fetch_all(&mut *tx)
                        .await?;
                    for (entry, ecosystem, release, name, version, purl, installed_version) in rows {
                        let key = Tuple { ecosystem, release, name, version };
                        if let Some(k) = key_no.get(&key) {
                            installed.entry((entry, *k)).or_default().push((purl, installed_version));
                        }
                    }
                }
                let mut by_image: HashMap<u32, Vec<NoticeFinding>> = HashMap::new();
                for (image, findings) in &listed {
                    // One finding per (advisory, layer, purl), at the layer's lowest position.
                    let mut unique: BTreeMap<(&str, &str, &str), NoticeFinding> = BTreeMap::new();
                    for (advisory, at, key, entry) in findings {
                        let (fixed, severity) = hits_on
                            .get(key)
                            .into_iter()
                            .flatten()
                            .find(|(a, _, _)| a == advisory)
                            .map(|(_, f, s)| ((*f).clone(), s.level.map(|l| l.as_str().to_owned())))
                            .unwrap_or_default();
                        let layer = at.map_or("", |(l, _)| fleet.layer(l));
                        let position = at.and_then(|(_, p)| u32::try_from(p).ok());
                        for (purl, version) in installed.get(&(*entry, *key)).into_iter().flatten() {
                            let slot = unique
                                .entry((advisory, layer, purl.as_str()))
                                .or_insert_with(|| NoticeFinding {
                                    advisory: (*advisory).to_owned(),
                                    layer: layer.to_owned(),
                                    layer_index: position,
                                    purl: purl.clone(),
                                    version: version.clone(),
                                    fixed: fixed.clone(),
                                    severity: severity.clone(),
                                });
                            if position.is_some() && (slot.layer_index.is_none() || position < slot.layer_index) {
                                slot.layer_index = position;
                            }
                        }
                    }
                    let mut findings: Vec<NoticeFinding> = unique.into_values().collect();
                    findings.sort_by(|a, b| {
                        a.advisory
                            .cmp(&b.advisory)
                            .then(a.layer_index.cmp(&b.layer_index))
                            .then(a.purl.cmp(&b.purl))
                    });
                    by_image.insert(*image, findings);
                }
                let notices = build_notices(origin, import_id, plan, report, &groups, &listed_per_owner, |image| {
                    fleet
                        .known_image(image)
                        .and_then(|id| by_image.get(&id))
                        .cloned()
                        .unwrap_or_default()
                });
                let mut rows: Vec<(&'static str, String, String, String, String)> = Vec::new();
                for n in &notices {
                    let json = serde_json::to_string(n).map_err(ApiError::internal)?;
                    for url in &notify.webhooks {
                        rows.push((
                            "webhook",
                            url.clone(),
                            n.owner.clone().unwrap_or_default(),
                            n.subject(),
                            json.clone(),
                        ));
                    }
                    if let (true, Some(owner)) = (notify.email(), &n.owner) {
                        rows.push(("email", owner.clone(), owner.clone(), n.subject(), n.text()));
                    }
                }
                for chunk in rows.chunks(ROWS) {
                    let mut b = sqlx::QueryBuilder::new(
                        "INSERT INTO notifications (import_id, channel, target, owner, subject, body, status, \
                         attempts, last_error, created_at, updated_at) ",
                    );
                    b.push_values(chunk, |mut row, (ch, target, owner, subject, body)| {
                        row.push_bind(import_id)
                            .push_bind(*ch)
                            .push_bind(target.clone())
                            .push_bind(owner.clone())
                            .push_bind(subject.clone())
                            .push_bind(body.clone())
                            .push_bind("pending")
                            .push_bind(0i64)
                            .push_bind("")
                            .push_bind(now)
                            .push_bind(now);
                    });
                    b.build().execute(&mut *tx).await?;
                }
                out.notifications = rows.len();
            }
        tx.commit().await?;
    });
    Ok(out)
}

/// Images by owner (`None`: nobody), each with its count of new pairs, sorted by digest.
type Groups<'a> = BTreeMap<Option<String>, Vec<(&'a String, usize)>>;

fn owner_groups<'a>(
    per_image: &'a [(String, i64)],
    owner_rows: Vec<(String, String)>,
    default_owner: Option<&str>,
) -> Groups<'a> {
    let mut owners: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (image, owner) in owner_rows {
        owners.entry(image).or_default().insert(owner);
    }
    let mut groups: Groups<'a> = BTreeMap::new();
    for (image, n) in per_image {
        let n = usize::try_from(*n).unwrap_or(0);
        match owners.get(image) {
            Some(set) => {
                for o in set {
                    groups.entry(Some(o.clone())).or_default().push((image, n));
                }
            }
            None => groups
                .entry(default_owner.map(str::to_owned))
                .or_default()
                .push((image, n)),
        }
    }
    groups
}

fn build_notices(
    origin: &str,
    import_id: i64,
    plan: &Plan<'_>,
    report: &ImportReport,
    groups: &Groups<'_>,
    listed_per_owner: &HashMap<Option<String>, usize>,
    findings_of: impl Fn(&str) -> Vec<NoticeFinding>,
) -> Vec<OwnerNotice> {
    let by_id: HashMap<&str, &Checked> = plan.write.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut out = Vec::new();
    for (owner, images) in groups {
        let listed: Vec<NoticeImage> = images
            .iter()
            .take(listed_per_owner.get(owner).copied().unwrap_or(0))
            .map(|(img, _)| NoticeImage {
                image: (*img).clone(),
                findings: findings_of(img),
            })
            .collect();
        let advisory_ids: BTreeSet<&str> = listed
            .iter()
            .flat_map(|i| i.findings.iter().map(|f| f.advisory.as_str()))
            .collect();
        let advisories = advisory_ids
            .into_iter()
            .filter_map(|id| by_id.get(id))
            .map(|c| NoticeAdvisory {
                id: c.id.clone(),
                aliases: c.aliases.clone(),
                summary: (!c.summary.is_empty()).then(|| c.summary.clone()),
                modified: format_millis(c.modified),
            })
            .collect();
        out.push(OwnerNotice {
            event: EVENT.to_owned(),
            ledger: origin.to_owned(),
            import: NoticeImport {
                id: import_id,
                at: report.at.clone(),
            },
            owner: owner.clone(),
            totals: NoticeTotals {
                images: images.len(),
                pairs: images.iter().map(|(_, n)| n).sum(),
                listed_images: listed.len(),
                truncated: images.len() > listed.len(),
            },
            advisories,
            images: listed,
        });
    }
    out
}

/// What to list: the images affected by one advisory, or by every advisory imported since a
/// time.
#[derive(Debug, Clone)]
pub enum AffectedQuery {
    /// One advisory, by OSV ID.
    Advisory(String),
    /// Every advisory imported (or updated) at or after this time (Unix ms).
    Since(i64),
}

/// One (advisory, image) pair with what makes the image affected.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct AffectedImage {
    /// OSV ID.
    pub advisory: String,
    /// Manifest digest.
    pub image: String,
    /// The affected components, by layer.
    pub components: Vec<AffectedComponent>,
}

/// A recorded component an advisory could not be decided for (never counted clean).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct UndecidedComponent {
    /// OSV ID.
    pub advisory: String,
    /// DiffID of the layer holding it.
    pub layer: String,
    /// Its purl.
    pub purl: String,
    /// Its installed version.
    pub version: String,
    /// Why it could not be decided.
    pub reason: String,
}

/// A page of affected images.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct AffectedPage {
    /// The advisories this page covers (withdrawn or not evaluable ones included, with no
    /// images).
    pub advisories: Vec<AdvisoryInfo>,
    /// (advisory, image) pairs, by advisory then image digest.
    pub affected: Vec<AffectedImage>,
    /// Components that could not be evaluated against these advisories (listed on an
    /// advisory's first page, at most 100 per advisory).
    pub unevaluated: Vec<UndecidedComponent>,
    /// Cursor of the next page, absent at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Advisories evaluated per round of a since-query.
const ADVISORIES_PER_ROUND: usize = 50;

/// Answers "which recorded images and layers are affected by advisory X" or "by the advisories
/// imported since T", `limit` (advisory, image) pairs per page; `cursor` is a previous page's
/// `next_cursor`. A query of the components already indexed: nothing is rescanned.
pub async fn affected_page(
    db: &Db,
    query: &AffectedQuery,
    cursor: Option<&str>,
    limit: usize,
) -> Result<AffectedPage, ApiError> {
    let limit = limit.max(1);
    index::backfill(db).await?;
    let (cur_adv, cur_img) = match cursor {
        Some(c) => {
            let (a, i) = c.split_once(' ').ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "cursor {:?} is not one this API returned",
                    crate::util::truncate(c)
                ))
            })?;
            (a.to_owned(), i.to_owned())
        }
        None => (String::new(), String::new()),
    };
    let ids: Vec<String> = match query {
        AffectedQuery::Advisory(id) => {
            if !cur_adv.is_empty() && cur_adv != *id {
                return Err(ApiError::BadRequest(
                    "cursor belongs to another advisory".into(),
                ));
            }
            vec![id.clone()]
        }
        AffectedQuery::Since(t) => store::ids_since(db, *t, &cur_adv).await?,
    };
    let mut page = AffectedPage::default();
    let mut remaining = limit;
    'rounds: for round in ids.chunks(ADVISORIES_PER_ROUND) {
        let rows = store::load(db, round).await?;
        if let AffectedQuery::Advisory(id) = query
            && !rows.contains_key(id)
        {
            return Err(ApiError::NotFound(format!(
                "no advisory {:?} has been imported",
                crate::util::truncate(id)
            )));
        }
        let parsed: Vec<(String, Option<custody_vuln::Advisory>)> = round
            .iter()
            .filter_map(|id| rows.get(id).map(|r| (id.clone(), r.advisory())))
            .collect();
        let live: Vec<&custody_vuln::Advisory> =
            parsed.iter().filter_map(|(_, a)| a.as_ref()).collect();
        let hits = eval::evaluate_all(db, &live).await?;
        for (id, _) in &parsed {
            let Some(row) = rows.get(id) else { continue };
            page.advisories.push(row.info());
            let Some(h) = hits.get(id) else { continue };
            let after = if *id == cur_adv { cur_img.as_str() } else { "" };
            let affected: HashMap<Tuple, (Option<String>, custody_vuln::Severity)> = h
                .iter()
                .filter_map(|(t, o)| match o {
                    Outcome::Affected { fixed, severity } => {
                        Some((t.clone(), (fixed.clone(), severity.clone())))
                    }
                    Outcome::Unevaluated(_) => None,
                })
                .collect();
            if after.is_empty() {
                let undecided: HashMap<&Tuple, &String> = h
                    .iter()
                    .filter_map(|(t, o)| match o {
                        Outcome::Unevaluated(why) => Some((t, why)),
                        Outcome::Affected { .. } => None,
                    })
                    .collect();
                let tuples: Vec<&Tuple> = undecided.keys().copied().collect();
                for (tuple, layer, purl, version) in
                    eval::layer_components(db, &tuples, 100).await?
                {
                    let reason = undecided
                        .get(&tuple)
                        .map(|s| (*s).clone())
                        .unwrap_or_default();
                    page.unevaluated.push(UndecidedComponent {
                        advisory: id.clone(),
                        layer,
                        purl,
                        version,
                        reason,
                    });
                }
            }
            if affected.is_empty() {
                continue;
            }
            let tuples: Vec<&Tuple> = affected.keys().collect();
            let mut images = eval::images_after(db, &tuples, after, remaining + 1).await?;
            let more = images.len() > remaining;
            images.truncate(remaining);
            let rows = eval::components_in(db, &tuples, &images).await?;
            let mut by_image = eval::findings_by_image(rows, &affected);
            for image in &images {
                page.affected.push(AffectedImage {
                    advisory: id.clone(),
                    image: image.clone(),
                    components: by_image.remove(image).unwrap_or_default(),
                });
            }
            remaining -= images.len();
            let since = matches!(query, AffectedQuery::Since(_));
            if more || (since && remaining == 0) {
                if let Some(last) = images.last() {
                    page.next_cursor = Some(format!("{id} {last}"));
                }
                break 'rounds;
            }
        }
    }
    Ok(page)
}

/// How often a serving ledger keys newly recorded components.
const KEYING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts what a serving ledger does in the background for advisories: send the messages an
/// earlier process left pending, and key newly recorded components every few seconds (so
/// imports and queries rarely find rows to key first).
pub fn spawn_background(db: Db, notify: NotifyConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if notify.enabled()
            && let Err(e) = deliver_pending(&db, &notify).await
        {
            tracing::warn!(error = %e, "delivering pending notifications failed");
        }
        loop {
            match index::backfill(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "component match keys written"),
                Err(e) => tracing::warn!(error = %e, "keying recorded components failed"),
            }
            tokio::time::sleep(KEYING_INTERVAL).await;
        }
    })
}
