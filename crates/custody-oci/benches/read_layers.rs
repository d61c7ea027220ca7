//! Reading and verifying debian-py-node (4 gzip layers, 77 MB) beside the floor the issue
//! sets: decompress + SHA-256 of every layer, one thread per layer, nothing else.
//!
//! `CUSTODY_TESTDATA=../shared/testdata cargo bench -p custody-oci --bench read_layers`
//! (skips with one line when CUSTODY_TESTDATA is unset).
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Read;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group};
use custody_oci::{Entry, EntryContent, Image, ImageView, MetadataOnly, VisitError};
use custody_types::Sha256Hasher;

fn image_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CUSTODY_TESTDATA")?;
    let mut p = PathBuf::from(dir);
    if p.is_relative() {
        p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(p);
    }
    Some(p.join("images/debian-py-node/oci"))
}

/// The floor: per layer, one thread reading the blob, hashing it, gunzipping it and hashing
/// the tar. No tar parsing, no checks.
fn floor(dir: &std::path::Path, digests: &[String]) {
    std::thread::scope(|s| {
        for d in digests {
            s.spawn(move || {
                let f = std::fs::File::open(dir.join("blobs/sha256").join(d)).unwrap();
                struct Tee<R> {
                    inner: R,
                    h: Sha256Hasher,
                }
                impl<R: Read> Read for Tee<R> {
                    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                        let n = self.inner.read(buf)?;
                        self.h.update(&buf[..n]);
                        Ok(n)
                    }
                }
                let tee = Tee {
                    inner: f,
                    h: Sha256Hasher::new(),
                };
                let mut gz = flate2::bufread::MultiGzDecoder::new(
                    std::io::BufReader::with_capacity(256 << 10, tee),
                );
                let mut h = Sha256Hasher::new();
                let mut buf = vec![0u8; 256 << 10];
                loop {
                    let n = gz.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                std::hint::black_box((h.finish(), gz.into_inner().into_inner().h.finish()));
            });
        }
    });
}

fn bench(c: &mut Criterion) {
    let Some(dir) = image_dir() else {
        custody_testkit::skip("read_layers bench", "CUSTODY_TESTDATA is not set");
        return;
    };
    let image = Image::open_path(&dir).unwrap();
    let digests: Vec<String> = image
        .layers()
        .iter()
        .map(|l| l.digest().hex().to_owned())
        .collect();
    let mut g = c.benchmark_group("debian-py-node");
    g.sample_size(10);
    g.bench_function("floor: gunzip + sha256, thread per layer", |b| {
        b.iter(|| floor(&dir, &digests))
    });
    g.bench_function("verify_layers (digest, size, DiffID)", |b| {
        b.iter(|| image.verify_layers().unwrap())
    });
    g.bench_function("read_layers, metadata only", |b| {
        b.iter(|| image.read_layers(|_| MetadataOnly).unwrap())
    });
    g.bench_function("open + read_layers capturing metadata files + view", |b| {
        b.iter(|| {
            let image = Image::open_path(&dir).unwrap();
            let layers = image
                .read_layers(|_| {
                    |e: &Entry, c: &mut EntryContent<'_>| -> Result<Option<Vec<u8>>, VisitError> {
                        let wanted = e.path == "var/lib/dpkg/status"
                            || e.path.ends_with(".dist-info/METADATA")
                            || e.path.ends_with("/package.json");
                        if e.is_file() && wanted {
                            return Ok(Some(c.read_all()?));
                        }
                        Ok(None)
                    }
                })
                .unwrap();
            let mut view = ImageView::new(40);
            for l in layers {
                view.apply(l).unwrap();
            }
            view.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

/// `READ_LAYERS_CPU=floor|verify|read N` runs one variant N times without criterion, so
/// `/usr/bin/time` can compare CPU seconds (wall time is noisy on a shared 2-core machine).
fn main() {
    if let Ok(mode) = std::env::var("READ_LAYERS_CPU") {
        let n: usize = std::env::var("READ_LAYERS_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        let Some(dir) = image_dir() else {
            custody_testkit::skip("read_layers bench", "CUSTODY_TESTDATA is not set");
            return;
        };
        let image = Image::open_path(&dir).unwrap();
        let digests: Vec<String> = image
            .layers()
            .iter()
            .map(|l| l.digest().hex().to_owned())
            .collect();
        for _ in 0..n {
            match mode.as_str() {
                "floor" => floor(&dir, &digests),
                "verify" => {
                    image.verify_layers().unwrap();
                }
                _ => {
                    image.read_layers(|_| MetadataOnly).unwrap();
                }
            }
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
