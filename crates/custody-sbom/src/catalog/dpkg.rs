//! dpkg: `var/lib/dpkg/status`, distroless `var/lib/dpkg/status.d/<pkg>`, the per-package
//! file lists (`info/<pkg>[:arch].list`, `status.d/<pkg>.md5sums`) that say which package
//! owns a path, and machine-readable `usr/share/doc/<pkg>/copyright` files (DEP-5).

use super::deb822::{self, Syntax};
use super::{FileParse, fingerprint, text_of};

/// One installed package from a dpkg database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DpkgRecord {
    pub(crate) name: String,
    /// As written by dpkg, epoch included (`1:2.3-4`).
    pub(crate) version: String,
    pub(crate) arch: String,
    /// The `Source:` package, when it differs from the binary package's name.
    pub(crate) source_name: Option<String>,
    /// The `Source: name (version)` version, when it differs from `version`.
    pub(crate) source_version: Option<String>,
    /// `Status`/`Version` fingerprint of the paragraph.
    pub(crate) fingerprint: u64,
}

/// Parses a dpkg status database (or one distroless `status.d` file, which has the same
/// syntax and usually no `Status:` field). Packages not installed (removed with their
/// configuration left, half-installed) are left out; a malformed paragraph is a warning.
pub(crate) fn parse_status(bytes: &[u8]) -> FileParse<Vec<DpkgRecord>> {
    let (text, mut warnings) = text_of(bytes);
    let (paragraphs, bad) = deb822::paragraphs(&text, Syntax::Deb822);
    for b in bad {
        warnings.push(format!("malformed record at line {}: {}", b.line, b.reason));
    }
    let mut records = Vec::with_capacity(paragraphs.len());
    for p in &paragraphs {
        if !is_installed(p.get("Status")) {
            continue;
        }
        let (Some(name), Some(version)) = (p.get("Package"), p.get("Version")) else {
            warnings.push(format!(
                "record at line {} has no Package or Version field",
                p.line
            ));
            continue;
        };
        if !valid_name(name) || !valid_version(version) {
            warnings.push(format!(
                "record at line {} has a malformed package name or version ({:?} {:?})",
                p.line,
                deb822::clip(name),
                deb822::clip(version)
            ));
            continue;
        }
        let arch = p.get("Architecture").unwrap_or("").to_owned();
        let (source_name, source_version) = match p.get("Source") {
            Some(source) => split_source(source),
            None => (None, None),
        };
        records.push(DpkgRecord {
            name: name.to_owned(),
            version: version.to_owned(),
            arch,
            source_name: source_name.filter(|s| s != name),
            source_version: source_version.filter(|v| v != version),
            fingerprint: fingerprint(p.raw.as_bytes()),
        });
    }
    FileParse::new(records, warnings)
}

/// `Status: want flag status`: installed unless the third word says the files are gone or
/// only half there. A missing field (distroless `status.d`) means installed.
fn is_installed(status: Option<&str>) -> bool {
    let Some(status) = status else {
        return true;
    };
    matches!(
        status.split_whitespace().nth(2),
        Some("installed" | "triggers-awaited" | "triggers-pending" | "half-configured")
    )
}

/// `Source: name` or `Source: name (version)`.
fn split_source(source: &str) -> (Option<String>, Option<String>) {
    let source = source.trim();
    match source.split_once('(') {
        Some((name, rest)) => {
            let version = rest.trim_end().trim_end_matches(')').trim();
            let name = name.trim();
            (
                (!name.is_empty()).then(|| name.to_owned()),
                (!version.is_empty()).then(|| version.to_owned()),
            )
        }
        None => ((!source.is_empty()).then(|| source.to_owned()), None),
    }
}

/// Debian policy 5.6.1: lowercase letters, digits, `+ - .`, at least two characters,
/// starting with an alphanumeric. Checked loosely (any case) so odd real-world names pass but
/// garbage does not reach a purl.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Debian policy 5.6.12: `[epoch:]upstream[-revision]` of alphanumerics and `. + - ~ :`.
fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 256
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '~' | ':' | '_'))
}

