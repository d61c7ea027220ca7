//! The image input stage of custody: an image on disk in, digest-checked metadata and
//! streamed, verified layer entries out.
//!
//! Everything later in the chain of custody (SBOMs per layer, attestations bound to ChainIDs,
//! the deploy gate) trusts what this crate says an image contains, so it reads images the
//! way a verifier must:
//!
//! - **Sources.** An [`ImageRef`] names an OCI layout directory, an oci-archive (the same
//!   layout in a tar), or a `docker save` tarball, classic or Docker 25+; archives are indexed
//!   once and blobs read in place by offset. Nothing is ever extracted to the host filesystem.
//! - **Checked on open.** [`Image::open`] walks `index.json` (nested indexes, platforms, ref
//!   names) or `manifest.json`, and checks the size and digest of every index, manifest and
//!   config before parsing it. A classic `docker save` archive stores no manifest; custody
//!   synthesises one deterministically ([`ManifestOrigin::Synthesized`]) and the config digest
//!   stays the stable identity.
//! - **Checked while streaming.** [`Image::read_layer`] decodes gzip, zstd or plain tar
//!   (trusting magic bytes over a mislabelled media type), hashing the compressed and the
//!   uncompressed bytes as they flow. Its result exists only if the size, blob digest and
//!   DiffID all match; on error, whatever the visitor saw of that layer is void.
//! - **Bounded.** [`Limits`] cap uncompressed bytes per layer and image, the expansion ratio,
//!   entries, captured file size, path length, symlink hops and metadata size, so a
//!   decompression bomb or a hostile tar fails fast with an error naming the layer and limit.
//! - **A view, not a disk.** Each tar entry becomes an [`Entry`] with a normalised path and a
//!   kind (whiteouts decoded); a [`LayerVisitor`] decides per entry what to keep, and an
//!   [`ImageView`] applies layers in order as an overlay filesystem would, remembering which
//!   layer last wrote each path and resolving symlinks and hard links inside the image root.
//!
//! Layers are independent, so the intended use is: [`Image::read_layers`] (one rayon task per
//! layer, a fresh visitor each), then [`ImageView::apply`] in order, looking at the view after
//! each layer.
//!
//! ```no_run
//! use custody_oci::{Entry, EntryContent, Image, ImageRef, ImageView, OpenOptions, VisitError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reference: ImageRef = "oci:images/app:1.0".parse()?;
//! let image = Image::open(&reference, &OpenOptions::default())?;
//! // Keep the bytes of the dpkg database only; everything else is metadata.
//! let layers = image.read_layers(|_| {
//!     |e: &Entry, c: &mut EntryContent<'_>| -> Result<Option<Vec<u8>>, VisitError> {
//!         Ok(if e.path == "var/lib/dpkg/status" { Some(c.read_all()?) } else { None })
//!     }
//! })?;
//! let mut view = ImageView::new(image.limits().max_symlink_hops);
//! for layer in layers {
//!     let changes = view.apply(layer)?;
//!     if let Some((_, status)) = view.lookup("/var/lib/dpkg/status")? {
//!         println!("after layer {}: status written by layer {}", changes.layer, status.layer());
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod docker;
mod entry;
mod error;
mod image;
mod layer;
mod limits;
mod path;
mod reference;
mod select;
mod store;
mod view;

pub use config::{HistoryEntry, ImageConfig};
pub use entry::{
    Entry, EntryContent, EntryKind, LayerContents, LayerEntry, LayerVisitor, MetadataOnly,
    VisitError, Warning,
};
pub use error::{LayerError, OciError, ReferenceError};
pub use image::{Image, ManifestOrigin, OpenOptions};
pub use layer::{Compression, Layer, LayerReport, ProgressFn, SharedContent, read_layer_blob};
pub use limits::Limits;
pub use reference::{ImageName, ImageRef, Platform, Selector, SourceKind};
pub use view::{ImageView, LayerChanges, MAX_RESOLVE_STEPS, ResolveError, ViewNode, ViewResolver};
