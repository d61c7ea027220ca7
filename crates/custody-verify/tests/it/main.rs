//! Integration tests of custody-verify.
