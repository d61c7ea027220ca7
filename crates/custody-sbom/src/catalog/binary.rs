//! Build information inside executables: cargo-auditable's `.dep-v0` section and Go's
//! `.go.buildinfo`. Only ELF files are read (the image is a Linux filesystem); the `object`
//! crate parses the headers and checks every offset against the file's length.

use std::io::Read;

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, ReadRef, SectionIndex};

use super::FileParse;
use super::cargo::{self, CrateRecord};
use super::golang::{self, GoBuildInfo};
use crate::Limits;

/// The ELF magic number.
pub(crate) const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// What a binary says about how it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BinaryInfo {
    /// Crates recorded by cargo-auditable (empty if none).
    pub(crate) crates: Vec<CrateRecord>,
    /// Go build information, if the binary is a Go program.
    pub(crate) go: Option<GoBuildInfo>,
}

/// Reads build information from an ELF file. `None` for a file that is not ELF or has
/// none. A file that claims to be ELF but does not parse (truncated, corrupt) is a warning.
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> FileParse<Option<BinaryInfo>> {
    parse_from(bytes, limits)
}

/// [`parse`] over any [`ReadRef`]: the file in memory, or a [`object::read::ReadCache`] over
/// the chunks a layer decoded it into, so only the places looked at (the headers, the
/// section table, the one or two sections wanted) are ever copied.
pub(crate) fn parse_from<'data, R: ReadRef<'data>>(
    data: R,
    limits: &Limits,
) -> FileParse<Option<BinaryInfo>> {
    let mut warnings = Vec::new();
    if data.read_bytes_at(0, ELF_MAGIC.len() as u64).ok() != Some(ELF_MAGIC) {
        return FileParse::new(None, warnings);
    }
    let found = match object::FileKind::parse(data) {
        Ok(object::FileKind::Elf32) => elf::<FileHeader32<Endianness>, R>(data),
        Ok(object::FileKind::Elf64) => elf::<FileHeader64<Endianness>, R>(data),
        Ok(other) => Err(format!("not an ELF file but {other:?}")),
        Err(e) => Err(e.to_string()),
    };
    let (crates, go) = match found {
        Ok(found) => found,
        Err(e) => {
            warnings.push(format!("ELF file could not be parsed: {e}"));
            return FileParse::new(None, warnings);
        }
    };
    let crates = match crates {
        Some(Ok(compressed)) => match inflate_limited(compressed, limits.max_metadata_bytes) {
            Ok(json) => match cargo::parse_auditable_json(&json) {
                Ok(c) => c,
                Err(e) => {
                    warnings.push(e);
                    Vec::new()
                }
            },
            Err(e) => {
                warnings.push(format!("cargo-auditable section: {e}"));
                Vec::new()
            }
        },
        Some(Err(e)) => {
            warnings.push(format!("cargo-auditable section is out of bounds: {e}"));
            Vec::new()
        }
        None => Vec::new(),
    };
    let go = match go {
        Ok(go) => go,
        Err(e) => {
            warnings.push(format!("Go build info: {e}"));
            None
        }
    };
    if crates.is_empty() && go.is_none() {
        return FileParse::new(None, warnings);
    }
    FileParse::new(Some(BinaryInfo { crates, go }), warnings)
}

/// What one ELF file holds: the cargo-auditable section's bytes (if it has one) and the Go
/// build information. Only the file and section headers and those sections are read.
type ElfFound<'data> = (
    Option<Result<&'data [u8], String>>,
    Result<Option<GoBuildInfo>, String>,
);

fn elf<'data, Elf, R>(data: R) -> Result<ElfFound<'data>, String>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let segments = header
        .program_headers(endian, data)
        .map_err(|e| e.to_string())?;
    let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
    // The section-name table in one read, names then matched in memory: looking each name
    // up through `data` costs a read per section, which dominates on a cached reader.
    let names: &[u8] = header
        .shstrndx(endian, data)
        .ok()
        .and_then(|i| sections.section(SectionIndex(i as usize)).ok())
        .and_then(|s| s.data(endian, data).ok())
        .unwrap_or_default();
    let by_name = |want: &[u8]| {
        sections.iter().find(|s| {
            names
                .get(s.sh_name(endian) as usize..)
                .is_some_and(|rest| rest.starts_with(want) && rest.get(want.len()) == Some(&0))
        })
    };
    let crates = by_name(b".dep-v0").map(|s| s.data(endian, data).map_err(|e| e.to_string()));
    let space = Segments::<Elf, R> {
        segments,
        endian,
        data,
    };
    let go = match by_name(b".go.buildinfo") {
        Some(s) => s
            .data(endian, data)
            .map_err(|e| format!("section is out of bounds: {e}"))
            .and_then(|blob| golang::parse_buildinfo(blob, &space)),
        // Binaries without section headers (stripped with sstrip, some packers): Go puts the
        // blob 16-byte aligned at the start of the writable data segment; look for the
        // magic. Only then: scanning every binary of an image would cost time for nothing.
        None if sections.len() > 1 => Ok(None),
        None => {
            let len = data.len().map_err(|()| "unreadable".to_owned())?;
            let all = data
                .read_bytes_at(0, len)
                .map_err(|()| "unreadable".to_owned())?;
            match memchr::memmem::find(all, golang::MAGIC) {
                Some(at) => golang::parse_buildinfo(&all[at..], &space),
                None => Ok(None),
            }
        }
    };
    Ok((crates, go))
}

