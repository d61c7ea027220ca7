//! OSV advisories matched against SBOM components, each ecosystem's versions ordered the way
//! its own tools order them.
//!
//! This is the matching engine behind `custody scan` and behind the ledger's re-evaluation
//! of recorded images when new advisories arrive. It is pure and synchronous: values in,
//! values out, no network.
//!
//! - **Advisories** ([`AdvisoryDb`]): OSV records from a folder (recursively) or osv.dev's
//!   per-ecosystem `all.zip` exports, read within [`LoadLimits`] (entries, bytes per record,
//!   bytes in total: a zip bomb is refused, a 1 GB record skipped unread). Each record is
//!   checked against the rules of the OSV schema that matching relies on; a bad record,
//!   an unsupported ecosystem or an unparseable range is a [`Warning`] naming the record,
//!   never fatal for the database. Withdrawn records are ignored. The database is named by
//!   a [`Snapshot`]: a digest of its records' contents and its newest `modified` time.
//!   Loading checks every record's identity, structure and package keys; ranges and
//!   severities are parsed when a scan first looks a record up ([`AdvisoryDb::check_all`]
//!   parses them all), so scanning one SBOM against 200,000 records parses the few hundred
//!   that concern it.
//! - **Index**: affected packages by [`PackageKey`] (ecosystem, distribution release,
//!   normalised name), so a scan is a hash lookup per component, not a pass over the records.
//! - **Versions** ([`version`]): dpkg (`debversion`), apk (apk-tools' rules), PEP 440
//!   (`pep440_rs`), npm (`nodejs-semver`), SemVer (`semver`, for crates.io and Go with its
//!   pseudo-versions), Maven (`ComparableVersion`), and ranges evaluated exactly as the OSV
//!   schema's `IsVulnerable` pseudo-code does.
//! - **Components** ([`cyclonedx`]): every component of a CycloneDX 1.4–1.6 document, nested
//!   ones too, with purl and properties; distribution packages match through their source
//!   package and source version ([`target`]).
//! - **Results**: a [`ScanReport`] of [`Finding`]s (OSV ID, aliases, component, introducing
//!   layer, severity from CVSS v2/v3/v4 or the database's rating, fixed version) and of
//!   components that could not be evaluated, which are listed, never reported clean; the
//!   in-toto vulns v0.1 predicate ([`VulnsPredicate`]) that `custody scan` signs and the
//!   verifier reads back; SARIF ([`to_sarif`]).
//! - **VEX** ([`VexDocument`], [`apply_vex`]): OpenVEX v0.2.0 statements, and their
//!   application to a scan's findings.
//!
//! The vulns v0.1 and OpenVEX models live here and nowhere else: `custody scan` and
//! `custody vex` build them, custody-attest wraps them in statements by their subjects
//! without interpreting them (it does not depend on this crate), and the verifier's scan rule
//! reads them back with [`VulnsPredicate::from_json`] and [`VexDocument::from_json`] and
//! waives findings with [`apply_vex`].
//!
//! For the ledger: [`Advisory::package_keys`] gives the keys an advisory touches,
//! [`component_keys`] the keys a recorded component is found under, and [`match_advisory`]
//! evaluates one advisory against the candidate components.
#![deny(missing_docs)]

pub mod cyclonedx;
mod db;
mod ecosystem;
mod matcher;
mod osv;
mod predicate;
mod sarif;
mod severity;
pub mod version;
mod vex;
mod warning;

pub use db::{AdvisoryDb, DbError, LoadLimits, Snapshot};
pub use ecosystem::{Ecosystem, PackageKey, PackageKeyError};
pub use matcher::{
    AdvisoryMatch, AdvisoryMatches, ComponentRef, Distro, Finding, MatchedPackage, ScanReport,
    TRIVY_SRC_EPOCH, TRIVY_SRC_RELEASE, Target, UnevaluatedComponent, UnevaluatedReason,
    component_keys, evaluate, match_advisory, target,
};
pub use osv::{Advisory, AffectedPackage, Rejection, Verdict, parse_record};
pub use predicate::{
    CUSTODY_SEVERITY_METHOD, CustodyScan, DbSnapshot, PredicateInputs, ResultAnnotation,
    ResultComponent, ScanMetadata, ScanSummary, ScannedSbom, Scanner, ScannerDb, SeverityScore,
    VulnResult, VulnsPredicate,
};
pub use sarif::{SARIF_SCHEMA, to_sarif};
pub use severity::{Severity, SeverityEntry, SeverityLevel, SeverityLevelError, cvss_base_score};
pub use vex::{
    Justification, OPENVEX_CONTEXT, VexApplication, VexDecision, VexDocument, VexDocumentError,
    VexError, VexProduct, VexStatement, VexStatus, VexVulnerability, VexWordError, apply_vex,
    purl_matches,
};
pub use warning::{Warning, WarningKind};
