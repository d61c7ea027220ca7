//! Builders for test images: tar streams with arbitrary (even hostile) headers, compressed
//! blobs, and OCI layouts whose descriptors can be made to lie.

use std::io::Write;
use std::path::{Path, PathBuf};

use custody_types::Digest;
use serde_json::json;

/// One tar entry to write, with its raw name bytes (so `../` and non-UTF-8 names are
/// possible, which `tar::Builder`'s checked setters refuse).
pub(crate) struct Spec {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub mode: u32,
    pub device: Option<(u32, u32)>,
}

pub(crate) fn file(name: &str, data: &[u8]) -> Spec {
    Spec {
        name: name.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        link: None,
        mode: 0o644,
        device: None,
    }
}

pub(crate) fn dir(name: &str) -> Spec {
    Spec {
        kind: tar::EntryType::Directory,
        mode: 0o755,
        ..file(name, b"")
    }
}

pub(crate) fn symlink(name: &str, target: &str) -> Spec {
    Spec {
        kind: tar::EntryType::Symlink,
        link: Some(target.as_bytes().to_vec()),
        mode: 0o777,
        ..file(name, b"")
    }
}

pub(crate) fn hardlink(name: &str, target: &str) -> Spec {
    Spec {
        kind: tar::EntryType::Link,
        link: Some(target.as_bytes().to_vec()),
        ..file(name, b"")
    }
}

pub(crate) fn device(name: &str, kind: tar::EntryType, major: u32, minor: u32) -> Spec {
    Spec {
        kind,
        device: Some((major, minor)),
        ..file(name, b"")
    }
}

/// A tar stream of `specs`. Names longer than 100 bytes get a GNU long-name entry.
pub(crate) fn tar(specs: &[Spec]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in specs {
        if s.name.len() > 99 {
            let mut h = tar::Header::new_gnu();
            h.as_mut_bytes()[..13].copy_from_slice(b"././@LongLink");
            h.set_entry_type(tar::EntryType::GNULongName);
            h.set_size(s.name.len() as u64 + 1);
            h.set_mode(0o644);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            let mut data = s.name.clone();
            data.push(0);
            pad_into(&mut out, &data);
        }
        let mut h = tar::Header::new_gnu();
        let n = s.name.len().min(99);
        h.as_mut_bytes()[..n].copy_from_slice(&s.name[..n]);
        h.set_entry_type(s.kind);
        h.set_size(s.data.len() as u64);
        h.set_mode(s.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        if let Some(link) = &s.link {
            h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link);
        }
        if let Some((major, minor)) = s.device {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        pad_into(&mut out, &s.data);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn pad_into(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    let rem = data.len() % 512;
    if rem != 0 {
        out.extend(std::iter::repeat_n(0u8, 512 - rem));
    }
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub(crate) fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

pub(crate) const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub(crate) const PLAIN: &str = "application/vnd.oci.image.layer.v1.tar";

/// A layer to put in a layout: the blob as stored, the media type, and the uncompressed tar
/// (for the DiffID). The descriptor fields can be overridden to lie.
pub(crate) struct LayerSpec {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub tar: Vec<u8>,
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub diff_id: Option<String>,
    pub store: bool,
}

pub(crate) fn layer(tar_bytes: Vec<u8>, media_type: &str) -> LayerSpec {
    let blob = match media_type {
        GZIP => gzip(&tar_bytes),
        ZSTD => zstd(&tar_bytes),
        _ => tar_bytes.clone(),
    };
    LayerSpec {
        blob,
        media_type: media_type.to_owned(),
        tar: tar_bytes,
        digest: None,
        size: None,
        diff_id: None,
        store: true,
    }
}

pub(crate) fn write_blob(dir: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::sha256_of(bytes);
    let p = dir.join("blobs/sha256");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join(d.hex()), bytes).unwrap();
    d
}

/// Writes an OCI layout of one image with `layers` into `dir` and returns the manifest
/// digest.
pub(crate) fn layout(dir: &Path, layers: &[LayerSpec]) -> Digest {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let d = if l.store {
            write_blob(dir, &l.blob)
        } else {
            Digest::sha256_of(&l.blob)
        };
        descs.push(json!({
            "mediaType": l.media_type,
            "digest": l.digest.clone().unwrap_or_else(|| d.to_string()),
            "size": l.size.unwrap_or(l.blob.len() as u64),
        }));
        diff_ids.push(
            l.diff_id
                .clone()
                .unwrap_or_else(|| Digest::sha256_of(&l.tar).to_string()),
        );
    }
    let config = json!({
        "created": "2026-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = write_blob(dir, &config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = write_blob(dir, &manifest_bytes);
    write_index(dir, &manifest_digest, manifest_bytes.len() as u64, "1.0");
    manifest_digest
}

pub(crate) fn write_index(dir: &Path, manifest: &Digest, size: u64, ref_name: &str) {
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest.to_string(),
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": ref_name},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Packs a directory into an uncompressed tar at `out` (an oci-archive), in sorted order.
pub(crate) fn tar_dir(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).unwrap();
    let mut b = tar::Builder::new(f);
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// Every file under `dir`, for checking that reading wrote nothing.
pub(crate) fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}
