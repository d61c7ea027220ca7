//! An opened image: the chosen manifest and config, checked, and its layers ready to stream.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

use custody_types::{Digest, chain_ids};
use oci_spec::image::ImageManifest;
use rayon::prelude::*;

use crate::config::ImageConfig;
use crate::docker;
use crate::entry::{LayerContents, LayerVisitor, Warning};
use crate::error::{LayerError, OciError};
use crate::layer::{self, Layer, LayerReport, ProgressFn, ReadContext};
use crate::limits::Limits;
use crate::reference::{ImageRef, Platform, Selector, SourceKind};
use crate::select::{self, descriptor_digest, read_verified};
use crate::store::{BlobLocation, Store};

/// How to open an image beyond its reference.
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// The platform to pick from a multi-platform index (`--platform`); without it a single
    /// image is taken as is and several are narrowed to the host's platform.
    pub platform: Option<Platform>,
    /// Which image to pick when the reference names none (`--image NAME:TAG`); a selector in
    /// the reference itself wins.
    pub selector: Option<Selector>,
    /// Resource limits.
    pub limits: Limits,
    /// Called with compressed bytes read per layer, for progress display.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("platform", &self.platform)
            .field("selector", &self.selector)
            .field("limits", &self.limits)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Where the manifest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestOrigin {
    /// A manifest blob stored in the image (OCI layout, oci-archive, Docker 25+ archive): its
    /// digest is the one a registry push of these exact blobs would show.
    Stored,
    /// Synthesised by custody from a classic `docker save` archive, which stores no manifest.
    /// Its digest is stable for the same archive but is custody's own; a registry would show
    /// another (it compresses the layers). Pin such images by config digest.
    Synthesized,
}

/// An image opened for reading: the manifest, config and layer descriptors are read and
/// verified (size and digest) on open; layers are streamed and verified on demand.
///
/// `Image` is `Sync`: [`Image::read_layer`] may run for several layers at once from several
/// threads, each call opening its own file handle.
pub struct Image {
    store: Store,
    kind: SourceKind,
    name: Option<String>,
    manifest_digest: Digest,
    manifest_bytes: Vec<u8>,
    manifest: ImageManifest,
    origin: ManifestOrigin,
    config_digest: Digest,
    config_bytes: Vec<u8>,
    config: ImageConfig,
    platform: Platform,
    layers: Vec<Layer>,
    limits: Limits,
    progress: Option<ProgressFn>,
    seen: Vec<AtomicU64>,
    warnings: Vec<Warning>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("path", &self.store.path())
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("manifest_digest", &self.manifest_digest)
            .field("config_digest", &self.config_digest)
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// What the container-specific code found: the manifest and config bytes and where each
/// layer's blob is.
struct Found {
    name: Option<String>,
    manifest_bytes: Vec<u8>,
    manifest_digest: Digest,
    origin: ManifestOrigin,
    /// For synthesised manifests, the layer tars by position; otherwise looked up by digest.
    layer_locations: Option<Vec<BlobLocation>>,
    config_bytes: Option<Vec<u8>>,
}

impl Image {
    /// Opens the image a reference names.
    pub fn open(reference: &ImageRef, options: &OpenOptions) -> Result<Image, OciError> {
        let limits = &options.limits;
        let path = &reference.path;
        let meta = std::fs::metadata(path).map_err(|e| OciError::io(path, e))?;
        let (store, kind) = if meta.is_dir() {
            if let Some(k) = reference.kind.filter(|k| *k != SourceKind::OciLayout) {
                return Err(OciError::UnknownFormat {
                    path: path.clone(),
                    reason: format!("is a directory, but {k} expects an archive file"),
                });
            }
            let store = Store::dir(path);
            if !store.exists("index.json") {
                let reason = if store.exists("manifest.json") {
                    "a directory with manifest.json but no index.json; pass the docker save tar itself"
                } else {
                    "a directory without index.json (not an OCI image layout)"
                };
                return Err(OciError::UnknownFormat {
                    path: path.clone(),
                    reason: reason.to_owned(),
                });
            }
            (store, SourceKind::OciLayout)
        } else {
            if reference.kind == Some(SourceKind::OciLayout) {
                return Err(OciError::UnknownFormat {
                    path: path.clone(),
                    reason:
                        "is a file, but oci expects a layout directory (use oci-archive for a tar)"
                            .to_owned(),
                });
            }
            let store = Store::index_tar(path, limits)?;
            let has_manifest_json = store.exists("manifest.json");
            let has_index = store.exists("index.json");
            let kind = match reference.kind {
                Some(k) => k,
                None if has_manifest_json => SourceKind::DockerArchive,
                None if has_index => SourceKind::OciArchive,
                None => {
                    return Err(OciError::UnknownFormat {
                        path: path.clone(),
                        reason:
                            "a tar with neither index.json nor manifest.json (not an image archive)"
                                .to_owned(),
                    });
                }
            };
            (store, kind)
        };
        let selector = reference.selector.as_ref().or(options.selector.as_ref());
        let platform = options.platform.as_ref();
        let found = match kind {
            SourceKind::OciLayout | SourceKind::OciArchive => {
                open_oci(&store, selector, platform, limits)?
            }
            SourceKind::DockerArchive => open_docker(&store, selector, platform, limits)?,
        };
        Image::assemble(store, kind, found, options)
    }

