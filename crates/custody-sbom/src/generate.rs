//! The pipeline: layers read in parallel, parsed files laid over each other in order, the
//! package set diffed after every layer, SBOM models out.

use std::collections::{BTreeSet, HashSet};

use custody_oci::{Entry, EntryContent, Image, ImageView, VisitError};
use custody_types::{ChainId, Digest};

use crate::assemble::{Draft, assemble};
use crate::catalog::{self, FileKind, Parsed, binary::ELF_MAGIC, classify};
use crate::diff::{Differ, Tracked};
use crate::error::SbomError;
use crate::limits::Limits;
use crate::model::{Bom, Component, ImageInfo, LayerAttribution, LayerRef, Subject, Warning};
use crate::render::{Format, SpecVersion, render};

/// What to generate and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Cataloger limits.
    pub limits: Limits,
    /// The image's name in the documents, overriding what the image itself says.
    pub name: Option<String>,
    /// `SOURCE_DATE_EPOCH`: the documents' timestamp, for reproducible builds.
    pub source_date_epoch: Option<i64>,
}

impl Options {
    /// Default options, with `SOURCE_DATE_EPOCH` taken from the environment when it is set
    /// to a valid number of seconds.
    pub fn from_env() -> Options {
        Options {
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            ..Options::default()
        }
    }
}

/// The SBOM of one layer: what it added, changed or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSbom {
    /// The layer.
    pub layer: LayerRef,
    /// Its ChainID.
    pub chain_id: ChainId,
    /// The document model (subject: this layer).
    pub bom: Bom,
}

impl LayerSbom {
    /// The layer's CycloneDX JSON and its SHA-256 digest (what a layer attestation embeds
    /// or names).
    pub fn cyclonedx(&self, spec: SpecVersion) -> (Vec<u8>, Digest) {
        let bytes = render(&self.bom, Format::CycloneDxJson, spec);
        let digest = Digest::sha256_of(&bytes);
        (bytes, digest)
    }

    /// File name for `--layers-dir`: `<diffid-hex>.cdx.json`.
    pub fn file_name(&self) -> String {
        format!("{}.cdx.json", self.layer.diff_id.0.hex())
    }
}

/// Everything [`generate`] found: the image SBOM, one per layer, and the warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSboms {
    /// The image's final filesystem.
    pub image: Bom,
    /// One per layer, bottom first.
    pub layers: Vec<LayerSbom>,
    /// Problems with single files or records that did not stop the SBOM, sorted.
    pub warnings: Vec<Warning>,
}

