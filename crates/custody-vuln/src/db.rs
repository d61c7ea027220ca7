//! An advisory database: OSV records loaded from a folder or osv.dev's zip exports, checked,
//! deduplicated, identified by a content digest, and indexed by package.
//!
//! Loading reads every record (inflating, hashing for the snapshot digest, and checking the
//! fields that identify and index it: ID, times, withdrawal, package ecosystems and names);
//! the rest of a record (ranges, versions, severities) is parsed and checked the first time
//! a scan looks it up, and kept. A scan of a few hundred components thus parses the few
//! hundred records that concern them, not the whole database; [`AdvisoryDb::check_all`]
//! parses everything (the ledger's import does, to report every broken record).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Mutex, OnceLock};

use custody_types::Digest;
use flate2::{Decompress, FlushDecompress, Status};
use jiff::Timestamp;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::ecosystem::PackageKey;
use crate::osv::{Advisory, AffectedPackage, Peek, Rejection, parse_record, peek_record};
use crate::warning::{Warning, WarningKind};

/// Bounds on what a database may make custody read, so that a hostile export (a zip bomb,
/// an entry claiming or expanding to gigabytes, millions of tiny entries) is refused or
/// skipped instead of exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Most files plus archive entries read from one database.
    pub max_entries: usize,
    /// Largest single record; a bigger file or entry is skipped with a warning, unread.
    pub max_record_bytes: u64,
    /// Most bytes read in total (uncompressed); beyond it the load fails.
    pub max_total_bytes: u64,
}

impl Default for LoadLimits {
    /// Sized for osv.dev's complete export (about 500,000 records, a few GB uncompressed)
    /// with headroom: 4 million entries, 64 MiB per record (the largest real records, Linux
    /// kernel ones, are a few MB), 32 GiB in total.
    fn default() -> Self {
        LoadLimits {
            max_entries: 4_000_000,
            max_record_bytes: 64 << 20,
            max_total_bytes: 32 << 30,
        }
    }
}

/// Why a database could not be loaded at all. A bad record is never one of these: it is a
/// [`Warning`].
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A file or folder could not be read.
    #[error("reading advisory database {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A zip export's directory could not be read.
    #[error("advisory export {path} is not a readable zip archive: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        #[source]
        source: zip::result::ZipError,
    },
    /// More files or entries than [`LoadLimits::max_entries`].
    #[error("advisory database {path} has more than {limit} files or archive entries; refusing it")]
    TooManyEntries {
        /// The database or archive.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// More bytes than [`LoadLimits::max_total_bytes`] (a zip bomb, or the wrong folder).
    #[error(
        "advisory database {path} expands to more than {limit} bytes (a zip bomb?); refusing it"
    )]
    TooLarge {
        /// The database or archive.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The path is neither a folder, a `.json` record nor a `.zip` export.
    #[error("advisory database {0} is not a folder, a .json OSV record or a .zip export")]
    NotADatabase(PathBuf),
    /// Nothing valid was found: scanning against it would report every component clean.
    #[error("advisory database {path} holds no valid OSV records ({warnings} warnings)")]
    Empty {
        /// The database.
        path: PathBuf,
        /// How many warnings the load produced.
        warnings: usize,
    },
}

/// The identity of a database's contents, recorded in every scan attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// SHA-256 over the lines `ID \t MODIFIED \t hex(SHA-256(record bytes)) \n` of every
    /// record read (withdrawn, duplicate and invalid ones included; an invalid record's ID and
    /// time are empty), ordered by ID, then `modified` time, then hash; MODIFIED is written
    /// in RFC 3339 UTC. It depends on the records alone, not on file names, folder layout
    /// or zip packaging, so the same records always give the same digest.
    pub digest: Digest,
    /// The newest `modified` time among the records: how current the database is.
    pub last_modified: Option<Timestamp>,
    /// Records kept for matching (after dropping withdrawn and duplicate ones).
    pub records: usize,
}

/// A loaded, indexed advisory database.
#[derive(Debug)]
pub struct AdvisoryDb {
    entries: Vec<Entry>,
    archives: Vec<Vec<u8>>,
    /// By package key, split in two halves ([`shard`]) built side by side; foldhash (seeded
    /// per process) instead of SipHash: building the index hashes every record's keys, a
    /// visible share of a load.
    index: [PackageIndex; 2],
    snapshot: Snapshot,
    load_warnings: Vec<Warning>,
    parse_warnings: Mutex<Vec<Warning>>,
    withdrawn: usize,
}

type PackageIndex = HashMap<PackageKey, Postings, foldhash::fast::RandomState>;

/// Which half of the index holds `key`: a cheap, fixed function of the name (the halves
/// only need to be about even).
fn shard(key: &PackageKey) -> usize {
    let h = key
        .name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (h ^ (h >> 7)) as usize & 1
}

/// The entries indexed under one package key: most keys name a single record, which then
/// needs no allocation of its own.
#[derive(Debug)]
enum Postings {
    One(u32),
    Many(Vec<u32>),
}

