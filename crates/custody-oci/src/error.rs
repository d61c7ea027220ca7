//! Errors of the image input stage, layered by where they arise: the reference string, the
//! container (layout or archive), the blobs it names, and one layer's stream.

use std::path::PathBuf;

use custody_types::Digest;

/// Why an image reference string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string is empty, or its path part is.
    #[error("image reference {0:?} names no path")]
    Empty(String),
    /// A `docker-archive:` image name is not a valid `NAME[:TAG]`.
    #[error("image name {0:?} is not a valid NAME[:TAG] reference")]
    BadImageName(String),
    /// A `--platform` value is not `os/arch[/variant]`.
    #[error("platform {0:?} is not os/arch[/variant]")]
    BadPlatform(String),
}

/// Everything that can go wrong opening or reading an image.
///
/// Messages name the file, blob digest or layer concerned, so a CI log line alone says what
/// to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// The reference string is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A file of the image could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The path is neither an OCI layout directory nor an archive custody understands.
    #[error("{path}: {reason}")]
    UnknownFormat {
        /// The path given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The outer archive (oci-archive or docker-archive tar) is malformed.
    #[error("archive {path}: {reason}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A metadata document (index, manifest, config, manifest.json) is malformed.
    #[error("{what}: {reason}")]
    Invalid {
        /// Which document (e.g. `index.json`, `manifest sha256:...`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A blob named by a descriptor is not in the layout or archive.
    #[error("{what} {digest} is missing from the image (expected at {location})")]
    MissingBlob {
        /// What the blob is (manifest, config, layer 2, ...).
        what: String,
        /// Its digest.
        digest: Digest,
        /// Where it was looked for.
        location: String,
    },
    /// A blob's bytes do not hash to the digest its descriptor names.
    #[error("{what}: digest mismatch: descriptor says {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// What the blob is.
        what: String,
        /// The descriptor's digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// A blob's length differs from its descriptor's size.
    #[error("{what}: size mismatch: descriptor says {expected} bytes, blob has {actual}")]
    SizeMismatch {
        /// What the blob is.
        what: String,
        /// The descriptor's size.
        expected: u64,
        /// The bytes found (a lower bound when the blob is longer than expected).
        actual: u64,
    },
    /// Nested indexes refer back to one another.
    #[error("image index {digest} refers to itself through nested indexes (cycle)")]
    IndexCycle {
        /// The index seen twice.
        digest: Digest,
    },
    /// No manifest in the image matches the platform or name asked for, or several do.
    #[error("{reason}; available: {}", if available.is_empty() { "none".to_owned() } else { available.join(", ") })]
    Selection {
        /// What did not match.
        reason: String,
        /// What the image offers (names, refs or platforms) so the user can pick one.
        available: Vec<String>,
    },
    /// A metadata document or count exceeds a configured limit.
    #[error("{what} exceeds the {limit} limit of {max}")]
    Limit {
        /// What was too large.
        what: String,
        /// Which limit (the field name of [`crate::Limits`]).
        limit: &'static str,
        /// The configured maximum.
        max: u64,
    },
    /// Reading one layer failed; the whole layer's output must be discarded.
    #[error("layer {index} ({digest}): {source}")]
    Layer {
        /// The layer's position in the manifest, bottom first, from 0.
        index: usize,
        /// The layer's compressed (blob) digest.
        digest: Digest,
        /// What went wrong.
        source: LayerError,
    },
    /// A layer index past the end of the manifest.
    #[error("the image has {count} layers; there is no layer {index}")]
    NoSuchLayer {
        /// The index asked for.
        index: usize,
        /// How many layers there are.
        count: usize,
    },
    /// Layers were applied to an [`crate::ImageView`] out of order.
    #[error("layer {got} applied to an image view that expects layer {expected} next")]
    LayerOrder {
        /// The next layer the view expects.
        expected: usize,
        /// The layer given.
        got: usize,
    },
}

/// What went wrong inside one layer's stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// The blob could not be read from disk.
    #[error("reading the blob: {0}")]
    Io(#[source] std::io::Error),
    /// The compressed stream is corrupt or truncated.
    #[error("corrupt {compression} stream: {source}")]
    Decompress {
        /// The compression being decoded.
        compression: crate::Compression,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The uncompressed stream is not a valid tar archive.
    #[error("corrupt tar stream: {0}")]
    Tar(#[source] std::io::Error),
    /// The compressed bytes do not hash to the descriptor's digest.
    #[error("blob digest mismatch: descriptor says {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The descriptor's digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// The compressed length differs from the descriptor's size.
    #[error("blob size mismatch: descriptor says {expected} bytes, blob has {actual}")]
    SizeMismatch {
        /// The descriptor's size.
        expected: u64,
        /// The bytes found (a lower bound when the blob is longer than expected).
        actual: u64,
    },
    /// The uncompressed tar does not hash to the config's `rootfs.diff_ids` entry.
    #[error("diff_id mismatch: config says {expected}, uncompressed content hashes to {actual}")]
    DiffIdMismatch {
        /// The config's DiffID for this layer.
        expected: Digest,
        /// The digest of the uncompressed stream.
        actual: Digest,
    },
    /// An entry's path would leave the image root (`../` beyond `/`).
    #[error("entry {path:?} escapes the image root")]
    PathEscapes {
        /// The path as written in the tar (lossily decoded).
        path: String,
    },
    /// A configured limit was exceeded (decompression bomb, too many entries, ...).
    #[error("{what} exceeds the {limit} limit of {max}")]
    Limit {
        /// What was too large (an entry path, or `uncompressed stream`).
        what: String,
        /// Which limit (the field name of [`crate::Limits`]).
        limit: &'static str,
        /// The configured maximum.
        max: u64,
    },
    /// The layer's media type is not a tar layer custody can decode.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),
    /// The caller's visitor failed on an entry.
    #[error("visiting {path:?}: {source}")]
    Visitor {
        /// The entry being visited.
        path: String,
        /// The visitor's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> OciError {
        OciError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl std::fmt::Display) -> OciError {
        OciError::Invalid {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
