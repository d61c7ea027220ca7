//! The real images (../shared/testdata/images, README there): layer digests and sizes against
//! `truth/layers.txt`, DiffIDs against the config, whiteouts, symlink resolution.

use std::path::Path;

use custody_oci::{
    Compression, Entry, EntryContent, EntryKind, Image, ImageRef, ImageView, ManifestOrigin,
    MetadataOnly, OpenOptions, Selector, SourceKind, VisitError,
};
use custody_types::Digest;

use crate::support::{ZSTD, tar_dir, write_blob, write_index};

fn truth_layers(dir: &Path) -> Vec<(String, u64, String)> {
    std::fs::read_to_string(dir.join("truth/layers.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].parse().unwrap(), f[2].to_owned())
        })
        .collect()
}

#[test]
fn debian_py_node_oci_layout_layers_match_truth() {
    let data = custody_testkit::testdata_or_skip!();
    let dir = data.join("images/debian-py-node");
    let image = Image::open_path(dir.join("oci")).unwrap();
    let truth = truth_layers(&dir);
    assert_eq!(image.layers().len(), truth.len());
    for (layer, (digest, size, mt)) in image.layers().iter().zip(&truth) {
        assert_eq!(&layer.digest().to_string(), digest);
        assert_eq!(layer.size(), *size);
        assert_eq!(layer.media_type(), mt);
    }
    let reports = image.verify_layers().unwrap();
    for (r, l) in reports.iter().zip(image.layers()) {
        assert_eq!(&r.diff_id, l.diff_id());
    }
    let layers = image.read_layers(|_| MetadataOnly).unwrap();
    let whiteouts = |i: usize| {
        layers[i]
            .entries()
            .iter()
            .filter(|e| e.entry.kind == EntryKind::Whiteout)
            .count()
    };
    assert_eq!(whiteouts(1), 82);
    assert_eq!(whiteouts(3), 3);
    let mut view = ImageView::new(40);
    for l in layers {
        view.apply(l).unwrap();
    }
    let (path, node) = view.lookup("/etc/os-release").unwrap().unwrap();
    assert_eq!(path, "usr/lib/os-release");
    assert_eq!(node.layer(), 0);
}

fn entry_paths(image: &Image, index: usize) -> Vec<(String, String)> {
    image
        .read_layer(index, &mut MetadataOnly)
        .unwrap()
        .entries()
        .iter()
        .map(|e| (e.entry.path.clone(), e.entry.kind.name().to_owned()))
        .collect()
}

