//! Which (advisory, image) pairs an import makes newly affected, computed in memory from the
//! recorded components and layers under the affected keys, without a row per pair.
//!
//! "Newly affected" means: the image is affected by the advisory's version this import
//! stores, and no earlier import of the same advisory found it affected. What an earlier
//! import found is not stored pair by pair (one Debian advisory on a base-layer package
//! reaches every image on that base: 3 million pairs for 1,000 advisories over 100,000
//! images); it is derived again from what every import stores anyway: its affected hits
//! (`advisory_hits`) and the log size it evaluated against (`advisory_imports.log_size`).
//! An image was affected at an earlier import exactly when a component under one of that
//! import's affected keys was recorded (`components.entry_idx`) in a layer the image lists
//! (`image_layers.entry_idx`), or in the image's own SBOM, both below that import's log
//! size. The log is append-only and its entries are committed in index order, so the
//! entries below a log size are the same set whenever they are read.
//!
//! So importing the same records again notifies nobody (they are not even evaluated), a
//! newer version notifies only the images the older versions did not reach, and an image
//! recorded after an import is told on the advisory's next version.

use std::collections::HashMap;

/// Where a recorded component sits: in a layer or directly in an image's SBOM (both by
/// their number in the [`Fleet`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Holder {
    /// A layer.
    Layer(u32),
    /// An image-level SBOM.
    Image(u32),
}

/// The recorded fleet under a set of keys (numbered by the caller): which layers or images
/// hold each key, with the log index that recorded them, and which images list each of
/// those layers, where, and from which log index. Digests are numbered once, so the millions
/// of (key, holder) and (layer, image) links cost a few bytes each.
#[derive(Debug, Default)]
pub(crate) struct Fleet {
    images: Vec<String>,
    image_ids: HashMap<String, u32>,
    layers: Vec<String>,
    layer_ids: HashMap<String, u32>,
    holders: HashMap<usize, Vec<(Holder, i64)>>,
    /// Per layer: (image, position, log index) of every image listing it.
    layer_images: Vec<Vec<(u32, i64, i64)>>,
    /// Per image: the layers it lists (layer, position, log index).
    image_layers: HashMap<u32, Vec<(u32, i64, i64)>>,
    /// Per holder: the keys it holds (key, log index).
    held: HashMap<Holder, Vec<(usize, i64)>>,
}

impl Fleet {
    /// The number of an image digest.
    pub(crate) fn image_id(&mut self, image: &str) -> u32 {
        if let Some(id) = self.image_ids.get(image) {
            return *id;
        }
        let id = u32::try_from(self.images.len()).unwrap_or(u32::MAX);
        self.images.push(image.to_owned());
        self.image_ids.insert(image.to_owned(), id);
        id
    }

    /// The number of a layer DiffID.
    pub(crate) fn layer_id(&mut self, layer: &str) -> u32 {
        if let Some(id) = self.layer_ids.get(layer) {
            return *id;
        }
        let id = u32::try_from(self.layers.len()).unwrap_or(u32::MAX);
        self.layers.push(layer.to_owned());
        self.layer_ids.insert(layer.to_owned(), id);
        self.layer_images.push(Vec::new());
        id
    }

    /// Records that `holder` holds a component under key number `key`, recorded at log
    /// index `entry`.
    pub(crate) fn add_component(&mut self, key: usize, holder: Holder, entry: i64) {
        self.holders.entry(key).or_default().push((holder, entry));
        self.held.entry(holder).or_default().push((key, entry));
    }

    /// The keys a holder holds: (key, log index).
    pub(crate) fn held_by(&self, holder: Holder) -> &[(usize, i64)] {
        self.held.get(&holder).map_or(&[], Vec::as_slice)
    }

    /// Every layer some component under a key sits in (to look up which images list them).
    pub(crate) fn layers(&self) -> &[String] {
        &self.layers
    }

    /// Records that `image` lists `layer` at `position`, in the entry at log index `entry`.
    pub(crate) fn add_layer_use(&mut self, layer: &str, image: &str, position: i64, entry: i64) {
        let layer = self.layer_id(layer);
        let image = self.image_id(image);
        self.layer_images[layer as usize].push((image, position, entry));
        self.image_layers
            .entry(image)
            .or_default()
            .push((layer, position, entry));
    }

    /// The image a number stands for.
    pub(crate) fn image(&self, id: u32) -> &str {
        &self.images[id as usize]
    }

    /// The layer a number stands for.
    pub(crate) fn layer(&self, id: u32) -> &str {
        &self.layers[id as usize]
    }

    /// The number of a known image.
    pub(crate) fn known_image(&self, image: &str) -> Option<u32> {
        self.image_ids.get(image).copied()
    }

    /// The layers an image lists: (layer, position, log index).
    pub(crate) fn layers_of(&self, image: u32) -> &[(u32, i64, i64)] {
        self.image_layers.get(&image).map_or(&[], Vec::as_slice)
    }

    /// The holders of a key: (holder, log index).
    pub(crate) fn holders_of(&self, key: usize) -> &[(Holder, i64)] {
        self.holders.get(&key).map_or(&[], Vec::as_slice)
    }

