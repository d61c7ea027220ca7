//! OpenVEX v0.2.0 documents (`https://openvex.dev/ns/v0.2.0`) and their application to
//! scan findings.
//!
//! A statement says, for a vulnerability (by name or alias) and products (an image by digest,
//! or a package by purl, optionally narrowed to `subcomponents`), that the products are
//! `not_affected` (with a justification or an impact statement), `affected` (with an action
//! statement), `fixed` or `under_investigation`. Applied to a finding, the most recent
//! statement that matches its vulnerability and component decides: `not_affected` and
//! `fixed` waive it; `affected` and `under_investigation` leave it standing. Which keys'
//! statements count is the verifier's policy, not this module's.
//!
//! This is the workspace's one model of OpenVEX and its one application to findings:
//! `custody vex` builds documents here, custody-attest wraps them in an in-toto statement
//! without interpreting them, and the verifier's scan rule reads them back with
//! [`VexDocument::from_json`] and waives findings with [`apply_vex`].

use std::fmt;
use std::str::FromStr;

use custody_types::Digest;
use jiff::Timestamp;
use packageurl::PackageUrl;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::predicate::VulnsPredicate;
use crate::severity::SeverityLevel;

/// The OpenVEX v0.2.0 context URI.
pub const OPENVEX_CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// A statement's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl VexStatus {
    /// The status as written.
    pub fn as_str(self) -> &'static str {
        match self {
            VexStatus::NotAffected => "not_affected",
            VexStatus::Affected => "affected",
            VexStatus::Fixed => "fixed",
            VexStatus::UnderInvestigation => "under_investigation",
        }
    }

    /// Whether the status waives a finding.
    pub fn waives(self) -> bool {
        matches!(self, VexStatus::NotAffected | VexStatus::Fixed)
    }
}

impl fmt::Display for VexStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OpenVEX word that is not a status or justification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an OpenVEX {1} (expected one of {2})")]
pub struct VexWordError(pub String, pub &'static str, pub &'static str);

impl FromStr for VexStatus {
    type Err = VexWordError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            VexStatus::NotAffected,
            VexStatus::Affected,
            VexStatus::Fixed,
            VexStatus::UnderInvestigation,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| {
            VexWordError(
                s.to_owned(),
                "status",
                "not_affected, affected, fixed, under_investigation",
            )
        })
    }
}

/// Why a product is not affected (OpenVEX's justification labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Justification {
    /// The vulnerable component is not in the product.
    ComponentNotPresent,
    /// The component is present but the vulnerable code is not.
    VulnerableCodeNotPresent,
    /// The vulnerable code cannot be executed.
    VulnerableCodeNotInExecutePath,
    /// The vulnerable code cannot be controlled by an attacker.
    VulnerableCodeCannotBeControlledByAdversary,
    /// Mitigations in the product prevent exploitation.
    InlineMitigationsAlreadyExist,
}

impl Justification {
    /// Every justification.
    pub const ALL: [Justification; 5] = [
        Justification::ComponentNotPresent,
        Justification::VulnerableCodeNotPresent,
        Justification::VulnerableCodeNotInExecutePath,
        Justification::VulnerableCodeCannotBeControlledByAdversary,
        Justification::InlineMitigationsAlreadyExist,
    ];

    /// The label as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => "component_not_present",
            Justification::VulnerableCodeNotPresent => "vulnerable_code_not_present",
            Justification::VulnerableCodeNotInExecutePath => "vulnerable_code_not_in_execute_path",
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "vulnerable_code_cannot_be_controlled_by_adversary"
            }
            Justification::InlineMitigationsAlreadyExist => "inline_mitigations_already_exist",
        }
    }
}

