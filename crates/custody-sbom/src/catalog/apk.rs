//! apk: `lib/apk/db/installed`, Alpine's database of installed packages (one paragraph of
//! `K:value` lines per package; see apk-tools' `apk_db_index_read`).

use super::deb822::{self, Syntax};
use super::{FileParse, fingerprint, text_of};

/// One installed Alpine package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApkRecord {
    /// `P:`
    pub(crate) name: String,
    /// `V:` (`1.2.4-r2`)
    pub(crate) version: String,
    /// `A:`
    pub(crate) arch: String,
    /// `L:` licence as declared (often already SPDX).
    pub(crate) license: Option<String>,
    /// `o:` origin (source) package.
    pub(crate) origin: Option<String>,
    /// Metadata directories this package owns (`F:` folder + `R:` file lines).
    pub(crate) owned: Vec<String>,
    pub(crate) fingerprint: u64,
}

/// Parses the installed database; a paragraph without `P:`/`V:` is a warning.
pub(crate) fn parse(bytes: &[u8]) -> FileParse<Vec<ApkRecord>> {
    let (text, mut warnings) = text_of(bytes);
    let (paragraphs, bad) = deb822::paragraphs(&text, Syntax::Apk);
    for b in bad {
        warnings.push(format!("malformed record at line {}: {}", b.line, b.reason));
    }
    let mut records = Vec::with_capacity(paragraphs.len());
    for p in &paragraphs {
        let (Some(name), Some(version)) = (p.get("P"), p.get("V")) else {
            warnings.push(format!("record at line {} has no P: or V: field", p.line));
            continue;
        };
        if name.is_empty() || version.is_empty() || name.len() > 256 || version.len() > 256 {
            warnings.push(format!(
                "record at line {} has an empty or oversized name or version",
                p.line
            ));
            continue;
        }
        // Field order matters for ownership: R: lines belong to the last F: folder.
        let mut owned = Vec::new();
        let mut folder = "";
        for f in &p.fields {
            match f.name {
                "F" => folder = f.value.as_str(),
                "R" => {
                    let path = format!("{folder}/{}", f.value);
                    if let Some(dir) = super::dpkg::metadata_dir_of(&path) {
                        let dir = format!("/{dir}");
                        if !owned.contains(&dir) {
                            owned.push(dir);
                        }
                    }
                }
                _ => {}
            }
        }
        records.push(ApkRecord {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: p.get("A").unwrap_or("").to_owned(),
            license: p.get("L").filter(|l| !l.is_empty()).map(str::to_owned),
            origin: p
                .get("o")
                .filter(|o| *o != name && !o.is_empty())
                .map(str::to_owned),
            owned,
            fingerprint: fingerprint(p.raw.as_bytes()),
        });
    }
    FileParse::new(records, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two records as apk-tools 2.14 writes them on Alpine 3.19.
    const INSTALLED: &str = "\
C:Q1Gw+3GYMpYpiaI6xPQR6gKxtsFxc=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407865
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1705424245
c:8fbf3d8d2ee8d3f2f7ec9c0e6b5b2e3c0a0f9c4e
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1a4lUgP6mhqyV2gMy7mxsQ6hKlEo=
R:libc.musl-x86_64.so.1

C:Q1rZ3c7nH3T2JvW3AQ9LdF4u0zk1k=
P:py3-setuptools
V:70.3.0-r0
A:noarch
L:MIT
o:py3-setuptools
F:usr/lib/python3.11/site-packages/setuptools-70.3.0.dist-info
R:METADATA
R:RECORD
";

    #[test]
    fn reads_alpine_records() {
        let parsed = parse(INSTALLED.as_bytes());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert_eq!(parsed.value.len(), 2);
        let musl = &parsed.value[0];
        assert_eq!(musl.name, "musl");
        assert_eq!(musl.version, "1.2.4_git20230717-r4");
        assert_eq!(musl.arch, "x86_64");
        assert_eq!(musl.license.as_deref(), Some("MIT"));
        assert_eq!(musl.origin, None);
        assert_eq!(
            parsed.value[1].owned,
            ["/usr/lib/python3.11/site-packages/setuptools-70.3.0.dist-info"]
        );
    }

    #[test]
    fn bad_records_are_warnings() {
        let text = format!("P:nover\n\ngarbage line\n\n{INSTALLED}");
        let parsed = parse(text.as_bytes());
        assert_eq!(parsed.value.len(), 2);
        assert_eq!(parsed.warnings.len(), 2);
        for bytes in [&b""[..], b"P:\nV:\n", b"\xff:\xff", b"PV\n"] {
            let _ = parse(bytes);
        }
    }
}
