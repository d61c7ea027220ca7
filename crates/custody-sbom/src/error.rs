//! Why an SBOM could not be made.

use custody_oci::OciError;

/// Errors of SBOM generation. A problem with one package record or metadata file is not an
/// error but a [`crate::Warning`]; these are the problems that leave no trustworthy SBOM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbomError {
    /// The image could not be read or failed a digest check (names the layer or blob).
    #[error(transparent)]
    Image(#[from] OciError),
    /// The image has no layers, so there is nothing to describe.
    #[error("image {0} has no layers")]
    NoLayers(String),
}
