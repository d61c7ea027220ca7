//! An OCI layout built from the input: up to four NUL-separated parts become `index.json`, a
//! nested index or manifest, a manifest, and a config or layer. `@1`..`@3` in a part are
//! replaced by the digest of that later part (and `@s1`..`@s3` by its size) before it is
//! written, so the fuzzer can form valid descriptor chains and reach every parser behind
//! the digest checks: index walking, selection, manifest, config, layer reading.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use custody_oci::{Image, ImageRef, Limits, MetadataOnly, OpenOptions};
use custody_types::Digest;
use libfuzzer_sys::fuzz_target;

fn workdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("custody-fuzz-layout-{}", std::process::id()))
    })
}

fn substitute(part: &[u8], digests: &[(Digest, usize)]) -> Vec<u8> {
    let mut out = part.to_vec();
    for (i, (d, size)) in digests.iter().enumerate().rev() {
        let n = i + 1;
        out = replace(&out, format!("@s{n}").as_bytes(), size.to_string().as_bytes());
        out = replace(&out, format!("@{n}").as_bytes(), d.to_string().as_bytes());
    }
    out
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(4, |b| *b == 0).collect();
    let dir = workdir();
    let _ = std::fs::remove_dir_all(dir);
    let blobs = dir.join("blobs/sha256");
    if std::fs::create_dir_all(&blobs).is_err() {
        return;
    }
    // Write the parts last to first so earlier ones can name later ones.
    let mut written: Vec<(Digest, usize)> = Vec::new();
    for part in parts.iter().skip(1).rev() {
        let later: Vec<(Digest, usize)> = written.iter().rev().cloned().collect();
        let bytes = substitute(part, &later);
        let d = Digest::sha256_of(&bytes);
        let _ = std::fs::write(blobs.join(d.hex()), &bytes);
        written.push((d, bytes.len()));
    }
    let later: Vec<(Digest, usize)> = written.iter().rev().cloned().collect();
    let index = substitute(parts[0], &later);
    let _ = std::fs::write(dir.join("index.json"), index);
    let _ = std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let opts = OpenOptions {
        limits: Limits {
            max_layer_bytes: 4 << 20,
            max_image_bytes: 8 << 20,
            max_entries: 2_000,
            max_metadata_bytes: 1 << 20,
            ..Limits::default()
        },
        ..OpenOptions::default()
    };
    if let Ok(image) = Image::open(&ImageRef::path(dir), &opts) {
        let _ = image.config().user();
        let _ = image.verify_layers();
        for i in 0..image.layers().len() {
            let _ = image.read_layer(i, &mut MetadataOnly);
        }
    }
});
