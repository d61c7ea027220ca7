//! Layer blobs: what the manifest says about them, and the streaming reader that decodes,
//! hashes, bounds and parses one in a single pass.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use custody_types::{ChainId, DiffId, Digest, Sha256Hasher, media_types};
use oci_spec::image::MediaType;

use crate::entry::{
    Entry, EntryContent, EntryKind, LayerContents, LayerEntry, LayerVisitor, Warning, push_warning,
};
use crate::error::LayerError;
use crate::limits::Limits;
use crate::path;
use crate::store::BlobLocation;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar (`docker save` layers, `application/vnd.oci.image.layer.v1.tar`).
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// Zstandard, possibly several frames.
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// The compression a blob's first bytes show: gzip and zstd by their magic numbers, anything
/// else a plain tar. `None` when there are no bytes at all.
pub(crate) fn sniff(magic: &[u8]) -> Option<Compression> {
    if magic.is_empty() {
        None
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else {
        Some(Compression::None)
    }
}

/// The compression a layer media type declares (OCI and Docker), or an error for media types
/// that are not tar layers (encrypted layers, artifacts).
pub(crate) fn declared_compression(media_type: &str) -> Result<Compression, LayerError> {
    Ok(match MediaType::from(media_type) {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Compression::None,
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => Compression::Gzip,
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => Compression::Zstd,
        _ => match media_type {
            media_types::DOCKER_LAYER_TAR => Compression::None,
            media_types::DOCKER_LAYER_GZIP
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            media_types::DOCKER_LAYER_ZSTD => Compression::Zstd,
            other => return Err(LayerError::UnsupportedMediaType(other.to_owned())),
        },
    })
}

/// One layer of an image, as its manifest descriptor and the config describe it.
#[derive(Debug, Clone)]
pub struct Layer {
    pub(crate) index: usize,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) media_type: String,
    pub(crate) compression: Compression,
    pub(crate) diff_id: DiffId,
    pub(crate) chain_id: ChainId,
    pub(crate) location: BlobLocation,
}

impl Layer {
    /// Position in the manifest, bottom first, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The compressed (blob) digest from the manifest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob size from the manifest.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The media type from the manifest.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The compression the media type declares. The reader trusts the blob's magic bytes
    /// over this and records a warning when they disagree.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The DiffID from the config's `rootfs.diff_ids`.
    pub fn diff_id(&self) -> &DiffId {
        &self.diff_id
    }

    /// The ChainID of this layer's position in the stack.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
}

/// What streaming a layer found, whether or not its entries were kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerReport {
    /// Position in the manifest.
    pub index: usize,
    /// Verified blob digest.
    pub digest: Digest,
    /// Verified DiffID.
    pub diff_id: DiffId,
    /// Blob length.
    pub compressed_size: u64,
    /// Uncompressed tar length.
    pub uncompressed_size: u64,
    /// The compression found in the blob (by magic bytes).
    pub compression: Compression,
}

/// Counts compressed bytes of each layer as they are read: called with the layer index and
/// the number of bytes just read. For progress bars; called from reader threads.
pub type ProgressFn = std::sync::Arc<dyn Fn(usize, u64) + Send + Sync>;

/// Hashes, counts and sizes of one stream, shared by the reader stack of one layer.
struct State {
    compressed: Sha256Hasher,
    uncompressed: Sha256Hasher,
    uncompressed_len: u64,
    failure: Option<LayerError>,
}

type Shared = Rc<RefCell<State>>;

fn set_failure(state: &Shared, e: LayerError) {
    let mut s = state.borrow_mut();
    if s.failure.is_none() {
        s.failure = Some(e);
    }
}

/// The blob as read from disk: hashes and counts the compressed bytes and refuses to read
/// past the descriptor's size.
struct CompressedTap<'a> {
    inner: Box<dyn Read + 'a>,
    state: Shared,
    expected: u64,
    progress: Option<&'a ProgressFn>,
    layer: usize,
}

impl Read for CompressedTap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let msg = e.to_string();
                set_failure(&self.state, LayerError::Io(e));
                return Err(io::Error::other(msg));
            }
        };
        let mut s = self.state.borrow_mut();
        s.compressed.update(&buf[..n]);
        let len = s.compressed.len();
        drop(s);
        if len > self.expected {
            set_failure(
                &self.state,
                LayerError::SizeMismatch {
                    expected: self.expected,
                    actual: len,
                },
            );
            return Err(io::Error::other("blob longer than its descriptor says"));
        }
        if let Some(p) = self.progress
            && n > 0
        {
            p(self.layer, n as u64);
        }
        Ok(n)
    }
}

