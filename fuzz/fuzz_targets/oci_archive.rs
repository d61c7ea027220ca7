//! The input as an image archive file (oci-archive or docker save tar): archive indexing,
//! member links, `manifest.json` selection and manifest synthesis, then layer reading; and
//! the same bytes as an image reference string.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use custody_oci::{Image, ImageName, ImageRef, Limits, MetadataOnly, OpenOptions, Platform};
use libfuzzer_sys::fuzz_target;

fn workfile() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("custody-fuzz-archive-{}.tar", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if s.len() < 512 {
            let _ = s.parse::<ImageRef>().map(|r| r.to_string());
            let _ = s.parse::<ImageName>().map(|n| n.to_string());
            let _ = s.parse::<Platform>();
        }
    }
    let file = workfile();
    if std::fs::write(file, data).is_err() {
        return;
    }
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
    if let Ok(image) = Image::open(&ImageRef::path(file), &opts) {
        let _ = image.verify_layers();
        for i in 0..image.layers().len() {
            let _ = image.read_layer(i, &mut MetadataOnly);
        }
    }
});
