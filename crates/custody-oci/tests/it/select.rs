//! Choosing an image from a multi-platform, multi-name layout: nested indexes, platforms,
//! ref names, digests, and buildkit attestation manifests that are not images.

use custody_oci::{Image, ImageRef, OciError, OpenOptions, Platform};
use custody_types::Digest;
use serde_json::json;

use crate::support::*;

/// Writes a manifest + config for `arch` into `dir` (sharing blobs) and returns the
/// manifest's digest and size.
fn image_for(dir: &std::path::Path, arch: &str, variant: Option<&str>) -> (Digest, usize) {
    let t = tar(&[file(&format!("arch-{arch}"), arch.as_bytes())]);
    let blob = gzip(&t);
    let ld = write_blob(dir, &blob);
    let mut config = json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&t).to_string()]},
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = write_blob(dir, &cb);
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cb.len()},
        "layers": [{"mediaType": GZIP, "digest": ld.to_string(), "size": blob.len()}],
    });
    let mb = serde_json::to_vec(&m).unwrap();
    (write_blob(dir, &mb), mb.len())
}

fn multi_platform(dir: &std::path::Path) -> Digest {
    let (amd, amd_size) = image_for(dir, "amd64", None);
    let (arm, arm_size) = image_for(dir, "arm64", Some("v8"));
    let (att, att_size) = image_for(dir, "amd64", None);
    let nested = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd.to_string(), "size": amd_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm.to_string(), "size": arm_size,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": att.to_string(), "size": att_size,
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        ],
    });
    let nb = serde_json::to_vec(&nested).unwrap();
    let nd = write_blob(dir, &nb);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd.to_string(), "size": nb.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "2.0", "io.containerd.image.name": "docker.io/team/app:2.0"}}],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    nd
}

fn open(
    dir: &std::path::Path,
    reference: Option<&str>,
    platform: Option<&str>,
) -> Result<Image, OciError> {
    let r: ImageRef = match reference {
        Some(r) => format!("oci:{}:{r}", dir.display()).parse().unwrap(),
        None => ImageRef::path(dir),
    };
    let opts = OpenOptions {
        platform: platform.map(|p| p.parse::<Platform>().unwrap()),
        ..OpenOptions::default()
    };
    Image::open(&r, &opts)
}

#[test]
fn platform_selection_through_a_nested_index() {
    let tmp = tempfile::tempdir().unwrap();
    let nested = multi_platform(tmp.path());
    let arm = open(tmp.path(), None, Some("linux/arm64")).unwrap();
    assert_eq!(arm.platform().to_string(), "linux/arm64/v8");
    arm.verify_layers().unwrap();
    let arm_v8 = open(tmp.path(), Some("2.0"), Some("linux/arm64/v8")).unwrap();
    assert_eq!(arm_v8.manifest_digest(), arm.manifest_digest());
    assert_eq!(arm_v8.name(), Some("docker.io/team/app:2.0"));
    // By the nested index's digest plus a platform, and by the containerd image name.
    let by_digest = open(tmp.path(), Some(&nested.to_string()), Some("linux/amd64")).unwrap();
    assert_eq!(by_digest.platform().architecture, "amd64");
    let by_name = open(tmp.path(), Some("team/app:2.0"), Some("linux/amd64")).unwrap();
    assert_eq!(by_name.manifest_digest(), by_digest.manifest_digest());
    // A platform the index does not have lists the ones it does (not the attestation).
    let err = open(tmp.path(), None, Some("linux/s390x")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no image for platform linux/s390x"), "{msg}");
    assert!(
        msg.contains("(linux/amd64)") && msg.contains("(linux/arm64/v8)"),
        "{msg}"
    );
    assert!(!msg.contains("unknown"), "{msg}");
    // Without a platform the host's is taken when the index has it.
    if Platform::host().architecture == "amd64" {
        let host = open(tmp.path(), None, None).unwrap();
        assert_eq!(host.manifest_digest(), by_digest.manifest_digest());
    }
    // An unknown ref name lists the names there are.
    let err = open(tmp.path(), Some("3.0"), None).unwrap_err();
    assert!(err.to_string().contains("docker.io/team/app:2.0"), "{err}");
}

#[test]
fn two_images_without_platforms_are_ambiguous() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, asz) = image_for(tmp.path(), "amd64", None);
    let (b, bsz) = image_for(tmp.path(), "386", None);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": a.to_string(), "size": asz,
             "annotations": {"org.opencontainers.image.ref.name": "a"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": b.to_string(), "size": bsz,
             "annotations": {"org.opencontainers.image.ref.name": "b"}},
        ],
    });
    std::fs::write(
        tmp.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let err = open(tmp.path(), None, None).unwrap_err();
    assert!(matches!(err, OciError::Selection { .. }), "{err}");
    assert!(err.to_string().contains("several images match"), "{err}");
    assert_eq!(
        open(tmp.path(), Some("b"), None)
            .unwrap()
            .platform()
            .architecture,
        "386"
    );
    // The config's platform is checked when the descriptor has none.
    let err = open(tmp.path(), Some("b"), Some("linux/amd64")).unwrap_err();
    assert!(
        err.to_string().contains("linux/386, not linux/amd64"),
        "{err}"
    );
}

#[test]
fn two_tags_of_one_index_and_a_hostile_fan_out() {
    let tmp = tempfile::tempdir().unwrap();
    let nested = multi_platform(tmp.path());
    let nb = std::fs::read(tmp.path().join("blobs/sha256").join(nested.hex())).unwrap();
    let tag = |name: &str| {
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested.to_string(),
               "size": nb.len(), "annotations": {"org.opencontainers.image.ref.name": name}})
    };
    let index = json!({"schemaVersion": 2, "manifests": [tag("2.0"), tag("latest")]});
    std::fs::write(
        tmp.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let a = open(tmp.path(), Some("2.0"), Some("linux/arm64")).unwrap();
    let b = open(tmp.path(), Some("latest"), Some("linux/arm64")).unwrap();
    assert_eq!(a.manifest_digest(), b.manifest_digest());
    assert_eq!(b.name(), Some("latest"));

    // 300 references to an index that lists its manifest 300 times: 90,000 descriptors.
    let (m, msize) = image_for(tmp.path(), "amd64", None);
    let inner: Vec<_> = (0..300)
        .map(|_| json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m.to_string(), "size": msize}))
        .collect();
    let ib = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": inner})).unwrap();
    let id = write_blob(tmp.path(), &ib);
    let outer: Vec<_> = (0..300)
        .map(|_| json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id.to_string(), "size": ib.len()}))
        .collect();
    std::fs::write(
        tmp.path().join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": outer})).unwrap(),
    )
    .unwrap();
    let err = open(tmp.path(), None, None).unwrap_err();
    assert!(
        matches!(
            err,
            OciError::Limit {
                limit: "max_descriptors",
                ..
            }
        ),
        "{err}"
    );
}
