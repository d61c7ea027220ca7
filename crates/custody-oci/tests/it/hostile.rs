//! Hostile inputs, built here: each must give a clear error naming what is wrong (or, where
//! the input is legal but odd, a precise result), never a panic or hang, and write nothing.

use std::io::Write;

use custody_oci::{
    EntryContent, EntryKind, Image, ImageRef, ImageView, LayerContents, LayerError, Limits,
    MetadataOnly, OciError, OpenOptions, ResolveError, VisitError,
};
use custody_types::Digest;

use crate::support::*;

fn open(dir: &std::path::Path) -> Result<Image, OciError> {
    Image::open_path(dir)
}

fn open_with(dir: &std::path::Path, limits: Limits) -> Result<Image, OciError> {
    Image::open(
        &ImageRef::path(dir),
        &OpenOptions {
            limits,
            ..OpenOptions::default()
        },
    )
}

/// Reads layer 0 and returns its error, checking it names layer 0. (Tar-level problems are
/// not seen by `verify_layer`, which does not parse the tar; stream-level tests check it
/// separately with `verify0_fails`.)
fn layer0_error(image: &Image) -> LayerError {
    let err = image.read_layer(0, &mut MetadataOnly).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("layer 0 (sha256:"), "{msg}");
    match err {
        OciError::Layer {
            index: 0, source, ..
        } => source,
        other => panic!("expected a layer error, got {other}"),
    }
}

/// Checks that the digest-only verification fails on layer 0 as well.
fn verify0_fails(image: &Image) {
    let err = image.verify_layer(0).unwrap_err();
    assert!(err.to_string().starts_with("layer 0 (sha256:"), "{err}");
}

fn simple_tar() -> Vec<u8> {
    tar(&[dir("etc"), file("etc/hello", b"hello world\n")])
}

#[test]
fn truncated_gzip_is_a_decompression_error() {
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let t = tar(&[file("data", &big)]);
    let mut l = layer(t, GZIP);
    l.blob.truncate(l.blob.len() / 2);
    layout(tmp.path(), &[l]);
    let image = open(tmp.path()).unwrap();
    let e = layer0_error(&image);
    assert!(matches!(e, LayerError::Decompress { .. }), "{e}");
    assert!(e.to_string().contains("gzip"), "{e}");
    verify0_fails(&image);
}

#[test]
fn corrupt_gzip_is_a_decompression_error() {
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_be_bytes()).collect();
    let mut l = layer(tar(&[file("data", &big)]), GZIP);
    let mid = l.blob.len() / 2;
    for b in &mut l.blob[mid..mid + 64] {
        *b ^= 0x5a;
    }
    layout(tmp.path(), &[l]);
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(
        matches!(
            e,
            LayerError::Decompress { .. } | LayerError::DiffIdMismatch { .. }
        ),
        "{e}"
    );
}

#[test]
fn corrupt_zstd_is_a_decompression_error() {
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..100_000u32)
        .flat_map(|i| (i * 7).to_be_bytes())
        .collect();
    let mut l = layer(tar(&[file("data", &big)]), ZSTD);
    let mid = l.blob.len() / 2;
    for b in &mut l.blob[mid..mid + 64] {
        *b ^= 0xa5;
    }
    layout(tmp.path(), &[l]);
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(
        matches!(
            e,
            LayerError::Decompress { .. } | LayerError::DiffIdMismatch { .. }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("zstd") || e.to_string().contains("diff_id"),
        "{e}"
    );
}

#[test]
fn corrupt_tar_is_a_tar_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = simple_tar();
    t[148..156].copy_from_slice(b"9999999\0"); // break the header checksum
    layout(tmp.path(), &[layer(t, GZIP)]);
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(matches!(e, LayerError::Tar(_)), "{e}");
    assert!(e.to_string().starts_with("corrupt tar stream"), "{e}");
}