impl FromStr for Justification {
    type Err = VexWordError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Justification::ALL.into_iter().find(|j| j.as_str() == s).ok_or_else(|| {
            VexWordError(
                s.to_owned(),
                "justification",
                "component_not_present, vulnerable_code_not_present, vulnerable_code_not_in_execute_path, vulnerable_code_cannot_be_controlled_by_adversary, inline_mitigations_already_exist",
            )
        })
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// When it was issued.
    pub timestamp: Timestamp,
    /// When it was last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
    /// Its version.
    pub version: u64,
    /// The tool that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooling: Option<String>,
    /// The statements.
    pub statements: Vec<VexStatement>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VexStatement {
    /// The statement's IRI.
    #[serde(rename = "@id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The vulnerability.
    pub vulnerability: VexVulnerability,
    /// When it was made (the document's timestamp if absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// The products it is about.
    pub products: Vec<VexProduct>,
    /// The status.
    pub status: VexStatus,
    /// Why not affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<Justification>,
    /// Why not affected, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact_statement: Option<String>,
    /// What to do, for `affected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_statement: Option<String>,
    /// Notes on the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_notes: Option<String>,
}

/// `vulnerability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexVulnerability {
    /// An IRI for it.
    #[serde(rename = "@id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its name (`CVE-…`, `GHSA-…`, an OSV ID).
    pub name: String,
    /// Other names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// A description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A product or subcomponent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexProduct {
    /// Its IRI: a purl, or an image digest (`sha256:…`).
    #[serde(rename = "@id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Identifiers (`purl`, `cpe23`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub identifiers: std::collections::BTreeMap<String, String>,
    /// Hashes (`sha-256` → hex).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hashes: std::collections::BTreeMap<String, String>,
    /// Narrows the statement to these components of the product.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcomponents: Vec<VexProduct>,
}

/// Why a VEX document or statement is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VexError {
    /// The `@context` is not OpenVEX v0.2.0.
    #[error("VEX document context {0:?} is not {OPENVEX_CONTEXT}")]
    Context(String),
    /// The document breaks an OpenVEX rule (no author, no statements).
    #[error("VEX document: {0}")]
    Document(&'static str),
    /// A statement breaks an OpenVEX rule.
    #[error("VEX statement {index} ({vulnerability}): {rule}")]
    Statement {
        /// Its position.
        index: usize,
        /// Its vulnerability name.
        vulnerability: String,
        /// The rule.
        rule: &'static str,
    },
}

impl VexProduct {
    /// A product named by an image manifest digest.
    pub fn image(digest: &Digest) -> VexProduct {
        let mut hashes = std::collections::BTreeMap::new();
        hashes.insert(hash_name(digest), digest.hex().to_owned());
        VexProduct {
            id: Some(digest.to_string()),
            identifiers: Default::default(),
            hashes,
            subcomponents: Vec::new(),
        }
    }

    /// A product named by a purl.
    pub fn purl(purl: &str) -> VexProduct {
        let mut identifiers = std::collections::BTreeMap::new();
        identifiers.insert("purl".to_owned(), purl.to_owned());
        VexProduct {
            id: Some(purl.to_owned()),
            identifiers,
            hashes: Default::default(),
            subcomponents: Vec::new(),
        }
    }

    fn purls(&self) -> impl Iterator<Item = &str> {
        self.id
            .as_deref()
            .filter(|i| i.starts_with("pkg:"))
            .into_iter()
            .chain(self.identifiers.get("purl").map(String::as_str))
    }

    fn names_digest(&self, digest: &Digest) -> bool {
        let text = digest.to_string();
        self.id.as_deref() == Some(text.as_str())
            // An image reference pinned by digest (`registry.example/app@sha256:…`).
            || self.id.as_deref().is_some_and(|i| {
                i.strip_suffix(text.as_str())
                    .is_some_and(|name| name.len() > 1 && name.ends_with('@'))
            })
            || self.hashes.get(&hash_name(digest)).is_some_and(|h| h.eq_ignore_ascii_case(digest.hex()))
            // An OCI purl's version is the manifest digest (`pkg:oci/app@sha256%3A…`).
            || self.purls().any(|p| {
                p.parse::<PackageUrl<'_>>()
                    .is_ok_and(|u| u.ty() == "oci" && u.version() == Some(text.as_str()))
            })
    }

    fn names_component(&self, purl: &str) -> bool {
        self.purls().any(|p| purl_matches(p, purl))
    }

    fn names_something(&self) -> bool {
        self.id.as_deref().is_some_and(|i| !i.trim().is_empty())
            || self.identifiers.values().any(|v| !v.trim().is_empty())
            || self.hashes.values().any(|v| !v.trim().is_empty())
    }
}

fn hash_name(d: &Digest) -> String {
    match d.algorithm() {
        custody_types::Algorithm::Sha256 => "sha-256".to_owned(),
        custody_types::Algorithm::Sha512 => "sha-512".to_owned(),
    }
}

