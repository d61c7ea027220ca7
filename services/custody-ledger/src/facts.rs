//! What the auditors' indexes need from an in-toto Statement: subjects, predicate type, SBOM
//! components (with the layer and image they belong to), and for a build provenance the
//! image's layers and base image.

use std::str::FromStr;

use custody_types::{Digest, predicate_types as pt, sbom_properties as props};
use serde_json::Value;

use crate::error::ApiError;
use crate::util::truncate;

/// Most subjects one statement may name.
const MAX_SUBJECTS: usize = 1024;

/// An SBOM component row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRow {
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
pub struct BlobRef {
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
pub struct Facts {
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

/// Reads the statement in `payload`.
pub fn extract(payload: &[u8]) -> Result<Facts, ApiError> {
    let statement: Value = serde_json::from_slice(payload)
        .map_err(|e| unprocessable(format!("payload is not a JSON in-toto statement: {e}")))?;
    let obj = statement
        .as_object()
        .ok_or_else(|| unprocessable("payload is not a JSON object"))?;
    let ty = obj.get("_type").and_then(Value::as_str).unwrap_or("");
    if ty != pt::STATEMENT_V1 && ty != "https://in-toto.io/Statement/v0.1" {
        return Err(unprocessable(format!(
            "payload _type {:?} is not an in-toto Statement",
            truncate(ty)
        )));
    }
    let predicate_type = obj
        .get("predicateType")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or_else(|| unprocessable("statement has no predicateType"))?
        .to_owned();
    let subjects = subjects(obj.get("subject"))?;
    let predicate = obj.get("predicate").cloned().unwrap_or(Value::Null);
    let mut facts = Facts {
        predicate_type,
        subjects,
        ..Facts::default()
    };
    match facts.predicate_type.as_str() {
        pt::LAYER_V1 => layer_facts(&predicate, &mut facts)?,
        pt::CYCLONEDX_BOM => {
            // An image (or layer) SBOM attested directly: its components belong to the subject.
            let image = facts.subjects.first().map(|s| s.0.clone()).unwrap_or_default();
            embedded_sbom(&predicate, "", &image, &mut facts)?;
        }
        pt::SLSA_PROVENANCE_V1 => provenance_facts(&predicate, &mut facts),
        _ => {}
    }
    Ok(facts)
}

fn subjects(v: Option<&Value>) -> Result<Vec<(String, String)>, ApiError> {
    let list = v
        .and_then(Value::as_array)
        .ok_or_else(|| unprocessable("statement has no subject list"))?;
    if list.is_empty() || list.len() > MAX_SUBJECTS {
        return Err(unprocessable(format!(
            "statement must have 1 to {MAX_SUBJECTS} subjects, has {}",
            list.len()
        )));
    }
    let mut out = Vec::new();
    for s in list {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        let digests = s
            .get("digest")
            .and_then(Value::as_object)
            .ok_or_else(|| unprocessable("subject has no digest"))?;
        for (alg, hex) in digests {
            if alg != "sha256" && alg != "sha512" {
                continue;
            }
            let hex = hex.as_str().unwrap_or("");
            let d = Digest::from_str(&format!("{alg}:{hex}")).map_err(|e| {
                unprocessable(format!("subject {:?}: {e}", truncate(name)))
            })?;
            out.push((d.to_string(), truncate(name)));
        }
    }
    if out.is_empty() {
        return Err(unprocessable("no subject has a sha256 or sha512 digest"));
    }
    Ok(out)
}

/// The first string among `keys` in object `v`.
fn first_str<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str))
}

fn layer_facts(predicate: &Value, facts: &mut Facts) -> Result<(), ApiError> {
    let diff_id = first_str(predicate, &["diffID", "diffId", "diff_id"])
        .and_then(|s| Digest::from_str(s).ok())
        .map(|d| d.to_string())
        .or_else(|| facts.subjects.first().map(|s| s.0.clone()))
        .unwrap_or_default();
    let sbom = predicate.get("sbom").unwrap_or(&Value::Null);
    if let Some(d) = first_str(sbom, &["digest"]).and_then(|s| Digest::from_str(s).ok()) {
        facts.blobs.push(BlobRef {
            digest: d,
            relation: "sbom",
            data: None,
            media_type: custody_types::media_types::CYCLONEDX_JSON,
        });
    }
    let doc = sbom.get("document").or_else(|| sbom.get("bom")).unwrap_or(sbom);
    if doc.get("bomFormat").is_some() || doc.get("components").is_some() {
        embedded_sbom(doc, &diff_id, "", facts)?;
    }
    Ok(())
}

