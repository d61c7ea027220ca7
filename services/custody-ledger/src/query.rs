//! Auditors' queries: entries by index or hash, search by subject, component, signer,
//! predicate type and time, and an image's whole custody.
//!
//! Every search pages by leaf index (`cursor` = first index to return), which is stable while
//! the log grows, and `limit` is bounded (1..=1000).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use custody_log::Hash;
use custody_types::Digest;
use custody_vuln::version::VersionScheme;
use serde::{Deserialize, Serialize};

use crate::db::{Db, placeholders};
use crate::error::ApiError;
use crate::on_db;
use crate::util::{format_millis, to_i64, to_u64, truncate};

/// Default page size.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
pub(crate) const MAX_LIMIT: u32 = 1000;

/// A signer of an entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct SignerRef {
    /// Key ID.
    pub key_id: String,
    /// Role of the key when it signed.
    pub role: String,
}

/// A component match of a purl search.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct ComponentMatch {
    /// The component's purl as recorded.
    pub purl: String,
    /// Its version.
    pub version: String,
    /// DiffID of the layer that added it ("" when unknown).
    pub layer: String,
    /// Manifest digests of the recorded images containing it.
    pub images: Vec<String>,
}

/// One entry in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct EntrySummary {
    /// Leaf index.
    pub index: u64,
    /// Leaf hash (hex).
    pub leaf_hash: String,
    /// in-toto predicate type.
    pub predicate_type: String,
    /// layer, provenance, scan, review, decision, vex, sbom or other.
    pub kind: String,
    /// Subject digests.
    pub subjects: Vec<String>,
    /// Registered keys that signed it.
    pub signers: Vec<SignerRef>,
    /// When it was appended (RFC 3339).
    pub integrated_time: String,
    /// For purl searches: the matching component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentMatch>,
}

/// A full entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct EntryDetail {
    /// Summary.
    #[serde(flatten)]
    pub summary: EntrySummary,
    /// The envelope's canonical JSON (the leaf data).
    #[schema(value_type = Object)]
    pub envelope: serde_json::Value,
}

/// What to search for (exactly one of subject, purl, signer, predicate_type; or a time range).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Subject digest (sha256:...).
    pub subject: Option<String>,
    /// Package URL: with a version, that version; without, every version (or `versions`).
    pub purl: Option<String>,
    /// Signer key ID.
    pub signer: Option<String>,
    /// in-toto predicate type URI.
    pub predicate_type: Option<String>,
    /// With purl: version constraints such as `>=1.2, <2` (compared the ecosystem's way).
    pub versions: Option<String>,
    /// Lower bound on integrated time (RFC 3339, inclusive).
    pub since: Option<String>,
    /// Upper bound on integrated time (RFC 3339, exclusive).
    pub until: Option<String>,
    /// First leaf index to return (from the previous page's next_cursor).
    pub cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchPage {
    /// The entries, by index.
    pub entries: Vec<EntrySummary>,
    /// Cursor of the next page, absent at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<u64>,
}

/// A checked search.
#[derive(Debug, Clone)]
pub enum Criterion {
    /// By subject digest.
    Subject(String),
    /// By component.
    Purl {
        /// purl type.
        ty: String,
        /// purl namespace.
        namespace: String,
        /// purl name.
        name: String,
        /// Exact version, if the purl has one.
        version: Option<String>,
        /// Version constraints.
        range: Option<VersionRange>,
    },
    /// By signer key ID.
    Signer(String),
    /// By predicate type.
    PredicateType(String),
    /// Only the time range.
    Time,
}

/// A checked search request.
#[derive(Debug, Clone)]
pub struct Search {
    /// What.
    pub criterion: Criterion,
    /// Time bounds (Unix ms).
    pub since: Option<i64>,
    /// Time bounds (Unix ms).
    pub until: Option<i64>,
    /// First index.
    pub cursor: u64,
    /// Page size.
    pub limit: u32,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Parses a search query string (`subject=...&limit=...`) the way the HTTP API does.
pub fn parse_search_query(query: &str) -> Result<Search, ApiError> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| bad("query string is not valid in a URI"))?;
    let axum::extract::Query(params) = axum::extract::Query::<SearchParams>::try_from_uri(&uri)
        .map_err(|e| bad(format!("query string: {}", e.body_text())))?;
    Search::try_from(params)
}