/// Whether a statement's purl covers a component's: same type, namespace and name; the
/// statement's version, if any, equal; each of its qualifiers present with the same value.
pub fn purl_matches(statement: &str, component: &str) -> bool {
    match (
        statement.parse::<PackageUrl<'_>>(),
        component.parse::<PackageUrl<'_>>(),
    ) {
        (Ok(s), Ok(c)) => {
            s.ty() == c.ty()
                && s.namespace() == c.namespace()
                && s.name() == c.name()
                && s.version().is_none_or(|v| Some(v) == c.version())
                && s.qualifiers()
                    .iter()
                    .all(|(k, v)| c.qualifiers().get(k) == Some(v))
        }
        _ => statement == component,
    }
}

impl VexStatement {
    /// Checks OpenVEX's rules for one statement.
    pub fn validate(&self, index: usize) -> Result<(), VexError> {
        let fail = |rule| VexError::Statement {
            index,
            vulnerability: self.vulnerability.name.clone(),
            rule,
        };
        if self.vulnerability.name.trim().is_empty() {
            return Err(fail("vulnerability name is empty"));
        }
        if self.products.is_empty() {
            return Err(fail("statement has no products"));
        }
        if self
            .products
            .iter()
            .chain(self.products.iter().flat_map(|p| &p.subcomponents))
            .any(|p| !p.names_something())
        {
            return Err(fail(
                "a product or subcomponent names nothing (no @id, identifiers or hashes)",
            ));
        }
        match self.status {
            VexStatus::NotAffected
                if self.justification.is_none()
                    && self
                        .impact_statement
                        .as_deref()
                        .is_none_or(|s| s.trim().is_empty()) =>
            {
                Err(fail(
                    "not_affected needs a justification or an impact_statement",
                ))
            }
            VexStatus::Affected
                if self
                    .action_statement
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty()) =>
            {
                Err(fail("affected needs an action_statement"))
            }
            _ if self.status != VexStatus::NotAffected && self.justification.is_some() => {
                Err(fail("a justification is only allowed with not_affected"))
            }
            _ => Ok(()),
        }
    }

    /// Whether the statement is about one of these vulnerability IDs.
    pub fn names_vulnerability<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> bool {
        let mine: Vec<&str> = std::iter::once(self.vulnerability.name.as_str())
            .chain(self.vulnerability.aliases.iter().map(String::as_str))
            .collect();
        ids.into_iter()
            .any(|id| mine.iter().any(|m| m.eq_ignore_ascii_case(id)))
    }

    /// Whether the statement covers `component` (a purl) in the image `image`: a product is
    /// the component itself, or the image with no subcomponents or a subcomponent naming
    /// the component.
    pub fn covers(&self, image: Option<&Digest>, component: Option<&str>) -> bool {
        self.products.iter().any(|p| {
            let component_hit = component.is_some_and(|c| p.names_component(c));
            let image_hit = image.is_some_and(|d| p.names_digest(d))
                && (p.subcomponents.is_empty()
                    || component
                        .is_some_and(|c| p.subcomponents.iter().any(|s| s.names_component(c))));
            component_hit || image_hit
        })
    }
}

impl VexDocument {
    /// A new version-1 document by `author` at `timestamp`, checked against the OpenVEX
    /// rules; its `@id` is derived from its content, as vexctl does, so the same statements
    /// give the same document.
    pub fn new(
        author: &str,
        timestamp: Timestamp,
        statements: Vec<VexStatement>,
    ) -> Result<VexDocument, VexError> {
        let mut doc = VexDocument {
            context: OPENVEX_CONTEXT.to_owned(),
            id: String::new(),
            author: author.to_owned(),
            role: None,
            timestamp,
            last_updated: None,
            version: 1,
            tooling: Some(format!("custody {}", env!("CARGO_PKG_VERSION"))),
            statements,
        };
        doc.validate()?;
        let canonical = serde_json::to_vec(&doc).unwrap_or_default();
        doc.id = format!(
            "https://openvex.dev/docs/public/vex-{}",
            hex::encode(Sha256::digest(&canonical))
        );
        Ok(doc)
    }

    /// Parses and checks a document.
    pub fn from_json(value: &serde_json::Value) -> Result<VexDocument, VexDocumentError> {
        let doc = VexDocument::deserialize(value)?;
        doc.validate()?;
        Ok(doc)
    }

