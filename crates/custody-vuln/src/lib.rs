//! OSV advisories matched against SBOM components with each ecosystem's version ordering.
#![deny(missing_docs)]

pub mod version;
