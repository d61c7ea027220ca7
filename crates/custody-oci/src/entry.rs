//! One layer's tar entries as custody sees them: normalised paths, whiteouts as kinds, and a
//! bounded reader for the content a visitor chooses to look at.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use custody_types::{DiffId, Digest};

use crate::error::LayerError;
use crate::layer::{Segment, SharedContent, SharedSource};

/// What a tar entry is. Whiteouts are decoded from their `.wh.` file names here, so nothing
/// downstream has to know the naming convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file (also GNU sparse and contiguous files).
    File,
    /// A directory.
    Dir,
    /// A symbolic link; `target` exactly as written (relative, or absolute meaning from the
    /// image root). Resolve it with [`crate::ImageView::resolve`].
    Symlink {
        /// The link target, as written.
        target: String,
    },
    /// A hard link to `target`, a normalised path written earlier in this layer or in a lower
    /// layer.
    HardLink {
        /// The normalised path linked to.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A whiteout (`DIR/.wh.NAME`): the entry's path is the hidden path `DIR/NAME`, which this
    /// layer deletes from the layers beneath it.
    Whiteout,
    /// An opaque whiteout (`DIR/.wh..wh..opq`): the entry's path is `DIR`, whose contents from
    /// the layers beneath are hidden.
    OpaqueWhiteout,
}

impl EntryKind {
    /// Short name for messages and listings.
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::HardLink { .. } => "hardlink",
            EntryKind::CharDevice { .. } => "char-device",
            EntryKind::BlockDevice { .. } => "block-device",
            EntryKind::Fifo => "fifo",
            EntryKind::Whiteout => "whiteout",
            EntryKind::OpaqueWhiteout => "opaque-whiteout",
        }
    }
}

/// One tar entry's metadata, with its path normalised.
///
/// Paths are relative to the image root with no leading `/` or `./` (`etc/os-release`; the
/// root itself is `""`). Names that are not UTF-8 are decoded lossily (invalid bytes become
/// U+FFFD) and a [`Warning`] naming the layer and the raw bytes is recorded: catalogers match
/// UTF-8 names, and keeping a second byte-path type through every consumer would cost more
/// than the rare collision it avoids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The normalised path (for whiteouts, the path they hide).
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner user ID.
    pub uid: u64,
    /// Owner group ID.
    pub gid: u64,
    /// Content length in bytes (0 for everything but files).
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: u64,
}

impl Entry {
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    /// Whether any execute bit is set.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// Something a reader noticed that does not make the layer invalid (a mislabelled media type,
/// a non-UTF-8 name, a hard link to nothing), named precisely enough to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The layer concerned, if any.
    pub layer: Option<usize>,
    /// The path concerned, if any.
    pub path: Option<String>,
    /// What was noticed.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.layer {
            write!(f, "layer {l}: ")?;
        }
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Most warnings kept per layer read and per view; a hostile layer could otherwise make
/// millions of them.
pub(crate) const MAX_WARNINGS: usize = 1000;

/// Adds a warning unless the cap is reached; at the cap, one last warning says the rest were
/// dropped.
pub(crate) fn push_warning(warnings: &mut Vec<Warning>, w: Warning) {
    match warnings.len().cmp(&MAX_WARNINGS) {
        std::cmp::Ordering::Less => warnings.push(w),
        std::cmp::Ordering::Equal => warnings.push(Warning {
            layer: w.layer,
            path: None,
            message: format!("more than {MAX_WARNINGS} warnings; further ones are not recorded"),
        }),
        std::cmp::Ordering::Greater => {}
    }
}

/// The content of the entry being visited: a reader over its bytes (empty for anything but
/// a file) that the visitor may peek at, read in full, stream, or ignore.
///
/// Bytes not read are skipped by the layer reader (they are still decompressed and hashed,
/// because the DiffID covers them). What a visitor keeps is bounded by
/// [`crate::Limits::max_capture_bytes`] through [`EntryContent::read_all`].
pub struct EntryContent<'a> {
    inner: &'a mut dyn Read,
    /// The stream beneath, when the content is one run of it that can be taken without
    /// copying ([`EntryContent::read_shared`]).
    shared: Option<&'a dyn SharedSource>,
    /// Set once the content was taken from `shared`: the tar reader's view of this entry is
    /// stale then, and nothing more may be read through it.
    taken: bool,
    path: &'a str,
    size: u64,
    max_capture: u64,
    prefix: Vec<u8>,
    prefix_pos: usize,
    consumed: u64,
    layer: usize,
    warnings: &'a mut Vec<Warning>,
}

