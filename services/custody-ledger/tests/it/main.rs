//! Integration tests of the ledger. Every test runs on SQLite and, when
//! CUSTODY_TEST_POSTGRES_URL is set (CI always sets it), on a fresh PostgreSQL database too.
// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

mod advisories;
mod api;
mod bad_input;
mod blobs;
mod grpc;
mod search;
mod support;
mod tamper;
