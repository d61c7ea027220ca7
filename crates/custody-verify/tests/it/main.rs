//! custody-verify over a synthetic image with real keys, signatures and a real Merkle log:
//! the passing chain of custody, and each attack denied by the rule that should catch it.
#![allow(clippy::unwrap_used)]

mod policy;
mod rules;
mod scenario;
