//! Layer blobs: what the manifest says about them, and the streaming reader that decodes,
//! hashes, bounds and parses one in a single pass.
//!
//! The pass is split in two halves that can run on two threads: the decoding side reads the
//! blob, hashes it (the blob digest), decompresses it and enforces the size limits; the
//! parsing side hashes the decoded bytes (the DiffID), walks the tar and hands entries to the
//! visitor. They exchange large chunks of decoded bytes over a bounded channel, so memory per
//! layer is a few chunks whatever the layer's size. An image's largest layer, which sets how
//! long reading the image takes, then keeps two cores busy instead of one (three threads when
//! it is a plain tar: reading, hashing and parsing); small layers and bare blobs run both
//! halves on one thread. Entry data nobody reads is skipped by moving through the chunks,
//! never copied out.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

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

/// Size of the buffers decoded tar bytes travel in. Large, so that hashing, decoding and
/// tar parsing each work on long runs of bytes and per-call overhead vanishes.
const CHUNK: usize = 512 << 10;
/// Chunks in flight between a layer's decoding thread and its parsing thread (and between
/// the reading and the hashing thread of a layer read by three).
const DEPTH: usize = 2;
/// Buffer between the blob file and the decompressor.
const BUF: usize = 256 << 10;
/// Blobs at least this large are decoded on a thread of their own while the caller's thread
/// parses the tar; below it a second thread costs more than it saves.
const PIPELINE_MIN: u64 = 1 << 20;

/// The blob as read from disk: hashes and counts the compressed bytes and refuses to read
/// past the descriptor's size. The first failure is kept here so it can be reported as
/// itself rather than as the decoder's symptom of it.
struct CompressedTap<'a, R> {
    inner: R,
    /// `None` when a hashing thread of its own hashes the blob ([`hash_stage`]).
    hasher: Option<Sha256Hasher>,
    len: u64,
    expected: u64,
    progress: Option<&'a ProgressFn>,
    layer: usize,
    failure: Option<LayerError>,
}

