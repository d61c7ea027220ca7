//! Ecosystems, their OSV names, and the package names advisories and components agree on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::version::VersionScheme;

/// An ecosystem custody can evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    /// Debian source packages (`Debian:12`), dpkg ordering.
    Debian,
    /// Alpine source packages (`Alpine:v3.19`), apk ordering.
    Alpine,
    /// Python packages, PEP 440 ordering.
    PyPI,
    /// npm packages, node-semver ordering.
    #[serde(rename = "npm")]
    Npm,
    /// Rust crates, SemVer ordering.
    #[serde(rename = "crates.io")]
    CratesIo,
    /// Go modules, SemVer ordering with Go's spellings.
    Go,
    /// Maven artifacts (`groupId:artifactId`), `ComparableVersion` ordering.
    Maven,
}

impl Ecosystem {
    /// Every supported ecosystem.
    pub const ALL: [Ecosystem; 7] = [
        Ecosystem::Debian,
        Ecosystem::Alpine,
        Ecosystem::PyPI,
        Ecosystem::Npm,
        Ecosystem::CratesIo,
        Ecosystem::Go,
        Ecosystem::Maven,
    ];

    /// The ecosystem's name in OSV records (without a release suffix).
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::Debian => "Debian",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Go => "Go",
            Ecosystem::Maven => "Maven",
        }
    }

    /// How the ecosystem orders versions.
    pub fn scheme(self) -> VersionScheme {
        match self {
            Ecosystem::Debian => VersionScheme::Dpkg,
            Ecosystem::Alpine => VersionScheme::Apk,
            Ecosystem::PyPI => VersionScheme::Pep440,
            Ecosystem::Npm => VersionScheme::Npm,
            Ecosystem::CratesIo => VersionScheme::Cargo,
            Ecosystem::Go => VersionScheme::Go,
            Ecosystem::Maven => VersionScheme::Maven,
        }
    }

    /// Whether advisories of this ecosystem are scoped to a distribution release.
    pub fn has_releases(self) -> bool {
        matches!(self, Ecosystem::Debian | Ecosystem::Alpine)
    }

    /// The package name as custody indexes it, so that an advisory and a component spelling
    /// one package differently still meet:
    /// - PyPI: PEP 503 normalisation (lowercase, runs of `-_.` become `-`);
    /// - npm: lowercase (the purl spec lowercases npm names; the registry refuses new names
    ///   differing only in case), scope kept (`@babel/core`);
    /// - crates.io: lowercase with `_` as `-` (crates.io refuses names equal under that rule);
    /// - Go: lowercase module path (the module proxy escapes case, hosts compare paths
    ///   case-insensitively, and scanners write both spellings);
    /// - Maven: `groupId:artifactId`, lowercase;
    /// - Debian, Alpine: the source package name, lowercase.
    pub fn normalize_name(self, name: &str) -> String {
        let name = name.trim();
        match self {
            Ecosystem::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut in_sep = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        if !in_sep {
                            out.push('-');
                        }
                        in_sep = true;
                    } else {
                        out.extend(c.to_lowercase());
                        in_sep = false;
                    }
                }
                out
            }
            Ecosystem::CratesIo => name.to_lowercase().replace('_', "-"),
            _ => name.to_lowercase(),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

/// Every ecosystem name the OSV schema (ossf/osv-schema `validation/schema.json`) defines,
/// plus `GIT`, which its pattern also admits.
pub(crate) const OSV_ECOSYSTEMS: [&str; 49] = [
    "AlmaLinux",
    "Alpaquita",
    "Alpine",
    "Android",
    "Azure Linux",
    "BellSoft Hardened Containers",
    "Bioconductor",
    "Bitnami",
    "Chainguard",
    "CleanStart",
    "ConanCenter",
    "CRAN",
    "crates.io",
    "Debian",
    "Docker Hardened Images",
    "Echo",
    "FreeBSD",
    "GHC",
    "GitHub Actions",
    "Go",
    "Hackage",
    "Hex",
    "Julia",
    "Kubernetes",
    "Linux",
    "Mageia",
    "Maven",
    "MinimOS",
    "npm",
    "NuGet",
    "opam",
    "openEuler",
    "openSUSE",
    "OSS-Fuzz",
    "Packagist",
    "Photon OS",
    "Pub",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "Root",
    "RubyGems",
    "SUSE",
    "SwiftURL",
    "TuxCare",
    "Ubuntu",
    "VSCode",
    "Wolfi",
    "GIT",
];

