//! The image's file view: layers applied in order as an overlay filesystem would, with each
//! path remembering the layer that last wrote it, and links resolved inside the image.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, btree_map};
use std::sync::Arc;

use crate::entry::{Entry, EntryKind, LayerContents, LayerEntry, Warning, push_warning};
use crate::error::OciError;
use crate::path;

/// One path in the view: its metadata, the layer that last wrote it, and the payload a
/// visitor kept for it.
#[derive(Debug)]
pub struct ViewNode<T> {
    entry: Entry,
    layer: usize,
    hardlink_of: Option<String>,
    payload: Option<Arc<T>>,
}

impl<T> Clone for ViewNode<T> {
    fn clone(&self) -> Self {
        ViewNode {
            entry: self.entry.clone(),
            layer: self.layer,
            hardlink_of: self.hardlink_of.clone(),
            payload: self.payload.clone(),
        }
    }
}

impl<T> ViewNode<T> {
    /// A node for a file or directory written by layer `layer` (a directory keeps no payload).
    fn new(entry: Entry, layer: usize, payload: Option<Arc<T>>) -> Self {
        let payload = if entry.kind == EntryKind::Dir {
            None
        } else {
            payload
        };
        ViewNode {
            entry,
            layer,
            hardlink_of: None,
            payload,
        }
    }

    /// The metadata. For a hard link this is the linked file's (same inode), so its kind is
    /// never [`EntryKind::HardLink`] unless the link pointed at nothing.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The layer that last wrote this path.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// For a path created as a hard link, the path it linked to when it was applied.
    pub fn hardlink_of(&self) -> Option<&str> {
        self.hardlink_of.as_deref()
    }

    /// The visitor's payload (shared with hard links to the same file).
    pub fn payload(&self) -> Option<&T> {
        self.payload.as_deref()
    }

    /// The payload as a shared handle.
    pub fn payload_arc(&self) -> Option<&Arc<T>> {
        self.payload.as_ref()
    }
}

/// What applying one layer changed, as paths of the view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerChanges {
    /// The layer applied.
    pub layer: usize,
    /// Paths that did not exist before.
    pub added: Vec<String>,
    /// Paths that existed and were rewritten (metadata-only directory updates included).
    pub modified: Vec<String>,
    /// Paths removed by whiteouts, opaque directories, or a non-directory replacing a
    /// directory.
    pub removed: Vec<String>,
}

/// Why a path could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// More symlinks than [`crate::Limits::max_symlink_hops`] (a loop, or a hostile chain).
    #[error("resolving {path:?}: more than {max} symlinks (a loop?)")]
    TooManySymlinks {
        /// The path being resolved.
        path: String,
        /// The hop limit.
        max: usize,
    },
    /// The path and the symlink targets it passes through are too long to walk (more than
    /// [`MAX_RESOLVE_STEPS`] components, or the layer's resolution budget is spent).
    #[error("resolving {path:?}: path and link targets too long to resolve")]
    TooComplex {
        /// The path being resolved.
        path: String,
    },
}

/// Most path components one resolution walks, counting those that symlink targets add
/// (Linux's bound is 40 links of 4096 bytes; real paths need a few dozen).
pub const MAX_RESOLVE_STEPS: usize = 8192;

/// Fixed part of the resolution budget of one [`ImageView::apply`]; the rest grows with the
/// layer's total path bytes, so the work of applying a layer stays linear in its size.
const RESOLVE_BUDGET_BASE: u64 = 64 << 20;
const RESOLVE_BUDGET_PER_PATH_BYTE: u64 = 64;

/// Deepest parent directory, in components, of an entry [`ImageView::bulk_load`] takes:
/// resolving it costs at most this many lookups, each charged at most the path's length,
/// which stays inside the per-path-byte resolution budget and far below
/// [`MAX_RESOLVE_STEPS`]; so entry-by-entry application could not have refused it either.
const BULK_MAX_DEPTH: usize = 64;

/// The number of components of `path` when it is normalised (no empty, `.` or `..`
/// components, no leading or trailing `/`), else `None`.
fn normal_depth(path: &str) -> Option<usize> {
    let mut depth = 0;
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return None;
        }
        depth += 1;
    }
    Some(depth)
}

/// The order of `entries` by path (root entries left out) when applying them to an empty view
/// places every entry at its own path, so the view can be built from them sorted
/// ([`ImageView::bulk_load`]); `None` when it does not. That holds when the layer
/// has no whiteouts, no path twice, normalised paths no deeper than [`BULK_MAX_DEPTH`], no
/// entry or hard-link target under one of its own symlinks, and every hard link's target
/// earlier in the layer. Layers written from a real filesystem, as image builders write
/// them, all qualify; anything else takes the entry-by-entry path.
fn bulk_order<T>(entries: &[LayerEntry<T>]) -> Option<Vec<usize>> {
    let mut paths: Vec<(&str, usize)> = Vec::with_capacity(entries.len());
    let mut symlinks: Vec<&str> = Vec::new();
    let mut links: Vec<(&str, usize)> = Vec::new();
    let mut link_bytes: u64 = 0;
    for (i, e) in entries.iter().enumerate() {
        let p = e.entry.path.as_str();
        match &e.entry.kind {
            EntryKind::Whiteout | EntryKind::OpaqueWhiteout => return None,
            EntryKind::Symlink { .. } => symlinks.push(p),
            EntryKind::HardLink { target } => {
                if normal_depth(target).is_none_or(|d| d > BULK_MAX_DEPTH) {
                    return None;
                }
                link_bytes += target.len() as u64;
                links.push((target, i));
            }
            _ => {}
        }
        if p.is_empty() {
            continue; // the root directory, which applying skips
        }
        if normal_depth(p).is_none_or(|d| d > BULK_MAX_DEPTH) {
            return None;
        }
        paths.push((p, i));
    }
    // Resolving hard-link targets is charged to the budget's base, not to entry paths.
    if link_bytes.saturating_mul(BULK_MAX_DEPTH as u64) > RESOLVE_BUDGET_BASE {
        return None;
    }
    // Stable and run-aware: tar order, a directory walk, is nearly sorted already.
    paths.sort_by(|a, b| a.0.cmp(b.0));
    if paths.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    // Nothing under a symlink: the paths starting with `link/` are one run in sorted order,
    // so the first path not below `link/` tells.
    let under = |dir: &str, sorted: &[(&str, usize)]| {
        let prefix = format!("{dir}/");
        let at = sorted.partition_point(|(p, _)| *p < prefix.as_str());
        sorted.get(at).is_some_and(|(p, _)| p.starts_with(&prefix))
    };
    if symlinks.iter().any(|s| under(s, &paths)) {
        return None;
    }
    links.sort_by(|a, b| a.0.cmp(b.0));
    if symlinks.iter().any(|s| under(s, &links)) {
        return None;
    }
    // Every hard link's target is an entry written before it.
    let linked = links.iter().all(|&(target, at)| {
        paths
            .binary_search_by(|(p, _)| (*p).cmp(target))
            .is_ok_and(|found| paths[found].1 < at)
    });
    linked.then(|| paths.into_iter().map(|(_, i)| i).collect())
}

