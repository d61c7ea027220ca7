//! OSV advisories matched against SBOM components with each ecosystem's version ordering.
#![deny(missing_docs)]

pub mod cyclonedx;
mod db;
mod ecosystem;
mod matcher;
mod osv;
mod predicate;
mod severity;
pub mod version;
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
pub use severity::{Severity, SeverityEntry, SeverityLevel, SeverityLevelError, cvss_base_score};
pub use warning::{Warning, WarningKind};
