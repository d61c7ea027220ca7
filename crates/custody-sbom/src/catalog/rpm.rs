//! RPM: the SQLite package database (`rpmdb.sqlite`, rpm ≥ 4.16: Fedora ≥ 33, RHEL ≥ 9,
//! openSUSE) read in memory with SQLite itself, and the RPM header blob of each row parsed
//! here (the format is rpm's `headerImport`: an index of typed entries over a data store).

use std::io::Cursor;

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::FileParse;
use crate::Limits;

/// One installed RPM package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpmRecord {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) release: String,
    pub(crate) epoch: Option<u32>,
    pub(crate) arch: String,
    pub(crate) license: Option<String>,
    /// The source RPM's file name (`openssl-3.0.7-27.el9.src.rpm`).
    pub(crate) source_rpm: Option<String>,
    pub(crate) vendor: Option<String>,
    pub(crate) fingerprint: u64,
}

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_VENDOR: u32 = 1011;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own ceilings (`lib/header.c`: `HEADER_TAGS_MAX`, `HEADER_DATA_MAX`).
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;

/// Reads every package of an `rpmdb.sqlite`. A database SQLite cannot open is one warning
/// and no packages; a header blob that does not parse is one warning for that row.
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> FileParse<Vec<RpmRecord>> {
    let mut warnings = Vec::new();
    match read_blobs(bytes, limits) {
        Ok(blobs) => {
            let mut records = Vec::with_capacity(blobs.len());
            for (hnum, blob) in blobs {
                match parse_header(&blob) {
                    Ok(Some(r)) => records.push(r),
                    Ok(None) => {} // gpg-pubkey pseudo-packages: keys, not software
                    Err(e) => warnings.push(format!("package row {hnum}: {e}")),
                }
            }
            FileParse::new(records, warnings)
        }
        Err(e) => {
            warnings.push(format!("rpm database could not be read: {e}"));
            FileParse::new(Vec::new(), warnings)
        }
    }
}

fn read_blobs(bytes: &[u8], limits: &Limits) -> Result<Vec<(i64, Vec<u8>)>, rusqlite::Error> {
    let mut image = bytes.to_vec();
    // rpm keeps the database in WAL mode (header bytes 18 and 19 = 2). SQLite's in-memory
    // VFS cannot do WAL, so read it as a rollback-journal database: the main file is what a
    // checkpointed rpmdb holds.
    if image.len() >= 20 && image[18] == 2 && image[19] == 2 {
        image[18] = 1;
        image[19] = 1;
    }
    let mut conn = Connection::open_with_flags(
        ":memory:",
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let len = image.len();
    conn.deserialize_read_exact(MAIN_DB, Cursor::new(image), len, true)?;
    let mut stmt = conn.prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
        if out.len() > limits.max_records {
            break;
        }
    }
    Ok(out)
}

