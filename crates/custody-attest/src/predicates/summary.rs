//! The deploy decision: a SLSA Verification Summary v1
//! (<https://slsa.dev/verification_summary/v1>) signed by the gate.

use std::collections::BTreeMap;

use custody_types::{Digest, predicate_types};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sigstore_types::Statement;

use crate::predicates::provenance::ResourceDescriptor;
use crate::statement::{CheckedStatement, StatementError, subject};

/// The verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    /// Its ID (a URI).
    pub id: String,
    /// Component versions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VerificationResult {
    /// Allowed.
    Passed,
    /// Denied.
    Failed,
}

/// The policy the decision applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Where the policy lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its digest (DigestSet).
    pub digest: BTreeMap<String, String>,
}

/// The Verification Summary predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationSummary {
    /// Who verified.
    pub verifier: Verifier,
    /// When.
    pub time_verified: Timestamp,
    /// The resource verified (e.g. `oci://registry/app@sha256:...`).
    pub resource_uri: String,
    /// The policy.
    pub policy: PolicyRef,
    /// The attestations the decision used (envelope digests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_attestations: Vec<ResourceDescriptor>,
    /// PASSED or FAILED.
    pub verification_result: VerificationResult,
    /// SLSA levels verified (may be empty).
    #[serde(default)]
    pub verified_levels: Vec<String>,
    /// Levels of dependencies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependency_levels: BTreeMap<String, u64>,
    /// The SLSA version the levels refer to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slsa_version: Option<String>,
}

impl VerificationSummary {
    /// A summary for `resource_uri` under the policy with `policy_digest`.
    pub fn new(
        verifier_id: &str,
        time_verified: Timestamp,
        resource_uri: &str,
        policy_uri: Option<&str>,
        policy_digest: &Digest,
        result: VerificationResult,
    ) -> VerificationSummary {
        let mut digest = BTreeMap::new();
        digest.insert(
            policy_digest.algorithm().as_str().to_owned(),
            policy_digest.hex().to_owned(),
        );
        VerificationSummary {
            verifier: Verifier {
                id: verifier_id.to_owned(),
                version: BTreeMap::new(),
            },
            time_verified,
            resource_uri: resource_uri.to_owned(),
            policy: PolicyRef {
                uri: policy_uri.map(str::to_owned),
                digest,
            },
            input_attestations: Vec::new(),
            verification_result: result,
            verified_levels: Vec::new(),
            dependency_levels: BTreeMap::new(),
            slsa_version: None,
        }
    }

    /// The statement about `manifest` (subject named `image_name` or `manifest`).
    pub fn statement(&self, manifest: &Digest, image_name: Option<&str>) -> Statement {
        let subjects = vec![subject(image_name.unwrap_or("manifest"), manifest)];
        // Serializing strings, maps and timestamps cannot fail.
        let predicate = serde_json::to_value(self).unwrap_or_default();
        Statement::new(
            subjects,
            predicate_types::VERIFICATION_SUMMARY_V1,
            predicate,
        )
    }
}

impl CheckedStatement {
    /// The Verification Summary predicate: a verifier id, a policy digest and a resource URI
    /// are required.
    pub fn decision(&self) -> Result<VerificationSummary, StatementError> {
        let pt = predicate_types::VERIFICATION_SUMMARY_V1;
        let summary: VerificationSummary = self.predicate_as(pt)?;
        let missing = if summary.verifier.id.is_empty() {
            Some("verifier.id")
        } else if summary.policy.digest.is_empty() {
            Some("policy.digest")
        } else if summary.resource_uri.is_empty() {
            Some("resourceUri")
        } else {
            None
        };
        if let Some(field) = missing {
            return Err(StatementError::Predicate {
                predicate_type: pt,
                reason: format!("{field} is required"),
            });
        }
        Ok(summary)
    }
}
