//! Catalogers: which files of a layer matter, and what each says, parsed as pure functions
//! over bytes so each can be tested and fuzzed on its own.
//!
//! A layer's task (one per layer, in parallel) calls [`classify`] on every path, keeps only
//! the files it names, and parses them right there with [`parse`]; the bytes are dropped
//! as soon as they are parsed. What reaches the in-order diff is a small [`Parsed`] value
//! per file, so memory follows the largest metadata file, not the image.

use std::borrow::Cow;

use sha2::{Digest as _, Sha256};

pub(crate) mod apk;
pub(crate) mod binary;
pub(crate) mod cargo;
pub(crate) mod deb822;
pub(crate) mod dpkg;
pub(crate) mod golang;
pub(crate) mod java;
pub(crate) mod npm;
pub(crate) mod os_release;
pub(crate) mod python;
pub(crate) mod rpm;

use crate::Limits;
use crate::model::License;

/// What a parser made of one file, with the problems it stepped over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileParse<T> {
    pub(crate) value: T,
    /// One line per skipped record or oddity, lower-case, without the path (the caller adds
    /// it).
    pub(crate) warnings: Vec<String>,
}

impl<T> FileParse<T> {
    pub(crate) fn new(value: T, warnings: Vec<String>) -> Self {
        FileParse { value, warnings }
    }
}

/// A stable 64-bit fingerprint of a record's bytes (first 8 bytes of its SHA-256), used to
/// tell a rewritten record from a merely rewritten file.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Text of a metadata file: UTF-8 without a byte-order mark. Invalid UTF-8 is read with
/// replacement characters and reported, so one bad byte costs a warning, not the file.
pub(crate) fn text_of(bytes: &[u8]) -> (Cow<'_, str>, Vec<String>) {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), Vec::new()),
        Err(e) => (
            String::from_utf8_lossy(bytes),
            vec![format!(
                "not valid UTF-8 (first bad byte at offset {}); read with replacement characters",
                e.valid_up_to()
            )],
        ),
    }
}

/// The kinds of file the catalogers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FileKind {
    /// `var/lib/dpkg/status` or `var/lib/dpkg/status.d/<pkg>`.
    DpkgStatus,
    /// `var/lib/dpkg/info/<pkg>[:arch].list`.
    DpkgList,
    /// `var/lib/dpkg/status.d/<pkg>.md5sums` (distroless ownership).
    DpkgMd5sums,
    /// `usr/share/doc/<pkg>/copyright`.
    Copyright,
    /// `etc/os-release` or `usr/lib/os-release`.
    OsRelease,
    /// `lib/apk/db/installed`.
    ApkInstalled,
    /// `rpmdb.sqlite` under `var/lib/rpm` or `usr/lib/sysimage/rpm`.
    RpmDb,
    /// `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` or an `*.egg-info` file.
    PythonMetadata,
    /// `node_modules/<name>/package.json` or `node_modules/@scope/<name>/package.json`.
    NpmPackageJson,
    /// `package-lock.json`, `npm-shrinkwrap.json` or `node_modules/.package-lock.json`.
    NpmLock,
    /// `yarn.lock`.
    YarnLock,
    /// `Cargo.lock`.
    CargoLock,
    /// `*.jar`, `*.war`, `*.ear` (and Jenkins' `*.jpi`, `*.hpi`).
    JavaArchive,
    /// Any other regular file: read if it starts with the ELF magic.
    MaybeBinary,
}

