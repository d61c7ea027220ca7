//! Shared builders for the tests.

use custody_attest::{
    BaseImage, CiContext, ImageBuild, LayerBlob, LayerPredicate, ProvenanceLayer, SbomDocument,
};
use custody_types::{DiffId, Digest, Role, chain_ids, media_types};
use jiff::Timestamp;
use serde_json::json;

pub(crate) fn time() -> Timestamp {
    "2026-01-02T03:04:05Z".parse().unwrap()
}

pub(crate) fn diff_ids(n: usize) -> Vec<DiffId> {
    (0..n)
        .map(|i| DiffId(Digest::sha256_of(format!("layer {i}").as_bytes())))
        .collect()
}

pub(crate) fn sbom(n_components: usize) -> SbomDocument {
    let components: Vec<_> = (0..n_components)
        .map(|i| {
            json!({
                "type": "library",
                "bom-ref": format!("pkg:deb/debian/pkg{i}@1.{i}"),
                "name": format!("pkg{i}"),
                "version": format!("1.{i}"),
                "purl": format!("pkg:deb/debian/pkg{i}@1.{i}?arch=amd64"),
            })
        })
        .collect();
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": components,
    });
    SbomDocument::from_json(
        &serde_json::to_vec_pretty(&doc).unwrap(),
        media_types::CYCLONEDX_JSON,
    )
    .unwrap()
}

pub(crate) fn layer(diff_ids: &[DiffId], index: usize, embed: bool) -> LayerPredicate {
    let sbom = sbom(3);
    LayerPredicate::for_stack(
        diff_ids,
        index,
        LayerBlob {
            digest: Digest::sha256_of(format!("blob {index}").as_bytes()),
            size: 1000 + index as u64,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        },
        if embed {
            sbom.embedded()
        } else {
            sbom.by_digest()
        },
    )
    .unwrap()
}

pub(crate) fn github_env(k: &str) -> Option<String> {
    Some(
        match k {
            "GITHUB_ACTIONS" => "true",
            "GITHUB_SERVER_URL" => "https://github.com",
            "GITHUB_REPOSITORY" => "acme/app",
            "GITHUB_WORKFLOW_REF" => "acme/app/.github/workflows/build.yml@refs/heads/main",
            "GITHUB_RUN_ID" => "4242",
            "GITHUB_RUN_ATTEMPT" => "2",
            "GITHUB_SHA" => "1ac93ce21ee526b36fd154b9058d97dfaa424c50",
            "GITHUB_REF" => "refs/heads/main",
            "GITHUB_EVENT_NAME" => "push",
            _ => return None,
        }
        .to_owned(),
    )
}

pub(crate) fn image_build(with_base: bool) -> ImageBuild {
    let ids = diff_ids(4);
    let chains = chain_ids(&ids);
    let base_layers = if with_base { 2 } else { 0 };
    ImageBuild {
        image_name: Some("registry.example/acme/app:1.0".into()),
        manifest: Digest::sha256_of(b"manifest"),
        config: Digest::sha256_of(b"config"),
        source: "app.oci".into(),
        platform: Some("linux/amd64".into()),
        role: Role::Builder,
        base: with_base.then(|| BaseImage {
            reference: Some("registry.example/library/debian:12".into()),
            manifest: Digest::sha256_of(b"base manifest"),
            config: Some(Digest::sha256_of(b"base config")),
            diff_ids: ids[..2].to_vec(),
        }),
        builder_id: CiContext::from_env(github_env).unwrap().builder_id(),
        custody_version: "0.1.0".into(),
        ci: CiContext::from_env(github_env),
        invocation_id: None,
        started_on: time(),
        finished_on: time(),
        layers: ids
            .iter()
            .zip(chains)
            .enumerate()
            .map(|(i, (d, c))| ProvenanceLayer {
                index: i as u32,
                diff_id: d.clone(),
                chain_id: c,
                envelope: (i >= base_layers)
                    .then(|| Digest::sha256_of(format!("envelope {i}").as_bytes())),
            })
            .collect(),
        image_sbom: Some((
            Digest::sha256_of(b"image sbom"),
            media_types::CYCLONEDX_JSON.into(),
        )),
    }
}
