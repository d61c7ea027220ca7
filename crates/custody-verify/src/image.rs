//! What the verifier knows about the image itself, from its manifest and config bytes.
//!
//! Both are small JSON blobs, checked against their digests (the manifest against the digest
//! being verified, the config against the manifest's config descriptor), so a decision by
//! digest needs neither the layers nor a registry. When the caller also had the layers (an
//! image on disk), it reports whether each blob and DiffID matched; by digest alone nothing
//! is decompressed and the layers rule relies on the DiffIDs the config names.

use custody_types::{ChainId, DiffId, Digest, chain_ids};
use serde::Deserialize;

/// Largest manifest or config accepted (registries cap manifests at 4 MiB).
pub const MAX_IMAGE_JSON_BYTES: usize = 4 << 20;

/// Why the manifest or config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The manifest's bytes do not hash to the digest being verified.
    #[error("manifest bytes have digest {actual}, not the image digest {expected}")]
    ManifestDigest {
        /// The digest being verified.
        expected: Digest,
        /// The bytes' digest.
        actual: Digest,
    },
    /// The config's bytes do not hash to the manifest's config digest.
    #[error("config bytes have digest {actual}, but the manifest names config {expected}")]
    ConfigDigest {
        /// The manifest's config digest.
        expected: Digest,
        /// The bytes' digest.
        actual: Digest,
    },
    /// Too large to be a manifest or config.
    #[error("{what} is {size} bytes, more than the {MAX_IMAGE_JSON_BYTES} accepted")]
    TooLarge {
        /// manifest or config.
        what: &'static str,
        /// Its size.
        size: usize,
    },
    /// Not the JSON shape of an image manifest or config.
    #[error("{what} is not a valid image {what}: {reason}")]
    Json {
        /// manifest or config.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// The manifest and config disagree about the number of layers.
    #[error("the manifest lists {manifest} layers but the config {config} diff_ids")]
    LayerCount {
        /// Layers in the manifest.
        manifest: usize,
        /// DiffIDs in the config.
        config: usize,
    },
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: Digest,
    size: u64,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<DiffId>,
}

#[derive(Deserialize, Default)]
struct RunConfig {
    #[serde(rename = "User", default)]
    user: Option<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    config: Option<RunConfig>,
    rootfs: RootFs,
}

/// A layer as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerBlobFact {
    /// The compressed blob's digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// What reading the layers themselves showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerCheck {
    /// Only the digest was given: no layer was read (the config's DiffIDs are taken as they
    /// are; the ledger and attestations bind them).
    NotRead,
    /// Every layer blob matched its digest and size and decompressed to its DiffID.
    Verified,
    /// Layers that did not: (position, why).
    Failed(Vec<(usize, String)>),
}

/// The image being verified.
#[derive(Debug, Clone)]
pub struct ImageFacts {
    /// Manifest digest (what a deploy pins).
    pub manifest_digest: Digest,
    /// Config digest.
    pub config_digest: Digest,
    /// Layer blobs, bottom first.
    pub layers: Vec<LayerBlobFact>,
    /// DiffIDs from the config, bottom first.
    pub diff_ids: Vec<DiffId>,
    /// ChainIDs computed from them.
    pub chain_ids: Vec<ChainId>,
    /// The config's `User` (absent or empty: root).
    pub user: Option<String>,
    /// What reading the layers showed.
    pub layer_check: LayerCheck,
}