impl<'a> EntryContent<'a> {
    /// `prefix` is an empty buffer the reader hands from one entry to the next (see
    /// [`EntryContent::into_prefix`]), so peeking at every file does not allocate each time.
    #[expect(
        clippy::too_many_arguments,
        reason = "one private constructor, called once by the layer reader with what it holds"
    )]
    pub(crate) fn new(
        inner: &'a mut dyn Read,
        shared: Option<&'a dyn SharedSource>,
        path: &'a str,
        size: u64,
        max_capture: u64,
        layer: usize,
        warnings: &'a mut Vec<Warning>,
        prefix: Vec<u8>,
    ) -> Self {
        debug_assert!(prefix.is_empty());
        EntryContent {
            inner,
            shared,
            taken: false,
            path,
            size,
            max_capture,
            prefix,
            prefix_pos: 0,
            consumed: 0,
            layer,
            warnings,
        }
    }

    /// The content's length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Up to `n` bytes from the start of the content without consuming them (fewer at the
    /// end of the content, and never more than [`crate::Limits::max_capture_bytes`]), e.g. to check for ELF or ZIP magic before deciding to
    /// capture. Must be called before any [`Read::read`].
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.consumed > 0 {
            return Err(io::Error::other("peek called after read"));
        }
        // Never buffer more than the file has or than a capture may hold.
        let cap = self.size.min(self.max_capture);
        let want = n.min(usize::try_from(cap).unwrap_or(usize::MAX));
        while self.prefix.len() < want {
            let have = self.prefix.len();
            self.prefix.resize(want, 0);
            let got = self.inner.read(&mut self.prefix[have..])?;
            self.prefix.truncate(have + got);
            if got == 0 {
                break;
            }
        }
        Ok(&self.prefix[..want.min(self.prefix.len())])
    }

    /// The whole content in memory, refused (a [`LayerError::Limit`] naming the path) when it
    /// is larger than [`crate::Limits::max_capture_bytes`].
    pub fn read_all(&mut self) -> Result<Vec<u8>, LayerError> {
        if self.size > self.max_capture {
            return Err(LayerError::Limit {
                what: format!("file {:?} ({} bytes)", self.path, self.size),
                limit: "max_capture_bytes",
                max: self.max_capture,
            });
        }
        let mut out = Vec::with_capacity(self.size as usize);
        self.read_to_end(&mut out).map_err(LayerError::Tar)?;
        Ok(out)
    }

    /// [`EntryContent::read_all`] into a buffer the caller keeps from one entry to the next,
    /// returning the content (`buf[..size]`). A visitor that parses many files and keeps
    /// only what it parsed out of them saves an allocation, and the zeroing and page faults
    /// of fresh memory, per file. The buffer grows to the largest file read and keeps its
    /// length; the same [`crate::Limits::max_capture_bytes`] bound applies.
    pub fn read_all_into<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<&'b [u8], LayerError> {
        let too_large = || LayerError::Limit {
            what: format!("file {:?} ({} bytes)", self.path, self.size),
            limit: "max_capture_bytes",
            max: self.max_capture,
        };
        if self.size > self.max_capture {
            return Err(too_large());
        }
        let size = usize::try_from(self.size).map_err(|_| too_large())?;
        if buf.len() < size {
            buf.resize(size, 0);
        }
        self.read_exact(&mut buf[..size]).map_err(LayerError::Tar)?;
        Ok(&buf[..size])
    }

    /// The whole content without copying it where the layer stream allows (a plain file of
    /// a layer being read): the decoded chunks it is in, held until the result is dropped.
    /// For a parser that reads a few places of a large file, an ELF binary's headers and one
    /// or two sections, this saves copying all of it. Otherwise (a sparse file, a reader
    /// without a stream beneath, content already partly read) what is left is read into
    /// memory. The same [`crate::Limits::max_capture_bytes`] bound applies; a peek before it
    /// is fine, a second call is an error.
    pub fn read_shared(&mut self) -> Result<SharedContent, LayerError> {
        if self.size > self.max_capture {
            return Err(LayerError::Limit {
                what: format!("file {:?} ({} bytes)", self.path, self.size),
                limit: "max_capture_bytes",
                max: self.max_capture,
            });
        }
        if self.taken {
            return Err(LayerError::Tar(io::Error::other(format!(
                "the content of {:?} was already taken",
                self.path
            ))));
        }
        let peeked = self.prefix.len() as u64;
        let Some(shared) = self.shared.filter(|_| self.consumed == 0) else {
            return Ok(SharedContent::new(vec![Segment::Owned(self.read_all()?)]));
        };
        let rest = self
            .size
            .checked_sub(peeked)
            .ok_or_else(|| LayerError::Tar(io::Error::other("peeked past the end of the file")))?;
        let mut segments = Vec::new();
        self.taken = true;
        let included = shared
            .take_shared(rest, peeked, &mut segments)
            .map_err(LayerError::Tar)?;
        if peeked > 0 && !included {
            segments.insert(0, Segment::Owned(self.prefix.clone()));
        }
        self.prefix_pos = self.prefix.len();
        self.consumed = self.size;
        Ok(SharedContent::new(segments))
    }

    /// The peek buffer, emptied, for the next entry's content.
    pub(crate) fn into_prefix(self) -> Vec<u8> {
        let mut prefix = self.prefix;
        if prefix.capacity() > 64 << 10 {
            return Vec::new(); // a large peek is not kept for every later entry
        }
        prefix.clear();
        prefix
    }

    /// Records a warning about this entry in the layer's result (for one bad record that
    /// should not fail the layer).
    pub fn warn(&mut self, message: impl Into<String>) {
        push_warning(
            self.warnings,
            Warning {
                layer: Some(self.layer),
                path: Some(self.path.to_owned()),
                message: message.into(),
            },
        );
    }
}

