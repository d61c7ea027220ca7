//! The match key of a recorded component: what custody-vuln looks it up under and the version
//! it compares, computed once per recorded component, so that evaluating an advisory
//! against every recorded image is an index lookup plus a few version comparisons.
//!
//! Rows are keyed after they are committed, outside the append transaction (ingest does not
//! pay for it): a new row has `vuln_ecosystem IS NULL` until [`backfill`] keys it from the SBOM
//! stored with its entry (the blob the components were read from), falling back to the purl
//! alone when the entry has no stored CycloneDX SBOM. Every import and affected-query runs it
//! first, and a serving ledger runs it every few seconds.

use std::collections::HashMap;
use std::str::FromStr;

use custody_vuln::cyclonedx::{Component, read_cyclonedx};
use custody_vuln::{Distro, UnevaluatedReason, target};
use packageurl::PackageUrl;

use crate::db::{Db, placeholders};
use crate::error::ApiError;
use crate::on_db;

/// The key columns of a `components` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VulnKey {
    /// OSV ecosystem name (`Debian`, `PyPI`), or empty when the component is not evaluable.
    pub ecosystem: String,
    /// Distribution release (`12`), or empty.
    pub release: String,
    /// Normalised name (a distribution package's source package).
    pub name: String,
    /// The version compared (a distribution package's source version).
    pub version: String,
    /// Why the component cannot be (fully) evaluated, or empty.
    pub note: String,
}

/// The key of one SBOM component (`distro`: the SBOM's operating system, for distribution
/// packages whose purl does not name their release).
pub(crate) fn vuln_key(c: &Component, distro: Option<&Distro>) -> VulnKey {
    match target(c, distro) {
        Ok(t) => key_of(&t, t.version.as_str()),
        Err(UnevaluatedReason::UnparseableVersion { version, detail }) => {
            // The package is known, its version is not: keep the key so that every advisory
            // for the package lists this component as unevaluated instead of missing it.
            match keys_without_version(c, distro) {
                Some(t) => VulnKey {
                    note: format!("unparseable version {version:?}: {detail}"),
                    ..key_of(&t, &version)
                },
                None => not_evaluable(format!("unparseable version {version:?}: {detail}")),
            }
        }
        Err(other) => not_evaluable(reason_text(&other)),
    }
}

fn key_of(t: &custody_vuln::Target, version: &str) -> VulnKey {
    let first = t.keys.first();
    VulnKey {
        ecosystem: t.ecosystem.osv_name().to_owned(),
        release: first.and_then(|k| k.release.clone()).unwrap_or_default(),
        name: first.map(|k| k.name.clone()).unwrap_or_default(),
        version: version.to_owned(),
        note: String::new(),
    }
}

fn not_evaluable(note: String) -> VulnKey {
    VulnKey {
        note,
        ..VulnKey::default()
    }
}

fn reason_text(r: &UnevaluatedReason) -> String {
    match r {
        UnevaluatedReason::NoPurl => "no purl".into(),
        UnevaluatedReason::InvalidPurl { detail } => format!("invalid purl: {detail}"),
        UnevaluatedReason::UnsupportedEcosystem { ecosystem } => {
            format!("ecosystem {ecosystem} is not evaluated")
        }
        UnevaluatedReason::UnknownRelease { ecosystem } => {
            format!("{ecosystem} release unknown")
        }
        UnevaluatedReason::NoVersion => "no version".into(),
        UnevaluatedReason::UnparseableVersion { version, detail } => {
            format!("unparseable version {version:?}: {detail}")
        }
        UnevaluatedReason::IncompleteAdvisory { id, detail } => format!("{id}: {detail}"),
    }
}

/// The keys of a component whose version does not parse: the same component with a version
/// every scheme accepts (the keys never depend on the version).
fn keys_without_version(c: &Component, distro: Option<&Distro>) -> Option<custody_vuln::Target> {
    let purl = PackageUrl::from_str(c.purl.as_deref()?).ok()?;
    for placeholder in ["0.0.0", "v0.0.0"] {
        let mut p = purl.clone();
        p.with_version(placeholder).ok()?;
        let mut probe = c.clone();
        probe.purl = Some(p.to_string());
        probe.version = Some(placeholder.to_owned());
        probe.properties.retain(|(n, _)| {
            n != custody_types::sbom_properties::TRIVY_SRC_VERSION
                && n != custody_vuln::TRIVY_SRC_RELEASE
                && n != custody_vuln::TRIVY_SRC_EPOCH
        });
        if let Ok(t) = target(&probe, distro) {
            return Some(t);
        }
    }
    None
}