/// Which cataloger wants the file at `path` (relative to the image root, no leading `/`).
pub(crate) fn classify(path: &str) -> FileKind {
    let (dir, base) = match path.rsplit_once('/') {
        Some((dir, base)) => (dir, base),
        None => ("", path),
    };
    match (dir, base) {
        ("var/lib/dpkg", "status") => return FileKind::DpkgStatus,
        ("var/lib/dpkg/status.d", b) if b.ends_with(".md5sums") => return FileKind::DpkgMd5sums,
        ("var/lib/dpkg/status.d", b) if is_status_d_name(b) => return FileKind::DpkgStatus,
        ("var/lib/dpkg/info", b) if b.ends_with(".list") => return FileKind::DpkgList,
        ("etc" | "usr/lib", "os-release") => return FileKind::OsRelease,
        ("lib/apk/db", "installed") => return FileKind::ApkInstalled,
        ("var/lib/rpm" | "usr/lib/sysimage/rpm", "rpmdb.sqlite") => return FileKind::RpmDb,
        _ => {}
    }
    if base == "copyright"
        && let Some(pkg_dir) = dir.strip_prefix("usr/share/doc/")
        && !pkg_dir.contains('/')
    {
        return FileKind::Copyright;
    }
    let parent = dir.rsplit('/').next().unwrap_or(dir);
    if (base == "METADATA" && parent.ends_with(".dist-info"))
        || (base == "PKG-INFO" && parent.ends_with(".egg-info"))
        || base.ends_with(".egg-info")
    {
        return FileKind::PythonMetadata;
    }
    match base {
        "package.json" if is_node_modules_package_dir(dir) => return FileKind::NpmPackageJson,
        "package-lock.json" | "npm-shrinkwrap.json" => return FileKind::NpmLock,
        ".package-lock.json" if parent == "node_modules" => return FileKind::NpmLock,
        "yarn.lock" => return FileKind::YarnLock,
        "Cargo.lock" => return FileKind::CargoLock,
        _ => {}
    }
    // Case-insensitive suffix test without lower-casing (allocating) every file name.
    let ext_is = |ext: &str| {
        base.len() >= ext.len()
            && base.as_bytes()[base.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
    };
    if [".jar", ".war", ".ear", ".jpi", ".hpi"]
        .iter()
        .any(|ext| ext_is(ext))
    {
        return FileKind::JavaArchive;
    }
    FileKind::MaybeBinary
}

/// Package names in `status.d` may contain dots (`libstdc++6`, `python3.11`) but the
/// `.md5sums` siblings are not packages.
fn is_status_d_name(base: &str) -> bool {
    !base.is_empty() && !base.starts_with('.') && !base.ends_with(".md5sums")
}

/// `…/node_modules/<name>` or `…/node_modules/@scope/<name>`.
fn is_node_modules_package_dir(dir: &str) -> bool {
    let mut parts = dir.rsplit('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some("node_modules"), _) => !name.starts_with('@') && !name.starts_with('.'),
        (Some(_name), Some(scope), Some("node_modules")) => scope.starts_with('@'),
        _ => false,
    }
}

/// A file's parse result, kept in the image view at the file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    DpkgStatus(Vec<dpkg::DpkgRecord>),
    /// Metadata directories a package owns (from `.list` or `.md5sums`).
    DpkgOwned(Vec<String>),
    /// Licences of a DEP-5 copyright file, mapped to SPDX where they map and without
    /// duplicates (`None`: not machine-readable). Mapped here, once per file in the layer's
    /// task, rather than for every state of the image the package is seen in.
    Copyright(Option<Vec<License>>),
    OsRelease(os_release::OsRelease),
    Apk(Vec<apk::ApkRecord>),
    Rpm(Vec<rpm::RpmRecord>),
    Python(python::PythonRecord),
    NpmPackage(npm::NpmPackage),
    NpmLock(npm::NpmLock),
    YarnLock(Vec<npm::LockEntry>),
    CargoLock(Vec<cargo::CrateRecord>),
    /// A binary with build information (cargo-auditable crates, Go modules).
    Binary(binary::BinaryInfo),
    Java(Vec<java::MavenRecord>),
    /// A file at a path the catalogers watch that said nothing usable (kept so it still
    /// hides what a lower layer had there).
    Nothing,
}

/// Parses a captured file of kind `kind`. `path` is only used to name things (an egg-info
/// file, a JAR's fallback name). Never panics; every problem becomes a warning.
pub(crate) fn parse(
    kind: FileKind,
    path: &str,
    bytes: &[u8],
    limits: &Limits,
) -> FileParse<Parsed> {
    fn wrap<T>(p: FileParse<T>, f: impl FnOnce(T) -> Parsed) -> FileParse<Parsed> {
        FileParse::new(f(p.value), p.warnings)
    }
    match kind {
        FileKind::DpkgStatus => wrap(dpkg::parse_status(bytes), Parsed::DpkgStatus),
        FileKind::DpkgList => wrap(dpkg::parse_file_list(bytes, false), Parsed::DpkgOwned),
        FileKind::DpkgMd5sums => wrap(dpkg::parse_file_list(bytes, true), Parsed::DpkgOwned),
        FileKind::Copyright => wrap(dpkg::parse_copyright(bytes), |names| {
            Parsed::Copyright(names.map(|names| {
                let mut out: Vec<License> = Vec::new();
                for l in names.iter().filter_map(|n| crate::license::debian(n)) {
                    if !out.contains(&l) {
                        out.push(l);
                    }
                }
                out
            }))
        }),
        FileKind::OsRelease => wrap(os_release::parse(bytes), Parsed::OsRelease),
        FileKind::ApkInstalled => wrap(apk::parse(bytes), Parsed::Apk),
        FileKind::RpmDb => wrap(rpm::parse(bytes, limits), Parsed::Rpm),
        FileKind::PythonMetadata => match python::parse(bytes) {
            Ok(p) => wrap(p, Parsed::Python),
            Err(e) => FileParse::new(Parsed::Nothing, vec![e]),
        },
        FileKind::NpmPackageJson => match npm::parse_package_json(bytes) {
            Ok(p) => wrap(p, Parsed::NpmPackage),
            Err(e) => FileParse::new(Parsed::Nothing, vec![e]),
        },
        FileKind::NpmLock => match npm::parse_package_lock(bytes) {
            Ok(p) => wrap(p, Parsed::NpmLock),
            Err(e) => FileParse::new(Parsed::Nothing, vec![e]),
        },
        FileKind::YarnLock => match npm::parse_yarn_lock(bytes) {
            Ok(p) => wrap(p, Parsed::YarnLock),
            Err(e) => FileParse::new(Parsed::Nothing, vec![e]),
        },
        FileKind::CargoLock => match cargo::parse_lock(bytes) {
            Ok(p) => wrap(p, Parsed::CargoLock),
            Err(e) => FileParse::new(Parsed::Nothing, vec![e]),
        },
        FileKind::JavaArchive => {
            let p = java::parse_archive(path, bytes, limits);
            if p.value.is_empty() {
                FileParse::new(Parsed::Nothing, p.warnings)
            } else {
                wrap(p, Parsed::Java)
            }
        }
        FileKind::MaybeBinary => parse_binary(bytes, limits),
    }
}

