//! The benchmark floor for `custody sbom`: read every layer of an image once, decompress it
//! and SHA-256 both the blob and the tar (the digest and DiffID checks any honest reader
//! must do), and nothing else. `scripts/bench-sbom` times it beside `custody sbom` on the
//! same image.
//!
//! Two schedules of the same work:
//! - by default one rayon task per layer, largest first, on one thread per core: the layers
//!   share the cores as well as they can, the stricter floor;
//! - with `--thread-per-layer`, one thread per layer, all started at once (the floor as the
//!   issue words it), which leaves the scheduling to the kernel.
//!
//! usage: cargo run --release -p custody-sbom --example floor -- [--thread-per-layer] IMAGE
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use custody_oci::{Image, ImageRef, LayerReport, OpenOptions};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let thread_per_layer = args.first().is_some_and(|a| a == "--thread-per-layer");
    if thread_per_layer {
        args.remove(0);
    }
    let [arg] = args.as_slice() else {
        eprintln!("usage: floor [--thread-per-layer] IMAGE");
        return ExitCode::from(2);
    };
    let result = arg
        .parse::<ImageRef>()
        .map_err(|e| e.to_string())
        .and_then(|r| Image::open(&r, &OpenOptions::default()).map_err(|e| e.to_string()))
        .and_then(|image| {
            if thread_per_layer {
                verify_thread_per_layer(&image)
            } else {
                image.verify_layers().map_err(|e| e.to_string())
            }
        });
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

/// Verifies every layer on a thread of its own, all at once.
fn verify_thread_per_layer(image: &Image) -> Result<Vec<LayerReport>, String> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..image.layers().len())
            .map(|i| scope.spawn(move || image.verify_layer(i)))
            .collect();
        threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(verified) => verified.map_err(|e| e.to_string()),
                Err(_) => Err("a layer's thread panicked".to_owned()),
            })
            .collect()
    })
}