/// What an OSV `affected[].package.ecosystem` string means to custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OsvEcosystem {
    /// One custody evaluates, with its release when the ecosystem has them.
    Supported(Ecosystem, Option<String>),
    /// A valid OSV ecosystem custody does not evaluate (RubyGems, Red Hat, ...).
    Unsupported(String),
}

/// Parses an OSV ecosystem string; `None` when it does not match the schema's pattern
/// (a known name, optionally followed by `:` and a non-empty suffix).
pub(crate) fn parse_osv_ecosystem(s: &str) -> Option<OsvEcosystem> {
    let base = OSV_ECOSYSTEMS
        .iter()
        .filter(|n| s.starts_with(**n) && (s.len() == n.len() || s.as_bytes()[n.len()] == b':'))
        .max_by_key(|n| n.len())?;
    let suffix = match &s[base.len()..] {
        "" => None,
        rest => Some(rest.get(1..).filter(|r| !r.is_empty())?),
    };
    let eco = match *base {
        "Debian" => Ecosystem::Debian,
        "Alpine" => Ecosystem::Alpine,
        "PyPI" => Ecosystem::PyPI,
        "npm" => Ecosystem::Npm,
        "crates.io" => Ecosystem::CratesIo,
        "Go" => Ecosystem::Go,
        "Maven" => Ecosystem::Maven,
        other => return Some(OsvEcosystem::Unsupported(other.to_owned())),
    };
    let release = match (eco, suffix) {
        (Ecosystem::Debian, Some(r)) => Some(debian_release(r).unwrap_or_else(|| r.to_owned())),
        (Ecosystem::Alpine, Some(r)) => Some(r.strip_prefix('v').unwrap_or(r).to_owned()),
        // Maven's suffix names a repository (`Maven:https://maven.google.com`); the
        // coordinates are the same artifact's, so it is indexed with Maven Central's.
        _ => None,
    };
    Some(OsvEcosystem::Supported(eco, release))
}

/// Debian's release number for a suffix or a purl `distro` value: `12`, `12.5`,
/// `debian-12`, `debian-12.5` and `bookworm` all give `12`.
pub(crate) fn debian_release(s: &str) -> Option<String> {
    let s = s.strip_prefix("debian-").unwrap_or(s);
    let major = s.split('.').next().unwrap_or(s);
    if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) {
        return Some(major.trim_start_matches('0').to_owned()).filter(|m| !m.is_empty());
    }
    // distro-info-data's codenames for the releases OSV carries.
    let number = match s {
        "wheezy" => "7",
        "jessie" => "8",
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "sid" | "unstable" => "sid",
        _ => return None,
    };
    Some(number.to_owned())
}

/// Alpine's release branch for a purl `distro` value or an OS version: `alpine-3.19.1`,
/// `3.19.1` and `v3.19` all give `3.19`.
pub(crate) fn alpine_release(s: &str) -> Option<String> {
    let s = s.strip_prefix("alpine-").unwrap_or(s);
    let s = s.strip_prefix('v').unwrap_or(s);
    if s == "edge" {
        return Some("edge".to_owned());
    }
    let mut parts = s.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor)).then(|| format!("{major}.{minor}"))
}

/// The key an advisory's affected package and a component meet on: ecosystem, release
/// (Debian and Alpine only) and normalised name.
///
/// Its text form is `ECOSYSTEM[:RELEASE]/NAME` (`Debian:12/glibc`, `PyPI/urllib3`,
/// `npm/@babel/core`), which is what the ledger stores to find candidate components for an
/// advisory without loading every SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageKey {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The distribution release (`12`, `3.19`), or `None` for ecosystems without releases
    /// and for advisories that apply to every release.
    pub release: Option<String>,
    /// The normalised package name ([`Ecosystem::normalize_name`]).
    pub name: String,
}

impl PackageKey {
    /// A key, normalising `name` for `ecosystem`.
    pub fn new(ecosystem: Ecosystem, release: Option<String>, name: &str) -> PackageKey {
        PackageKey {
            ecosystem,
            release,
            name: ecosystem.normalize_name(name),
        }
    }