/// Parses a page size: 1..=1000, default 100.
pub(crate) fn parse_limit(s: Option<&str>) -> Result<u32, ApiError> {
    match s {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "limit {:?} must be an integer from 1 to {MAX_LIMIT}",
                truncate(s)
            ))),
        },
    }
}

/// Parses a cursor: a leaf index below 2^62.
pub(crate) fn parse_cursor(s: Option<&str>) -> Result<u64, ApiError> {
    match s {
        None => Ok(0),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n < custody_log::MAX_TREE_SIZE => Ok(n),
            _ => Err(bad(format!(
                "cursor {:?} must be a non-negative leaf index",
                truncate(s)
            ))),
        },
    }
}

impl TryFrom<SearchParams> for Search {
    type Error = ApiError;

    fn try_from(p: SearchParams) -> Result<Search, ApiError> {
        let given = [
            p.subject.is_some(),
            p.purl.is_some(),
            p.signer.is_some(),
            p.predicate_type.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given > 1 {
            return Err(bad(
                "give one of subject, purl, signer, predicate_type (not several)",
            ));
        }
        if p.versions.is_some() && p.purl.is_none() {
            return Err(bad("versions needs purl"));
        }
        let since = p
            .since
            .as_deref()
            .map(|s| {
                crate::util::parse_time(s)
                    .ok_or_else(|| bad(format!("since {:?} is not an RFC 3339 time", truncate(s))))
            })
            .transpose()?;
        let until = p
            .until
            .as_deref()
            .map(|s| {
                crate::util::parse_time(s)
                    .ok_or_else(|| bad(format!("until {:?} is not an RFC 3339 time", truncate(s))))
            })
            .transpose()?;
        let criterion = if let Some(s) = p.subject {
            let d = Digest::from_str(&s).map_err(|e| bad(e.to_string()))?;
            Criterion::Subject(d.to_string())
        } else if let Some(purl) = p.purl {
            parse_purl_criterion(&purl, p.versions.as_deref())?
        } else if let Some(s) = p.signer {
            let k = custody_types::KeyId::from_str(&s).map_err(|e| bad(format!("signer: {e}")))?;
            Criterion::Signer(k.to_string())
        } else if let Some(t) = p.predicate_type {
            if t.is_empty() || t.len() > 512 {
                return Err(bad("predicate_type must be 1 to 512 characters"));
            }
            Criterion::PredicateType(t)
        } else if since.is_some() || until.is_some() {
            Criterion::Time
        } else {
            return Err(bad(
                "give one of subject, purl, signer, predicate_type, or since/until",
            ));
        };
        Ok(Search {
            criterion,
            since,
            until,
            cursor: parse_cursor(p.cursor.as_deref())?,
            limit: parse_limit(p.limit.as_deref())?,
        })
    }
}

/// A purl (with or without version) and optional version constraints.
pub(crate) fn parse_purl_criterion(
    purl: &str,
    versions: Option<&str>,
) -> Result<Criterion, ApiError> {
    if purl.len() > 2048 {
        return Err(bad("purl is longer than 2048 characters"));
    }
    let parsed = packageurl::PackageUrl::from_str(purl)
        .map_err(|e| bad(format!("purl {:?} does not parse: {e}", truncate(purl))))?;
    let ty = parsed.ty().to_owned();
    let version = parsed.version().map(str::to_owned);
    let range = match versions {
        Some(r) => {
            if version.is_some() {
                return Err(bad(
                    "give either a purl with a version or versions, not both",
                ));
            }
            Some(VersionRange::parse(&ty, r)?)
        }
        None => None,
    };
    Ok(Criterion::Purl {
        ty,
        namespace: parsed.namespace().unwrap_or("").to_owned(),
        name: parsed.name().to_owned(),
        version,
        range,
    })
}

/// Version constraints `OP VERSION[, OP VERSION]...` (all must hold), compared under the
/// ecosystem's scheme (custody-vuln: debversion, pep440_rs, semver, ...).
#[derive(Debug, Clone)]
pub struct VersionRange {
    scheme: VersionScheme,
    constraints: Vec<(Op, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// The version scheme of a purl type.
pub(crate) fn scheme_of(purl_type: &str) -> Option<VersionScheme> {
    Some(match purl_type {
        "deb" => VersionScheme::Dpkg,
        "apk" => VersionScheme::Apk,
        "pypi" => VersionScheme::Pep440,
        "npm" => VersionScheme::Npm,
        "cargo" => VersionScheme::Cargo,
        "golang" => VersionScheme::Go,
        "maven" => VersionScheme::Maven,
        _ => return None,
    })
}

impl VersionRange {
    /// Parses constraints for purl type `ty`.
    pub fn parse(ty: &str, s: &str) -> Result<VersionRange, ApiError> {
        let scheme = scheme_of(ty).ok_or_else(|| {
            bad(format!(
                "no version ordering known for purl type {:?}; use an exact version",
                truncate(ty)
            ))
        })?;
        if s.len() > 512 {
            return Err(bad("versions is longer than 512 characters"));
        }
        let mut constraints = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (op, rest) = [
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("!=", Op::Ne),
                ("==", Op::Eq),
                ("<", Op::Lt),
                (">", Op::Gt),
                ("=", Op::Eq),
            ]
            .iter()
            .find_map(|(p, op)| part.strip_prefix(p).map(|r| (*op, r.trim())))
            .ok_or_else(|| {
                bad(format!(
                    "version constraint {:?} has no operator (<, <=, >, >=, =, !=)",
                    truncate(part)
                ))
            })?;
            custody_vuln::version::Version::parse(scheme, rest).map_err(|e| bad(e.to_string()))?;
            constraints.push((op, rest.to_owned()));
        }
        if constraints.is_empty() {
            return Err(bad("versions has no constraint"));
        }
        Ok(VersionRange {
            scheme,
            constraints,
        })
    }

    /// Whether `version` satisfies every constraint; an unparseable version never does.
    pub fn matches(&self, version: &str) -> bool {
        self.constraints.iter().all(|(op, bound)| {
            let Some(ord) = custody_vuln::version::compare(self.scheme, version, bound) else {
                return false;
            };
            use std::cmp::Ordering::*;
            match op {
                Op::Lt => ord == Less,
                Op::Le => ord != Greater,
                Op::Gt => ord == Greater,
                Op::Ge => ord != Less,
                Op::Eq => ord == Equal,
                Op::Ne => ord != Equal,
            }
        })
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    idx: i64,
    leaf_hash: Vec<u8>,
    predicate_type: String,
    kind: String,
    integrated_at: i64,
}

/// Summaries of the entries `idxs`, in index order.
pub(crate) async fn summaries(db: &Db, idxs: &[i64]) -> Result<Vec<EntrySummary>, ApiError> {
    let mut out: BTreeMap<i64, EntrySummary> = BTreeMap::new();
    for chunk in idxs.chunks(500) {
        let list = placeholders(1, chunk.len());
        let q1 = format!(
            "SELECT idx, leaf_hash, predicate_type, kind, integrated_at FROM entries WHERE idx IN ({list})"
        );
        let q2 =
            format!("SELECT entry_idx, digest FROM entry_subjects WHERE entry_idx IN ({list})");
        let q3 = format!(
            "SELECT entry_idx, key_id, role FROM entry_signers WHERE entry_idx IN ({list})"
        );
        let (rows, subjects, signers) = on_db!(db, pool => {
            let mut a = sqlx::query_as::<_, EntryRow>(sqlx::AssertSqlSafe(q1.clone()));
            let mut b = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(q2.clone()));
            let mut c = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(q3.clone()));
            for i in chunk {
                a = a.bind(*i);
                b = b.bind(*i);
                c = c.bind(*i);
            }
            (a.fetch_all(pool).await?, b.fetch_all(pool).await?, c.fetch_all(pool).await?)
        });
        for r in rows {
            out.insert(
                r.idx,
                EntrySummary {
                    index: to_u64(r.idx),
                    leaf_hash: hex::encode(&r.leaf_hash),
                    predicate_type: r.predicate_type,
                    kind: r.kind,
                    subjects: Vec::new(),
                    signers: Vec::new(),
                    integrated_time: format_millis(r.integrated_at),
                    component: None,
                },
            );
        }
        for (idx, d) in subjects {
            if let Some(e) = out.get_mut(&idx) {
                e.subjects.push(d);
            }
        }
        for (idx, key_id, role) in signers {
            if let Some(e) = out.get_mut(&idx) {
                e.signers.push(SignerRef { key_id, role });
            }
        }
    }
    let mut v: Vec<EntrySummary> = out.into_values().collect();
    for e in &mut v {
        e.subjects.sort();
        e.signers.sort_by(|a, b| a.key_id.cmp(&b.key_id));
    }
    Ok(v)
}

/// One entry with its envelope, by index.
pub(crate) async fn entry_by_index(db: &Db, index: u64) -> Result<EntryDetail, ApiError> {
    let idx = to_i64(index).ok_or_else(|| bad("index too large"))?;
    let row: Option<(Vec<u8>,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT canonical FROM entries WHERE idx = $1")
            .bind(idx)
            .fetch_optional(pool)
            .await?
    });
    let (canonical,) =
        row.ok_or_else(|| ApiError::NotFound(format!("no entry at index {index}")))?;
    let summary = summaries(db, &[idx])
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("no entry at index {index}")))?;
    let envelope = serde_json::from_slice(&canonical).map_err(ApiError::internal)?;
    Ok(EntryDetail { summary, envelope })
}

