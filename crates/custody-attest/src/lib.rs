//! Signed, interoperable attestations for container images: keys, in-toto Statements v1,
//! DSSE envelopes and Sigstore bundles.
//!
//! custody proves an image's chain of custody with statements signed at each hand-over: the
//! CI builder signs one **layer attestation** per layer (its DiffID, its ChainID and parent
//! ChainID, its blob and its SBOM, so a signature over a layer also binds everything beneath
//! it) and a **SLSA provenance** over the image's manifest and config digests naming the base
//! image and the layer attestations; reviewers sign **reviews** of a manifest digest; scanners
//! sign **in-toto vulns** results and **OpenVEX** statements; the deploy gate signs its
//! **decision** as a SLSA Verification Summary. Every one is an in-toto Statement v1
//! (`application/vnd.in-toto+json`) in a DSSE envelope, signed with ed25519 (default) or
//! ECDSA P-256, so stock tools (securesystemslib, in-toto, cosign, sigstore-python) read them.
//!
//! Verification is a chain of checked types, so that a forgotten check cannot compile:
//! [`EnvelopeWire`] (what the JSON said) -> [`Envelope`] (decoded, bounded, de-duplicated) ->
//! [`VerifiedEnvelope`] (enough of the caller's keys verified it) -> [`CheckedStatement`] (a
//! valid in-toto statement) -> a typed predicate from one of its accessors
//! ([`CheckedStatement::layer`], [`CheckedStatement::provenance`], ...), each of which checks
//! its own rules (ChainIDs follow from DiffIDs, an embedded SBOM matches its digest, a review
//! is signed by its reviewer).
//!
//! Everything is deterministic for the same inputs and time: ed25519 and RFC 6979 ECDSA
//! signatures, and JSON serialized with a fixed member order.
//!
//! Scan and VEX statements are wrapped and read here by their subjects only
//! ([`ScanSubject`], [`VexSubject`], [`CheckedStatement::scan`], [`CheckedStatement::vex`]);
//! the in-toto vulns v0.1 and OpenVEX predicate models, their rules and VEX's application to
//! findings belong to custody-vuln, so there is one model of each in the workspace and this
//! crate needs no vulnerability-matching code.
//!
//! The DSSE PAE and the Statement and bundle types come from `sigstore-types`; bare
//! envelopes are parsed here because the DSSE protocol allows several signatures while a
//! Sigstore bundle holds one. See docs/attestations.md for every predicate with an example.
#![deny(missing_docs)]

mod batch;
mod bundle;
mod dsse;
mod json;
mod keys;
mod predicates;
mod statement;

pub use batch::{BatchItem, verify_batch};
pub use bundle::{BundleContent, BundleError, KeyBundle, bundle_json, parse_bundle};
pub use dsse::{
    Envelope, EnvelopeError, EnvelopeFileError, EnvelopeWire, KeyIdHint, Limits, Signature,
    SignatureWire, VerifiedEnvelope, VerifyError, read_envelope_file,
};
pub use keys::{
    KeyError, KeyLoadError, KeySource, KeyType, MAX_KEY_FILE_BYTES, PublicKey, SigningKey,
    load_public_key, load_signing_key,
};
pub use predicates::*;
/// The in-toto Statement type from sigstore-types, re-exported so callers need not depend on it.
pub use sigstore_types::{Statement, Subject};
pub use statement::{
    Attestation, CheckedStatement, StatementError, ValidationError, parse_statement,
    sign_statement, statement_json, subject, subject_digest, validate_digest_set,
    validate_provenance, validate_resource_descriptor, validate_statement,
};

/// Provenance constants (build type, names of subjects and dependencies).
pub mod provenance {
    pub use crate::predicates::provenance::{
        BASE_IMAGE_NAME, BUILD_TYPE_OCI_IMAGE, CONFIG_SUBJECT_NAME, DSSE_ENVELOPE_MEDIA_TYPE,
        IMAGE_SBOM_NAME,
    };
    pub use crate::predicates::scan::SCANNED_SBOM_SUBJECT;
}