#[test]
fn distroless_oci_layout_and_docker_archive_agree() {
    let data = custody_testkit::testdata_or_skip!();
    let dir = data.join("images/distroless-cc");
    let oci = Image::open_path(dir.join("oci")).unwrap();
    let truth = truth_layers(&dir);
    for (layer, (digest, size, _)) in oci.layers().iter().zip(&truth) {
        assert_eq!(&layer.digest().to_string(), digest);
        assert_eq!(layer.size(), *size);
        assert_eq!(layer.compression(), Compression::Gzip);
    }
    assert_eq!(oci.kind(), SourceKind::OciLayout);
    assert_eq!(oci.name(), Some("1.0"));
    assert_eq!(oci.manifest_origin(), ManifestOrigin::Stored);
    assert_eq!(
        oci.manifest_digest().to_string(),
        "sha256:6d69030e39f6d43eb965121f9862d7dcb9f9d3ce50cca568d7032aeecc54a415"
    );
    assert_eq!(
        Digest::sha256_of(oci.manifest_bytes()),
        *oci.manifest_digest()
    );
    assert_eq!(Digest::sha256_of(oci.config_bytes()), *oci.config_digest());
    assert_eq!(oci.config().user(), Some("65532:65532"));
    assert!(!oci.config().runs_as_root());
    assert_eq!(oci.config().entrypoint(), ["/usr/local/bin/rust-hello"]);
    assert_eq!(oci.platform().to_string(), "linux/amd64");
    assert_eq!(oci.config().history()[1].layer, Some(1));
    assert!(oci.config().created().is_some());

    let docker = Image::open_path(dir.join("docker-archive.tar")).unwrap();
    assert_eq!(docker.kind(), SourceKind::DockerArchive);
    assert_eq!(docker.name(), Some("localhost/distroless-cc:1.0"));
    assert_eq!(docker.manifest_origin(), ManifestOrigin::Synthesized);
    assert_eq!(docker.config_digest(), oci.config_digest());
    assert_eq!(
        docker.config_digest().to_string(),
        "sha256:06722a9258076f9552c49bba0c0aeb5c503f9f61115ca17fd0c2c0c446556762"
    );
    // The synthesised manifest is deterministic and names uncompressed layers by DiffID.
    let again = Image::open_path(dir.join("docker-archive.tar")).unwrap();
    assert_eq!(again.manifest_bytes(), docker.manifest_bytes());
    for (d, o) in docker.layers().iter().zip(oci.layers()) {
        assert_eq!(d.diff_id(), o.diff_id());
        assert_eq!(d.chain_id(), o.chain_id());
        assert_eq!(d.digest(), &d.diff_id().0);
        assert_eq!(d.compression(), Compression::None);
    }
    let reports = docker.verify_layers().unwrap();
    assert_eq!(reports[0].uncompressed_size, 25_314_816);
    for i in 0..2 {
        assert_eq!(entry_paths(&docker, i), entry_paths(&oci, i), "layer {i}");
    }
}

#[test]
fn oci_archive_built_from_the_layout_reads_the_same() {
    let data = custody_testkit::testdata_or_skip!();
    let dir = data.join("images/debian-py-node/oci");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("img.oci.tar");
    tar_dir(&dir, &archive);
    let from_dir = Image::open_path(&dir).unwrap();
    let r: ImageRef = format!("oci-archive:{}:1.0", archive.display())
        .parse()
        .unwrap();
    let image = Image::open(&r, &OpenOptions::default()).unwrap();
    assert_eq!(image.kind(), SourceKind::OciArchive);
    assert_eq!(image.manifest_digest(), from_dir.manifest_digest());
    assert_eq!(image.manifest_bytes(), from_dir.manifest_bytes());
    assert_eq!(
        image.verify_layers().unwrap(),
        from_dir.verify_layers().unwrap()
    );
    // Detected without a prefix, too.
    let detected = Image::open_path(&archive).unwrap();
    assert_eq!(detected.kind(), SourceKind::OciArchive);
    // A ref that is not there lists the ones that are.
    let r: ImageRef = format!("oci-archive:{}:2.0", archive.display())
        .parse()
        .unwrap();
    let err = Image::open(&r, &OpenOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("no image named 2.0") && err.to_string().contains("1.0"),
        "{err}"
    );
    // And a platform it is not built for is refused.
    let opts = OpenOptions {
        platform: Some("linux/arm64".parse().unwrap()),
        ..OpenOptions::default()
    };
    let err = Image::open(&ImageRef::path(&archive), &opts).unwrap_err();
    assert!(
        err.to_string().contains("linux/amd64, not linux/arm64"),
        "{err}"
    );
}

