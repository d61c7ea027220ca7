//! Evaluating advisories against what the ledger recorded, without touching an image.
//!
//! An advisory names package keys (ecosystem, release, normalised name). The recorded
//! components carry the same keys (see [`super::index`]), so its candidates are the distinct
//! (release, version) pairs recorded under those keys: an index lookup that returns a few
//! dozen rows however many images share them. Each distinct pair is evaluated once with
//! custody-vuln ([`custody_vuln::evaluate`], the same code `custody scan` runs); only then are
//! the affected pairs expanded to the layers and images that hold them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use custody_vuln::cyclonedx::Component;
use custody_vuln::version::Version;
use custody_vuln::{Advisory, AdvisoryMatch, Ecosystem, PackageKey, Severity, Target, evaluate};
use serde::{Deserialize, Serialize};

use crate::db::{Db, placeholders};
use crate::error::ApiError;
use crate::on_db;

/// A key and version as recorded in `components` (the `vuln_*` columns).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Tuple {
    pub ecosystem: String,
    pub release: String,
    pub name: String,
    pub version: String,
}

/// What one advisory says about one recorded tuple.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Affected, with the version that fixes it if the advisory names one.
    Affected {
        fixed: Option<String>,
        severity: Severity,
    },
    /// Could not be decided (the version does not parse, or the advisory's ranges for it do
    /// not): listed as unevaluated, never as clean.
    Unevaluated(String),
}

/// The affected (or undecidable) tuples of one advisory.
pub(crate) type Hits = Vec<(Tuple, Outcome)>;

fn ecosystem_named(s: &str) -> Option<Ecosystem> {
    Ecosystem::ALL.into_iter().find(|e| e.osv_name() == s)
}

/// Names per query in `IN (...)` lists.
const NAMES_PER_QUERY: usize = 500;

/// The distinct (release, version) pairs recorded under each (ecosystem, name).
async fn recorded(
    db: &Db,
    keys: &BTreeSet<(String, String)>,
) -> Result<BTreeMap<(String, String), Vec<(String, String)>>, ApiError> {
    let mut by_eco: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (eco, name) in keys {
        by_eco.entry(eco).or_default().push(name);
    }
    let mut out: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for (eco, names) in by_eco {
        for chunk in names.chunks(NAMES_PER_QUERY) {
            let sql = format!(
                "SELECT DISTINCT vuln_name, vuln_release, vuln_version FROM components \
                 WHERE vuln_ecosystem = $1 AND vuln_name IN ({})",
                placeholders(2, chunk.len())
            );
            let rows: Vec<(String, String, String)> = on_db!(db, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(eco);
                for n in chunk {
                    q = q.bind(*n);
                }
                q.fetch_all(pool).await?
            });
            for (name, release, version) in rows {
                out.entry((eco.to_owned(), name))
                    .or_default()
                    .push((release, version));
            }
        }
    }
    Ok(out)
}

/// Evaluates each advisory against every recorded tuple of its package keys.
pub(crate) async fn evaluate_all(
    db: &Db,
    advisories: &[&Advisory],
) -> Result<HashMap<String, Hits>, ApiError> {
    let mut keys: BTreeSet<(String, String)> = BTreeSet::new();
    for a in advisories {
        for k in a.package_keys() {
            keys.insert((k.ecosystem.osv_name().to_owned(), k.name.clone()));
        }
    }
    let recorded = recorded(db, &keys).await?;
    // Each recorded version is parsed once, whatever the number of advisories.
    let mut parsed: HashMap<(Ecosystem, String), Result<Version, String>> = HashMap::new();
    let mut out = HashMap::with_capacity(advisories.len());
    for a in advisories {
        let mut hits = Hits::new();
        let mut tuples: Vec<Tuple> = Vec::new();
        for k in a.package_keys() {
            let eco_name = k.ecosystem.osv_name();
            let Some(rows) = recorded.get(&(eco_name.to_owned(), k.name.clone())) else {
                continue;
            };
            for (release, version) in rows {
                if k.release.as_ref().is_some_and(|r| r != release) {
                    continue;
                }
                tuples.push(Tuple {
                    ecosystem: eco_name.to_owned(),
                    release: release.clone(),
                    name: k.name.clone(),
                    version: version.clone(),
                });
            }
        }
        tuples.sort();
        tuples.dedup();
        for t in &tuples {
            let Some(eco) = ecosystem_named(&t.ecosystem) else {
                continue;
            };
            let version = parsed
                .entry((eco, t.version.clone()))
                .or_insert_with(|| {
                    Version::parse(eco.scheme(), &t.version).map_err(|e| e.to_string())
                })
                .clone();
            let version = match version {
                Ok(v) => v,
                Err(reason) => {
                    hits.push((t.clone(), Outcome::Unevaluated(reason)));
                    continue;
                }
            };
            if let Some(o) = evaluate_one(a, eco, t, version) {
                hits.push((t.clone(), o));
            }
        }
        out.insert(a.id.clone(), hits);
    }
    Ok(out)
}