/// The canonical leaf bytes of several entries, by index (absent indices are left out).
pub(crate) async fn canonical_many(
    db: &Db,
    indices: &[u64],
) -> Result<BTreeMap<u64, Vec<u8>>, ApiError> {
    let mut out = BTreeMap::new();
    for chunk in indices.chunks(500) {
        let idxs = chunk
            .iter()
            .map(|i| to_i64(*i).ok_or_else(|| bad("index too large")))
            .collect::<Result<Vec<i64>, ApiError>>()?;
        let sql = format!(
            "SELECT idx, canonical FROM entries WHERE idx IN ({})",
            placeholders(1, idxs.len())
        );
        let rows: Vec<(i64, Vec<u8>)> = on_db!(db, pool => {
            let mut q = sqlx::query_as::<_, (i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql.clone()));
            for i in &idxs {
                q = q.bind(*i);
            }
            q.fetch_all(pool).await?
        });
        out.extend(rows.into_iter().map(|(i, c)| (to_u64(i), c)));
    }
    Ok(out)
}

/// The canonical leaf bytes of an entry.
pub(crate) async fn canonical_by_index(db: &Db, index: u64) -> Result<Vec<u8>, ApiError> {
    let idx = to_i64(index).ok_or_else(|| bad("index too large"))?;
    let row: Option<(Vec<u8>,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT canonical FROM entries WHERE idx = $1")
            .bind(idx)
            .fetch_optional(pool)
            .await?
    });
    row.map(|r| r.0)
        .ok_or_else(|| ApiError::NotFound(format!("no entry at index {index}")))
}

