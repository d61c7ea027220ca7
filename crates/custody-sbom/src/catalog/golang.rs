//! Go build information (`debug/buildinfo` in the Go source): the `\xff Go buildinf:` blob
//! holds the toolchain version and the module list (`runtime/debug.BuildInfo` as text).
//! Go ≥ 1.18 writes both strings inline after the 32-byte header; older toolchains store two
//! pointers to Go string headers, followed through the binary's segments.

use super::fingerprint;

/// The blob's magic, 16-byte aligned in the binary.
pub(crate) const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const FLAG_BIG_ENDIAN: u8 = 1;
const FLAG_INLINE: u8 = 2;
/// Longest string read through a pointer (a module list is kilobytes; this is generous).
const MAX_STRING: u64 = 8 << 20;

/// Reads memory of a binary by virtual address.
pub(crate) trait AddressSpace {
    /// `len` bytes at `address`, if mapped from the file.
    fn read(&self, address: u64, len: u64) -> Option<&[u8]>;
}

/// A module from the build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoModule {
    pub(crate) path: String,
    /// `v1.2.3`, or `(devel)` for a main module built from a working tree.
    pub(crate) version: String,
    /// `h1:` checksum, if recorded.
    pub(crate) sum: Option<String>,
}

/// A Go binary's build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GoBuildInfo {
    /// The toolchain (`go1.22.1`).
    pub(crate) go_version: String,
    /// The main package's import path (`path` line).
    pub(crate) path: Option<String>,
    /// The main module.
    pub(crate) main: Option<GoModule>,
    /// Dependencies, with replacements applied.
    pub(crate) deps: Vec<GoModule>,
    pub(crate) fingerprint: u64,
}

/// Parses the blob starting at `data` (which begins with [`MAGIC`]). `Ok(None)` if it is not
/// a Go build-info blob after all.
pub(crate) fn parse_buildinfo(
    data: &[u8],
    space: &dyn AddressSpace,
) -> Result<Option<GoBuildInfo>, String> {
    if data.len() < HEADER_LEN || !data.starts_with(MAGIC) {
        return Ok(None);
    }
    let ptr_size = data[14] as usize;
    let flags = data[15];
    let (version, modinfo) = if flags & FLAG_INLINE != 0 {
        let (version, rest) = decode_string(&data[HEADER_LEN..])
            .ok_or_else(|| "inline version string is truncated".to_owned())?;
        let (modinfo, _) =
            decode_string(rest).ok_or_else(|| "inline module string is truncated".to_owned())?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return Err(format!("pointer size {ptr_size} is neither 4 nor 8"));
        }
        let big = flags & FLAG_BIG_ENDIAN != 0;
        let read_ptr = |b: &[u8]| -> Option<u64> {
            let b = b.get(..ptr_size)?;
            Some(match (ptr_size, big) {
                (4, false) => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
                (4, true) => u64::from(u32::from_be_bytes(b.try_into().ok()?)),
                (_, false) => u64::from_le_bytes(b.try_into().ok()?),
                (_, true) => u64::from_be_bytes(b.try_into().ok()?),
            })
        };
        let read_string = |addr: u64| -> Option<Vec<u8>> {
            let header = space.read(addr, 2 * ptr_size as u64)?;
            let data_addr = read_ptr(header)?;
            let len = read_ptr(header.get(ptr_size..)?)?;
            if len > MAX_STRING {
                return None;
            }
            space.read(data_addr, len).map(<[u8]>::to_vec)
        };
        let version_ptr = read_ptr(&data[16..]).ok_or("truncated header")?;
        let modinfo_ptr = read_ptr(&data[16 + ptr_size..]).ok_or("truncated header")?;
        let version = read_string(version_ptr)
            .ok_or_else(|| "version string pointer is outside the binary".to_owned())?;
        let modinfo = read_string(modinfo_ptr).unwrap_or_default();
        (version, modinfo)
    };
    if version.is_empty() {
        return Ok(None);
    }
    // The module text is framed by two 16-byte sentinels.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        &[][..]
    };
    let mut info = parse_modinfo(&String::from_utf8_lossy(modinfo));
    info.go_version = String::from_utf8_lossy(&version).into_owned();
    info.fingerprint = fingerprint(&[version.as_slice(), modinfo].concat());
    Ok(Some(info))
}

/// A uvarint-length-prefixed string.
fn decode_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    let mut shift = 0u32;
    for (i, &b) in data.iter().take(10).enumerate() {
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let len = usize::try_from(len).ok()?;
            let rest = &data[i + 1..];
            return (len <= rest.len()).then(|| rest.split_at(len));
        }
        shift += 7;
    }
    None
}

