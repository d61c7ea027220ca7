//! From the parsed files visible in one state of the image to the package set of that
//! state: purls, licences, evidence, ownership and dependency edges. Run after every layer;
//! [`crate::diff`] compares consecutive results.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::catalog::Parsed;
use crate::catalog::os_release::OsRelease;
use crate::license;
use crate::model::{Ecosystem, License, Warning};
use crate::properties;
use crate::purl;

/// The files of one state of the image, as the catalogers left them.
pub(crate) trait Files {
    /// Every path holding a parsed file (normalised, no leading `/`), sorted, with the layer
    /// that wrote it. Hard links to one file share the `Arc`.
    fn parsed(&self) -> Vec<(&str, usize, &Arc<Parsed>)>;
    /// The parsed file `path` refers to after following symlinks.
    fn lookup(&self, path: &str) -> Option<&Parsed>;
    /// Whether anything exists at or under `path` (after following symlinks).
    fn exists(&self, path: &str) -> bool;
}

/// The view of one state, through a resolver that remembers directories: the catalogers
/// look up several files of every installed package under the same few directories.
impl Files for custody_oci::ViewResolver<'_, Parsed> {
    fn parsed(&self) -> Vec<(&str, usize, &Arc<Parsed>)> {
        self.view()
            .iter()
            .filter_map(|(path, node)| node.payload_arc().map(|p| (path, node.layer(), p)))
            .collect()
    }

    fn lookup(&self, path: &str) -> Option<&Parsed> {
        self.lookup(path)
            .ok()
            .flatten()
            .and_then(|(_, node)| node.payload())
    }

    fn exists(&self, path: &str) -> bool {
        let view = self.view();
        match self.resolve(path) {
            Ok(canonical) => {
                view.get(&canonical).is_some() || view.iter_under(&canonical).next().is_some()
            }
            Err(_) => false,
        }
    }
}

/// A component of one state, before layer attribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    /// Identity without the version: ecosystem, where it is installed, and its name. Two
    /// states hold "the same package" when the key and version match; the same key with
    /// another version is an upgrade or downgrade.
    pub(crate) key: String,
    /// Fingerprint of the record that says it is installed: a change means the record was
    /// rewritten.
    pub(crate) fingerprint: u64,
    pub(crate) ecosystem: Ecosystem,
    pub(crate) group: Option<String>,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) purl: String,
    pub(crate) bom_ref: String,
    pub(crate) licenses: Vec<License>,
    pub(crate) evidence: Vec<String>,
    pub(crate) properties: Vec<(String, String)>,
    pub(crate) owned_by: Option<String>,
    pub(crate) depends_on: Vec<String>,
}

/// The package set of one state (sorted by key then version), and what was wrong.
pub(crate) fn assemble(files: &dyn Files) -> (Vec<Draft>, Vec<Warning>) {
    let mut cx = Context {
        drafts: Vec::new(),
        warnings: Vec::new(),
        owners: HashMap::new(),
    };
    let parsed = files.parsed();
    // Hard links: the first path (sorted) is the file, the others more evidence for it.
    let mut first_path: HashMap<*const Parsed, usize> = HashMap::new();
    let mut aliases: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unique: Vec<(&str, usize, &Parsed)> = Vec::new();
    for (path, layer, arc) in &parsed {
        let ptr = Arc::as_ptr(arc);
        match first_path.get(&ptr) {
            Some(&i) => aliases.entry(i).or_default().push(format!("/{path}")),
            None => {
                first_path.insert(ptr, unique.len());
                unique.push((path, *layer, arc.as_ref()));
            }
        }
    }

    let os = os_release(files);
    let distro = os.as_ref().map(Distro::of);
    if let Some(os) = &os {
        cx.os_component(os);
    }
    cx.dpkg(files, &unique, distro.as_ref());
    cx.apk(&unique, distro.as_ref());
    cx.rpm(&unique, distro.as_ref());
    for (i, (path, layer, parsed)) in unique.iter().enumerate() {
        let start = cx.drafts.len();
        match parsed {
            Parsed::Python(r) => cx.python(path, r),
            Parsed::NpmPackage(p) => cx.npm_package(path, p),
            Parsed::CargoLock(crates) => cx.crates(path, crates, "Cargo.lock"),
            Parsed::Binary(info) => {
                cx.crates(path, &info.crates, "binary");
                if let Some(go) = &info.go {
                    cx.go(path, go);
                }
            }
            Parsed::Java(records) => cx.java(path, records),
            _ => {}
        }
        let _ = layer;
        if let Some(extra) = aliases.get(&i) {
            for d in &mut cx.drafts[start..] {
                d.evidence.extend(extra.iter().cloned());
            }
        }
    }
    // Lock files last: they add evidence to installed packages, or stand in for packages
    // of projects that were never installed.
    for (path, _, parsed) in &unique {
        match parsed {
            Parsed::NpmLock(lock) => cx.npm_lock(files, path, lock),
            Parsed::YarnLock(entries) => cx.yarn_lock(files, path, entries),
            _ => {}
        }
    }
    cx.link_owners();
    let mut drafts = cx.drafts;
    drafts.sort_by(|a, b| (&a.key, &a.version).cmp(&(&b.key, &b.version)));
    drafts.dedup_by(|a, b| a.key == b.key && a.version == b.version);
    (drafts, cx.warnings)
}