    /// Opens the image at `path` (kind detected) with default options.
    pub fn open_path(path: impl AsRef<Path>) -> Result<Image, OciError> {
        Image::open(&ImageRef::path(path.as_ref()), &OpenOptions::default())
    }

    fn assemble(
        store: Store,
        kind: SourceKind,
        found: Found,
        options: &OpenOptions,
    ) -> Result<Image, OciError> {
        let limits = options.limits.clone();
        let mut warnings = Vec::new();
        let what_manifest = format!("manifest {}", found.manifest_digest);
        let manifest =
            ImageManifest::from_reader(found.manifest_bytes.as_slice()).map_err(|e| {
                OciError::invalid(&what_manifest, format!("not an image manifest: {e}"))
            })?;
        let config_desc = manifest.config();
        let config_digest = descriptor_digest(config_desc, &what_manifest)?;
        let config_bytes = match found.config_bytes {
            Some(b) => b,
            None => read_verified(
                &store,
                &config_digest,
                config_desc.size(),
                "config",
                &limits,
            )?,
        };
        let what_config = format!("config {config_digest}");
        let (config, config_warnings) = ImageConfig::parse(&config_bytes, &what_config)?;
        warnings.extend(config_warnings);
        let platform = config.platform();
        if let Some(want) = &options.platform
            && !want.matches(&platform)
        {
            return Err(OciError::Selection {
                reason: format!("the image is for {platform}, not {want}"),
                available: vec![platform.to_string()],
            });
        }
        let descs = manifest.layers();
        if descs.len() > limits.max_descriptors {
            return Err(OciError::Limit {
                what: format!("{what_manifest} ({} layers)", descs.len()),
                limit: "max_descriptors",
                max: limits.max_descriptors as u64,
            });
        }
        if descs.len() != config.diff_ids().len() {
            return Err(OciError::invalid(
                &what_manifest,
                format!(
                    "lists {} layers but the config has {} diff_ids",
                    descs.len(),
                    config.diff_ids().len()
                ),
            ));
        }
        let chains = chain_ids(config.diff_ids());
        let mut layers = Vec::with_capacity(descs.len());
        for (i, desc) in descs.iter().enumerate() {
            let digest = descriptor_digest(desc, &what_manifest)?;
            let media_type = desc.media_type().to_string();
            let compression =
                layer::declared_compression(&media_type).map_err(|source| OciError::Layer {
                    index: i,
                    digest: digest.clone(),
                    source,
                })?;
            let location = match &found.layer_locations {
                Some(locs) => locs.get(i).cloned(),
                None => store.blob(&digest)?,
            };
            let location = location.ok_or_else(|| OciError::MissingBlob {
                what: format!("layer {i}"),
                digest: digest.clone(),
                location: crate::store::blob_name(&digest),
            })?;
            layers.push(Layer {
                index: i,
                digest,
                size: desc.size(),
                media_type,
                compression,
                diff_id: config.diff_ids()[i].clone(),
                chain_id: chains[i].clone(),
                location,
            });
        }
        let seen = layers.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(Image {
            store,
            kind,
            name: found.name,
            manifest_digest: found.manifest_digest,
            manifest_bytes: found.manifest_bytes,
            manifest,
            origin: found.origin,
            config_digest,
            config_bytes,
            config,
            platform,
            layers,
            limits,
            progress: options.progress.clone(),
            seen,
            warnings,
        })
    }