    /// The document as JSON: the predicate of a VEX statement (custody-attest's
    /// `VexSubject::statement`).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing strings, enums, maps and timestamps cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Checks the context, the author, and every statement (at least one).
    pub fn validate(&self) -> Result<(), VexError> {
        if self.context != OPENVEX_CONTEXT {
            return Err(VexError::Context(self.context.clone()));
        }
        if self.author.trim().is_empty() {
            return Err(VexError::Document("author is empty"));
        }
        if self.statements.is_empty() {
            return Err(VexError::Document(
                "a VEX document needs at least one statement",
            ));
        }
        self.statements
            .iter()
            .enumerate()
            .try_for_each(|(i, s)| s.validate(i))
    }

    /// The statements with the document's timestamp filled in where a statement has none.
    pub fn effective_statements(&self) -> Vec<VexStatement> {
        self.statements
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.timestamp = s.timestamp.or(self.last_updated).or(Some(self.timestamp));
                s
            })
            .collect()
    }
}

/// Why a VEX document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VexDocumentError {
    /// Not the shape of an OpenVEX document.
    #[error("VEX document is not valid OpenVEX JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Breaks an OpenVEX rule.
    #[error(transparent)]
    Rule(#[from] VexError),
}

/// What VEX decided for one (vulnerability, component) pair of a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct VexDecision {
    /// The OSV ID.
    pub id: String,
    /// The component's purl.
    pub purl: Option<String>,
    /// custody's severity level for the finding.
    pub level: Option<SeverityLevel>,
    /// The deciding statement's status, if any statement applies.
    pub status: Option<VexStatus>,
    /// Its justification.
    pub justification: Option<Justification>,
    /// Whether the finding is waived.
    pub waived: bool,
    /// The deciding statement: its position in the slice given to [`apply_vex`] (so a
    /// caller can name the signed document it came from).
    pub statement: Option<usize>,
}

/// VEX applied to a scan predicate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VexApplication {
    /// One decision per (result, component) pair.
    pub decisions: Vec<VexDecision>,
}

impl VexApplication {
    /// Findings not waived.
    pub fn remaining(&self) -> impl Iterator<Item = &VexDecision> {
        self.decisions.iter().filter(|d| !d.waived)
    }

    /// The highest severity among findings not waived.
    pub fn max_severity(&self) -> Option<SeverityLevel> {
        self.remaining().filter_map(|d| d.level).max()
    }

    /// Whether any finding not waived has an unknown severity.
    pub fn unknown_severity_remaining(&self) -> bool {
        self.remaining().any(|d| d.level.is_none())
    }
}