enum Decoder<'a> {
    Plain(BufReader<CompressedTap<'a>>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<BufReader<CompressedTap<'a>>>>),
    Zstd(zstd::stream::read::Decoder<'static, BufReader<CompressedTap<'a>>>),
}

impl<'a> Decoder<'a> {
    fn into_inner(self) -> BufReader<CompressedTap<'a>> {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// The decoded tar stream: hashes it for the DiffID and enforces the size limits, so a
/// decompression bomb stops at the limit instead of filling memory or running for hours.
struct DecodedTap<'a> {
    inner: Decoder<'a>,
    state: Shared,
    compression: Compression,
    limits: &'a Limits,
    layer: usize,
    seen: &'a [AtomicU64],
}

impl DecodedTap<'_> {
    fn check_limits(&self, len: u64) -> Result<(), LayerError> {
        let limit =
            |limit: &'static str, max: u64, what: String| LayerError::Limit { what, limit, max };
        if len > self.limits.max_layer_bytes {
            return Err(limit(
                "max_layer_bytes",
                self.limits.max_layer_bytes,
                "uncompressed stream".to_owned(),
            ));
        }
        if let Some(ratio) = self.limits.max_expansion_ratio
            && len > self.limits.expansion_check_after
        {
            let compressed = self.state.borrow().compressed.len().max(1);
            if len / compressed > ratio {
                return Err(limit(
                    "max_expansion_ratio",
                    ratio,
                    format!("expansion ({len} bytes from {compressed} compressed)"),
                ));
            }
        }
        if let Some(slot) = self.seen.get(self.layer) {
            slot.fetch_max(len, Ordering::Relaxed);
            let total: u64 = self.seen.iter().map(|s| s.load(Ordering::Relaxed)).sum();
            if total > self.limits.max_image_bytes {
                return Err(limit(
                    "max_image_bytes",
                    self.limits.max_image_bytes,
                    format!("image's uncompressed layers ({total} bytes so far)"),
                ));
            }
        }
        Ok(())
    }
}

impl Read for DecodedTap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                // A failure below (short read, oversized blob) surfaces here as a decoder
                // error; the first recorded failure is the one reported.
                let msg = e.to_string();
                set_failure(
                    &self.state,
                    LayerError::Decompress {
                        compression: self.compression,
                        source: e,
                    },
                );
                return Err(io::Error::other(msg));
            }
        };
        let len = {
            let mut s = self.state.borrow_mut();
            if self.compression != Compression::None {
                s.uncompressed.update(&buf[..n]);
            }
            s.uncompressed_len += n as u64;
            s.uncompressed_len
        };
        if let Err(e) = self.check_limits(len) {
            let msg = e.to_string();
            set_failure(&self.state, e);
            return Err(io::Error::other(msg));
        }
        Ok(n)
    }
}

/// Everything one layer read needs: the descriptor to check against (absent for a bare blob
/// read with [`read_layer_blob`]) and the image's limits and counters.
pub(crate) struct ReadContext<'a> {
    pub(crate) index: usize,
    pub(crate) layer: Option<&'a Layer>,
    pub(crate) limits: &'a Limits,
    pub(crate) progress: Option<&'a ProgressFn>,
    pub(crate) seen: &'a [AtomicU64],
}

const BUF: usize = 256 << 10;