impl<R: Read> Read for CompressedTap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let msg = e.to_string();
                self.failure.get_or_insert(LayerError::Io(e));
                return Err(io::Error::other(msg));
            }
        };
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        let len = self.len;
        if len > self.expected {
            self.failure.get_or_insert(LayerError::SizeMismatch {
                expected: self.expected,
                actual: len,
            });
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

type Tapped<'a, R> = BufReader<CompressedTap<'a, R>>;

enum Decoder<'a, R: Read> {
    Plain(Box<Tapped<'a, R>>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<Tapped<'a, R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, Tapped<'a, R>>>),
}

impl<'a, R: Read> Decoder<'a, R> {
    fn tap(&self) -> &CompressedTap<'a, R> {
        match self {
            Decoder::Plain(r) => r.get_ref(),
            Decoder::Gzip(d) => d.get_ref().get_ref(),
            Decoder::Zstd(d) => d.get_ref().get_ref(),
        }
    }

    fn tap_mut(&mut self) -> &mut CompressedTap<'a, R> {
        match self {
            Decoder::Plain(r) => r.get_mut(),
            Decoder::Gzip(d) => d.get_mut().get_mut(),
            Decoder::Zstd(d) => d.get_mut().get_mut(),
        }
    }

    fn into_inner(self) -> Tapped<'a, R> {
        match self {
            Decoder::Plain(r) => *r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

impl<R: Read> Read for Decoder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// Chunk buffers kept for reuse once a layer is done with them: enough for the chunks in
/// flight of two layers at once (one per core), so every layer after the first few reuses
/// memory whose pages are already mapped instead of faulting in fresh zeroed pages.
const POOL_KEEP: usize = 2 * (DEPTH + 2) + RETAINED_KEEP;
/// Chunks kept beyond those in flight: a binary taken whole ([`SharedContent`]) holds its
/// chunks while it is parsed, and the decoding side meanwhile needs as many fresh ones; up to
/// 8 MiB of them are reused rather than mapped and faulted in again for the next binary.
const RETAINED_KEEP: usize = (8 << 20) / CHUNK;

/// Spare chunk buffers, shared by every layer read in the process.
static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of decoded bytes. The vector stays at full length (zeroed once, when first
/// allocated) and `len` says how much of it holds data, so a reused chunk is never cleared
/// again. Dropped chunks go back to [`POOL`] (up to [`POOL_KEEP`] of them).
pub(crate) struct Chunk {
    data: Vec<u8>,
    len: usize,
}

impl Chunk {
    fn new() -> Chunk {
        let spare = POOL.lock().ok().and_then(|mut pool| pool.pop());
        Chunk {
            data: spare.unwrap_or_else(|| vec![0; CHUNK]),
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if self.data.len() != CHUNK {
            return;
        }
        if let Ok(mut pool) = POOL.lock()
            && pool.len() < POOL_KEEP
        {
            pool.push(std::mem::take(&mut self.data));
        }
    }
}

/// What the decoding side knows once the blob is read to its end.
struct Produced {
    /// `None` until the hashing thread fills it in, when the blob has one.
    digest: Option<Digest>,
    compressed_len: u64,
    uncompressed_len: u64,
}

/// The decoding side of one layer: reads the blob (hashing and counting it), decompresses
/// it and enforces the size limits on the decoded bytes, so a decompression bomb stops at
/// the limit instead of filling memory or running for hours.
struct Producer<'a, R: Read> {
    decoder: Decoder<'a, R>,
    compression: Compression,
    len: u64,
    limits: &'a Limits,
    layer: usize,
    seen: &'a [AtomicU64],
}

impl<'a, R: Read> Producer<'a, R> {
    /// Opens the decoder the blob's magic bytes call for, warning when the media type
    /// declared another compression.
    fn open(
        ctx: &ReadContext<'a>,
        source: R,
        expected: u64,
        warnings: &mut Vec<Warning>,
    ) -> Result<Producer<'a, R>, LayerError> {
        let tap = CompressedTap {
            inner: source,
            hasher: Some(Sha256Hasher::new()),
            len: 0,
            expected,
            progress: ctx.progress,
            layer: ctx.index,
            failure: None,
        };
        let mut buffered = BufReader::with_capacity(BUF, tap);
        let found = match buffered.fill_buf() {
            Ok(magic) => sniff(magic).unwrap_or(Compression::None),
            Err(e) => {
                return Err(buffered
                    .get_mut()
                    .failure
                    .take()
                    .unwrap_or(LayerError::Io(e)));
            }
        };
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
            Compression::None => Decoder::Plain(Box::new(buffered)),
            Compression::Gzip => {
                Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
            }
            Compression::Zstd => Decoder::Zstd(Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| {
                    LayerError::Decompress {
                        compression: found,
                        source: e,
                    }
                })?,
            )),
        };
        Ok(Producer {
            decoder,
            compression: found,
            len: 0,
            limits: ctx.limits,
            layer: ctx.index,
            seen: ctx.seen,
        })
    }

    /// Fills `chunk` with the next decoded bytes; `len == 0` at the end of the stream.
    fn fill(&mut self, chunk: &mut Chunk) -> Result<(), LayerError> {
        chunk.len = 0;
        while chunk.len < chunk.data.len() {
            let n = match self.decoder.read(&mut chunk.data[chunk.len..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // A failure below (short read, oversized blob) surfaces here as a decoder
                    // error; the first recorded failure is the one reported.
                    let compression = self.compression;
                    return Err(self.decoder.tap_mut().failure.take().unwrap_or(
                        LayerError::Decompress {
                            compression,
                            source: e,
                        },
                    ));
                }
            };
            chunk.len += n;
            self.len += n as u64;
            self.check_limits()?;
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), LayerError> {
        let len = self.len;
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
            let compressed = self.decoder.tap().len.max(1);
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

    /// Reads what is left of the blob after the decoded stream ended (trailing padding or
    /// frames) so the digest covers every byte, and returns the totals.
    fn finish(self) -> Result<Produced, LayerError> {
        let len = self.len;
        let mut rest = self.decoder.into_inner();
        let drained = io::copy(&mut rest, &mut io::sink());
        let mut tap = rest.into_inner();
        if let Some(f) = tap.failure.take() {
            return Err(f);
        }
        drained.map_err(LayerError::Tar)?;
        Ok(Produced {
            compressed_len: tap.len,
            digest: tap.hasher.map(Sha256Hasher::finish),
            uncompressed_len: len,
        })
    }
}

/// Where the parsing side of a layer gets decoded chunks: the decoder itself, on the same
/// thread, or a channel from a decoding thread.
trait Source {
    /// The next chunk, `None` at the end of the stream. `spent` is the previous chunk,
    /// handed back for reuse.
    fn next_chunk(&mut self, spent: Option<Chunk>) -> Result<Option<Chunk>, LayerError>;

    /// The decoding side's totals, once `next_chunk` has returned `None`.
    fn finish(self) -> Result<Produced, LayerError>;
}

impl<R: Read> Source for Producer<'_, R> {
    fn next_chunk(&mut self, spent: Option<Chunk>) -> Result<Option<Chunk>, LayerError> {
        let mut chunk = spent.unwrap_or_else(Chunk::new);
        self.fill(&mut chunk)?;
        Ok((chunk.len > 0).then_some(chunk))
    }

    fn finish(self) -> Result<Produced, LayerError> {
        Producer::finish(self)
    }
}

