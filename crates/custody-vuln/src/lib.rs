//! OSV advisories matched against SBOM components with each ecosystem's version ordering.
#![deny(missing_docs)]

mod ecosystem;
mod osv;
mod severity;
pub mod version;
mod warning;

pub use ecosystem::{Ecosystem, PackageKey, PackageKeyError};
pub use osv::{Advisory, AffectedPackage, Rejection, Verdict, parse_record};
pub use severity::{Severity, SeverityEntry, SeverityLevel, SeverityLevelError, cvss_base_score};
pub use warning::{Warning, WarningKind};
