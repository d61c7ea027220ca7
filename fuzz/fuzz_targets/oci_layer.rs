//! Arbitrary bytes as a layer blob through custody-oci's streaming reader (gzip/zstd/tar by
//! magic, limits small so bombs end quickly; ELF files taken as shared chunks), then applied
//! to an image view both ways (entry by entry, and the sorted build of a bottom layer), which
//! must agree, and resolved directly and through a resolver, which must agree too.
#![no_main]

use std::io::{Read, Seek, SeekFrom};

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
            // Taken as the chunks it arrived in, then read back from the end and the start.
            let mut shared = c.read_shared()?;
            let mut all = Vec::new();
            shared.seek(SeekFrom::End(-(shared.len().min(8) as i64)))?;
            shared.read_to_end(&mut all)?;
            all.clear();
            shared.seek(SeekFrom::Start(0))?;
            shared.read_to_end(&mut all)?;
            assert_eq!(all.len() as u64, shared.len());
            return Ok(Some(all));
        }
        if e.path.ends_with("status") {
            return Ok(Some(c.read_all()?));
        }
        Ok(None)
    };
    // Read twice (the reader is deterministic): applied entry by entry, and untracked, which
    // builds a bottom layer sorted when it can; both views must hold the same.
    let Ok((contents, _report)) = read_layer_blob(data, &limits, &mut visitor) else {
        return;
    };
    let (again, _) = read_layer_blob(data, &limits, &mut visitor).expect("read once, read twice");
    let paths: Vec<String> = contents.entries().iter().map(|e| e.entry.path.clone()).collect();
    let mut view = ImageView::new(limits.max_symlink_hops);
    let mut untracked = ImageView::new(limits.max_symlink_hops);
    let applied = view.apply(contents).is_ok();
    assert_eq!(applied, untracked.apply_untracked(again).is_ok());
    if applied {
        let held = |v: &ImageView<Vec<u8>>| -> Vec<_> {
            v.iter()
                .map(|(p, n)| (p.to_owned(), n.entry().clone(), n.hardlink_of().map(str::to_owned), n.payload().cloned()))
                .collect()
        };
        assert_eq!(held(&view), held(&untracked));
        assert_eq!(view.warnings(), untracked.warnings());
        let resolver = view.resolver();
        for p in paths.iter().take(64) {
            let direct = view.lookup(p).map(|o| o.map(|(c, n)| (c, n.payload().cloned())));
            let remembered = resolver.lookup(p).map(|o| o.map(|(c, n)| (c, n.payload().cloned())));
            assert_eq!(direct, remembered);
            let _ = view.get(p);
        }
    }
});