/// The index of the entry with `leaf_hash`.
pub(crate) async fn index_of_leaf(db: &Db, leaf_hash: &Hash) -> Result<u64, ApiError> {
    let row: Option<(i64,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT idx FROM entries WHERE leaf_hash = $1")
            .bind(leaf_hash.as_bytes().as_slice())
            .fetch_optional(pool)
            .await?
    });
    row.map(|r| to_u64(r.0))
        .ok_or_else(|| ApiError::NotFound(format!("no entry with leaf hash {leaf_hash}")))
}

fn time_clause(s: &Search, next: &mut usize, col: &str) -> String {
    let mut sql = String::new();
    if s.since.is_some() {
        sql.push_str(&format!(" AND {col} >= ${next}"));
        *next += 1;
    }
    if s.until.is_some() {
        sql.push_str(&format!(" AND {col} < ${next}"));
        *next += 1;
    }
    sql
}

/// Runs a search.
pub(crate) async fn search(db: &Db, s: &Search) -> Result<SearchPage, ApiError> {
    let cursor = to_i64(s.cursor).ok_or_else(|| bad("cursor too large"))?;
    let fetch = i64::from(s.limit) + 1;
    if let Criterion::Purl { .. } = &s.criterion {
        return search_purl(db, s).await;
    }
    let mut next = 3;
    let (sql, key): (String, String) = match &s.criterion {
        Criterion::Subject(d) => {
            let t = time_clause(s, &mut next, "e.integrated_at");
            (
                format!(
                    "SELECT e.idx FROM entry_subjects x JOIN entries e ON e.idx = x.entry_idx \
                 WHERE x.digest = $1 AND x.entry_idx >= $2{t} ORDER BY x.entry_idx LIMIT ${next}"
                ),
                d.clone(),
            )
        }
        Criterion::Signer(k) => {
            let t = time_clause(s, &mut next, "e.integrated_at");
            (
                format!(
                    "SELECT e.idx FROM entry_signers x JOIN entries e ON e.idx = x.entry_idx \
                 WHERE x.key_id = $1 AND x.entry_idx >= $2{t} ORDER BY x.entry_idx LIMIT ${next}"
                ),
                k.clone(),
            )
        }
        Criterion::PredicateType(p) => {
            let t = time_clause(s, &mut next, "integrated_at");
            (
                format!(
                    "SELECT idx FROM entries WHERE predicate_type = $1 AND idx >= $2{t} \
                 ORDER BY idx LIMIT ${next}"
                ),
                p.clone(),
            )
        }
        Criterion::Time | Criterion::Purl { .. } => {
            let t = time_clause(s, &mut next, "integrated_at");
            (
                format!(
                    "SELECT idx FROM entries WHERE $1 = $1 AND idx >= $2{t} ORDER BY idx LIMIT ${next}"
                ),
                String::new(),
            )
        }
    };
    let rows: Vec<(i64,)> = on_db!(db, pool => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(key).bind(cursor);
        if let Some(t) = s.since {
            q = q.bind(t);
        }
        if let Some(t) = s.until {
            q = q.bind(t);
        }
        q.bind(fetch).fetch_all(pool).await?
    });
    let mut idxs: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
    let next_cursor = if idxs.len() as i64 > i64::from(s.limit) {
        idxs.pop().map(to_u64)
    } else {
        None
    };
    Ok(SearchPage {
        entries: summaries(db, &idxs).await?,
        next_cursor,
    })
}

