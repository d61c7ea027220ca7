//! Bounds on what an image may make custody read or hold, so hostile input fails fast.

/// Limits on an image's metadata and layer streams.
///
/// Every limit exists because an image is outside input: a few kilobytes of gzip can expand to
/// terabytes (a decompression bomb), a tar can hold millions of empty entries, and a symlink
/// chain can loop. Exceeding one is an error naming the layer and the limit's field name, so
/// the caller can raise that one limit deliberately. The defaults are far above what real
/// images need (the largest public base images have layers of a few GiB and tens of thousands of
/// entries) and far below what exhausts a CI machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most uncompressed bytes one layer's tar stream may have (default 16 GiB).
    pub max_layer_bytes: u64,
    /// Most uncompressed bytes all layers together may have (default 64 GiB).
    pub max_image_bytes: u64,
    /// Largest ratio of uncompressed to compressed bytes, checked once a layer has expanded
    /// past [`Limits::expansion_check_after`] (default 200; real layers compress 2-10x, gzip of
    /// zeros 1000x). `None` turns the check off.
    pub max_expansion_ratio: Option<u64>,
    /// Uncompressed bytes after which the expansion ratio is checked (default 256 MiB), so
    /// small, highly compressible layers never trip it.
    pub expansion_check_after: u64,
    /// Most tar entries in one layer (default 2,000,000).
    pub max_entries: u64,
    /// Largest file a visitor may capture into memory with
    /// [`crate::EntryContent::read_all`] (default 512 MiB).
    pub max_capture_bytes: u64,
    /// Longest entry path or link target in bytes (default 4096, Linux's PATH_MAX).
    pub max_path_len: usize,
    /// Most symlinks followed while resolving one path (default 40, Linux's MAXSYMLINKS).
    pub max_symlink_hops: usize,
    /// Largest index, manifest, config or `manifest.json` (default 16 MiB).
    pub max_metadata_bytes: u64,
    /// Deepest nesting of image indexes (default 8).
    pub max_index_depth: usize,
    /// Most descriptors the image's indexes may list in total, and most layers one manifest
    /// may list (default 65,536; Docker stops at 127 layers).
    pub max_descriptors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 16 << 30,
            max_image_bytes: 64 << 30,
            max_expansion_ratio: Some(200),
            expansion_check_after: 256 << 20,
            max_entries: 2_000_000,
            max_capture_bytes: 512 << 20,
            max_path_len: 4096,
            max_symlink_hops: 40,
            max_metadata_bytes: 16 << 20,
            max_index_depth: 8,
            max_descriptors: 65_536,
        }
    }
}