enum Message {
    Data(Chunk),
    End(Result<Produced, LayerError>),
}

/// The parsing end of a decoding thread.
struct Piped {
    chunks: mpsc::Receiver<Message>,
    spent: mpsc::Sender<Chunk>,
    end: Option<Produced>,
}

impl Source for Piped {
    fn next_chunk(&mut self, spent: Option<Chunk>) -> Result<Option<Chunk>, LayerError> {
        if let Some(c) = spent {
            // The decoder may have finished already; then the chunk is simply dropped.
            let _ = self.spent.send(c);
        }
        match self.chunks.recv() {
            Ok(Message::Data(c)) => Ok(Some(c)),
            Ok(Message::End(Ok(p))) => {
                self.end = Some(p);
                Ok(None)
            }
            Ok(Message::End(Err(e))) => Err(e),
            Err(_) => Err(decoder_gone()),
        }
    }

    fn finish(self) -> Result<Produced, LayerError> {
        self.end.ok_or_else(decoder_gone)
    }
}

fn not_hashed() -> LayerError {
    LayerError::Io(io::Error::other("the layer's hashing thread stopped"))
}

fn decoder_gone() -> LayerError {
    LayerError::Io(io::Error::other("the layer's decoding thread stopped"))
}

/// The decoding thread: fills chunks and sends them until the stream ends, fails, or the
/// parsing side hangs up (it failed, so the rest of the blob is not needed).
fn produce<R: Read>(
    mut producer: Producer<'_, R>,
    chunks: mpsc::SyncSender<Message>,
    spent: mpsc::Receiver<Chunk>,
) {
    loop {
        let mut chunk = spent.try_recv().unwrap_or_else(|_| Chunk::new());
        match producer.fill(&mut chunk) {
            Ok(()) if chunk.len > 0 => {
                if chunks.send(Message::Data(chunk)).is_err() {
                    return;
                }
            }
            Ok(()) => {
                let _ = chunks.send(Message::End(producer.finish()));
                return;
            }
            Err(e) => {
                let _ = chunks.send(Message::End(Err(e)));
                return;
            }
        }
    }
}

/// The hashing thread of a plain layer read by three threads: hashes every chunk on its way
/// from the reading thread to the parsing one and puts the digest into the totals.
fn hash_stage(chunks_in: mpsc::Receiver<Message>, chunks_out: mpsc::SyncSender<Message>) {
    let mut hasher = Sha256Hasher::new();
    while let Ok(message) = chunks_in.recv() {
        let message = match message {
            Message::Data(c) => {
                hasher.update(c.bytes());
                Message::Data(c)
            }
            Message::End(Ok(mut produced)) => {
                produced.digest = Some(hasher.finish());
                let _ = chunks_out.send(Message::End(Ok(produced)));
                return;
            }
            end @ Message::End(Err(_)) => end,
        };
        if chunks_out.send(message).is_err() {
            return;
        }
    }
}

/// The first failure of the stream beneath the tar parser, kept so that it, and not the
/// parser's symptom of it, is what gets reported.
type FailureSlot = Rc<RefCell<Option<LayerError>>>;

