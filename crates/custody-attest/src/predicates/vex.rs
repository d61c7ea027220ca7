//! The VEX attestation: an OpenVEX v0.2.0 document (<https://openvex.dev/ns/v0.2.0>) as the
//! predicate of an in-toto statement about an image manifest digest.
//!
//! The OpenVEX model, its rules and its application to findings belong to custody-vuln
//! (`custody_vuln::VexDocument`, `custody_vuln::apply_vex`). This module binds a document to
//! the image it is attached to and reads the subjects back; the predicate is read with
//! `custody_vuln::VexDocument::from_json`.

use custody_types::{Digest, predicate_types};
use serde_json::Value;
use sigstore_types::Statement;

use crate::statement::{CheckedStatement, StatementError, subject};

/// The image a VEX statement is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VexSubject {
    /// The image manifest digest.
    pub manifest: Digest,
    /// The image name, used as the subject's name (`manifest` when absent).
    pub image_name: Option<String>,
}

impl VexSubject {
    /// A VEX statement around an OpenVEX document as JSON (custody-vuln's
    /// `VexDocument::to_json`). Only its shape as a statement predicate is checked here (a
    /// JSON object whose `@context` is the predicate type); the OpenVEX rules are
    /// custody-vuln's to check.
    pub fn statement(&self, predicate: Value) -> Result<Statement, StatementError> {
        check_shape(&predicate)?;
        let subjects = vec![subject(
            self.image_name.as_deref().unwrap_or("manifest"),
            &self.manifest,
        )];
        Ok(Statement::new(
            subjects,
            predicate_types::OPENVEX_V02,
            predicate,
        ))
    }
}

/// The subjects of a verified VEX statement. Its predicate ([`CheckedStatement::predicate`])
/// is read with custody-vuln's `VexDocument::from_json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VexAttestation {
    /// The image manifest digests the statement's subjects name.
    pub subjects: Vec<Digest>,
}

/// An OpenVEX predicate names its own version in `@context`, which must be the statement's
/// predicate type: a document of another OpenVEX version under this type is refused here,
/// before anyone reads it with the wrong model.
fn check_shape(predicate: &Value) -> Result<(), StatementError> {
    let pt = predicate_types::OPENVEX_V02;
    let fail = |reason: String| StatementError::Predicate {
        predicate_type: pt,
        reason,
    };
    let Some(object) = predicate.as_object() else {
        return Err(fail("the predicate must be a JSON object".into()));
    };
    match object.get("@context") {
        Some(Value::String(c)) if c == pt => Ok(()),
        Some(other) => Err(fail(format!("@context is {other}, expected {pt:?}"))),
        None => Err(fail("@context is missing".into())),
    }
}

impl CheckedStatement {
    /// The subjects of an OpenVEX statement; the predicate must be an object whose
    /// `@context` is OpenVEX v0.2.0.
    pub fn vex(&self) -> Result<VexAttestation, StatementError> {
        self.expect_type(predicate_types::OPENVEX_V02)?;
        check_shape(self.predicate())?;
        Ok(VexAttestation {
            subjects: self.subjects().into_iter().map(|(_, d)| d).collect(),
        })
    }
}