/// One advisory against one recorded tuple, through custody-vuln's matcher.
fn evaluate_one(a: &Advisory, eco: Ecosystem, t: &Tuple, version: Version) -> Option<Outcome> {
    let mut keys = Vec::with_capacity(2);
    if !t.release.is_empty() {
        keys.push(PackageKey {
            ecosystem: eco,
            release: Some(t.release.clone()),
            name: t.name.clone(),
        });
    }
    keys.push(PackageKey {
        ecosystem: eco,
        release: None,
        name: t.name.clone(),
    });
    let target = Target {
        ecosystem: eco,
        keys,
        version,
    };
    // The matcher names the component in its finding; only the verdict is used here.
    let component = Component {
        bom_ref: None,
        kind: "library".into(),
        group: None,
        name: t.name.clone(),
        version: Some(t.version.clone()),
        purl: None,
        properties: Vec::new(),
        parent: None,
    };
    match evaluate(a, &component, &target) {
        AdvisoryMatch::Affected(f) => Some(Outcome::Affected {
            fixed: f.fixed,
            severity: f.severity,
        }),
        AdvisoryMatch::NotAffected => None,
        AdvisoryMatch::Indeterminate(r) => Some(Outcome::Unevaluated(match r {
            custody_vuln::UnevaluatedReason::IncompleteAdvisory { detail, .. } => detail,
            other => format!("{other:?}"),
        })),
    }
}

/// One recorded component an advisory affects, in one image.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct AffectedComponent {
    /// DiffID of the layer that added the component.
    pub layer: String,
    /// The layer's position in the image (0 = bottom), when the image's provenance is
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_index: Option<u32>,
    /// The component's purl as recorded.
    pub purl: String,
    /// The installed version.
    pub version: String,
    /// The version the advisory compared (a Debian binary's source version).
    pub compared_version: String,
    /// The lowest version that fixes it, if the advisory names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// critical, high, medium, low, or absent when the advisory gives no usable severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// CVSS base score, when the severity comes from a vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Rows of `components` joined to the images that hold them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ComponentImageRow {
    pub image: String,
    pub vuln_ecosystem: String,
    pub vuln_name: String,
    pub position: i64,
    pub layer: String,
    pub purl: String,
    pub version: String,
    pub vuln_release: String,
    pub vuln_version: String,
}

/// `(c.vuln_release, c.vuln_version) IN (VALUES ...)` for `pairs`, placeholders from `start`.
fn pair_filter(start: usize, pairs: usize) -> String {
    let mut s = String::from("(c.vuln_release, c.vuln_version) IN (VALUES ");
    for i in 0..pairs {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("(${}, ${})", start + 2 * i, start + 2 * i + 1));
    }
    s.push(')');
    s
}

/// Pairs per query (two bound values each).
const PAIRS_PER_QUERY: usize = 400;

/// Tuples grouped by (ecosystem, name), each group's (release, version) pairs.
pub(crate) fn group(tuples: &[&Tuple]) -> BTreeMap<(String, String), Vec<(String, String)>> {
    let mut out: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for t in tuples {
        out.entry((t.ecosystem.clone(), t.name.clone()))
            .or_default()
            .push((t.release.clone(), t.version.clone()));
    }
    out
}

