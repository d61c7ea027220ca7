//! OpenVEX v0.2.0 statements (<https://openvex.dev/ns/v0.2.0>) as an in-toto predicate: a
//! signer's claim that an image is or is not affected by a vulnerability.

use custody_types::{Digest, predicate_types};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Map;
use serde_json::Value;
use sigstore_types::Statement;

use crate::statement::{CheckedStatement, StatementError, subject};

/// The OpenVEX context URI.
pub const OPENVEX_CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// A statement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// The product is not affected (needs a justification or an impact statement).
    NotAffected,
    /// The product is affected (needs an action statement).
    Affected,
    /// The product contains a fix.
    Fixed,
    /// Not yet known.
    UnderInvestigation,
}

/// Why a product is not affected (the five OpenVEX justifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexJustification {
    /// The vulnerable component is not in the product.
    ComponentNotPresent,
    /// The vulnerable code is not in the component.
    VulnerableCodeNotPresent,
    /// The vulnerable code cannot be executed.
    VulnerableCodeNotInExecutePath,
    /// The vulnerable code cannot be reached by an attacker.
    VulnerableCodeCannotBeControlledByAdversary,
    /// Mitigations already prevent exploitation.
    InlineMitigationsAlreadyExist,
}

/// The vulnerability a statement is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexVulnerability {
    /// An IRI for it.
    #[serde(rename = "@id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name (CVE-2024-1234, GHSA-..., an OSV id).
    pub name: String,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Other names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A product (or subcomponent) a statement applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VexProduct {
    /// Its IRI, e.g. `pkg:oci/app@sha256:...` or a package URL.
    #[serde(rename = "@id")]
    pub id: String,
    /// Other identifiers (purl, cpe23).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<Map<String, Value>>,
    /// Components of the product the statement is about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcomponents: Vec<VexProduct>,
}

/// One VEX statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VexStatement {
    /// The vulnerability.
    pub vulnerability: VexVulnerability,
    /// The products.
    pub products: Vec<VexProduct>,
    /// The status.
    pub status: VexStatus,
    /// Why `not_affected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<VexJustification>,
    /// Free-text impact (an alternative to a justification for `not_affected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_statement: Option<String>,
    /// What to do (required for `affected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_statement: Option<String>,
    /// Notes on the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_notes: Option<String>,
    /// When this statement was made, if not the document's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

impl VexStatement {
    /// Checks the OpenVEX rules: `not_affected` needs a justification or impact statement,
    /// `affected` an action statement; a named vulnerability and at least one product.
    pub fn check(&self) -> Result<(), String> {
        if self.vulnerability.name.trim().is_empty() {
            return Err("a statement's vulnerability.name is empty".into());
        }
        if self.products.is_empty() || self.products.iter().any(|p| p.id.is_empty()) {
            return Err(format!(
                "the statement on {} must name at least one product by @id",
                self.vulnerability.name
            ));
        }
        match self.status {
            VexStatus::NotAffected
                if self.justification.is_none() && self.impact_statement.is_none() =>
            {
                Err(format!(
                    "not_affected for {} needs a justification or an impact_statement",
                    self.vulnerability.name
                ))
            }
            VexStatus::Affected if self.action_statement.is_none() => Err(format!(
                "affected for {} needs an action_statement",
                self.vulnerability.name
            )),
            _ => Ok(()),
        }
    }
}

/// An OpenVEX document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VexDocument {
    /// Always [`OPENVEX_CONTEXT`].
    #[serde(rename = "@context")]
    pub context: String,
    /// The document's IRI.
    #[serde(rename = "@id")]
    pub id: String,
    /// Who wrote it.
    pub author: String,
    /// The author's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// When it was written.
    pub timestamp: Timestamp,
    /// Document version.
    pub version: u64,
    /// The tool that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tooling: Option<String>,
    /// The statements.
    pub statements: Vec<VexStatement>,
}

impl VexDocument {
    /// A version-1 document by `author` at `timestamp`. Its `@id` is derived from its content
    /// (`https://custody.dev/vex/<sha256>`) so that the same statements give the same document.
    pub fn new(
        author: &str,
        timestamp: Timestamp,
        statements: Vec<VexStatement>,
    ) -> Result<VexDocument, StatementError> {
        let mut doc = VexDocument {
            context: OPENVEX_CONTEXT.into(),
            id: String::new(),
            author: author.to_owned(),
            role: None,
            timestamp,
            version: 1,
            tooling: Some(format!("custody/{}", env!("CARGO_PKG_VERSION"))),
            statements,
        };
        doc.check().map_err(StatementError::Build)?;
        // Serializing strings, enums and timestamps cannot fail.
        let content = serde_json::to_vec(&doc).unwrap_or_default();
        doc.id = format!(
            "https://custody.dev/vex/{}",
            Digest::sha256_of(&content).hex()
        );
        Ok(doc)
    }

    /// Checks the document and each statement.
    pub fn check(&self) -> Result<(), String> {
        if self.context != OPENVEX_CONTEXT {
            return Err(format!(
                "@context is {:?}, expected {OPENVEX_CONTEXT}",
                self.context
            ));
        }
        if self.author.trim().is_empty() {
            return Err("author is empty".into());
        }
        if self.statements.is_empty() {
            return Err("a VEX document needs at least one statement".into());
        }
        self.statements.iter().try_for_each(VexStatement::check)
    }

    /// The statement about `manifest` (subject named `image_name` or `manifest`).
    pub fn statement(&self, manifest: &Digest, image_name: Option<&str>) -> Statement {
        let subjects = vec![subject(image_name.unwrap_or("manifest"), manifest)];
        // Serializing strings, enums and timestamps cannot fail.
        let predicate = serde_json::to_value(self).unwrap_or_default();
        Statement::new(subjects, predicate_types::OPENVEX_V02, predicate)
    }
}

/// A verified VEX document.
#[derive(Debug, Clone, PartialEq)]
pub struct VexAttestation {
    /// The image manifest digests the statement's subjects name.
    pub subjects: Vec<Digest>,
    /// The document (checked).
    pub document: VexDocument,
}

impl CheckedStatement {
    /// The OpenVEX predicate, checked against the OpenVEX rules.
    pub fn vex(&self) -> Result<VexAttestation, StatementError> {
        let pt = predicate_types::OPENVEX_V02;
        let document: VexDocument = self.predicate_as(pt)?;
        document
            .check()
            .map_err(|reason| StatementError::Predicate {
                predicate_type: pt,
                reason,
            })?;
        Ok(VexAttestation {
            subjects: self.subjects().into_iter().map(|(_, d)| d).collect(),
            document,
        })
    }
}