fn embedded_sbom(doc: &Value, layer: &str, image: &str, facts: &mut Facts) -> Result<(), ApiError> {
    if doc.is_null() {
        return Ok(());
    }
    let bytes = serde_json::to_vec(doc).map_err(ApiError::internal)?;
    let digest = Digest::sha256_of(&bytes);
    components(doc, layer, image, &mut facts.components);
    facts.blobs.push(BlobRef {
        digest,
        relation: "sbom",
        data: Some(bytes),
        media_type: custody_types::media_types::CYCLONEDX_JSON,
    });
    Ok(())
}

/// Walks CycloneDX `components` (nested too) and keeps those with a parseable purl.
fn components(doc: &Value, layer: &str, image: &str, out: &mut Vec<ComponentRow>) {
    let mut stack: Vec<&Value> = vec![doc];
    while let Some(node) = stack.pop() {
        let Some(list) = node.get("components").and_then(Value::as_array) else {
            continue;
        };
        for c in list {
            stack.push(c);
            let Some(purl) = c.get("purl").and_then(Value::as_str) else {
                continue;
            };
            let Ok(parsed) = packageurl::PackageUrl::from_str(purl) else {
                continue;
            };
            let prop = |name: &str| {
                c.get("properties")
                    .and_then(Value::as_array)
                    .and_then(|ps| {
                        ps.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(name))
                    })
                    .and_then(|p| p.get("value").and_then(Value::as_str))
                    .map(str::to_owned)
            };
            let comp_layer = prop(props::INTRODUCED_IN)
                .or_else(|| prop(props::TRIVY_LAYER_DIFF_ID))
                .unwrap_or_else(|| layer.to_owned());
            out.push(ComponentRow {
                purl: purl.to_owned(),
                purl_type: parsed.ty().to_owned(),
                namespace: parsed.namespace().unwrap_or("").to_owned(),
                name: parsed.name().to_owned(),
                version: parsed.version().unwrap_or("").to_owned(),
                layer: comp_layer,
                image: image.to_owned(),
            });
        }
    }
}

fn digest_of(dep: &Value) -> Option<String> {
    let d = dep.get("digest")?;
    let hex = d.get("sha256").and_then(Value::as_str)?;
    Digest::from_str(&format!("sha256:{hex}")).ok().map(|d| d.to_string())
}

fn provenance_facts(predicate: &Value, facts: &mut Facts) {
    let images: Vec<String> = facts.subjects.iter().map(|s| s.0.clone()).collect();
    let build = predicate.get("buildDefinition").unwrap_or(&Value::Null);
    let deps = build
        .get("resolvedDependencies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut layers: Vec<(i64, String)> = Vec::new();
    for dep in &deps {
        let name = dep.get("name").and_then(Value::as_str).unwrap_or("");
        let annotations = dep.get("annotations").unwrap_or(&Value::Null);
        let kind = annotations
            .get("custody.kind")
            .or_else(|| annotations.get("kind"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if name == "base-image" || kind == "base-image" {
            if let Some(base) = digest_of(dep) {
                for image in &images {
                    facts.image_bases.push((image.clone(), base.clone()));
                }
            }
        }
    }
    // The image's rootfs diff_ids, in order, as custody's builder records them.
    let diff_ids = build
        .get("internalParameters")
        .and_then(|p| p.get("diffIDs").or_else(|| p.get("diff_ids")))
        .or_else(|| {
            build
                .get("externalParameters")
                .and_then(|p| p.get("diffIDs").or_else(|| p.get("diff_ids")))
        })
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, d) in diff_ids.iter().enumerate() {
        if let Some(d) = d.as_str().and_then(|s| Digest::from_str(s).ok()) {
            layers.push((i as i64, d.to_string()));
        }
    }
    for image in &images {
        for (pos, diff_id) in &layers {
            facts.image_layers.push((diff_id.clone(), image.clone(), *pos));
        }
    }
}