/// The decoded tar stream as the tar parser reads it: chunks from a [`Source`], hashed whole
/// for the DiffID as they arrive (when the blob is compressed; otherwise the blob digest is
/// the DiffID). Skipping an entry's data moves through the chunks without copying them.
///
/// Shared (an `Rc<RefCell<..>>`, all on the parsing thread) between the tar parser, which
/// owns a [`Feed`] handle, and the entry a visitor is looking at, which can take a file's
/// bytes as the chunks they are in ([`EntryContent::read_shared`]) instead of copying them.
struct FeedCore<S: Source> {
    source: S,
    chunk: Option<Rc<Chunk>>,
    pos: usize,
    offset: u64,
    ended: bool,
    diff: Option<Sha256Hasher>,
    failure: FailureSlot,
    /// Bytes taken out from under the tar parser since its last seek: its own count of the
    /// stream position is behind by this much, so its next skip is shorter by this much.
    ahead: u64,
}

impl<S: Source> FeedCore<S> {
    fn new(source: S, compression: Compression, failure: FailureSlot) -> FeedCore<S> {
        FeedCore {
            source,
            chunk: None,
            pos: 0,
            offset: 0,
            ended: false,
            diff: (compression != Compression::None).then(Sha256Hasher::new),
            failure,
            ahead: 0,
        }
    }

    /// Makes sure the current chunk has unread bytes; `false` at the end of the stream. A
    /// spent chunk nobody else holds goes back to the decoding side for reuse.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            if let Some(c) = &self.chunk
                && self.pos < c.len
            {
                return Ok(true);
            }
            if self.ended {
                return Ok(false);
            }
            let spent = self.chunk.take().and_then(|c| Rc::try_unwrap(c).ok());
            match self.source.next_chunk(spent) {
                Ok(Some(c)) => {
                    if let Some(h) = &mut self.diff {
                        h.update(c.bytes());
                    }
                    self.chunk = Some(Rc::new(c));
                    self.pos = 0;
                }
                Ok(None) => {
                    self.ended = true;
                    return Ok(false);
                }
                Err(e) => {
                    let msg = e.to_string();
                    let mut slot = self.failure.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(e);
                    }
                    return Err(io::Error::other(msg));
                }
            }
        }
    }

    /// Reads the rest of the stream (tar padding, anything after the end-of-archive marker)
    /// so the DiffID covers every byte.
    fn drain(&mut self) -> io::Result<()> {
        while self.refill()? {
            if let Some(c) = &self.chunk {
                self.offset += (c.len - self.pos) as u64;
                self.pos = c.len;
            }
        }
        Ok(())
    }

    /// The decoding side's totals and the DiffID (the blob digest for a plain tar).
    fn finish(self) -> Result<(Produced, Digest), LayerError> {
        let produced = self.source.finish()?;
        let diff = match (self.diff, &produced.digest) {
            (Some(h), _) => h.finish(),
            (None, Some(d)) => d.clone(),
            (None, None) => return Err(not_hashed()),
        };
        Ok((produced, diff))
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || !self.refill()? {
            return Ok(0);
        }
        let Some(c) = &self.chunk else {
            return Ok(0);
        };
        let n = (c.len - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&c.data[self.pos..self.pos + n]);
        self.pos += n;
        self.offset += n as u64;
        Ok(n)
    }

    /// Forward skips only: the tar parser seeks over the data of entries nobody read. The
    /// bytes are still decoded and hashed (the DiffID covers them); they are just not
    /// copied out.
    fn skip(&mut self, delta: i64) -> io::Result<u64> {
        let delta = u64::try_from(delta).map_err(|_| only_forward())?;
        // What a visitor took out of the entry is already behind us.
        let mut left = delta.checked_sub(self.ahead).ok_or_else(only_forward)?;
        self.ahead = 0;
        while left > 0 {
            if !self.refill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "unexpected EOF during skip",
                ));
            }
            if let Some(c) = &self.chunk {
                let n = ((c.len - self.pos) as u64).min(left);
                self.pos += n as usize;
                self.offset += n;
                left -= n;
            }
        }
        Ok(self.offset)
    }
}

/// The tar parser's handle on the shared [`FeedCore`].
struct Feed<S: Source>(Rc<RefCell<FeedCore<S>>>);

impl<S: Source> Read for Feed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<S: Source> Seek for Feed<S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Current(delta) => self.0.borrow_mut().skip(delta),
            _ => Err(only_forward()),
        }
    }
}

fn only_forward() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "layer streams only skip forward",
    )
}