/// Applies VEX statements to a scan of the image `image`: for each (advisory, component)
/// pair, the latest statement that names the advisory (by ID or alias) and covers the
/// component decides; of statements with the same time, the one given last. Pass only
/// statements from keys the policy trusts, with their times filled in
/// ([`VexDocument::effective_statements`]), in the order they were logged.
pub fn apply_vex(
    predicate: &VulnsPredicate,
    image: Option<&Digest>,
    statements: &[VexStatement],
) -> VexApplication {
    let mut out = VexApplication::default();
    for rc in predicate.result_components() {
        let ids = std::iter::once(rc.id).chain(rc.aliases.iter().map(String::as_str));
        let ids: Vec<&str> = ids.collect();
        // `max_by_key` keeps the last of equal maxima: the statement logged last.
        let deciding = statements
            .iter()
            .enumerate()
            .filter(|(_, s)| s.names_vulnerability(ids.iter().copied()) && s.covers(image, rc.purl))
            .max_by_key(|(_, s)| s.timestamp);
        out.decisions.push(VexDecision {
            id: rc.id.to_owned(),
            purl: rc.purl.map(str::to_owned),
            level: rc.level,
            status: deciding.map(|(_, s)| s.status),
            justification: deciding.and_then(|(_, s)| s.justification),
            waived: deciding.is_some_and(|(_, s)| s.status.waives()),
            statement: deciding.map(|(i, _)| i),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(name: &str, status: VexStatus, products: Vec<VexProduct>, ts: &str) -> VexStatement {
        VexStatement {
            id: None,
            vulnerability: VexVulnerability {
                id: None,
                name: name.into(),
                aliases: vec![],
                description: None,
            },
            timestamp: Some(ts.parse().unwrap()),
            products,
            status,
            justification: (status == VexStatus::NotAffected)
                .then_some(Justification::VulnerableCodeNotInExecutePath),
            impact_statement: None,
            action_statement: (status == VexStatus::Affected).then(|| "upgrade".to_owned()),
            status_notes: None,
        }
    }

    #[test]
    fn statements_follow_openvex_rules() {
        let mut s = stmt(
            "CVE-1",
            VexStatus::NotAffected,
            vec![VexProduct::purl("pkg:npm/a@1")],
            "2024-01-01T00:00:00Z",
        );
        assert!(s.validate(0).is_ok());
        s.justification = None;
        assert!(s.validate(0).is_err());
        s.impact_statement = Some("not reachable".into());
        assert!(s.validate(0).is_ok());
        let mut a = stmt(
            "CVE-1",
            VexStatus::Affected,
            vec![VexProduct::purl("pkg:npm/a@1")],
            "2024-01-01T00:00:00Z",
        );
        a.action_statement = None;
        assert!(a.validate(0).is_err());
        let f = VexStatement {
            justification: Some(Justification::ComponentNotPresent),
            ..stmt(
                "CVE-1",
                VexStatus::Fixed,
                vec![VexProduct::purl("pkg:npm/a@1")],
                "2024-01-01T00:00:00Z",
            )
        };
        assert!(f.validate(0).is_err());
        let doc = VexDocument::new(
            "me",
            "2024-01-01T00:00:00Z".parse().unwrap(),
            vec![s.clone()],
        )
        .unwrap();
        assert!(doc.id.starts_with("https://openvex.dev/docs/public/vex-"));
        let back = VexDocument::from_json(&serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
        let mut bad = serde_json::to_value(&doc).unwrap();
        bad["@context"] = "https://openvex.dev/ns/v0.1.0".into();
        assert!(VexDocument::from_json(&bad).is_err());
        bad["@context"] = OPENVEX_CONTEXT.into();
        bad["statements"][0]["status"] = "maybe".into();
        assert!(VexDocument::from_json(&bad).is_err());
        // Document rules: an author, at least one statement, products that name something.
        let t = "2024-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            VexDocument::new(" ", t, vec![s.clone()]),
            Err(VexError::Document(_))
        ));
        assert!(matches!(
            VexDocument::new("me", t, vec![]),
            Err(VexError::Document(_))
        ));
        let mut nameless = s;
        nameless.products = vec![VexProduct {
            id: None,
            identifiers: Default::default(),
            hashes: Default::default(),
            subcomponents: vec![],
        }];
        assert!(VexDocument::new("me", t, vec![nameless]).is_err());
    }

    #[test]
    fn purls_match_loosely_by_version_and_qualifiers() {
        assert!(purl_matches("pkg:pypi/urllib3", "pkg:pypi/urllib3@2.2.3"));
        assert!(purl_matches(
            "pkg:pypi/urllib3@2.2.3",
            "pkg:pypi/urllib3@2.2.3"
        ));
        assert!(!purl_matches(
            "pkg:pypi/urllib3@2.2.2",
            "pkg:pypi/urllib3@2.2.3"
        ));
        assert!(purl_matches(
            "pkg:deb/debian/libc6?arch=amd64",
            "pkg:deb/debian/libc6@2.36?arch=amd64&distro=debian-12"
        ));
        assert!(!purl_matches(
            "pkg:deb/debian/libc6?arch=arm64",
            "pkg:deb/debian/libc6@2.36?arch=amd64"
        ));
        assert!(!purl_matches("pkg:npm/lodash", "pkg:npm/lodash-es@1"));
    }

    #[test]
    fn image_products_and_subcomponents() {
        let img = Digest::sha256_of(b"manifest");
        let other = Digest::sha256_of(b"other");
        let s = stmt(
            "CVE-1",
            VexStatus::NotAffected,
            vec![VexProduct::image(&img)],
            "2024-01-01T00:00:00Z",
        );
        assert!(s.covers(Some(&img), Some("pkg:npm/a@1")));
        assert!(!s.covers(Some(&other), Some("pkg:npm/a@1")));
        let mut p = VexProduct::image(&img);
        p.subcomponents.push(VexProduct::purl("pkg:npm/a"));
        let s = stmt(
            "CVE-1",
            VexStatus::NotAffected,
            vec![p],
            "2024-01-01T00:00:00Z",
        );
        assert!(s.covers(Some(&img), Some("pkg:npm/a@1")));
        assert!(!s.covers(Some(&img), Some("pkg:npm/b@1")));
        let oci = VexProduct::purl(&format!(
            "pkg:oci/app@{}",
            img.to_string().replace(':', "%3A")
        ));
        let s = stmt("CVE-1", VexStatus::Fixed, vec![oci], "2024-01-01T00:00:00Z");
        assert!(s.covers(Some(&img), Some("pkg:npm/a@1")));
    }
}
