//! The benchmark floor for `custody sbom`: read every layer of an image once, decompress it
//! and SHA-256 both the blob and the tar (the digest and DiffID checks any honest reader
//! must do), one rayon task per layer, and nothing else. `scripts/bench-sbom` times it
//! beside `custody sbom` on the same image.
//!
//! usage: cargo run --release -p custody-sbom --example floor -- IMAGE
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use custody_oci::{Image, ImageRef, OpenOptions};

fn main() -> ExitCode {
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: floor IMAGE");
        return ExitCode::from(2);
    };
    let result = arg
        .parse::<ImageRef>()
        .map_err(|e| e.to_string())
        .and_then(|r| Image::open(&r, &OpenOptions::default()).map_err(|e| e.to_string()))
        .and_then(|image| image.verify_layers().map_err(|e| e.to_string()));
    match result {
        Ok(reports) => {
            let bytes: u64 = reports.iter().map(|r| r.uncompressed_size).sum();
            println!(
                "{} layers, {bytes} bytes uncompressed, digests and DiffIDs verified",
                reports.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
