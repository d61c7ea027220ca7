//! An advisory database: OSV records loaded from a folder or osv.dev's zip exports, checked,
//! deduplicated, identified by a content digest, and indexed by package.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use custody_types::Digest;
use jiff::Timestamp;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::ecosystem::PackageKey;
use crate::osv::{Advisory, AffectedPackage, Rejection, parse_record};
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
    /// SHA-256 over the sorted lines `ID \t MODIFIED \t SHA256(record bytes) \n` of every
    /// record read (withdrawn, duplicate and invalid ones included; an invalid record's ID and
    /// time are empty). It depends on the records alone, not on file names, folder layout
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
    advisories: Vec<Advisory>,
    by_id: HashMap<String, u32>,
    index: HashMap<PackageKey, Vec<(u32, u32)>>,
    snapshot: Snapshot,
    warnings: Vec<Warning>,
    withdrawn: usize,
}

/// One record's outcome, before deduplication.
enum Loaded {
    Kept(Advisory),
    Withdrawn(Advisory),
    Invalid { sha256: [u8; 32] },
}

struct Collected {
    loaded: Vec<Loaded>,
    warnings: Vec<Warning>,
}

impl Collected {
    fn new() -> Collected {
        Collected {
            loaded: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn absorb(&mut self, other: Collected) {
        self.loaded.extend(other.loaded);
        self.warnings.extend(other.warnings);
    }

    fn record(&mut self, bytes: &[u8], source: String) {
        match parse_record(bytes, &source) {
            Ok((a, w)) => {
                self.loaded.push(Loaded::Kept(a));
                self.warnings.extend(w);
            }
            Err(Rejection::Withdrawn(a)) => self.loaded.push(Loaded::Withdrawn(*a)),
            Err(Rejection::Invalid(w)) => {
                self.loaded.push(Loaded::Invalid {
                    sha256: Sha256::digest(bytes).into(),
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
        let from_files = files
            .par_iter()
            .fold(Collected::new, |mut c, f| {
                read_json_file(f, &budget, &mut c);
                c
            })
            .reduce(Collected::new, |mut a, b| {
                a.absorb(b);
                a
            });
        collected.absorb(from_files);
        for z in &zips {
            collected.absorb(read_zip(z, &budget, files.len())?);
        }
        if budget.exceeded.load(AtomicOrdering::Relaxed) {
            return Err(DbError::TooLarge {
                path: path.to_path_buf(),
                limit: limits.max_total_bytes,
            });
        }
        let db = AdvisoryDb::assemble(collected);
        if db.advisories.is_empty() && db.withdrawn == 0 {
            return Err(DbError::Empty {
                path: path.to_path_buf(),
                warnings: db.warnings.len(),
            });
        }
        Ok(db)
    }

    /// Builds a database from records already in memory: `(source, bytes)` pairs, where
    /// `source` names the record in warnings. This is how the ledger rebuilds one from the
    /// records it stores, and how tests build small ones.
    pub fn from_records(records: Vec<(String, Vec<u8>)>) -> AdvisoryDb {
        let collected = records
            .into_par_iter()
            .fold(Collected::new, |mut c, (source, bytes)| {
                c.record(&bytes, source);
                c
            })
            .reduce(Collected::new, |mut a, b| {
                a.absorb(b);
                a
            });
        AdvisoryDb::assemble(collected)
    }

    fn assemble(mut c: Collected) -> AdvisoryDb {
        // Snapshot identity over everything read.
        let mut lines: Vec<String> = c
            .loaded
            .iter()
            .map(|l| match l {
                Loaded::Kept(a) | Loaded::Withdrawn(a) => {
                    format!(
                        "{}\t{}\t{}\n",
                        a.id,
                        a.modified,
                        hex::encode(a.record_sha256)
                    )
                }
                Loaded::Invalid { sha256 } => format!("\t\t{}\n", hex::encode(sha256)),
            })
            .collect();
        lines.par_sort_unstable();
        let mut h = Sha256::new();
        for l in &lines {
            h.update(l.as_bytes());
        }
        let digest = Digest::from_sha256_bytes(h.finalize().into());
        let last_modified = c
            .loaded
            .iter()
            .filter_map(|l| match l {
                Loaded::Kept(a) | Loaded::Withdrawn(a) => Some(a.modified),
                Loaded::Invalid { .. } => None,
            })
            .max();

        // One record per ID: the newest `modified`; on a tie the one still in force (a
        // withdrawal must be newer to win), then the lowest content hash for determinism.
        let mut candidates: Vec<(Advisory, bool)> = c
            .loaded
            .into_iter()
            .filter_map(|l| match l {
                Loaded::Kept(a) => Some((a, false)),
                Loaded::Withdrawn(a) => Some((a, true)),
                Loaded::Invalid { .. } => None,
            })
            .collect();
        candidates.par_sort_unstable_by(|(a, aw), (b, bw)| {
            a.id.cmp(&b.id)
                .then(b.modified.cmp(&a.modified))
                .then(aw.cmp(bw))
                .then(a.record_sha256.cmp(&b.record_sha256))
        });
        let mut advisories = Vec::with_capacity(candidates.len());
        let mut withdrawn = 0usize;
        let mut kept: Option<(String, Timestamp, bool)> = None;
        for (a, is_withdrawn) in candidates {
            if let Some((id, modified, kept_withdrawn)) = &kept {
                if *id == a.id {
                    c.warnings.push(Warning {
                        source: "database".to_owned(),
                        id: Some(a.id.clone()),
                        kind: WarningKind::DuplicateId,
                        message: format!(
                            "a record with this id modified {modified}{} takes precedence; this one (modified {}) is ignored",
                            if *kept_withdrawn { " (withdrawn)" } else { "" },
                            a.modified
                        ),
                    });
                    continue;
                }
            }
            kept = Some((a.id.clone(), a.modified, is_withdrawn));
            if is_withdrawn {
                withdrawn += 1;
                continue;
            }
            advisories.push(a);
        }
        let mut index: HashMap<PackageKey, Vec<(u32, u32)>> = HashMap::new();
        let mut by_id = HashMap::with_capacity(advisories.len());
        for (ai, a) in advisories.iter().enumerate() {
            by_id.insert(a.id.clone(), ai as u32);
            for (pi, p) in a.affected.iter().enumerate() {
                index
                    .entry(p.key.clone())
                    .or_default()
                    .push((ai as u32, pi as u32));
            }
        }
        c.warnings
            .sort_by(|a, b| a.source.cmp(&b.source).then(a.kind.cmp(&b.kind)));
        AdvisoryDb {
            snapshot: Snapshot {
                digest,
                last_modified,
                records: advisories.len(),
            },
            advisories,
            by_id,
            index,
            warnings: c.warnings,
            withdrawn,
        }
    }

    /// The database's identity.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Problems found while loading, one per bad record, entry or file.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// How many withdrawn records were read (and ignored).
    pub fn withdrawn(&self) -> usize {
        self.withdrawn
    }

    /// The advisories kept for matching, sorted by ID.
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// The advisory with this ID.
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.by_id.get(id).map(|i| &self.advisories[*i as usize])
    }

    /// The affected entries indexed under `key`, with their advisories: a hash lookup, not a
    /// pass over the database.
    pub fn candidates<'a>(
        &'a self,
        key: &PackageKey,
    ) -> impl Iterator<Item = (&'a Advisory, &'a AffectedPackage)> + 'a {
        self.index.get(key).into_iter().flatten().map(|(ai, pi)| {
            let a = &self.advisories[*ai as usize];
            (a, &a.affected[*pi as usize])
        })
    }

    /// Number of distinct package keys in the index.
    pub fn indexed_packages(&self) -> usize {
        self.index.len()
    }
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
                c.record(&bytes, source);
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

fn read_zip(path: &Path, budget: &Budget, already: usize) -> Result<Collected, DbError> {
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
    let bytes = fs::read(path).map_err(|e| DbError::Io {
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
    let collected = (0..archive.len())
        .into_par_iter()
        .fold(
            || (archive.clone(), Collected::new()),
            |(mut ar, mut c), i| {
                if !budget.exceeded.load(AtomicOrdering::Relaxed) {
                    read_zip_entry(&mut ar, i, &name, budget, &mut c);
                }
                (ar, c)
            },
        )
        .map(|(_, c)| c)
        .reduce(Collected::new, |mut a, b| {
            a.absorb(b);
            a
        });
    Ok(collected)
}

fn read_zip_entry(
    ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    archive: &str,
    budget: &Budget,
    c: &mut Collected,
) {
    let limit = budget.limits.max_record_bytes;
    let mut entry = match ar.by_index(i) {
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
    let name = match entry.name() {
        Ok(n) => n.into_owned(),
        Err(e) => {
            return c.warn(
                format!("{archive}!#{i}"),
                WarningKind::Unreadable,
                format!("entry name: {e}"),
            );
        }
    };
    let source = format!("{archive}!{name}");
    if !name.to_ascii_lowercase().ends_with(".json") {
        return c.warn(
            source,
            WarningKind::IgnoredFile,
            "archive entry is not a .json record".into(),
        );
    }
    if entry.size() > limit {
        return c.warn(source, WarningKind::TooLarge, format!("declares {} bytes uncompressed, more than the {limit}-byte record limit; skipped unread", entry.size()));
    }
    // The declared size is the archive's claim; the bounded read is the check.
    match read_bounded(&mut entry, limit) {
        Ok(Some(bytes)) => {
            if budget.take(bytes.len() as u64) {
                c.record(&bytes, source);
            }
        }
        Ok(None) => {
            budget.take(limit);
            c.warn(
                source,
                WarningKind::TooLarge,
                format!("expands past the {limit}-byte record limit; skipped"),
            );
        }
        Err(e) => c.warn(source, WarningKind::Unreadable, e.to_string()),
    }
}