/// zlib-inflates at most `limit` bytes; more is an error (a decompression bomb).
pub(crate) fn inflate_limited(compressed: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib data is corrupt: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!("decompresses to more than {limit} bytes"));
    }
    Ok(out)
}

/// A binary's memory image, for following the pointers of Go's pre-1.18 build info.
struct Segments<'data, Elf: FileHeader, R: ReadRef<'data>> {
    segments: &'data [Elf::ProgramHeader],
    endian: Elf::Endian,
    data: R,
}

impl<'data, Elf: FileHeader, R: ReadRef<'data>> golang::AddressSpace for Segments<'data, Elf, R> {
    fn read(&self, address: u64, len: u64) -> Option<&[u8]> {
        // Loadable segments only: the memory image Go's pointers point into.
        let loaded = self
            .segments
            .iter()
            .filter(|s| s.p_type(self.endian) == object::elf::PT_LOAD);
        for segment in loaded {
            let start: u64 = segment.p_vaddr(self.endian).into();
            let offset: u64 = segment.p_offset(self.endian).into();
            let file_len: u64 = segment.p_filesz(self.endian).into();
            let end = start.checked_add(file_len)?;
            if address >= start && address.checked_add(len)? <= end {
                let from = offset.checked_add(address - start)?;
                return self.data.read_bytes_at(from, len).ok();
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::write;

    /// A minimal x86-64 ELF object with the given named sections.
    pub(crate) fn elf_with_sections(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut obj = write::Object::new(
            object::BinaryFormat::Elf,
            object::Architecture::X86_64,
            object::Endianness::Little,
        );
        for (name, data) in sections {
            let id = obj.add_section(
                Vec::new(),
                name.as_bytes().to_vec(),
                object::SectionKind::ReadOnlyData,
            );
            obj.append_section_data(id, data, 16);
        }
        obj.write().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_cargo_auditable_sections() {
        let json = br#"{"packages":[{"name":"hello","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"itoa","version":"1.0.14","source":"crates.io"}]}"#;
        let elf = elf_with_sections(&[(".dep-v0", &zlib(json))]);
        let parsed = parse(&elf, &Limits::default());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let info = parsed.value.unwrap();
        assert_eq!(info.crates.len(), 2);
        assert_eq!(info.crates[1].name, "itoa");
        assert!(info.go.is_none());
    }

    #[test]
    fn a_bomb_in_the_section_is_a_warning() {
        let bomb = zlib(&vec![b' '; 4 << 20]);
        let elf = elf_with_sections(&[(".dep-v0", &bomb)]);
        let limits = Limits {
            max_metadata_bytes: 1 << 20,
            ..Limits::default()
        };
        let parsed = parse(&elf, &limits);
        assert!(parsed.value.is_none());
        assert!(
            parsed.warnings[0].contains("more than"),
            "{:?}",
            parsed.warnings
        );
        let corrupt = elf_with_sections(&[(".dep-v0", b"\x78\x9cgarbage")]);
        assert_eq!(parse(&corrupt, &Limits::default()).warnings.len(), 1);
    }

    #[test]
    fn a_cached_reader_finds_what_the_bytes_do() {
        let json =
            br#"{"packages":[{"name":"hello","version":"0.1.0","source":"local","root":true}]}"#;
        let elf = elf_with_sections(&[(".dep-v0", &zlib(json)), (".other", b"x")]);
        let cached = object::read::ReadCache::new(std::io::Cursor::new(elf.clone()));
        let from_cache = parse_from(&cached, &Limits::default());
        let from_bytes = parse(&elf, &Limits::default());
        assert_eq!(from_cache.value, from_bytes.value);
        assert_eq!(from_cache.warnings, from_bytes.warnings);
        assert_eq!(from_cache.value.unwrap().crates[0].name, "hello");
        // Cut anywhere, the cached reader fails as the bytes do: a warning, no panic.
        for cut in [4, 20, 64, elf.len() / 2, elf.len() - 1] {
            let cached = object::read::ReadCache::new(std::io::Cursor::new(elf[..cut].to_vec()));
            let a = parse_from(&cached, &Limits::default());
            let b = parse(&elf[..cut], &Limits::default());
            assert_eq!(
                (a.value, a.warnings.len()),
                (b.value, b.warnings.len()),
                "{cut}"
            );
        }
    }

    #[test]
    fn truncated_and_non_elf_files() {
        let json =
            br#"{"packages":[{"name":"a","version":"1.0.0","source":"crates.io","root":true}]}"#;
        let elf = elf_with_sections(&[(".dep-v0", &zlib(json))]);
        for cut in [4, 16, 63, 64, elf.len() / 2, elf.len() - 1] {
            let _ = parse(&elf[..cut], &Limits::default());
        }
        assert_eq!(parse(&elf[..20], &Limits::default()).warnings.len(), 1);
        assert!(parse(b"#!/bin/sh\n", &Limits::default()).value.is_none());
        assert!(parse(b"", &Limits::default()).value.is_none());
    }
}