impl<S: Source> SharedSource for RefCell<FeedCore<S>> {
    fn take_shared(&self, mut len: u64, peeked: u64, into: &mut Vec<Segment>) -> io::Result<bool> {
        let mut core = self.borrow_mut();
        // The peeked bytes are the last ones read from the stream. When they are all in the
        // chunk in hand and that chunk goes on past them (so it stays in hand), the first
        // segment starts at them and the whole file can be one run of one chunk.
        let back = match &core.chunk {
            Some(c)
                if peeked > 0 && peeked <= core.pos as u64 && (core.pos < c.len || len == 0) =>
            {
                peeked as usize
            }
            _ => 0,
        };
        if back > 0 && len == 0 {
            if let Some(c) = core.chunk.clone() {
                let end = core.pos;
                into.push(Segment::Chunk(c, end - back..end));
            }
            return Ok(true);
        }
        let mut behind = back;
        while len > 0 {
            let chunk = if core.refill()? {
                core.chunk.clone()
            } else {
                None
            };
            let Some(c) = chunk else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the layer ends inside a file",
                ));
            };
            let start = core.pos;
            let n = ((c.len - start) as u64).min(len) as usize;
            into.push(Segment::Chunk(c, start - behind..start + n));
            behind = 0;
            core.pos += n;
            core.offset += n as u64;
            core.ahead += n as u64;
            len -= n as u64;
        }
        Ok(back > 0)
    }
}

/// Takes a file's bytes out of the decoded stream as the chunks they are in, without copying
/// them; see [`EntryContent::read_shared`].
pub(crate) trait SharedSource {
    /// Appends the next `len` bytes of the stream to `into`, behind the tar parser's back
    /// (the stream remembers how far, and shortens the parser's next skip by that much).
    /// `peeked` bytes of the file were already read; when they are still in the chunk in
    /// hand the first segment starts with them and the result is `true`, otherwise the
    /// caller puts its copy of them first.
    fn take_shared(&self, len: u64, peeked: u64, into: &mut Vec<Segment>) -> io::Result<bool>;
}

/// A piece of a file taken out of the stream.
pub(crate) enum Segment {
    /// Bytes already copied out (what a visitor peeked at).
    Owned(Vec<u8>),
    /// A range of a decoded chunk, kept alive (out of reuse) while it is held.
    Chunk(Rc<Chunk>, std::ops::Range<usize>),
}

impl Segment {
    fn bytes(&self) -> &[u8] {
        match self {
            Segment::Owned(v) => v,
            Segment::Chunk(c, range) => &c.data[range.clone()],
        }
    }
}

/// A file's content as the decoded chunks it arrived in, readable and seekable like a file:
/// what [`EntryContent::read_shared`] returns, so a parser that looks at a few places of a
/// large file (an ELF binary's headers and one or two sections) reads those places and never
/// copies the rest. Holds the chunks (they are not reused until it is dropped), so it lives
/// on the layer's parsing thread, inside the visitor, and is not `Send`.
pub struct SharedContent {
    segments: Vec<Segment>,
    /// Offset of each segment's first byte.
    starts: Vec<u64>,
    len: u64,
    pos: u64,
}

impl SharedContent {
    pub(crate) fn new(segments: Vec<Segment>) -> SharedContent {
        let mut starts = Vec::with_capacity(segments.len());
        let mut len = 0u64;
        for s in &segments {
            starts.push(len);
            len += s.bytes().len() as u64;
        }
        SharedContent {
            segments,
            starts,
            len,
            pos: 0,
        }
    }

    /// The content's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole content as one slice when it lies in one piece (most files smaller than a
    /// chunk do), for parsers that read it in place; `None` when it spans pieces.
    pub fn as_slice(&self) -> Option<&[u8]> {
        match self.segments.as_slice() {
            [] => Some(&[]),
            [one] => Some(one.bytes()),
            _ => None,
        }
    }
}

impl fmt::Debug for SharedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedContent")
            .field("len", &self.len)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl Read for SharedContent {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        // The last segment starting at or before `pos`.
        let i = self.starts.partition_point(|&s| s <= self.pos) - 1;
        let Some(segment) = self.segments.get(i) else {
            return Ok(0);
        };
        let bytes = segment.bytes();
        let from = (self.pos - self.starts[i]) as usize;
        let n = (bytes.len() - from).min(buf.len());
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedContent {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = target;
        Ok(target)
    }
}