/// Parses one header blob (as stored in the database: no lead, no magic).
pub(crate) fn parse_header(blob: &[u8]) -> Result<Option<RpmRecord>, String> {
    let be32 = |at: usize| -> Option<u32> {
        blob.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(il), Some(dl)) = (be32(0), be32(4)) else {
        return Err("header blob shorter than its 8-byte preamble".to_owned());
    };
    let (il, dl) = (il as usize, dl as usize);
    if il == 0 || il > MAX_TAGS || dl > MAX_DATA {
        return Err(format!("header blob claims {il} tags and {dl} data bytes"));
    }
    let data_start = 8 + il * 16;
    let Some(data) = blob.get(data_start..data_start + dl) else {
        return Err(format!(
            "header blob is {} bytes but its index says {}",
            blob.len(),
            data_start + dl
        ));
    };
    let mut r = RpmRecord {
        name: String::new(),
        version: String::new(),
        release: String::new(),
        epoch: None,
        arch: String::new(),
        license: None,
        source_rpm: None,
        vendor: None,
        fingerprint: super::fingerprint(blob),
    };
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(ty), Some(offset), Some(count)) =
            (be32(at), be32(at + 4), be32(at + 8), be32(at + 12))
        else {
            return Err("header index entry is truncated".to_owned());
        };
        let offset = offset as usize;
        let string = || -> Result<String, String> {
            if ty != TYPE_STRING && ty != TYPE_I18NSTRING {
                return Err(format!("tag {tag} has type {ty}, expected a string"));
            }
            let tail = data
                .get(offset..)
                .ok_or_else(|| format!("tag {tag} points past the data store"))?;
            let end = memchr::memchr(0, tail)
                .ok_or_else(|| format!("tag {tag} string is not terminated"))?;
            Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
        };
        match tag {
            TAG_NAME => r.name = string()?,
            TAG_VERSION => r.version = string()?,
            TAG_RELEASE => r.release = string()?,
            TAG_ARCH => r.arch = string()?,
            TAG_LICENSE => r.license = Some(string()?).filter(|s| !s.is_empty()),
            TAG_SOURCERPM => r.source_rpm = Some(string()?).filter(|s| !s.is_empty()),
            TAG_VENDOR => r.vendor = Some(string()?).filter(|s| !s.is_empty()),
            TAG_EPOCH => {
                if ty != TYPE_INT32 || count < 1 {
                    return Err(format!("epoch tag has type {ty}, expected int32"));
                }
                let b = data
                    .get(offset..offset + 4)
                    .ok_or_else(|| "epoch points past the data store".to_owned())?;
                r.epoch = Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            }
            _ => {}
        }
    }
    if r.name.is_empty() || r.version.is_empty() {
        return Err("header has no name or version".to_owned());
    }
    if r.name == "gpg-pubkey" {
        return Ok(None);
    }
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real rpm 4.18 database (sqlite backend) holding two packages built from
    /// `tests/fixtures/{hello,zlib}.spec` and installed with `rpm --justdb`.
    const RPMDB: &[u8] = include_bytes!("../../tests/fixtures/rpmdb.sqlite");

    #[test]
    fn reads_a_real_rpmdb_sqlite() {
        let parsed = parse(RPMDB, &Limits::default());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let got: Vec<_> = parsed
            .value
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.epoch,
                    r.version.as_str(),
                    r.release.as_str(),
                    r.arch.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("zlib-demo", None, "1.3", "1.el9", "x86_64"),
                ("custody-hello", Some(2), "1.2.3", "4.fc40", "x86_64")
            ]
        );
        assert_eq!(parsed.value[0].license.as_deref(), Some("zlib and Boost"));
        let hello = &parsed.value[1];
        assert_eq!(
            hello.license.as_deref(),
            Some("MIT AND (Apache-2.0 OR BSD-3-Clause)")
        );
        assert_eq!(
            hello.source_rpm.as_deref(),
            Some("custody-hello-1.2.3-4.fc40.src.rpm")
        );
        assert_eq!(hello.vendor.as_deref(), Some("custody tests"));
    }

    #[test]
    fn a_corrupt_database_is_one_warning() {
        for bad in [
            &b""[..],
            b"SQLite format 3\0garbage",
            &RPMDB[..RPMDB.len() / 3],
        ] {
            let parsed = parse(bad, &Limits::default());
            assert!(parsed.value.is_empty());
            assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
        }
    }

    #[test]
    fn hostile_header_blobs_are_errors_not_panics() {
        assert!(parse_header(b"").is_err());
        assert!(parse_header(&[0, 0, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(parse_header(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        // One NAME entry pointing past a 4-byte store.
        let mut blob = vec![0, 0, 0, 1, 0, 0, 0, 4];
        blob.extend_from_slice(&1000u32.to_be_bytes());
        blob.extend_from_slice(&6u32.to_be_bytes());
        blob.extend_from_slice(&9u32.to_be_bytes());
        blob.extend_from_slice(&1u32.to_be_bytes());
        blob.extend_from_slice(b"abcd");
        assert!(parse_header(&blob).is_err());
        // Unterminated string.
        blob[8 + 8..8 + 12].copy_from_slice(&0u32.to_be_bytes());
        assert!(parse_header(&blob).is_err());
        // Terminated, but no version.
        let last = blob.len() - 1;
        blob[last] = 0;
        assert!(
            parse_header(&blob)
                .unwrap_err()
                .contains("no name or version")
        );
    }
}