#[test]
fn docker25_archive_uses_the_real_manifest() {
    let data = custody_testkit::testdata_or_skip!();
    let oci_dir = data.join("images/distroless-cc/oci");
    let tool = data.join("../tools/oci_to_docker25.py");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d25.tar");
    let status = std::process::Command::new("python3")
        .arg(&tool)
        .arg(&oci_dir)
        .arg("localhost/distroless-cc:1.0")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            custody_testkit::skip(
                "docker25_archive_uses_the_real_manifest",
                &format!("python3 {} failed: {other:?}", tool.display()),
            );
            return;
        }
    }
    let oci = Image::open_path(&oci_dir).unwrap();
    let r: ImageRef = format!(
        "docker-archive:{}:localhost/distroless-cc:1.0",
        out.display()
    )
    .parse()
    .unwrap();
    let image = Image::open(&r, &OpenOptions::default()).unwrap();
    assert_eq!(image.kind(), SourceKind::DockerArchive);
    assert_eq!(image.manifest_origin(), ManifestOrigin::Stored);
    assert_eq!(
        Digest::sha256_of(image.manifest_bytes()),
        *image.manifest_digest()
    );
    assert_eq!(image.config_digest(), oci.config_digest());
    assert_eq!(image.name(), Some("localhost/distroless-cc:1.0"));
    for (l, o) in image.layers().iter().zip(oci.layers()) {
        assert_eq!(l.diff_id(), o.diff_id());
        assert_eq!(l.media_type(), "application/vnd.oci.image.layer.v1.tar");
    }
    image.verify_layers().unwrap();
    assert_eq!(entry_paths(&image, 1), entry_paths(&oci, 1));
    // The same archive read as an oci-archive gives the same image.
    let as_oci: ImageRef = format!("oci-archive:{}", out.display()).parse().unwrap();
    let as_oci = Image::open(&as_oci, &OpenOptions::default()).unwrap();
    assert_eq!(as_oci.manifest_digest(), image.manifest_digest());
}

#[test]
fn multi_image_docker_archive_needs_a_name() {
    let data = custody_testkit::testdata_or_skip!();
    let src = data.join("images/distroless-cc/docker-archive.tar");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("multi.tar");
    // Copy every member, then replace manifest.json with one listing two images.
    let mut builder = tar::Builder::new(std::fs::File::create(&out).unwrap());
    let mut archive = tar::Archive::new(std::fs::File::open(&src).unwrap());
    let mut manifest: serde_json::Value = serde_json::Value::Null;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        if path.to_str() == Some("manifest.json") {
            manifest = serde_json::from_reader(&mut entry).unwrap();
            continue;
        }
        let header = entry.header().clone();
        builder.append(&header, &mut entry).unwrap();
    }
    let mut second = manifest[0].clone();
    second["RepoTags"] = serde_json::json!(["registry.example:5000/team/other:2.0"]);
    manifest.as_array_mut().unwrap().push(second);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_path("manifest.json").unwrap();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    builder.append(&h, bytes.as_slice()).unwrap();
    builder.finish().unwrap();
    drop(builder);

    let err = Image::open_path(&out).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("holds 2 images"), "{msg}");
    assert!(
        msg.contains("localhost/distroless-cc:1.0")
            && msg.contains("registry.example:5000/team/other:2.0"),
        "{msg}"
    );

    let r: ImageRef = format!(
        "docker-archive:{}:registry.example:5000/team/other:2.0",
        out.display()
    )
    .parse()
    .unwrap();
    let image = Image::open(&r, &OpenOptions::default()).unwrap();
    assert_eq!(image.name(), Some("registry.example:5000/team/other:2.0"));
    // --image on a bare path does the same.
    let opts = OpenOptions {
        selector: Some(Selector::ImageName(
            "localhost/distroless-cc:1.0".parse().unwrap(),
        )),
        ..OpenOptions::default()
    };
    let image = Image::open(&ImageRef::path(&out), &opts).unwrap();
    assert_eq!(image.name(), Some("localhost/distroless-cc:1.0"));
    image.verify_layer(1).unwrap();
    let r: ImageRef = format!("docker-archive:{}:nope:1", out.display())
        .parse()
        .unwrap();
    let err = Image::open(&r, &OpenOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no image named docker.io/library/nope:1"),
        "{err}"
    );
}

