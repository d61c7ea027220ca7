//! Media types custody reads and writes.
//!
//! OCI media types themselves come from `oci-spec`; these are the ones custody adds or needs
//! as plain strings at a border (DSSE payload types, Docker's legacy manifest types).

/// DSSE payload type of an in-toto Statement.
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";
/// Sigstore bundle v0.3 media type (key-based bundles custody writes with `--format bundle`).
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// CycloneDX JSON documents.
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
/// SPDX JSON documents.
pub const SPDX_JSON: &str = "application/spdx+json";
/// Docker schema 2 manifest (what `docker save` and many registries still produce).
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (a multi-platform index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker zstd layer.
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker uncompressed layer (as `docker save` wrote them before Docker 25).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