impl Postings {
    fn push(&mut self, n: u32) {
        match self {
            Postings::One(first) => *self = Postings::Many(vec![*first, n]),
            Postings::Many(v) => v.push(n),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Postings::One(n) => std::slice::from_ref(n),
            Postings::Many(v) => v,
        }
    }
}

impl Drop for AdvisoryDb {
    /// Frees the index, the entries and the export side by side: hundreds of thousands of
    /// small allocations, at the end of every scan.
    fn drop(&mut self) {
        let [a, b] = std::mem::take(&mut self.index);
        let entries = std::mem::take(&mut self.entries);
        let archives = std::mem::take(&mut self.archives);
        rayon::join(
            || drop((a, archives)),
            || rayon::join(|| drop(b), || drop(entries)),
        );
    }
}

/// Where a record's bytes are kept until it is parsed.
#[derive(Debug)]
enum Stored {
    /// A file's (or caller's) bytes.
    Bytes(Box<[u8]>),
    /// An entry of a zip export held in memory: re-inflated when needed.
    Zip {
        archive: u32,
        start: u64,
        compressed: u64,
        size: u64,
        deflated: bool,
    },
}

/// A record in force.
#[derive(Debug)]
struct Entry {
    id: String,
    source: Box<str>,
    stored: Stored,
    /// Boxed: an `Advisory` is a few hundred bytes, and all but the few records a scan looks
    /// up stay unparsed; inline, the slot would be most of an entry's size.
    parsed: OnceLock<Option<Box<Advisory>>>,
}

/// One record's outcome, before deduplication.
struct Loaded {
    /// `None` for a record that failed the load checks.
    peek: Option<Peek>,
    sha256: [u8; 32],
    source: Box<str>,
    stored: Option<Stored>,
}

struct Collected {
    /// What this reader loaded itself.
    loaded: Vec<Loaded>,
    /// What other readers loaded, absorbed as they were: never copied into one vector.
    parts: Vec<Vec<Loaded>>,
    warnings: Vec<Warning>,
}

impl Collected {
    fn new() -> Collected {
        Collected::with_capacity(0)
    }

    fn with_capacity(n: usize) -> Collected {
        Collected {
            loaded: Vec::with_capacity(n),
            parts: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn absorb(&mut self, other: Collected) {
        self.parts.extend(other.parts);
        if !other.loaded.is_empty() {
            self.parts.push(other.loaded);
        }
        if self.warnings.is_empty() {
            self.warnings = other.warnings;
        } else {
            self.warnings.extend(other.warnings);
        }
    }

    /// Everything loaded, as one indexable collection.
    fn into_loads(mut self) -> (Loads, Vec<Warning>) {
        if !self.loaded.is_empty() {
            self.parts.push(self.loaded);
        }
        let at = self
            .parts
            .iter()
            .enumerate()
            .flat_map(|(p, v)| (0..v.len() as u32).map(move |j| (p as u32, j)))
            .collect();
        (
            Loads {
                parts: self.parts,
                at,
            },
            self.warnings,
        )
    }

    /// Checks a record's identity and keys; `stored` says where its bytes stay.
    fn record(&mut self, bytes: &[u8], source: &str, stored: impl FnOnce() -> Stored) {
        let sha256: [u8; 32] = Sha256::digest(bytes).into();
        match peek_record(bytes, source) {
            Ok(peek) => self.loaded.push(Loaded {
                peek: Some(peek),
                sha256,
                source: source.into(),
                stored: Some(stored()),
            }),
            Err(w) => {
                self.loaded.push(Loaded {
                    peek: None,
                    sha256,
                    source: source.into(),
                    stored: None,
                });
                self.warnings.push(w);
            }
        }
    }

    fn warn(&mut self, source: String, kind: WarningKind, message: String) {
        self.warnings.push(Warning {
            source,
            id: None,
            kind,
            message,
        });
    }
}

/// The records of every reader, numbered `0..len()` across their parts.
struct Loads {
    parts: Vec<Vec<Loaded>>,
    at: Vec<(u32, u32)>,
}

impl Loads {
    fn len(&self) -> usize {
        self.at.len()
    }

    fn get(&self, i: u32) -> &Loaded {
        let (p, j) = self.at[i as usize];
        &self.parts[p as usize][j as usize]
    }

    fn get_mut(&mut self, i: u32) -> &mut Loaded {
        let (p, j) = self.at[i as usize];
        &mut self.parts[p as usize][j as usize]
    }

    fn iter(&self) -> impl Iterator<Item = &Loaded> {
        self.parts.iter().flatten()
    }
}

/// Shared byte budget across parallel readers.
struct Budget {
    limits: LoadLimits,
    used: AtomicU64,
    exceeded: AtomicBool,
}

impl Budget {
    fn take(&self, n: u64) -> bool {
        let total = self.used.fetch_add(n, AtomicOrdering::Relaxed) + n;
        if total > self.limits.max_total_bytes {
            self.exceeded.store(true, AtomicOrdering::Relaxed);
            return false;
        }
        true
    }
}

/// Reads at most `limit + 1` bytes, so an oversized input is detected without being held.
fn read_bounded(r: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= limit).then_some(buf))
}

