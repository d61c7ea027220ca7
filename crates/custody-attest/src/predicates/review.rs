//! The review attestation: a reviewer's decision on an image manifest digest.

use custody_types::{Digest, KeyId, predicate_types};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sigstore_types::Statement;

use crate::statement::{CheckedStatement, StatementError, subject};

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The reviewer approves the image for deployment.
    Approved,
    /// The reviewer rejects it.
    Rejected,
}

/// Who reviewed: the reviewer's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reviewer {
    /// The reviewer's key ID. Informative: the verifier trusts the key that verified the
    /// envelope, and [`CheckedStatement::review`] refuses a statement whose reviewer key ID is
    /// not among the envelope's verified signers.
    pub key_id: KeyId,
}

/// The review predicate (`https://custody.dev/attestation/review/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewPredicate {
    /// Approved or rejected.
    pub decision: Decision,
    /// The reviewer.
    pub reviewer: Reviewer,
    /// What was reviewed besides the image: a git commit, a pull-request URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When the decision was made.
    pub reviewed_on: Timestamp,
}

impl ReviewPredicate {
    /// The statement about `manifest` (subject named `image_name`, or `manifest`).
    pub fn statement(&self, manifest: &Digest, image_name: Option<&str>) -> Statement {
        let subjects = vec![subject(image_name.unwrap_or("manifest"), manifest)];
        // Serializing strings, a key ID and a timestamp cannot fail.
        let predicate = serde_json::to_value(self).unwrap_or_default();
        Statement::new(subjects, predicate_types::REVIEW_V1, predicate)
    }
}

/// A verified review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAttestation {
    /// The manifest digest reviewed (the single subject).
    pub manifest: Digest,
    /// The predicate.
    pub predicate: ReviewPredicate,
}

impl CheckedStatement {
    /// The review predicate, checked: exactly one subject (the manifest), and the reviewer key
    /// ID is one of the keys that verified the envelope.
    pub fn review(&self) -> Result<ReviewAttestation, StatementError> {
        let pt = predicate_types::REVIEW_V1;
        let predicate: ReviewPredicate = self.predicate_as(pt)?;
        let bad = |reason: String| StatementError::Predicate {
            predicate_type: pt,
            reason,
        };
        let subjects = self.subjects();
        let [(_, manifest)] = subjects.as_slice() else {
            return Err(bad(format!(
                "a review has exactly one subject, found {}",
                self.statement().subject.len()
            )));
        };
        if !self.signers().contains(&predicate.reviewer.key_id) {
            return Err(bad(format!(
                "reviewer key {} did not sign this review",
                predicate.reviewer.key_id
            )));
        }
        Ok(ReviewAttestation {
            manifest: manifest.clone(),
            predicate,
        })
    }
}