#[test]
fn blob_digest_mismatch_names_both_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(simple_tar(), GZIP);
    // The blob is stored under the digest the descriptor names, but its bytes differ.
    let wrong = gzip(&tar(&[file("other", b"x")]));
    let claimed = Digest::sha256_of(&l.blob);
    l.blob = wrong.clone();
    l.store = false;
    l.digest = Some(claimed.to_string());
    l.size = Some(wrong.len() as u64);
    layout(tmp.path(), &[l]);
    std::fs::write(tmp.path().join("blobs/sha256").join(claimed.hex()), &wrong).unwrap();
    let image = open(tmp.path()).unwrap();
    verify0_fails(&image);
    let e = layer0_error(&image);
    match e {
        LayerError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::sha256_of(&wrong));
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
}

#[test]
fn diff_id_mismatch_is_reported_after_streaming() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(simple_tar(), GZIP);
    let fake = Digest::sha256_of(b"not the tar");
    l.diff_id = Some(fake.to_string());
    layout(tmp.path(), &[l]);
    let image = open(tmp.path()).unwrap();
    verify0_fails(&image);
    let e = layer0_error(&image);
    match e {
        LayerError::DiffIdMismatch { expected, actual } => {
            assert_eq!(expected, fake);
            assert_eq!(actual, Digest::sha256_of(&simple_tar()));
        }
        other => panic!("expected a diff_id mismatch, got {other}"),
    }
}

#[test]
fn size_mismatch_either_way() {
    for delta in [-1i64, 1] {
        let tmp = tempfile::tempdir().unwrap();
        let mut l = layer(simple_tar(), GZIP);
        l.size = Some((l.blob.len() as i64 + delta) as u64);
        layout(tmp.path(), &[l]);
        let image = open(tmp.path()).unwrap();
        verify0_fails(&image);
        let e = layer0_error(&image);
        assert!(matches!(e, LayerError::SizeMismatch { .. }), "{delta}: {e}");
    }
}

#[test]
fn manifest_pointing_at_a_missing_blob_fails_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(simple_tar(), GZIP);
    l.store = false;
    layout(tmp.path(), &[l]);
    let err = open(tmp.path()).unwrap_err();
    assert!(matches!(err, OciError::MissingBlob { .. }), "{err}");
    assert!(err.to_string().contains("layer 0"), "{err}");
    // A missing config too.
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), &[layer(simple_tar(), GZIP)]);
    let image = open(tmp.path()).unwrap();
    std::fs::remove_file(
        tmp.path()
            .join("blobs/sha256")
            .join(image.config_digest().hex()),
    )
    .unwrap();
    let err = open(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("config"), "{err}");
}

#[test]
fn index_cycles_and_deep_nesting_are_refused() {
    // An index whose stored bytes name themselves: the bytes cannot hash to the name, so the
    // cycle is caught as a digest mismatch before it is ever walked.
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), &[layer(simple_tar(), GZIP)]);
    let fake = Digest::sha256_of(b"cycle");
    let body = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{fake}","size":SIZE}}]}}"#
    );
    let size = body.len() + body.len().to_string().len() - 4;
    let body = body.replace("SIZE", &size.to_string());
    assert_eq!(body.len(), size);
    std::fs::write(tmp.path().join("blobs/sha256").join(fake.hex()), &body).unwrap();
    std::fs::write(tmp.path().join("index.json"), &body).unwrap();
    let err = open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            OciError::DigestMismatch { .. } | OciError::IndexCycle { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&fake.to_string()), "{err}");

    // A genuine chain of nested indexes deeper than the limit.
    let tmp = tempfile::tempdir().unwrap();
    let manifest = layout(tmp.path(), &[layer(simple_tar(), GZIP)]);
    let msize = std::fs::metadata(tmp.path().join("blobs/sha256").join(manifest.hex()))
        .unwrap()
        .len();
    let (mut digest, mut size, mut mt) = (
        manifest,
        msize,
        "application/vnd.oci.image.manifest.v1+json",
    );
    for _ in 0..12 {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{mt}","digest":"{digest}","size":{size}}}]}}"#
        );
        digest = write_blob(tmp.path(), body.as_bytes());
        size = body.len() as u64;
        mt = "application/vnd.oci.image.index.v1+json";
    }
    let top = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{mt}","digest":"{digest}","size":{size}}}]}}"#
    );
    std::fs::write(tmp.path().join("index.json"), top).unwrap();
    let err = open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            OciError::Limit {
                limit: "max_index_depth",
                ..
            }
        ),
        "{err}"
    );
    // With a higher limit the same chain opens.
    let limits = Limits {
        max_index_depth: 16,
        ..Limits::default()
    };
    open_with(tmp.path(), limits).unwrap();
}

