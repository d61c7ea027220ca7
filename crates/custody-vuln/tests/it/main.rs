//! Integration tests of custody-vuln: the OSV records of `../shared/testdata/osv` give the
//! outcomes their SOURCES.md rows state, each ecosystem's ordering traps, the real
//! debian-py-node image scanned with exact expected findings, hostile databases and SBOMs,
//! and the predicate / VEX / SARIF artefacts.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

mod hostile;
mod image;
mod ordering;
mod predicate;
mod testdata_osv;
mod truth_sbom;
