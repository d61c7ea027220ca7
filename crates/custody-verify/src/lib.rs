//! The deploy gate's judgement, as a pure function: a policy, an image's manifest and config,
//! and evidence (signed statements, inclusion proofs, a signed checkpoint) in; a [`Decision`]
//! with one [`Verdict`] per rule of "unbroken" out, each naming the log index, key ID and
//! digest it rests on.
//!
//! # Why a pure crate
//!
//! A verifier is only as good as the cases it was tested on. Keeping the decision free of I/O
//! (no files, no network, no clock: the time is an input, keys come through a loader) lets
//! every attack be a unit or end-to-end test over values, lets the CLI, the admission webhook
//! and the benchmark share one code path, and makes "fail closed" easy to see: every input is
//! checked on the way in and every missing or broken piece of evidence becomes a failing rule
//! with its reason, never a skipped check.
//!
//! # The pieces
//!
//! - [`Policy`]: the YAML policy (keys by role, the ledger's key, each rule's parameters),
//!   parsed with every mistake reported with its line ([`PolicyError`]).
//! - [`ImageFacts`]: the image's manifest and config, checked against their digests. By
//!   digest, that is all that is read; no layer is decompressed.
//! - [`Evidence`]: envelopes with log positions, one signed checkpoint, consistency proofs,
//!   content-addressed blobs, from a [`Bundle`] file or a live ledger through
//!   [`collect_from_ledger`] over a caller-supplied [`LedgerTransport`].
//! - [`verify`]: the seven rules (docs/policy.md), returning a [`Decision`] whose
//!   `next_state` is the checkpoint to remember when the decision is an allow.
//!
//! # The rules
//!
//! 1. **layers**: every layer has an attestation whose ChainID is the one computed from the
//!    image at that position, signed by a base-library key below the base and a builder key
//!    above it.
//! 2. **base_image**: the base image named in the provenance is a prefix of the image and its
//!    provenance is signed by the base library.
//! 3. **provenance**: a builder-signed SLSA provenance names this manifest, this config and
//!    exactly these DiffIDs in order.
//! 4. **scan**: the newest scan by a scanner key covers this image's SBOM, is younger than
//!    the maximum age, and has no finding above the threshold that an allowed VEX statement
//!    does not waive (and, if required, no unevaluated components). The scan and VEX
//!    predicates are read with custody-vuln's models and VEX is applied by custody-vuln's
//!    `apply_vex` (every component of a finding must be waived), the same code `custody
//!    scan` and `custody vex` write with.
//! 5. **reviews**: at least N distinct reviewer keys approved this manifest; none of them is
//!    a builder's key; a reviewer's latest decision counts.
//! 6. **config**: not root; no forbidden package in the final filesystem (from the SBOMs).
//! 7. **ledger**: every attestation used is included under a checkpoint signed by the log
//!    key, consistent with the last checkpoint this verifier trusted; scans and reviews are
//!    logged after the build.
#![deny(missing_docs)]

mod bundle;
mod decision;
mod evidence;
mod image;
mod ledger;
mod policy;
mod sbom;
mod verify;
mod yaml;

pub use bundle::{BUNDLE_MEDIA_TYPE, Bundle, BundleError, MAX_BUNDLE_BYTES, MAX_BUNDLE_ENTRIES};
pub use decision::{CheckpointRef, DECISION_MEDIA_TYPE, Decision, Item, RuleId, Verdict};
pub use evidence::{
    Blob, BlobMismatch, ConsistencyStep, Evidence, LoggedEntry, Origin, canonical_envelope_bytes,
};
pub use image::{
    ImageError, ImageFacts, LayerBlobFact, LayerCheck, MAX_IMAGE_JSON_BYTES, runs_as_root,
};
pub use ledger::{
    CollectOptions, EvidenceSource, FetchError, LedgerError, LedgerTransport, collect_from_ledger,
};
pub use policy::{
    BaseImageMode, ConfigRule, KeyLoader, LayersRule, LedgerRule, MAX_POLICY_BYTES, POLICY_VERSION,
    PackagePattern, Policy, PolicyError, PolicyProblem, ProvenanceRule, ReviewsRule, Rules,
    ScanRule, SignerRef, TrustedKey, format_duration, parse_duration,
};
pub use verify::{Context, verify};
pub use yaml::Location;
