//! Components of a CycloneDX JSON document (spec 1.4–1.6, from custody, syft or trivy).
//!
//! This reader keeps what matching and the ledger's component index need from every
//! component, nested ones included: bom-ref, type, group/name/version, purl and properties.
//! It is deliberately lenient about fields it does not read (a newer spec version or a
//! producer's extensions must not make an SBOM unreadable) and strict about what it does:
//! the document must be a CycloneDX BOM, and a component must have a name.

use serde::Deserialize;

/// Why a document could not be read as a CycloneDX SBOM.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The bytes are not JSON, or not of the shape CycloneDX defines.
    #[error("SBOM is not valid CycloneDX JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `bomFormat` is missing or not `CycloneDX`.
    #[error("SBOM bomFormat is {0:?}, expected \"CycloneDX\"")]
    NotCycloneDx(String),
    /// `specVersion` is not a 1.x version custody reads.
    #[error("SBOM specVersion {0:?} is not a CycloneDX 1.x version")]
    UnsupportedSpec(String),
    /// Components nest deeper than custody follows.
    #[error("SBOM components nest deeper than {0} levels")]
    TooDeep(usize),
    /// More components than custody reads from one document.
    #[error("SBOM has more than {0} components")]
    TooManyComponents(usize),
}

/// Deepest component nesting followed (serde_json itself stops at 128 levels of JSON).
pub const MAX_DEPTH: usize = 32;
/// Most components read from one document.
pub const MAX_COMPONENTS: usize = 1_000_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBom {
    bom_format: Option<String>,
    spec_version: Option<String>,
    serial_number: Option<String>,
    metadata: Option<WireMetadata>,
    #[serde(default)]
    components: Vec<WireComponent>,
}

#[derive(Deserialize)]
struct WireMetadata {
    component: Option<WireComponent>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct WireComponent {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    group: Option<String>,
    name: Option<String>,
    version: Option<String>,
    purl: Option<String>,
    #[serde(default)]
    properties: Vec<WireProperty>,
    #[serde(default)]
    components: Vec<WireComponent>,
}

#[derive(Deserialize)]
struct WireProperty {
    name: Option<String>,
    value: Option<String>,
}

/// A CycloneDX document's components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycloneDxDocument {
    /// `specVersion` (`1.4`, `1.5`, `1.6`).
    pub spec_version: String,
    /// `serialNumber`, if any.
    pub serial_number: Option<String>,
    /// `metadata.timestamp`, if any.
    pub timestamp: Option<String>,
    /// `metadata.component`: what the SBOM describes (for an image, the image). Its nested
    /// components are not in [`CycloneDxDocument::components`].
    pub subject: Option<Component>,
    /// Every component of `components[]`, depth first, nested ones after their parent.
    pub components: Vec<Component>,
}

/// One component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `bom-ref`, if any.
    pub bom_ref: Option<String>,
    /// `type` (`library`, `application`, `operating-system`, `container`, `file`, ...).
    pub kind: String,
    /// `group` (Maven groupId, npm scope), if any.
    pub group: Option<String>,
    /// `name`.
    pub name: String,
    /// `version`, if any.
    pub version: Option<String>,
    /// `purl`, if any.
    pub purl: Option<String>,
    /// `properties[]` as (name, value) pairs, in document order.
    pub properties: Vec<(String, String)>,
    /// The bom-ref of the component this one is nested in, if it is nested.
    pub parent: Option<String>,
}