/// A component that has nothing but its purl (rows whose SBOM is not stored).
fn bare_component(purl: &str) -> Component {
    let parsed = PackageUrl::from_str(purl).ok();
    Component {
        bom_ref: None,
        kind: "library".into(),
        group: None,
        name: parsed
            .as_ref()
            .map(|p| p.name().to_owned())
            .unwrap_or_default(),
        version: parsed.as_ref().and_then(|p| p.version().map(str::to_owned)),
        purl: Some(purl.to_owned()),
        properties: Vec::new(),
        parent: None,
    }
}

/// Component rows keyed per round (one transaction each).
const ROWS_PER_ROUND: i64 = 5000;

/// One row's computed key.
type Keyed = (i64, VulnKey);

/// Keys every component row that has no key yet, from the CycloneDX SBOM stored with its
/// entry (so source packages and versions come from the component's properties), falling
/// back to the purl alone when the entry has no stored SBOM. Returns how many rows were
/// keyed. Idempotent and safe to run in several processes at once: a row only ever goes
/// from NULL to its one key.
pub(crate) async fn backfill(db: &Db) -> Result<u64, ApiError> {
    let mut keyed = 0u64;
    let mut after = (-1i64, -1i64);
    loop {
        let rows: Vec<(i64, i64, String)> = on_db!(db, pool => {
            sqlx::query_as(
                "SELECT entry_idx, id, purl FROM components WHERE vuln_ecosystem IS NULL \
                 AND (entry_idx > $1 OR (entry_idx = $1 AND id > $2)) \
                 ORDER BY entry_idx, id LIMIT $3",
            )
            .bind(after.0)
            .bind(after.1)
            .bind(ROWS_PER_ROUND)
            .fetch_all(pool)
            .await?
        });
        let Some(last) = rows.last() else {
            return Ok(keyed);
        };
        after = (last.0, last.1);
        let keys = key_rows(db, rows).await?;
        keyed += keys.len() as u64;
        store_keys(db, &keys).await?;
    }
}

/// Computes the keys of `(entry, id, purl)` rows, parsing each stored SBOM once.
async fn key_rows(db: &Db, rows: Vec<(i64, i64, String)>) -> Result<Vec<Keyed>, ApiError> {
    let entries: Vec<i64> = {
        let mut e: Vec<i64> = rows.iter().map(|r| r.0).collect();
        e.dedup();
        e
    };
    let mut sbom_of: HashMap<i64, String> = HashMap::new();
    for chunk in entries.chunks(500) {
        let sql = format!(
            "SELECT entry_idx, digest FROM entry_blobs WHERE relation = 'sbom' AND entry_idx IN ({}) \
             ORDER BY entry_idx, digest",
            placeholders(1, chunk.len())
        );
        let found: Vec<(i64, String)> = on_db!(db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for e in chunk {
                q = q.bind(*e);
            }
            q.fetch_all(pool).await?
        });
        for (e, d) in found {
            sbom_of.entry(e).or_insert(d);
        }
    }
    // digest -> (components by purl, distro), parsed once per round.
    let mut docs: HashMap<String, (HashMap<String, Component>, Option<Distro>)> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (entry, id, purl) in rows {
        let parsed = match sbom_of.get(&entry) {
            Some(digest) => {
                if !docs.contains_key(digest) {
                    let doc = match stored_blob(db, digest).await? {
                        Some(bytes) => match read_cyclonedx(&bytes) {
                            Ok(doc) => {
                                let distro = Distro::of(&doc);
                                let map = doc
                                    .components
                                    .into_iter()
                                    .filter_map(|c| c.purl.clone().map(|p| (p, c)))
                                    .collect();
                                (map, distro)
                            }
                            Err(_) => (HashMap::new(), None),
                        },
                        None => (HashMap::new(), None),
                    };
                    docs.insert(digest.clone(), doc);
                }
                docs.get(digest)
            }
            None => None,
        };
        let key = match parsed {
            Some((map, distro)) => match map.get(&purl) {
                Some(c) => vuln_key(c, distro.as_ref()),
                None => vuln_key(&bare_component(&purl), distro.as_ref()),
            },
            None => vuln_key(&bare_component(&purl), None),
        };
        out.push((id, key));
    }
    Ok(out)
}

