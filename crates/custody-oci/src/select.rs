//! Choosing one image manifest from an OCI layout's `index.json`, through nested indexes,
//! by ref name, digest, image name and platform.

use std::collections::HashMap;
use std::rc::Rc;

use custody_types::{Algorithm, Digest, media_types};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use crate::error::OciError;
use crate::limits::Limits;
use crate::reference::{ImageName, Platform, Selector};
use crate::store::Store;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A manifest descriptor found by walking the index.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) platform: Option<Platform>,
    /// The names (ref name, containerd image name) of the top-level descriptor it was found
    /// under.
    pub(crate) names: Vec<String>,
    /// Digests of the indexes above it.
    pub(crate) ancestry: Vec<Digest>,
}

impl Leaf {
    fn describe(&self) -> String {
        let mut s = String::new();
        for n in &self.names {
            s.push_str(n);
            s.push(' ');
        }
        s.push_str(&self.digest.to_string());
        if let Some(p) = &self.platform {
            s.push_str(&format!(" ({p})"));
        }
        s
    }
}

/// A descriptor's digest as a checked custody digest (refusing anything that could not name
/// a blob file safely).
pub(crate) fn descriptor_digest(desc: &Descriptor, what: &str) -> Result<Digest, OciError> {
    desc.digest()
        .to_string()
        .parse::<Digest>()
        .map_err(|e| OciError::invalid(what, e))
}

/// The digest of `bytes` with `algorithm`.
pub(crate) fn digest_of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
    match algorithm {
        Algorithm::Sha256 => Digest::sha256_of(bytes),
        Algorithm::Sha512 => Digest::sha512_of(bytes),
    }
}

/// Reads a metadata blob and checks its size and digest before anything parses it.
pub(crate) fn read_verified(
    store: &Store,
    digest: &Digest,
    size: u64,
    what: &str,
    limits: &Limits,
) -> Result<Vec<u8>, OciError> {
    if size > limits.max_metadata_bytes {
        return Err(OciError::Limit {
            what: format!("{what} {digest} ({size} bytes)"),
            limit: "max_metadata_bytes",
            max: limits.max_metadata_bytes,
        });
    }
    let loc = store.blob(digest)?.ok_or_else(|| OciError::MissingBlob {
        what: what.to_owned(),
        digest: digest.clone(),
        location: crate::store::blob_name(digest),
    })?;
    if loc.len != size {
        return Err(OciError::SizeMismatch {
            what: format!("{what} {digest}"),
            expected: size,
            actual: loc.len,
        });
    }
    let bytes = loc.read_small(what, limits.max_metadata_bytes)?;
    let actual = digest_of(digest.algorithm(), &bytes);
    if &actual != digest {
        return Err(OciError::DigestMismatch {
            what: what.to_owned(),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

fn is_index(mt: &MediaType) -> bool {
    *mt == MediaType::ImageIndex || mt.as_ref() == media_types::DOCKER_MANIFEST_LIST
}

fn is_manifest(mt: &MediaType) -> bool {
    *mt == MediaType::ImageManifest || mt.as_ref() == media_types::DOCKER_MANIFEST_V2
}

fn annotation<'a>(desc: &'a Descriptor, key: &str) -> Option<&'a str> {
    desc.annotations().as_ref()?.get(key).map(String::as_str)
}

/// Buildkit stores provenance and SBOM attestations as manifests with platform
/// `unknown/unknown`; they are not runnable images.
fn is_attestation(desc: &Descriptor) -> bool {
    annotation(desc, "vnd.docker.reference.type") == Some("attestation-manifest")
        || desc
            .platform()
            .as_ref()
            .is_some_and(|p| p.os().to_string() == "unknown")
}

fn descriptor_platform(desc: &Descriptor) -> Option<Platform> {
    desc.platform().as_ref().map(|p| Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone(),
    })
}

/// The names a top-level descriptor answers to.
fn descriptor_names(desc: &Descriptor) -> Vec<String> {
    [
        annotation(desc, CONTAINERD_NAME),
        annotation(desc, REF_NAME),
    ]
    .into_iter()
    .flatten()
    .map(str::to_owned)
    .collect()
}

fn name_matches(names: &[String], selector: &Selector) -> bool {
    let as_image = |s: &str| s.parse::<ImageName>().ok();
    match selector {
        Selector::RefName(r) => names.iter().any(|n| {
            n == r || matches!((as_image(n), as_image(r)), (Some(a), Some(b)) if a == b && n.contains(':') )
        }),
        Selector::ImageName(want) => names.iter().any(|n| as_image(n).as_ref() == Some(want)),
        Selector::Digest(_) => true,
    }
}

/// Parses `index.json` or a nested index.
pub(crate) fn parse_index(bytes: &[u8], what: &str) -> Result<ImageIndex, OciError> {
    ImageIndex::from_reader(bytes)
        .map_err(|e| OciError::invalid(what, format!("not an image index: {e}")))
}

/// Every image manifest reachable from `index.json`, with the top-level name it sits under.
pub(crate) fn leaves(store: &Store, limits: &Limits) -> Result<Vec<Leaf>, OciError> {
    let loc = store
        .locate("index.json")?
        .ok_or_else(|| OciError::UnknownFormat {
            path: store.path().to_path_buf(),
            reason: "no index.json (not an OCI image layout)".to_owned(),
        })?;
    let bytes = loc.read_small("index.json", limits.max_metadata_bytes)?;
    let index = parse_index(&bytes, "index.json")?;
    let mut walk_state = Walk {
        store,
        limits,
        stack: Vec::new(),
        out: Vec::new(),
        seen: 0,
        cache: HashMap::new(),
    };
    walk_state.walk(&index, &[])?;
    Ok(walk_state.out)
}

/// The state of one walk over nested indexes. Parsed indexes are cached by digest and every
/// descriptor visited is counted, so an index that lists the same nested index many times
/// (a diamond, legitimately two tags of one image) costs one read, and a hostile fan-out
/// stops at [`Limits::max_descriptors`] instead of growing exponentially with depth.
struct Walk<'a> {
    store: &'a Store,
    limits: &'a Limits,
    stack: Vec<Digest>,
    out: Vec<Leaf>,
    seen: usize,
    cache: HashMap<Digest, Rc<ImageIndex>>,
}

