//! Building small OCI layouts in a temporary folder: layers from lists of entries.

use std::io::Write;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// One tar entry.
pub(crate) enum E<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Dir(&'a str),
}

pub(crate) fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        match e {
            E::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(0o755);
                h.set_cksum();
                b.append_data(&mut h, path, *data).unwrap();
            }
            E::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, path, target).unwrap();
            }
            E::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                h.set_cksum();
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn put(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let d = sha(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
    (d, bytes.len())
}

/// Writes an OCI layout of gzip layers (one per element, bottom first) into `dir`.
pub(crate) fn layout(dir: &Path, layers: &[Vec<u8>]) {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for t in layers {
        diff_ids.push(sha(t));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(t).unwrap();
        let (d, n) = put(dir, &gz.finish().unwrap());
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}));
    }
    let config = serde_json::json!({
        "created": "2026-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (cd, cn) = put(dir, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs,
    });
    let (md, mn) = put(dir, &serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "test"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A zip (JAR) with the given entries, deflated.
pub(crate) fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A minimal x86-64 ELF object with the given sections.
pub(crate) fn elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut obj = object::write::Object::new(
        object::BinaryFormat::Elf,
        object::Architecture::X86_64,
        object::Endianness::Little,
    );
    for (name, data) in sections {
        let id = obj.add_section(
            Vec::new(),
            name.as_bytes().to_vec(),
            object::SectionKind::ReadOnlyData,
        );
        obj.append_section_data(id, data, 16);
    }
    obj.write().unwrap()
}

pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Go ≥ 1.18 inline build info (`debug/buildinfo` format) for `version` and module text.
pub(crate) fn go_buildinfo(version: &str, modinfo: &str) -> Vec<u8> {
    let mut blob = b"\xff Go buildinf:".to_vec();
    blob.push(8);
    blob.push(2);
    blob.resize(32, 0);
    let mut framed = b"0123456789abcdef".to_vec();
    framed.extend_from_slice(modinfo.as_bytes());
    framed.extend_from_slice(b"\n123456789abcdef");
    for s in [version.as_bytes(), framed.as_slice()] {
        let mut n = s.len();
        while n >= 0x80 {
            blob.push((n as u8) | 0x80);
            n >>= 7;
        }
        blob.push(n as u8);
        blob.extend_from_slice(s);
    }
    blob
}