fn os_release(files: &dyn Files) -> Option<OsRelease> {
    for path in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(Parsed::OsRelease(o)) = files.lookup(path) {
            return Some(o.clone());
        }
    }
    None
}

/// Namespace and `distro` qualifier for OS package purls.
struct Distro {
    id: String,
    qualifier: String,
}

impl Distro {
    fn of(os: &OsRelease) -> Distro {
        let id = os.id.to_ascii_lowercase();
        let qualifier = if os.version_id.is_empty() {
            id.clone()
        } else {
            format!("{id}-{}", os.version_id)
        };
        Distro { id, qualifier }
    }
}

struct Context {
    drafts: Vec<Draft>,
    warnings: Vec<Warning>,
    /// Metadata directory (absolute) → bom-ref of the OS package that owns it.
    owners: HashMap<String, String>,
}

/// Parent directory of a normalised path (`""` at the root).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// syft's convention: a bom-ref unique per location, `purl` plus a `package-id`.
fn located_ref(purl: &str, location: &str) -> String {
    let id = hex::encode(&Sha256::digest(location.as_bytes())[..8]);
    let sep = if purl.contains('?') { '&' } else { '?' };
    format!("{purl}{sep}package-id={id}")
}

impl Context {
    fn warn(&mut self, path: &str, message: String) {
        self.warnings.push(Warning {
            layer: None,
            path: format!("/{path}"),
            message,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        key: String,
        fingerprint: u64,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        purl: Option<String>,
        bom_ref: impl FnOnce(&str) -> String,
        evidence_path: &str,
    ) -> Option<&mut Draft> {
        let Some(purl) = purl else {
            self.warn(
                evidence_path,
                format!("no valid package URL for {name:?} version {version:?}; left out"),
            );
            return None;
        };
        let bom_ref = bom_ref(&purl);
        self.drafts.push(Draft {
            key,
            fingerprint,
            ecosystem,
            group: None,
            name: name.to_owned(),
            version: version.to_owned(),
            purl,
            bom_ref,
            licenses: Vec::new(),
            evidence: vec![format!("/{evidence_path}")],
            properties: Vec::new(),
            owned_by: None,
            depends_on: Vec::new(),
        });
        self.drafts.last_mut()
    }

    fn os_component(&mut self, os: &OsRelease) {
        let version = os.version_id.clone();
        let purl = purl::build("generic", None, &os.id, Some(&version), &[], None);
        let fp = crate::catalog::fingerprint(format!("{}\0{}", os.id, os.version_id).as_bytes());
        if let Some(d) = self.push(
            "os".to_owned(),
            fp,
            Ecosystem::Os,
            &os.id,
            &version,
            purl,
            |_| format!("os:{}@{}", os.id, os.version_id),
            "etc/os-release",
        ) {
            d.purl.clear(); // an operating system has no package URL; bom-ref names it
            if !os.pretty_name.is_empty() {
                d.properties
                    .push(("custody:os-pretty-name".to_owned(), os.pretty_name.clone()));
            }
        }
    }

    fn dpkg(
        &mut self,
        files: &dyn Files,
        unique: &[(&str, usize, &Parsed)],
        distro: Option<&Distro>,
    ) {
        // status first; status.d (distroless) adds what status does not have.
        let mut sources: Vec<(&str, &Vec<crate::catalog::dpkg::DpkgRecord>)> = unique
            .iter()
            .filter_map(|(path, _, p)| match p {
                Parsed::DpkgStatus(records) => Some((*path, records)),
                _ => None,
            })
            .collect();
        sources.sort_by_key(|(path, _)| *path != "var/lib/dpkg/status");
        let mut seen: HashMap<(String, String), ()> = HashMap::new();
        let (ns, qualifier) = match distro {
            Some(d) => (d.id.as_str(), d.qualifier.as_str()),
            None => ("debian", ""),
        };
        for (path, records) in sources {
            for r in records {
                if seen.insert((r.name.clone(), r.arch.clone()), ()).is_some() {
                    continue;
                }
                let purl = purl::deb(
                    ns,
                    qualifier,
                    &r.name,
                    &r.version,
                    &r.arch,
                    r.source_name.as_deref(),
                );
                let key = format!("deb:{}:{}", r.name, r.arch);
                let Some(draft) = self.push(
                    key,
                    r.fingerprint,
                    Ecosystem::Deb,
                    &r.name,
                    &r.version,
                    purl,
                    str::to_owned,
                    path,
                ) else {
                    continue;
                };
                draft.properties.push((
                    properties::TRIVY_SRC_NAME.to_owned(),
                    r.source_name.clone().unwrap_or_else(|| r.name.clone()),
                ));
                draft.properties.push((
                    properties::TRIVY_SRC_VERSION.to_owned(),
                    r.source_version
                        .clone()
                        .unwrap_or_else(|| r.version.clone()),
                ));
                if !r.arch.is_empty() {
                    draft
                        .properties
                        .push((properties::ARCH.to_owned(), r.arch.clone()));
                }
                let bom_ref = draft.bom_ref.clone();
                // File lists: info/<pkg>:<arch>.list (multi-arch) or info/<pkg>.list;
                // distroless keeps status.d/<pkg>.md5sums instead.
                let lists = [
                    format!("var/lib/dpkg/info/{}:{}.list", r.name, r.arch),
                    format!("var/lib/dpkg/info/{}.list", r.name),
                    format!("var/lib/dpkg/status.d/{}.md5sums", r.name),
                ];
                let mut evidence = Vec::new();
                let mut owned: Vec<String> = Vec::new();
                for list in &lists {
                    if let Some(Parsed::DpkgOwned(dirs)) = files.lookup(list) {
                        evidence.push(format!("/{list}"));
                        owned.extend(dirs.iter().cloned());
                    }
                }
                let licenses: Vec<License> =
                    match files.lookup(&format!("usr/share/doc/{}/copyright", r.name)) {
                        Some(Parsed::Copyright(Some(licenses))) => licenses.clone(),
                        _ => Vec::new(),
                    };
                let Some(draft) = self.drafts.last_mut() else {
                    continue;
                };
                draft.evidence.extend(evidence);
                draft.licenses = licenses;
                for dir in owned {
                    self.owners.entry(dir).or_insert_with(|| bom_ref.clone());
                }
            }
        }
    }

    fn apk(&mut self, unique: &[(&str, usize, &Parsed)], distro: Option<&Distro>) {
        let (ns, qualifier) = match distro {
            Some(d) => (d.id.as_str(), d.qualifier.as_str()),
            None => ("alpine", ""),
        };
        for (path, _, p) in unique {
            let Parsed::Apk(records) = p else { continue };
            for r in records {
                let mut q = vec![("arch", r.arch.as_str()), ("distro", qualifier)];
                if let Some(o) = r.origin.as_deref() {
                    q.push(("upstream", o));
                }
                let purl = purl::build("apk", Some(ns), &r.name, Some(&r.version), &q, None);
                let key = format!("apk:{}", r.name);
                let Some(draft) = self.push(
                    key,
                    r.fingerprint,
                    Ecosystem::Apk,
                    &r.name,
                    &r.version,
                    purl,
                    str::to_owned,
                    path,
                ) else {
                    continue;
                };
                if let Some(l) = r.license.as_deref().and_then(license::declared) {
                    draft.licenses.push(l);
                }
                if let Some(o) = &r.origin {
                    draft
                        .properties
                        .push((properties::TRIVY_SRC_NAME.to_owned(), o.clone()));
                }
                let bom_ref = draft.bom_ref.clone();
                for dir in &r.owned {
                    self.owners
                        .entry(dir.clone())
                        .or_insert_with(|| bom_ref.clone());
                }
            }
        }
    }

    fn rpm(&mut self, unique: &[(&str, usize, &Parsed)], distro: Option<&Distro>) {
        let (ns, qualifier) = match distro {
            Some(d) => (d.id.as_str(), d.qualifier.as_str()),
            None => ("", ""),
        };
        for (path, _, p) in unique {
            let Parsed::Rpm(records) = p else { continue };
            for r in records {
                let vr = format!("{}-{}", r.version, r.release);
                let version = match r.epoch {
                    Some(e) if e > 0 => format!("{e}:{vr}"),
                    _ => vr.clone(),
                };
                let ns = if ns.is_empty() { None } else { Some(ns) };
                let purl = match ns {
                    Some(ns) => purl::rpm(
                        ns,
                        qualifier,
                        &r.name,
                        &vr,
                        &r.arch,
                        r.epoch.filter(|e| *e > 0),
                    ),
                    None => purl::build(
                        "rpm",
                        None,
                        &r.name,
                        Some(&vr),
                        &[("arch", r.arch.as_str())],
                        None,
                    ),
                };
                let key = format!("rpm:{}:{}", r.name, r.arch);
                let Some(draft) = self.push(
                    key,
                    r.fingerprint,
                    Ecosystem::Rpm,
                    &r.name,
                    &version,
                    purl,
                    str::to_owned,
                    path,
                ) else {
                    continue;
                };
                if let Some(l) = r.license.as_deref().and_then(license::declared) {
                    draft.licenses.push(l);
                }
                if let Some(src) = &r.source_rpm {
                    // openssl-3.0.7-27.el9.src.rpm → openssl, 3.0.7-27.el9
                    let stem = src
                        .trim_end_matches(".rpm")
                        .trim_end_matches(".src")
                        .trim_end_matches(".nosrc");
                    let mut parts = stem.rsplitn(3, '-');
                    if let (Some(rel), Some(ver), Some(name)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        draft
                            .properties
                            .push((properties::TRIVY_SRC_NAME.to_owned(), name.to_owned()));
                        draft.properties.push((
                            properties::TRIVY_SRC_VERSION.to_owned(),
                            format!("{ver}-{rel}"),
                        ));
                    }
                }
                draft
                    .properties
                    .push((properties::ARCH.to_owned(), r.arch.clone()));
            }
        }
    }

    fn python(&mut self, path: &str, r: &crate::catalog::python::PythonRecord) {
        let meta_dir = if path.ends_with("/METADATA") || path.ends_with("/PKG-INFO") {
            parent(path)
        } else {
            path
        };
        let site = parent(meta_dir);
        let purl = purl::build("pypi", None, &r.name, Some(&r.version), &[], None);
        let normalized = r.name.to_ascii_lowercase().replace(['_', '.'], "-");
        let key = format!("pypi:/{site}#{normalized}");
        let owner = self.owners.get(&format!("/{meta_dir}")).cloned();
        let location = format!("/{meta_dir}");
        let Some(d) = self.push(
            key,
            r.fingerprint,
            Ecosystem::Python,
            &r.name,
            &r.version,
            purl,
            |p| located_ref(p, &location),
            path,
        ) else {
            return;
        };
        d.licenses = license::python(
            r.license_expression.as_deref(),
            r.license.as_deref(),
            &r.classifier_licenses,
        );
        d.owned_by = owner;
    }

    fn npm_package(&mut self, path: &str, p: &crate::catalog::npm::NpmPackage) {
        let dir = parent(path);
        let purl = purl::npm(&p.name, &p.version);
        let key = format!("npm:/{dir}");
        let owner = self.owners.get(&format!("/{dir}")).cloned();
        let location = format!("/{dir}");
        let Some(d) = self.push(
            key,
            p.fingerprint,
            Ecosystem::Npm,
            &p.name,
            &p.version,
            purl,
            |u| located_ref(u, &location),
            path,
        ) else {
            return;
        };
        d.licenses = license::declared_all(p.licenses.iter().map(String::as_str));
        d.owned_by = owner;
    }

    fn npm_lock(&mut self, files: &dyn Files, path: &str, lock: &crate::catalog::npm::NpmLock) {
        let root = if path.ends_with("node_modules/.package-lock.json") {
            parent(parent(path))
        } else {
            parent(path)
        };
        let join = |rel: &str| {
            if root.is_empty() {
                rel.to_owned()
            } else {
                format!("{root}/{rel}")
            }
        };
        let installed_tree = files.exists(&join("node_modules"));
        let evidence = format!("/{path}");
        for e in &lock.entries {
            let dir = join(&e.path);
            let key = format!("npm:/{dir}");
            if let Some(d) = self.drafts.iter_mut().find(|d| d.key == key) {
                if d.version == e.version && !d.evidence.contains(&evidence) {
                    d.evidence.push(evidence.clone());
                }
                continue;
            }
            // A project whose node_modules exists installed exactly what is there; lock
            // entries without a folder are optional or stale, not in the image.
            if installed_tree || e.dev {
                continue;
            }
            let purl = purl::npm(&e.name, &e.version);
            let location = format!("/{dir}");
            if let Some(d) = self.push(
                key,
                e.fingerprint,
                Ecosystem::Npm,
                &e.name,
                &e.version,
                purl,
                |u| located_ref(u, &location),
                path,
            ) {
                d.licenses = license::declared_all(e.license.as_deref());
            }
        }
    }

    fn yarn_lock(
        &mut self,
        files: &dyn Files,
        path: &str,
        entries: &[crate::catalog::npm::LockEntry],
    ) {
        let root = parent(path);
        let modules = if root.is_empty() {
            "node_modules".to_owned()
        } else {
            format!("{root}/node_modules")
        };
        let installed_tree = files.exists(&modules);
        let prefix = format!("npm:/{modules}/");
        let evidence = format!("/{path}");
        for e in entries {
            let mut matched = false;
            for d in self
                .drafts
                .iter_mut()
                .filter(|d| d.key.starts_with(&prefix))
            {
                if d.name == e.name && d.version == e.version {
                    matched = true;
                    if !d.evidence.contains(&evidence) {
                        d.evidence.push(evidence.clone());
                    }
                }
            }
            if matched || installed_tree {
                continue;
            }
            let purl = purl::npm(&e.name, &e.version);
            let key = format!("npm:/{path}#{}", e.name);
            let location = format!("/{path}#{}", e.name);
            self.push(
                key,
                e.fingerprint,
                Ecosystem::Npm,
                &e.name,
                &e.version,
                purl,
                |u| located_ref(u, &location),
                path,
            );
        }
    }

    fn crates(&mut self, path: &str, crates: &[crate::catalog::cargo::CrateRecord], from: &str) {
        let start = self.drafts.len();
        let mut index_to_draft: Vec<Option<usize>> = Vec::with_capacity(crates.len());
        for c in crates {
            let purl = purl::build("cargo", None, &c.name, Some(&c.version), &[], None);
            let key = format!("cargo:/{path}#{}", c.name);
            let location = format!("/{path}");
            let pushed = self
                .push(
                    key,
                    c.fingerprint,
                    Ecosystem::Cargo,
                    &c.name,
                    &c.version,
                    purl,
                    |u| located_ref(u, &location),
                    path,
                )
                .map(|d| {
                    d.properties
                        .push(("custody:cargo-source".to_owned(), from.to_owned()));
                    if c.build_only {
                        d.properties.push((
                            "custody:cargo-dependency-kind".to_owned(),
                            "build".to_owned(),
                        ));
                    }
                });
            index_to_draft.push(pushed.map(|()| self.drafts.len() - 1));
        }
        for (i, c) in crates.iter().enumerate() {
            let Some(me) = index_to_draft[i] else {
                continue;
            };
            let deps: Vec<String> = c
                .depends_on
                .iter()
                .filter_map(|&j| index_to_draft.get(j).copied().flatten())
                .filter(|&j| j != me)
                .map(|j| self.drafts[j].bom_ref.clone())
                .collect();
            self.drafts[me].depends_on = deps;
        }
        let _ = start;
    }

    fn go(&mut self, path: &str, go: &crate::catalog::golang::GoBuildInfo) {
        let location = format!("/{path}");
        let toolchain = go
            .go_version
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        let mut modules: Vec<(&str, &str)> = Vec::new();
        if let Some(main) = &go.main {
            modules.push((main.path.as_str(), main.version.as_str()));
        }
        modules.extend(
            go.deps
                .iter()
                .map(|d| (d.path.as_str(), d.version.as_str())),
        );
        let mut refs = Vec::new();
        for (module, version) in modules {
            let purl = purl::golang(module, version);
            let key = format!("golang:/{path}#{module}");
            if let Some(d) = self.push(
                key,
                go.fingerprint,
                Ecosystem::Go,
                module,
                version,
                purl,
                |u| located_ref(u, &location),
                path,
            ) {
                refs.push(d.bom_ref.clone());
            }
        }
        if !toolchain.is_empty() {
            let purl = purl::golang("stdlib", &toolchain);
            let key = format!("golang:/{path}#stdlib");
            if let Some(d) = self.push(
                key,
                go.fingerprint,
                Ecosystem::Go,
                "stdlib",
                &toolchain,
                purl,
                |u| located_ref(u, &location),
                path,
            ) {
                refs.push(d.bom_ref.clone());
            }
        }
        // The main module depends on everything else linked into the binary.
        if go.main.is_some() && refs.len() > 1 {
            let first = self.drafts.len() - refs.len();
            self.drafts[first].depends_on = refs[1..].to_vec();
        }
    }

    fn java(&mut self, path: &str, records: &[crate::catalog::java::MavenRecord]) {
        for r in records {
            let location = if r.inner_path.is_empty() {
                format!("/{path}")
            } else {
                format!("/{path}!/{}", r.inner_path)
            };
            let ns = (!r.group.is_empty()).then_some(r.group.as_str());
            let purl = purl::build("maven", ns, &r.artifact, Some(&r.version), &[], None);
            let key = format!("maven:{location}#{}:{}", r.group, r.artifact);
            if let Some(d) = self.push(
                key,
                r.fingerprint,
                Ecosystem::Maven,
                &r.artifact,
                &r.version,
                purl,
                |u| located_ref(u, &location),
                path,
            ) {
                d.group = ns.map(str::to_owned);
                if !r.inner_path.is_empty() {
                    d.evidence = vec![location.clone()];
                }
            }
        }
    }

    /// `custody:owned-by` and the matching dependency edge from the owning OS package.
    fn link_owners(&mut self) {
        let mut edges: Vec<(String, String)> = Vec::new();
        for d in &self.drafts {
            if let Some(owner) = &d.owned_by {
                edges.push((owner.clone(), d.bom_ref.clone()));
            }
        }
        for (owner, child) in edges {
            if let Some(o) = self.drafts.iter_mut().find(|d| d.bom_ref == owner)
                && !o.depends_on.contains(&child)
            {
                o.depends_on.push(child);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Limits;
    use crate::catalog::{self, classify};

    /// A state of an image as a plain map (path → bytes parsed on insert) plus symlinks.
    #[derive(Default)]
    pub(crate) struct FakeFiles {
        pub(crate) files: BTreeMap<String, (usize, Arc<Parsed>)>,
        pub(crate) links: BTreeMap<String, String>,
    }

    impl FakeFiles {
        pub(crate) fn add(&mut self, path: &str, bytes: &[u8]) -> Vec<String> {
            let parsed = catalog::parse(classify(path), path, bytes, &Limits::default());
            if !matches!(parsed.value, Parsed::Nothing) {
                self.files
                    .insert(path.to_owned(), (0, Arc::new(parsed.value)));
            }
            parsed.warnings
        }
        fn resolve(&self, path: &str) -> String {
            let mut p = path.to_owned();
            for _ in 0..8 {
                let hit = self
                    .links
                    .iter()
                    .find(|(from, _)| p == **from || p.starts_with(&format!("{from}/")));
                match hit {
                    Some((from, to)) => p = format!("{to}{}", &p[from.len()..]),
                    None => break,
                }
            }
            p
        }
    }

    impl Files for FakeFiles {
        fn parsed(&self) -> Vec<(&str, usize, &Arc<Parsed>)> {
            self.files
                .iter()
                .map(|(k, (l, p))| (k.as_str(), *l, p))
                .collect()
        }
        fn lookup(&self, path: &str) -> Option<&Parsed> {
            self.files.get(&self.resolve(path)).map(|(_, p)| p.as_ref())
        }
        fn exists(&self, path: &str) -> bool {
            let p = self.resolve(path);
            self.files
                .keys()
                .any(|k| *k == p || k.starts_with(&format!("{p}/")))
        }
    }

    pub(crate) const OS_RELEASE: &[u8] =
        b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";

    fn find<'a>(drafts: &'a [Draft], name: &str) -> &'a Draft {
        drafts
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn dpkg_python_ownership_and_licences() {
        let mut f = FakeFiles::default();
        f.add("usr/lib/os-release", OS_RELEASE);
        f.links
            .insert("etc/os-release".into(), "usr/lib/os-release".into());
        f.add(
            "var/lib/dpkg/status",
            b"Package: python3-pip\nStatus: install ok installed\nArchitecture: all\nSource: python-pip\nVersion: 23.0.1+dfsg-1\n\nPackage: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\nSource: gcc-12\nVersion: 12.2.0-14+deb12u1\n",
        );
        f.add(
            "var/lib/dpkg/info/python3-pip.list",
            b"/usr/lib/python3/dist-packages/pip-23.0.1.dist-info\n/usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA\n",
        );
        f.add(
            "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\nLicense: MIT\n",
        );
        f.add(
            "usr/share/doc/gcc-12-base/copyright",
            b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: FSF\nLicense: GPL-3+\n",
        );
        f.links.insert(
            "usr/share/doc/libgcc-s1".into(),
            "usr/share/doc/gcc-12-base".into(),
        );
        let (drafts, warnings) = assemble(&f);
        assert!(warnings.is_empty(), "{warnings:?}");
        let os = find(&drafts, "debian");
        assert_eq!((os.ecosystem, os.version.as_str()), (Ecosystem::Os, "12"));
        let deb = find(&drafts, "python3-pip");
        assert_eq!(
            deb.purl,
            "pkg:deb/debian/python3-pip@23.0.1%2Bdfsg-1?arch=all&distro=debian-12&upstream=python-pip"
        );
        assert_eq!(
            deb.evidence,
            [
                "/var/lib/dpkg/status",
                "/var/lib/dpkg/info/python3-pip.list"
            ]
        );
        let pip = find(&drafts, "pip");
        assert_eq!(pip.owned_by.as_deref(), Some(deb.bom_ref.as_str()));
        assert!(deb.depends_on.contains(&pip.bom_ref));
        assert!(pip.bom_ref.starts_with("pkg:pypi/pip@23.0.1?package-id="));
        assert_eq!(pip.licenses, [License::Spdx("MIT".into())]);
        let gcc = find(&drafts, "libgcc-s1");
        assert_eq!(
            gcc.licenses,
            [License::Spdx("GPL-3.0-or-later".into())],
            "through the doc symlink"
        );
        assert!(
            gcc.properties
                .contains(&(properties::TRIVY_SRC_NAME.into(), "gcc-12".into()))
        );
    }

    #[test]
    fn npm_lock_entries_merge_into_installed_packages() {
        let mut f = FakeFiles::default();
        f.add(
            "app/node_modules/ms/package.json",
            br#"{"name":"ms","version":"2.0.0","license":"MIT"}"#,
        );
        f.add(
            "app/node_modules/send/node_modules/ms/package.json",
            br#"{"name":"ms","version":"2.1.3"}"#,
        );
        f.add(
            "app/package-lock.json",
            br#"{"lockfileVersion":3,"packages":{"":{},"node_modules/ms":{"version":"2.0.0"},"node_modules/send/node_modules/ms":{"version":"2.1.3"},"node_modules/fsevents":{"version":"2.3.3","optional":true}}}"#,
        );
        f.add("srv/lockonly/package-lock.json", br#"{"lockfileVersion":3,"packages":{"node_modules/left-pad":{"version":"1.3.0"},"node_modules/jest":{"version":"29.0.0","dev":true}}}"#);
        let (drafts, _) = assemble(&f);
        let names: Vec<_> = drafts
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("ms", "2.0.0"), ("ms", "2.1.3"), ("left-pad", "1.3.0")]
        );
        assert_eq!(
            drafts[0].evidence,
            [
                "/app/node_modules/ms/package.json",
                "/app/package-lock.json"
            ]
        );
        assert_ne!(drafts[0].bom_ref, drafts[1].bom_ref);
    }

    #[test]
    fn a_bad_purl_is_a_warning_not_a_component() {
        let mut f = FakeFiles::default();
        f.add(
            "app/node_modules/x/package.json",
            br#"{"name":"x","version":"1.0.0"}"#,
        );
        f.add(
            "app/node_modules/y/package.json",
            br#"{"name":"@/","version":"1.0.0"}"#,
        );
        let (drafts, warnings) = assemble(&f);
        assert_eq!(drafts.len(), 1);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].path.ends_with("y/package.json"));
    }
}