#[derive(sqlx::FromRow, Clone)]
struct ComponentHit {
    entry_idx: i64,
    purl: String,
    version: String,
    layer: String,
    image: String,
}

async fn component_rows(
    db: &Db,
    ty: &str,
    namespace: &str,
    name: &str,
    version: Option<&str>,
    from: i64,
    fetch: i64,
) -> Result<Vec<ComponentHit>, ApiError> {
    let sql = if version.is_some() {
        "SELECT entry_idx, purl, version, layer, image FROM components \
         WHERE purl_type = $1 AND name = $2 AND namespace = $3 AND version = $4 AND entry_idx >= $5 \
         ORDER BY entry_idx, id LIMIT $6"
    } else {
        "SELECT entry_idx, purl, version, layer, image FROM components \
         WHERE purl_type = $1 AND name = $2 AND namespace = $3 AND $4 = $4 AND entry_idx >= $5 \
         ORDER BY entry_idx, id LIMIT $6"
    };
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, ComponentHit>(sql)
            .bind(ty)
            .bind(name)
            .bind(namespace)
            .bind(version.unwrap_or(""))
            .bind(from)
            .bind(fetch)
            .fetch_all(pool)
            .await?
    }))
}

/// Manifest digests of the images whose provenance lists layer `diff_ids`.
async fn images_of_layers(
    db: &Db,
    diff_ids: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, ApiError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids: Vec<&String> = diff_ids.iter().filter(|d| !d.is_empty()).collect();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT DISTINCT diff_id, image FROM image_layers WHERE diff_id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(String, String)> = on_db!(db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for d in chunk {
                q = q.bind(d.as_str());
            }
            q.fetch_all(pool).await?
        });
        for (d, i) in rows {
            out.entry(d).or_default().insert(i);
        }
    }
    Ok(out)
}