    /// The images affected through the keys numbered `keys`, counting only what was recorded
    /// below log size `log_size` (sorted, distinct).
    pub(crate) fn affected(
        &self,
        keys: impl IntoIterator<Item = usize>,
        log_size: i64,
    ) -> Vec<u32> {
        let mut out = Vec::new();
        for key in keys {
            for (holder, entry) in self.holders_of(key) {
                if *entry >= log_size {
                    continue;
                }
                match holder {
                    Holder::Image(image) => out.push(*image),
                    Holder::Layer(layer) => out.extend(
                        self.layer_images[*layer as usize]
                            .iter()
                            .filter(|(_, _, listed)| *listed < log_size)
                            .map(|(id, _, _)| *id),
                    ),
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What earlier imports of one advisory found: their affected keys (numbered like the
/// fleet's) and the log size each evaluated against. Imports from before log sizes were kept
/// carry the images they notified instead.
#[derive(Debug, Default)]
pub(crate) struct Earlier {
    /// (log size, affected key numbers) per earlier import.
    pub evaluations: Vec<(i64, Vec<usize>)>,
    /// Images notified by imports that recorded pairs (`advisory_notices`).
    pub notified: Vec<String>,
}

/// The images newly affected by one advisory: affected now (`keys` below `log_size`) and not
/// by any earlier import of it.
pub(crate) fn newly_affected(
    fleet: &Fleet,
    keys: &[usize],
    log_size: i64,
    earlier: Option<&Earlier>,
) -> Vec<u32> {
    let now = fleet.affected(keys.iter().copied(), log_size);
    let Some(earlier) = earlier else {
        return now;
    };
    let mut told: Vec<u32> = earlier
        .notified
        .iter()
        .filter_map(|i| fleet.known_image(i))
        .collect();
    for (size, keys) in &earlier.evaluations {
        told.extend(fleet.affected(keys.iter().copied(), *size));
    }
    told.sort_unstable();
    told.dedup();
    now.into_iter()
        .filter(|i| told.binary_search(i).is_err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL: usize = 0;
    const FLASK: usize = 1;

    /// Base layer B (entry 1) in images i1 (entry 2) and i2 (entry 5); app layer A (entry 3)
    /// in i1; flask also in an image-level SBOM of i3 (entry 6).
    fn fleet() -> Fleet {
        let mut f = Fleet::default();
        let (b, a, i3) = (f.layer_id("B"), f.layer_id("A"), f.image_id("i3"));
        f.add_component(OPENSSL, Holder::Layer(b), 1);
        f.add_component(FLASK, Holder::Layer(a), 3);
        f.add_component(FLASK, Holder::Image(i3), 6);
        f.add_layer_use("B", "i1", 0, 2);
        f.add_layer_use("A", "i1", 1, 2);
        f.add_layer_use("B", "i2", 0, 5);
        f
    }

    fn names(f: &Fleet, ids: &[u32]) -> Vec<String> {
        let mut v: Vec<String> = ids.iter().map(|i| f.image(*i).to_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_shared_layer_reaches_every_image_listing_it_below_the_log_size() {
        let f = fleet();
        assert_eq!(names(&f, &f.affected([OPENSSL], 10)), ["i1", "i2"]);
        assert_eq!(names(&f, &f.affected([OPENSSL], 3)), ["i1"]);
        assert!(f.affected([OPENSSL], 1).is_empty());
        assert_eq!(names(&f, &f.affected([FLASK], 10)), ["i1", "i3"]);
        assert_eq!(f.layers(), ["B", "A"]);
        let i1 = f.known_image("i1").unwrap();
        let listed: Vec<(&str, i64)> = f
            .layers_of(i1)
            .iter()
            .map(|(l, p, _)| (f.layer(*l), *p))
            .collect();
        assert_eq!(listed, [("B", 0), ("A", 1)]);
        let i3 = f.known_image("i3").unwrap();
        assert_eq!(f.held_by(Holder::Image(i3)), [(FLASK, 6)]);
    }

    #[test]
    fn only_images_no_earlier_import_reached_are_new() {
        let f = fleet();
        // First import: everything affected is new.
        assert_eq!(
            names(&f, &newly_affected(&f, &[OPENSSL], 10, None)),
            ["i1", "i2"]
        );
        // An earlier import at log size 3 told i1; i2 was recorded after it.
        let earlier = Earlier {
            evaluations: vec![(3, vec![OPENSSL])],
            notified: vec![],
        };
        assert_eq!(
            names(&f, &newly_affected(&f, &[OPENSSL], 10, Some(&earlier))),
            ["i2"]
        );
        // Images an earlier version reached through another key, or that an import from
        // before log sizes were kept notified, were told too.
        let other = Earlier {
            evaluations: vec![(10, vec![FLASK])],
            notified: vec![],
        };
        assert_eq!(
            names(&f, &newly_affected(&f, &[OPENSSL], 10, Some(&other))),
            ["i2"]
        );
        let legacy = Earlier {
            evaluations: vec![],
            notified: vec!["i2".into(), "unknown".into()],
        };
        assert_eq!(
            names(&f, &newly_affected(&f, &[OPENSSL], 10, Some(&legacy))),
            ["i1"]
        );
    }
}
