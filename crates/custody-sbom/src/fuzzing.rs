//! Entry points for the cargo-fuzz targets in `/fuzz`: each runs one parser of outside input
//! on arbitrary bytes and discards the result. Not part of the API.

use crate::Limits;
use crate::catalog::{self, FileKind};

fn small_limits() -> Limits {
    Limits {
        max_metadata_bytes: 1 << 20,
        max_archive_bytes: 1 << 20,
        max_archive_inflated_bytes: 4 << 20,
        max_archive_entries: 1000,
        max_archive_depth: 2,
        ..Limits::default()
    }
}

fn run(kind: FileKind, path: &str, data: &[u8]) {
    let _ = catalog::parse(kind, path, data, &small_limits());
}

/// dpkg `status` / `status.d` database.
pub fn dpkg_status(data: &[u8]) {
    run(FileKind::DpkgStatus, "var/lib/dpkg/status", data);
    run(FileKind::DpkgList, "var/lib/dpkg/info/x.list", data);
    run(
        FileKind::DpkgMd5sums,
        "var/lib/dpkg/status.d/x.md5sums",
        data,
    );
}

/// DEP-5 copyright file and licence mapping.
pub fn copyright(data: &[u8]) {
    run(FileKind::Copyright, "usr/share/doc/x/copyright", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::license::debian(text);
        let _ = crate::license::declared(text);
    }
}

/// apk `installed` database.
pub fn apk_installed(data: &[u8]) {
    run(FileKind::ApkInstalled, "lib/apk/db/installed", data);
}

/// RPM header blob (the rows of `rpmdb.sqlite`) and the SQLite database itself.
pub fn rpm(data: &[u8]) {
    let _ = catalog::rpm::parse_header(data);
    run(FileKind::RpmDb, "var/lib/rpm/rpmdb.sqlite", data);
}

/// Python core metadata (`METADATA`, `PKG-INFO`).
pub fn python_metadata(data: &[u8]) {
    run(FileKind::PythonMetadata, "x-1.dist-info/METADATA", data);
}

/// npm `package.json`, `package-lock.json` and `yarn.lock`.
pub fn npm(data: &[u8]) {
    run(
        FileKind::NpmPackageJson,
        "node_modules/x/package.json",
        data,
    );
    run(FileKind::NpmLock, "package-lock.json", data);
    run(FileKind::YarnLock, "yarn.lock", data);
}

/// `Cargo.lock`.
pub fn cargo_lock(data: &[u8]) {
    run(FileKind::CargoLock, "Cargo.lock", data);
}

/// ELF binaries (cargo-auditable and Go build info), and a Go build-info blob on its own.
pub fn binary(data: &[u8]) {
    run(FileKind::MaybeBinary, "usr/bin/x", data);
    let mut elf = catalog::binary::ELF_MAGIC.to_vec();
    elf.extend_from_slice(data);
    run(FileKind::MaybeBinary, "usr/bin/x", &elf);
    // Through a cached reader, as large binaries are parsed from a layer's chunks: the same
    // result as from the bytes in memory.
    let limits = Limits::default();
    let cached = object::read::ReadCache::new(std::io::Cursor::new(elf.clone()));
    let from_cache = catalog::binary::parse_from(&cached, &limits);
    let from_bytes = catalog::binary::parse(&elf, &limits);
    assert_eq!(from_cache.value, from_bytes.value);
    assert_eq!(from_cache.warnings.len(), from_bytes.warnings.len());
    struct NoMemory;
    impl catalog::golang::AddressSpace for NoMemory {
        fn read(&self, _: u64, _: u64) -> Option<&[u8]> {
            None
        }
    }
    let mut blob = catalog::golang::MAGIC.to_vec();
    blob.extend_from_slice(data);
    let _ = catalog::golang::parse_buildinfo(&blob, &NoMemory);
}

/// Java archives (zip, nested archives, pom.properties, MANIFEST.MF).
pub fn java_archive(data: &[u8]) {
    run(FileKind::JavaArchive, "app.jar", data);
}

/// `os-release`.
pub fn os_release(data: &[u8]) {
    run(FileKind::OsRelease, "etc/os-release", data);
}