impl AdvisoryDb {
    /// Loads a database with the default [`LoadLimits`]: a folder (searched recursively for
    /// `*.json` records and `*.zip` exports), one `.zip` export (osv.dev's
    /// `<ecosystem>/all.zip`), or one `.json` record.
    pub fn load(path: &Path) -> Result<AdvisoryDb, DbError> {
        AdvisoryDb::load_with_limits(path, &LoadLimits::default())
    }

    /// Loads a database within `limits`.
    pub fn load_with_limits(path: &Path, limits: &LoadLimits) -> Result<AdvisoryDb, DbError> {
        let io_err = |p: &Path, source| DbError::Io {
            path: p.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
        let budget = Budget {
            limits: *limits,
            used: AtomicU64::new(0),
            exceeded: AtomicBool::new(false),
        };
        let mut files = Vec::new();
        let mut zips = Vec::new();
        let mut collected = Collected::new();
        if meta.is_dir() {
            walk(path, &mut files, &mut zips, &mut collected, limits)?;
        } else if has_ext(path, "zip") {
            zips.push(path.to_path_buf());
        } else if has_ext(path, "json") {
            files.push(path.to_path_buf());
        } else {
            return Err(DbError::NotADatabase(path.to_path_buf()));
        }
        if files.len() + zips.len() > limits.max_entries {
            return Err(DbError::TooManyEntries {
                path: path.to_path_buf(),
                limit: limits.max_entries,
            });
        }
        let chunks: Vec<Collected> = files
            .par_iter()
            .fold(Collected::new, |mut c, f| {
                read_json_file(f, &budget, &mut c);
                c
            })
            .collect();
        for c in chunks {
            collected.absorb(c);
        }
        let mut archives = Vec::new();
        for z in &zips {
            let (bytes, c) = read_zip(z, archives.len() as u32, &budget, files.len())?;
            collected.absorb(c);
            archives.push(bytes);
        }
        if budget.exceeded.load(AtomicOrdering::Relaxed) {
            return Err(DbError::TooLarge {
                path: path.to_path_buf(),
                limit: limits.max_total_bytes,
            });
        }
        let db = AdvisoryDb::assemble(collected, archives);
        if db.entries.is_empty() && db.withdrawn == 0 {
            return Err(DbError::Empty {
                path: path.to_path_buf(),
                warnings: db.load_warnings.len(),
            });
        }
        Ok(db)
    }

    /// Builds a database from records already in memory: `(source, bytes)` pairs, where
    /// `source` names the record in warnings. This is how the ledger rebuilds one from the
    /// records it stores, and how tests build small ones.
    pub fn from_records(records: Vec<(String, Vec<u8>)>) -> AdvisoryDb {
        let chunks: Vec<Collected> = records
            .into_par_iter()
            .fold(Collected::new, |mut c, (source, bytes)| {
                c.record(&bytes, &source, || {
                    Stored::Bytes(bytes.clone().into_boxed_slice())
                });
                c
            })
            .collect();
        let mut collected = Collected::new();
        for c in chunks {
            collected.absorb(c);
        }
        AdvisoryDb::assemble(collected, Vec::new())
    }

    fn assemble(c: Collected, archives: Vec<Vec<u8>>) -> AdvisoryDb {
        let (mut loaded, mut warnings) = c.into_loads();
        // One sort serves the de-duplication and the snapshot digest: the valid records by
        // ID, then newest `modified` first, then the one still in force (a withdrawal must be
        // newer to win), then the lowest content hash for determinism.
        let mut order: Vec<u32> = (0..loaded.len() as u32)
            .filter(|i| loaded.get(*i).peek.is_some())
            .collect();
        {
            let key = |i: &u32| {
                let l = loaded.get(*i);
                l.peek.as_ref().map(|p| {
                    (
                        p.id.as_str(),
                        std::cmp::Reverse(p.modified),
                        p.withdrawn,
                        &l.sha256,
                    )
                })
            };
            order.par_sort_unstable_by(|x, y| key(x).cmp(&key(y)));
        }
        // The digest's lines are rendered (in parallel) before the records are moved into
        // the entries; hashing them then runs beside the serial index build.
        let lines = snapshot_lines(&loaded, &order);
        let (digest, (entries, index, withdrawn, last_modified)) = rayon::join(
            || {
                let mut h = Sha256::new();
                for part in &lines {
                    h.update(part);
                }
                Digest::from_sha256_bytes(h.finalize().into())
            },
            || build_index(&mut loaded, &order, &mut warnings),
        );
        drop(lines);
        drop(loaded);
        warnings.sort_by(|a, b| a.source.cmp(&b.source).then(a.kind.cmp(&b.kind)));
        AdvisoryDb {
            snapshot: Snapshot {
                digest,
                last_modified,
                records: entries.len(),
            },
            entries,
            archives,
            index,
            load_warnings: warnings,
            parse_warnings: Mutex::new(Vec::new()),
            withdrawn,
        }
    }

    /// The advisory of entry `i`, parsed and checked on first use; `None` when the record
    /// fails the checks (a warning then names it).
    fn advisory(&self, i: u32) -> Option<&Advisory> {
        let e = &self.entries[i as usize];
        e.parsed
            .get_or_init(|| {
                let bytes = match self.bytes(e) {
                    Ok(b) => b,
                    Err(message) => {
                        self.late_warning(Warning {
                            source: e.source.to_string(),
                            id: Some(e.id.clone()),
                            kind: WarningKind::Unreadable,
                            message,
                        });
                        return None;
                    }
                };
                match parse_record(&bytes, &e.source) {
                    Ok((a, w)) => {
                        if !w.is_empty() {
                            self.late_warnings(w);
                        }
                        Some(Box::new(a))
                    }
                    Err(Rejection::Invalid(w)) => {
                        self.late_warning(w);
                        None
                    }
                    Err(Rejection::Withdrawn(_)) => None,
                }
            })
            .as_deref()
    }

    fn late_warning(&self, w: Warning) {
        self.late_warnings(vec![w]);
    }

    fn late_warnings(&self, w: Vec<Warning>) {
        if let Ok(mut v) = self.parse_warnings.lock() {
            v.extend(w);
        }
    }

    fn bytes<'a>(&'a self, e: &'a Entry) -> Result<std::borrow::Cow<'a, [u8]>, String> {
        match &e.stored {
            Stored::Bytes(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Stored::Zip {
                archive,
                start,
                compressed,
                size,
                deflated,
            } => {
                let buf = self
                    .archives
                    .get(*archive as usize)
                    .ok_or("archive missing")?;
                let raw = buf
                    .get(*start as usize..(*start + *compressed) as usize)
                    .ok_or("entry outside its archive")?;
                if !*deflated {
                    return Ok(std::borrow::Cow::Borrowed(raw));
                }
                let mut out = Vec::new();
                let mut d = Decompress::new(false);
                match inflate(&mut d, raw, &mut out, *size, *size)? {
                    true => Ok(std::borrow::Cow::Owned(out)),
                    false => Err("entry expands past its declared size".to_owned()),
                }
            }
        }
    }

    /// Parses and checks every record (in parallel), so that [`AdvisoryDb::warnings`]
    /// reports every broken one; returns how many are valid. A scan does not need this: it
    /// checks the records it looks up.
    pub fn check_all(&self) -> usize {
        (0..self.entries.len() as u32)
            .into_par_iter()
            .filter(|i| self.advisory(*i).is_some())
            .count()
    }

    /// The database's identity.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Problems found so far: while loading (one per bad file, entry or record identity) and
    /// while parsing the records looked up since (or all of them after
    /// [`AdvisoryDb::check_all`]), sorted by source.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = self.load_warnings.clone();
        if let Ok(late) = self.parse_warnings.lock() {
            out.extend(late.iter().cloned());
        }
        out.sort_by(|a, b| a.source.cmp(&b.source).then(a.kind.cmp(&b.kind)));
        out
    }

    /// How many withdrawn records were read (and ignored).
    pub fn withdrawn(&self) -> usize {
        self.withdrawn
    }

    /// Records in force (before their full check).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no record is in force.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every valid advisory, sorted by ID (parses all records; see
    /// [`AdvisoryDb::check_all`]).
    pub fn advisories(&self) -> Vec<&Advisory> {
        self.check_all();
        (0..self.entries.len() as u32)
            .filter_map(|i| self.advisory(i))
            .collect()
    }

    /// The advisory with this ID.
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        let i = self
            .entries
            .binary_search_by(|e| e.id.as_str().cmp(id))
            .ok()?;
        self.advisory(i as u32)
    }

