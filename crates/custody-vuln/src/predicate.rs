//! The in-toto vulns v0.1 predicate (`https://in-toto.io/attestation/vulns/v0.1`) custody
//! signs for a scan, and reads back in the verifier.
//!
//! The standard fields are the spec's (in-toto/attestation `spec/predicates/vuln.md`):
//! `scanner.uri`, `scanner.version`, `scanner.db.{uri, version, lastUpdate}`,
//! `scanner.result[]` and `metadata.{scanStartedOn, scanFinishedOn}`. custody fills them as:
//!
//! - `scanner.db.version`: the database snapshot digest (`sha256:…`, see
//!   [`crate::Snapshot`]); `scanner.db.lastUpdate`: its newest `modified` time;
//! - `scanner.result[]`: one entry per OSV record that affects at least one component, with
//!   `id` the OSV ID and `severity[]` the record's own entries (`method` = OSV severity type,
//!   `score` = vector) followed by custody's assessment (`method: "custody"`, `score`: the
//!   level; and `method: "cvss_score"` with the base score when computed from a vector);
//!   `annotations[]` has one object per affected component:
//!   `{"purl", "bomRef", "layer", "aliases", "fixedVersion", "package", "summary"}`.
//!
//! custody's own fields sit under the predicate's `custody` key, so other consumers ignore
//! them:
//!
//! ```json
//! "custody": {
//!   "sbom": {"digest": "sha256:…", "mediaType": "application/vnd.cyclonedx+json"},
//!   "db": {"digest": "sha256:…", "lastModified": "…", "records": 200000},
//!   "summary": {"maxSeverity": "high", "findings": 3, "unknownSeverity": 0,
//!               "critical": 0, "high": 1, "medium": 2, "low": 0, "none": 0,
//!               "evaluated": 290, "unevaluated": 2},
//!   "unevaluated": [{"component": {"purl": "…", "bomRef": "…", "name": "…"},
//!                    "reasons": [{"reason": "unsupported-ecosystem", "ecosystem": "gem"}]}]
//! }
//! ```
//!
//! The verifier needs: the SBOM digest (to bind the scan to the image's SBOM), the database
//! snapshot and the scan time (freshness), the maximum severity after VEX, and the number
//! of unevaluated components (a policy can require zero).

use std::collections::BTreeMap;

use custody_types::Digest;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::db::Snapshot;
use crate::matcher::{ComponentRef, Finding, MatchedPackage, ScanReport, UnevaluatedComponent};
use crate::severity::SeverityLevel;

/// The predicate value of a scan statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnsPredicate {
    /// The scanner and its results.
    pub scanner: Scanner,
    /// When the scan ran.
    pub metadata: ScanMetadata,
    /// custody's bindings and counts.
    pub custody: CustodyScan,
}

/// `scanner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scanner {
    /// URI of the scanner.
    pub uri: String,
    /// Its version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The advisory database.
    pub db: ScannerDb,
    /// One entry per advisory found affecting the SBOM.
    pub result: Vec<VulnResult>,
}

/// `scanner.db`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannerDb {
    /// Where the database came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The snapshot digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The newest `modified` time of its records.
    pub last_update: Timestamp,
}

/// `scanner.result[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnResult {
    /// The OSV ID.
    pub id: String,
    /// Severity entries.
    pub severity: Vec<SeverityScore>,
    /// One per affected component.
    #[serde(default)]
    pub annotations: Vec<ResultAnnotation>,
}

/// `scanner.result[].severity[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V3`, `CVSS_V4`, …, `cvss_score`, or `custody`.
    pub method: String,
    /// The vector, base score or level.
    pub score: String,
}

/// The method of custody's own severity level in `severity[]`.
pub const CUSTODY_SEVERITY_METHOD: &str = "custody";

/// One affected component of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultAnnotation {
    /// The component's purl.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// Its bom-ref in the scanned SBOM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// DiffID of the layer that introduced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// The advisory's aliases.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The version that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// The package as the advisory names it, and the version compared.
    pub package: MatchedPackage,
    /// The advisory's summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanMetadata {
    /// When the scan started.
    pub scan_started_on: Timestamp,
    /// When it finished.
    pub scan_finished_on: Timestamp,
}

