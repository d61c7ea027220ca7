//! Layer attribution by diffing package sets: the state after layer N against the state
//! after layer N-1. This is what makes "introduced in" mean *installed by*, not *last
//! written by*: a status database rewritten by a later `apt-get install` leaves the earlier
//! packages' identities and versions as they were, so they keep their layer.

use std::collections::{BTreeMap, BTreeSet};

use crate::assemble::Draft;

/// A component of the current state with the layers that made it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tracked {
    pub(crate) draft: Draft,
    pub(crate) introduced: usize,
    pub(crate) changed: Option<usize>,
}

/// What one layer did to the package set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    /// New components (a new version of a package counts, with `changed` set too).
    pub(crate) added: Vec<Tracked>,
    /// Components whose record this layer rewrote, same version.
    pub(crate) changed: Vec<Tracked>,
    /// Components this layer removed (as they were before it).
    pub(crate) removed: Vec<Tracked>,
}

/// Walks the states of an image in order.
#[derive(Debug, Default)]
pub(crate) struct Differ {
    current: BTreeMap<(String, String), Tracked>,
}

impl Differ {
    /// Moves to the state after `layer`, whose package set is `drafts`.
    pub(crate) fn step(&mut self, layer: usize, drafts: Vec<Draft>) -> Delta {
        let mut next: BTreeMap<(String, String), Tracked> = BTreeMap::new();
        let mut delta = Delta::default();
        let new_keys: BTreeSet<(String, String)> = drafts
            .iter()
            .map(|d| (d.key.clone(), d.version.clone()))
            .collect();
        // Keys whose old version disappears in this layer: the new version is a change.
        let replaced: BTreeSet<&str> = self
            .current
            .keys()
            .filter(|k| !new_keys.contains(*k))
            .map(|(key, _)| key.as_str())
            .collect();
        for draft in drafts {
            let id = (draft.key.clone(), draft.version.clone());
            let tracked = match self.current.get(&id) {
                Some(old) => {
                    let rewritten = old.draft.fingerprint != draft.fingerprint;
                    let t = Tracked {
                        introduced: old.introduced,
                        changed: if rewritten { Some(layer) } else { old.changed },
                        draft,
                    };
                    if rewritten {
                        delta.changed.push(t.clone());
                    }
                    t
                }
                None => {
                    let upgraded = replaced.contains(draft.key.as_str());
                    let t = Tracked {
                        introduced: layer,
                        changed: upgraded.then_some(layer),
                        draft,
                    };
                    delta.added.push(t.clone());
                    t
                }
            };
            next.insert(id, tracked);
        }
        for (id, old) in std::mem::take(&mut self.current) {
            if !next.contains_key(&id) {
                delta.removed.push(old);
            }
        }
        self.current = next;
        delta
    }

    /// The components of the last state.
    pub(crate) fn finish(self) -> Vec<Tracked> {
        self.current.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ecosystem;

    fn draft(key: &str, version: &str, fp: u64) -> Draft {
        Draft {
            key: key.to_owned(),
            fingerprint: fp,
            ecosystem: Ecosystem::Deb,
            group: None,
            name: key.to_owned(),
            version: version.to_owned(),
            purl: format!("pkg:deb/debian/{key}@{version}"),
            bom_ref: format!("pkg:deb/debian/{key}@{version}"),
            licenses: vec![],
            evidence: vec![],
            properties: vec![],
            owned_by: None,
            depends_on: vec![],
        }
    }

    #[test]
    fn introduced_changed_upgraded_and_removed() {
        let mut d = Differ::default();
        let l0 = d.step(
            0,
            vec![
                draft("bash", "5.2", 1),
                draft("e2fsprogs", "1.47", 2),
                draft("libssl3", "3.0.1", 3),
            ],
        );
        assert_eq!(l0.added.len(), 3);
        // Layer 1 rewrites the database: bash's record unchanged, e2fsprogs purged,
        // libssl3 upgraded, python3 installed.
        let l1 = d.step(
            1,
            vec![
                draft("bash", "5.2", 1),
                draft("libssl3", "3.0.2", 4),
                draft("python3", "3.11", 5),
            ],
        );
        let added: Vec<_> = l1
            .added
            .iter()
            .map(|t| (t.draft.name.as_str(), t.changed))
            .collect();
        assert_eq!(added, [("libssl3", Some(1)), ("python3", None)]);
        let removed: Vec<_> = l1
            .removed
            .iter()
            .map(|t| (t.draft.name.as_str(), t.draft.version.as_str()))
            .collect();
        assert_eq!(removed, [("e2fsprogs", "1.47"), ("libssl3", "3.0.1")]);
        assert!(l1.changed.is_empty());
        // Layer 2 rewrites bash's record without changing its version.
        let l2 = d.step(
            2,
            vec![
                draft("bash", "5.2", 9),
                draft("libssl3", "3.0.2", 4),
                draft("python3", "3.11", 5),
            ],
        );
        assert_eq!(l2.changed.len(), 1);
        assert_eq!(
            (l2.changed[0].introduced, l2.changed[0].changed),
            (0, Some(2))
        );
        let fin = d.finish();
        let got: Vec<_> = fin
            .iter()
            .map(|t| (t.draft.name.as_str(), t.introduced, t.changed))
            .collect();
        assert_eq!(
            got,
            [
                ("bash", 0, Some(2)),
                ("libssl3", 1, Some(1)),
                ("python3", 1, None)
            ]
        );
    }

    #[test]
    fn removed_and_reinstalled_is_introduced_again() {
        let mut d = Differ::default();
        d.step(0, vec![draft("six", "1.16", 1)]);
        let l1 = d.step(1, vec![]);
        assert_eq!(l1.removed.len(), 1);
        let l2 = d.step(2, vec![draft("six", "1.16", 1)]);
        assert_eq!((l2.added[0].introduced, l2.added[0].changed), (2, None));
    }
}