/// Per-apply state: the layer, what is left of its resolution budget, and the parent
/// directories resolved lately.
struct ApplyCtx {
    layer: usize,
    budget: u64,
    /// Resolved directories, each an ancestor of the next (a tar lists a directory's entries
    /// together, descending into subdirectories), so the parent of the next entry is usually
    /// one of them or one component below the last. Valid only while no entry that can
    /// change how paths resolve (anything but a file or directory written over its own
    /// kind) has been applied; such an entry clears it.
    memo: Vec<(String, Resolution)>,
}

impl ApplyCtx {
    /// The state for applying `layer`, with a resolution budget in proportion to its paths.
    fn for_layer<T>(layer: &LayerContents<T>) -> ApplyCtx {
        let path_bytes: u64 = layer
            .entries
            .iter()
            .map(|e| e.entry.path.len() as u64)
            .sum();
        ApplyCtx {
            layer: layer.index,
            budget: RESOLVE_BUDGET_BASE
                .saturating_add(path_bytes.saturating_mul(RESOLVE_BUDGET_PER_PATH_BYTE)),
            memo: Vec::new(),
        }
    }
}

/// Where resolving a path got to: the canonical path so far and the symlinks and components
/// it took, so a resolution of a longer path can continue from it with the same limits.
#[derive(Debug, Clone, Default)]
struct Resolution {
    resolved: String,
    hops: usize,
    steps: usize,
}

/// The merged filesystem of an image's layers, generic over what a visitor kept per file.
///
/// Memory is the metadata of every path plus the payloads kept, never file contents the
/// visitor skipped. Paths are normalised (`usr/bin/python3`); lookups accept `/usr/bin/...`
/// too. Layers must be applied bottom first: read them in parallel with
/// [`crate::Image::read_layers`], then [`ImageView::apply`] each in order, inspecting the
/// view between layers to see what each one changed.
#[derive(Debug)]
pub struct ImageView<T> {
    nodes: BTreeMap<String, ViewNode<T>>,
    applied: usize,
    max_hops: usize,
    warnings: Vec<Warning>,
}

impl<T> ImageView<T> {
    /// An empty view resolving at most `max_symlink_hops` symlinks per path (use
    /// [`crate::Limits::max_symlink_hops`]).
    pub fn new(max_symlink_hops: usize) -> Self {
        ImageView {
            nodes: BTreeMap::new(),
            applied: 0,
            max_hops: max_symlink_hops,
            warnings: Vec::new(),
        }
    }

    /// How many layers were applied.
    pub fn layers_applied(&self) -> usize {
        self.applied
    }

    /// Number of paths in the view.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the view has no paths.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// What applying layers noticed (dangling hard links, unresolvable parents).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Applies the next layer: whiteouts and opaque directories hide what the layers beneath
    /// put there; a later entry replaces an earlier one; a non-directory replacing a directory
    /// removes everything under it. An entry whose parent is a symlink is written through it
    /// (as containerd extracts), so every path in the view has a symlink-free parent.
    pub fn apply(&mut self, layer: LayerContents<T>) -> Result<LayerChanges, OciError> {
        self.apply_layer(layer, true)
    }

    /// [`ImageView::apply`] without listing what changed, for callers that only look at the
    /// view afterwards: the view ends up exactly the same, without copying every path of the
    /// layer into a [`LayerChanges`] nobody reads.
    pub fn apply_untracked(&mut self, layer: LayerContents<T>) -> Result<(), OciError> {
        if self.nodes.is_empty()
            && layer.index == self.applied
            && let Some(order) = bulk_order(&layer.entries)
        {
            self.bulk_load(layer, &order);
            return Ok(());
        }
        self.apply_layer(layer, false).map(|_| ())
    }

    /// Applies a layer to an empty view in one sorted build instead of entry by entry: what
    /// an image's bottom layer, its largest as a rule, costs once every layer is read. Only
    /// for layers [`bulk_order`] accepts, where placing each entry is the identity, so
    /// the view ends up exactly as [`ImageView::apply_layer`] would leave it (the tests
    /// compare the two).
    fn bulk_load(&mut self, layer: LayerContents<T>, order: &[usize]) {
        let l = layer.index;
        let mut ctx = ApplyCtx::for_layer(&layer);
        let mut slots: Vec<Option<LayerEntry<T>>> = layer.entries.into_iter().map(Some).collect();
        let mut links = Vec::new();
        let mut nodes: Vec<(String, ViewNode<T>)> = Vec::with_capacity(order.len());
        for &i in order {
            let Some(item) = slots.get_mut(i).and_then(Option::take) else {
                continue;
            };
            if matches!(item.entry.kind, EntryKind::HardLink { .. }) {
                links.push((i, item));
                continue;
            }
            nodes.push((
                item.entry.path.clone(),
                ViewNode::new(item.entry, l, item.payload),
            ));
        }
        // Already in order: collecting only checks that, then builds the tree bottom up.
        self.nodes = nodes.into_iter().collect();
        links.sort_unstable_by_key(|(i, _)| *i);
        // Hard links in tar order, placed as entry-by-entry application places them (each
        // target precedes its link).
        let mut unlisted = LayerChanges::default();
        for (_, item) in links {
            self.apply_entry(item, &mut ctx, false, &mut unlisted);
        }
        for w in layer.warnings {
            push_warning(&mut self.warnings, w);
        }
        self.applied += 1;
    }