/// `custody`: what binds the scan to an SBOM and a database, and the counts a policy reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustodyScan {
    /// The SBOM scanned.
    pub sbom: ScannedSbom,
    /// The database snapshot.
    pub db: DbSnapshot,
    /// Counts.
    pub summary: ScanSummary,
    /// Components not evaluated, with reasons.
    #[serde(default)]
    pub unevaluated: Vec<UnevaluatedComponent>,
}

/// `custody.sbom`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannedSbom {
    /// SHA-256 of the SBOM document's bytes.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
}

/// `custody.db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbSnapshot {
    /// The snapshot digest.
    pub digest: Digest,
    /// The newest `modified` time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
    /// Records in force.
    pub records: usize,
}

/// `custody.summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanSummary {
    /// The highest severity found, if any finding has a known one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_severity: Option<SeverityLevel>,
    /// (advisory, component) findings.
    pub findings: usize,
    /// Findings per level.
    pub critical: usize,
    /// Findings per level.
    pub high: usize,
    /// Findings per level.
    pub medium: usize,
    /// Findings per level.
    pub low: usize,
    /// Findings per level.
    pub none: usize,
    /// Findings whose severity is unknown.
    pub unknown_severity: usize,
    /// Components evaluated.
    pub evaluated: usize,
    /// Components not evaluated.
    pub unevaluated: usize,
}

/// The scan's inputs that the predicate records besides the report.
#[derive(Debug, Clone)]
pub struct PredicateInputs<'a> {
    /// The scanner's URI (custody's repository).
    pub scanner_uri: &'a str,
    /// The scanner's version.
    pub scanner_version: &'a str,
    /// Where the database came from.
    pub db_uri: Option<&'a str>,
    /// The database snapshot.
    pub snapshot: &'a Snapshot,
    /// SHA-256 of the SBOM document scanned.
    pub sbom_digest: Digest,
    /// Its media type.
    pub sbom_media_type: &'a str,
    /// When the scan started.
    pub started: Timestamp,
    /// When it finished.
    pub finished: Timestamp,
}

impl VulnsPredicate {
    /// The predicate for a scan.
    pub fn new(report: &ScanReport, inputs: &PredicateInputs<'_>) -> VulnsPredicate {
        let mut results: BTreeMap<&str, VulnResult> = BTreeMap::new();
        for f in &report.findings {
            let r = results.entry(f.id.as_str()).or_insert_with(|| VulnResult {
                id: f.id.clone(),
                severity: severity_scores(f),
                annotations: Vec::new(),
            });
            r.annotations.push(ResultAnnotation {
                purl: f.component.purl.clone(),
                bom_ref: f.component.bom_ref.clone(),
                layer: f.component.layer.clone(),
                aliases: f.aliases.clone(),
                fixed_version: f.fixed.clone(),
                package: f.package.clone(),
                summary: f.summary.clone(),
            });
        }
        let mut result: Vec<VulnResult> = results.into_values().collect();
        result.sort_by(|a, b| b.level().cmp(&a.level()).then_with(|| a.id.cmp(&b.id)));
        let count = |l: SeverityLevel| {
            report
                .findings
                .iter()
                .filter(|f| f.severity.level == Some(l))
                .count()
        };
        VulnsPredicate {
            scanner: Scanner {
                uri: inputs.scanner_uri.to_owned(),
                version: Some(inputs.scanner_version.to_owned()),
                db: ScannerDb {
                    uri: inputs.db_uri.map(str::to_owned),
                    version: Some(inputs.snapshot.digest.to_string()),
                    last_update: inputs
                        .snapshot
                        .last_modified
                        .unwrap_or(Timestamp::UNIX_EPOCH),
                },
                result,
            },
            metadata: ScanMetadata {
                scan_started_on: inputs.started,
                scan_finished_on: inputs.finished,
            },
            custody: CustodyScan {
                sbom: ScannedSbom {
                    digest: inputs.sbom_digest.clone(),
                    media_type: inputs.sbom_media_type.to_owned(),
                },
                db: DbSnapshot {
                    digest: inputs.snapshot.digest.clone(),
                    last_modified: inputs.snapshot.last_modified,
                    records: inputs.snapshot.records,
                },
                summary: ScanSummary {
                    max_severity: report.max_severity(),
                    findings: report.findings.len(),
                    critical: count(SeverityLevel::Critical),
                    high: count(SeverityLevel::High),
                    medium: count(SeverityLevel::Medium),
                    low: count(SeverityLevel::Low),
                    none: count(SeverityLevel::None),
                    unknown_severity: report.unknown_severity(),
                    evaluated: report.evaluated,
                    unevaluated: report.unevaluated.len(),
                },
                unevaluated: report.unevaluated.clone(),
            },
        }
    }

