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
//!
//! This is the one model of the predicate in the workspace: `custody scan` writes it,
//! custody-attest wraps it in a statement without interpreting it, and the verifier reads it
//! back here. Reading is as lenient as the spec: only `scanner.uri` and each result's `id`
//! are required, so a vulns v0.1 predicate from another scanner reads too (without the
//! `custody` member, whose absence the verifier treats as "not shown"). Annotations are
//! free-form in the spec; the members custody writes are read from any annotation object
//! (with the spellings `componentPurl`/`component_purl` and `alias` as well, and `aliases`
//! as a string or a list), and anything else in them is ignored.

use std::collections::BTreeMap;

use custody_types::Digest;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::db::Snapshot;
use crate::matcher::{ComponentRef, Finding, MatchedPackage, ScanReport, UnevaluatedComponent};
use crate::severity::{SeverityLevel, cvss_base_score};

/// The predicate value of a scan statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnsPredicate {
    /// The invocation (free-form in the spec; custody writes none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Value>,
    /// The scanner and its results.
    pub scanner: Scanner,
    /// When the scan ran (custody always writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ScanMetadata>,
    /// custody's bindings and counts (always written by `custody scan`; absent from other
    /// scanners' predicates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custody: Option<CustodyScan>,
    /// A plain top-level list of components a scanner could not evaluate, as some producers
    /// write it; read for [`VulnsPredicate::unevaluated_count`], never written by custody
    /// (which uses `custody.unevaluated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unevaluated: Option<Vec<Value>>,
}

/// `scanner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scanner {
    /// URI of the scanner.
    pub uri: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The advisory database (custody always writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<ScannerDb>,
    /// One entry per advisory found affecting the SBOM.
    #[serde(default)]
    pub result: Vec<VulnResult>,
}

/// `scanner.db`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannerDb {
    /// Where the database came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The snapshot digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The newest `modified` time of its records (absent when no record says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<Timestamp>,
}

/// `scanner.result[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnResult {
    /// The OSV ID.
    pub id: String,
    /// Severity entries.
    #[serde(default)]
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

/// One affected component of a result. Read leniently (see the module documentation): an
/// annotation that is not an object, or whose members have other types, reads as empty
/// rather than making the whole predicate unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    pub aliases: Vec<String>,
    /// The version that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// The package as the advisory names it, and the version compared (custody always
    /// writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<MatchedPackage>,
    /// The advisory's summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl<'de> Deserialize<'de> for ResultAnnotation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(ResultAnnotation::from_value(&Value::deserialize(
            deserializer,
        )?))
    }
}

