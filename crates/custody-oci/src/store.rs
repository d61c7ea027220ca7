//! Where blobs live: a layout directory on disk, or members of an uncompressed tar read in
//! place by offset (the tar is indexed once, never extracted).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use custody_types::{Digest, Sha256Hasher};

use crate::error::OciError;
use crate::limits::Limits;
use crate::path;

/// A byte range of a file holding one blob: a whole file of a layout directory, or one
/// member's data inside an archive.
#[derive(Debug, Clone)]
pub(crate) struct BlobLocation {
    pub(crate) file: PathBuf,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

impl BlobLocation {
    /// A fresh handle positioned at the blob and limited to its bytes, so concurrent readers
    /// never share a file offset.
    pub(crate) fn open(&self) -> Result<std::io::Take<File>, OciError> {
        let mut f = File::open(&self.file).map_err(|e| OciError::io(&self.file, e))?;
        if self.offset > 0 {
            f.seek(SeekFrom::Start(self.offset))
                .map_err(|e| OciError::io(&self.file, e))?;
        }
        Ok(f.take(self.len))
    }

    /// Reads the whole blob into memory, refusing blobs larger than `max`.
    pub(crate) fn read_small(&self, what: &str, max: u64) -> Result<Vec<u8>, OciError> {
        if self.len > max {
            return Err(OciError::Limit {
                what: format!("{what} ({} bytes)", self.len),
                limit: "max_metadata_bytes",
                max,
            });
        }
        let mut buf = Vec::with_capacity(self.len as usize);
        self.open()?
            .read_to_end(&mut buf)
            .map_err(|e| OciError::io(&self.file, e))?;
        Ok(buf)
    }

    /// The SHA-256 digest of the whole blob, streamed.
    pub(crate) fn sha256(&self) -> Result<Digest, OciError> {
        let mut h = Sha256Hasher::new();
        std::io::copy(&mut self.open()?, &mut h).map_err(|e| OciError::io(&self.file, e))?;
        Ok(h.finish())
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Member {
    File { offset: u64, size: u64 },
    Link { target: String, hard: bool },
    Dir,
    Other,
}

/// The container of an image's files.
#[derive(Debug)]
pub(crate) enum Store {
    /// A directory (OCI layout).
    Dir { root: PathBuf },
    /// An uncompressed tar archive, indexed by normalised member name.
    Tar {
        path: PathBuf,
        members: HashMap<String, Member>,
    },
}

impl Store {
    pub(crate) fn dir(root: &Path) -> Store {
        Store::Dir {
            root: root.to_path_buf(),
        }
    }

    /// Indexes an archive's members by reading only the headers (seeking over the data).
    pub(crate) fn index_tar(path: &Path, limits: &Limits) -> Result<Store, OciError> {
        let file = File::open(path).map_err(|e| OciError::io(path, e))?;
        let mut reader = BufReader::with_capacity(64 << 10, file);
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut reader, &mut magic).map_err(|e| OciError::io(path, e))?;
        if let Some(c) = crate::layer::sniff(&magic[..n])
            && c != crate::Compression::None
        {
            return Err(OciError::Archive {
                path: path.to_path_buf(),
                reason: format!(
                    "the archive is {c}-compressed; custody reads image archives in place, so decompress it first"
                ),
            });
        }
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| OciError::io(path, e))?;
        let bad = |reason: String| OciError::Archive {
            path: path.to_path_buf(),
            reason,
        };
        let mut archive = tar::Archive::new(reader);
        let mut members = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for (i, entry) in entries.enumerate() {
            if i as u64 >= limits.max_entries {
                return Err(OciError::Limit {
                    what: format!("archive {}", path.display()),
                    limit: "max_entries",
                    max: limits.max_entries,
                });
            }
            let entry = entry.map_err(|e| bad(format!("corrupt tar: {e}")))?;
            let raw = entry.path_bytes();
            let name = String::from_utf8_lossy(&raw);
            let name = path::normalize(&name)
                .map_err(|_| bad(format!("member {name:?} escapes the archive root")))?;
            let header = entry.header();
            let member = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Directory => Member::Dir,
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    Member::Link {
                        target,
                        hard: kind == tar::EntryType::Link,
                    }
                }
                _ => Member::Other,
            };
            // Later members replace earlier ones of the same name, as when extracting.
            members.insert(name, member);
        }
        Ok(Store::Tar {
            path: path.to_path_buf(),
            members,
        })
    }

    /// The file or archive this store reads.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Store::Dir { root } => root,
            Store::Tar { path, .. } => path,
        }
    }

    /// Whether a member or file of this name exists (after following archive links).
    pub(crate) fn exists(&self, name: &str) -> bool {
        matches!(self.locate(name), Ok(Some(_)))
    }

    /// Finds a file by its path inside the layout or archive. Archive symlinks and hard links
    /// (skopeo writes `<id>/layer.tar -> ../<diffid>.tar`) are followed inside the archive,
    /// never on the host; a name that would escape the root is refused.
    pub(crate) fn locate(&self, name: &str) -> Result<Option<BlobLocation>, OciError> {
        let norm = path::normalize(name).map_err(|_| {
            OciError::invalid(
                format!("{}", self.path().display()),
                format!("path {name:?} escapes the image root"),
            )
        })?;
        match self {
            Store::Dir { root } => {
                let file = root.join(&norm);
                match std::fs::metadata(&file) {
                    Ok(m) if m.is_file() => Ok(Some(BlobLocation {
                        file,
                        offset: 0,
                        len: m.len(),
                    })),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(OciError::io(file, e)),
                }
            }
            Store::Tar { path, members } => {
                let mut current = norm;
                for _ in 0..=40 {
                    match members.get(&current) {
                        Some(Member::File { offset, size }) => {
                            return Ok(Some(BlobLocation {
                                file: path.clone(),
                                offset: *offset,
                                len: *size,
                            }));
                        }
                        Some(Member::Link { target, hard }) => {
                            current = if *hard {
                                path::normalize(target).unwrap_or_default()
                            } else {
                                path::join_clamped(path::parent(&current), target)
                            };
                        }
                        Some(Member::Dir | Member::Other) | None => return Ok(None),
                    }
                }
                Err(OciError::Archive {
                    path: path.clone(),
                    reason: format!("member {name:?} is a chain of more than 40 links"),
                })
            }
        }
    }

    /// The location of a content-addressed blob, `blobs/<algorithm>/<hex>`. The digest was
    /// checked on parsing, so the name cannot contain `/` or `..`.
    pub(crate) fn blob(&self, digest: &Digest) -> Result<Option<BlobLocation>, OciError> {
        self.locate(&blob_name(digest))
    }
}

/// The layout-relative name of a blob.
pub(crate) fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
