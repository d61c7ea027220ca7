//! in-toto predicate type URIs of every attestation custody writes or reads.
//!
//! custody's own predicates live under `https://custody.dev/attestation/`; the others are the
//! published in-toto, SLSA and OpenVEX types so that stock tools can read them.

/// in-toto Statement v1 `_type`.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// A layer's place in an image: index, ChainID, parent ChainID, media type and its SBOM.
pub const LAYER_V1: &str = "https://custody.dev/attestation/layer/v1";
/// SLSA Provenance v1 (build provenance of an image).
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// in-toto vulns v0.1 (a scan's findings).
pub const VULNS_V01: &str = "https://in-toto.io/attestation/vulns/v0.1";
/// A reviewer's approval of an image manifest digest.
pub const REVIEW_V1: &str = "https://custody.dev/attestation/review/v1";
/// SLSA Verification Summary v1 (a deploy gate's decision).
pub const VERIFICATION_SUMMARY_V1: &str = "https://slsa.dev/verification_summary/v1";
/// OpenVEX v0.2.0 statements.
pub const OPENVEX_V02: &str = "https://openvex.dev/ns/v0.2.0";
/// CycloneDX BOM as an in-toto predicate.
pub const CYCLONEDX_BOM: &str = "https://cyclonedx.org/bom";