    fn apply_layer(
        &mut self,
        layer: LayerContents<T>,
        track: bool,
    ) -> Result<LayerChanges, OciError> {
        if layer.index != self.applied {
            return Err(OciError::LayerOrder {
                expected: self.applied,
                got: layer.index,
            });
        }
        let l = layer.index;
        let mut changes = LayerChanges {
            layer: l,
            ..LayerChanges::default()
        };
        let mut ctx = ApplyCtx::for_layer(&layer);
        for item in layer.entries {
            self.apply_entry(item, &mut ctx, track, &mut changes);
        }
        for w in layer.warnings {
            push_warning(&mut self.warnings, w);
        }
        self.applied += 1;
        Ok(changes)
    }

    /// Applies one entry of layer `ctx.layer` in tar order: what [`ImageView::apply`] does for
    /// each entry, and [`ImageView::bulk_load`] for the hard links of a layer it builds sorted.
    fn apply_entry(
        &mut self,
        item: LayerEntry<T>,
        ctx: &mut ApplyCtx,
        track: bool,
        changes: &mut LayerChanges,
    ) {
        let l = ctx.layer;
        let mut entry = item.entry;
        if entry.path.is_empty() && entry.kind != EntryKind::OpaqueWhiteout {
            return; // the root directory itself
        }
        let target = self.place(&entry.path, ctx);
        // The common case in one lookup: a file or directory where there was nothing or
        // one of its own kind. It cannot change how later paths resolve.
        let target = if matches!(entry.kind, EntryKind::File | EntryKind::Dir) {
            // The entry takes the view's spelling of its path, and is listed as added or
            // modified when changes are tracked.
            let mut settle = |key: &String, listed: &mut Vec<String>| {
                if entry.path != *key {
                    entry.path.clone_from(key);
                }
                if track {
                    listed.push(key.clone());
                }
            };
            match self.nodes.entry(target) {
                btree_map::Entry::Vacant(slot) => {
                    settle(slot.key(), &mut changes.added);
                    slot.insert(ViewNode::new(entry, l, item.payload));
                    return;
                }
                btree_map::Entry::Occupied(mut slot)
                    if std::mem::discriminant(&slot.get().entry.kind)
                        == std::mem::discriminant(&entry.kind) =>
                {
                    settle(slot.key(), &mut changes.modified);
                    slot.insert(ViewNode::new(entry, l, item.payload));
                    return;
                }
                btree_map::Entry::Occupied(slot) => slot.key().clone(),
            }
        } else {
            target
        };
        // What is there now: whether it is a directory, and whether it is of the same
        // kind as the entry.
        let existing = self.nodes.get(&target).map(|n| {
            (
                n.entry.kind == EntryKind::Dir,
                std::mem::discriminant(&n.entry.kind) == std::mem::discriminant(&entry.kind),
            )
        });
        // Anything but a file or directory written over its own kind can change how
        // later paths resolve.
        let plain = matches!(entry.kind, EntryKind::File | EntryKind::Dir)
            && existing.is_none_or(|(_, same)| same);
        if !plain {
            ctx.memo.clear();
        }
        match &entry.kind {
            EntryKind::Whiteout => {
                self.remove_tree(&target, |n| n.layer < l, true, &mut changes.removed);
            }
            EntryKind::OpaqueWhiteout => {
                self.remove_tree(&target, |n| n.layer < l, false, &mut changes.removed);
            }
            EntryKind::Dir => {
                if existing.is_some_and(|(is_dir, _)| !is_dir) {
                    self.nodes.remove(&target);
                }
                let mut e = entry;
                e.path.clone_from(&target);
                let changed = target.clone();
                self.nodes.insert(
                    target,
                    ViewNode {
                        entry: e,
                        layer: l,
                        hardlink_of: None,
                        payload: None,
                    },
                );
                if existing.is_some() {
                    changes.modified.push(changed);
                } else {
                    changes.added.push(changed);
                }
            }
            _ => {
                if existing.is_some_and(|(is_dir, _)| is_dir) {
                    self.remove_tree(&target, |_| true, false, &mut changes.removed);
                }
                let mut node = match &entry.kind {
                    EntryKind::HardLink { target: link } => {
                        self.hard_link(entry.clone(), link, ctx)
                    }
                    _ => ViewNode {
                        entry,
                        layer: l,
                        hardlink_of: None,
                        payload: item.payload,
                    },
                };
                node.entry.path.clone_from(&target);
                let changed = target.clone();
                self.nodes.insert(target, node);
                if existing.is_some() {
                    changes.modified.push(changed);
                } else {
                    changes.added.push(changed);
                }
            }
        }
    }

    /// The view path an entry path lands on: its parent resolved through symlinks.
    ///
    /// Resolutions of recent parent directories are remembered (see [`ApplyCtx::memo`]), so
    /// most entries cost no lookup at all and a new directory one lookup per new component.
    fn place(&mut self, entry_path: &str, ctx: &mut ApplyCtx) -> String {
        let parent = path::parent(entry_path);
        if parent.is_empty() {
            return entry_path.to_owned();
        }
        while let Some((p, _)) = ctx.memo.last() {
            if parent == p
                || (parent.len() > p.len()
                    && parent.starts_with(p.as_str())
                    && parent.as_bytes()[p.len()] == b'/')
            {
                break;
            }
            ctx.memo.pop();
        }
        let resolution = match ctx.memo.last() {
            Some((p, r)) if p == parent => {
                return path::join(&r.resolved, path::file_name(entry_path));
            }
            Some((p, r)) => {
                let rest = &parent[p.len() + 1..];
                self.resolve_from(r.clone(), rest, parent, &mut ctx.budget)
            }
            None => self.resolve_from(Resolution::default(), parent, parent, &mut ctx.budget),
        };
        match resolution {
            Ok(r) => {
                let placed = path::join(&r.resolved, path::file_name(entry_path));
                ctx.memo.push((parent.to_owned(), r));
                placed
            }
            Err(e) => {
                push_warning(
                    &mut self.warnings,
                    Warning {
                        layer: Some(ctx.layer),
                        path: Some(entry_path.to_owned()),
                        message: format!("{e}; placing the entry at its literal path"),
                    },
                );
                entry_path.to_owned()
            }
        }
    }