/// Reads every layer of `image` (in parallel, digest-checked) and builds the SBOMs.
///
/// Errors only when the image itself is unreadable or fails a check (a layer's digest or
/// DiffID, a limit); a bad package record is a [`Warning`] and the rest still counts.
pub fn generate(image: &Image, options: &Options) -> Result<ImageSboms, SbomError> {
    let layers = image.layers();
    let info = image_info(image, options);
    if layers.is_empty() {
        return Err(SbomError::NoLayers(info.name));
    }
    let capture_cap = image.limits().max_capture_bytes;
    let limits = &options.limits;
    let mut warnings: BTreeSet<Warning> = BTreeSet::new();
    let mut view: ImageView<Parsed> = ImageView::new(image.limits().max_symlink_hops);
    let mut differ = Differ::default();
    let mut deltas = Vec::with_capacity(layers.len());
    // Each layer is laid over the view, and the packages after it found, while the layers
    // above it are still being read.
    image.read_layers_in_order(
        |_| {
            move |entry: &Entry, content: &mut EntryContent<'_>| {
                SCRATCH
                    .with_borrow_mut(|scratch| visit(entry, content, limits, capture_cap, scratch))
            }
        },
        |layer| {
            warnings.extend(layer.warnings().iter().map(from_oci));
            let index = layer.index();
            view.apply_untracked(layer)?;
            let (drafts, w) = assemble(&view.resolver());
            warnings.extend(w);
            deltas.push((index, differ.step(index, drafts)));
            Ok::<(), SbomError>(())
        },
    )?;
    warnings.extend(view.warnings().iter().map(from_oci));
    warnings.extend(image.warnings().iter().map(from_oci));

    // The view holds every path of the image; freeing it takes a millisecond or two that
    // nothing below waits for, so a pool thread does it while the documents are built.
    rayon::spawn(move || drop(view));
    let refs = &info.layers;
    let image_time = options
        .source_date_epoch
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .or_else(|| image.config().created())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let final_components: Vec<Component> = differ
        .finish()
        .iter()
        .map(|t| component(t, refs, None))
        .collect();
    let image_bom = Bom {
        image: info.clone(),
        subject: Subject::Image,
        timestamp: image_time,
        components: finish(final_components),
    };
    let mut layer_boms = Vec::with_capacity(deltas.len());
    for (index, delta) in deltas {
        let mut comps: Vec<Component> = Vec::new();
        comps.extend(delta.added.iter().map(|t| component(t, refs, None)));
        comps.extend(delta.changed.iter().map(|t| component(t, refs, None)));
        comps.extend(
            delta
                .removed
                .iter()
                .map(|t| component(t, refs, Some(index))),
        );
        let layer_time = options
            .source_date_epoch
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .or_else(|| {
                image
                    .config()
                    .history()
                    .iter()
                    .find(|h| h.layer == Some(index))
                    .and_then(|h| h.created)
            })
            .unwrap_or(image_time);
        let layer = refs[index].clone();
        let chain_id = layers[index].chain_id().clone();
        layer_boms.push(LayerSbom {
            bom: Bom {
                image: info.clone(),
                subject: Subject::Layer {
                    layer: layer.clone(),
                    chain_id: chain_id.clone(),
                },
                timestamp: layer_time,
                components: finish(comps),
            },
            layer,
            chain_id,
        });
    }
    Ok(ImageSboms {
        image: image_bom,
        layers: layer_boms,
        warnings: warnings.into_iter().collect(),
    })
}

/// Largest capture buffer a thread keeps between files; a larger file's buffer is freed
/// once it is parsed, so memory stays bounded by the largest file being parsed.
const SCRATCH_KEEP: usize = 16 << 20;