    /// Parses a predicate value (the `predicate` of a statement whose `predicateType` is
    /// vulns v0.1).
    pub fn from_json(value: &serde_json::Value) -> Result<VulnsPredicate, serde_json::Error> {
        VulnsPredicate::deserialize(value)
    }

    /// The predicate as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain data structs cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The highest severity among results, read from custody's own entries.
    pub fn max_severity(&self) -> Option<SeverityLevel> {
        self.scanner
            .result
            .iter()
            .filter_map(VulnResult::level)
            .max()
    }

    /// The SBOM digest the scan is bound to.
    pub fn sbom_digest(&self) -> &Digest {
        &self.custody.sbom.digest
    }

    /// The database snapshot digest.
    pub fn db_snapshot(&self) -> &Digest {
        &self.custody.db.digest
    }

    /// When the scan finished.
    pub fn scanned_at(&self) -> Timestamp {
        self.metadata.scan_finished_on
    }

    /// How many components were not evaluated.
    pub fn unevaluated_count(&self) -> usize {
        self.custody
            .unevaluated
            .len()
            .max(self.custody.summary.unevaluated)
    }
}

impl VulnResult {
    /// custody's severity level of this result (`None` when unknown or absent).
    pub fn level(&self) -> Option<SeverityLevel> {
        self.severity
            .iter()
            .find(|s| s.method == CUSTODY_SEVERITY_METHOD)
            .and_then(|s| s.score.parse().ok())
    }
}

fn severity_scores(f: &Finding) -> Vec<SeverityScore> {
    let mut out = Vec::new();
    if let Some(v) = &f.severity.vector {
        out.push(SeverityScore {
            method: f.severity.method.clone(),
            score: v.clone(),
        });
    }
    if let Some(s) = f.severity.score {
        out.push(SeverityScore {
            method: "cvss_score".to_owned(),
            score: format!("{s:.1}"),
        });
    }
    out.push(SeverityScore {
        method: CUSTODY_SEVERITY_METHOD.to_owned(),
        score: f
            .severity
            .level
            .map_or("unknown", SeverityLevel::as_str)
            .to_owned(),
    });
    out
}

/// A (result, component) pair of a predicate: what VEX statements apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultComponent<'a> {
    /// The OSV ID.
    pub id: &'a str,
    /// Its aliases.
    pub aliases: &'a [String],
    /// The component.
    pub purl: Option<&'a str>,
    /// custody's level for the result.
    pub level: Option<SeverityLevel>,
}

impl VulnsPredicate {
    /// Every (result, affected component) pair.
    pub fn result_components(&self) -> Vec<ResultComponent<'_>> {
        let mut out = Vec::new();
        for r in &self.scanner.result {
            let level = r.level();
            if r.annotations.is_empty() {
                out.push(ResultComponent {
                    id: &r.id,
                    aliases: &[],
                    purl: None,
                    level,
                });
            }
            for a in &r.annotations {
                out.push(ResultComponent {
                    id: &r.id,
                    aliases: &a.aliases,
                    purl: a.purl.as_deref(),
                    level,
                });
            }
        }
        out
    }
}

impl From<&ResultAnnotation> for ComponentRef {
    fn from(a: &ResultAnnotation) -> ComponentRef {
        ComponentRef {
            purl: a.purl.clone(),
            bom_ref: a.bom_ref.clone(),
            name: a.package.name.clone(),
            version: Some(a.package.version.clone()),
            layer: a.layer.clone(),
        }
    }
}