/// Everything one layer read needs: the descriptor to check against (absent for a bare blob
/// read with [`read_layer_blob`]) and the image's limits and counters.
pub(crate) struct ReadContext<'a> {
    pub(crate) index: usize,
    /// Whether this layer sets the pace of reading the image (its largest, read while the
    /// others share the remaining cores): a plain one is then read, hashed and parsed on
    /// three threads instead of two.
    pub(crate) pace_setter: bool,
    pub(crate) layer: Option<&'a Layer>,
    pub(crate) limits: &'a Limits,
    pub(crate) progress: Option<&'a ProgressFn>,
    pub(crate) seen: &'a [AtomicU64],
}

/// The descriptor's blob, opened at its offset and limited to its stored length (checked
/// against the descriptor first: an overlong blob fails here, one that shrinks meanwhile
/// fails the final size check).
fn open_blob(layer: &Layer) -> Result<std::io::Take<File>, LayerError> {
    if layer.location.len != layer.size {
        return Err(LayerError::SizeMismatch {
            expected: layer.size,
            actual: layer.location.len,
        });
    }
    layer.location.open().map_err(|e| match e {
        crate::OciError::Io { source, .. } => LayerError::Io(source),
        other => LayerError::Io(io::Error::other(other.to_string())),
    })
}

/// Checks the totals against the descriptor (when there is one) and builds the report.
fn report(
    ctx: &ReadContext<'_>,
    produced: Produced,
    diff: Digest,
    compression: Compression,
) -> Result<LayerReport, LayerError> {
    let digest = produced.digest.ok_or_else(not_hashed)?;
    if let Some(layer) = ctx.layer {
        if produced.compressed_len != layer.size {
            return Err(LayerError::SizeMismatch {
                expected: layer.size,
                actual: produced.compressed_len,
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
        compressed_size: produced.compressed_len,
        uncompressed_size: produced.uncompressed_len,
        compression,
    })
}

fn take_failure(failure: &FailureSlot, e: io::Error) -> LayerError {
    failure.borrow_mut().take().unwrap_or(LayerError::Tar(e))
}

/// Streams a layer through decompression and hashing only (no tar parsing), on the calling
/// thread: the deploy gate's check that the blob is the one the manifest and config name.
pub(crate) fn verify(ctx: &ReadContext<'_>) -> Result<LayerReport, LayerError> {
    let layer = ctx
        .layer
        .ok_or_else(|| LayerError::Io(io::Error::other("no layer source")))?;
    let mut warnings = Vec::new();
    let producer = Producer::open(ctx, open_blob(layer)?, layer.size, &mut warnings)?;
    let compression = producer.compression;
    let failure = FailureSlot::default();
    let mut feed = FeedCore::new(producer, compression, failure.clone());
    feed.drain().map_err(|e| take_failure(&failure, e))?;
    let (produced, diff) = feed.finish()?;
    report(ctx, produced, diff, compression)
}

/// Streams a layer, parses its tar entries and hands each to the visitor. A layer of an
/// image large enough to be worth it is decoded on a second thread while this one parses,
/// so one large layer keeps two cores busy.
pub(crate) fn read<'a, V: LayerVisitor>(
    ctx: &ReadContext<'a>,
    visitor: &mut V,
) -> Result<(LayerContents<V::Payload>, LayerReport), LayerError> {
    let layer = ctx
        .layer
        .ok_or_else(|| LayerError::Io(io::Error::other("no layer source")))?;
    let mut warnings = Vec::new();
    let mut producer = Producer::open(ctx, open_blob(layer)?, layer.size, &mut warnings)?;
    let compression = producer.compression;
    if layer.size < PIPELINE_MIN {
        return parse(ctx, producer, compression, warnings, visitor);
    }
    // The image's largest layer sets the pace of reading it. When it is a plain tar its
    // reading thread only reads, and a third thread hashes, so neither the read nor the hash
    // waits for the other. The hashing thread sees every byte of the blob (a plain tar's
    // bytes are its blob's, including those the compression sniff buffered), so the reading
    // side's hasher is simply dropped.
    let hash_apart = ctx.pace_setter && compression == Compression::None;
    if hash_apart {
        producer.decoder.tap_mut().hasher = None;
    }
    std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = mpsc::sync_channel(DEPTH);
        let (spent_tx, spent_rx) = mpsc::channel();
        if hash_apart {
            let (raw_tx, raw_rx) = mpsc::sync_channel(DEPTH);
            scope.spawn(move || produce(producer, raw_tx, spent_rx));
            scope.spawn(move || hash_stage(raw_rx, chunk_tx));
        } else {
            scope.spawn(move || produce(producer, chunk_tx, spent_rx));
        }
        let piped = Piped {
            chunks: chunk_rx,
            spent: spent_tx,
            end: None,
        };
        // Returning (even early, on an error) drops the receiving end, which stops the
        // decoding thread at its next chunk; the scope then joins it.
        parse(ctx, piped, compression, warnings, visitor)
    })
}