    /// The affected entries indexed under `key`, with their advisories: a hash lookup, not a
    /// pass over the database.
    pub fn candidates<'a>(
        &'a self,
        key: &'a PackageKey,
    ) -> impl Iterator<Item = (&'a Advisory, &'a AffectedPackage)> + 'a {
        self.index[shard(key)]
            .get(key)
            .map(Postings::as_slice)
            .into_iter()
            .flatten()
            .filter_map(|i| self.advisory(*i))
            .flat_map(move |a| {
                a.affected
                    .iter()
                    .filter(move |p| p.key == *key)
                    .map(move |p| (a, p))
            })
    }

    /// Parses (in parallel) the records indexed under `keys` that are not parsed yet, as
    /// [`AdvisoryDb::candidates`] would one by one.
    pub(crate) fn prefetch<'a>(&self, keys: impl Iterator<Item = &'a PackageKey>) {
        let mut wanted: Vec<u32> = keys
            .filter_map(|k| self.index[shard(k)].get(k))
            .flat_map(|p| p.as_slice().iter().copied())
            .filter(|i| self.entries[*i as usize].parsed.get().is_none())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted.par_iter().for_each(|i| {
            self.advisory(*i);
        });
    }

    /// Number of distinct package keys in the index.
    pub fn indexed_packages(&self) -> usize {
        self.index.iter().map(HashMap::len).sum()
    }
}