/// A binary's build information as a parsed file, read through any [`object::ReadRef`]: the
/// file's bytes, or a cache over the chunks a layer decoded it into (large binaries, whose
/// headers and one or two sections are all that is read).
pub(crate) fn parse_binary<'data, R: object::ReadRef<'data>>(
    data: R,
    limits: &Limits,
) -> FileParse<Parsed> {
    let p = binary::parse_from(data, limits);
    match p.value {
        Some(info) => FileParse::new(Parsed::Binary(info), p.warnings),
        None => FileParse::new(Parsed::Nothing, p.warnings),
    }
}

/// `count` texts made of up to `max_pieces - 1` of `pieces`, chosen by a fixed xorshift walk
/// from `seed` (moved on by `step` between texts): the same thousands of small, odd texts
/// every run, for checking a fast reader against the plain one it replaced.
#[cfg(test)]
pub(crate) fn generated_texts(
    pieces: &[&str],
    count: usize,
    max_pieces: u64,
    seed: u64,
    step: u64,
) -> Vec<String> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            let mut text = String::new();
            for _ in 0..(state % max_pieces) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            state = state.wrapping_add(step);
            text
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_paths_each_cataloger_reads() {
        use FileKind::*;
        for (path, kind) in [
            ("var/lib/dpkg/status", DpkgStatus),
            ("var/lib/dpkg/status-old", MaybeBinary),
            ("var/lib/dpkg/status.d/libssl3", DpkgStatus),
            ("var/lib/dpkg/status.d/libstdc++6", DpkgStatus),
            ("var/lib/dpkg/status.d/python3.11", DpkgStatus),
            ("var/lib/dpkg/status.d/libssl3.md5sums", DpkgMd5sums),
            ("var/lib/dpkg/info/libc6:amd64.list", DpkgList),
            ("var/lib/dpkg/info/bash.md5sums", MaybeBinary),
            ("usr/share/doc/bash/copyright", Copyright),
            ("usr/share/doc/bash/examples/copyright", MaybeBinary),
            ("etc/os-release", OsRelease),
            ("usr/lib/os-release", OsRelease),
            ("lib/apk/db/installed", ApkInstalled),
            ("var/lib/rpm/rpmdb.sqlite", RpmDb),
            ("usr/lib/sysimage/rpm/rpmdb.sqlite", RpmDb),
            (
                "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA",
                PythonMetadata,
            ),
            (
                "usr/lib/python3/dist-packages/wheel-0.38.4.egg-info/PKG-INFO",
                PythonMetadata,
            ),
            (
                "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
                PythonMetadata,
            ),
            ("usr/lib/python3/dist-packages/pip/METADATA", MaybeBinary),
            ("app/node_modules/express/package.json", NpmPackageJson),
            ("app/node_modules/@types/node/package.json", NpmPackageJson),
            (
                "app/node_modules/send/node_modules/ms/package.json",
                NpmPackageJson,
            ),
            ("app/node_modules/express/lib/package.json", MaybeBinary),
            ("app/package.json", MaybeBinary),
            ("app/package-lock.json", NpmLock),
            ("app/node_modules/.package-lock.json", NpmLock),
            ("app/yarn.lock", YarnLock),
            ("src/rust-hello/Cargo.lock", CargoLock),
            ("opt/app/lib/app.JAR", JavaArchive),
            ("usr/local/bin/rust-hello", MaybeBinary),
        ] {
            assert_eq!(classify(path), kind, "{path}");
        }
    }

    #[test]
    fn text_of_strips_a_bom_and_reports_bad_utf8() {
        assert_eq!(text_of(b"\xef\xbb\xbfName: x").0, "Name: x");
        let (text, warnings) = text_of(b"Name: caf\xe9");
        assert_eq!(text, "Name: caf\u{fffd}");
        assert!(warnings[0].contains("offset 9"));
    }
}
