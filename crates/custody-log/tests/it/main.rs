//! custody-log integration tests: published vectors (../shared/testdata/merkle), agreement of
//! the node-store proof builder with ct-merkle, an RFC 9162 reference and three verifiers,
//! the entry proof file, and tampering scenarios.
// Helpers outside #[test] functions build fixtures; a failure there is a broken test.
#![allow(clippy::unwrap_used)]

mod common;
mod cross_impl;
mod entry_proof;
mod notes;
mod tamper;
mod vectors;
