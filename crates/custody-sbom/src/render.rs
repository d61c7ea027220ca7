//! Output formats. Every writer is deterministic: same model, same bytes.

use crate::model::Bom;

/// An SBOM document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// CycloneDX JSON (the default: what current scanners emit and read).
    CycloneDxJson,
    /// SPDX 2.3 JSON.
    SpdxJson,
    /// A human-readable table: name, version, type, layer.
    Table,
}

/// CycloneDX specification version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpecVersion {
    /// CycloneDX 1.5.
    V1_5,
    /// CycloneDX 1.6 (default).
    #[default]
    V1_6,
}

impl SpecVersion {
    /// `"1.5"` or `"1.6"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V1_5 => "1.5",
            SpecVersion::V1_6 => "1.6",
        }
    }
}

impl std::str::FromStr for SpecVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.5" => Ok(SpecVersion::V1_5),
            "1.6" => Ok(SpecVersion::V1_6),
            other => Err(format!(
                "CycloneDX spec version {other:?} is not supported (1.5 or 1.6)"
            )),
        }
    }
}

/// Writes `bom` in `format` (`spec` only matters for CycloneDX). JSON output ends with a
/// newline.
pub fn render(bom: &Bom, format: Format, spec: SpecVersion) -> Vec<u8> {
    match format {
        Format::CycloneDxJson => crate::cyclonedx::write(bom, spec),
        Format::SpdxJson => crate::spdx_json::write(bom),
        Format::Table => crate::table::write(bom).into_bytes(),
    }
}

/// The tool's own name and version, written into every document.
pub(crate) const TOOL_NAME: &str = "custody";
pub(crate) const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// RFC 3339 at whole seconds (`2026-11-28T11:20:17Z`).
pub(crate) fn timestamp(bom: &Bom) -> String {
    let secs = bom.timestamp.as_second();
    jiff::Timestamp::from_second(secs)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Pretty JSON with a trailing newline.
pub(crate) fn to_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A name-based (v5) UUID for content: same bytes, same UUID.
pub(crate) fn content_uuid(bytes: &[u8]) -> uuid::Uuid {
    use sha2::{Digest as _, Sha256};
    let namespace = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        b"https://github.com/custody-dev/custody/sbom",
    );
    uuid::Uuid::new_v5(&namespace, &Sha256::digest(bytes))
}
