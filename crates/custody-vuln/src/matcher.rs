//! Matching SBOM components against advisories.
//!
//! A component becomes a [`Target`]: its ecosystem (from the purl type), the package keys it
//! is looked up under, and the version compared. Distribution packages are matched through
//! their source package, because Debian's and Alpine's OSV records name source packages:
//! `libc6` is looked up as `glibc`, and compared by the source version, so a binNMU's `+bN`
//! (`1.0.8-5+b1` built from source `1.0.8-5`) cannot hide a `last_affected: 1.0.8-5`.
//! The source comes from Trivy's `aquasecurity:trivy:SrcName`/`SrcVersion` properties
//! (which custody writes too) or the purl's `upstream` qualifier (syft:
//! `upstream=glibc` or `upstream=gcc-12@12.2.0-14`); without either, a package is its own
//! source, as dpkg's `Source:` field implies when absent.
//!
//! A component that cannot be evaluated (no purl, an ecosystem or distribution custody does
//! not evaluate, a version its ecosystem cannot parse, or an advisory for its package whose
//! ranges could not be parsed) is reported as unevaluated with the reason, never as clean.

use std::collections::BTreeMap;

use packageurl::PackageUrl;
use serde::{Deserialize, Serialize};

use crate::cyclonedx::{Component, CycloneDxDocument};
use crate::db::AdvisoryDb;
use crate::ecosystem::{Ecosystem, PackageKey, alpine_release, debian_release};
use crate::osv::{Advisory, AffectedPackage, Verdict};
use crate::severity::{Severity, SeverityLevel};
use crate::version::Version;

/// Trivy's property for a source package's release (Debian revision), when it splits it
/// from `SrcVersion`.
pub const TRIVY_SRC_RELEASE: &str = "aquasecurity:trivy:SrcRelease";
/// Trivy's property for a source package's epoch.
pub const TRIVY_SRC_EPOCH: &str = "aquasecurity:trivy:SrcEpoch";

/// The operating system an SBOM describes, for distribution packages whose purl does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    /// Debian or Alpine.
    pub ecosystem: Ecosystem,
    /// The release (`12`, `3.19`).
    pub release: String,
}

impl Distro {
    /// The distribution named by the document's `operating-system` component (syft and
    /// trivy write one: `debian` `12.5`, `alpine` `3.19.1`), if custody knows it.
    pub fn of(doc: &CycloneDxDocument) -> Option<Distro> {
        doc.components
            .iter()
            .filter(|c| c.kind == "operating-system")
            .find_map(|c| {
                let v = c.version.as_deref()?;
                match c.name.to_ascii_lowercase().as_str() {
                    "debian" => Some(Distro {
                        ecosystem: Ecosystem::Debian,
                        release: debian_release(v)?,
                    }),
                    "alpine" => Some(Distro {
                        ecosystem: Ecosystem::Alpine,
                        release: alpine_release(v)?,
                    }),
                    _ => None,
                }
            })
    }
}

/// A component ready for matching.
#[derive(Debug, Clone)]
pub struct Target {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The keys it is looked up under (a distribution package: its release's and the
    /// release-less one, both by source name).
    pub keys: Vec<PackageKey>,
    /// The version compared (the source version for distribution packages).
    pub version: Version,
}

/// Why a component was not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum UnevaluatedReason {
    /// The component has no purl, so its ecosystem and name are unknown.
    NoPurl,
    /// The purl does not parse.
    InvalidPurl {
        /// The parser's message.
        detail: String,
    },
    /// A purl type (or distribution) custody does not evaluate.
    UnsupportedEcosystem {
        /// `gem`, `rpm`, `deb/ubuntu`, ...
        ecosystem: String,
    },
    /// A Debian or Alpine package whose release is stated neither by its purl's `distro`
    /// qualifier nor by the SBOM's operating-system component.
    UnknownRelease {
        /// The ecosystem.
        ecosystem: String,
    },
    /// The component has no version.
    NoVersion,
    /// The version does not parse under its ecosystem's rules.
    UnparseableVersion {
        /// The version.
        version: String,
        /// What the parser said.
        detail: String,
    },
    /// An advisory for this package could not be fully evaluated (some of its ranges did
    /// not parse) and the rest of it does not find the component affected.
    IncompleteAdvisory {
        /// The advisory's ID.
        id: String,
        /// Which parts could not be evaluated.
        detail: String,
    },
}