/// The package index of [`AdvisoryDb`] and its entries, from the records in `order` (the
/// de-duplication order of [`AdvisoryDb::assemble`]): one record per ID, withdrawn ones
/// counted and left out. Moves the kept records' fields out of `loaded`. The entries are
/// built in one pass; the two halves of the index then side by side.
#[allow(clippy::type_complexity)]
fn build_index(
    loaded: &mut Loads,
    order: &[u32],
    warnings: &mut Vec<Warning>,
) -> (Vec<Entry>, [PackageIndex; 2], usize, Option<Timestamp>) {
    // Entries are pushed in ID order, so `get` is a binary search and needs no map.
    let mut entries: Vec<Entry> = Vec::with_capacity(order.len());
    let mut keys: [Vec<(PackageKey, u32)>; 2] = [
        Vec::with_capacity(order.len() / 2 + 1024),
        Vec::with_capacity(order.len() / 2 + 1024),
    ];
    let mut withdrawn = 0usize;
    let mut last_modified: Option<Timestamp> = None;
    // Whether each record repeats the ID of the one before it (decided before any is moved).
    let repeats: Vec<bool> = {
        let id = |i: u32| loaded.get(i).peek.as_ref().map(|p| p.id.as_str());
        (0..order.len())
            .into_par_iter()
            .map(|k| k > 0 && id(order[k]) == id(order[k - 1]))
            .collect()
    };
    // The record kept for the current ID: its time and withdrawal, for duplicates' warnings.
    let mut kept: Option<(Timestamp, bool)> = None;
    for (&i, repeat) in order.iter().zip(repeats) {
        let l = loaded.get_mut(i);
        let (Some(peek), Some(stored)) = (l.peek.take(), l.stored.take()) else {
            continue;
        };
        last_modified = last_modified.max(Some(peek.modified));
        let source = std::mem::take(&mut l.source);
        if let (true, Some((modified, kept_withdrawn))) = (repeat, kept) {
            warnings.push(Warning {
                source: source.into_string(),
                id: Some(peek.id),
                kind: WarningKind::DuplicateId,
                message: format!(
                    "a record with this id modified {modified}{} takes precedence; this one (modified {}) is ignored",
                    if kept_withdrawn { " (withdrawn)" } else { "" },
                    peek.modified
                ),
            });
            continue;
        }
        kept = Some((peek.modified, peek.withdrawn));
        if peek.withdrawn {
            withdrawn += 1;
            continue;
        }
        let n = entries.len() as u32;
        for key in peek.keys {
            keys[shard(&key)].push((key, n));
        }
        entries.push(Entry {
            id: peek.id,
            source,
            stored,
            parsed: OnceLock::new(),
        });
    }
    let [k0, k1] = keys;
    let build = |keys: Vec<(PackageKey, u32)>| {
        let mut index: PackageIndex =
            HashMap::with_capacity_and_hasher(keys.len(), Default::default());
        for (key, n) in keys {
            match index.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut o) => o.get_mut().push(n),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Postings::One(n));
                }
            }
        }
        index
    };
    let (a, b) = rayon::join(|| build(k0), || build(k1));
    (entries, [a, b], withdrawn, last_modified)
}

/// [`Snapshot::digest`]'s input, in parts to hash in order: the lines
/// `ID \t MODIFIED \t hex(SHA-256) \n` of every record read, in (ID, time, hash) order; an
/// invalid record (no ID, no time) sorts first. `order` holds the valid records sorted by ID
/// (then newest first, as de-duplication wants): only records sharing an ID need re-sorting
/// by (time, hash), so the parts are rendered in parallel, each from whole ID groups.
fn snapshot_lines(loaded: &Loads, order: &[u32]) -> Vec<Vec<u8>> {
    fn line(out: &mut Vec<u8>, id: &str, modified: Option<Timestamp>, sha: &[u8; 32]) {
        use std::io::Write as _;
        out.extend_from_slice(id.as_bytes());
        out.push(b'\t');
        if let Some(m) = modified {
            let _ = write!(out, "{m}");
        }
        out.push(b'\t');
        let mut hex = [0u8; 64];
        if hex::encode_to_slice(sha, &mut hex).is_ok() {
            out.extend_from_slice(&hex);
        }
        out.push(b'\n');
    }
    let peek = |i: u32| {
        let l = loaded.get(i);
        l.peek
            .as_ref()
            .map(|p| (p.id.as_str(), p.modified, &l.sha256))
    };
    let mut invalid: Vec<&[u8; 32]> = loaded
        .iter()
        .filter(|l| l.peek.is_none())
        .map(|l| &l.sha256)
        .collect();
    invalid.sort_unstable();
    let mut first = Vec::with_capacity(invalid.len() * 68);
    for sha in invalid {
        line(&mut first, "", None, sha);
    }
    // Part boundaries, moved forward to the start of an ID group.
    const PART: usize = 8192;
    let id_at = |k: usize| peek(order[k]).map(|p| p.0);
    let mut bounds = vec![0usize];
    for k in 1..order.len().div_ceil(PART) {
        let mut b = (k * PART).max(bounds[bounds.len() - 1]);
        while b < order.len() && b > 0 && id_at(b) == id_at(b - 1) {
            b += 1;
        }
        if b < order.len() && b > bounds[bounds.len() - 1] {
            bounds.push(b);
        }
    }
    bounds.push(order.len());
    let mut parts: Vec<Vec<u8>> = bounds
        .par_windows(2)
        .map(|w| {
            let run = &order[w[0]..w[1]];
            let mut out = Vec::with_capacity(run.len() * 112);
            let mut group: Vec<(Timestamp, &[u8; 32])> = Vec::new();
            let mut k = 0;
            while k < run.len() {
                let Some((id, modified, sha)) = peek(run[k]) else {
                    k += 1;
                    continue;
                };
                let mut end = k + 1;
                while end < run.len() && peek(run[end]).map(|p| p.0) == Some(id) {
                    end += 1;
                }
                if end == k + 1 {
                    line(&mut out, id, Some(modified), sha);
                } else {
                    group.clear();
                    group.extend(
                        run[k..end]
                            .iter()
                            .filter_map(|i| peek(*i).map(|p| (p.1, p.2))),
                    );
                    group.sort_unstable();
                    for (m, sha) in &group {
                        line(&mut out, id, Some(*m), sha);
                    }
                }
                k = end;
            }
            out
        })
        .collect();
    parts.insert(0, first);
    parts
}