    /// The layout directory or archive file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The container format.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// The name the image was found under (ref name annotation or `docker save` repo tag).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The manifest digest (what a deploy pins). See [`ManifestOrigin`] for classic
    /// `docker save` archives.
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest_digest
    }

    /// The manifest's exact bytes (verified against [`Image::manifest_digest`]).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &ImageManifest {
        &self.manifest
    }

    /// Whether the manifest was stored or synthesised.
    pub fn manifest_origin(&self) -> ManifestOrigin {
        self.origin
    }

    /// The config digest (Docker's image ID; stable across every input form).
    pub fn config_digest(&self) -> &Digest {
        &self.config_digest
    }

    /// The config's exact bytes (verified against [`Image::config_digest`]).
    pub fn config_bytes(&self) -> &[u8] {
        &self.config_bytes
    }

    /// The parsed config.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    /// The image's platform, from its config.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The layers, bottom first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What opening noticed without failing (malformed times, history not matching layers).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    fn context(&self, index: usize) -> Result<ReadContext<'_>, OciError> {
        let layer = self.layers.get(index).ok_or(OciError::NoSuchLayer {
            index,
            count: self.layers.len(),
        })?;
        Ok(ReadContext {
            index,
            pace_setter: false,
            layer: Some(layer),
            limits: &self.limits,
            progress: self.progress.as_ref(),
            seen: &self.seen,
        })
    }

    /// Turns a layer failure into the error to report: when the stream broke (corrupt or
    /// truncated data), the blob is hashed again so that tampering is reported as the digest
    /// or size mismatch it is, rather than as the decoder's symptom.
    fn layer_error(&self, index: usize, source: LayerError) -> OciError {
        let layer = &self.layers[index];
        let source = match source {
            LayerError::Decompress { .. } | LayerError::Tar(_) => {
                if layer.location.len != layer.size {
                    LayerError::SizeMismatch {
                        expected: layer.size,
                        actual: layer.location.len,
                    }
                } else {
                    match layer.location.sha256() {
                        Ok(actual) if actual != layer.digest => LayerError::DigestMismatch {
                            expected: layer.digest.clone(),
                            actual,
                        },
                        _ => source,
                    }
                }
            }
            other => other,
        };
        OciError::Layer {
            index,
            digest: layer.digest.clone(),
            source,
        }
    }

    /// Streams layer `index` once: decompresses, hashes the blob and the tar, parses every
    /// entry and hands it to `visitor`. Returns the entries (with the visitor's payloads) only
    /// if the blob's size and digest and the DiffID all match; otherwise an error naming the
    /// layer, and everything the visitor saw of this layer must be discarded.
    pub fn read_layer<V: LayerVisitor>(
        &self,
        index: usize,
        visitor: &mut V,
    ) -> Result<LayerContents<V::Payload>, OciError> {
        let ctx = self.context(index)?;
        layer::read(&ctx, visitor)
            .map(|(contents, _)| contents)
            .map_err(|e| self.layer_error(index, e))
    }

    /// Reads every layer in parallel and returns the results bottom first; see
    /// [`Image::read_layers_in_order`]. Apply them to an [`crate::ImageView`] in order
    /// afterwards.
    pub fn read_layers<V, F>(
        &self,
        make_visitor: F,
    ) -> Result<Vec<LayerContents<V::Payload>>, OciError>
    where
        V: LayerVisitor,
        V::Payload: Send + Sync,
        F: Fn(usize) -> V + Sync,
    {
        let mut read = Vec::with_capacity(self.layers.len());
        self.read_layers_in_order(make_visitor, |contents| {
            read.push(contents);
            Ok::<(), OciError>(())
        })?;
        Ok(read)
    }

    /// Reads every layer in parallel and hands each to `on_layer` on the calling thread,
    /// bottom first, as soon as it and every layer beneath it are read: an overlay can be
    /// built from the lower layers while the upper ones are still streaming, instead of
    /// all of it after the last layer is read.
    ///
    /// As many reading threads as rayon would use (`RAYON_NUM_THREADS`, else one per core)
    /// take layers from one queue, largest first, so the layer that takes longest starts at
    /// once and the small ones fill in around it; each asks `make_visitor(index)` for a
    /// fresh visitor. The largest layer, which sets the pace, is split over more threads
    /// (see `layer::read`). The first failure, of a layer or of `on_layer`, stops the
    /// queue and is returned once the layers being read have stopped.
    pub fn read_layers_in_order<V, F, G, E>(
        &self,
        make_visitor: F,
        mut on_layer: G,
    ) -> Result<(), E>
    where
        V: LayerVisitor,
        V::Payload: Send + Sync,
        F: Fn(usize) -> V + Sync,
        G: FnMut(LayerContents<V::Payload>) -> Result<(), E>,
        E: From<OciError>,
    {
        let order = self.largest_first();
        let taken = AtomicUsize::new(0);
        let stopped = AtomicBool::new(false);
        let readers = rayon::current_num_threads().clamp(1, order.len().max(1));
        let (done_tx, done_rx) =
            mpsc::channel::<(usize, Result<LayerContents<V::Payload>, OciError>)>();
        std::thread::scope(|scope| {
            for _ in 0..readers {
                let done = done_tx.clone();
                let (order, taken, stopped, make_visitor) =
                    (&order, &taken, &stopped, &make_visitor);
                scope.spawn(move || {
                    let mut yielded = false;
                    while !stopped.load(Ordering::Relaxed) {
                        let Some(&index) = order.get(taken.fetch_add(1, Ordering::Relaxed)) else {
                            return;
                        };
                        let pace_setter = order.first() == Some(&index);
                        if !pace_setter && !yielded {
                            layer::yield_to_the_pace_setter();
                            yielded = true;
                        }
                        let read = self.context(index).and_then(|mut ctx| {
                            ctx.pace_setter = pace_setter;
                            layer::read(&ctx, &mut make_visitor(index))
                                .map(|(contents, _)| contents)
                                .map_err(|e| self.layer_error(index, e))
                        });
                        let failed = read.is_err();
                        if done.send((index, read)).is_err() || failed {
                            stopped.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                });
            }
            drop(done_tx);
            let mut waiting: BTreeMap<usize, LayerContents<V::Payload>> = BTreeMap::new();
            let mut next = 0;
            let result = (|| {
                for (index, read) in &done_rx {
                    waiting.insert(index, read?);
                    while let Some(contents) = waiting.remove(&next) {
                        on_layer(contents)?;
                        next += 1;
                    }
                }
                Ok(())
            })();
            // On a failure the readers stop taking layers; the scope waits for the ones
            // still reading.
            stopped.store(true, Ordering::Relaxed);
            drop(done_rx);
            result
        })
    }

    /// Layer indexes by blob size, largest first: reading an image takes as long as its
    /// largest layer at least, so that one starts at once and the small ones fill in around
    /// it.
    fn largest_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.layers.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(self.layers[i].size), i));
        order
    }

    /// Streams layer `index` through decompression and hashing only, checking its size,
    /// digest and DiffID.
    pub fn verify_layer(&self, index: usize) -> Result<LayerReport, OciError> {
        let ctx = self.context(index)?;
        layer::verify(&ctx).map_err(|e| self.layer_error(index, e))
    }

    /// Verifies every layer in parallel (the deploy gate's check that the image on disk is
    /// the one its manifest and config name). The first failure is returned.
    pub fn verify_layers(&self) -> Result<Vec<LayerReport>, OciError> {
        let mut verified: Vec<LayerReport> = self
            .largest_first()
            .into_par_iter()
            .map(|i| self.verify_layer(i))
            .collect::<Result<_, OciError>>()?;
        verified.sort_unstable_by_key(|r| r.index);
        Ok(verified)
    }
}