/// The component a finding or an unevaluated entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentRef {
    /// The component's purl.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// The component's bom-ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// The component's name.
    pub name: String,
    /// The component's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// DiffID of the layer that introduced it (`custody:introduced-in` or
    /// `aquasecurity:trivy:LayerDiffID`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

impl ComponentRef {
    /// The reference to a component.
    pub fn of(c: &Component) -> ComponentRef {
        ComponentRef {
            purl: c.purl.clone(),
            bom_ref: c.bom_ref.clone(),
            name: c.name.clone(),
            version: c.version.clone(),
            layer: c
                .property(custody_types::sbom_properties::INTRODUCED_IN)
                .or_else(|| c.property(custody_types::sbom_properties::TRIVY_LAYER_DIFF_ID))
                .map(str::to_owned),
        }
    }
}

/// A component found affected by an advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The OSV record's ID.
    pub id: String,
    /// Its aliases (CVE, GHSA, ...).
    pub aliases: Vec<String>,
    /// Its summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The affected component.
    pub component: ComponentRef,
    /// The package the advisory names, as matched: OSV ecosystem string, the advisory's
    /// package name, and the version compared (a distribution package's source version).
    pub package: MatchedPackage,
    /// The severity.
    pub severity: Severity,
    /// The lowest version that fixes it, if the advisory names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

/// The advisory's view of a matched component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedPackage {
    /// OSV ecosystem string (`Debian:12`).
    pub ecosystem: String,
    /// The package name as the advisory writes it (`glibc`).
    pub name: String,
    /// The version compared.
    pub version: String,
}

/// A component that could not be (fully) evaluated, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnevaluatedComponent {
    /// The component.
    pub component: ComponentRef,
    /// Why.
    pub reasons: Vec<UnevaluatedReason>,
}

/// The result of scanning one SBOM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Findings, most severe first, then by ID and purl.
    pub findings: Vec<Finding>,
    /// Components that could not be evaluated.
    pub unevaluated: Vec<UnevaluatedComponent>,
    /// Package components evaluated (whether or not affected).
    pub evaluated: usize,
    /// Components that are not packages (operating system, container, ...) and so were not
    /// matched.
    pub not_packages: usize,
}

impl ScanReport {
    /// The highest severity among the findings (unknown severities are not counted here;
    /// see [`ScanReport::unknown_severity`]).
    pub fn max_severity(&self) -> Option<SeverityLevel> {
        self.findings.iter().filter_map(|f| f.severity.level).max()
    }

    /// Findings whose severity is unknown.
    pub fn unknown_severity(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity.level.is_none())
            .count()
    }
}

/// Component types that are not packages and are not matched.
fn is_package(kind: &str) -> bool {
    !matches!(
        kind,
        "operating-system"
            | "container"
            | "platform"
            | "device"
            | "device-driver"
            | "data"
            | "machine-learning-model"
            | "cryptographic-asset"
    )
}

fn qualifier<'a>(p: &'a PackageUrl<'_>, key: &str) -> Option<&'a str> {
    p.qualifiers()
        .iter()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v.as_ref())
        .filter(|v| !v.is_empty())
}

