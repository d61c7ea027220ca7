//! What the auditors' indexes need from an in-toto Statement: subjects, predicate type, SBOM
//! components (with the layer and image they belong to), and for a build provenance the
//! image's layers and base image.

use std::str::FromStr;

use custody_attest::{Attestation, CheckedStatement, SbomDocument};
use custody_types::{Digest, predicate_types, sbom_properties as props};

use crate::error::ApiError;
use crate::util::truncate;

/// Most subjects one statement may name.
const MAX_SUBJECTS: usize = 1024;

/// An SBOM component row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComponentRow {
    /// The full package URL.
    pub purl: String,
    /// purl type (deb, pypi, npm, ...).
    pub purl_type: String,
    /// purl namespace, or empty.
    pub namespace: String,
    /// purl name.
    pub name: String,
    /// purl version, or empty.
    pub version: String,
    /// DiffID of the layer that added it, or empty.
    pub layer: String,
    /// Manifest digest of the image, or empty.
    pub image: String,
}

/// A blob an entry references.
#[derive(Debug, Clone)]
pub(crate) struct BlobRef {
    /// Its SHA-256 digest.
    pub digest: Digest,
    /// What it is to the entry (`sbom`).
    pub relation: &'static str,
    /// Its bytes when the statement embeds it (stored once, content-addressed).
    pub data: Option<Vec<u8>>,
    /// Media type of `data`.
    pub media_type: &'static str,
}

/// Everything indexed about one statement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// `predicateType`.
    pub predicate_type: String,
    /// (digest, name) of every subject.
    pub subjects: Vec<(String, String)>,
    /// SBOM components.
    pub components: Vec<ComponentRow>,
    /// (diff_id, image, position) from a build provenance.
    pub image_layers: Vec<(String, String, i64)>,
    /// (image, base image) from a build provenance.
    pub image_bases: Vec<(String, String)>,
    /// Referenced or embedded blobs.
    pub blobs: Vec<BlobRef>,
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(msg.into())
}

/// Reads what the indexes need from a checked statement. Predicates of the types custody
/// knows are checked by custody-attest's accessors; a malformed one is refused (422).
pub(crate) fn extract(checked: &CheckedStatement) -> Result<Facts, ApiError> {
    let subjects: Vec<(String, String)> = checked
        .subjects()
        .into_iter()
        .take(MAX_SUBJECTS)
        .map(|(name, d)| (d.to_string(), truncate(name)))
        .collect();
    if subjects.is_empty() {
        return Err(unprocessable("no subject has a sha256 or sha512 digest"));
    }
    let mut facts = Facts {
        predicate_type: checked.predicate_type().to_owned(),
        subjects,
        ..Facts::default()
    };
    let attestation = checked
        .attestation()
        .map_err(|e| unprocessable(format!("predicate: {e}")))?;
    match attestation {
        Attestation::Layer(layer) => {
            let p = &layer.predicate;
            let diff_id = p.diff_id.to_string();
            match &p.sbom.document {
                Some(doc) => {
                    let sbom = SbomDocument::from_value(doc.clone(), &p.sbom.media_type);
                    if layer.sbom_is_cyclonedx() {
                        components(sbom.bytes(), &diff_id, "", &mut facts.components);
                    }
                    facts.blobs.push(BlobRef {
                        digest: sbom.digest().clone(),
                        relation: "sbom",
                        data: Some(sbom.bytes().to_vec()),
                        media_type: media_type_of(&p.sbom.media_type),
                    });
                }
                None => facts.blobs.push(BlobRef {
                    digest: p.sbom.digest.clone(),
                    relation: "sbom",
                    data: None,
                    media_type: media_type_of(&p.sbom.media_type),
                }),
            }
        }
        Attestation::Provenance(prov) => {
            if let Some(manifest) = &prov.manifest {
                let image = manifest.to_string();
                for l in &prov.layers {
                    facts.image_layers.push((
                        l.diff_id.to_string(),
                        image.clone(),
                        i64::from(l.index),
                    ));
                }
                if let Some(base) = &prov.base {
                    facts
                        .image_bases
                        .push((image.clone(), base.manifest.to_string()));
                }
                if let Some(sbom) = &prov.image_sbom {
                    facts.blobs.push(BlobRef {
                        digest: sbom.clone(),
                        relation: "image-sbom",
                        data: None,
                        media_type: custody_types::media_types::CYCLONEDX_JSON,
                    });
                }
            }
        }
        Attestation::Other(pt) if pt == predicate_types::CYCLONEDX_BOM => {
            // An SBOM attested directly: its components belong to the first subject (an
            // image manifest, or a layer's DiffID).
            let bytes = serde_json::to_vec(checked.predicate()).map_err(ApiError::internal)?;
            let subject = facts
                .subjects
                .first()
                .map(|s| s.0.clone())
                .unwrap_or_default();
            components(&bytes, "", &subject, &mut facts.components);
            facts.blobs.push(BlobRef {
                digest: Digest::sha256_of(&bytes),
                relation: "sbom",
                data: Some(bytes),
                media_type: custody_types::media_types::CYCLONEDX_JSON,
            });
        }
        _ => {}
    }
    Ok(facts)
}

fn media_type_of(s: &str) -> &'static str {
    match s {
        custody_types::media_types::SPDX_JSON => custody_types::media_types::SPDX_JSON,
        _ => custody_types::media_types::CYCLONEDX_JSON,
    }
}

/// Indexes the components of a CycloneDX document (custody-vuln's reader) that carry a
/// parseable purl. A component's own layer property (custody or Trivy) wins over `layer`.
fn components(bytes: &[u8], layer: &str, image: &str, out: &mut Vec<ComponentRow>) {
    let Ok(doc) = custody_vuln::cyclonedx::read_cyclonedx(bytes) else {
        tracing::warn!("SBOM is not CycloneDX the reader accepts; components not indexed");
        return;
    };
    for c in doc.components {
        let Some(purl) = c.purl.as_deref() else {
            continue;
        };
        let Ok(parsed) = packageurl::PackageUrl::from_str(purl) else {
            continue;
        };
        let comp_layer = c
            .property(props::INTRODUCED_IN)
            .or_else(|| c.property(props::TRIVY_LAYER_DIFF_ID))
            .unwrap_or(layer);
        out.push(ComponentRow {
            purl: purl.to_owned(),
            purl_type: parsed.ty().to_owned(),
            namespace: parsed.namespace().unwrap_or("").to_owned(),
            name: parsed.name().to_owned(),
            version: parsed.version().unwrap_or("").to_owned(),
            layer: comp_layer.to_owned(),
            image: image.to_owned(),
        });
    }
}
