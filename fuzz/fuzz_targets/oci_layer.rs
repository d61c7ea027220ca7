//! Arbitrary bytes as a layer blob through custody-oci's streaming reader (gzip/zstd/tar by
//! magic, limits small so bombs end quickly), then applied to an image view and resolved.
#![no_main]

use custody_oci::{Entry, EntryContent, ImageView, Limits, VisitError, read_layer_blob};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_layer_bytes: 4 << 20,
        max_image_bytes: 8 << 20,
        max_entries: 2_000,
        max_capture_bytes: 64 << 10,
        max_path_len: 1024,
        max_symlink_hops: 16,
        expansion_check_after: 1 << 20,
        ..Limits::default()
    };
    let mut visitor = |e: &Entry, c: &mut EntryContent<'_>| -> Result<Option<Vec<u8>>, VisitError> {
        if e.is_file() && c.peek(4)?.starts_with(b"\x7fELF") {
            return Ok(Some(c.read_all()?));
        }
        if e.path.ends_with("status") {
            return Ok(Some(c.read_all()?));
        }
        Ok(None)
    };
    if let Ok((contents, _report)) = read_layer_blob(data, &limits, &mut visitor) {
        let paths: Vec<String> = contents.entries().iter().map(|e| e.entry.path.clone()).collect();
        let mut view = ImageView::new(limits.max_symlink_hops);
        if view.apply(contents).is_ok() {
            for p in paths.iter().take(64) {
                let _ = view.lookup(p);
                let _ = view.get(p);
            }
        }
    }
});