async fn search_purl(db: &Db, s: &Search) -> Result<SearchPage, ApiError> {
    let Criterion::Purl {
        ty,
        namespace,
        name,
        version,
        range,
    } = &s.criterion
    else {
        return Err(ApiError::internal("search_purl without purl"));
    };
    let limit = s.limit as usize;
    let mut hits: Vec<ComponentHit> = Vec::new();
    let mut distinct_entries: BTreeSet<i64> = BTreeSet::new();
    let mut from = to_i64(s.cursor).unwrap_or(i64::MAX);
    let mut next_cursor = None;
    // With a version range the filter runs here, so scan bounded windows by index.
    for _round in 0..20 {
        let window = (limit as i64 + 1).max(500);
        let rows =
            component_rows(db, ty, namespace, name, version.as_deref(), from, window).await?;
        let exhausted = (rows.len() as i64) < window;
        let last_idx = rows.last().map(|r| r.entry_idx);
        for r in rows {
            if range.as_ref().is_some_and(|rg| !rg.matches(&r.version)) {
                continue;
            }
            // Time bounds are applied below, with the entries' times.
            if distinct_entries.len() == limit && !distinct_entries.contains(&r.entry_idx) {
                next_cursor = Some(to_u64(r.entry_idx));
                break;
            }
            distinct_entries.insert(r.entry_idx);
            hits.push(r);
        }
        if next_cursor.is_some() || exhausted {
            break;
        }
        match last_idx {
            Some(i) => from = i + 1,
            None => break,
        }
        if hits.len() >= 10 * MAX_LIMIT as usize {
            next_cursor = Some(to_u64(from));
            break;
        }
    }
    let layers: BTreeSet<String> = hits.iter().map(|h| h.layer.clone()).collect();
    let images = images_of_layers(db, &layers).await?;
    let idxs: Vec<i64> = hits
        .iter()
        .map(|h| h.entry_idx)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sums = summaries(db, &idxs).await?;
    let by_idx: BTreeMap<u64, EntrySummary> = sums.into_iter().map(|e| (e.index, e)).collect();
    let mut entries = Vec::new();
    for h in hits {
        let Some(base) = by_idx.get(&to_u64(h.entry_idx)) else {
            continue;
        };
        let t = crate::util::parse_time(&base.integrated_time).unwrap_or(0);
        if s.since.is_some_and(|x| t < x) || s.until.is_some_and(|x| t >= x) {
            continue;
        }
        let mut imgs: BTreeSet<String> = images.get(&h.layer).cloned().unwrap_or_default();
        if !h.image.is_empty() {
            imgs.insert(h.image.clone());
        }
        let mut e = base.clone();
        e.component = Some(ComponentMatch {
            purl: h.purl,
            version: h.version,
            layer: h.layer,
            images: imgs.into_iter().collect(),
        });
        entries.push(e);
    }
    Ok(SearchPage {
        entries,
        next_cursor,
    })
}

/// An image found to contain a component.
#[derive(
    Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq, PartialOrd, Ord,
)]
pub(crate) struct ImageHit {
    /// Manifest digest.
    pub image: String,
    /// DiffID of the layer holding the component ("" when the SBOM does not say).
    pub layer: String,
    /// The component's purl.
    pub purl: String,
    /// Index of the entry (layer attestation or SBOM) that recorded the component.
    pub entry: u64,
}

