//! `etc/os-release` (usually a symlink to `usr/lib/os-release`): which distribution the
//! image is, for the OS component and for the namespace and `distro` qualifier of OS
//! package purls.

use super::{FileParse, text_of};

/// The fields of os-release(5) custody uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct OsRelease {
    /// `ID`, e.g. `debian`, `alpine`, `fedora`.
    pub(crate) id: String,
    /// `VERSION_ID`, e.g. `12`, `3.19.1`; empty for rolling releases.
    pub(crate) version_id: String,
    /// `PRETTY_NAME`, for display.
    pub(crate) pretty_name: String,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub(crate) codename: String,
}

/// Parses os-release's shell-like `KEY=value` lines (values optionally quoted with `"` or
/// `'`, with backslash escapes inside double quotes).
pub(crate) fn parse(bytes: &[u8]) -> FileParse<OsRelease> {
    let (text, mut warnings) = text_of(bytes);
    let mut out = OsRelease::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            warnings.push(format!("line {} is not KEY=value", i + 1));
            continue;
        };
        let value = unquote(raw.trim());
        match key.trim() {
            "ID" => out.id = value,
            "VERSION_ID" => out.version_id = value,
            "PRETTY_NAME" => out.pretty_name = value,
            "VERSION_CODENAME" => out.codename = value,
            _ => {}
        }
    }
    if out.id.is_empty() {
        // os-release(5): "If not set, a default of ID=linux may be used."
        out.id = "linux".to_owned();
    }
    FileParse::new(out, warnings)
}

fn unquote(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return raw[1..raw.len() - 1].to_owned();
    }
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        let inner = &raw[1..raw.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    raw.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_debian_12() {
        // usr/lib/os-release of Debian 12 (base-files 12.4+deb12u15).
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n";
        let parsed = parse(text.as_bytes());
        assert!(parsed.warnings.is_empty());
        assert_eq!(parsed.value.id, "debian");
        assert_eq!(parsed.value.version_id, "12");
        assert_eq!(parsed.value.codename, "bookworm");
        assert_eq!(parsed.value.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    }

    #[test]
    fn quoting_and_garbage() {
        let parsed = parse(b"ID='alpine'\nVERSION_ID=\"3.19\\\"x\"\nnonsense\n\xff=1\n");
        assert_eq!(parsed.value.id, "alpine");
        assert_eq!(parsed.value.version_id, "3.19\"x");
        assert_eq!(parsed.warnings.len(), 2);
        assert_eq!(parse(b"").value.id, "linux");
        assert_eq!(unquote("\""), "\"");
        assert_eq!(unquote("\"\\"), "\"\\");
    }
}