    /// A hard link shares the linked file's metadata and payload (one inode).
    fn hard_link(&mut self, entry: Entry, link: &str, ctx: &mut ApplyCtx) -> ViewNode<T> {
        let layer = ctx.layer;
        let target = self.place(link, ctx);
        match self.nodes.get(&target) {
            Some(n) => ViewNode {
                entry: Entry {
                    path: entry.path,
                    ..n.entry.clone()
                },
                layer,
                hardlink_of: Some(target),
                payload: n.payload.clone(),
            },
            None => {
                push_warning(
                    &mut self.warnings,
                    Warning {
                        layer: Some(layer),
                        path: Some(entry.path.clone()),
                        message: format!(
                            "hard link to {link:?}, which is not in this or a lower layer"
                        ),
                    },
                );
                ViewNode {
                    entry,
                    layer,
                    hardlink_of: Some(target),
                    payload: None,
                }
            }
        }
    }

    /// Removes `root` (when `include_root`) and everything under it that `pred` selects.
    fn remove_tree(
        &mut self,
        root: &str,
        pred: impl Fn(&ViewNode<T>) -> bool,
        include_root: bool,
        removed: &mut Vec<String>,
    ) {
        let mut doomed: Vec<String> = Vec::new();
        if include_root
            && let Some(n) = self.nodes.get(root)
            && pred(n)
        {
            doomed.push(root.to_owned());
        }
        if root.is_empty() {
            // An opaque root hides every path of the layers beneath.
            doomed.extend(
                self.nodes
                    .iter()
                    .filter(|(_, n)| pred(n))
                    .map(|(k, _)| k.clone()),
            );
        } else {
            let prefix = format!("{root}/");
            let upper = format!("{root}0"); // '0' sorts right after '/'
            doomed.extend(
                self.nodes
                    .range(prefix.clone()..upper)
                    .filter(|(k, n)| k.starts_with(&prefix) && pred(n))
                    .map(|(k, _)| k.clone()),
            );
        }
        for k in doomed {
            self.nodes.remove(&k);
            removed.push(k);
        }
    }

    /// The node at exactly this path, without following a final symlink (like `lstat`);
    /// symlinks in parent directories are followed.
    pub fn get(&self, path: &str) -> Option<&ViewNode<T>> {
        let norm = path::join_clamped("", path);
        if let Some(n) = self.nodes.get(&norm) {
            return Some(n);
        }
        let parent = self.resolve(path::parent(&norm)).ok()?;
        self.nodes.get(&path::join(&parent, path::file_name(&norm)))
    }

    /// The canonical path `path` refers to, following every symlink inside the image:
    /// absolute targets start again at the image root, `..` stops at the root, so no path
    /// ever leaves the image. Components that do not exist are kept as written.
    pub fn resolve(&self, path: &str) -> Result<String, ResolveError> {
        let mut budget = u64::MAX;
        self.resolve_within(path, &mut budget)
    }

    /// [`ImageView::resolve`] charged to a work budget: each component looked up costs the
    /// length of the path compared. Bounded per call by [`MAX_RESOLVE_STEPS`] components, so
    /// even a hostile chain of 40 long targets costs a bounded amount.
    fn resolve_within(&self, path: &str, budget: &mut u64) -> Result<String, ResolveError> {
        self.resolve_from(Resolution::default(), path, path, budget)
            .map(|r| r.resolved)
    }

    /// Continues resolving `whole` from `start`, where resolving a prefix of it ended, with
    /// `rest` the components after that prefix. Symlink hops and steps carry over, so the
    /// result and the limits are those of resolving `whole` from the root.
    fn resolve_from<'a>(
        &'a self,
        start: Resolution,
        rest: &'a str,
        whole: &str,
        budget: &mut u64,
    ) -> Result<Resolution, ResolveError> {
        let Resolution {
            mut resolved,
            mut hops,
            mut steps,
        } = start;
        // The end offset of each component of `resolved`, for `..`.
        let mut ends: Vec<usize> = resolved.match_indices('/').map(|(i, _)| i).collect();
        if !resolved.is_empty() {
            ends.push(resolved.len());
        }
        let mut pending: Vec<&'a str> = rest
            .split('/')
            .rev()
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let too_complex = || ResolveError::TooComplex {
            path: whole.to_owned(),
        };
        while let Some(comp) = pending.pop() {
            steps += 1;
            if steps > MAX_RESOLVE_STEPS {
                return Err(too_complex());
            }
            if comp == "." {
                continue;
            }
            if comp == ".." {
                ends.pop();
                resolved.truncate(ends.last().copied().unwrap_or(0));
                continue;
            }
            let before = resolved.len();
            if !resolved.is_empty() {
                resolved.push('/');
            }
            resolved.push_str(comp);
            let cost = resolved.len() as u64;
            if *budget < cost {
                return Err(too_complex());
            }
            *budget -= cost;
            match self.nodes.get(&resolved).map(|n| &n.entry.kind) {
                Some(EntryKind::Symlink { target }) => {
                    resolved.truncate(before);
                    hops += 1;
                    if hops > self.max_hops {
                        return Err(ResolveError::TooManySymlinks {
                            path: whole.to_owned(),
                            max: self.max_hops,
                        });
                    }
                    if target.starts_with('/') {
                        resolved.clear();
                        ends.clear();
                    }
                    pending.extend(target.split('/').rev().filter(|c| !c.is_empty()));
                }
                _ => ends.push(resolved.len()),
            }
        }
        Ok(Resolution {
            resolved,
            hops,
            steps,
        })
    }

    /// The node `path` refers to after following symlinks (like `stat`), with its canonical
    /// path; `None` when nothing is there.
    pub fn lookup(&self, path: &str) -> Result<Option<(String, &ViewNode<T>)>, ResolveError> {
        let canonical = self.resolve(path)?;
        Ok(self.nodes.get(&canonical).map(|n| (canonical, n)))
    }

    /// Whether anything is at `path` after following symlinks: a node, or a directory implied
    /// by the paths under it (layers need not list every parent directory).
    pub fn exists(&self, path: &str) -> bool {
        match self.resolve(path) {
            Ok(canonical) => {
                canonical.is_empty()
                    || self.nodes.contains_key(&canonical)
                    || self.iter_under(&canonical).next().is_some()
            }
            Err(_) => false,
        }
    }

    /// A resolver for many lookups against this state of the view, remembering the
    /// directories it walks through.
    pub fn resolver(&self) -> ViewResolver<'_, T> {
        ViewResolver {
            view: self,
            dirs: RefCell::new(HashMap::new()),
        }
    }

    /// Every path in the view in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ViewNode<T>)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every path strictly under directory `dir` (normalised, no symlink following), sorted.
    pub fn iter_under<'a>(
        &'a self,
        dir: &str,
    ) -> impl Iterator<Item = (&'a str, &'a ViewNode<T>)> + 'a {
        let norm = path::join_clamped("", dir);
        let prefix = if norm.is_empty() {
            String::new()
        } else {
            format!("{norm}/")
        };
        let start = prefix.clone();
        self.nodes
            .range(start..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.as_str(), v))
    }
}