fn open_oci(
    store: &Store,
    selector: Option<&Selector>,
    platform: Option<&Platform>,
    limits: &Limits,
) -> Result<Found, OciError> {
    let leaf = select::choose(select::leaves(store, limits)?, selector, platform)?;
    let manifest_bytes = read_verified(store, &leaf.digest, leaf.size, "manifest", limits)?;
    Ok(Found {
        name: leaf.names.into_iter().next(),
        manifest_bytes,
        manifest_digest: leaf.digest,
        origin: ManifestOrigin::Stored,
        layer_locations: None,
        config_bytes: None,
    })
}

fn open_docker(
    store: &Store,
    selector: Option<&Selector>,
    platform: Option<&Platform>,
    limits: &Limits,
) -> Result<Found, OciError> {
    let entries = docker::read_manifest_json(store, limits)?;
    let (entry, name) = docker::choose(entries, selector)?;
    let config_loc = store
        .locate(&entry.config)?
        .ok_or_else(|| OciError::Archive {
            path: store.path().to_path_buf(),
            reason: format!(
                "manifest.json names config {:?}, which is not in the archive",
                entry.config
            ),
        })?;
    let config_bytes = config_loc.read_small("config", limits.max_metadata_bytes)?;
    let config_digest = Digest::sha256_of(&config_bytes);
    if let Some(named) = entry.config_digest_from_name()
        && named != config_digest
    {
        return Err(OciError::DigestMismatch {
            what: format!("config {}", entry.config),
            expected: named,
            actual: config_digest,
        });
    }
    // Docker 25+ stores the real manifest beside manifest.json: use it when one names this
    // config, so the manifest digest is the real one.
    if store.exists("index.json") {
        for leaf in select::leaves(store, limits)? {
            if platform.is_some_and(|want| leaf.platform.as_ref().is_some_and(|p| !want.matches(p)))
            {
                continue;
            }
            let bytes = read_verified(store, &leaf.digest, leaf.size, "manifest", limits)?;
            let Ok(m) = ImageManifest::from_reader(bytes.as_slice()) else {
                continue;
            };
            if m.config().digest().to_string() == config_digest.to_string() {
                return Ok(Found {
                    name: name.or_else(|| leaf.names.into_iter().next()),
                    manifest_bytes: bytes,
                    manifest_digest: leaf.digest,
                    origin: ManifestOrigin::Stored,
                    layer_locations: None,
                    config_bytes: Some(config_bytes),
                });
            }
        }
    }
    if entry.layers.len() > limits.max_descriptors {
        return Err(OciError::Limit {
            what: format!("manifest.json ({} layers)", entry.layers.len()),
            limit: "max_descriptors",
            max: limits.max_descriptors as u64,
        });
    }
    let (config, _) = ImageConfig::parse(&config_bytes, &format!("config {config_digest}"))?;
    let synth = docker::synthesize(
        store,
        &entry,
        &config_digest,
        config_bytes.len() as u64,
        config.diff_ids(),
    )?;
    Ok(Found {
        name,
        manifest_digest: Digest::sha256_of(&synth.manifest_bytes),
        manifest_bytes: synth.manifest_bytes,
        origin: ManifestOrigin::Synthesized,
        layer_locations: Some(synth.layer_locations),
        config_bytes: Some(config_bytes),
    })
}