#[test]
fn dotdot_paths_are_refused_and_absolute_paths_rerooted() {
    let tmp = tempfile::tempdir().unwrap();
    layout(
        tmp.path(),
        &[layer(tar(&[file("../../etc/evil", b"x")]), GZIP)],
    );
    let before = listing(tmp.path());
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(matches!(e, LayerError::PathEscapes { .. }), "{e}");
    assert!(e.to_string().contains("../../etc/evil"), "{e}");
    assert_eq!(listing(tmp.path()), before, "reading wrote files");

    let tmp = tempfile::tempdir().unwrap();
    layout(
        tmp.path(),
        &[layer(
            tar(&[file("a", b"x"), hardlink("b", "../../a")]),
            GZIP,
        )],
    );
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(matches!(e, LayerError::PathEscapes { .. }), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    layout(
        tmp.path(),
        &[layer(
            tar(&[file("/etc/abs", b"x"), file("./rel/./x", b"y")]),
            GZIP,
        )],
    );
    let contents = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    let paths: Vec<&str> = contents
        .entries()
        .iter()
        .map(|e| e.entry.path.as_str())
        .collect();
    assert_eq!(paths, ["etc/abs", "rel/x"]);
}

#[test]
fn symlink_loops_error_and_escapes_stay_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tar(&[
        symlink("loop-a", "loop-b"),
        symlink("loop-b", "/loop-a"),
        dir("etc"),
        file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        dir("deep"),
        dir("deep/er"),
        symlink("deep/er/escape", "../../../../../../etc/passwd"),
        symlink("abs", "/etc/passwd"),
        // An entry below a looping directory symlink: placed literally, with a warning.
        file("loop-a/inside", b"z"),
    ]);
    layout(tmp.path(), &[layer(t, GZIP)]);
    let before = listing(tmp.path());
    let image = open(tmp.path()).unwrap();
    let mut view = ImageView::new(image.limits().max_symlink_hops);
    view.apply(image.read_layer(0, &mut MetadataOnly).unwrap())
        .unwrap();
    assert!(matches!(
        view.resolve("loop-a/x"),
        Err(ResolveError::TooManySymlinks { max: 40, .. })
    ));
    assert!(view.lookup("/loop-b").is_err());
    let (p, _) = view.lookup("deep/er/escape").unwrap().unwrap();
    assert_eq!(p, "etc/passwd");
    let (p, _) = view.lookup("/abs").unwrap().unwrap();
    assert_eq!(p, "etc/passwd");
    assert!(
        view.warnings()
            .iter()
            .any(|w| w.message.contains("more than 40 symlinks"))
    );
    assert_eq!(listing(tmp.path()), before, "reading wrote files");
}

#[test]
fn devices_and_fifos_are_entry_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tar(&[
        device("dev/null", tar::EntryType::Char, 1, 3),
        device("dev/sda", tar::EntryType::Block, 8, 0),
        device("run/pipe", tar::EntryType::Fifo, 0, 0),
    ]);
    layout(tmp.path(), &[layer(t, GZIP)]);
    let contents = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    let kinds: Vec<&EntryKind> = contents.entries().iter().map(|e| &e.entry.kind).collect();
    assert_eq!(
        kinds,
        [
            &EntryKind::CharDevice { major: 1, minor: 3 },
            &EntryKind::BlockDevice { major: 8, minor: 0 },
            &EntryKind::Fifo
        ]
    );
}

/// A tar of one file of `n` zero bytes, gzip-compressed as it is written (never held whole).
fn gzip_zeros(n: u64) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(n);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    e.write_all(h.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        e.write_all(&chunk[..k]).unwrap();
        left -= k as u64;
    }
    e.write_all(&[0u8; 1024]).unwrap();
    e.finish().unwrap()
}

