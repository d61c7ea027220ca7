//! Where an import's OSV records come from: a folder (searched recursively), one `.json`
//! record, an osv.dev zip export (`<ecosystem>/all.zip`), or a REST request body (one record,
//! an array of records, `{"records": [...]}`, or a zip export).
//!
//! The ledger keeps each record's bytes (custody-vuln parses them again whenever it
//! evaluates), so records are read here rather than through `custody_vuln::AdvisoryDb`, with
//! the same bounds: a file or entry over [`ReadLimits::max_record_bytes`] is skipped with a
//! warning naming it, more than [`ReadLimits::max_total_bytes`] read in all (a zip bomb: the
//! sizes an archive declares are not trusted, bytes are counted as they inflate) or more than
//! [`ReadLimits::max_entries`] files refuses the whole import before anything is written.

use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use custody_vuln::{Warning, WarningKind};

/// Bounds on what one import may make the ledger read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most files plus archive entries.
    pub max_entries: usize,
    /// Largest single record; a bigger one is skipped unread, with a warning.
    pub max_record_bytes: u64,
    /// Most bytes read in total (uncompressed); beyond it the import is refused.
    pub max_total_bytes: u64,
}

impl Default for ReadLimits {
    /// Room for osv.dev's largest per-ecosystem exports (Debian: ~60,000 records, a few
    /// hundred MB uncompressed): 1 million entries, 16 MiB per record, 4 GiB in total.
    fn default() -> Self {
        ReadLimits {
            max_entries: 1_000_000,
            max_record_bytes: 16 << 20,
            max_total_bytes: 4 << 30,
        }
    }
}

/// Why nothing could be imported.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file or folder could not be read.
    #[error("reading advisories {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A zip export's directory is unreadable.
    #[error("advisory export {name} is not a readable zip archive: {detail}")]
    Zip {
        /// The archive.
        name: String,
        /// What the zip reader said.
        detail: String,
    },
    /// More files or archive entries than allowed.
    #[error(
        "advisories {name} hold more than {limit} files or archive entries; refusing the import"
    )]
    TooManyEntries {
        /// The input.
        name: String,
        /// The limit.
        limit: usize,
    },
    /// More bytes than allowed.
    #[error(
        "advisories {name} expand to more than {limit} bytes (a zip bomb?); refusing the import"
    )]
    TooLarge {
        /// The input.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// Not a folder, `.json` or `.zip`.
    #[error("{0} is not a folder, a .json OSV record or a .zip export")]
    NotAdvisories(PathBuf),
    /// A JSON request body that is neither a record, an array of records nor `{"records"}`.
    #[error("request body: {0}")]
    Body(String),
}

/// One record's bytes and where they came from (a path, `archive.zip!entry.json`, or
/// `request[3]`).
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    pub source: String,
    pub bytes: Vec<u8>,
}

/// Records read, and the files or entries skipped.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub records: Vec<RawRecord>,
    pub warnings: Vec<Warning>,
}

struct Budget {
    limits: ReadLimits,
    used: u64,
    entries: usize,
    name: String,
}

impl Budget {
    fn entry(&mut self) -> Result<(), SourceError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(SourceError::TooManyEntries {
                name: self.name.clone(),
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn take(&mut self, n: u64) -> Result<(), SourceError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limits.max_total_bytes {
            return Err(SourceError::TooLarge {
                name: self.name.clone(),
                limit: self.limits.max_total_bytes,
            });
        }
        Ok(())
    }
}

fn warning(source: String, kind: WarningKind, message: String) -> Warning {
    Warning {
        source,
        id: None,
        kind,
        message,
    }
}

/// Reads at most `limit + 1` bytes; `None` when there were more than `limit`.
fn read_bounded(r: impl Read, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= limit).then_some(buf))
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Reads a folder, a `.json` record or a `.zip` export.
pub(crate) fn read_path(path: &Path, limits: ReadLimits) -> Result<Records, SourceError> {
    let io_err = |p: &Path, source| SourceError::Io {
        path: p.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    let mut budget = Budget {
        limits,
        used: 0,
        entries: 0,
        name: path.display().to_string(),
    };
    let mut out = Records::default();
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, &mut files, &mut out.warnings, &mut budget)?;
    } else if has_ext(path, "zip") || has_ext(path, "json") {
        files.push(path.to_path_buf());
    } else {
        return Err(SourceError::NotAdvisories(path.to_path_buf()));
    }
    for f in files {
        if has_ext(&f, "zip") {
            let len = fs::metadata(&f).map_err(|e| io_err(&f, e))?.len();
            budget.take(len)?;
            let bytes = fs::read(&f).map_err(|e| io_err(&f, e))?;
            read_zip(&bytes, &f.display().to_string(), &mut budget, &mut out)?;
            continue;
        }
        budget.entry()?;
        let source = f.display().to_string();
        let file = match fs::File::open(&f) {
            Ok(file) => file,
            Err(e) => {
                out.warnings
                    .push(warning(source, WarningKind::Unreadable, e.to_string()));
                continue;
            }
        };
        match read_bounded(file, limits.max_record_bytes) {
            Ok(Some(bytes)) => {
                budget.take(bytes.len() as u64)?;
                out.records.push(RawRecord { source, bytes });
            }
            Ok(None) => out.warnings.push(warning(
                source,
                WarningKind::TooLarge,
                format!(
                    "larger than {} bytes; skipped unread",
                    limits.max_record_bytes
                ),
            )),
            Err(e) => out
                .warnings
                .push(warning(source, WarningKind::Unreadable, e.to_string())),
        }
    }
    Ok(out)
}

