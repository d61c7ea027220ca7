//! CycloneDX property names custody writes on components and reads back.
//!
//! Layer attribution is written twice: under Trivy's names, so existing scanners and
//! dashboards read it, and under custody's own names, which also say where a package was
//! removed or changed. Values are digests (`sha256:<hex>`).

/// Trivy's name for the DiffID of the layer that introduced a component.
pub const TRIVY_LAYER_DIFF_ID: &str = "aquasecurity:trivy:LayerDiffID";
/// Trivy's name for the compressed digest of the layer that introduced a component.
pub const TRIVY_LAYER_DIGEST: &str = "aquasecurity:trivy:LayerDigest";
/// Trivy's name for a binary package's source package (Debian `Source:`).
pub const TRIVY_SRC_NAME: &str = "aquasecurity:trivy:SrcName";
/// Trivy's name for the source package's version.
pub const TRIVY_SRC_VERSION: &str = "aquasecurity:trivy:SrcVersion";
/// DiffID of the layer that introduced the component (found by diffing package databases).
pub const INTRODUCED_IN: &str = "custody:introduced-in";
/// DiffID of the layer that removed the component (per-layer SBOMs only).
pub const REMOVED_IN: &str = "custody:removed-in";
/// DiffID of a layer that rewrote the component's record without introducing it.
pub const CHANGED_IN: &str = "custody:changed-in";
/// Zero-based position of the introducing layer in the image.
pub const LAYER_INDEX: &str = "custody:layer-index";
/// bom-ref of the package that installed this one (a Python distribution shipped by a deb).
pub const OWNED_BY: &str = "custody:owned-by";
/// Which cataloger found the component (dpkg, apk, rpm, python, npm, cargo, go, java).
pub const CATALOGER: &str = "custody:cataloger";