#[test]
fn decompression_bomb_hits_the_layer_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = gzip_zeros(64 << 20);
    assert!(blob.len() < 200_000, "{}", blob.len());
    let mut l = layer(Vec::new(), GZIP);
    l.blob = blob;
    l.diff_id = Some(Digest::sha256_of(b"unknown").to_string());
    layout(tmp.path(), &[l]);
    let limits = Limits {
        max_layer_bytes: 16 << 20,
        ..Limits::default()
    };
    let image = open_with(tmp.path(), limits).unwrap();
    verify0_fails(&image);
    let e = layer0_error(&image);
    match &e {
        LayerError::Limit { limit, max, .. } => {
            assert_eq!(*limit, "max_layer_bytes");
            assert_eq!(*max, 16 << 20);
        }
        other => panic!("expected a limit error, got {other}"),
    }
    // The default expansion-ratio check catches the same bomb without any tuning.
    let limits = Limits {
        expansion_check_after: 8 << 20,
        ..Limits::default()
    };
    let e = layer0_error(&open_with(tmp.path(), limits).unwrap());
    assert!(
        matches!(
            e,
            LayerError::Limit {
                limit: "max_expansion_ratio",
                ..
            }
        ),
        "{e}"
    );
    // And the per-image total.
    let limits = Limits {
        max_image_bytes: 4 << 20,
        ..Limits::default()
    };
    let e = layer0_error(&open_with(tmp.path(), limits).unwrap());
    assert!(
        matches!(
            e,
            LayerError::Limit {
                limit: "max_image_bytes",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn too_many_entries_and_too_long_paths_hit_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let specs: Vec<Spec> = (0..50).map(|i| file(&format!("f{i}"), b"")).collect();
    layout(tmp.path(), &[layer(tar(&specs), GZIP)]);
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let e = layer0_error(&open_with(tmp.path(), limits).unwrap());
    assert!(
        matches!(
            e,
            LayerError::Limit {
                limit: "max_entries",
                ..
            }
        ),
        "{e}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let long = "d/".repeat(2100) + "f";
    layout(tmp.path(), &[layer(tar(&[file(&long, b"x")]), GZIP)]);
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(
        matches!(
            e,
            LayerError::Limit {
                limit: "max_path_len",
                ..
            }
        ),
        "{e}"
    );
    // GNU long names below the limit are read in full.
    let tmp = tempfile::tempdir().unwrap();
    let long = "d/".repeat(200) + "f";
    layout(tmp.path(), &[layer(tar(&[file(&long, b"x")]), GZIP)]);
    let c = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    assert_eq!(c.entries()[0].entry.path, long);
}

#[test]
fn capture_limit_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    layout(
        tmp.path(),
        &[layer(tar(&[file("big", &[7u8; 4096])]), GZIP)],
    );
    let limits = Limits {
        max_capture_bytes: 1024,
        ..Limits::default()
    };
    let image = open_with(tmp.path(), limits).unwrap();
    let mut visitor = |_: &custody_oci::Entry,
                       c: &mut EntryContent<'_>|
     -> Result<Option<Vec<u8>>, VisitError> { Ok(Some(c.read_all()?)) };
    let err = image.read_layer(0, &mut visitor).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("\"big\"") && msg.contains("max_capture_bytes"),
        "{msg}"
    );
}

#[test]
fn non_utf8_names_are_decoded_lossily_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = file("x", b"data");
    s.name = b"caf\xe9".to_vec();
    layout(tmp.path(), &[layer(tar(&[s]), GZIP)]);
    let c = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    assert_eq!(c.entries()[0].entry.path, "caf\u{fffd}");
    let w = c
        .warnings()
        .iter()
        .find(|w| w.message.contains("not UTF-8"))
        .unwrap();
    assert!(w.to_string().contains("caf\\xe9"), "{w}");
}

#[test]
fn blob_names_cannot_escape_the_layout() {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), &[layer(simple_tar(), GZIP)]);
    let index = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":10}]}"#;
    std::fs::write(tmp.path().join("index.json"), index).unwrap();
    let err = open(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("index.json"), "{err}");

    // A docker archive whose manifest.json points outside the archive.
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("evil.tar");
    let manifest = br#"[{"Config":"../../etc/passwd","RepoTags":["evil:1"],"Layers":["../../../etc/shadow"]}]"#;
    let t = tar(&[file("manifest.json", manifest)]);
    std::fs::write(&archive, t).unwrap();
    let err = Image::open_path(&archive).unwrap_err();
    assert!(err.to_string().contains("escapes"), "{err}");
}

