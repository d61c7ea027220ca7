//! The SBOM model: what custody found in an image, before it is written in any format.

use custody_types::{DiffId, Digest};
use serde::Serialize;

/// Which cataloger found a component; also decides the purl type and the CycloneDX
/// component type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ecosystem {
    /// The operating system itself, from `etc/os-release`.
    Os,
    /// Debian packages from dpkg's database (`status` or distroless `status.d`).
    Deb,
    /// Alpine packages from `lib/apk/db/installed`.
    Apk,
    /// RPM packages from `rpmdb.sqlite`.
    Rpm,
    /// Python distributions (`*.dist-info`, `*.egg-info`).
    Python,
    /// npm packages (`node_modules/**/package.json`, lock files).
    Npm,
    /// Rust crates (`Cargo.lock`, cargo-auditable data in binaries).
    Cargo,
    /// Go modules and the Go standard library, from Go binaries' build info.
    Go,
    /// Java archives (`pom.properties`, `MANIFEST.MF`).
    Maven,
}

impl Ecosystem {
    /// The cataloger's name, as written in the `custody:cataloger` property.
    pub fn cataloger(self) -> &'static str {
        match self {
            Ecosystem::Os => "os-release",
            Ecosystem::Deb => "dpkg",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Python => "python",
            Ecosystem::Npm => "npm",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Go => "go",
            Ecosystem::Maven => "java",
        }
    }

    /// The purl type of this ecosystem's packages.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Os => "generic",
            Ecosystem::Deb => "deb",
            Ecosystem::Apk => "apk",
            Ecosystem::Rpm => "rpm",
            Ecosystem::Python => "pypi",
            Ecosystem::Npm => "npm",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Go => "golang",
            Ecosystem::Maven => "maven",
        }
    }
}

/// A declared licence of a component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum License {
    /// A valid SPDX licence expression in canonical form (`MIT`, `GPL-2.0-or-later OR MIT`).
    Spdx(String),
    /// A licence name that does not map to SPDX, kept as the package declared it.
    Named(String),
}

/// A layer of the image, named the ways scanners name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LayerRef {
    /// Zero-based position in the image's manifest.
    pub index: usize,
    /// Digest of the uncompressed layer (the config's `diff_ids` entry).
    pub diff_id: DiffId,
    /// Digest of the layer blob as stored (compressed), as the manifest names it.
    pub digest: Digest,
}

/// Where in the image's history a component came from.
///
/// `introduced` is found by diffing every package database layer by layer: the layer after
/// which this component (same identity, same version) first appears. A later layer that
/// rewrites its record without changing its version sets `changed`; a version change is a
/// new component version introduced in the later layer, with `changed` set to that layer as
/// well. `removed` is set only in per-layer SBOMs, on components that layer removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LayerAttribution {
    /// The layer that introduced this component.
    pub introduced: LayerRef,
    /// The last layer that rewrote this component's record or replaced an earlier version.
    pub changed: Option<LayerRef>,
    /// The layer that removed this component (per-layer SBOMs only).
    pub removed: Option<LayerRef>,
}

/// One package found in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    /// Which cataloger found it.
    pub ecosystem: Ecosystem,
    /// The group or namespace the ecosystem names separately from the name (Maven's
    /// `groupId`); `None` elsewhere.
    pub group: Option<String>,
    /// The package's name as its ecosystem spells it (`python3-pip`, `charset-normalizer`,
    /// `@types/node`; for Maven the `artifactId`).
    pub name: String,
    /// The version as the package database records it (dpkg epochs included: `1:2.3-4`).
    pub version: String,
    /// Package URL in canonical form, per the purl specification for its type (empty for the
    /// operating system, which has none).
    pub purl: String,
    /// Unique reference within a document; stable across the image and per-layer SBOMs.
    pub bom_ref: String,
    /// Declared licences.
    pub licenses: Vec<License>,
    /// Absolute paths inside the image that evidence this component (package database,
    /// metadata file, binary, archive).
    pub evidence: Vec<String>,
    /// Extra name/value properties (source package, architecture, ...), written as
    /// CycloneDX properties.
    pub properties: Vec<(String, String)>,
    /// bom-ref of the package that installed this one (a Python distribution shipped by a
    /// deb), if any.
    pub owned_by: Option<String>,
    /// bom-refs of the components this one depends on, where the metadata says so.
    pub depends_on: Vec<String>,
    /// The layer that introduced it (and changed or removed it).
    pub layers: LayerAttribution,
}

/// What an SBOM describes: the whole image, or one of its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The image's name (`localhost/app:1.0`), from `--image`, the archive's tag or the
    /// layout's `org.opencontainers.image.ref.name` annotation.
    pub name: String,
    /// Digest of the image manifest: what a deployment pins.
    pub manifest_digest: Digest,
    /// Digest of the image config.
    pub config_digest: Digest,
    /// `os/arch[/variant]` of the image.
    pub platform: String,
    /// Every layer, bottom first.
    pub layers: Vec<LayerRef>,
}

/// The subject of one SBOM document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Subject {
    /// The image's final filesystem.
    Image,
    /// What one layer added, changed or removed.
    Layer {
        /// The layer.
        layer: LayerRef,
        /// ChainID of the layer at its position (binds it to every layer beneath it).
        chain_id: custody_types::ChainId,
    },
}

/// One SBOM: its subject, the image it belongs to, and its components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bom {
    /// The image, whose facts every document carries.
    pub image: ImageInfo,
    /// What this document describes.
    pub subject: Subject,
    /// The document's time: `SOURCE_DATE_EPOCH` if set, else the image's (or the layer's
    /// history entry's) creation time, else the Unix epoch. Never the wall clock, so that
    /// output is reproducible.
    pub timestamp: jiff::Timestamp,
    /// Components, sorted by ecosystem, name, version and bom-ref.
    pub components: Vec<Component>,
}

/// A problem with one file or record that did not stop the SBOM; the rest is still right.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Warning {
    /// Zero-based layer index where the file was read, if it came from a layer.
    pub layer: Option<usize>,
    /// Absolute path of the file inside the image.
    pub path: String,
    /// What was wrong, lower-case.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.layer {
            Some(layer) => write!(f, "layer {layer}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}
