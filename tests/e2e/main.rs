//! End-to-end tests: the real binaries on real images.
// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod advisories;
mod attest;
mod gate;
mod ledger;
mod pipeline;
mod sbom;
mod scan;
mod verify;