#[test]
fn overlong_blob_and_mislabelled_compression() {
    // The blob on disk has an extra byte after the gzip stream: a size mismatch.
    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(simple_tar(), GZIP);
    let claimed = Digest::sha256_of(&l.blob);
    l.size = Some(l.blob.len() as u64);
    l.digest = Some(claimed.to_string());
    l.blob.push(0);
    l.store = false;
    let stored = l.blob.clone();
    layout(tmp.path(), &[l]);
    std::fs::write(tmp.path().join("blobs/sha256").join(claimed.hex()), &stored).unwrap();
    let e = layer0_error(&open(tmp.path()).unwrap());
    assert!(matches!(e, LayerError::SizeMismatch { .. }), "{e}");

    // zstd bytes labelled gzip: decoded by magic, with a warning.
    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(simple_tar(), ZSTD);
    l.media_type = GZIP.to_owned();
    layout(tmp.path(), &[l]);
    let c = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    assert_eq!(c.entries().len(), 2);
    assert!(
        c.warnings()[0]
            .message
            .contains("declares gzip but the blob is zstd")
    );
}

#[test]
fn unsupported_layer_media_type_is_refused_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(simple_tar(), GZIP);
    l.media_type = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted".to_owned();
    layout(tmp.path(), &[l]);
    let err = open(tmp.path()).unwrap_err();
    assert!(
        err.to_string().contains("unsupported layer media type"),
        "{err}"
    );
}

#[test]
fn compressed_outer_archive_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("img.tar.gz");
    std::fs::write(&p, gzip(&tar(&[file("index.json", b"{}")]))).unwrap();
    let err = Image::open_path(&p).unwrap_err();
    assert!(err.to_string().contains("decompress it first"), "{err}");
    let p = tmp.path().join("random.bin");
    std::fs::write(&p, [b'x'; 3000]).unwrap();
    assert!(Image::open_path(&p).is_err());
}

#[test]
fn plain_tar_layers_hash_once_and_gzip_labelled_plain_is_sniffed() {
    let tmp = tempfile::tempdir().unwrap();
    let t = simple_tar();
    layout(tmp.path(), &[layer(t.clone(), PLAIN)]);
    let image = open(tmp.path()).unwrap();
    let report = image.verify_layer(0).unwrap();
    assert_eq!(report.digest, report.diff_id.0);
    assert_eq!(report.uncompressed_size, t.len() as u64);

    let tmp = tempfile::tempdir().unwrap();
    let mut l = layer(t, GZIP);
    l.media_type = PLAIN.to_owned();
    layout(tmp.path(), &[l]);
    let c = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    assert!(
        c.warnings()[0]
            .message
            .contains("declares uncompressed but the blob is gzip")
    );
}

/// Every entry's payload (each entry must have one), in tar order.
fn payloads(contents: &LayerContents<Vec<u8>>) -> Vec<&[u8]> {
    contents
        .entries()
        .iter()
        .map(|e| e.payload.as_deref().unwrap().as_slice())
        .collect()
}

/// `t` as the one layer of an image in each compression, read with `visitor`: each
/// compression beside what the layer read gave.
fn read_in_each_compression(
    t: &[u8],
    mut visitor: impl FnMut(
        &custody_oci::Entry,
        &mut EntryContent<'_>,
    ) -> Result<Option<Vec<u8>>, VisitError>,
) -> Vec<(&'static str, LayerContents<Vec<u8>>)> {
    [PLAIN, GZIP, ZSTD]
        .into_iter()
        .map(|compression| {
            let tmp = tempfile::tempdir().unwrap();
            layout(tmp.path(), &[layer(t.to_vec(), compression)]);
            let image = open(tmp.path()).unwrap();
            (compression, image.read_layer(0, &mut visitor).unwrap())
        })
        .collect()
}