#[test]
fn zstd_recompressed_real_layers_verify() {
    let data = custody_testkit::testdata_or_skip!();
    let src = data.join("images/distroless-cc/oci");
    let oci = Image::open_path(&src).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut layers = Vec::new();
    for l in oci.layers() {
        let gz = std::fs::read(src.join("blobs/sha256").join(l.digest().hex())).unwrap();
        let mut tar_bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(gz.as_slice()),
            &mut tar_bytes,
        )
        .unwrap();
        let z = zstd::encode_all(tar_bytes.as_slice(), 3).unwrap();
        let d = write_blob(tmp.path(), &z);
        layers
            .push(serde_json::json!({"mediaType": ZSTD, "digest": d.to_string(), "size": z.len()}));
    }
    // The config is unchanged (same DiffIDs); the manifest names the new blobs.
    let config = write_blob(tmp.path(), oci.config_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": oci.config_bytes().len()},
        "layers": layers,
    });
    let mb = serde_json::to_vec(&manifest).unwrap();
    let md = write_blob(tmp.path(), &mb);
    write_index(tmp.path(), &md, mb.len() as u64, "zstd");
    let image = Image::open_path(tmp.path()).unwrap();
    assert_eq!(image.layers()[0].compression(), Compression::Zstd);
    let reports = image.verify_layers().unwrap();
    for (r, o) in reports.iter().zip(oci.layers()) {
        assert_eq!(&r.diff_id, o.diff_id());
        assert_eq!(r.compression, Compression::Zstd);
    }
    for i in 0..2 {
        assert_eq!(entry_paths(&image, i), entry_paths(&oci, i));
    }
}

#[test]
fn view_captures_only_what_the_visitor_keeps() {
    let data = custody_testkit::testdata_or_skip!();
    let image = Image::open_path(data.join("images/debian-py-node/oci")).unwrap();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = progress.clone();
    let opts = OpenOptions {
        progress: Some(std::sync::Arc::new(move |_, n| {
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })),
        ..OpenOptions::default()
    };
    let image2 = Image::open(&ImageRef::path(image.path()), &opts).unwrap();
    // Keep the dpkg status file and ELF magic of executables, nothing else.
    let layers = image2
        .read_layers(|_| {
            |e: &Entry, c: &mut EntryContent<'_>| -> Result<Option<Vec<u8>>, VisitError> {
                if e.path == "var/lib/dpkg/status" {
                    return Ok(Some(c.read_all()?));
                }
                if e.is_file() && e.is_executable() && c.peek(4)? == b"\x7fELF" {
                    return Ok(Some(b"ELF".to_vec()));
                }
                Ok(None)
            }
        })
        .unwrap();
    let total: u64 = image.layers().iter().map(|l| l.size()).sum();
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), total);
    let mut view = ImageView::new(40);
    let mut status_sizes = Vec::new();
    for l in layers {
        let changes = view.apply(l).unwrap();
        if changes
            .modified
            .iter()
            .chain(&changes.added)
            .any(|p| p == "var/lib/dpkg/status")
        {
            let node = view.get("var/lib/dpkg/status").unwrap();
            status_sizes.push((changes.layer, node.payload().unwrap().len()));
        }
    }
    // Layers 1 and 2 (apt) rewrote the status file; its payload is the bytes.
    assert_eq!(status_sizes.first().map(|s| s.0), Some(0));
    assert!(status_sizes.iter().any(|s| s.0 == 1));
    let (_, python) = view.lookup("/usr/bin/python3").unwrap().unwrap();
    assert_eq!(python.payload().map(Vec::as_slice), Some(&b"ELF"[..]));
    assert_eq!(python.layer(), 1);
    let (_, rust) = view.lookup("usr/local/bin/rust-hello").unwrap().unwrap();
    assert_eq!(rust.layer(), 3);
    // six was uninstalled by layer 4: its files are gone from the view.
    assert!(
        !view
            .iter()
            .any(|(p, _)| p.contains("/six-1.16.0.dist-info"))
    );
    assert!(
        view.iter_under("usr/local/lib")
            .any(|(p, _)| p.contains("requests-2.32.3.dist-info"))
    );
}