/// The distinct versions recorded for a package: a skip scan of the package index, one
/// index seek per distinct version (a package recorded in 20,000 layers with 50 versions
/// costs 50 seeks, not a walk over 20,000 index entries).
async fn recorded_versions(
    db: &Db,
    ty: &str,
    namespace: &str,
    name: &str,
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as(
            "WITH RECURSIVE v(version, n) AS ( \
               SELECT (SELECT version FROM components \
                       WHERE purl_type = $1 AND name = $2 AND namespace = $3 \
                       ORDER BY version LIMIT 1), 1 \
               UNION ALL \
               SELECT (SELECT c.version FROM components c \
                       WHERE c.purl_type = $1 AND c.name = $2 AND c.namespace = $3 \
                       AND c.version > v.version ORDER BY c.version LIMIT 1), v.n + 1 \
               FROM v WHERE v.version IS NOT NULL AND v.n < 100000) \
             SELECT version FROM v WHERE version IS NOT NULL",
        )
        .bind(ty)
        .bind(name)
        .bind(namespace)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// "Which recorded images contain this package?" (bounded to `limit` images).
pub(crate) async fn images_with_purl(
    db: &Db,
    criterion: &Criterion,
    limit: u32,
) -> Result<Vec<ImageHit>, ApiError> {
    let Criterion::Purl {
        ty,
        namespace,
        name,
        version,
        range,
    } = criterion
    else {
        return Err(bad("purl required"));
    };
    // Which recorded versions qualify: the one given, every one, or those in the range
    // (compared here, in the ecosystem's order, over the few distinct versions the index
    // holds), so the row query below is always an index lookup by exact version.
    let versions: Option<Vec<String>> = match (version, range) {
        (Some(v), _) => Some(vec![v.clone()]),
        (None, None) => None,
        (None, Some(r)) => Some(
            recorded_versions(db, ty, namespace, name)
                .await?
                .into_iter()
                .filter(|v| r.matches(v))
                .collect(),
        ),
    };
    if versions.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let version_clause = match &versions {
        Some(vs) => format!("c.version IN ({})", placeholders(5, vs.len())),
        None => "TRUE".to_owned(),
    };
    let sql = format!(
        "SELECT il.image, c.layer, c.purl, c.entry_idx, c.version FROM components c \
         JOIN image_layers il ON il.diff_id = c.layer \
         WHERE c.purl_type = $1 AND c.name = $2 AND c.namespace = $3 AND {version_clause} \
         UNION ALL \
         SELECT c.image, c.layer, c.purl, c.entry_idx, c.version FROM components c \
         WHERE c.purl_type = $1 AND c.name = $2 AND c.namespace = $3 AND {version_clause} \
         AND c.image <> '' LIMIT $4"
    );
    let cap = i64::from(MAX_LIMIT) * 50;
    let rows: Vec<(String, String, String, i64, String)> = on_db!(db, pool => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(ty)
            .bind(name)
            .bind(namespace)
            .bind(cap);
        for v in versions.iter().flatten() {
            q = q.bind(v.as_str());
        }
        q.fetch_all(pool).await?
    });
    let mut seen = BTreeMap::new();
    for (image, layer, purl, entry, version) in rows {
        if range.as_ref().is_some_and(|r| !r.matches(&version)) {
            continue;
        }
        seen.entry(image.clone()).or_insert(ImageHit {
            image,
            layer,
            purl,
            entry: to_u64(entry),
        });
        if seen.len() >= limit as usize {
            break;
        }
    }
    Ok(seen.into_values().collect())
}

/// A layer of an image with the attestations that name it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageLayerView {
    /// Position in the image, bottom first.
    pub position: u32,
    /// DiffID.
    pub diff_id: String,
    /// Layer attestations of this DiffID.
    pub attestations: Vec<EntrySummary>,
}

/// An image's chain of custody.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageCustody {
    /// Manifest digest.
    pub digest: String,
    /// Build provenance entries naming it.
    pub provenance: Vec<EntrySummary>,
    /// Base image digests from the provenance.
    pub base_images: Vec<String>,
    /// Its layers (from the provenance), each with its attestations.
    pub layers: Vec<ImageLayerView>,
    /// Scans.
    pub scans: Vec<EntrySummary>,
    /// Reviews.
    pub reviews: Vec<EntrySummary>,
    /// Deploy decisions.
    pub decisions: Vec<EntrySummary>,
    /// VEX statements.
    pub vex: Vec<EntrySummary>,
    /// SBOM attestations.
    pub sboms: Vec<EntrySummary>,
    /// Anything else naming the image.
    pub other: Vec<EntrySummary>,
}

/// Most entries gathered for one image view.
const IMAGE_ENTRY_CAP: i64 = 10_000;

/// `GET /api/v1/images/{digest}`.
/// Most attestations listed per layer in an image view.
const LAYER_ATTESTATION_CAP: usize = 100;