/// Writes keys in one transaction (PostgreSQL: one statement over column arrays).
async fn store_keys(db: &Db, keys: &[Keyed]) -> Result<(), ApiError> {
    let col = |f: fn(&Keyed) -> String| keys.iter().map(f).collect::<Vec<String>>();
    match db {
        Db::Postgres(pool) => {
            sqlx::query(
                "UPDATE components c SET vuln_ecosystem = u.e, vuln_release = u.r, vuln_name = u.n, \
                 vuln_version = u.v, vuln_note = u.note \
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[]) \
                   AS u(id, e, r, n, v, note) \
                 WHERE c.id = u.id AND c.vuln_ecosystem IS NULL",
            )
            .bind(keys.iter().map(|k| k.0).collect::<Vec<i64>>())
            .bind(col(|k| k.1.ecosystem.clone()))
            .bind(col(|k| k.1.release.clone()))
            .bind(col(|k| k.1.name.clone()))
            .bind(col(|k| k.1.version.clone()))
            .bind(col(|k| crate::util::truncate(&k.1.note)))
            .execute(pool)
            .await?;
        }
        Db::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            for (id, k) in keys {
                sqlx::query(
                    "UPDATE components SET vuln_ecosystem = $1, vuln_release = $2, vuln_name = $3, \
                     vuln_version = $4, vuln_note = $5 WHERE id = $6 AND vuln_ecosystem IS NULL",
                )
                .bind(&k.ecosystem)
                .bind(&k.release)
                .bind(&k.name)
                .bind(&k.version)
                .bind(crate::util::truncate(&k.note))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn stored_blob(db: &Db, digest: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let chunks: Vec<(Vec<u8>,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT data FROM blob_chunks WHERE digest = $1 ORDER BY seq")
            .bind(digest)
            .fetch_all(pool)
            .await?
    });
    if chunks.is_empty() {
        return Ok(None);
    }
    Ok(Some(chunks.into_iter().flat_map(|c| c.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(purl: &str, props: &[(&str, &str)]) -> Component {
        Component {
            properties: props
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            ..bare_component(purl)
        }
    }

    #[test]
    fn debian_binaries_are_keyed_by_source_package_and_source_version() {
        // bsdutils carries an epoch its source (util-linux) does not: the source version is
        // what Debian's advisories compare.
        let k = vuln_key(
            &comp(
                "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux",
                &[
                    ("aquasecurity:trivy:SrcName", "util-linux"),
                    ("aquasecurity:trivy:SrcVersion", "2.38.1-5"),
                ],
            ),
            None,
        );
        assert_eq!(
            (
                k.ecosystem.as_str(),
                k.release.as_str(),
                k.name.as_str(),
                k.version.as_str()
            ),
            ("Debian", "12", "util-linux", "2.38.1-5")
        );
        assert!(k.note.is_empty());
        // Without properties, the purl's upstream qualifier and binNMU stripping.
        let k = vuln_key(
            &comp(
                "pkg:deb/debian/libbz2-1.0@1.0.8-5%2Bb1?distro=debian-12&upstream=bzip2",
                &[],
            ),
            None,
        );
        assert_eq!((k.name.as_str(), k.version.as_str()), ("bzip2", "1.0.8-5"));
    }

    #[test]
    fn unparseable_versions_keep_their_key_and_a_note() {
        let k = vuln_key(&comp("pkg:pypi/Requests@not..a..version", &[]), None);
        assert_eq!(
            (k.ecosystem.as_str(), k.name.as_str(), k.version.as_str()),
            ("PyPI", "requests", "not..a..version")
        );
        assert!(k.note.starts_with("unparseable version"), "{}", k.note);
        let k = vuln_key(&comp("pkg:cargo/serde@x.y", &[]), None);
        assert_eq!(k.name, "serde");
        assert!(!k.note.is_empty());
    }

    #[test]
    fn components_custody_cannot_evaluate_have_no_ecosystem() {
        let k = vuln_key(&comp("pkg:gem/rails@7.0.0", &[]), None);
        assert_eq!(k.ecosystem, "");
        assert!(k.note.contains("gem"), "{}", k.note);
        let k = vuln_key(&comp("pkg:deb/debian/bash@5.2.15-2", &[]), None);
        assert_eq!(k.ecosystem, "");
        assert!(k.note.contains("release"), "{}", k.note);
    }
}
