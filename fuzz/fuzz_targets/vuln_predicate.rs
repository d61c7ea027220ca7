//! The in-toto vulns v0.1 and OpenVEX readers on untrusted JSON (what a verifier reads from a
//! signed statement), and VEX applied to whatever reads: never a panic. The input is split at
//! the first NUL into a vulns predicate and a VEX document.
#![no_main]

use custody_types::Digest;
use custody_vuln::{VexDocument, VulnsPredicate, apply_vex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (scan, vex) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(scan) = serde_json::from_slice::<serde_json::Value>(scan) else {
        return;
    };
    let Ok(predicate) = VulnsPredicate::from_json(&scan) else {
        return;
    };
    let _ = (
        predicate.max_severity(),
        predicate.unevaluated_count(),
        predicate.scanned_at(),
        predicate.to_json(),
    );
    let statements = serde_json::from_slice::<serde_json::Value>(vex)
        .ok()
        .and_then(|v| VexDocument::from_json(&v).ok())
        .map(|d| d.effective_statements())
        .unwrap_or_default();
    let image = Digest::sha256_of(b"image");
    let applied = apply_vex(&predicate, Some(&image), &statements);
    let _ = (applied.max_severity(), applied.unknown_severity_remaining());
});