/// Collects `*.json` and `*.zip` under `dir`, sorted, without following symlinked folders.
fn walk(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    warnings: &mut Vec<Warning>,
    budget: &mut Budget,
) -> Result<(), SourceError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|source| SourceError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            walk(&p, files, warnings, budget)?;
        } else if has_ext(&p, "json") || has_ext(&p, "zip") {
            if files.len() >= budget.limits.max_entries {
                return Err(SourceError::TooManyEntries {
                    name: budget.name.clone(),
                    limit: budget.limits.max_entries,
                });
            }
            files.push(p);
        } else if meta.is_file() {
            warnings.push(warning(
                p.display().to_string(),
                WarningKind::IgnoredFile,
                "not a .json record or a .zip export".into(),
            ));
        }
    }
    Ok(())
}

/// Reads every `.json` entry of a zip export, counting inflated bytes against the budget.
fn read_zip(
    bytes: &[u8],
    name: &str,
    budget: &mut Budget,
    out: &mut Records,
) -> Result<(), SourceError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| SourceError::Zip {
        name: name.to_owned(),
        detail: e.to_string(),
    })?;
    if archive.len().saturating_add(budget.entries) > budget.limits.max_entries {
        return Err(SourceError::TooManyEntries {
            name: name.to_owned(),
            limit: budget.limits.max_entries,
        });
    }
    // A bomb that declares what it expands to is refused before anything is inflated; one
    // that lies is caught by counting what actually comes out, below.
    let mut declared = 0u64;
    for i in 0..archive.len() {
        if let Ok(e) = archive.by_index_raw(i)
            && e.size() <= budget.limits.max_record_bytes
        {
            declared = declared.saturating_add(e.size());
        }
    }
    if budget.used.saturating_add(declared) > budget.limits.max_total_bytes {
        return Err(SourceError::TooLarge {
            name: name.to_owned(),
            limit: budget.limits.max_total_bytes,
        });
    }
    let limit = budget.limits.max_record_bytes;
    for i in 0..archive.len() {
        budget.entry()?;
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                out.warnings.push(warning(
                    format!("{name}!#{i}"),
                    WarningKind::Unreadable,
                    e.to_string(),
                ));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let source = match entry.name() {
            Ok(n) => format!("{name}!{n}"),
            Err(e) => {
                out.warnings.push(warning(
                    format!("{name}!#{i}"),
                    WarningKind::Unreadable,
                    format!("entry name: {e}"),
                ));
                continue;
            }
        };
        if !source.to_ascii_lowercase().ends_with(".json") {
            out.warnings.push(warning(
                source,
                WarningKind::IgnoredFile,
                "not a .json record".into(),
            ));
            continue;
        }
        // The declared size is a hint only; the bounded read below is what holds.
        if entry.size() > limit {
            out.warnings.push(warning(
                source,
                WarningKind::TooLarge,
                format!(
                    "declares {} bytes, more than {limit}; skipped unread",
                    entry.size()
                ),
            ));
            continue;
        }
        let remaining = budget.limits.max_total_bytes.saturating_sub(budget.used);
        let mut buf = Vec::new();
        let read = (&mut entry)
            .take(limit.min(remaining).saturating_add(1))
            .read_to_end(&mut buf);
        match read {
            Ok(_) => {
                budget.take(buf.len() as u64)?;
                if buf.len() as u64 > limit {
                    out.warnings.push(warning(
                        source,
                        WarningKind::TooLarge,
                        format!("expands past {limit} bytes; skipped"),
                    ));
                    continue;
                }
                out.records.push(RawRecord { source, bytes: buf });
            }
            Err(e) => out.warnings.push(warning(
                source,
                WarningKind::Unreadable,
                format!("inflating: {e}"),
            )),
        }
    }
    Ok(())
}

