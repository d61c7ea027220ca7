//! Stored advisories: reading them back, and the checked form an import writes.

use std::collections::HashMap;

use custody_vuln::{Advisory, Rejection, Warning, parse_record};
use serde::{Deserialize, Serialize};

use crate::db::{Db, placeholders};
use crate::error::ApiError;
use crate::on_db;
use crate::util::format_millis;

/// A stored advisory, as the API lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct AdvisoryInfo {
    /// OSV ID.
    pub id: String,
    /// `modified` of the stored version (RFC 3339).
    pub modified: String,
    /// `published`, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// `withdrawn`, if the record was withdrawn (it then matches nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Summary.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// Aliases (CVE, GHSA, ...).
    pub aliases: Vec<String>,
    /// False when no affected package is of an ecosystem custody evaluates.
    pub evaluable: bool,
    /// When this version was imported (RFC 3339).
    pub imported_at: String,
    /// When the ID was first imported (RFC 3339).
    pub first_imported_at: String,
    /// Where the record was read from.
    pub source: String,
    /// SHA-256 of the stored record bytes (hex).
    pub record_sha256: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AdvisoryRow {
    pub id: String,
    pub modified: i64,
    pub published: Option<i64>,
    pub withdrawn: Option<i64>,
    pub summary: String,
    pub aliases: String,
    pub evaluable: bool,
    pub record_sha256: String,
    pub record: Vec<u8>,
    pub source: String,
    pub first_imported_at: i64,
    pub imported_at: i64,
}

impl AdvisoryRow {
    pub(crate) fn info(&self) -> AdvisoryInfo {
        AdvisoryInfo {
            id: self.id.clone(),
            modified: format_millis(self.modified),
            published: self.published.map(format_millis),
            withdrawn: self.withdrawn.map(format_millis),
            summary: self.summary.clone(),
            aliases: serde_json::from_str(&self.aliases).unwrap_or_default(),
            evaluable: self.evaluable,
            imported_at: format_millis(self.imported_at),
            first_imported_at: format_millis(self.first_imported_at),
            source: self.source.clone(),
            record_sha256: self.record_sha256.clone(),
        }
    }

    /// The advisory, parsed again from the stored bytes (`None` if withdrawn, or if a record
    /// that passed the import no longer parses, which is logged).
    pub(crate) fn advisory(&self) -> Option<Advisory> {
        match parse_record(&self.record, &format!("ledger:{}", self.id)) {
            Ok((a, _)) => Some(a),
            Err(Rejection::Withdrawn(_)) => None,
            Err(Rejection::Invalid(w)) => {
                tracing::error!(id = %self.id, warning = %w, "stored advisory no longer parses");
                None
            }
        }
    }
}

const COLUMNS: &str = "id, modified, published, withdrawn, summary, aliases, evaluable, \
     record_sha256, record, source, first_imported_at, imported_at";

/// The stored advisories `ids` (those that exist).
pub(crate) async fn load(
    db: &Db,
    ids: &[String],
) -> Result<HashMap<String, AdvisoryRow>, ApiError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {COLUMNS} FROM advisories WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<AdvisoryRow> = on_db!(db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for id in chunk {
                q = q.bind(id);
            }
            q.fetch_all(pool).await?
        });
        out.extend(rows.into_iter().map(|r| (r.id.clone(), r)));
    }
    Ok(out)
}

/// `modified` and record hash of the stored versions of `ids`.
pub(crate) async fn stored_versions(
    db: &Db,
    ids: &[&str],
) -> Result<HashMap<String, (i64, String)>, ApiError> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, modified, record_sha256 FROM advisories WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(String, i64, String)> = on_db!(db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await?
        });
        out.extend(rows.into_iter().map(|(id, m, s)| (id, (m, s))));
    }
    Ok(out)
}

/// IDs of the advisories imported at or after `since` (Unix ms), from `from_id` on, by ID.
pub(crate) async fn ids_since(db: &Db, since: i64, from_id: &str) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT id FROM advisories WHERE imported_at >= $1 AND id >= $2 ORDER BY id",
        )
        .bind(since)
        .bind(from_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// One record of an import, checked by custody-vuln.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub id: String,
    pub modified: i64,
    pub published: Option<i64>,
    pub withdrawn: Option<i64>,
    pub summary: String,
    pub aliases: Vec<String>,
    /// The parsed advisory (also for a withdrawn one, which never matches).
    pub advisory: Advisory,
    pub sha256: String,
    pub bytes: Vec<u8>,
    pub source: String,
}

impl Checked {
    pub(crate) fn evaluable(&self) -> bool {
        !self.advisory.affected.is_empty()
    }
}

/// Parses one record: `Ok` with the parse warnings (unsupported ecosystems and the like), or
/// the warning that rejects it.
pub(crate) fn check(source: String, bytes: Vec<u8>) -> Result<(Checked, Vec<Warning>), Warning> {
    let (advisory, warnings) = match parse_record(&bytes, &source) {
        Ok((a, w)) => (a, w),
        Err(Rejection::Withdrawn(a)) => (*a, Vec::new()),
        Err(Rejection::Invalid(w)) => return Err(w),
    };
    if advisory.id.chars().any(char::is_control) {
        return Err(Warning {
            source,
            id: None,
            kind: custody_vuln::WarningKind::SchemaViolation,
            message: "id contains control characters".into(),
        });
    }
    let ms = |t: jiff::Timestamp| t.as_millisecond();
    Ok((
        Checked {
            id: advisory.id.clone(),
            modified: ms(advisory.modified),
            published: advisory.published.map(ms),
            withdrawn: advisory.withdrawn.map(ms),
            // PostgreSQL text cannot hold NUL; a hostile summary must not fail the import.
            summary: advisory
                .summary
                .clone()
                .unwrap_or_default()
                .replace('\0', ""),
            aliases: advisory
                .aliases
                .iter()
                .map(|a| a.replace('\0', ""))
                .collect(),
            sha256: hex::encode(advisory.record_sha256),
            advisory,
            bytes,
            source: source.replace('\0', ""),
        },
        warnings,
    ))
}

/// The log's size now: every entry below it is committed (appends commit in index order),
/// so an import that evaluates against it sees the same entries whenever they are read.
pub(crate) async fn log_size(db: &Db) -> Result<i64, ApiError> {
    let row: Option<(i64,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT tree_size FROM tree_head WHERE id = 1")
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map_or(0, |r| r.0))
}
