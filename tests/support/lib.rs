//! Shared helpers for the end-to-end tests: locating the real binaries and test data.