impl ResultAnnotation {
    /// Reads the members custody knows from an annotation object; see the module
    /// documentation for the spellings accepted.
    fn from_value(v: &Value) -> ResultAnnotation {
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let mut aliases = Vec::new();
        for k in ["aliases", "alias"] {
            match v.get(k) {
                Some(Value::String(s)) => aliases.push(s.clone()),
                Some(Value::Array(items)) => {
                    aliases.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                _ => {}
            }
        }
        ResultAnnotation {
            purl: text(&["purl", "componentPurl", "component_purl"]),
            bom_ref: text(&["bomRef"]),
            layer: text(&["layer"]),
            aliases,
            fixed_version: text(&["fixedVersion"]),
            package: v
                .get("package")
                .and_then(|p| MatchedPackage::deserialize(p).ok()),
            summary: text(&["summary"]),
        }
    }
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanMetadata {
    /// When the scan started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_started_on: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_finished_on: Option<Timestamp>,
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
                package: Some(f.package.clone()),
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
            invocation: None,
            scanner: Scanner {
                uri: inputs.scanner_uri.to_owned(),
                version: Some(inputs.scanner_version.to_owned()),
                db: Some(ScannerDb {
                    uri: inputs.db_uri.map(str::to_owned),
                    version: Some(inputs.snapshot.digest.to_string()),
                    last_update: inputs.snapshot.last_modified,
                }),
                result,
            },
            metadata: Some(ScanMetadata {
                scan_started_on: Some(inputs.started),
                scan_finished_on: Some(inputs.finished),
            }),
            custody: Some(CustodyScan {
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
            }),
            unevaluated: None,
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

    /// The highest severity among results with a readable rating (see
    /// [`VulnResult::level`]).
    pub fn max_severity(&self) -> Option<SeverityLevel> {
        self.scanner
            .result
            .iter()
            .filter_map(VulnResult::level)
            .max()
    }

    /// The SBOM digest the scan says it covered (`custody.sbom.digest`; `None` for other
    /// scanners, which name it only as a statement subject).
    pub fn sbom_digest(&self) -> Option<&Digest> {
        self.custody.as_ref().map(|c| &c.sbom.digest)
    }

    /// The database snapshot digest (`custody.db.digest`).
    pub fn db_snapshot(&self) -> Option<&Digest> {
        self.custody.as_ref().map(|c| &c.db.digest)
    }

    /// When the scan ran: when it finished, else when it started; `None` when the predicate
    /// does not say.
    pub fn scanned_at(&self) -> Option<Timestamp> {
        self.metadata
            .as_ref()
            .and_then(|m| m.scan_finished_on.or(m.scan_started_on))
    }

    /// How many components the scan could not evaluate: custody's `custody.unevaluated[]`
    /// and `custody.summary.unevaluated` (the larger of the two), else a plain top-level
    /// `unevaluated[]`; `None` when the predicate does not say (so zero cannot be shown).
    pub fn unevaluated_count(&self) -> Option<usize> {
        match (&self.custody, &self.unevaluated) {
            (Some(c), _) => Some(c.unevaluated.len().max(c.summary.unevaluated)),
            (None, Some(list)) => Some(list.len()),
            (None, None) => None,
        }
    }
}

impl VulnResult {
    /// The severity of this result: the worst of its readable ratings, each a CVSS base
    /// score, a CVSS v3 or v4 vector, a CVSS v2 vector (rated at most `high`, as v2 has no
    /// critical band), or a named level (`low`, `moderate`, `important`, `critical`, ...
    /// including custody's own `method: "custody"` entry). `None` when no rating reads: the
    /// verifier then treats the result as critical (fail closed).
    pub fn level(&self) -> Option<SeverityLevel> {
        self.severity.iter().filter_map(SeverityScore::level).max()
    }
}

impl SeverityScore {
    /// The level one rating gives, if it reads.
    pub fn level(&self) -> Option<SeverityLevel> {
        let score = self.score.trim();
        if let Ok(n) = score.parse::<f64>() {
            return (0.0..=10.0)
                .contains(&n)
                .then(|| SeverityLevel::from_score(n));
        }
        if score.starts_with("CVSS:4.0/") {
            return cvss_base_score("CVSS_V4", score).map(SeverityLevel::from_score);
        }
        if score.starts_with("CVSS:3.") {
            return cvss_base_score("CVSS_V3", score).map(SeverityLevel::from_score);
        }
        if score.starts_with("AV:") {
            return cvss_base_score("CVSS_V2", score)
                .map(|n| SeverityLevel::from_score(n).min(SeverityLevel::High));
        }
        match score.to_ascii_lowercase().as_str() {
            "none" => Some(SeverityLevel::None),
            "low" | "negligible" | "unimportant" => Some(SeverityLevel::Low),
            "medium" | "moderate" => Some(SeverityLevel::Medium),
            "high" | "important" => Some(SeverityLevel::High),
            "critical" => Some(SeverityLevel::Critical),
            _ => None,
        }
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
    /// The result's level ([`VulnResult::level`]; `None` when no rating reads).
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
            name: a
                .package
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            version: a.package.as_ref().map(|p| p.version.clone()),
            layer: a.layer.clone(),
        }
    }
}
