//! Integration tests of custody-oci on the real images of `../shared/testdata/images` and on
//! hostile inputs built in the tests.

mod hostile;
mod real;
mod support;
