//! Version strings parsed and ordered the way each ecosystem's own tools order them.
//!
//! Every comparison an advisory match makes goes through [`Version`]. A version string is
//! parsed once, under the scheme of its ecosystem, and two versions only ever compare within
//! one scheme: a Debian version is never ordered against a PyPI one.

mod apk;
mod golang;
mod maven;

use std::cmp::Ordering;
use std::fmt;

pub use apk::ApkVersion;
pub use maven::MavenVersion;

/// How an ecosystem spells and orders its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionScheme {
    /// dpkg ordering (epochs, `~`, Debian revisions), through the `debversion` crate.
    Dpkg,
    /// apk-tools ordering (`_alpha`/`_beta`/`_pre`/`_rc`, `_p`, `-rN`).
    Apk,
    /// PEP 440 (pre, post, dev and local releases), through `pep440_rs`.
    Pep440,
    /// npm's node-semver, through `nodejs-semver` (accepts a leading `v` or `=`).
    Npm,
    /// Strict SemVer 2.0 as Cargo uses it, through `semver`.
    Cargo,
    /// Go module versions: SemVer with a required-or-optional `v`, pseudo-versions,
    /// `+incompatible`, and the toolchain's own `go1.21rc2` spellings for the standard library.
    Go,
    /// Maven's `ComparableVersion` ordering.
    Maven,
}

impl VersionScheme {
    /// The scheme's name as used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionScheme::Dpkg => "dpkg",
            VersionScheme::Apk => "apk",
            VersionScheme::Pep440 => "pep440",
            VersionScheme::Npm => "npm",
            VersionScheme::Cargo => "semver",
            VersionScheme::Go => "go",
            VersionScheme::Maven => "maven",
        }
    }
}

impl fmt::Display for VersionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string that its scheme does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {version:?} is not a valid {scheme} version: {reason}")]
pub struct VersionError {
    /// The rejected string.
    pub version: String,
    /// The scheme it was parsed under.
    pub scheme: VersionScheme,
    /// What the parser said.
    pub reason: String,
}

/// Longest version string accepted; real versions are far shorter, and the bound keeps a
/// hostile record from making comparisons expensive.
pub const MAX_VERSION_LEN: usize = 256;

#[derive(Debug, Clone)]
enum Parsed {
    Dpkg(debversion::Version),
    Apk(ApkVersion),
    Pep440(pep440_rs::Version),
    Npm(nodejs_semver::Version),
    Semver(semver::Version),
    Maven(MavenVersion),
}

/// A parsed version of one [`VersionScheme`], totally ordered against versions of the same
/// scheme.
///
/// Versions of different schemes never meet in custody (an advisory's bounds are parsed
/// under the scheme of the package they name); should they, they order by scheme first, so
/// the ordering stays total and consistent.
#[derive(Debug, Clone)]
pub struct Version {
    raw: String,
    scheme: VersionScheme,
    parsed: Parsed,
}

impl Version {
    /// Parses `s` under `scheme`.
    pub fn parse(scheme: VersionScheme, s: &str) -> Result<Version, VersionError> {
        Version::parse_owned(scheme, s.to_owned())
    }

    /// Parses `s` under `scheme`, keeping the string without copying it.
    pub fn parse_owned(scheme: VersionScheme, raw: String) -> Result<Version, VersionError> {
        let s = raw.as_str();
        let err = |reason: String| VersionError {
            version: truncate(s),
            scheme,
            reason,
        };
        if s.is_empty() {
            return Err(err("empty".into()));
        }
        if s.len() > MAX_VERSION_LEN {
            return Err(err(format!("longer than {MAX_VERSION_LEN} bytes")));
        }
        if s.trim() != s {
            return Err(err("surrounding whitespace".into()));
        }
        let parsed = match scheme {
            VersionScheme::Dpkg => Parsed::Dpkg(
                s.parse::<debversion::Version>()
                    .map_err(|e| err(e.to_string()))?,
            ),
            VersionScheme::Apk => Parsed::Apk(ApkVersion::parse(s).map_err(err)?),
            VersionScheme::Pep440 => Parsed::Pep440(
                s.parse::<pep440_rs::Version>()
                    .map_err(|e| err(e.to_string()))?,
            ),
            VersionScheme::Npm => {
                Parsed::Npm(nodejs_semver::Version::parse(s).map_err(|e| err(e.to_string()))?)
            }
            VersionScheme::Cargo => {
                Parsed::Semver(semver::Version::parse(s).map_err(|e| err(e.to_string()))?)
            }
            VersionScheme::Go => Parsed::Semver(golang::parse(s).map_err(err)?),
            VersionScheme::Maven => Parsed::Maven(MavenVersion::parse(s).map_err(err)?),
        };
        Ok(Version {
            raw,
            scheme,
            parsed,
        })
    }

