//! The decision: one verdict per rule, each with the evidence it rests on.

use std::fmt::{self, Write as _};

use custody_log::{Hash, TrustedCheckpoint};
use custody_types::{Digest, KeyId};
use jiff::Timestamp;
use serde::Serialize;

use crate::evidence::Origin;

/// Media type of a decision serialized as JSON (`custody verify --output json`).
pub const DECISION_MEDIA_TYPE: &str = "application/vnd.custody.decision.v1+json";

/// The seven rules of "unbroken" (docs/policy.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    /// 1. Every layer attested at its ChainID by a key of the right role.
    Layers,
    /// 2. The base image is a prefix, signed by the base library.
    BaseImage,
    /// 3. Builder provenance names this manifest and exactly these DiffIDs.
    Provenance,
    /// 4. A fresh scan of this image's SBOM within the severity threshold.
    Scan,
    /// 5. N distinct reviewers, none of them the builder.
    Reviews,
    /// 6. Not root, no forbidden packages.
    Config,
    /// 7. Everything in the ledger, consistent with what this verifier saw before.
    Ledger,
}

impl RuleId {
    /// Every rule, in order.
    pub const ALL: [RuleId; 7] = [
        RuleId::Layers,
        RuleId::BaseImage,
        RuleId::Provenance,
        RuleId::Scan,
        RuleId::Reviews,
        RuleId::Config,
        RuleId::Ledger,
    ];

    /// The rule's name as the policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::Layers => "layers",
            RuleId::BaseImage => "base_image",
            RuleId::Provenance => "provenance",
            RuleId::Scan => "scan",
            RuleId::Reviews => "reviews",
            RuleId::Config => "config",
            RuleId::Ledger => "ledger",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fact a verdict rests on: which attestation (envelope digest), where in the log, signed
/// by which key, about which digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// What this is (`layer 2`, `provenance`, `scan`, `review`, `checkpoint`...).
    pub what: String,
    /// The log index of the attestation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<u64>,
    /// The key that signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    /// The envelope's digest (SHA-256 of its canonical JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Digest>,
    /// The digest the fact is about (a ChainID, manifest, SBOM, config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Anything else worth saying.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Which rule.
    pub rule: RuleId,
    /// Whether it passed.
    pub passed: bool,
    /// One line saying what was found.
    pub summary: String,
    /// Why it failed (empty when it passed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// What it rests on.
    pub evidence: Vec<Item>,
}

impl Verdict {
    pub(crate) fn pass(rule: RuleId, summary: impl Into<String>, evidence: Vec<Item>) -> Verdict {
        Verdict {
            rule,
            passed: true,
            summary: summary.into(),
            problems: Vec::new(),
            evidence,
        }
    }

    pub(crate) fn fail(
        rule: RuleId,
        summary: impl Into<String>,
        problems: Vec<String>,
        evidence: Vec<Item>,
    ) -> Verdict {
        Verdict {
            rule,
            passed: false,
            summary: summary.into(),
            problems,
            evidence,
        }
    }
}

/// The checkpoint a decision was made under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointRef {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// A decision about one image under one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// [`DECISION_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The image manifest digest.
    pub image: Digest,
    /// The image config digest.
    pub config: Digest,
    /// SHA-256 of the policy file.
    pub policy: Digest,
    /// When the decision was made.
    pub verified_at: Timestamp,
    /// Where the evidence came from.
    pub evidence_source: Origin,
    /// The checkpoint (when it verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRef>,
    /// Allowed only if every rule passed.
    pub allowed: bool,
    /// One verdict per rule, in rule order.
    pub verdicts: Vec<Verdict>,
    /// Envelope digests of every attestation the decision used.
    pub inputs: Vec<Digest>,
    /// The state to remember if this decision is acted on (only set when allowed).
    #[serde(skip)]
    pub next_state: Option<TrustedCheckpoint>,
}

impl Decision {
    /// The failed rules.
    pub fn failed(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| !v.passed)
    }

    /// One line naming every failed rule and its first problem (for an admission denial).
    pub fn denial_message(&self) -> String {
        let mut out = String::new();
        for v in self.failed() {
            if !out.is_empty() {
                out.push_str("; ");
            }
            let _ = write!(
                out,
                "{}: {}",
                v.rule,
                v.problems.first().unwrap_or(&v.summary)
            );
            if v.problems.len() > 1 {
                let _ = write!(out, " (+{} more)", v.problems.len() - 1);
            }
        }
        out
    }

    /// The decision as JSON (pretty, final newline).
    pub fn to_json(&self) -> String {
        // Digests, strings, numbers and timestamps always serialize.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The decision for people: every rule, pass or fail, why, and its evidence.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let failed = self.failed().count();
        let _ = writeln!(
            out,
            "{} {}",
            if self.allowed { "ALLOWED" } else { "DENIED" },
            self.image
        );
        if failed > 0 {
            let _ = writeln!(out, "{failed} of {} rules failed", self.verdicts.len());
        }
        let _ = writeln!(out, "config     {}", self.config);
        let _ = writeln!(out, "policy     {}", self.policy);
        match &self.evidence_source {
            Origin::Bundle { digest } => {
                let _ = writeln!(out, "evidence   bundle {digest}");
            }
            Origin::Ledger { url } => {
                let _ = writeln!(out, "evidence   ledger {url}");
            }
        }
        if let Some(cp) = &self.checkpoint {
            let _ = writeln!(
                out,
                "checkpoint {} size {} root {}",
                cp.origin, cp.size, cp.root
            );
        }
        let _ = writeln!(out, "verified   {}", self.verified_at);
        for v in &self.verdicts {
            let _ = writeln!(
                out,
                "\n{} {:<10} {}",
                if v.passed { "PASS" } else { "FAIL" },
                v.rule.as_str(),
                v.summary
            );
            for p in &v.problems {
                let _ = writeln!(out, "     - {p}");
            }
            for e in &v.evidence {
                let _ = write!(out, "     * {}", e.what);
                if let Some(i) = e.log_index {
                    let _ = write!(out, " log#{i}");
                }
                if let Some(k) = &e.key_id {
                    let _ = write!(out, " key {k}");
                }
                if let Some(d) = &e.digest {
                    let _ = write!(out, " {d}");
                }
                if let Some(d) = &e.envelope {
                    let _ = write!(out, " envelope {d}");
                }
                if let Some(d) = &e.detail {
                    let _ = write!(out, " ({d})");
                }
                out.push('\n');
            }
        }
        out
    }
}