/// Lowers the calling thread's scheduling priority by five steps of niceness (at most to 19),
/// for good: a thread about to read a layer other than the image's largest, once. Reading the
/// largest layer sets the pace, and the view is built from the bottom layer (as a rule that
/// largest one) while the others are still being read; when the other layers' threads compete
/// with it for the cores on equal terms, it finishes later and the view waits for it. At a
/// lower priority they take what it leaves. Raising one's own niceness needs no privilege; a
/// refusal changes nothing but the schedule, so it is ignored. Threads the caller then starts
/// inherit it.
pub(crate) fn yield_to_the_pace_setter() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        if let Ok(nice) = getpriority_process(me) {
            let _ = setpriority_process(me, nice.saturating_add(5).min(19));
        }
    }
}

/// Parses the decoded tar stream from `source` and hands each entry to the visitor, then
/// reads the stream to its end and checks sizes, digest and DiffID.
fn parse<S: Source, V: LayerVisitor>(
    ctx: &ReadContext<'_>,
    source: S,
    compression: Compression,
    mut warnings: Vec<Warning>,
    visitor: &mut V,
) -> Result<(LayerContents<V::Payload>, LayerReport), LayerError> {
    let failure = FailureSlot::default();
    let stream_err = |e: io::Error| take_failure(&failure, e);
    let core = Rc::new(RefCell::new(FeedCore::new(
        source,
        compression,
        failure.clone(),
    )));
    let mut archive = tar::Archive::new(Feed(Rc::clone(&core)));
    let mut entries_out: Vec<LayerEntry<V::Payload>> = Vec::new();
    // The peek buffer, reused from one entry to the next.
    let mut prefix: Vec<u8> = Vec::new();
    {
        let entries = archive.entries_with_seek().map_err(stream_err)?;
        for (n, entry) in entries.enumerate() {
            if n as u64 >= ctx.limits.max_entries {
                return Err(LayerError::Limit {
                    what: "tar entries".to_owned(),
                    limit: "max_entries",
                    max: ctx.limits.max_entries,
                });
            }
            let mut entry = entry.map_err(stream_err)?;
            let overrides = pax_overrides(&mut entry).map_err(stream_err)?;
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
                // A plain file's data is one run of the stream, which the visitor may take
                // as the chunks it is in; a sparse file's is not.
                let contiguous = size > 0
                    && !entry.header().entry_type().is_gnu_sparse()
                    && entry.size() == size;
                let shared: Option<&dyn SharedSource> =
                    if contiguous { Some(&*core) } else { None };
                let mut content = EntryContent::new(
                    &mut entry,
                    shared,
                    &meta.path,
                    size,
                    ctx.limits.max_capture_bytes,
                    ctx.index,
                    &mut warnings,
                    std::mem::take(&mut prefix),
                );
                let visited = visitor.visit(&meta, &mut content);
                prefix = content.into_prefix();
                match visited {
                    Ok(p) => p,
                    Err(e) => {
                        // A stream failure under the visitor's reads is the real cause.
                        if let Some(f) = failure.borrow_mut().take() {
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
                payload: payload.map(std::sync::Arc::new),
            });
        }
    }
    drop(archive);
    let mut feed = Rc::try_unwrap(core)
        .map_err(|_| LayerError::Io(io::Error::other("the layer stream is still in use")))?
        .into_inner();
    feed.drain().map_err(stream_err)?;
    let (produced, diff) = feed.finish()?;
    let report = report(ctx, produced, diff, compression)?;
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
        pace_setter: false,
        layer: None,
        limits,
        progress: None,
        seen: &seen,
    };
    let mut warnings = Vec::new();
    let producer = Producer::open(&ctx, blob, u64::MAX, &mut warnings)?;
    let compression = producer.compression;
    parse(&ctx, producer, compression, warnings, visitor)
}