#[test]
fn peek_then_read_all_returns_the_whole_file_and_partial_reads_do_not_desync() {
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let t = tar(&[
        file("a", &big),
        file("b", b"\x7fELF rest of b"),
        file("c", b"after partial read"),
    ]);
    layout(tmp.path(), &[layer(t, ZSTD)]);
    let image = open(tmp.path()).unwrap();
    let mut visitor =
        |e: &custody_oci::Entry, c: &mut EntryContent<'_>| -> Result<Option<Vec<u8>>, VisitError> {
            match e.path.as_str() {
                "a" => {
                    // Read a little and stop: the reader must skip the rest itself.
                    let mut buf = [0u8; 1000];
                    std::io::Read::read_exact(c, &mut buf)?;
                    Ok(Some(buf.to_vec()))
                }
                "b" => {
                    assert_eq!(c.peek(4)?, b"\x7fELF");
                    assert_eq!(c.peek(100)?.len(), 14);
                    Ok(Some(c.read_all()?))
                }
                _ => Ok(Some(c.read_all()?)),
            }
        };
    let contents = image.read_layer(0, &mut visitor).unwrap();
    let p = payloads(&contents);
    assert_eq!(p[0], &big[..1000]);
    assert_eq!(p[1], b"\x7fELF rest of b");
    assert_eq!(p[2], b"after partial read");
}

#[test]
fn shared_reads_return_files_across_chunks_and_keep_the_stream_in_step() {
    use std::io::{Read, Seek, SeekFrom};
    // Larger than several decoded chunks, so the file spans chunk boundaries.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let t = tar(&[
        file("a", &big),
        file("b", b"\x7fELF then the rest of b"),
        file("c", b"read the ordinary way"),
        file("d", &big[..5000]),
    ]);
    let read = read_in_each_compression(&t, |e, c| {
        match e.path.as_str() {
            "a" => {
                let mut shared = c.read_shared()?;
                assert_eq!(shared.len(), big.len() as u64);
                // Random access, as an ELF parser reads: the end, then the middle.
                let mut tail = [0u8; 10];
                shared.seek(SeekFrom::End(-10))?;
                shared.read_exact(&mut tail)?;
                assert_eq!(tail, big[big.len() - 10..]);
                shared.seek(SeekFrom::Start(1_048_570))?;
                let mut mid = [0u8; 20];
                shared.read_exact(&mut mid)?;
                assert_eq!(mid, big[1_048_570..1_048_590]);
                // Nothing more comes through the ordinary reader once taken, nor a
                // second time.
                assert_eq!(c.read(&mut [0u8; 8])?, 0);
                assert!(c.read_shared().is_err());
                let mut all = Vec::new();
                shared.seek(SeekFrom::Start(0))?;
                shared.read_to_end(&mut all)?;
                Ok(Some(all))
            }
            "b" | "d" => {
                assert!(c.peek(4)?.len() == 4);
                let mut all = Vec::new();
                c.read_shared()?.read_to_end(&mut all)?;
                Ok(Some(all))
            }
            _ => Ok(Some(c.read_all()?)),
        }
    });
    for (compression, contents) in read {
        let p = payloads(&contents);
        assert_eq!(p.len(), 4, "{compression}");
        assert_eq!(p[0], big.as_slice());
        assert_eq!(p[1], b"\x7fELF then the rest of b");
        assert_eq!(p[2], b"read the ordinary way");
        assert_eq!(p[3], &big[..5000]);
    }
}