pub(crate) async fn image_custody(db: &Db, digest: &str) -> Result<ImageCustody, ApiError> {
    let digest = Digest::from_str(digest)
        .map_err(|e| bad(e.to_string()))?
        .to_string();
    let idxs: Vec<(i64,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT entry_idx FROM entry_subjects WHERE digest = $1 ORDER BY entry_idx LIMIT $2")
            .bind(&digest)
            .bind(IMAGE_ENTRY_CAP)
            .fetch_all(pool)
            .await?
    });
    let idxs: Vec<i64> = idxs.into_iter().map(|r| r.0).collect();
    let layer_rows: Vec<(i64, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT DISTINCT position, diff_id FROM image_layers WHERE image = $1 ORDER BY position")
            .bind(&digest)
            .fetch_all(pool)
            .await?
    });
    let bases: Vec<(String,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT DISTINCT base_image FROM image_bases WHERE image = $1 ORDER BY base_image")
            .bind(&digest)
            .fetch_all(pool)
            .await?
    });
    let mut view = ImageCustody {
        digest: digest.clone(),
        provenance: Vec::new(),
        base_images: bases.into_iter().map(|b| b.0).collect(),
        layers: Vec::new(),
        scans: Vec::new(),
        reviews: Vec::new(),
        decisions: Vec::new(),
        vex: Vec::new(),
        sboms: Vec::new(),
        other: Vec::new(),
    };
    for e in summaries(db, &idxs).await? {
        match e.kind.as_str() {
            "provenance" => view.provenance.push(e),
            "scan" => view.scans.push(e),
            "review" => view.reviews.push(e),
            "decision" => view.decisions.push(e),
            "vex" => view.vex.push(e),
            "sbom" => view.sboms.push(e),
            _ => view.other.push(e),
        }
    }
    // Every layer's attestations in one query (and one summaries call), not two per layer:
    // a gate asks this for every admission.
    let diff_ids: BTreeSet<&String> = layer_rows.iter().map(|(_, d)| d).collect();
    let diff_ids: Vec<&String> = diff_ids.into_iter().collect();
    let mut by_layer: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for chunk in diff_ids.chunks(500) {
        let sql = format!(
            "SELECT x.digest, x.entry_idx FROM entry_subjects x JOIN entries e ON e.idx = x.entry_idx \
             WHERE x.digest IN ({}) AND e.kind = 'layer' ORDER BY x.digest, x.entry_idx",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(String, i64)> = on_db!(db, pool => {
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql.clone()));
            for d in chunk {
                q = q.bind((*d).clone());
            }
            q.fetch_all(pool).await?
        });
        for (digest, idx) in rows {
            let ids = by_layer.entry(digest).or_default();
            if ids.len() < LAYER_ATTESTATION_CAP {
                ids.push(idx);
            }
        }
    }
    let all: BTreeSet<i64> = by_layer.values().flatten().copied().collect();
    let all: Vec<i64> = all.into_iter().collect();
    let summary_of: BTreeMap<u64, EntrySummary> = summaries(db, &all)
        .await?
        .into_iter()
        .map(|e| (e.index, e))
        .collect();
    for (position, diff_id) in layer_rows {
        let attestations = by_layer
            .get(&diff_id)
            .into_iter()
            .flatten()
            .filter_map(|i| summary_of.get(&to_u64(*i)).cloned())
            .collect();
        view.layers.push(ImageLayerView {
            position: u32::try_from(position).unwrap_or(u32::MAX),
            diff_id,
            attestations,
        });
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_bounded() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("1000")).unwrap(), 1000);
        for bad in ["0", "-1", "1001", "99999999999999999999", "1e3", "abc", ""] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse_cursor(Some("5")).unwrap(), 5);
        for bad in ["-1", "18446744073709551615", "x"] {
            assert!(parse_cursor(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn search_query_strings_parse_strictly() {
        assert!(
            parse_search_query(
                "subject=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
            .is_ok()
        );
        assert!(parse_search_query("purl=pkg:deb/debian/openssl&versions=%3E%3D3").is_ok());
        for bad in [
            "",
            "subject=x",
            "bogus=1",
            "limit=5",
            "subject=a&subject=b",
            "purl=pkg:deb/debian/x@1&versions=>1",
        ] {
            assert!(parse_search_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_ranges_use_the_ecosystem_ordering() {
        let deb = VersionRange::parse("deb", ">= 1:1.0, < 1:2.0~rc1").unwrap();
        assert!(deb.matches("1:1.5-1"));
        assert!(!deb.matches("1:2.0"));
        assert!(!deb.matches("2.5"), "no epoch sorts below epoch 1");
        let py = VersionRange::parse("pypi", ">=2.0,<3").unwrap();
        assert!(py.matches("2.31.0"));
        assert!(py.matches("3.0.0rc1"), "PEP 440: 3.0.0rc1 sorts below 3");
        assert!(!py.matches("3.0.0"));
        assert!(!py.matches("not a version"));
        assert!(VersionRange::parse("generic", ">1").is_err());
        assert!(VersionRange::parse("deb", "1.0").is_err());
        assert!(VersionRange::parse("npm", ">=not a version").is_err());
    }
}
