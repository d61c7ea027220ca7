//! The predicates custody writes and reads: layer, provenance, review, scan, VEX, decision.

pub(crate) mod layer;
pub(crate) mod provenance;
pub(crate) mod review;
pub(crate) mod scan;
pub(crate) mod summary;
pub(crate) mod vex;

pub use layer::{LayerAttestation, LayerBlob, LayerPredicate, LayerSbom, SbomDocument};
pub use provenance::{
    BaseImage, BuildDefinition, BuildMetadata, Builder, CiContext, ImageBuild, ImageProvenance,
    Provenance, ProvenanceLayer, ResourceDescriptor, RunDetails,
};
pub use review::{Decision, ReviewAttestation, ReviewPredicate, Reviewer};
pub use scan::{ScanAttestation, ScanSubject};
pub use summary::{PolicyRef, VerificationResult, VerificationSummary, Verifier};
pub use vex::{VexAttestation, VexSubject};