/// Builds the reader stack for one layer and returns it with the compression found and any
/// mislabelling warning.
fn open_stream<'a>(
    ctx: &ReadContext<'a>,
    source: Option<Box<dyn Read + 'a>>,
    state: &Shared,
    warnings: &mut Vec<Warning>,
) -> Result<(BufReader<DecodedTap<'a>>, Compression), LayerError> {
    let (source, expected): (Box<dyn Read + 'a>, u64) = match (ctx.layer, source) {
        (_, Some(source)) => (source, u64::MAX),
        (Some(layer), None) => {
            if layer.location.len != layer.size {
                return Err(LayerError::SizeMismatch {
                    expected: layer.size,
                    actual: layer.location.len,
                });
            }
            // Limited to the blob's stored length, just checked against the descriptor (an
            // overlong blob fails that check; one that shrinks meanwhile fails the last one).
            let file = layer.location.open().map_err(|e| match e {
                crate::OciError::Io { source, .. } => LayerError::Io(source),
                other => LayerError::Io(io::Error::other(other.to_string())),
            })?;
            (Box::new(file), layer.size)
        }
        (None, None) => return Err(LayerError::Io(io::Error::other("no layer source"))),
    };
    let tap = CompressedTap {
        inner: source,
        state: state.clone(),
        expected,
        progress: ctx.progress,
        layer: ctx.index,
    };
    let mut buffered = BufReader::with_capacity(BUF, tap);
    let magic = buffered.fill_buf().map_err(|e| {
        state
            .borrow_mut()
            .failure
            .take()
            .unwrap_or(LayerError::Io(e))
    })?;
    let found = sniff(magic).unwrap_or(Compression::None);
    if let Some(layer) = ctx.layer.filter(|l| l.compression != found) {
        push_warning(
            warnings,
            Warning {
                layer: Some(layer.index),
                path: None,
                message: format!(
                    "media type {} declares {} but the blob is {found}; decoding it as {found}",
                    layer.media_type, layer.compression
                ),
            },
        );
    }
    let decoder = match found {
        Compression::None => Decoder::Plain(buffered),
        Compression::Gzip => {
            Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
        }
        Compression::Zstd => Decoder::Zstd(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| {
                LayerError::Decompress {
                    compression: found,
                    source: e,
                }
            })?,
        ),
    };
    let decoded = DecodedTap {
        inner: decoder,
        state: state.clone(),
        compression: found,
        limits: ctx.limits,
        layer: ctx.index,
        seen: ctx.seen,
    };
    Ok((BufReader::with_capacity(BUF, decoded), found))
}

/// Reads the rest of both streams (tar padding, trailing frames) so the digests cover every
/// byte, then checks size, digest and DiffID.
fn finish(
    ctx: &ReadContext<'_>,
    state: &Shared,
    decoded: BufReader<DecodedTap<'_>>,
    compression: Compression,
) -> Result<LayerReport, LayerError> {
    let fail = |e: io::Error, state: &Shared| {
        state
            .borrow_mut()
            .failure
            .take()
            .unwrap_or(LayerError::Tar(e))
    };
    let mut decoded = decoded;
    io::copy(&mut decoded, &mut io::sink()).map_err(|e| fail(e, state))?;
    let mut compressed = decoded.into_inner().inner.into_inner();
    io::copy(&mut compressed, &mut io::sink()).map_err(|e| fail(e, state))?;
    drop(compressed);
    let s = Rc::try_unwrap(state.clone()).ok().map(RefCell::into_inner);
    // Another clone may still be alive only through a bug; fall back to a snapshot.
    let s = match s {
        Some(s) => s,
        None => {
            let b = state.borrow();
            State {
                compressed: b.compressed.clone(),
                uncompressed: b.uncompressed.clone(),
                uncompressed_len: b.uncompressed_len,
                failure: None,
            }
        }
    };
    if let Some(f) = s.failure {
        return Err(f);
    }
    let compressed_len = s.compressed.len();
    let digest = s.compressed.finish();
    let diff = if compression == Compression::None {
        digest.clone()
    } else {
        s.uncompressed.finish()
    };
    if let Some(layer) = ctx.layer {
        if compressed_len != layer.size {
            return Err(LayerError::SizeMismatch {
                expected: layer.size,
                actual: compressed_len,
            });
        }
        if digest != layer.digest {
            return Err(LayerError::DigestMismatch {
                expected: layer.digest.clone(),
                actual: digest,
            });
        }
        if diff != layer.diff_id.0 {
            return Err(LayerError::DiffIdMismatch {
                expected: layer.diff_id.0.clone(),
                actual: diff,
            });
        }
    }
    Ok(LayerReport {
        index: ctx.index,
        digest,
        diff_id: DiffId(diff),
        compressed_size: compressed_len,
        uncompressed_size: s.uncompressed_len,
        compression,
    })
}

fn new_state() -> Shared {
    Rc::new(RefCell::new(State {
        compressed: Sha256Hasher::new(),
        uncompressed: Sha256Hasher::new(),
        uncompressed_len: 0,
        failure: None,
    }))
}

/// Streams a layer through decompression and hashing only (no tar parsing): the deploy
/// gate's check that the blob is the one the manifest and config name.
pub(crate) fn verify(ctx: &ReadContext<'_>) -> Result<LayerReport, LayerError> {
    let state = new_state();
    let mut warnings = Vec::new();
    let (decoded, compression) = open_stream(ctx, None, &state, &mut warnings)?;
    finish(ctx, &state, decoded, compression)
}

