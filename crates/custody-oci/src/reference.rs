//! Image reference strings: `PATH`, `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`,
//! `docker-archive:PATH[:NAME:TAG]`, and `--platform os/arch[/variant]`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use custody_types::Digest;

use crate::error::ReferenceError;

/// The container format of an image on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    OciLayout,
    /// An OCI image layout packed in an uncompressed tar.
    OciArchive,
    /// A `docker save` tarball, classic (`manifest.json`, `<id>/layer.tar`) or Docker 25+
    /// (`manifest.json` beside an OCI layout).
    DockerArchive,
}

impl SourceKind {
    /// The transport prefix naming this kind (`oci`, `oci-archive`, `docker-archive`).
    pub fn prefix(self) -> &'static str {
        match self {
            SourceKind::OciLayout => "oci",
            SourceKind::OciArchive => "oci-archive",
            SourceKind::DockerArchive => "docker-archive",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// Which image of a layout or archive to open.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// An `org.opencontainers.image.ref.name` annotation value (e.g. `1.0`), or for an
    /// archive with names, an image name.
    RefName(String),
    /// A manifest (or index) digest.
    Digest(Digest),
    /// A `docker save` image name such as `localhost/app:1.0` (matched after Docker's
    /// normalisation, so `debian` matches `docker.io/library/debian:latest`).
    ImageName(ImageName),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::RefName(r) => f.write_str(r),
            Selector::Digest(d) => d.fmt(f),
            Selector::ImageName(n) => n.fmt(f),
        }
    }
}

/// Where an image is and which image in it: the parsed form of an IMAGE argument.
///
/// Parsing (`FromStr`) accepts a bare path (its kind is detected when opened) or a
/// transport-prefixed one. Because paths may contain colons and image names contain a colon
/// before the tag (and may start with `host:port/`), the split between path and selector is
/// made as follows: the whole remainder if it exists on disk; else the longest prefix ending
/// before a colon that exists on disk and leaves a valid selector; else (nothing exists yet)
/// the first colon that leaves a valid selector, so opening fails naming the missing path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The transport given, or `None` to detect it from the path.
    pub kind: Option<SourceKind>,
    /// The layout directory or archive file.
    pub path: PathBuf,
    /// Which image inside, when the path holds several.
    pub selector: Option<Selector>,
}

impl ImageRef {
    /// A reference to the image at `path`, kind detected when opened.
    pub fn path(path: impl Into<PathBuf>) -> ImageRef {
        ImageRef {
            kind: None,
            path: path.into(),
            selector: None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(kind) = self.kind {
            write!(f, "{kind}:")?;
        }
        write!(f, "{}", self.path.display())?;
        if let Some(sel) = &self.selector {
            write!(f, ":{sel}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = if let Some(rest) = s.strip_prefix("oci-archive:") {
            (Some(SourceKind::OciArchive), rest)
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            (Some(SourceKind::DockerArchive), rest)
        } else if let Some(rest) = s.strip_prefix("oci:") {
            (Some(SourceKind::OciLayout), rest)
        } else {
            (None, s)
        };
        if rest.is_empty() {
            return Err(ReferenceError::Empty(s.to_owned()));
        }
        let Some(kind) = kind else {
            // A bare path never carries a selector: the CLI's --image picks one.
            return Ok(ImageRef::path(rest));
        };
        let (path, selector) = split_path_and_selector(rest, kind)?;
        if path.is_empty() {
            return Err(ReferenceError::Empty(s.to_owned()));
        }
        Ok(ImageRef {
            kind: Some(kind),
            path: PathBuf::from(path),
            selector,
        })
    }
}

/// Splits `PATH[:SELECTOR]` as documented on [`ImageRef`].
fn split_path_and_selector(
    rest: &str,
    kind: SourceKind,
) -> Result<(&str, Option<Selector>), ReferenceError> {
    if Path::new(rest).exists() {
        return Ok((rest, None));
    }
    let colons: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
    // Longest existing prefix first.
    for &i in colons.iter().rev() {
        let (path, sel) = (&rest[..i], &rest[i + 1..]);
        if !path.is_empty()
            && Path::new(path).exists()
            && let Ok(sel) = parse_selector(sel, kind)
        {
            return Ok((path, Some(sel)));
        }
    }
    for &i in &colons {
        let (path, sel) = (&rest[..i], &rest[i + 1..]);
        if let Ok(sel) = parse_selector(sel, kind) {
            return Ok((path, Some(sel)));
        }
    }
    match kind {
        // An archive's selector must be a valid name; report the name, not the path.
        SourceKind::DockerArchive if !colons.is_empty() => {
            let sel = &rest[colons[0] + 1..];
            parse_selector(sel, kind).map(|s| (&rest[..colons[0]], Some(s)))
        }
        _ => Ok((rest, None)),
    }
}

fn parse_selector(s: &str, kind: SourceKind) -> Result<Selector, ReferenceError> {
    if let Ok(d) = s.parse::<Digest>() {
        return Ok(Selector::Digest(d));
    }
    match kind {
        SourceKind::DockerArchive => s.parse::<ImageName>().map(Selector::ImageName),
        SourceKind::OciLayout | SourceKind::OciArchive => {
            if is_ref_name(s) {
                Ok(Selector::RefName(s.to_owned()))
            } else {
                Err(ReferenceError::BadImageName(s.to_owned()))
            }
        }
    }
}

/// The OCI image-spec grammar of `org.opencontainers.image.ref.name` values (annotations.md):
/// alphanumeric components separated by `-._:@/+` (or `--`), non-empty.
fn is_ref_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:@/+".contains(&b))
}

/// A Docker image name `[HOST[:PORT]/]PATH[:TAG]`, normalised the way Docker does so that
/// `debian`, `debian:latest` and `docker.io/library/debian:latest` compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    domain: String,
    path: String,
    tag: String,
}

