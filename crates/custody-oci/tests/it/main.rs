//! Integration tests of custody-oci on the real images of `../shared/testdata/images` and on
//! hostile inputs built in the tests.
// Helpers outside #[test] functions build fixtures; a failure there is a broken test.
#![allow(clippy::unwrap_used)]

mod hostile;
mod real;
mod select;
mod support;