/// Reads a zip export sent as a request body.
pub(crate) fn read_zip_body(bytes: &[u8], limits: ReadLimits) -> Result<Records, SourceError> {
    let mut budget = Budget {
        limits,
        used: bytes.len() as u64,
        entries: 0,
        name: "request body".into(),
    };
    let mut out = Records::default();
    read_zip(bytes, "request", &mut budget, &mut out)?;
    Ok(out)
}

/// Reads a JSON request body: one OSV record (an object with `id`), an array of records, or
/// `{"records": [...]}`. Each record's bytes are its compact JSON (member order kept).
pub(crate) fn read_json_body(bytes: &[u8], limits: ReadLimits) -> Result<Records, SourceError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| SourceError::Body(e.to_string()))?;
    let items: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o) if !o.contains_key("id") && o.contains_key("records") => {
            match o.remove("records") {
                Some(serde_json::Value::Array(a)) => a,
                _ => return Err(SourceError::Body("\"records\" is not an array".into())),
            }
        }
        v @ serde_json::Value::Object(_) => vec![v],
        _ => {
            return Err(SourceError::Body(
                "expected an OSV record, an array of records or {\"records\": [...]}".into(),
            ));
        }
    };
    if items.len() > limits.max_entries {
        return Err(SourceError::TooManyEntries {
            name: "request body".into(),
            limit: limits.max_entries,
        });
    }
    let mut out = Records::default();
    for (i, v) in items.into_iter().enumerate() {
        let source = format!("request[{i}]");
        // Serializing a parsed value cannot fail (string keys only).
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        if bytes.len() as u64 > limits.max_record_bytes {
            out.warnings.push(warning(
                source,
                WarningKind::TooLarge,
                format!("larger than {} bytes; skipped", limits.max_record_bytes),
            ));
            continue;
        }
        out.records.push(RawRecord { source, bytes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(
                *name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_bomb_is_refused_whole() {
        // 16 MiB of zeros per entry deflates to ~16 KiB: eight of them are a 128 MiB bomb in
        // a 150 KiB archive, against a 50 MiB budget.
        let zeros = vec![0u8; 16 << 20];
        let entries: Vec<(String, &[u8])> = (0..8)
            .map(|i| (format!("r{i}.json"), zeros.as_slice()))
            .collect();
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let bytes = zip_of(&refs);
        assert!(bytes.len() < 1 << 20, "{}", bytes.len());
        let limits = ReadLimits {
            max_entries: 100,
            max_record_bytes: 32 << 20,
            max_total_bytes: 50 << 20,
        };
        let err = read_zip_body(&bytes, limits).unwrap_err();
        assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");
        // Under a per-record limit, each entry is skipped with a warning instead.
        let limits = ReadLimits {
            max_record_bytes: 1 << 20,
            ..ReadLimits::default()
        };
        let r = read_zip_body(&bytes, limits).unwrap();
        assert!(r.records.is_empty());
        assert_eq!(r.warnings.len(), 8);
        assert!(r.warnings.iter().all(|w| w.kind == WarningKind::TooLarge));
        assert!(r.warnings[0].source.starts_with("request!r0.json"));
    }

    #[test]
    fn json_bodies_take_three_shapes() {
        let one = br#"{"id":"A","modified":"2024-01-01T00:00:00Z"}"#;
        assert_eq!(
            read_json_body(one, ReadLimits::default())
                .unwrap()
                .records
                .len(),
            1
        );
        let arr = br#"[{"id":"A"},{"id":"B"}]"#;
        let r = read_json_body(arr, ReadLimits::default()).unwrap();
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[1].source, "request[1]");
        let obj = br#"{"records":[{"id":"A"}]}"#;
        assert_eq!(
            read_json_body(obj, ReadLimits::default())
                .unwrap()
                .records
                .len(),
            1
        );
        for bad in [&b"3"[..], b"{not json", br#"{"records": 3}"#] {
            assert!(read_json_body(bad, ReadLimits::default()).is_err());
        }
    }

    #[test]
    fn folders_are_walked_and_oversized_files_skipped_by_name() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/a.json"), b"{}").unwrap();
        fs::write(dir.path().join("big.json"), vec![b' '; 2048]).unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let limits = ReadLimits {
            max_record_bytes: 1024,
            ..ReadLimits::default()
        };
        let r = read_path(dir.path(), limits).unwrap();
        assert_eq!(r.records.len(), 1);
        assert!(r.records[0].source.ends_with("sub/a.json"));
        let kinds: Vec<WarningKind> = r.warnings.iter().map(|w| w.kind).collect();
        assert!(kinds.contains(&WarningKind::TooLarge));
        assert!(kinds.contains(&WarningKind::IgnoredFile));
        assert!(read_path(&dir.path().join("notes.txt"), limits).is_err());
        let limits = ReadLimits {
            max_entries: 0,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_path(dir.path(), limits),
            Err(SourceError::TooManyEntries { .. })
        ));
    }
}