    /// The OSV ecosystem string of the key (`Debian:12`, `Alpine:v3.19`, `PyPI`).
    pub fn osv_ecosystem(&self) -> String {
        match (&self.release, self.ecosystem) {
            (Some(r), Ecosystem::Alpine) if r != "edge" => format!("Alpine:v{r}"),
            (Some(r), e) => format!("{}:{r}", e.osv_name()),
            (None, e) => e.osv_name().to_owned(),
        }
    }
}

impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.osv_ecosystem(), self.name)
    }
}

/// A string that is not a package key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package key {0:?} is not ECOSYSTEM[:RELEASE]/NAME with a supported ecosystem")]
pub struct PackageKeyError(pub String);

impl FromStr for PackageKey {
    type Err = PackageKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PackageKeyError(s.to_owned());
        let (eco, name) = s.split_once('/').ok_or_else(err)?;
        if name.is_empty() {
            return Err(err());
        }
        match parse_osv_ecosystem(eco) {
            Some(OsvEcosystem::Supported(e, release)) => Ok(PackageKey::new(e, release, name)),
            _ => Err(err()),
        }
    }
}

impl Serialize for PackageKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PackageKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_ecosystem() {
        assert_eq!(
            Ecosystem::PyPI.normalize_name("Products.PluggableAuthService"),
            "products-pluggableauthservice"
        );
        assert_eq!(
            Ecosystem::PyPI.normalize_name("charset_normalizer"),
            "charset-normalizer"
        );
        assert_eq!(Ecosystem::PyPI.normalize_name("Foo.__Bar"), "foo-bar");
        assert_eq!(
            Ecosystem::CratesIo.normalize_name("Serde_JSON"),
            "serde-json"
        );
        assert_eq!(Ecosystem::Npm.normalize_name("@Babel/Core"), "@babel/core");
        assert_eq!(
            Ecosystem::Go.normalize_name("github.com/Sirupsen/logrus"),
            "github.com/sirupsen/logrus"
        );
        assert_eq!(
            Ecosystem::Maven.normalize_name("org.apache.logging.log4j:log4j-core"),
            "org.apache.logging.log4j:log4j-core"
        );
    }

    #[test]
    fn osv_ecosystem_strings() {
        use OsvEcosystem::*;
        assert_eq!(
            parse_osv_ecosystem("Debian:12"),
            Some(Supported(Ecosystem::Debian, Some("12".into())))
        );
        assert_eq!(
            parse_osv_ecosystem("Debian"),
            Some(Supported(Ecosystem::Debian, None))
        );
        assert_eq!(
            parse_osv_ecosystem("Alpine:v3.19"),
            Some(Supported(Ecosystem::Alpine, Some("3.19".into())))
        );
        assert_eq!(
            parse_osv_ecosystem("Maven:https://maven.google.com"),
            Some(Supported(Ecosystem::Maven, None))
        );
        assert_eq!(
            parse_osv_ecosystem("RubyGems"),
            Some(Unsupported("RubyGems".into()))
        );
        assert_eq!(
            parse_osv_ecosystem("Red Hat:rhel_aus:8.4::appstream"),
            Some(Unsupported("Red Hat".into()))
        );
        for bad in [
            "",
            "Debian:",
            "NotAnEcosystem",
            "debian:12",
            "PyPIx",
            "npm ",
        ] {
            assert_eq!(parse_osv_ecosystem(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn releases_from_purl_distros() {
        assert_eq!(debian_release("debian-12").as_deref(), Some("12"));
        assert_eq!(debian_release("debian-12.5").as_deref(), Some("12"));
        assert_eq!(debian_release("bookworm").as_deref(), Some("12"));
        assert_eq!(debian_release("ubuntu-22.04").as_deref(), None);
        assert_eq!(alpine_release("alpine-3.19.1").as_deref(), Some("3.19"));
        assert_eq!(alpine_release("v3.19").as_deref(), Some("3.19"));
        assert_eq!(alpine_release("3").as_deref(), None);
    }

    #[test]
    fn package_keys_round_trip_through_text() {
        for s in [
            "Debian:12/glibc",
            "Alpine:v3.19/openssl",
            "PyPI/urllib3",
            "npm/@babel/core",
            "Go/github.com/gin-gonic/gin",
            "Maven/org.example:lib",
            "crates.io/regex",
        ] {
            let k: PackageKey = s.parse().unwrap();
            assert_eq!(k.to_string(), s);
        }
        assert!("Nope/x".parse::<PackageKey>().is_err());
        assert!("PyPI/".parse::<PackageKey>().is_err());
    }
}