#[test]
fn a_peeked_file_in_one_chunk_is_one_slice_and_one_across_chunks_reads_whole() {
    use std::io::Read;
    // Decoded chunks are 512 KiB. `across` starts 512 bytes before the first boundary, so
    // its peeked magic is in the first chunk and the rest in the second; `at` starts on the
    // second boundary, so the peek itself moves to a fresh chunk; `inside` is well inside one.
    const CHUNK: usize = 512 << 10;
    let elf = |len: usize| -> Vec<u8> {
        let mut v = b"\x7fELF".to_vec();
        v.extend((4..len).map(|i| (i % 251) as u8));
        v
    };
    // A header is 512 bytes; a file's data is padded to a multiple of 512.
    let pad1 = CHUNK - 512 - 512 - 512;
    let across = elf(2000);
    let used = 512 + pad1 + 512 + 2048;
    let pad2 = 2 * CHUNK - used - 512 - 512;
    let at = elf(3000);
    let inside = elf(700);
    let t = tar(&[
        file("pad1", &vec![0u8; pad1]),
        file("across", &across),
        file("pad2", &vec![0u8; pad2]),
        file("at", &at),
        file("inside", &inside),
        // Peeked whole: nothing is left to take from the stream.
        file("tiny", b"\x7fELF"),
    ]);
    let read = read_in_each_compression(&t, |e, c| {
        if e.path.starts_with("pad") {
            return Ok(None);
        }
        assert_eq!(c.peek(4)?, b"\x7fELF");
        let mut shared = c.read_shared()?;
        let one_slice = shared.as_slice().map(<[u8]>::to_vec);
        assert_eq!(one_slice.is_some(), e.path != "across", "{}", e.path);
        let mut all = Vec::new();
        shared.read_to_end(&mut all)?;
        if let Some(slice) = one_slice {
            assert_eq!(slice, all, "{}", e.path);
        }
        Ok(Some(all))
    });
    for (compression, contents) in read {
        let p = payloads_of_files(&contents);
        assert_eq!(
            p,
            [&across[..], &at[..], &inside[..], b"\x7fELF"],
            "{compression}"
        );
    }
}

#[test]
fn a_shared_read_is_bounded_like_a_capture_and_a_truncated_layer_fails_cleanly() {
    let big = vec![7u8; 200_000];
    let t = tar(&[file("a", &big), file("b", b"b")]);
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), &[layer(t.clone(), PLAIN)]);
    let limits = Limits {
        max_capture_bytes: 1000,
        ..Limits::default()
    };
    let image = open_with(tmp.path(), limits).unwrap();
    let mut visitor =
        |_: &custody_oci::Entry, c: &mut EntryContent<'_>| -> Result<Option<()>, VisitError> {
            c.read_shared()?;
            Ok(None)
        };
    let err = image.read_layer(0, &mut visitor).unwrap_err().to_string();
    assert!(err.contains("max_capture_bytes"), "{err}");

    // A plain layer cut inside the file: an error, not a panic.
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), &[layer(t[..100_000].to_vec(), PLAIN)]);
    let image = open(tmp.path()).unwrap();
    assert!(image.read_layer(0, &mut visitor).is_err());
}

#[test]
fn pax_headers_override_ids_and_times() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("big-ids").unwrap();
    h.set_size(1);
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    b.append_pax_extensions([
        ("uid", &b"3000000000"[..]),
        ("gid", &b"3000000001"[..]),
        ("mtime", &b"1700000000.123456"[..]),
    ])
    .unwrap();
    b.append(&h, &b"x"[..]).unwrap();
    let t = b.into_inner().unwrap();
    layout(tmp.path(), &[layer(t, GZIP)]);
    let c = open(tmp.path())
        .unwrap()
        .read_layer(0, &mut MetadataOnly)
        .unwrap();
    let e = &c.entries()[0].entry;
    assert_eq!(
        (e.uid, e.gid, e.mtime),
        (3_000_000_000, 3_000_000_001, 1_700_000_000)
    );
    assert_eq!(e.mode, 0o600);
}

/// A visitor keeping every file whole, large ones through a shared read (as the ELF
/// cataloger reads binaries), so chunks stay held while the threads reading, hashing and
/// parsing the layer move on.
fn keep_files(
    e: &custody_oci::Entry,
    c: &mut EntryContent<'_>,
) -> Result<Option<Vec<u8>>, VisitError> {
    use std::io::Read;
    if e.kind != EntryKind::File {
        return Ok(None);
    }
    let mut all = Vec::new();
    if c.size() > 100_000 {
        c.read_shared()?.read_to_end(&mut all)?;
    } else {
        all = c.read_all()?;
    }
    Ok(Some(all))
}

/// An image whose largest layer, layer 1, is a plain tar of several decoded chunks: the
/// layer the reader splits over a reading, a hashing and a parsing thread.
fn plain_pace_setter(out: &std::path::Path, tamper: bool) -> Vec<u8> {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let t = tar(&[
        dir("opt"),
        file("opt/big", &big),
        file("opt/after", b"after the big one"),
    ]);
    let pace = layer(t, PLAIN);
    let stored = pace.blob.clone();
    layout(
        out,
        &[
            layer(simple_tar(), GZIP),
            pace,
            layer(tar(&[file("top", b"t")]), ZSTD),
        ],
    );
    if tamper {
        // The descriptor and DiffID name the real tar; the stored bytes differ in one byte
        // in the middle of the big file, at the same size.
        let mut changed = stored.clone();
        changed[1_500_000] ^= 1;
        let path = out
            .join("blobs/sha256")
            .join(Digest::sha256_of(&stored).hex());
        std::fs::write(path, &changed).unwrap();
    }
    big
}