impl ImageName {
    /// The registry host (`docker.io` when none was written).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path (`library/debian` for an official image).
    pub fn repository(&self) -> &str {
        &self.path
    }

    /// The tag (`latest` when none was written).
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.domain, self.path, self.tag)
    }
}

impl FromStr for ImageName {
    type Err = ReferenceError;

    /// Parses the distribution reference grammar (without a digest): the first component
    /// is a domain when it contains `.` or `:` or is `localhost`; path components are
    /// lowercase alphanumerics joined by `.`, `_`, `__` or dashes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReferenceError::BadImageName(s.to_owned());
        if s.is_empty() || s.len() > 255 {
            return Err(bad());
        }
        // The tag is after the last colon that follows the last slash.
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
            None => (s, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                return Err(bad());
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let domain = if parts.len() > 1
            && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
        {
            let d = parts.remove(0);
            if !valid_domain(d) {
                return Err(bad());
            }
            d.to_owned()
        } else {
            "docker.io".to_owned()
        };
        if parts.is_empty() || !parts.iter().all(|p| valid_path_component(p)) {
            return Err(bad());
        }
        let mut path = parts.join("/");
        if domain == "docker.io" && parts.len() == 1 {
            path = format!("library/{path}");
        }
        Ok(ImageName {
            domain,
            path,
            tag: tag.unwrap_or("latest").to_owned(),
        })
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn valid_path_component(p: &str) -> bool {
    let b = p.as_bytes();
    if b.is_empty()
        || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit()
        || !b[b.len() - 1].is_ascii_lowercase() && !b[b.len() - 1].is_ascii_digit()
    {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            i += 1;
            continue;
        }
        // Separators: '.', '_', '__', or one or more '-'.
        match c {
            b'.' => i += 1,
            b'_' => {
                i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 };
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
                continue;
            }
            _ => return false,
        }
        // A separator must be followed by an alphanumeric.
        if !b
            .get(i)
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

/// A platform to select from a multi-platform index: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture in Go's GOARCH spelling (`amd64`, `arm64`).
    pub architecture: String,
    /// CPU variant (`v8`, `v7`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform custody runs on, used when an index offers several and none was asked
    /// for (as `docker` and `containerd` do).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    /// Whether an image of platform `other` satisfies a request for `self`: os and arch equal,
    /// and the variant equal when `self` names one.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if !ok {
            return Err(ReferenceError::BadPlatform(s.to_owned()));
        }
        Ok(Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_path_has_no_kind_and_no_selector() {
        let r: ImageRef = "/tmp/img.tar".parse().unwrap();
        assert_eq!(r, ImageRef::path("/tmp/img.tar"));
    }

    #[test]
    fn oci_ref_name_and_digest() {
        let r: ImageRef = "oci:/nonexistent/dir:1.0".parse().unwrap();
        assert_eq!(r.kind, Some(SourceKind::OciLayout));
        assert_eq!(r.path, PathBuf::from("/nonexistent/dir"));
        assert_eq!(r.selector, Some(Selector::RefName("1.0".into())));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r: ImageRef = format!("oci-archive:/x/y.tar:{d}").parse().unwrap();
        assert_eq!(r.path, PathBuf::from("/x/y.tar"));
        assert_eq!(r.selector, Some(Selector::Digest(d.parse().unwrap())));
    }

    #[test]
    fn docker_archive_name_with_registry_port() {
        let r: ImageRef = "docker-archive:/a/b.tar:localhost:5000/team/app:1.2"
            .parse()
            .unwrap();
        assert_eq!(r.path, PathBuf::from("/a/b.tar"));
        let Some(Selector::ImageName(n)) = r.selector else {
            panic!("expected an image name")
        };
        assert_eq!(n.domain(), "localhost:5000");
        assert_eq!(n.repository(), "team/app");
        assert_eq!(n.tag(), "1.2");
    }

    #[test]
    fn docker_archive_path_with_colon_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a:b.tar");
        std::fs::write(&p, b"").unwrap();
        let s = format!("docker-archive:{}:repo/app:7", p.display());
        let r: ImageRef = s.parse().unwrap();
        assert_eq!(r.path, p);
        assert_eq!(
            r.selector,
            Some(Selector::ImageName("docker.io/repo/app:7".parse().unwrap()))
        );
        // Without a selector, the whole existing path is taken.
        let r: ImageRef = format!("docker-archive:{}", p.display()).parse().unwrap();
        assert_eq!(r.path, p);
        assert_eq!(r.selector, None);
    }

    #[test]
    fn image_names_normalise_like_docker() {
        let a: ImageName = "debian".parse().unwrap();
        let b: ImageName = "docker.io/library/debian:latest".parse().unwrap();
        assert_eq!(a, b);
        let c: ImageName = "localhost/distroless-cc:1.0".parse().unwrap();
        assert_eq!(c.to_string(), "localhost/distroless-cc:1.0");
        for bad in [
            "",
            "UPPER",
            "a//b",
            "a:",
            "a:b:c",
            "-a",
            "a/-b",
            "host:99999999/a",
        ] {
            assert!(bad.parse::<ImageName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_references_are_refused() {
        for bad in ["", "oci:", "docker-archive:", "oci-archive::1.0"] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn platforms_parse_and_match() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        let q: Platform = "linux/arm64".parse().unwrap();
        assert!(q.matches(&p));
        assert!(!p.matches(&q));
        for bad in ["linux", "linux/", "a/b/c/d", "linux/amd 64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
    }
}