/// Resolutions against one state of an [`ImageView`] that remember the directories they
/// walked through, for a caller making many lookups at once (a cataloger looking up the
/// copyright file and file lists of every installed package shares `usr/share/doc` and
/// `var/lib/dpkg/info` between them). Results, errors and limits are those of
/// [`ImageView::resolve`] and [`ImageView::lookup`]; the borrow keeps the view from changing
/// while the resolver remembers it.
#[derive(Debug)]
pub struct ViewResolver<'v, T> {
    view: &'v ImageView<T>,
    dirs: RefCell<HashMap<String, Resolution>>,
}

impl<'v, T> ViewResolver<'v, T> {
    /// [`ImageView::resolve`], with the parent directory's resolution remembered.
    pub fn resolve(&self, path: &str) -> Result<String, ResolveError> {
        let Some(split) = path.rfind('/') else {
            return self.view.resolve(path);
        };
        let Some(start) = self.dir(&path[..split]) else {
            // The parent does not resolve: the error is the one resolving the whole path
            // gives.
            return self.view.resolve(path);
        };
        let mut budget = u64::MAX;
        match self
            .view
            .resolve_from(start, &path[split + 1..], path, &mut budget)
        {
            Ok(r) => Ok(r.resolved),
            Err(_) => self.view.resolve(path),
        }
    }

    /// [`ImageView::lookup`], with the parent directory's resolution remembered.
    pub fn lookup(&self, path: &str) -> Result<Option<(String, &'v ViewNode<T>)>, ResolveError> {
        if let Some(found) = self.lookup_in_known_dir(path) {
            return Ok(found);
        }
        let canonical = self.resolve(path)?;
        Ok(self.view.nodes.get(&canonical).map(|n| (canonical, n)))
    }

    /// The common case of [`ViewResolver::lookup`] in one search of the view: the parent
    /// directory resolves (and is remembered) and the last component is anything but a
    /// symlink, so the path is the parent's resolution plus the name, exactly as resolving
    /// it step by step would find. `None` when that does not apply (a symlink to follow, a
    /// parent that does not resolve, a `.` or `..` name): the caller resolves it the long way.
    fn lookup_in_known_dir(&self, path: &str) -> Option<Option<(String, &'v ViewNode<T>)>> {
        let (parent, name) = path.rsplit_once('/')?;
        if name.is_empty() || name == "." || name == ".." {
            return None;
        }
        if !self.dirs.borrow().contains_key(parent) {
            self.dir(parent)?;
        }
        let dirs = self.dirs.borrow();
        let r = dirs.get(parent)?;
        // Resolving the name is one more step; at the bound the long way reports it.
        if r.steps >= MAX_RESOLVE_STEPS {
            return None;
        }
        let mut canonical = String::with_capacity(r.resolved.len() + 1 + name.len());
        if !r.resolved.is_empty() {
            canonical.push_str(&r.resolved);
            canonical.push('/');
        }
        canonical.push_str(name);
        match self.view.nodes.get(&canonical) {
            Some(n) if matches!(n.entry.kind, EntryKind::Symlink { .. }) => None,
            Some(n) => Some(Some((canonical, n))),
            None => Some(None),
        }
    }

    /// The view this resolver reads.
    pub fn view(&self) -> &'v ImageView<T> {
        self.view
    }

    /// How directory `dir` resolves, continuing from its longest remembered ancestor and
    /// remembering each directory on the way; `None` when it does not resolve.
    fn dir(&self, dir: &str) -> Option<Resolution> {
        let mut dirs = self.dirs.borrow_mut();
        if let Some(r) = dirs.get(dir) {
            return Some(r.clone());
        }
        let mut cut = dir.len();
        let (mut at, mut resolution) = loop {
            match dir[..cut].rfind('/') {
                Some(i) => {
                    cut = i;
                    if let Some(r) = dirs.get(&dir[..i]) {
                        break (i + 1, r.clone());
                    }
                }
                None => break (0, Resolution::default()),
            }
        };
        let mut budget = u64::MAX;
        while at <= dir.len() {
            let end = dir[at..].find('/').map_or(dir.len(), |i| at + i);
            resolution = self
                .view
                .resolve_from(resolution, &dir[at..end], dir, &mut budget)
                .ok()?;
            dirs.insert(dir[..end].to_owned(), resolution.clone());
            at = end + 1;
        }
        Some(resolution)
    }
}

#[cfg(test)]
mod tests {
    use custody_types::{DiffId, Digest};

    use super::*;
    use crate::entry::LayerEntry;