/// Reads a whole file with one positioned read per 8 MiB chunk, the chunks in parallel: an
/// export is hundreds of MB, and a single `read` copies it (and faults its pages in) on one
/// core while the other waits.
fn read_whole(path: &Path, len: u64) -> io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let len = usize::try_from(len).map_err(|_| io::Error::other("file too large"))?;
    let mut buf = vec![0u8; len];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt as _;
        const CHUNK: usize = 8 << 20;
        buf.par_chunks_mut(CHUNK)
            .enumerate()
            .try_for_each(|(i, chunk)| file.read_exact_at(chunk, (i * CHUNK) as u64))?;
    }
    #[cfg(not(unix))]
    {
        (&file).read_exact(&mut buf)?;
    }
    Ok(buf)
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Collects `*.json` and `*.zip` under `dir`, sorted, without following symlinked folders
/// (a link cycle must not hang the load).
fn walk(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    zips: &mut Vec<PathBuf>,
    c: &mut Collected,
    limits: &LoadLimits,
) -> Result<(), DbError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = fs::read_dir(&d).map_err(|e| DbError::Io {
            path: d.clone(),
            source: e,
        })?;
        let mut entries: Vec<_> = rd.collect::<Result<Vec<_>, _>>().map_err(|e| DbError::Io {
            path: d.clone(),
            source: e,
        })?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let ft = e.file_type().map_err(|err| DbError::Io {
                path: p.clone(),
                source: err,
            })?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_symlink() && p.is_dir() {
                c.warn(
                    p.display().to_string(),
                    WarningKind::IgnoredFile,
                    "symbolic link to a folder not followed".into(),
                );
            } else if has_ext(&p, "json") {
                files.push(p);
            } else if has_ext(&p, "zip") {
                zips.push(p);
            } else {
                c.warn(
                    p.display().to_string(),
                    WarningKind::IgnoredFile,
                    "not a .json record or .zip export".into(),
                );
            }
            if files.len() + zips.len() > limits.max_entries {
                return Err(DbError::TooManyEntries {
                    path: dir.to_path_buf(),
                    limit: limits.max_entries,
                });
            }
        }
    }
    Ok(())
}

fn read_json_file(path: &Path, budget: &Budget, c: &mut Collected) {
    let source = path.display().to_string();
    if budget.exceeded.load(AtomicOrdering::Relaxed) {
        return;
    }
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return c.warn(source, WarningKind::Unreadable, e.to_string()),
    };
    let limit = budget.limits.max_record_bytes;
    match file.metadata() {
        Ok(m) if m.len() > limit => {
            return c.warn(
                source,
                WarningKind::TooLarge,
                format!(
                    "{} bytes, more than the {limit}-byte record limit; skipped unread",
                    m.len()
                ),
            );
        }
        Err(e) => return c.warn(source, WarningKind::Unreadable, e.to_string()),
        Ok(_) => {}
    }
    match read_bounded(file, limit) {
        Ok(Some(bytes)) => {
            if budget.take(bytes.len() as u64) {
                c.record(&bytes, &source, || {
                    Stored::Bytes(bytes.clone().into_boxed_slice())
                });
            }
        }
        Ok(None) => c.warn(
            source,
            WarningKind::TooLarge,
            format!("grew past the {limit}-byte record limit while read; skipped"),
        ),
        Err(e) => c.warn(source, WarningKind::Unreadable, e.to_string()),
    }
}