/// Streams a layer, parses its tar entries and hands each to the visitor.
pub(crate) fn read<'a, V: LayerVisitor>(
    ctx: &ReadContext<'a>,
    source: Option<Box<dyn Read + 'a>>,
    visitor: &mut V,
) -> Result<(LayerContents<V::Payload>, LayerReport), LayerError> {
    let state = new_state();
    let mut warnings = Vec::new();
    let (decoded, compression) = open_stream(ctx, source, &state, &mut warnings)?;
    let stream_err = |e: io::Error, state: &Shared| {
        state
            .borrow_mut()
            .failure
            .take()
            .unwrap_or(LayerError::Tar(e))
    };
    let mut archive = tar::Archive::new(decoded);
    let mut entries_out: Vec<LayerEntry<V::Payload>> = Vec::new();
    {
        let entries = archive.entries().map_err(|e| stream_err(e, &state))?;
        for (n, entry) in entries.enumerate() {
            if n as u64 >= ctx.limits.max_entries {
                return Err(LayerError::Limit {
                    what: "tar entries".to_owned(),
                    limit: "max_entries",
                    max: ctx.limits.max_entries,
                });
            }
            let mut entry = entry.map_err(|e| stream_err(e, &state))?;
            let overrides = pax_overrides(&mut entry).map_err(|e| stream_err(e, &state))?;
            let Some(mut meta) = convert_entry(&entry, ctx, &mut warnings)? else {
                continue;
            };
            overrides.apply(&mut meta);
            let payload = {
                let size = if meta.kind == EntryKind::File {
                    meta.size
                } else {
                    0
                };
                let mut content = EntryContent::new(
                    &mut entry,
                    &meta.path,
                    size,
                    ctx.limits.max_capture_bytes,
                    ctx.index,
                    &mut warnings,
                );
                match visitor.visit(&meta, &mut content) {
                    Ok(p) => p,
                    Err(e) => {
                        // A stream failure under the visitor's reads is the real cause.
                        if let Some(f) = state.borrow_mut().failure.take() {
                            return Err(f);
                        }
                        return Err(match e.downcast::<LayerError>() {
                            Ok(layer_error) => *layer_error,
                            Err(other) => LayerError::Visitor {
                                path: meta.path.clone(),
                                source: other,
                            },
                        });
                    }
                }
            };
            entries_out.push(LayerEntry {
                entry: meta,
                payload,
            });
        }
    }
    let report = finish(ctx, &state, archive.into_inner(), compression)?;
    Ok((
        LayerContents {
            index: ctx.index,
            digest: report.digest.clone(),
            diff_id: report.diff_id.clone(),
            uncompressed_size: report.uncompressed_size,
            entries: entries_out,
            warnings,
        },
        report,
    ))
}

/// Numeric fields a PAX extended header may carry instead of the ustar header (IDs above
/// 2,097,151, sub-second or far-future times); the tar crate applies PAX paths and sizes
/// itself but not these.
#[derive(Default)]
struct PaxOverrides {
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<u64>,
}

impl PaxOverrides {
    fn apply(self, e: &mut Entry) {
        if let Some(v) = self.uid {
            e.uid = v;
        }
        if let Some(v) = self.gid {
            e.gid = v;
        }
        if let Some(v) = self.mtime {
            e.mtime = v;
        }
    }
}

