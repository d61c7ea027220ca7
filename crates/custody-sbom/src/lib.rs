//! Layers to components to SBOM documents.
//!
//! custody's SBOMs answer two questions a scanner alone does not: *what is in this image*
//! and *which layer put it there*. The second is what lets a base image's layers be
//! attested once by the team that owns them, and what lets a deploy gate trust a scan of a
//! layer it has seen before.
//!
//! How: every layer is read once, in parallel (one task per layer), as a digest-checked
//! stream of tar entries. Each task keeps only the files a cataloger wants (dpkg, apk and
//! RPM databases, Python, npm and Cargo metadata, Go and cargo-auditable binaries, Java
//! archives, os-release) and parses them on the spot, so memory follows the largest
//! metadata file, not the image. The parsed files are then laid over each other layer by
//! layer (whiteouts, opaque directories, symlinks), and after each layer the full package
//! set is computed and diffed with the one before. A package is attributed to the layer
//! after which it first appears in its database, never to the layer that last wrote the
//! database file: Debian's `apt-get install` rewrites the whole status file, yet the
//! packages of the base layer still came from the base layer.
//!
//! Output is one SBOM for the image (its final filesystem) and one per layer (what that
//! layer added, changed or removed), rendered as CycloneDX 1.6 or 1.5 JSON, SPDX 2.3 JSON
//! or a table. Rendering is deterministic: the same image gives the same bytes.
#![deny(missing_docs)]

mod assemble;
mod catalog;
mod cyclonedx;
mod diff;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod generate;
mod license;
mod limits;
mod model;
mod purl;
mod render;
mod spdx_json;
mod table;

pub use error::SbomError;
pub use generate::{ImageSboms, LayerSbom, Options, generate};
pub use limits::Limits;
pub use model::{
    Bom, Component, Ecosystem, ImageInfo, LayerAttribution, LayerRef, License, Subject, Warning,
};
pub use render::{Format, SpecVersion, render};

/// Names of the properties custody writes besides those in
/// [`custody_types::sbom_properties`].
pub mod properties {
    pub use custody_types::sbom_properties::*;
    /// ChainID of a per-layer SBOM's layer (on `metadata.component`).
    pub const LAYER_CHAIN_ID: &str = "custody:layer-chain-id";
    /// DiffID of a per-layer SBOM's layer (on `metadata.component`).
    pub const LAYER_DIFF_ID: &str = "custody:layer-diff-id";
    /// Compressed digest of a per-layer SBOM's layer (on `metadata.component`).
    pub const LAYER_DIGEST: &str = "custody:layer-digest";
    /// Where inside the image a component was found first (its main evidence path).
    pub const LOCATION: &str = "custody:location";
    /// Package architecture (dpkg, apk, RPM).
    pub const ARCH: &str = "custody:arch";
}