impl Walk<'_> {
    fn walk(&mut self, index: &ImageIndex, top_names: &[String]) -> Result<(), OciError> {
        let limits = self.limits;
        for desc in index.manifests() {
            self.seen += 1;
            if self.seen > limits.max_descriptors {
                return Err(OciError::Limit {
                    what: "descriptors listed by the image indexes".to_owned(),
                    limit: "max_descriptors",
                    max: limits.max_descriptors as u64,
                });
            }
            let stack = &self.stack;
            let what = if stack.is_empty() {
                "index.json".to_owned()
            } else {
                format!("index {}", stack[stack.len() - 1])
            };
            let digest = descriptor_digest(desc, &what)?;
            if stack.contains(&digest) {
                return Err(OciError::IndexCycle { digest });
            }
            if is_attestation(desc) {
                continue;
            }
            let names = if stack.is_empty() {
                descriptor_names(desc)
            } else {
                top_names.to_vec()
            };
            let mt = desc.media_type();
            if is_manifest(mt) {
                if desc.artifact_type().is_some() {
                    continue;
                }
                let ancestry = stack.clone();
                self.out.push(Leaf {
                    digest,
                    size: desc.size(),
                    platform: descriptor_platform(desc),
                    names,
                    ancestry,
                });
            } else if is_index(mt) {
                if stack.len() >= limits.max_index_depth {
                    return Err(OciError::Limit {
                        what: format!("index nesting at {digest}"),
                        limit: "max_index_depth",
                        max: limits.max_index_depth as u64,
                    });
                }
                let nested = match self.cache.get(&digest) {
                    Some(n) => n.clone(),
                    None => {
                        let bytes =
                            read_verified(self.store, &digest, desc.size(), "image index", limits)?;
                        let n = Rc::new(parse_index(&bytes, &format!("image index {digest}"))?);
                        self.cache.insert(digest.clone(), n.clone());
                        n
                    }
                };
                self.stack.push(digest);
                self.walk(&nested, &names)?;
                self.stack.pop();
            }
            // Other media types (signatures, SBOM artifacts) are not images; skip them.
        }
        Ok(())
    }
}

/// Picks one leaf by selector and platform. With several candidates and no platform, the
/// host's platform decides, as `docker` and `containerd` do; otherwise the choice is refused
/// with the list of what is available.
pub(crate) fn choose(
    leaves: Vec<Leaf>,
    selector: Option<&Selector>,
    platform: Option<&Platform>,
) -> Result<Leaf, OciError> {
    let available = |ls: &[Leaf]| ls.iter().map(Leaf::describe).collect::<Vec<_>>();
    if leaves.is_empty() {
        return Err(OciError::Selection {
            reason: "the index lists no image manifest".to_owned(),
            available: Vec::new(),
        });
    }
    let mut candidates: Vec<Leaf> = match selector {
        None => leaves.clone(),
        Some(Selector::Digest(d)) => leaves
            .iter()
            .filter(|l| &l.digest == d || l.ancestry.contains(d))
            .cloned()
            .collect(),
        Some(sel) => leaves
            .iter()
            .filter(|l| name_matches(&l.names, sel))
            .cloned()
            .collect(),
    };
    if candidates.is_empty() {
        return Err(OciError::Selection {
            reason: format!(
                "no image named {}",
                selector.map(ToString::to_string).unwrap_or_default()
            ),
            available: available(&leaves),
        });
    }
    // The same manifest may be listed twice (two tags); it is one image.
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|l| seen.insert(l.digest.clone()));
    if let Some(want) = platform {
        candidates.retain(|l| l.platform.as_ref().is_none_or(|p| want.matches(p)));
        if candidates.is_empty() {
            return Err(OciError::Selection {
                reason: format!("no image for platform {want}"),
                available: available(&leaves),
            });
        }
    }
    if candidates.len() > 1 {
        let host = Platform::host();
        let on_host: Vec<Leaf> = candidates
            .iter()
            .filter(|l| l.platform.as_ref().is_some_and(|p| host.matches(p)))
            .cloned()
            .collect();
        if platform.is_none() && on_host.len() == 1 {
            candidates = on_host;
        }
    }
    if candidates.len() > 1 {
        return Err(OciError::Selection {
            reason: "several images match; choose one by name, digest or platform".to_owned(),
            available: available(&candidates),
        });
    }
    candidates.pop().ok_or_else(|| OciError::Selection {
        reason: "no image matches".to_owned(),
        available: available(&leaves),
    })
}