fn pax_overrides<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<PaxOverrides> {
    let mut out = PaxOverrides::default();
    let Some(exts) = entry.pax_extensions()? else {
        return Ok(out);
    };
    for ext in exts {
        let ext = ext?;
        let value = || ext.value().ok().map(str::trim);
        match ext.key_bytes() {
            b"uid" => out.uid = value().and_then(|v| v.parse().ok()),
            b"gid" => out.gid = value().and_then(|v| v.parse().ok()),
            // Seconds, possibly with a fraction; negative times clamp to 0.
            b"mtime" => {
                out.mtime = value()
                    .and_then(|v| v.split('.').next())
                    .and_then(|v| v.parse::<i64>().ok())
                    .map(|v| v.max(0) as u64);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A tar header as an [`Entry`]: path normalised and bounded, whiteouts decoded. `None` for
/// entries that carry no file (PAX global headers, aufs metadata), with a warning where the
/// entry is unexpected.
fn convert_entry<R: Read>(
    entry: &tar::Entry<'_, R>,
    ctx: &ReadContext<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Option<Entry>, LayerError> {
    let layer = ctx.index;
    let header = entry.header();
    let raw = entry.path_bytes();
    if raw.len() > ctx.limits.max_path_len {
        return Err(LayerError::Limit {
            what: format!("entry path ({} bytes)", raw.len()),
            limit: "max_path_len",
            max: ctx.limits.max_path_len as u64,
        });
    }
    let name = decode_name(&raw, layer, warnings);
    let normalized = path::normalize(&name).map_err(|_| LayerError::PathEscapes {
        path: name.clone().into_owned(),
    })?;
    let mode = header.mode().map_err(LayerError::Tar)? & 0o7777;
    let uid = header.uid().map_err(LayerError::Tar)?;
    let gid = header.gid().map_err(LayerError::Tar)?;
    let mtime = header.mtime().map_err(LayerError::Tar)?;
    let base = path::file_name(&normalized);
    let dir = path::parent(&normalized);
    let (path, kind) = if let Some(hidden) = base.strip_prefix(".wh.") {
        if hidden == ".wh..opq" {
            (dir.to_owned(), EntryKind::OpaqueWhiteout)
        } else if hidden.starts_with(".wh.") || hidden.is_empty() {
            push_warning(
                warnings,
                Warning {
                    layer: Some(layer),
                    path: Some(normalized.clone()),
                    message: "ignoring aufs metadata entry".to_owned(),
                },
            );
            return Ok(None);
        } else {
            (path::join(dir, hidden), EntryKind::Whiteout)
        }
    } else {
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                EntryKind::File
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => {
                let target = link_target(entry, ctx, &normalized, warnings)?;
                EntryKind::Symlink { target }
            }
            tar::EntryType::Link => {
                let target = link_target(entry, ctx, &normalized, warnings)?;
                let target = path::normalize(&target).map_err(|_| LayerError::PathEscapes {
                    path: target.clone(),
                })?;
                EntryKind::HardLink { target }
            }
            tar::EntryType::Char => EntryKind::CharDevice {
                major: header.device_major().map_err(LayerError::Tar)?.unwrap_or(0),
                minor: header.device_minor().map_err(LayerError::Tar)?.unwrap_or(0),
            },
            tar::EntryType::Block => EntryKind::BlockDevice {
                major: header.device_major().map_err(LayerError::Tar)?.unwrap_or(0),
                minor: header.device_minor().map_err(LayerError::Tar)?.unwrap_or(0),
            },
            tar::EntryType::Fifo => EntryKind::Fifo,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => return Ok(None),
            other => {
                push_warning(
                    warnings,
                    Warning {
                        layer: Some(layer),
                        path: Some(normalized.clone()),
                        message: format!("skipping tar entry of unsupported type {other:?}"),
                    },
                );
                return Ok(None);
            }
        };
        (normalized, kind)
    };
    let size = if kind == EntryKind::File {
        entry.size()
    } else {
        0
    };
    Ok(Some(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        size,
        mtime,
    }))
}

/// A link entry's target, bounded by the path length limit.
fn link_target<R: Read>(
    entry: &tar::Entry<'_, R>,
    ctx: &ReadContext<'_>,
    normalized: &str,
    warnings: &mut Vec<Warning>,
) -> Result<String, LayerError> {
    let raw = entry.link_name_bytes().unwrap_or_default();
    if raw.len() > ctx.limits.max_path_len {
        return Err(LayerError::Limit {
            what: format!("link target of {normalized:?} ({} bytes)", raw.len()),
            limit: "max_path_len",
            max: ctx.limits.max_path_len as u64,
        });
    }
    Ok(decode_name(&raw, ctx.index, warnings).into_owned())
}

/// Decodes a tar name as UTF-8, lossily with a warning when it is not.
fn decode_name<'r>(raw: &'r [u8], layer: usize, warnings: &mut Vec<Warning>) -> Cow<'r, str> {
    let name = String::from_utf8_lossy(raw);
    if let Cow::Owned(lossy) = &name {
        push_warning(
            warnings,
            Warning {
                layer: Some(layer),
                path: Some(lossy.clone()),
                message: format!(
                    "name is not UTF-8 (raw bytes {}); invalid bytes replaced by U+FFFD",
                    raw.escape_ascii()
                ),
            },
        );
    }
    name
}

/// Reads one layer blob (gzip, zstd or plain tar, by magic bytes) from any reader, with no
/// descriptor to check against: the blob digest and DiffID are computed and returned in the
/// report for the caller to compare. For layers outside an image (a single `layer.tar`, a
/// fuzzer's input); layers of an [`crate::Image`] go through [`crate::Image::read_layer`],
/// which checks them.
pub fn read_layer_blob<R: Read, V: LayerVisitor>(
    blob: R,
    limits: &Limits,
    visitor: &mut V,
) -> Result<(LayerContents<V::Payload>, LayerReport), LayerError> {
    let seen = [AtomicU64::new(0)];
    let ctx = ReadContext {
        index: 0,
        layer: None,
        limits,
        progress: None,
        seen: &seen,
    };
    read(&ctx, Some(Box::new(blob)), visitor)
}