impl Component {
    /// The value of the first property called `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a CycloneDX JSON document.
pub fn read_cyclonedx(bytes: &[u8]) -> Result<CycloneDxDocument, SbomError> {
    let bom: WireBom = serde_json::from_slice(bytes)?;
    match bom.bom_format.as_deref() {
        Some("CycloneDX") => {}
        other => return Err(SbomError::NotCycloneDx(other.unwrap_or("").to_owned())),
    }
    let spec = bom.spec_version.unwrap_or_default();
    if !spec.starts_with("1.") {
        return Err(SbomError::UnsupportedSpec(spec));
    }
    let (subject, timestamp) = match bom.metadata {
        Some(m) => (m.component, m.timestamp),
        None => (None, None),
    };
    let subject = subject
        .map(|c| {
            let mut one = Vec::new();
            flatten(c, None, 0, &mut one)?;
            Ok::<_, SbomError>(one.into_iter().next())
        })
        .transpose()?
        .flatten();
    let mut components = Vec::new();
    for c in bom.components {
        flatten(c, None, 0, &mut components)?;
    }
    Ok(CycloneDxDocument {
        spec_version: spec,
        serial_number: bom.serial_number,
        timestamp,
        subject,
        components,
    })
}

fn flatten(
    c: WireComponent,
    parent: Option<String>,
    depth: usize,
    out: &mut Vec<Component>,
) -> Result<(), SbomError> {
    if depth > MAX_DEPTH {
        return Err(SbomError::TooDeep(MAX_DEPTH));
    }
    if out.len() >= MAX_COMPONENTS {
        return Err(SbomError::TooManyComponents(MAX_COMPONENTS));
    }
    let this_ref = c.bom_ref.clone();
    out.push(Component {
        bom_ref: c.bom_ref,
        kind: c.kind.unwrap_or_else(|| "library".to_owned()),
        group: c.group.filter(|g| !g.is_empty()),
        name: c.name.unwrap_or_default(),
        version: c.version.filter(|v| !v.is_empty()),
        purl: c.purl.filter(|p| !p.is_empty()),
        properties: c
            .properties
            .into_iter()
            .filter_map(|p| Some((p.name?, p.value.unwrap_or_default())))
            .collect(),
        parent,
    });
    for child in c.components {
        flatten(child, this_ref.clone(), depth + 1, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_components_with_properties() {
        let doc = br#"{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:1",
          "metadata":{"component":{"type":"container","name":"img","version":"sha256:abc"}},
          "components":[
            {"type":"library","bom-ref":"a","name":"a","version":"1","purl":"pkg:npm/a@1",
             "properties":[{"name":"aquasecurity:trivy:LayerDiffID","value":"sha256:00"}],
             "components":[{"type":"library","bom-ref":"b","name":"b","purl":"pkg:npm/b@2","version":"2"}]},
            {"type":"operating-system","name":"debian","version":"12.5"}]}"#;
        let d = read_cyclonedx(doc).unwrap();
        assert_eq!(
            d.subject.as_ref().unwrap().version.as_deref(),
            Some("sha256:abc")
        );
        assert_eq!(d.components.len(), 3);
        assert_eq!(d.components[1].parent.as_deref(), Some("a"));
        assert_eq!(
            d.components[0].property("aquasecurity:trivy:LayerDiffID"),
            Some("sha256:00")
        );
    }

    #[test]
    fn refuses_non_cyclonedx_documents() {
        assert!(matches!(
            read_cyclonedx(b"{}"),
            Err(SbomError::NotCycloneDx(_))
        ));
        assert!(matches!(
            read_cyclonedx(br#"{"bomFormat":"AnotherFormat","specVersion":"1.4"}"#),
            Err(SbomError::NotCycloneDx(_))
        ));
        assert!(matches!(
            read_cyclonedx(br#"{"bomFormat":"CycloneDX","specVersion":"2.0"}"#),
            Err(SbomError::UnsupportedSpec(_))
        ));
        assert!(matches!(
            read_cyclonedx(b"not json"),
            Err(SbomError::Json(_))
        ));
        assert!(matches!(
            read_cyclonedx(br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}"#),
            Err(SbomError::Json(_))
        ));
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut s = String::from(r#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":["#);
        for _ in 0..40 {
            s.push_str(r#"{"name":"x","components":["#);
        }
        for _ in 0..40 {
            s.push_str("]}");
        }
        s.push_str("]}");
        assert!(matches!(
            read_cyclonedx(s.as_bytes()),
            Err(SbomError::TooDeep(_))
        ));
    }
}