    fn e(path: &str, kind: EntryKind) -> Entry {
        Entry {
            path: path.to_owned(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
        }
    }

    fn f(path: &str, payload: &str) -> LayerEntry<String> {
        LayerEntry {
            entry: e(path, EntryKind::File),
            payload: Some(Arc::new(payload.to_owned())),
        }
    }

    fn k(path: &str, kind: EntryKind) -> LayerEntry<String> {
        LayerEntry {
            entry: e(path, kind),
            payload: None,
        }
    }

    fn sym(path: &str, target: &str) -> LayerEntry<String> {
        k(
            path,
            EntryKind::Symlink {
                target: target.to_owned(),
            },
        )
    }

    fn layer(index: usize, entries: Vec<LayerEntry<String>>) -> LayerContents<String> {
        LayerContents {
            index,
            digest: Digest::sha256_of(&[index as u8]),
            diff_id: DiffId(Digest::sha256_of(&[index as u8])),
            uncompressed_size: 0,
            entries,
            warnings: Vec::new(),
        }
    }

    fn payload<'a>(v: &'a ImageView<String>, p: &str) -> Option<&'a str> {
        v.lookup(p).ok()??.1.payload().map(String::as_str)
    }

    /// One path of a view: its entry, layer, hard-link target and payload.
    type Held = (String, Entry, usize, Option<String>, Option<String>);

    /// Everything a view holds, comparable: each path and the warnings.
    fn snapshot(v: &ImageView<String>) -> (Vec<Held>, Vec<Warning>) {
        let nodes = v
            .iter()
            .map(|(p, n)| {
                (
                    p.to_owned(),
                    n.entry().clone(),
                    n.layer(),
                    n.hardlink_of().map(str::to_owned),
                    n.payload().cloned(),
                )
            })
            .collect();
        (nodes, v.warnings().to_vec())
    }

    /// Applies `entries` as the bottom layer both ways: untracked (the sorted build when
    /// the layer qualifies) and tracked (always entry by entry). Returns whether the sorted
    /// build applied, after checking the two views are identical.
    fn both_ways(entries: Vec<LayerEntry<String>>) -> bool {
        let bulk = bulk_order(&entries).is_some();
        let mut fast = ImageView::new(40);
        fast.apply_untracked(layer(0, entries.clone())).unwrap();
        let mut slow = ImageView::new(40);
        slow.apply(layer(0, entries)).unwrap();
        assert_eq!(snapshot(&fast), snapshot(&slow));
        assert_eq!(fast.layers_applied(), 1);
        bulk
    }

    fn hard(path: &str, target: &str) -> LayerEntry<String> {
        k(
            path,
            EntryKind::HardLink {
                target: target.to_owned(),
            },
        )
    }

    #[test]
    fn a_bottom_layer_from_a_real_filesystem_is_built_sorted_and_matches_entry_by_entry() {
        let entries = vec![
            k("", EntryKind::Dir),
            k("usr", EntryKind::Dir),
            k("usr/bin", EntryKind::Dir),
            f("usr/bin/perl5.36", "perl"),
            hard("usr/bin/perl", "usr/bin/perl5.36"),
            hard("usr/bin/perl-again", "usr/bin/perl"),
            k("usr/lib", EntryKind::Dir),
            f("usr/lib/os-release", "debian"),
            k("usr/lib-extra", EntryKind::Dir),
            sym("lib", "usr/lib"),
            sym("etc-os", "/usr/lib/os-release"),
            k("etc", EntryKind::Dir),
            sym("etc/os-release", "../usr/lib/os-release"),
            {
                let mut d = f("dir-with-payload", "dropped");
                d.entry.kind = EntryKind::Dir;
                d
            },
            k("dev-null", EntryKind::CharDevice { major: 1, minor: 3 }),
        ];
        assert!(both_ways(entries));
    }

    #[test]
    fn a_bottom_layer_that_needs_resolving_is_applied_entry_by_entry() {
        let cases: Vec<Vec<LayerEntry<String>>> = vec![
            // An entry under the layer's own symlink lands where the link points.
            vec![sym("lib", "usr/lib"), f("lib/libc.so.6", "libc")],
            // A hard link's target under a symlink.
            vec![
                sym("lib", "usr/lib"),
                f("usr/lib/a", "a"),
                hard("b", "lib/a"),
            ],
            // A hard link before its target, and one to nothing.
            vec![hard("a", "b"), f("b", "b")],
            vec![hard("a", "missing")],
            vec![hard("a", "a")],
            // The same path twice: the later one wins, whatever kind.
            vec![f("a", "1"), f("a", "2")],
            vec![k("a", EntryKind::Dir), f("a/x", "x"), f("a", "file")],
            // Whiteouts, even with nothing beneath them.
            vec![f("a", "1"), k("b", EntryKind::Whiteout)],
            vec![k("", EntryKind::OpaqueWhiteout), f("a", "1")],
            // Paths a hand-made layer might hold that readers never produce.
            vec![f("a//b", "x"), f("./c", "y"), f("d/../e", "z")],
        ];
        for entries in cases {
            assert!(!both_ways(entries.clone()), "{entries:?}");
        }
        // Deeper than the sorted build takes.
        let deep = vec!["d"; BULK_MAX_DEPTH + 1].join("/");
        assert!(!both_ways(vec![f(&deep, "deep")]));
        let just = vec!["d"; BULK_MAX_DEPTH].join("/");
        assert!(both_ways(vec![f(&just, "deep enough")]));
    }

    #[test]
    fn only_an_empty_view_is_built_sorted() {
        let mut v = ImageView::new(40);
        v.apply_untracked(layer(0, vec![f("a", "1"), sym("l", "a")]))
            .unwrap();
        // The second layer goes entry by entry: it must land on what is there.
        v.apply_untracked(layer(1, vec![f("b", "2"), f("a", "3")]))
            .unwrap();
        assert_eq!(payload(&v, "a"), Some("3"));
        assert_eq!(payload(&v, "l"), Some("3"));
        assert_eq!(v.layers_applied(), 2);
        assert!(matches!(
            v.apply_untracked(layer(5, vec![])),
            Err(OciError::LayerOrder { .. })
        ));
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let mut v = ImageView::new(40);
        v.apply(layer(
            0,
            vec![
                k("a", EntryKind::Dir),
                f("a/x", "x0"),
                f("a/y", "y0"),
                k("d", EntryKind::Dir),
                f("d/old", "old"),
                k("d/sub", EntryKind::Dir),
                f("d/sub/deep", "deep"),
            ],
        ))
        .unwrap();
        let ch = v
            .apply(layer(
                1,
                vec![
                    k("a/x", EntryKind::Whiteout),
                    // The opaque marker after a same-layer child must not hide that child.
                    f("d/new", "new"),
                    k("d", EntryKind::OpaqueWhiteout),
                ],
            ))
            .unwrap();
        assert_eq!(payload(&v, "a/x"), None);
        assert_eq!(payload(&v, "a/y"), Some("y0"));
        assert_eq!(payload(&v, "d/new"), Some("new"));
        assert!(v.get("d/old").is_none() && v.get("d/sub/deep").is_none());
        assert!(v.get("d").is_some(), "an opaque directory itself stays");
        let mut removed = ch.removed.clone();
        removed.sort();
        assert_eq!(removed, ["a/x", "d/old", "d/sub", "d/sub/deep"]);
        assert_eq!(ch.added, ["d/new"]);
        // Whiting out a directory removes its subtree.
        v.apply(layer(2, vec![k("a", EntryKind::Whiteout)]))
            .unwrap();
        assert!(v.get("a").is_none() && v.get("a/y").is_none());
        // An opaque root (`.wh..wh..opq` at the top) hides everything beneath.
        v.apply(layer(
            3,
            vec![f("fresh", "f"), k("", EntryKind::OpaqueWhiteout)],
        ))
        .unwrap();
        let all: Vec<&str> = v.iter().map(|(p, _)| p).collect();
        assert_eq!(all, ["fresh"]);
    }

    #[test]
    fn later_layers_replace_and_change_kinds() {
        let mut v = ImageView::new(40);
        v.apply(layer(
            0,
            vec![k("p", EntryKind::Dir), f("p/child", "c"), f("q", "file q")],
        ))
        .unwrap();
        let ch = v
            .apply(layer(
                1,
                vec![
                    f("p", "now a file"),
                    k("q", EntryKind::Dir),
                    f("q/in", "in"),
                ],
            ))
            .unwrap();
        assert_eq!(payload(&v, "p"), Some("now a file"));
        assert!(v.get("p/child").is_none());
        assert_eq!(v.get("q").unwrap().entry().kind, EntryKind::Dir);
        assert_eq!(v.get("q").unwrap().layer(), 1);
        assert_eq!(payload(&v, "q/in"), Some("in"));
        assert_eq!(ch.removed, ["p/child"]);
        assert_eq!(ch.modified, ["p", "q"]);
        assert!(matches!(
            v.apply(layer(5, vec![])),
            Err(OciError::LayerOrder {
                expected: 2,
                got: 5
            })
        ));
    }

    #[test]
    fn hard_links_share_the_lower_layer_file_and_survive_its_replacement() {
        let mut v = ImageView::new(40);
        v.apply(layer(0, vec![f("usr/bin/perl5.36", "perl")]))
            .unwrap();
        v.apply(layer(
            1,
            vec![k(
                "usr/bin/perl",
                EntryKind::HardLink {
                    target: "usr/bin/perl5.36".to_owned(),
                },
            )],
        ))
        .unwrap();
        let node = v.get("usr/bin/perl").unwrap();
        assert_eq!(node.entry().kind, EntryKind::File);
        assert_eq!(node.hardlink_of(), Some("usr/bin/perl5.36"));
        assert_eq!(node.layer(), 1);
        assert_eq!(payload(&v, "usr/bin/perl"), Some("perl"));
        // Replacing the original later does not change the link's content (one inode each).
        v.apply(layer(2, vec![f("usr/bin/perl5.36", "new perl")]))
            .unwrap();
        assert_eq!(payload(&v, "usr/bin/perl"), Some("perl"));
        // A link to nothing is kept with a warning.
        v.apply(layer(
            3,
            vec![k(
                "dangling",
                EntryKind::HardLink {
                    target: "missing".to_owned(),
                },
            )],
        ))
        .unwrap();
        assert!(
            v.warnings()[0]
                .message
                .contains("not in this or a lower layer")
        );
    }

    #[test]
    fn entries_under_a_symlinked_directory_land_at_its_target() {
        let mut v = ImageView::new(40);
        v.apply(layer(
            0,
            vec![
                k("usr", EntryKind::Dir),
                k("usr/lib", EntryKind::Dir),
                sym("lib", "usr/lib"),
                sym("etc/os-release", "../usr/lib/os-release"),
                f("usr/lib/os-release", "ID=debian"),
            ],
        ))
        .unwrap();
        v.apply(layer(1, vec![f("lib/libfoo.so", "foo")])).unwrap();
        assert!(v.get("usr/lib/libfoo.so").is_some());
        assert_eq!(payload(&v, "/lib/libfoo.so"), Some("foo"));
        assert_eq!(payload(&v, "/etc/os-release"), Some("ID=debian"));
        // `..` after a symlink climbs from its target, as the kernel does.
        assert_eq!(v.resolve("/lib/../etc").unwrap(), "usr/etc");
        assert_eq!(v.resolve("../../lib/x").unwrap(), "usr/lib/x");
        let under: Vec<&str> = v.iter_under("/usr/lib").map(|(p, _)| p).collect();
        assert_eq!(under, ["usr/lib/libfoo.so", "usr/lib/os-release"]);
        assert!(v.exists("/lib") && v.exists("/etc") && v.exists("/"));
        assert!(!v.exists("/nope") && !v.exists("/lib/nope"));
        // get() does not follow a final symlink; lookup() does.
        assert!(matches!(
            v.get("etc/os-release").unwrap().entry().kind,
            EntryKind::Symlink { .. }
        ));
    }

    #[test]
    fn a_symlink_made_mid_layer_redirects_later_entries() {
        let mut v = ImageView::new(40);
        v.apply(layer(
            0,
            vec![
                k("real", EntryKind::Dir),
                f("a/x", "x"),
                sym("a", "real"),
                f("a/y", "y"),
            ],
        ))
        .unwrap();
        assert!(
            v.get("real/y").is_some(),
            "the remembered parent must be forgotten"
        );
        assert_eq!(payload(&v, "a/y"), Some("y"));
    }

    #[test]
    fn remembered_parents_follow_a_depth_first_walk() {
        let mut v = ImageView::new(40);
        v.apply(layer(
            0,
            vec![
                k("opt", EntryKind::Dir),
                k("opt/real", EntryKind::Dir),
                sym("opt/link", "real"),
                sym("abs", "/opt/real"),
            ],
        ))
        .unwrap();
        // Down into a symlinked directory, deeper, back up, and across to a sibling.
        v.apply(layer(
            1,
            vec![
                k("opt/link/a", EntryKind::Dir),
                f("opt/link/a/x", "x"),
                k("opt/link/a/b", EntryKind::Dir),
                f("opt/link/a/b/y", "y"),
                f("opt/link/a/z", "z"),
                f("opt/link/w", "w"),
                f("abs/a/b/v", "v"),
                f("opt/other/u", "u"),
                f("opt/link/a/b/t", "t"),
            ],
        ))
        .unwrap();
        let paths: Vec<&str> = v.iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "abs",
                "opt",
                "opt/link",
                "opt/other/u",
                "opt/real",
                "opt/real/a",
                "opt/real/a/b",
                "opt/real/a/b/t",
                "opt/real/a/b/v",
                "opt/real/a/b/y",
                "opt/real/a/x",
                "opt/real/a/z",
                "opt/real/w",
            ]
        );
        assert_eq!(payload(&v, "/abs/a/b/t"), Some("t"));
    }

    #[test]
    fn the_resolver_answers_as_the_view_does() {
        let mut v: ImageView<String> = ImageView::new(4);
        v.apply(layer(
            0,
            vec![
                k("usr", EntryKind::Dir),
                k("usr/share", EntryKind::Dir),
                k("usr/share/doc", EntryKind::Dir),
                f("usr/share/doc/a/copyright", "a"),
                sym("usr/share/doc/b", "a"),
                sym("usr/share/doc/c", "/usr/share/doc/a"),
                sym("usr/share/doc/up", "../../../etc"),
                sym("doc", "usr/share/doc"),
                k("etc", EntryKind::Dir),
                f("etc/os-release", "os"),
                sym("l1", "l2"),
                sym("l2", "l3"),
                sym("l3", "l4"),
                sym("l4", "l5"),
                sym("l5", "usr"),
                sym("loop", "loop/x"),
            ],
        ))
        .unwrap();
        let paths = [
            "usr/share/doc/a/copyright",
            "usr/share/doc/b/copyright",
            "usr/share/doc/c/copyright",
            "/usr/share/doc/c/copyright",
            "doc/b/copyright",
            "doc/up/os-release",
            "usr/share/doc/up/../etc/os-release",
            "usr/./share//doc/a/copyright",
            "l4/share/doc/a/copyright",
            "l1/share/doc/a/copyright",
            "l1/share",
            "loop/a/b",
            "missing/a/b",
            "usr/share/doc/missing/copyright",
            "copyright",
            "",
            "/",
            // The last component a symlink, a dot, nothing, or under a symlink loop.
            "usr/share/doc/b",
            "usr/share/doc/up",
            "doc/c",
            "usr/share/doc/a/.",
            "usr/share/doc/a/..",
            "usr/share/doc/a/",
            "usr/share/doc/a",
            "l1/share/doc",
            "loop/x",
        ];
        // Twice over one resolver: cold, then with every directory remembered.
        let r = v.resolver();
        for _ in 0..2 {
            for p in paths {
                assert_eq!(r.resolve(p), v.resolve(p), "{p}");
                assert_eq!(
                    r.lookup(p)
                        .map(|o| o.map(|(c, n)| (c, n.payload().cloned()))),
                    v.lookup(p)
                        .map(|o| o.map(|(c, n)| (c, n.payload().cloned()))),
                    "{p}"
                );
            }
        }
        assert!(matches!(
            r.resolve("l1/share"),
            Err(ResolveError::TooManySymlinks { .. })
        ));
        assert_eq!(
            r.resolve("doc/b/copyright").unwrap(),
            "usr/share/doc/a/copyright"
        );
    }

    #[test]
    fn hostile_paths_are_bounded() {
        let mut v: ImageView<String> = ImageView::new(40);
        let deep = "d/".repeat(MAX_RESOLVE_STEPS + 10);
        assert!(matches!(
            v.resolve(&deep),
            Err(ResolveError::TooComplex { .. })
        ));
        // A chain of 40 links (within the hop limit) whose targets wander 400 components
        // each: walking it would take 16,000 steps, so it is refused.
        let mut entries = vec![];
        let wander = format!("{}{}", "x/".repeat(200), "../".repeat(200));
        for i in 0..40 {
            entries.push(sym(&format!("l{i}"), &format!("/{wander}l{}", i + 1)));
        }
        v.apply(layer(0, entries)).unwrap();
        assert!(matches!(
            v.resolve("l0"),
            Err(ResolveError::TooComplex { .. })
        ));
        assert_eq!(v.resolve("l39").unwrap(), "l40");
        // ...and warnings stop at the cap.
        let dangling: Vec<_> = (0..1500)
            .map(|i| {
                k(
                    &format!("h{i}"),
                    EntryKind::HardLink {
                        target: format!("missing{i}"),
                    },
                )
            })
            .collect();
        v.apply(layer(1, dangling)).unwrap();
        assert_eq!(v.warnings().len(), crate::entry::MAX_WARNINGS + 1);
        assert!(
            v.warnings()
                .last()
                .unwrap()
                .message
                .contains("not recorded")
        );
    }

    #[test]
    fn image_view_and_image_are_shareable() {
        fn sync<T: Send + Sync>() {}
        sync::<ImageView<Vec<u8>>>();
        sync::<crate::Image>();
    }
}
