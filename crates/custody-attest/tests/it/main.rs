//! Integration tests of custody-attest: published vectors (../shared/testdata), the Python
//! reference implementation, Sigstore conformance bundles, and hostile input.
// Helpers outside #[test] functions build fixtures; a failure there is a broken test.
#![allow(clippy::unwrap_used)]

mod common;
mod conformance;
mod dsse_vectors;
mod hostile;
mod interop;
mod keys;
mod predicates;
mod slsa;
mod statements;
