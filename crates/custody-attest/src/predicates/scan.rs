//! The scan attestation: an in-toto vulns v0.1 statement (`predicateType`
//! `https://in-toto.io/attestation/vulns/v0.1`) bound to an image manifest digest and, as a
//! second subject named `sbom`, the SBOM that was scanned.
//!
//! The predicate's model belongs to custody-vuln (`custody_vuln::VulnsPredicate`), which
//! builds it for `custody scan` and reads it back for the verifier. This module only binds a
//! predicate to its subjects and reads the subjects back: custody-attest signs and checks
//! statements without depending on the matching engine, and one model of the predicate
//! exists in the workspace.

use custody_types::{Digest, predicate_types};
use serde_json::Value;
use sigstore_types::Statement;

use crate::statement::{CheckedStatement, StatementError, subject};

/// Name of the scanned SBOM's subject in a scan statement.
pub const SCANNED_SBOM_SUBJECT: &str = "sbom";

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
    /// A scan statement around a predicate value (custody-vuln's `VulnsPredicate::to_json`).
    /// Only its shape as a statement predicate is checked here (a JSON object); its content
    /// is custody-vuln's to check.
    pub fn statement(&self, predicate: Value) -> Result<Statement, StatementError> {
        if !predicate.is_object() {
            return Err(StatementError::Predicate {
                predicate_type: predicate_types::VULNS_V01,
                reason: "the predicate must be a JSON object".into(),
            });
        }
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

/// A verified scan statement's subjects. Its predicate ([`CheckedStatement::predicate`]) is
/// read with custody-vuln's `VulnsPredicate::from_json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanAttestation {
    /// The image manifest digest (the first subject).
    pub manifest: Digest,
    /// The scanned SBOM's digest (the subject named `sbom`).
    pub sbom: Option<Digest>,
}

impl CheckedStatement {
    /// The subjects of a vulns v0.1 statement: the first is the manifest, an optional one
    /// named `sbom` the scanned SBOM. The predicate must be a JSON object.
    pub fn scan(&self) -> Result<ScanAttestation, StatementError> {
        let pt = predicate_types::VULNS_V01;
        self.expect_type(pt)?;
        if !self.predicate().is_object() {
            return Err(StatementError::Predicate {
                predicate_type: pt,
                reason: "the predicate must be a JSON object".into(),
            });
        }
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
        })
    }
}