/// The first `limit` images (by digest, after `after`) holding a component of `tuples`:
/// through the layers their provenance lists, or directly for image-level SBOMs.
pub(crate) async fn images_after(
    db: &Db,
    tuples: &[&Tuple],
    after: &str,
    limit: usize,
) -> Result<Vec<String>, ApiError> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    let lim = i64::try_from(limit).unwrap_or(i64::MAX);
    for ((eco, name), pairs) in group(tuples) {
        for chunk in pairs.chunks(PAIRS_PER_QUERY) {
            let filter = pair_filter(5, chunk.len());
            let sql = format!(
                "SELECT image FROM (\
                   SELECT il.image AS image FROM components c JOIN image_layers il ON il.diff_id = c.layer \
                   WHERE c.vuln_ecosystem = $1 AND c.vuln_name = $2 AND {filter} AND il.image > $3 \
                   UNION \
                   SELECT c.image AS image FROM components c \
                   WHERE c.vuln_ecosystem = $1 AND c.vuln_name = $2 AND {filter} AND c.image <> '' AND c.image > $3\
                 ) x ORDER BY image LIMIT $4"
            );
            let rows: Vec<(String,)> = on_db!(db, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&eco)
                    .bind(&name)
                    .bind(after)
                    .bind(lim);
                for (r, v) in chunk {
                    q = q.bind(r).bind(v);
                }
                q.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|r| r.0));
            while found.len() > limit {
                found.pop_last();
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// Every recorded component of `tuples` in `images`, with the layer position.
pub(crate) async fn components_in(
    db: &Db,
    tuples: &[&Tuple],
    images: &[String],
) -> Result<Vec<ComponentImageRow>, ApiError> {
    let mut out = Vec::new();
    if images.is_empty() {
        return Ok(out);
    }
    for ((eco, name), pairs) in group(tuples) {
        for chunk in pairs.chunks(PAIRS_PER_QUERY) {
            for imgs in images.chunks(200) {
                let filter = pair_filter(3, chunk.len());
                let list = placeholders(3 + 2 * chunk.len(), imgs.len());
                let sql = format!(
                    "SELECT il.image AS image, c.vuln_ecosystem AS vuln_ecosystem, c.vuln_name AS vuln_name, \
                       il.position AS position, c.layer AS layer, c.purl AS purl, c.version AS version, c.vuln_release AS vuln_release, c.vuln_version AS vuln_version \
                     FROM components c JOIN image_layers il ON il.diff_id = c.layer \
                     WHERE c.vuln_ecosystem = $1 AND c.vuln_name = $2 AND {filter} AND il.image IN ({list}) \
                     UNION ALL \
                     SELECT c.image AS image, c.vuln_ecosystem AS vuln_ecosystem, c.vuln_name AS vuln_name, \
                       -1 AS position, c.layer AS layer, c.purl AS purl, c.version AS version, c.vuln_release AS vuln_release, c.vuln_version AS vuln_version \
                     FROM components c \
                     WHERE c.vuln_ecosystem = $1 AND c.vuln_name = $2 AND {filter} AND c.image IN ({list})"
                );
                let rows: Vec<ComponentImageRow> = on_db!(db, pool => {
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(&eco)
                        .bind(&name);
                    for (r, v) in chunk {
                        q = q.bind(r).bind(v);
                    }
                    for i in imgs {
                        q = q.bind(i);
                    }
                    q.fetch_all(pool).await?
                });
                out.extend(rows);
            }
        }
    }
    Ok(out)
}

/// Recorded components of `tuples` at layer level (no images), for listing the ones an
/// advisory could not be decided for.
pub(crate) async fn layer_components(
    db: &Db,
    tuples: &[&Tuple],
    limit: usize,
) -> Result<Vec<(Tuple, String, String, String)>, ApiError> {
    let mut out = Vec::new();
    let lim = i64::try_from(limit).unwrap_or(i64::MAX);
    for ((eco, name), pairs) in group(tuples) {
        for chunk in pairs.chunks(PAIRS_PER_QUERY) {
            let filter = pair_filter(4, chunk.len());
            let sql = format!(
                "SELECT DISTINCT c.vuln_release, c.vuln_version, c.layer, c.purl, c.version \
                 FROM components c WHERE c.vuln_ecosystem = $1 AND c.vuln_name = $2 AND {filter} \
                 ORDER BY c.purl, c.layer LIMIT $3"
            );
            let rows: Vec<(String, String, String, String, String)> = on_db!(db, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&eco)
                    .bind(&name)
                    .bind(lim);
                for (r, v) in chunk {
                    q = q.bind(r).bind(v);
                }
                q.fetch_all(pool).await?
            });
            for (release, version, layer, purl, installed) in rows {
                let t = Tuple {
                    ecosystem: eco.clone(),
                    release,
                    name: name.clone(),
                    version,
                };
                out.push((t, layer, purl, installed));
            }
            if out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// Merges component rows into per-image findings (one per layer and purl, lowest position).
pub(crate) fn findings_by_image(
    rows: Vec<ComponentImageRow>,
    hits: &HashMap<Tuple, (Option<String>, Severity)>,
) -> BTreeMap<String, Vec<AffectedComponent>> {
    let mut best: BTreeMap<(String, String, String), AffectedComponent> = BTreeMap::new();
    for r in rows {
        let key = Tuple {
            ecosystem: r.vuln_ecosystem.clone(),
            release: r.vuln_release.clone(),
            name: r.vuln_name.clone(),
            version: r.vuln_version.clone(),
        };
        let Some((fixed, severity)) = hits.get(&key) else {
            continue;
        };
        let position = u32::try_from(r.position).ok();
        let slot = best
            .entry((r.image.clone(), r.layer.clone(), r.purl.clone()))
            .or_insert_with(|| AffectedComponent {
                layer: r.layer.clone(),
                layer_index: position,
                purl: r.purl.clone(),
                version: r.version.clone(),
                compared_version: r.vuln_version.clone(),
                fixed: fixed.clone(),
                severity: severity.level.map(|l| l.as_str().to_owned()),
                score: severity.score,
            });
        if let (Some(p), Some(old)) = (position, slot.layer_index)
            && p < old
        {
            slot.layer_index = Some(p);
        }
        if slot.layer_index.is_none() {
            slot.layer_index = position;
        }
    }
    let mut out: BTreeMap<String, Vec<AffectedComponent>> = BTreeMap::new();
    for ((image, _, _), f) in best {
        out.entry(image).or_default().push(f);
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| {
            a.layer_index
                .cmp(&b.layer_index)
                .then_with(|| a.purl.cmp(&b.purl))
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_filters_number_their_placeholders() {
        assert_eq!(
            pair_filter(3, 2),
            "(c.vuln_release, c.vuln_version) IN (VALUES ($3, $4), ($5, $6))"
        );
    }
}