impl ImageFacts {
    /// Facts from the manifest and config bytes, checked against `manifest_digest` and the
    /// manifest's config descriptor.
    pub fn from_blobs(
        manifest_digest: &Digest,
        manifest: &[u8],
        config: &[u8],
    ) -> Result<ImageFacts, ImageError> {
        for (what, bytes) in [("manifest", manifest), ("config", config)] {
            if bytes.len() > MAX_IMAGE_JSON_BYTES {
                return Err(ImageError::TooLarge {
                    what,
                    size: bytes.len(),
                });
            }
        }
        let actual = digest_like(manifest_digest, manifest);
        if actual != *manifest_digest {
            return Err(ImageError::ManifestDigest {
                expected: manifest_digest.clone(),
                actual,
            });
        }
        let m: Manifest = serde_json::from_slice(manifest).map_err(|e| ImageError::Json {
            what: "manifest",
            reason: e.to_string(),
        })?;
        let actual = digest_like(&m.config.digest, config);
        if actual != m.config.digest {
            return Err(ImageError::ConfigDigest {
                expected: m.config.digest,
                actual,
            });
        }
        let _ = (m.config.size, &m.config.media_type);
        let c: Config = serde_json::from_slice(config).map_err(|e| ImageError::Json {
            what: "config",
            reason: e.to_string(),
        })?;
        if c.rootfs.diff_ids.len() != m.layers.len() {
            return Err(ImageError::LayerCount {
                manifest: m.layers.len(),
                config: c.rootfs.diff_ids.len(),
            });
        }
        let chain_ids = chain_ids(&c.rootfs.diff_ids);
        Ok(ImageFacts {
            manifest_digest: manifest_digest.clone(),
            config_digest: m.config.digest,
            layers: m
                .layers
                .into_iter()
                .map(|d| LayerBlobFact {
                    digest: d.digest,
                    size: d.size,
                    media_type: d.media_type,
                })
                .collect(),
            diff_ids: c.rootfs.diff_ids,
            chain_ids,
            user: c.config.unwrap_or_default().user,
            layer_check: LayerCheck::NotRead,
        })
    }

    /// Records what reading the layers showed.
    pub fn with_layer_check(mut self, check: LayerCheck) -> ImageFacts {
        self.layer_check = check;
        self
    }
}

fn digest_like(like: &Digest, bytes: &[u8]) -> Digest {
    match like.algorithm() {
        custody_types::Algorithm::Sha256 => Digest::sha256_of(bytes),
        custody_types::Algorithm::Sha512 => Digest::sha512_of(bytes),
    }
}

/// Whether an image config's `User` means root: empty or absent, `root`, or uid 0, with or
/// without a group (`0:0`, `root:staff`). A numeric non-zero uid, or a name other than
/// `root`, is not root. A name cannot be resolved without the image's /etc/passwd, so a user
/// named e.g. `nobody` is taken at its word (Kubernetes' `runAsNonRoot` refuses such names;
/// pin a numeric uid for that).
pub fn runs_as_root(user: Option<&str>) -> bool {
    let user = user.unwrap_or("").trim();
    let uid = user.split(':').next().unwrap_or("");
    if uid.is_empty() || uid == "root" {
        return true;
    }
    if uid.bytes().all(|b| b.is_ascii_digit()) {
        return uid.trim_start_matches('0').is_empty();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_users_are_recognised() {
        for root in [
            None,
            Some(""),
            Some("root"),
            Some("0"),
            Some("0:0"),
            Some("root:1000"),
            Some("000"),
        ] {
            assert!(runs_as_root(root), "{root:?}");
        }
        for user in ["65532", "65532:65532", "nobody", "1000:0", "app"] {
            assert!(!runs_as_root(Some(user)), "{user}");
        }
    }

    #[test]
    fn blobs_are_checked_against_their_digests() {
        let config = br#"{"config":{"User":"1000"},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
        let cd = Digest::sha256_of(config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"y","digest":"{cd}","size":1}}]}}"#,
            config.len()
        );
        let md = Digest::sha256_of(manifest.as_bytes());
        let facts = ImageFacts::from_blobs(&md, manifest.as_bytes(), config).unwrap();
        assert_eq!(facts.user.as_deref(), Some("1000"));
        assert_eq!(facts.chain_ids.len(), 1);
        assert!(matches!(
            ImageFacts::from_blobs(&cd, manifest.as_bytes(), config),
            Err(ImageError::ManifestDigest { .. })
        ));
        assert!(matches!(
            ImageFacts::from_blobs(&md, manifest.as_bytes(), b"{}"),
            Err(ImageError::ConfigDigest { .. })
        ));
    }
}
