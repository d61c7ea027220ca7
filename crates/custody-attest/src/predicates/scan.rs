//! The scan attestation: in-toto vulns v0.1 results bound to an image manifest digest (and the
//! SBOM that was scanned). custody-vuln builds the predicate; this module wraps, signs and
//! reads it.

use custody_types::{Digest, predicate_types};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sigstore_types::Statement;

use crate::statement::{CheckedStatement, StatementError, subject};

/// Name of the scanned SBOM's subject in a scan statement.
pub const SCANNED_SBOM_SUBJECT: &str = "sbom";

/// A score by one method (`{"method": "nvd", "score": "7.5"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// The scoring method (nvd, cvss_v3, cvss_v4, a distro name...).
    pub method: String,
    /// The score or rating.
    pub score: String,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnResult {
    /// The advisory ID (an OSV id).
    pub id: String,
    /// Severities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// Free-form annotations (aliases, purl, layer, fixed version...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Value>,
}

/// The advisory database scanned against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannerDb {
    /// The database's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its version (custody-vuln: the snapshot digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its newest record's modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<Timestamp>,
}

/// The scanner and its findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scanner {
    /// The scanner's URI.
    pub uri: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<ScannerDb>,
    /// The findings.
    #[serde(default)]
    pub result: Vec<VulnResult>,
}

/// When the scan ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanMetadata {
    /// Start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_started_on: Option<Timestamp>,
    /// End.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_finished_on: Option<Timestamp>,
}

/// The in-toto vulns v0.1 predicate (in-toto/attestation spec/predicates/vuln.md). Unknown
/// members are kept by the producer and ignored here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VulnsPredicate {
    /// The invocation (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Value>,
    /// The scanner, database and results.
    pub scanner: Scanner,
    /// Times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ScanMetadata>,
}

/// What a scan statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSubject {
    /// The image manifest digest.
    pub manifest: Digest,
    /// The image name, used as the manifest subject's name.
    pub image_name: Option<String>,
    /// The SBOM that was scanned, when the scan was of an SBOM.
    pub sbom: Option<Digest>,
}

impl ScanSubject {
    /// A scan statement from a predicate value (as custody-vuln builds it), checked against
    /// the vulns v0.1 shape first.
    pub fn statement(&self, predicate: Value) -> Result<Statement, StatementError> {
        VulnsPredicate::deserialize(&predicate).map_err(|e| StatementError::Predicate {
            predicate_type: predicate_types::VULNS_V01,
            reason: e.to_string(),
        })?;
        let mut subjects = vec![subject(
            self.image_name.as_deref().unwrap_or("manifest"),
            &self.manifest,
        )];
        if let Some(sbom) = &self.sbom {
            subjects.push(subject(SCANNED_SBOM_SUBJECT, sbom));
        }
        Ok(Statement::new(
            subjects,
            predicate_types::VULNS_V01,
            predicate,
        ))
    }
}

/// A verified scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanAttestation {
    /// The image manifest digest (the first subject).
    pub manifest: Digest,
    /// The scanned SBOM's digest (the subject named `sbom`).
    pub sbom: Option<Digest>,
    /// The predicate.
    pub predicate: VulnsPredicate,
}

impl CheckedStatement {
    /// The vulns predicate: the first subject is the manifest, an optional `sbom` subject the
    /// scanned SBOM.
    pub fn scan(&self) -> Result<ScanAttestation, StatementError> {
        let pt = predicate_types::VULNS_V01;
        let predicate: VulnsPredicate = self.predicate_as(pt)?;
        let subjects = self.subjects();
        let Some((_, manifest)) = subjects.first() else {
            return Err(StatementError::Predicate {
                predicate_type: pt,
                reason: "the scan has no sha256 subject".into(),
            });
        };
        let sbom = subjects
            .iter()
            .skip(1)
            .find(|(name, _)| *name == SCANNED_SBOM_SUBJECT)
            .map(|(_, d)| d.clone());
        Ok(ScanAttestation {
            manifest: manifest.clone(),
            sbom,
            predicate,
        })
    }
}