/// Reads an export: returns its bytes (kept to re-inflate records when parsed) and what its
/// entries gave.
fn read_zip(
    path: &Path,
    number: u32,
    budget: &Budget,
    already: usize,
) -> Result<(Vec<u8>, Collected), DbError> {
    let limits = budget.limits;
    let zip_err = |source| DbError::Zip {
        path: path.to_path_buf(),
        source,
    };
    let len = fs::metadata(path)
        .map_err(|e| DbError::Io {
            path: path.to_path_buf(),
            source: e,
        })?
        .len();
    if len > limits.max_total_bytes {
        return Err(DbError::TooLarge {
            path: path.to_path_buf(),
            limit: limits.max_total_bytes,
        });
    }
    let bytes = read_whole(path, len).map_err(|e| DbError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let archive = zip::ZipArchive::new(Cursor::new(&bytes[..])).map_err(zip_err)?;
    if archive.len() + already > limits.max_entries {
        return Err(DbError::TooManyEntries {
            path: path.to_path_buf(),
            limit: limits.max_entries,
        });
    }
    let name = path.display().to_string();
    // Fixed runs of entries, one reader state and one output vector (sized for the run) per
    // run: rayon's adaptive splitting of a `fold` would create a decoder state, and grow a
    // vector from empty, once per split.
    const RUN: usize = 1024;
    let n = archive.len();
    let chunks: Vec<Collected> = (0..n.div_ceil(RUN))
        .into_par_iter()
        .map(|k| {
            let entries = k * RUN..((k + 1) * RUN).min(n);
            let mut ar = archive.clone();
            let mut inf = Inflater::new();
            let mut c = Collected::with_capacity(entries.len());
            for i in entries {
                if budget.exceeded.load(AtomicOrdering::Relaxed) {
                    break;
                }
                read_zip_entry(&mut ar, &bytes, i, number, &name, budget, &mut inf, &mut c);
            }
            c
        })
        .collect();
    let mut collected = Collected::new();
    collected.parts.reserve(chunks.len());
    for c in chunks {
        collected.absorb(c);
    }
    drop(archive);
    Ok((bytes, collected))
}

/// One reader's reusable inflate state and buffers: osv.dev exports hold hundreds of
/// thousands of small deflated entries, and a fresh decoder per entry costs more than the
/// inflating itself.
struct Inflater {
    decompress: Decompress,
    out: Vec<u8>,
    source: String,
}

impl Inflater {
    fn new() -> Inflater {
        Inflater {
            decompress: Decompress::new(false),
            out: Vec::new(),
            source: String::new(),
        }
    }
}

/// Inflates `raw` (raw deflate, as zip stores it) into `out` in one call, with zlib-rs (the
/// fastest pure-Rust inflater; osv.dev exports are hundreds of MB of deflate, the largest
/// single cost of a load): the output buffer is sized from the entry's declared size, so
/// nothing is copied per entry. `Ok(false)` when the entry expands past `limit`, whatever its
/// header claimed (a lying header costs one retry with a `limit`-sized buffer).
fn inflate(
    d: &mut Decompress,
    raw: &[u8],
    out: &mut Vec<u8>,
    hint: u64,
    limit: u64,
) -> Result<bool, String> {
    let mut size = hint.min(limit) as usize + 1;
    loop {
        d.reset(false);
        out.clear();
        out.reserve(size);
        match d.decompress_vec(raw, out, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(out.len() as u64 <= limit),
            Ok(_) if out.len() < out.capacity() => {
                return Err("truncated deflate data".to_owned());
            }
            // The buffer is full and the stream goes on.
            Ok(_) if (out.len() as u64) <= limit => size = limit as usize + 1,
            Ok(_) => return Ok(false),
            Err(e) => return Err(format!("corrupt deflate data ({e})")),
        }
    }
}

/// Reads entry `i` of the export held in `data`: its compressed bytes are sliced from
/// `data` (never copied), inflated into the reader's buffer, CRC-checked, hashed and peeked.
#[allow(clippy::too_many_arguments)]
fn read_zip_entry(
    ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
    data: &[u8],
    i: usize,
    number: u32,
    archive: &str,
    budget: &Budget,
    inf: &mut Inflater,
    c: &mut Collected,
) {
    let limit = budget.limits.max_record_bytes;
    let entry = match ar.by_index_raw(i) {
        Ok(e) => e,
        Err(e) => {
            return c.warn(
                format!("{archive}!#{i}"),
                WarningKind::Unreadable,
                e.to_string(),
            );
        }
    };
    if entry.is_dir() {
        return;
    }
    inf.source.clear();
    inf.source.push_str(archive);
    inf.source.push('!');
    match entry.name() {
        Ok(n) => inf.source.push_str(&n),
        Err(e) => {
            return c.warn(
                format!("{archive}!#{i}"),
                WarningKind::Unreadable,
                format!("entry name: {e}"),
            );
        }
    }
    let source = inf.source.as_str();
    let is_json = source.len() >= 5 && source[source.len() - 5..].eq_ignore_ascii_case(".json");
    if !is_json {
        return c.warn(
            source.to_owned(),
            WarningKind::IgnoredFile,
            "archive entry is not a .json record".into(),
        );
    }
    let declared = entry.size();
    if declared > limit {
        return c.warn(
            source.to_owned(),
            WarningKind::TooLarge,
            format!("declares {declared} bytes uncompressed, more than the {limit}-byte record limit; skipped unread"),
        );
    }
    let (method, crc) = (entry.compression(), entry.crc32());
    let (start, compressed) = (entry.data_start(), entry.compressed_size());
    drop(entry);
    let Some(start) = start else {
        return c.warn(
            source.to_owned(),
            WarningKind::Unreadable,
            "entry data offset unknown".into(),
        );
    };
    // Deflate can make incompressible data slightly bigger than itself: allow for that.
    let raw_limit = limit + limit / 64 + 4096;
    if compressed > raw_limit {
        return c.warn(
            source.to_owned(),
            WarningKind::TooLarge,
            format!("{compressed} bytes compressed, more than a {limit}-byte record can take; skipped unread"),
        );
    }
    let raw = usize::try_from(start)
        .ok()
        .zip(usize::try_from(compressed).ok())
        .and_then(|(s, n)| data.get(s..s.checked_add(n)?));
    let Some(raw) = raw else {
        return c.warn(
            source.to_owned(),
            WarningKind::Unreadable,
            "entry data lies outside the archive".into(),
        );
    };
    let within = match method {
        zip::CompressionMethod::Stored => {
            inf.out.clear();
            inf.out.extend_from_slice(raw);
            Ok(inf.out.len() as u64 <= limit)
        }
        zip::CompressionMethod::Deflated => {
            inflate(&mut inf.decompress, raw, &mut inf.out, declared, limit)
        }
        other => Err(format!(
            "compression method {other:?} is not supported (osv.dev exports use deflate)"
        )),
    };
    match within {
        Ok(true) => {}
        Ok(false) => {
            budget.take(limit);
            return c.warn(
                source.to_owned(),
                WarningKind::TooLarge,
                format!("expands past the {limit}-byte record limit; skipped"),
            );
        }
        Err(e) => return c.warn(source.to_owned(), WarningKind::Unreadable, e),
    }
    if crc32fast::hash(&inf.out) != crc {
        return c.warn(
            source.to_owned(),
            WarningKind::Unreadable,
            "CRC-32 mismatch: the archive entry is corrupt".into(),
        );
    }
    if budget.take(inf.out.len() as u64) {
        let size = inf.out.len() as u64;
        c.record(&inf.out, source, || Stored::Zip {
            archive: number,
            start,
            compressed,
            size,
            deflated: method == zip::CompressionMethod::Deflated,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The snapshot digest as first defined: every record's line, sorted as a whole.
    fn reference_digest(records: &[(String, Vec<u8>)]) -> Digest {
        let mut lines: Vec<(String, Option<Timestamp>, [u8; 32])> = records
            .iter()
            .map(|(source, bytes)| {
                let sha: [u8; 32] = Sha256::digest(bytes).into();
                match peek_record(bytes, source) {
                    Ok(p) => (p.id, Some(p.modified), sha),
                    Err(_) => (String::new(), None, sha),
                }
            })
            .collect();
        lines.sort();
        let mut h = Sha256::new();
        for (id, modified, sha) in &lines {
            let m = modified.map(|m| m.to_string()).unwrap_or_default();
            h.update(format!("{id}\t{m}\t{}\n", hex::encode(sha)).as_bytes());
        }
        Digest::from_sha256_bytes(h.finalize().into())
    }

    fn rec(id: &str, modified: &str, extra: &str) -> Vec<u8> {
        format!(r#"{{"id":"{id}","modified":"{modified}"{extra},"affected":[{{"package":{{"ecosystem":"PyPI","name":"p-{id}"}}}}]}}"#)
            .into_bytes()
    }

    #[test]
    fn snapshot_digest_matches_its_definition() {
        let mut records = Vec::new();
        // Many IDs (several parts), duplicates with older, newer and equal times, withdrawn
        // copies, and invalid records.
        for i in 0..20_000u32 {
            let id = format!("X-{:05}", (i * 7919) % 20_000);
            let m = format!("2024-01-{:02}T00:00:00Z", i % 27 + 1);
            records.push((format!("r{i}.json"), rec(&id, &m, "")));
            if i % 97 == 0 {
                records.push((format!("d{i}.json"), rec(&id, "2023-05-05T00:00:00Z", "")));
                records.push((format!("e{i}.json"), rec(&id, &m, r#","summary":"other""#)));
                records.push((
                    format!("w{i}.json"),
                    rec(&id, &m, r#","withdrawn":"2024-02-01T00:00:00Z""#),
                ));
            }
            if i % 501 == 0 {
                records.push((format!("bad{i}.json"), format!("{{\"id\":{i}").into_bytes()));
                records.push((
                    format!("nomod{i}.json"),
                    format!(r#"{{"id":"Y-{i}"}}"#).into_bytes(),
                ));
            }
        }
        let expected = reference_digest(&records);
        let db = AdvisoryDb::from_records(records.clone());
        assert_eq!(db.snapshot().digest, expected);
        records.reverse();
        assert_eq!(
            AdvisoryDb::from_records(records).snapshot().digest,
            expected
        );
        let few = vec![("a".to_owned(), rec("A-1", "2024-01-01T00:00:00Z", ""))];
        assert_eq!(
            AdvisoryDb::from_records(few.clone()).snapshot().digest,
            reference_digest(&few)
        );
    }
}