thread_local! {
    /// The capture buffer of the thread parsing a layer, kept across files and across the
    /// layers that thread parses: its pages are mapped and zeroed once, not once per layer
    /// (page faults were a visible part of the cost on uncompressed layers).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The per-entry decision, run inside each layer's task: keep and parse only what a
/// cataloger reads, within the limits. Files are read into `scratch`, the thread's reusable
/// buffer, and only what the cataloger parses out of them is kept.
fn visit(
    entry: &Entry,
    content: &mut EntryContent<'_>,
    limits: &Limits,
    capture_cap: u64,
    scratch: &mut Vec<u8>,
) -> Result<Option<Parsed>, VisitError> {
    if !entry.is_file() {
        return Ok(None);
    }
    let kind = classify(&entry.path);
    let limit = match kind {
        FileKind::MaybeBinary => limits.max_binary_bytes,
        FileKind::RpmDb => limits.max_rpmdb_bytes,
        FileKind::JavaArchive => limits.max_archive_bytes,
        _ => limits.max_metadata_bytes,
    }
    .min(capture_cap);
    if kind == FileKind::MaybeBinary {
        // The smallest ELF header is 52 bytes; anything shorter cannot be a binary.
        if entry.size < 52 || content.peek(4)? != ELF_MAGIC {
            return Ok(None);
        }
    }
    if entry.size > limit {
        content.warn(format!(
            "{} bytes, more than the {limit}-byte limit for this kind of file; not cataloged",
            entry.size
        ));
        return Ok(None);
    }
    let parsed = if kind == FileKind::MaybeBinary {
        // Only the headers and a section or two of a binary are read: parse them where the
        // layer decoded them instead of copying the whole file out first; in place when the
        // file lies in one chunk, else through a cache over the chunks it spans.
        let shared = content.read_shared()?;
        match shared.as_slice() {
            Some(bytes) => catalog::parse_binary(bytes, limits),
            None => catalog::parse_binary(&object::read::ReadCache::new(shared), limits),
        }
    } else {
        let bytes = content.read_all_into(scratch)?;
        let parsed = catalog::parse(kind, &entry.path, bytes, limits);
        if scratch.len() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        parsed
    };
    for w in parsed.warnings {
        content.warn(w);
    }
    Ok(match parsed.value {
        Parsed::Nothing => None,
        p => Some(p),
    })
}

fn from_oci(w: &custody_oci::Warning) -> Warning {
    Warning {
        layer: w.layer,
        path: w
            .path
            .as_deref()
            .map(|p| format!("/{p}"))
            .unwrap_or_default(),
        message: w.message.clone(),
    }
}

fn image_info(image: &Image, options: &Options) -> ImageInfo {
    let layers = image
        .layers()
        .iter()
        .map(|l| LayerRef {
            index: l.index(),
            diff_id: l.diff_id().clone(),
            digest: l.digest().clone(),
        })
        .collect();
    ImageInfo {
        name: image_name(image, options),
        manifest_digest: image.manifest_digest().clone(),
        config_digest: image.config_digest().clone(),
        platform: image.platform().to_string(),
        layers,
    }
}

/// The name documents give the image: `--image`/the caller's name, else a full reference
/// the image carries, else its `org.opencontainers.image.title` label with the ref-name as
/// tag, else the file or folder name.
fn image_name(image: &Image, options: &Options) -> String {
    if let Some(n) = &options.name {
        return n.clone();
    }
    let found = image.name();
    if let Some(n) = found
        && (n.contains('/') || n.contains(':'))
    {
        return n.to_owned();
    }
    let title = image
        .config()
        .labels()
        .and_then(|l| l.get("org.opencontainers.image.title"))
        .filter(|t| !t.is_empty())
        .cloned();
    let base = title.unwrap_or_else(|| {
        let path = image.path();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem == "oci" || stem.is_empty() {
            path.parent()
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or(stem)
        } else {
            stem
        }
    });
    match found {
        Some(tag) if !tag.is_empty() => format!("{base}:{tag}"),
        _ => base,
    }
}

fn component(t: &Tracked, refs: &[LayerRef], removed: Option<usize>) -> Component {
    let d: &Draft = &t.draft;
    Component {
        ecosystem: d.ecosystem,
        group: d.group.clone(),
        name: d.name.clone(),
        version: d.version.clone(),
        purl: d.purl.clone(),
        bom_ref: d.bom_ref.clone(),
        licenses: d.licenses.clone(),
        evidence: d.evidence.clone(),
        properties: d.properties.clone(),
        owned_by: d.owned_by.clone(),
        depends_on: d.depends_on.clone(),
        layers: LayerAttribution {
            introduced: refs[t.introduced].clone(),
            changed: t.changed.map(|i| refs[i].clone()),
            removed: removed.map(|i| refs[i].clone()),
        },
    }
}

/// Sorts components stably and makes bom-refs unique within the document (a second
/// component with the same reference gets `#2`, `#3`… in sort order).
fn finish(mut comps: Vec<Component>) -> Vec<Component> {
    comps.sort_by(|a, b| {
        (
            a.ecosystem,
            &a.group,
            &a.name,
            &a.version,
            &a.bom_ref,
            a.layers.removed.is_some(),
        )
            .cmp(&(
                b.ecosystem,
                &b.group,
                &b.name,
                &b.version,
                &b.bom_ref,
                b.layers.removed.is_some(),
            ))
    });
    let mut seen: HashSet<String> = HashSet::new();
    for c in &mut comps {
        if !seen.insert(c.bom_ref.clone()) {
            let mut n = 2;
            while !seen.insert(format!("{}#{n}", c.bom_ref)) {
                n += 1;
            }
            c.bom_ref = format!("{}#{n}", c.bom_ref);
        }
    }
    comps
}