/// Prepares a component for matching: the keys it is looked up under and the version
/// compared. The same function serves the ledger, which stores each recorded component's
/// keys to find candidates for a new advisory.
pub fn target(c: &Component, distro: Option<&Distro>) -> Result<Target, UnevaluatedReason> {
    let purl_text = c.purl.as_deref().ok_or(UnevaluatedReason::NoPurl)?;
    let purl: PackageUrl<'_> =
        purl_text
            .parse()
            .map_err(|e: packageurl::Error| UnevaluatedReason::InvalidPurl {
                detail: e.to_string(),
            })?;
    let unsupported = |e: String| UnevaluatedReason::UnsupportedEcosystem { ecosystem: e };
    let ty = purl.ty().to_owned();
    let ns = purl.namespace().filter(|n| !n.is_empty());
    let version = purl
        .version()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or_else(|| c.version.clone())
        .ok_or(UnevaluatedReason::NoVersion)?;
    let parse = |eco: Ecosystem, v: &str| {
        Version::parse(eco.scheme(), v).map_err(|e| UnevaluatedReason::UnparseableVersion {
            version: v.to_owned(),
            detail: e.reason,
        })
    };
    let (eco, name) = match ty.as_str() {
        "deb" | "apk" => return distro_target(c, &purl, &ty, ns, &version, distro),
        "pypi" => (Ecosystem::PyPI, purl.name().to_owned()),
        "npm" => (
            Ecosystem::Npm,
            match ns {
                Some(scope) => format!("{scope}/{}", purl.name()),
                None => purl.name().to_owned(),
            },
        ),
        "cargo" => (Ecosystem::CratesIo, purl.name().to_owned()),
        "golang" => (
            Ecosystem::Go,
            match ns {
                Some(path) => format!("{path}/{}", purl.name()),
                None => purl.name().to_owned(),
            },
        ),
        "maven" => match ns {
            Some(group) => (Ecosystem::Maven, format!("{group}:{}", purl.name())),
            None => return Err(unsupported("maven (no groupId)".into())),
        },
        other => return Err(unsupported(other.to_owned())),
    };
    Ok(Target {
        ecosystem: eco,
        keys: vec![PackageKey::new(eco, None, &name)],
        version: parse(eco, &version)?,
    })
}

fn distro_target(
    c: &Component,
    purl: &PackageUrl<'_>,
    ty: &str,
    ns: Option<&str>,
    binary_version: &str,
    hint: Option<&Distro>,
) -> Result<Target, UnevaluatedReason> {
    let (eco, vendor) = match (ty, ns.map(str::to_ascii_lowercase).as_deref()) {
        ("deb", Some("debian") | None) => (Ecosystem::Debian, "debian"),
        ("apk", Some("alpine") | None) => (Ecosystem::Alpine, "alpine"),
        (t, n) => {
            return Err(UnevaluatedReason::UnsupportedEcosystem {
                ecosystem: format!("{t}/{}", n.unwrap_or("")),
            });
        }
    };
    let release = qualifier(purl, "distro")
        .and_then(|d| match eco {
            Ecosystem::Debian => debian_release(d),
            _ => alpine_release(d),
        })
        .or_else(|| {
            hint.filter(|h| h.ecosystem == eco)
                .map(|h| h.release.clone())
        })
        .ok_or_else(|| UnevaluatedReason::UnknownRelease {
            ecosystem: vendor.to_owned(),
        })?;

    // The binary version, with trivy's separate `epoch` qualifier folded in.
    let binary_version = match qualifier(purl, "epoch") {
        Some(epoch)
            if eco == Ecosystem::Debian && !binary_version.contains(':') && epoch != "0" =>
        {
            format!("{epoch}:{binary_version}")
        }
        _ => binary_version.to_owned(),
    };
    let upstream = qualifier(purl, "upstream").map(|u| {
        // syft writes `name@version`; `name (version)` is dpkg's own spelling.
        match u.split_once('@') {
            Some((n, v)) => (n.trim().to_owned(), Some(v.trim().to_owned())),
            None => match u.split_once(" (") {
                Some((n, v)) => (
                    n.trim().to_owned(),
                    Some(v.trim_end_matches(')').trim().to_owned()),
                ),
                None => (u.trim().to_owned(), None),
            },
        }
    });
    let source_name = c
        .property(custody_types::sbom_properties::TRIVY_SRC_NAME)
        .map(str::to_owned)
        .or_else(|| upstream.as_ref().map(|(n, _)| n.clone()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| purl.name().to_owned());
    let source_version = c
        .property(custody_types::sbom_properties::TRIVY_SRC_VERSION)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let mut v = v.to_owned();
            if let Some(rel) = c.property(TRIVY_SRC_RELEASE).filter(|r| !r.is_empty())
                && !v.ends_with(&format!("-{rel}"))
            {
                v = format!("{v}-{rel}");
            }
            match c
                .property(TRIVY_SRC_EPOCH)
                .filter(|e| !e.is_empty() && *e != "0")
            {
                Some(epoch) if eco == Ecosystem::Debian && !v.contains(':') => {
                    format!("{epoch}:{v}")
                }
                _ => v,
            }
        })
        .or_else(|| upstream.and_then(|(_, v)| v))
        .unwrap_or_else(|| match eco {
            // A binNMU rebuilds the binary from unchanged source: `+bN` is not the source's.
            Ecosystem::Debian => strip_binnmu(&binary_version).to_owned(),
            _ => binary_version.clone(),
        });
    let version = Version::parse(eco.scheme(), &source_version).map_err(|e| {
        UnevaluatedReason::UnparseableVersion {
            version: source_version.clone(),
            detail: e.reason,
        }
    })?;
    Ok(Target {
        ecosystem: eco,
        keys: vec![
            PackageKey::new(eco, Some(release), &source_name),
            PackageKey::new(eco, None, &source_name),
        ],
        version,
    })
}

