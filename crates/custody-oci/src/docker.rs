//! `docker save` archives: the legacy `manifest.json` that names each image's config and layer
//! tars, in the classic layout (`<id>/layer.tar`) and in Docker 25+'s OCI-style layout.

use custody_types::{DiffId, Digest};
use serde::Deserialize;

use crate::error::OciError;
use crate::limits::Limits;
use crate::reference::{ImageName, Selector};
use crate::store::{BlobLocation, Store};

/// One record of `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub(crate) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub(crate) layers: Vec<String>,
}

impl DockerManifestEntry {
    /// The config digest written in the config's file name (`<hex>.json` or
    /// `blobs/sha256/<hex>`), when the name has that form. Docker's image ID is this digest.
    pub(crate) fn config_digest_from_name(&self) -> Option<Digest> {
        let base = crate::path::file_name(&self.config);
        let hex = base.strip_suffix(".json").unwrap_or(base);
        format!("sha256:{hex}").parse().ok()
    }

    fn describe(&self) -> String {
        match &self.repo_tags {
            Some(tags) if !tags.is_empty() => tags.join(", "),
            _ => self
                .config_digest_from_name()
                .map(|d| format!("untagged {d}"))
                .unwrap_or_else(|| format!("untagged ({})", self.config)),
        }
    }
}

/// Reads and parses `manifest.json`.
pub(crate) fn read_manifest_json(
    store: &Store,
    limits: &Limits,
) -> Result<Vec<DockerManifestEntry>, OciError> {
    let loc = store
        .locate("manifest.json")?
        .ok_or_else(|| OciError::UnknownFormat {
            path: store.path().to_path_buf(),
            reason: "no manifest.json (not a docker save archive)".to_owned(),
        })?;
    let bytes = loc.read_small("manifest.json", limits.max_metadata_bytes)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| OciError::invalid("manifest.json", format!("not a docker save manifest: {e}")))
}

/// Picks one image of `manifest.json` by name (`NAME:TAG`, normalised as Docker does), by
/// config digest (Docker's image ID), or the only one.
pub(crate) fn choose(
    entries: Vec<DockerManifestEntry>,
    selector: Option<&Selector>,
) -> Result<(DockerManifestEntry, Option<String>), OciError> {
    let available = entries
        .iter()
        .map(DockerManifestEntry::describe)
        .collect::<Vec<_>>();
    let matches_name = |e: &DockerManifestEntry, want: &ImageName| -> Option<String> {
        e.repo_tags
            .iter()
            .flatten()
            .find(|t| t.parse::<ImageName>().ok().as_ref() == Some(want))
            .cloned()
    };
    let mut found: Vec<(DockerManifestEntry, Option<String>)> = match selector {
        None => entries
            .iter()
            .map(|e| (e.clone(), e.repo_tags.iter().flatten().next().cloned()))
            .collect(),
        Some(Selector::Digest(d)) => entries
            .iter()
            .filter(|e| e.config_digest_from_name().as_ref() == Some(d))
            .map(|e| (e.clone(), e.repo_tags.iter().flatten().next().cloned()))
            .collect(),
        Some(Selector::ImageName(want)) => entries
            .iter()
            .filter_map(|e| matches_name(e, want).map(|n| (e.clone(), Some(n))))
            .collect(),
        Some(Selector::RefName(r)) => entries
            .iter()
            .filter_map(|e| {
                let by_name = r
                    .parse::<ImageName>()
                    .ok()
                    .and_then(|w| matches_name(e, &w));
                let exact = e.repo_tags.iter().flatten().find(|t| *t == r).cloned();
                exact.or(by_name).map(|n| (e.clone(), Some(n)))
            })
            .collect(),
    };
    match found.len() {
        1 => Ok(found.remove(0)),
        0 if entries.is_empty() => Err(OciError::Selection {
            reason: "manifest.json lists no image".to_owned(),
            available,
        }),
        0 => Err(OciError::Selection {
            reason: format!(
                "no image named {} in the archive",
                selector.map(ToString::to_string).unwrap_or_default()
            ),
            available,
        }),
        n => Err(OciError::Selection {
            reason: format!("the archive holds {n} images; choose one with NAME:TAG"),
            available,
        }),
    }
}

/// A classic `docker save` image turned into what an OCI layout would hold: a manifest
/// synthesised from the config and layer tars.
pub(crate) struct Synthesized {
    pub(crate) manifest_bytes: Vec<u8>,
    pub(crate) layer_locations: Vec<BlobLocation>,
}

/// Builds the manifest a classic archive does not store. It is deterministic (same archive,
/// same bytes): OCI media types, the config's digest and size, and per layer the digest and
/// size of the tar as stored. An uncompressed layer's blob digest is its DiffID from the
/// config (checked while reading); a compressed one (some tools gzip `layer.tar`) is hashed
/// here, once, because nothing else records it.
pub(crate) fn synthesize(
    store: &Store,
    entry: &DockerManifestEntry,
    config_digest: &Digest,
    config_len: u64,
    diff_ids: &[DiffId],
) -> Result<Synthesized, OciError> {
    if entry.layers.len() != diff_ids.len() {
        return Err(OciError::invalid(
            "manifest.json",
            format!(
                "lists {} layers but the config has {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers_json = Vec::new();
    let mut locations = Vec::new();
    for (i, (name, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
        let loc = store.locate(name)?.ok_or_else(|| OciError::MissingBlob {
            what: format!("layer {i}"),
            digest: diff_id.0.clone(),
            location: name.clone(),
        })?;
        let mut magic = [0u8; 4];
        let n = {
            use std::io::Read;
            let mut f = loc.open()?;
            let mut n = 0;
            while n < magic.len() {
                match f.read(&mut magic[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) => return Err(OciError::io(&loc.file, e)),
                }
            }
            n
        };
        let compression = crate::layer::sniff(&magic[..n]).unwrap_or(crate::Compression::None);
        let (media_type, digest) = match compression {
            crate::Compression::None => (oci_spec::image::MediaType::ImageLayer, diff_id.0.clone()),
            crate::Compression::Gzip => (oci_spec::image::MediaType::ImageLayerGzip, loc.sha256()?),
            crate::Compression::Zstd => (oci_spec::image::MediaType::ImageLayerZstd, loc.sha256()?),
        };
        layers_json.push(serde_json::json!({
            "mediaType": media_type.to_string(),
            "digest": digest.to_string(),
            "size": loc.len,
        }));
        locations.push(loc);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": oci_spec::image::MediaType::ImageManifest.to_string(),
        "config": {
            "mediaType": oci_spec::image::MediaType::ImageConfig.to_string(),
            "digest": config_digest.to_string(),
            "size": config_len,
        },
        "layers": layers_json,
    });
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| OciError::invalid("synthesized manifest", e))?;
    Ok(Synthesized {
        manifest_bytes,
        layer_locations: locations,
    })
}
