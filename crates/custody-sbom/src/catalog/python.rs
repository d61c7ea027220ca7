//! Python distributions: `*.dist-info/METADATA` (wheels, pip) and `*.egg-info/PKG-INFO` or
//! `*.egg-info` files (setuptools, Debian's python3-* packages), in any site-packages or
//! dist-packages directory. The core metadata format (RFC 822 headers) is read with
//! `python-pkginfo`.

use super::{FileParse, fingerprint, text_of};

/// One installed distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PythonRecord {
    /// `Name`, as written (normalised only in the purl).
    pub(crate) name: String,
    /// `Version`.
    pub(crate) version: String,
    /// `License-Expression` (PEP 639), if present.
    pub(crate) license_expression: Option<String>,
    /// `License`, if short enough to be a name rather than a licence text.
    pub(crate) license: Option<String>,
    /// Licences named by `License ::` trove classifiers (the part after the last `::`).
    pub(crate) classifier_licenses: Vec<String>,
    pub(crate) fingerprint: u64,
}

/// Parses core metadata. Unreadable metadata (no `Name` or `Version`) is an error for this
/// one file; odd encodings are read lossily with a warning.
pub(crate) fn parse(bytes: &[u8]) -> Result<FileParse<PythonRecord>, String> {
    let (text, warnings) = text_of(bytes);
    // Only the headers matter; the description body can be large, so cut it off before
    // handing the text to the mail parser.
    let headers = match text.find("\n\n") {
        Some(end) => &text[..end + 1],
        None => &text[..],
    };
    let meta = python_pkginfo::Metadata::parse(headers.as_bytes())
        .map_err(|e| format!("not readable as Python core metadata: {e}"))?;
    let name = meta.name.trim();
    let version = meta.version.trim();
    if name.is_empty() || version.is_empty() || name.len() > 256 || version.len() > 256 {
        return Err("Python metadata has an empty or oversized Name or Version".to_owned());
    }
    let license = meta
        .license
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && l.len() <= 100 && !l.contains('\n'));
    let classifier_licenses = meta
        .classifiers
        .iter()
        .filter(|c| c.starts_with("License ::"))
        .filter_map(|c| c.rsplit("::").next())
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty() && c != "OSI Approved")
        .collect();
    Ok(FileParse::new(
        PythonRecord {
            name: name.to_owned(),
            version: version.to_owned(),
            license_expression: meta.license_expression.map(|l| l.trim().to_owned()),
            license,
            classifier_licenses,
            fingerprint: fingerprint(bytes),
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Head of wheel-0.38.4.egg-info/PKG-INFO as Debian 12's python3-wheel ships it.
    const PKG_INFO: &str = "Metadata-Version: 2.1\nName: wheel\nVersion: 0.38.4\nSummary: A built-package format for Python\nHome-page: https://github.com/pypa/wheel\nAuthor: Daniel Holth\nMaintainer: Alex Gr\u{f6}nholm\nLicense: MIT\nClassifier: Development Status :: 5 - Production/Stable\nClassifier: License :: OSI Approved :: MIT License\nRequires-Python: >=3.7\nProvides-Extra: test\n\nwheel\n=====\n\nThis library is the reference implementation of the Python wheel packaging standard.\n";

    #[test]
    fn reads_core_metadata() {
        let parsed = parse(PKG_INFO.as_bytes()).unwrap();
        assert!(parsed.warnings.is_empty());
        let r = parsed.value;
        assert_eq!((r.name.as_str(), r.version.as_str()), ("wheel", "0.38.4"));
        assert_eq!(r.license.as_deref(), Some("MIT"));
        assert_eq!(r.classifier_licenses, ["MIT License"]);
    }

    #[test]
    fn license_expression_and_long_license_texts() {
        let text = format!(
            "Metadata-Version: 2.4\nName: attrs\nVersion: 24.2.0\nLicense-Expression: MIT\nLicense: {}\n",
            "x".repeat(300)
        );
        let r = parse(text.as_bytes()).unwrap().value;
        assert_eq!(r.license_expression.as_deref(), Some("MIT"));
        assert_eq!(r.license, None);
    }

    #[test]
    fn bad_encodings_and_missing_fields() {
        let latin1 = b"Metadata-Version: 1.0\nName: caf\xe9\nVersion: 1.0\n";
        let parsed = parse(latin1).unwrap();
        assert_eq!(parsed.warnings.len(), 1);
        assert_eq!(parsed.value.name, "caf\u{fffd}");
        assert!(parse(b"Metadata-Version: 2.1\nName: x\n").is_err());
        assert!(parse(b"").is_err());
        assert!(parse(b"\x00\x01\x02").is_err());
        assert!(parse(b"Metadata-Version: 2.1\nName: \nVersion: 1\n").is_err());
    }
}