/// Which paths a dpkg file list mentions that matter for ownership: language-package
/// metadata directories (`*.dist-info`, `*.egg-info`) and `node_modules` package folders.
/// Everything else is dropped while parsing so memory stays small.
pub(crate) fn parse_file_list(bytes: &[u8], md5sums: bool) -> FileParse<Vec<String>> {
    let (text, warnings) = text_of(bytes);
    let mut owned = Vec::new();
    // Only lines naming a metadata directory matter, and both such names end in `-info`: one
    // vectorised search over the whole list finds them, and only their lines are looked at.
    let bytes = text.as_bytes();
    let mut handled_to = 0usize;
    for hit in memchr::memmem::find_iter(bytes, b"-info") {
        if hit < handled_to {
            continue; // a second hit on a line already looked at
        }
        let start = memchr::memrchr(b'\n', &bytes[..hit]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &bytes[hit..]).map_or(bytes.len(), |i| hit + i);
        handled_to = end + 1;
        // The line as `str::lines` gives it: without its `\n` or `\r\n`.
        let line = &text[start..end];
        let line = if end < bytes.len() {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        if let Some(dir) = metadata_dir_on_line(line, md5sums) {
            let dir = format!("/{dir}");
            if owned.last() != Some(&dir) {
                owned.push(dir);
            }
        }
    }
    owned.sort();
    owned.dedup();
    FileParse::new(owned, warnings)
}

/// The metadata directory a file-list line names, if any. md5sums lines are
/// `<32 hex>  path/without/leading/slash`; `.list` lines are the path itself.
fn metadata_dir_on_line(line: &str, md5sums: bool) -> Option<&str> {
    let path = if md5sums {
        line.split_once("  ")?.1
    } else {
        line
    };
    metadata_dir_of(path.trim_start_matches('/'))
}

/// The language-package metadata directory (or egg-info file) a path is in, if any.
pub(crate) fn metadata_dir_of(path: &str) -> Option<&str> {
    // Most paths of a package's file list have neither: one vectorised search for what both
    // names end in settles those.
    memchr::memmem::find(path.as_bytes(), b"-info")?;
    let mut end = 0usize;
    for segment in path.split('/') {
        end += segment.len();
        if segment.ends_with(".dist-info") || segment.ends_with(".egg-info") {
            return Some(&path[..end]);
        }
        end += 1;
    }
    None
}

/// What a copyright file says about licences: the distinct `License:` short names of a
/// machine-readable (DEP-5) file, in order of first appearance; `None` for free-form files.
pub(crate) fn parse_copyright(bytes: &[u8]) -> FileParse<Option<Vec<String>>> {
    let (text, warnings) = text_of(bytes);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("Format:") {
        return FileParse::new(None, warnings);
    }
    // Only the first line of each License field is read, so the paragraphs are scanned
    // field by field without joining the (long) licence texts of their continuation lines;
    // which paragraphs count is exactly what `deb822::paragraphs` decides.
    let mut names: Vec<String> = Vec::new();
    let mut header_seen = false;
    let mut licenses: Vec<&str> = Vec::new();
    deb822::for_each_raw_paragraph(&text, |raw, _| {
        licenses.clear();
        let mut has_files = false;
        let fields = deb822::field_heads(raw, |name, value| {
            if name.eq_ignore_ascii_case("Files") {
                has_files = true;
            } else if name.eq_ignore_ascii_case("License") {
                licenses.push(value);
            }
        });
        // Bad paragraphs and paragraphs of comments only are not paragraphs at all; the
        // first real one is the header.
        if !matches!(fields, Ok(n) if n > 0) {
            return;
        }
        if !header_seen {
            header_seen = true;
            return;
        }
        // Only Files paragraphs declare what the package is under; standalone License
        // paragraphs carry the texts of names already used.
        if !has_files {
            return;
        }
        for short in licenses.drain(..) {
            if short.is_empty() || short.len() > 200 {
                continue;
            }
            if !names.iter().any(|n| n == short) {
                names.push(short.to_owned());
            }
        }
    });
    FileParse::new(Some(names), warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copyright reader as it was before it scanned field heads only: every paragraph
    /// parsed in full. The fast reader must agree with it on any text.
    fn copyright_by_paragraphs(bytes: &[u8]) -> Option<Vec<String>> {
        let (text, _) = text_of(bytes);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("Format:") {
            return None;
        }
        let (paragraphs, _bad) = deb822::paragraphs(&text, Syntax::Deb822);
        let mut names: Vec<String> = Vec::new();
        for p in paragraphs.iter().skip(1) {
            if p.get("Files").is_none() {
                continue;
            }
            for value in p.get_all("License") {
                let short = value.lines().next().unwrap_or("").trim();
                if short.is_empty() || short.len() > 200 {
                    continue;
                }
                if !names.iter().any(|n| n == short) {
                    names.push(short.to_owned());
                }
            }
        }
        Some(names)
    }

    #[test]
    fn copyright_field_scan_matches_full_paragraph_parse() {
        let long = "x".repeat(201);
        let cases: Vec<String> = vec![
            String::new(),
            "Format: x\n".to_owned(),
            "# comment only\n\nFormat: x\n\nFiles: *\nLicense: MIT\n".to_owned(),
            "Format: x\n\n# just a comment\n\nFiles: *\nLicense: MIT\n".to_owned(),
            "Format: x\n\nFiles: *\nLicense: GPL-2+\n long text\n .\n more\nlicense: BSD-3-clause\n\nLicense: Apache-2.0\n text\n".to_owned(),
            "Format: x\r\n\r\nfiles: a\r\nLICENSE:   MIT  \r\n\r\nFiles: b\r\nLicense: MIT\r\n".to_owned(),
            "Format: x\n\nFiles: *\nLicense:\n GPL-2 on the next line\n".to_owned(),
            "Format: x\n\nFiles: *\nnot a field\nLicense: Bad\n\nFiles: *\nLicense: Good\n".to_owned(),
            "Format: x\n\n continuation first\nFiles: *\nLicense: Bad\n\nFiles: *\nLicense: Ok\n".to_owned(),
            "Format: x\n\nFiles: *\nbad name: v\nLicense: Bad\n".to_owned(),
            format!("Format: x\n\nFiles: *\nLicense: {long}\nLicense: Short\n"),
            "Format: x\n \t \nFiles: *\nLicense: A\n\t\nFiles: *\nLicense: A\nLicense: B\n".to_owned(),
            "\u{feff}Format: x\n\nFiles: *\nLicense: caf\u{e9}\n".to_owned(),
            "Format: x\nFiles: *\nLicense: InHeader\n\nFiles: *\n# c\nLicense: X\r\n".to_owned(),
            "Upstream-Name: no format line\n\nFiles: *\nLicense: MIT\n".to_owned(),
        ];
        for text in &cases {
            let fast = parse_copyright(text.as_bytes()).value;
            assert_eq!(fast, copyright_by_paragraphs(text.as_bytes()), "{text:?}");
        }
        // Texts stitched from awkward lines by a fixed pseudo-random sequence.
        let pieces = [
            "Format: x",
            "Files: *",
            "files: a b",
            "License: MIT",
            "LICENSE: GPL-2+ ",
            "License:",
            " continued",
            "\t.",
            "",
            " ",
            "\t",
            "# note",
            "#",
            "junk line",
            ": empty name",
            "Bad Name: v",
            "License: MIT\r",
            "\r",
            "License:  Apache-2.0  ",
            "Comment: c",
            "License: caf\u{e9}",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut text = String::new();
            let lines = 1 + (state % 14) as usize;
            for _ in 0..lines {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                text.push_str(pieces[(state >> 33) as usize % pieces.len()]);
                text.push('\n');
            }
            if state & 1 == 0 {
                text.insert_str(0, "Format: x\n\n");
            }
            assert_eq!(
                parse_copyright(text.as_bytes()).value,
                copyright_by_paragraphs(text.as_bytes()),
                "{text:?}"
            );
        }
        let mut bytes = b"Format: x\n\nFiles: *\nLicense: caf".to_vec();
        bytes.extend_from_slice(b"\xe9 \xff\n");
        assert_eq!(
            parse_copyright(&bytes).value,
            copyright_by_paragraphs(&bytes)
        );
    }

    // Paragraphs as dpkg 1.21 writes them in Debian 12 (bookworm).
    const STATUS: &str = "\
Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6044
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.20-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 Internet.
 .
 It provides the libssl and libcrypto shared libraries.
Homepage: https://www.openssl.org/

Package: e2fsprogs
Status: deinstall ok config-files
Priority: required
Architecture: amd64
Version: 1.47.0-2+b2
Config-Version: 1.47.0-2+b2

Package: bash
Essential: yes
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b13

Package: libpam-runtime
Status: install ok installed
Architecture: all
Version: 1:1.5.2-6+deb12u1
";

    #[test]
    fn reads_installed_packages_with_source_and_epoch() {
        let parsed = parse_status(STATUS.as_bytes());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let names: Vec<_> = parsed.value.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["libssl3", "bash", "libpam-runtime"]);
        let ssl = &parsed.value[0];
        assert_eq!(ssl.version, "3.0.20-1~deb12u2");
        assert_eq!(ssl.arch, "amd64");
        assert_eq!(ssl.source_name.as_deref(), Some("openssl"));
        assert_eq!(ssl.source_version, None);
        let bash = &parsed.value[1];
        assert_eq!(bash.source_name, None, "same name as the binary package");
        assert_eq!(bash.source_version.as_deref(), Some("5.2.15-2"));
        assert_eq!(parsed.value[2].version, "1:1.5.2-6+deb12u1");
    }

    #[test]
    fn one_bad_record_is_a_warning_and_the_rest_is_read() {
        let text = format!(
            "Package: broken\nStatus install ok installed\n\nPackage: nover\nStatus: install ok installed\n\nPackage: bad name!\nVersion: 1\n\n{STATUS}"
        );
        let parsed = parse_status(text.as_bytes());
        assert_eq!(parsed.value.len(), 3);
        assert_eq!(parsed.warnings.len(), 3, "{:?}", parsed.warnings);
        assert!(parsed.warnings[0].contains("line 2"));
    }

    #[test]
    fn fingerprint_changes_only_with_the_paragraph() {
        let a = parse_status(STATUS.as_bytes()).value;
        let rewritten = STATUS.replace("Installed-Size: 6044", "Installed-Size: 6045");
        let b = parse_status(rewritten.as_bytes()).value;
        assert_ne!(a[0].fingerprint, b[0].fingerprint);
        assert_eq!(a[1].fingerprint, b[1].fingerprint);
    }

    #[test]
    fn distroless_status_d_has_no_status_field() {
        let text =
            "Package: libssl3\nSource: openssl\nVersion: 3.0.22-1~deb12u2\nArchitecture: amd64\n";
        let parsed = parse_status(text.as_bytes());
        assert_eq!(parsed.value.len(), 1);
    }

    #[test]
    fn file_lists_keep_only_metadata_directories() {
        let list = "/.\n/usr\n/usr/lib/python3/dist-packages/pip\n/usr/lib/python3/dist-packages/pip-23.0.1.dist-info\n/usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA\n/usr/lib/python3/dist-packages/wheel-0.38.4.egg-info/PKG-INFO\n";
        let parsed = parse_file_list(list.as_bytes(), false);
        assert_eq!(
            parsed.value,
            [
                "/usr/lib/python3/dist-packages/pip-23.0.1.dist-info",
                "/usr/lib/python3/dist-packages/wheel-0.38.4.egg-info"
            ]
        );
        let md5 = "0123456789abcdef0123456789abcdef  usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO\nnonsense\n";
        let parsed = parse_file_list(md5.as_bytes(), true);
        assert_eq!(
            parsed.value,
            ["/usr/lib/python3/dist-packages/six-1.16.0.egg-info"]
        );
    }

    /// The file-list reader as it was, every line looked at.
    fn file_list_line_by_line(text: &str, md5sums: bool) -> Vec<String> {
        let mut owned = Vec::new();
        for line in text.lines() {
            if let Some(dir) = metadata_dir_on_line(line, md5sums) {
                owned.push(format!("/{dir}"));
            }
        }
        owned.sort();
        owned.dedup();
        owned
    }

    #[test]
    fn file_lists_read_only_at_their_hits_agree_with_reading_every_line() {
        const PIECES: [&str; 12] = [
            "\n",
            "\r",
            "/",
            "  ",
            "a",
            "-info",
            ".dist-info",
            ".egg-info",
            "x-info/",
            "0f",
            "é",
            "/",
        ];
        for text in crate::catalog::generated_texts(
            &PIECES,
            5000,
            20,
            0x9e37_79b9_7f4a_7c15,
            0x2545_f491_4f6c_dd1d,
        ) {
            for md5sums in [false, true] {
                assert_eq!(
                    parse_file_list(text.as_bytes(), md5sums).value,
                    file_list_line_by_line(&text, md5sums),
                    "{text:?} {md5sums}"
                );
            }
        }
    }

    #[test]
    fn copyright_licences_from_files_paragraphs_only() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: bash\n\nFiles: *\nCopyright: (C) 1987-2022 Free Software Foundation, Inc.\nLicense: GPL-3+\n\nFiles: lib/sh/*\nCopyright: x\nLicense: GPL-3+\n\nFiles: support/x\nCopyright: y\nLicense: BSD-3-clause\n\nLicense: GPL-3+\n This program is free software.\n";
        let parsed = parse_copyright(dep5.as_bytes());
        assert_eq!(
            parsed.value,
            Some(vec!["GPL-3+".to_owned(), "BSD-3-clause".to_owned()])
        );
        let free = parse_copyright(b"This is Debian's prepackaged version of foo.\n");
        assert_eq!(free.value, None);
    }

    #[test]
    fn hostile_databases_never_panic() {
        for bytes in [
            &b""[..],
            b"\xff\xfe\x00",
            b"Package:\nVersion:\n",
            b"Package: a\nVersion: 1\nSource: (\n",
            b"Package: a\nVersion: 1\nSource: x (1\n",
            b"\n\n\n Package: a\n",
        ] {
            let _ = parse_status(bytes);
            let _ = parse_file_list(bytes, true);
            let _ = parse_copyright(bytes);
        }
        assert_eq!(
            split_source("openssl (3.0.2)"),
            (Some("openssl".into()), Some("3.0.2".into()))
        );
        assert_eq!(split_source("("), (None, None));
    }
}