/// Parses the module text (`runtime/debug.ParseBuildInfo`'s format): tab-separated `path`,
/// `mod`, `dep` and `=>` (replacement of the line before) lines; others ignored.
pub(crate) fn parse_modinfo(text: &str) -> GoBuildInfo {
    let mut info = GoBuildInfo {
        go_version: String::new(),
        path: None,
        main: None,
        deps: Vec::new(),
        fingerprint: 0,
    };
    // Which module a "=>" line replaces: the main module or the last dependency.
    let mut last_is_dep = false;
    for line in text.lines() {
        let mut fields = line.split('\t');
        let module = |fields: &mut std::str::Split<'_, char>| -> Option<GoModule> {
            let path = fields.next()?.trim();
            if path.is_empty() {
                return None;
            }
            Some(GoModule {
                path: path.to_owned(),
                version: fields.next().unwrap_or("").trim().to_owned(),
                sum: fields
                    .next()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            })
        };
        match fields.next() {
            Some("path") => info.path = fields.next().map(str::to_owned),
            Some("mod") => {
                info.main = module(&mut fields);
                last_is_dep = false;
            }
            Some("dep") => {
                if let Some(m) = module(&mut fields) {
                    info.deps.push(m);
                    last_is_dep = true;
                }
            }
            Some("=>") => {
                // A replacement by a local directory has no version: keep the original module
                // (its version is what was required), as `go version -m` shows both.
                if let Some(m) = module(&mut fields).filter(|m| !m.version.is_empty()) {
                    let target = if last_is_dep {
                        info.deps.last_mut()
                    } else {
                        info.main.as_mut()
                    };
                    if let Some(t) = target {
                        *t = m;
                    }
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODINFO: &str = "path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\ndep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\ndep\tgithub.com/old/mod\tv1.0.0\th1:aaa=\n=>\tgithub.com/new/mod\tv1.2.0\th1:bbb=\ndep\tgithub.com/local/mod\tv0.1.0\n=>\t../local\t\nbuild\t-compiler=gc\nbuild\tGOOS=linux\n";

    fn framed(text: &str) -> Vec<u8> {
        let mut v = b"0123456789abcdef".to_vec();
        v.extend_from_slice(text.as_bytes());
        v.extend_from_slice(b"\n123456789abcdef");
        v[..].to_vec()
    }

    fn uvarint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    struct NoMemory;
    impl AddressSpace for NoMemory {
        fn read(&self, _: u64, _: u64) -> Option<&[u8]> {
            None
        }
    }

    /// A flat memory image mapped at `base`.
    struct Flat {
        base: u64,
        mem: Vec<u8>,
    }
    impl AddressSpace for Flat {
        fn read(&self, address: u64, len: u64) -> Option<&[u8]> {
            let from = usize::try_from(address.checked_sub(self.base)?).ok()?;
            self.mem.get(from..from + usize::try_from(len).ok()?)
        }
    }

    pub(crate) fn inline_blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut blob = MAGIC.to_vec();
        blob.push(8);
        blob.push(FLAG_INLINE);
        blob.resize(HEADER_LEN, 0);
        let m = framed(modinfo);
        uvarint(version.len(), &mut blob);
        blob.extend_from_slice(version.as_bytes());
        uvarint(m.len(), &mut blob);
        blob.extend_from_slice(&m);
        blob
    }

    #[test]
    fn parses_the_inline_format() {
        let info = parse_buildinfo(&inline_blob("go1.22.1", MODINFO), &NoMemory)
            .unwrap()
            .unwrap();
        assert_eq!(info.go_version, "go1.22.1");
        assert_eq!(info.path.as_deref(), Some("example.com/hello"));
        let main = info.main.unwrap();
        assert_eq!(
            (main.path.as_str(), main.version.as_str()),
            ("example.com/hello", "(devel)")
        );
        let deps: Vec<_> = info
            .deps
            .iter()
            .map(|d| (d.path.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            deps,
            [
                ("golang.org/x/text", "v0.14.0"),
                ("github.com/new/mod", "v1.2.0"),
                ("github.com/local/mod", "v0.1.0")
            ]
        );
    }

    #[test]
    fn parses_the_pointer_format_through_memory() {
        // Go < 1.18, 64-bit little-endian: two pointers to string headers.
        let base = 0x40_0000u64;
        let version = b"go1.16.15";
        let modinfo = framed("path\tx\nmod\tx\t(devel)\t\ndep\tgithub.com/a/b\tv1.0.0\th1:x=\n");
        let mut mem = vec![0u8; 64];
        let version_at = base + mem.len() as u64;
        mem.extend_from_slice(version);
        let modinfo_at = base + mem.len() as u64;
        mem.extend_from_slice(&modinfo);
        // String headers at offsets 0 and 16.
        mem[0..8].copy_from_slice(&version_at.to_le_bytes());
        mem[8..16].copy_from_slice(&(version.len() as u64).to_le_bytes());
        mem[16..24].copy_from_slice(&modinfo_at.to_le_bytes());
        mem[24..32].copy_from_slice(&(modinfo.len() as u64).to_le_bytes());
        let mut blob = MAGIC.to_vec();
        blob.push(8);
        blob.push(0);
        blob.extend_from_slice(&base.to_le_bytes());
        blob.extend_from_slice(&(base + 16).to_le_bytes());
        let info = parse_buildinfo(&blob, &Flat { base, mem })
            .unwrap()
            .unwrap();
        assert_eq!(info.go_version, "go1.16.15");
        assert_eq!(info.deps[0].path, "github.com/a/b");
    }

    #[test]
    fn hostile_blobs() {
        let good = inline_blob("go1.22.1", MODINFO);
        for cut in 0..good.len() {
            let _ = parse_buildinfo(&good[..cut], &NoMemory);
        }
        let mut bad_ptr = MAGIC.to_vec();
        bad_ptr.extend_from_slice(&[3, 0]);
        bad_ptr.resize(HEADER_LEN, 0);
        assert!(parse_buildinfo(&bad_ptr, &NoMemory).is_err());
        bad_ptr[14] = 8;
        assert!(parse_buildinfo(&bad_ptr, &NoMemory).is_err());
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[8, FLAG_INLINE]);
        huge.resize(HEADER_LEN, 0);
        huge.extend_from_slice(&[0xff; 12]);
        assert!(parse_buildinfo(&huge, &NoMemory).is_err());
        assert!(parse_modinfo("=>\tx\tv1\n\t\t\nmod\n").main.is_none());
    }
}