/// `1.0.8-5+b1` → `1.0.8-5` (a trailing binNMU suffix only).
fn strip_binnmu(v: &str) -> &str {
    if let Some(i) = v.rfind("+b") {
        let n = &v[i + 2..];
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return &v[..i];
        }
    }
    v
}

/// The package keys a component is looked up under, for the ledger's component index.
pub fn component_keys(
    c: &Component,
    distro: Option<&Distro>,
) -> Result<Vec<PackageKey>, UnevaluatedReason> {
    target(c, distro).map(|t| t.keys)
}

/// The outcome of one advisory against one prepared component.
#[derive(Debug, Clone, PartialEq)]
pub enum AdvisoryMatch {
    /// Affected: the finding.
    Affected(Box<Finding>),
    /// Not affected.
    NotAffected,
    /// Could not be decided.
    Indeterminate(UnevaluatedReason),
}

/// Evaluates one advisory against one prepared component: every affected entry whose key
/// the component is looked up under.
pub fn evaluate(advisory: &Advisory, component: &Component, target: &Target) -> AdvisoryMatch {
    let entries = advisory
        .affected
        .iter()
        .filter(|a| target.keys.contains(&a.key));
    evaluate_entries(advisory, entries, component, target)
}

fn evaluate_entries<'a>(
    advisory: &Advisory,
    entries: impl Iterator<Item = &'a AffectedPackage>,
    component: &Component,
    target: &Target,
) -> AdvisoryMatch {
    let mut affected: Option<(&AffectedPackage, Option<String>)> = None;
    let mut indeterminate: Option<Vec<String>> = None;
    for entry in entries {
        match entry.evaluate(&target.version) {
            Verdict::Affected { fixed } => {
                if affected.as_ref().is_none_or(|(_, f)| f.is_none()) {
                    affected = Some((entry, fixed));
                }
            }
            Verdict::NotAffected => {}
            Verdict::Indeterminate(why) => indeterminate.get_or_insert_with(Vec::new).extend(why),
        }
    }
    if let Some((entry, fixed)) = affected {
        return AdvisoryMatch::Affected(Box::new(Finding {
            id: advisory.id.clone(),
            aliases: advisory.aliases.clone(),
            summary: advisory.summary.clone(),
            component: ComponentRef::of(component),
            package: MatchedPackage {
                ecosystem: entry.ecosystem.clone(),
                name: entry.name.clone(),
                version: target.version.as_str().to_owned(),
            },
            severity: entry.severity(advisory),
            fixed,
        }));
    }
    match indeterminate {
        Some(why) => AdvisoryMatch::Indeterminate(UnevaluatedReason::IncompleteAdvisory {
            id: advisory.id.clone(),
            detail: why.join("; "),
        }),
        None => AdvisoryMatch::NotAffected,
    }
}

/// The result of evaluating one advisory against a set of components.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdvisoryMatches {
    /// Components found affected.
    pub findings: Vec<Finding>,
    /// Components the advisory could not be decided for, or that could not be prepared.
    pub unevaluated: Vec<UnevaluatedComponent>,
}