    /// The string as it was given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The scheme it was parsed under.
    pub fn scheme(&self) -> VersionScheme {
        self.scheme
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.scheme != other.scheme {
            return self.scheme.cmp(&other.scheme);
        }
        match (&self.parsed, &other.parsed) {
            (Parsed::Dpkg(a), Parsed::Dpkg(b)) => a.cmp(b),
            (Parsed::Apk(a), Parsed::Apk(b)) => a.cmp(b),
            (Parsed::Pep440(a), Parsed::Pep440(b)) => a.cmp(b),
            (Parsed::Npm(a), Parsed::Npm(b)) => a.cmp(b),
            // SemVer precedence (section 11): build metadata such as Go's `+incompatible`
            // does not take part.
            (Parsed::Semver(a), Parsed::Semver(b)) => a.cmp_precedence(b),
            (Parsed::Maven(a), Parsed::Maven(b)) => a.cmp(b),
            _ => self.scheme.cmp(&other.scheme),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Compares two version strings under `scheme`; `None` when either does not parse.
pub fn compare(scheme: VersionScheme, a: &str, b: &str) -> Option<Ordering> {
    let a = Version::parse(scheme, a).ok()?;
    let b = Version::parse(scheme, b).ok()?;
    Some(a.cmp(&b))
}

fn truncate(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_owned();
    }
    let mut end = 80;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(scheme: VersionScheme, a: &str, b: &str) {
        assert_eq!(
            compare(scheme, a, b),
            Some(Ordering::Less),
            "{scheme}: expected {a} < {b}"
        );
        assert_eq!(
            compare(scheme, b, a),
            Some(Ordering::Greater),
            "{scheme}: expected {b} > {a}"
        );
    }

    fn eq(scheme: VersionScheme, a: &str, b: &str) {
        assert_eq!(
            compare(scheme, a, b),
            Some(Ordering::Equal),
            "{scheme}: expected {a} == {b}"
        );
    }

    #[test]
    fn dpkg_epochs_tildes_and_revisions() {
        use VersionScheme::Dpkg;
        lt(Dpkg, "2.0", "1:1.0");
        lt(Dpkg, "1.0~rc1", "1.0");
        lt(Dpkg, "1.0~~", "1.0~");
        lt(Dpkg, "1.0-1", "1.0-1+b1");
        lt(Dpkg, "1.0-1+b1", "1.0-1+deb12u1");
        lt(Dpkg, "2.36-9+deb12u13", "2.36-9+deb12u14");
        lt(Dpkg, "252.39-1~deb12u1", "252.39-1");
        eq(Dpkg, "1.0", "0:1.0");
        eq(Dpkg, "1.0", "1.0-0");
    }

    #[test]
    fn pep440_pre_post_dev_local() {
        use VersionScheme::Pep440;
        lt(Pep440, "1.0.dev1", "1.0a1");
        lt(Pep440, "1.0a1", "1.0b1");
        lt(Pep440, "1.0b1", "1.0rc1");
        lt(Pep440, "1.0rc1", "1.0");
        lt(Pep440, "1.0", "1.0.post1");
        lt(Pep440, "1.0", "1.0+local.1");
        lt(Pep440, "1.0+local.1", "1.0.post1");
        eq(Pep440, "1.0", "1.0.0");
        eq(Pep440, "1.0RC1", "1.0rc1");
    }

    #[test]
    fn semver_prereleases_and_build_metadata() {
        use VersionScheme::{Cargo, Npm};
        lt(Cargo, "1.0.0-alpha", "1.0.0-alpha.1");
        lt(Cargo, "1.0.0-alpha.1", "1.0.0-alpha.beta");
        lt(Cargo, "1.0.0-beta.2", "1.0.0-beta.11");
        lt(Cargo, "1.0.0-rc.1", "1.0.0");
        eq(Cargo, "1.0.0+build.1", "1.0.0+build.2");
        lt(Npm, "1.0.0-alpha", "1.0.0");
        lt(Npm, "2.1.1-0", "2.1.1");
        eq(Npm, "v1.2.3", "1.2.3");
        assert!(Version::parse(Cargo, "v1.2.3").is_err());
        assert!(Version::parse(Cargo, "1.2").is_err());
    }

    #[test]
    fn versions_of_different_schemes_order_by_scheme() {
        let a = Version::parse(VersionScheme::Dpkg, "9").unwrap();
        let b = Version::parse(VersionScheme::Pep440, "1").unwrap();
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(b.cmp(&a), Ordering::Greater);
    }

    #[test]
    fn refuses_empty_long_and_padded_strings() {
        for scheme in [
            VersionScheme::Dpkg,
            VersionScheme::Apk,
            VersionScheme::Pep440,
            VersionScheme::Npm,
            VersionScheme::Cargo,
            VersionScheme::Go,
            VersionScheme::Maven,
        ] {
            assert!(Version::parse(scheme, "").is_err());
            assert!(Version::parse(scheme, " 1.0").is_err());
            assert!(Version::parse(scheme, &"1".repeat(300)).is_err());
        }
    }
}