impl Read for EntryContent<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.taken {
            return Ok(0); // all of it went to read_shared
        }
        if self.prefix_pos < self.prefix.len() {
            let n = (self.prefix.len() - self.prefix_pos).min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[self.prefix_pos..self.prefix_pos + n]);
            self.prefix_pos += n;
            self.consumed += n as u64;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

/// The error type visitors return; a [`LayerError`] (e.g. from
/// [`EntryContent::read_all`]) passes through unchanged.
pub type VisitError = Box<dyn std::error::Error + Send + Sync>;

/// Decides, entry by entry, what to keep from a layer.
///
/// Called once per entry in tar order with the entry's metadata and content. Returning
/// `Some(payload)` attaches the payload to the entry (and later to its path in an
/// [`crate::ImageView`]); `None` keeps only the metadata. A visitor runs on one layer in one
/// thread; use a fresh visitor per layer to read layers in parallel. Closures
/// `FnMut(&Entry, &mut EntryContent) -> Result<Option<T>, VisitError>` are visitors.
pub trait LayerVisitor {
    /// What the visitor keeps for an entry (its bytes, a parsed record, ...).
    type Payload;

    /// Looks at one entry.
    fn visit(
        &mut self,
        entry: &Entry,
        content: &mut EntryContent<'_>,
    ) -> Result<Option<Self::Payload>, VisitError>;
}

impl<T, F> LayerVisitor for F
where
    F: FnMut(&Entry, &mut EntryContent<'_>) -> Result<Option<T>, VisitError>,
{
    type Payload = T;

    fn visit(
        &mut self,
        entry: &Entry,
        content: &mut EntryContent<'_>,
    ) -> Result<Option<T>, VisitError> {
        self(entry, content)
    }
}

/// A visitor that keeps nothing (metadata only).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetadataOnly;

impl LayerVisitor for MetadataOnly {
    type Payload = ();

    fn visit(&mut self, _: &Entry, _: &mut EntryContent<'_>) -> Result<Option<()>, VisitError> {
        Ok(None)
    }
}

/// One entry of a layer with what the visitor kept for it.
#[derive(Debug, Clone)]
pub struct LayerEntry<T> {
    /// The entry's metadata.
    pub entry: Entry,
    /// The visitor's payload, if it kept one. Shared (an [`Arc`]) because the image view
    /// keeps it as it is, and allocated in the layer's own task: an entry stays a few words
    /// long however large the payload type, so the entry list of a 30,000-file layer grows
    /// without copying parsed records around.
    pub payload: Option<Arc<T>>,
}

/// A fully read and verified layer: its entries in tar order with the visitor's payloads.
///
/// Only [`crate::Image::read_layer`] makes one, and only after the layer's size, blob digest
/// and DiffID all checked out, so holding one is proof the content is the layer the manifest
/// and config name.
#[derive(Debug)]
pub struct LayerContents<T> {
    pub(crate) index: usize,
    pub(crate) digest: Digest,
    pub(crate) diff_id: DiffId,
    pub(crate) uncompressed_size: u64,
    pub(crate) entries: Vec<LayerEntry<T>>,
    pub(crate) warnings: Vec<Warning>,
}

impl<T> LayerContents<T> {
    /// The layer's position in the manifest, bottom first, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The layer's compressed (blob) digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The layer's DiffID (verified).
    pub fn diff_id(&self) -> &DiffId {
        &self.diff_id
    }

    /// Length of the uncompressed tar stream.
    pub fn uncompressed_size(&self) -> u64 {
        self.uncompressed_size
    }

    /// The entries in tar order.
    pub fn entries(&self) -> &[LayerEntry<T>] {
        &self.entries
    }

    /// The entries, mutably (e.g. to take payloads out before applying the layer to a view).
    pub fn entries_mut(&mut self) -> &mut [LayerEntry<T>] {
        &mut self.entries
    }

    /// What the reader noticed without failing the layer.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}
