//! End-to-end tests: the real binaries on real images.
// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod attest;
mod ledger;
mod sbom;
mod scan;
mod verify;
