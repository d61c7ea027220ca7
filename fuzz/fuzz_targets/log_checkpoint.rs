//! Checkpoint body parsing (custody-log): any text, parsed leniently (transparency-dev rules)
//! and strictly; a strictly parsed checkpoint must print back to the same text.
#![no_main]

use custody_log::{Checkpoint, CheckpointText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = CheckpointText::parse(text);
    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(cp.to_text(), text);
        let again = Checkpoint::with_extensions(cp.origin(), cp.size(), cp.root(), cp.extensions().to_vec());
        assert_eq!(again.ok(), Some(cp));
    }
});
