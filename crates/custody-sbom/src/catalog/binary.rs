//! Build information inside executables: cargo-auditable's `.dep-v0` section and Go's
//! `.go.buildinfo`. Only ELF files are read (the image is a Linux filesystem); the `object`
//! crate parses the headers and checks every offset against the file's length.

use std::io::Read;

use object::{Object, ObjectSection, ObjectSegment};

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
    let mut warnings = Vec::new();
    if !bytes.starts_with(ELF_MAGIC) {
        return FileParse::new(None, warnings);
    }
    let file = match object::File::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!("ELF file could not be parsed: {e}"));
            return FileParse::new(None, warnings);
        }
    };
    let mut crates = Vec::new();
    if let Some(section) = file.section_by_name(".dep-v0") {
        match section.data() {
            Ok(compressed) => match inflate_limited(compressed, limits.max_metadata_bytes) {
                Ok(json) => match cargo::parse_auditable_json(&json) {
                    Ok(c) => crates = c,
                    Err(e) => warnings.push(e),
                },
                Err(e) => warnings.push(format!("cargo-auditable section: {e}")),
            },
            Err(e) => warnings.push(format!("cargo-auditable section is out of bounds: {e}")),
        }
    }
    let go = match go_buildinfo(&file, bytes) {
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

fn go_buildinfo(file: &object::File<'_>, bytes: &[u8]) -> Result<Option<GoBuildInfo>, String> {
    let space = Segments { file, bytes };
    if let Some(section) = file.section_by_name(".go.buildinfo") {
        let data = section
            .data()
            .map_err(|e| format!("section is out of bounds: {e}"))?;
        return golang::parse_buildinfo(data, &space);
    }
    // Binaries without section headers (stripped with sstrip, some packers): Go puts the
    // blob 16-byte aligned at the start of the writable data segment; look for the magic.
    // Only then: scanning every binary of an image would cost time for nothing.
    if file.sections().nth(1).is_some() {
        return Ok(None);
    }
    let Some(at) = memchr::memmem::find(bytes, golang::MAGIC) else {
        return Ok(None);
    };
    golang::parse_buildinfo(&bytes[at..], &space)
}

/// A binary's memory image, for following the pointers of Go's pre-1.18 build info.
struct Segments<'a, 'data> {
    file: &'a object::File<'data>,
    bytes: &'data [u8],
}

impl golang::AddressSpace for Segments<'_, '_> {
    fn read(&self, address: u64, len: u64) -> Option<&[u8]> {
        for segment in self.file.segments() {
            let start = segment.address();
            let (offset, file_len) = segment.file_range();
            let end = start.checked_add(file_len)?;
            if address >= start && address.checked_add(len)? <= end {
                let from = usize::try_from(offset.checked_add(address - start)?).ok()?;
                let to = from.checked_add(usize::try_from(len).ok()?)?;
                return self.bytes.get(from..to);
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
