//! Bounds on what one image may make custody read, so a hostile image costs a warning and
//! bounded memory, never an exhausted machine.

/// Size and count limits for the catalogers. The defaults fit real images with room to
/// spare; each is per file (or per archive), so memory stays bounded by the largest file
/// parsed, not by the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest metadata file read (status database, METADATA, package.json, lock files,
    /// inflated cargo-auditable data). Larger ones are skipped with a warning.
    pub max_metadata_bytes: u64,
    /// Largest ELF binary read for build information.
    pub max_binary_bytes: u64,
    /// Largest `rpmdb.sqlite` read.
    pub max_rpmdb_bytes: u64,
    /// Largest Java archive read, and largest nested archive inflated.
    pub max_archive_bytes: u64,
    /// Bytes inflated in total from one Java archive and everything nested in it.
    pub max_archive_inflated_bytes: u64,
    /// Entries in one Java archive.
    pub max_archive_entries: usize,
    /// How deep archives nest inside archives.
    pub max_archive_depth: usize,
    /// Records read from one package database.
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_metadata_bytes: 64 << 20,
            max_binary_bytes: 512 << 20,
            max_rpmdb_bytes: 512 << 20,
            max_archive_bytes: 512 << 20,
            max_archive_inflated_bytes: 1 << 30,
            max_archive_entries: 200_000,
            max_archive_depth: 4,
            max_records: 1_000_000,
        }
    }
}