/// Evaluates one advisory against a set of components (the ledger's question "which recorded
/// components does advisory X affect", after it fetched the candidates by
/// [`Advisory::package_keys`]). Components the advisory does not concern are skipped.
pub fn match_advisory(
    advisory: &Advisory,
    components: &[Component],
    distro: Option<&Distro>,
) -> AdvisoryMatches {
    let mut out = AdvisoryMatches::default();
    for c in components {
        let t = match target(c, distro) {
            Ok(t) => t,
            Err(_) => continue,
        };
        match evaluate(advisory, c, &t) {
            AdvisoryMatch::Affected(f) => out.findings.push(*f),
            AdvisoryMatch::NotAffected => {}
            AdvisoryMatch::Indeterminate(r) => out.unevaluated.push(UnevaluatedComponent {
                component: ComponentRef::of(c),
                reasons: vec![r],
            }),
        }
    }
    out
}

impl AdvisoryDb {
    /// Scans every component of an SBOM: a hash lookup per component key, then the
    /// candidate advisories' ranges.
    pub fn scan(&self, doc: &CycloneDxDocument) -> ScanReport {
        self.scan_components(&doc.components, Distro::of(doc).as_ref())
    }

    /// Scans a list of components (the ledger's stored components, or a subset).
    pub fn scan_components(&self, components: &[Component], distro: Option<&Distro>) -> ScanReport {
        let mut report = ScanReport::default();
        let targets: Vec<Option<Result<Target, UnevaluatedReason>>> = components
            .iter()
            .map(|c| (is_package(&c.kind) || c.purl.is_some()).then(|| target(c, distro)))
            .collect();
        // The candidate records are parsed on first use: parse them all side by side first,
        // so that the walk below finds them ready.
        self.prefetch(
            targets
                .iter()
                .flatten()
                .filter_map(|t| t.as_ref().ok())
                .flat_map(|t| t.keys.iter()),
        );
        for (c, t) in components.iter().zip(targets) {
            let Some(t) = t else {
                report.not_packages += 1;
                continue;
            };
            let t = match t {
                Ok(t) => t,
                Err(reason) => {
                    report.unevaluated.push(UnevaluatedComponent {
                        component: ComponentRef::of(c),
                        reasons: vec![reason],
                    });
                    continue;
                }
            };
            report.evaluated += 1;
            // Group candidate entries by advisory so each advisory yields one verdict.
            let mut by_advisory: BTreeMap<&str, (&Advisory, Vec<&AffectedPackage>)> =
                BTreeMap::new();
            for key in &t.keys {
                for (a, entry) in self.candidates(key) {
                    let slot = by_advisory
                        .entry(a.id.as_str())
                        .or_insert_with(|| (a, Vec::new()));
                    if !slot.1.iter().any(|e| std::ptr::eq(*e, entry)) {
                        slot.1.push(entry);
                    }
                }
            }
            let mut reasons = Vec::new();
            for (_, (a, entries)) in by_advisory {
                match evaluate_entries(a, entries.into_iter(), c, &t) {
                    AdvisoryMatch::Affected(f) => report.findings.push(*f),
                    AdvisoryMatch::NotAffected => {}
                    AdvisoryMatch::Indeterminate(r) => reasons.push(r),
                }
            }
            if !reasons.is_empty() {
                report.unevaluated.push(UnevaluatedComponent {
                    component: ComponentRef::of(c),
                    reasons,
                });
            }
        }
        report.findings.sort_by(|a, b| {
            b.severity
                .level
                .cmp(&a.severity.level)
                .then_with(|| a.id.cmp(&b.id))
                .then_with(|| a.component.purl.cmp(&b.component.purl))
                .then_with(|| a.component.bom_ref.cmp(&b.component.bom_ref))
        });
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(purl: &str, props: &[(&str, &str)]) -> Component {
        Component {
            bom_ref: Some(purl.to_owned()),
            kind: "library".into(),
            group: None,
            name: "x".into(),
            version: None,
            purl: Some(purl.to_owned()),
            properties: props
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            parent: None,
        }
    }

    #[test]
    fn debian_binaries_are_looked_up_by_source_and_source_version() {
        let c = comp(
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc",
            &[],
        );
        let t = target(&c, None).unwrap();
        assert_eq!(t.keys[0].to_string(), "Debian:12/glibc");
        assert_eq!(t.version.as_str(), "2.36-9+deb12u14");
        let c = comp(
            "pkg:deb/debian/libbz2-1.0@1.0.8-5%2Bb1?distro=debian-12.5&upstream=bzip2",
            &[],
        );
        assert_eq!(target(&c, None).unwrap().version.as_str(), "1.0.8-5");
        let c = comp(
            "pkg:deb/debian/libgcc-s1@12.2.0-14?distro=debian-12&upstream=gcc-12%4012.2.0-14",
            &[],
        );
        let t = target(&c, None).unwrap();
        assert_eq!(
            (t.keys[0].name.as_str(), t.version.as_str()),
            ("gcc-12", "12.2.0-14")
        );
        // Trivy: epoch qualifier on the purl, split source properties.
        let c = comp(
            "pkg:deb/debian/bsdutils@2.38.1-5%2Bdeb12u3?distro=debian-12.5&epoch=1",
            &[
                ("aquasecurity:trivy:SrcName", "util-linux"),
                ("aquasecurity:trivy:SrcVersion", "2.38.1"),
                ("aquasecurity:trivy:SrcRelease", "5+deb12u3"),
                ("aquasecurity:trivy:SrcEpoch", "1"),
            ],
        );
        let t = target(&c, None).unwrap();
        assert_eq!(
            (t.keys[0].name.as_str(), t.version.as_str()),
            ("util-linux", "1:2.38.1-5+deb12u3")
        );
    }

    #[test]
    fn distro_release_comes_from_the_purl_or_the_os_component() {
        let c = comp("pkg:deb/debian/bash@5.2.15-2%2Bb13", &[]);
        assert_eq!(
            target(&c, None).unwrap_err(),
            UnevaluatedReason::UnknownRelease {
                ecosystem: "debian".into()
            }
        );
        let hint = Distro {
            ecosystem: Ecosystem::Debian,
            release: "12".into(),
        };
        assert_eq!(
            target(&c, Some(&hint)).unwrap().keys[0].to_string(),
            "Debian:12/bash"
        );
        let c = comp(
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl",
            &[],
        );
        assert_eq!(
            target(&c, None).unwrap().keys[0].to_string(),
            "Alpine:v3.19/openssl"
        );
        let c = comp("pkg:deb/ubuntu/bash@5.1-6ubuntu1?distro=ubuntu-22.04", &[]);
        assert!(matches!(
            target(&c, None),
            Err(UnevaluatedReason::UnsupportedEcosystem { .. })
        ));
    }

    #[test]
    fn language_purls_map_to_keys() {
        for (purl, key) in [
            (
                "pkg:pypi/Charset_Normalizer@3.4.0",
                "PyPI/charset-normalizer",
            ),
            ("pkg:npm/%40babel/core@7.0.0", "npm/@babel/core"),
            ("pkg:cargo/serde_json@1.0.133", "crates.io/serde-json"),
            (
                "pkg:golang/github.com/gin-gonic/gin@v1.5.0",
                "Go/github.com/gin-gonic/gin",
            ),
            (
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
                "Maven/org.apache.logging.log4j:log4j-core",
            ),
        ] {
            assert_eq!(
                target(&comp(purl, &[]), None).unwrap().keys[0].to_string(),
                key,
                "{purl}"
            );
        }
        assert_eq!(
            target(&comp("pkg:gem/rails@7.0.0", &[]), None).unwrap_err(),
            UnevaluatedReason::UnsupportedEcosystem {
                ecosystem: "gem".into()
            }
        );
        assert!(matches!(
            target(&comp("pkg:pypi/x@not..a..version", &[]), None),
            Err(UnevaluatedReason::UnparseableVersion { .. })
        ));
        assert!(matches!(
            target(&comp("not a purl", &[]), None),
            Err(UnevaluatedReason::InvalidPurl { .. })
        ));
        assert_eq!(
            target(&comp("pkg:pypi/x", &[]), None).unwrap_err(),
            UnevaluatedReason::NoVersion
        );
    }
}