#[test]
fn the_largest_plain_layer_is_read_hashed_and_parsed_apart_and_still_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let big = plain_pace_setter(tmp.path(), false);
    let image = open(tmp.path()).unwrap();
    let layers = image.read_layers(|_| keep_files).unwrap();
    let pace = &layers[1];
    assert_eq!(
        pace.digest(),
        &pace.diff_id().0,
        "a plain tar's digest is its DiffID"
    );
    assert_eq!(pace.digest(), image.layers()[1].digest());
    assert_eq!(
        payloads_of_files(pace),
        vec![big.as_slice(), b"after the big one"]
    );
    assert_eq!(
        payloads_of_files(&layers[0]),
        vec![b"hello world\n".as_slice()]
    );

    // One byte changed in the stored blob: the hashing thread's digest names it.
    let tmp = tempfile::tempdir().unwrap();
    plain_pace_setter(tmp.path(), true);
    let image = open(tmp.path()).unwrap();
    let err = image.read_layers(|_| keep_files).unwrap_err();
    assert!(err.to_string().starts_with("layer 1 (sha256:"), "{err}");
    match err {
        OciError::Layer {
            source: LayerError::DigestMismatch { expected, .. },
            ..
        } => assert_eq!(&expected, image.layers()[1].digest()),
        other => panic!("expected a digest mismatch of layer 1, got {other}"),
    }
}

fn payloads_of_files(contents: &LayerContents<Vec<u8>>) -> Vec<&[u8]> {
    contents
        .entries()
        .iter()
        .filter_map(|e| e.payload.as_deref().map(Vec::as_slice))
        .collect()
}

/// Reads every layer in order and returns the outcome and the layers handed over.
fn handed_over(image: &Image) -> (Result<(), OciError>, Vec<usize>) {
    let mut seen = Vec::new();
    let read = image.read_layers_in_order(
        |_| MetadataOnly,
        |l| {
            seen.push(l.index());
            Ok(())
        },
    );
    (read, seen)
}

#[test]
fn layers_reach_the_caller_bottom_first_and_a_failure_stops_the_read() {
    // Sizes out of order, so the layers finish reading out of order.
    let sized = |n: usize| tar(&[file("f", &vec![b'x'; n])]);
    let specs = || {
        vec![
            layer(sized(10), GZIP),
            layer(sized(2_000_000), PLAIN),
            layer(sized(100), ZSTD),
            layer(sized(1_500_000), PLAIN),
        ]
    };
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), &specs());
    let image = open(tmp.path()).unwrap();
    let (read, seen) = handed_over(&image);
    read.unwrap();
    assert_eq!(seen, vec![0, 1, 2, 3]);

    // The caller's failure is what comes back, and nothing is handed over after it.
    let mut seen = Vec::new();
    let err = image
        .read_layers_in_order(
            |_| MetadataOnly,
            |l| {
                seen.push(l.index());
                if l.index() == 1 {
                    return Err(OciError::NoSuchLayer { index: 1, count: 0 });
                }
                Ok(())
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, OciError::NoSuchLayer { index: 1, .. }),
        "{err}"
    );
    assert_eq!(seen, vec![0, 1]);

    // A layer that fails its check stops the read with its own error; the caller saw at
    // most the layers beneath it, in order.
    let tmp = tempfile::tempdir().unwrap();
    let mut s = specs();
    s[2].diff_id = Some(Digest::sha256_of(b"not this tar").to_string());
    layout(tmp.path(), &s);
    let (read, seen) = handed_over(&open(tmp.path()).unwrap());
    let err = read.unwrap_err();
    assert!(err.to_string().starts_with("layer 2 (sha256:"), "{err}");
    assert!(seen == [0, 1][..seen.len()], "{seen:?}");
}
