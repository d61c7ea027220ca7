//! SPDX 2.3 JSON. Layer attribution has no field in SPDX 2.3, so it is written the way
//! Trivy writes it: one package annotation per property (`name: value`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::cyclonedx::{component_properties, image_purl};
use crate::model::{Bom, Component, Ecosystem, License, Subject};
use crate::render::{TOOL_NAME, TOOL_VERSION, content_uuid, timestamp, to_json};

/// `SPDXRef-` ids allow letters, digits, `.` and `-`.
fn spdx_id(prefix: &str, key: &str) -> String {
    let digest = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
    format!("SPDXRef-{prefix}-{digest}")
}

fn license_ref(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let digest = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    format!("LicenseRef-{clean}-{digest}")
}

/// The declared licence as one SPDX expression; names become `LicenseRef-`s recorded in
/// `extracted`.
fn declared(list: &[License], extracted: &mut BTreeMap<String, String>) -> String {
    if list.is_empty() {
        return "NOASSERTION".to_owned();
    }
    let parts: Vec<String> = list
        .iter()
        .map(|l| match l {
            License::Spdx(e) if list.len() > 1 && e.contains(' ') => format!("({e})"),
            License::Spdx(e) => e.clone(),
            License::Named(n) => {
                let id = license_ref(n);
                extracted.insert(id.clone(), n.clone());
                id
            }
        })
        .collect();
    parts.join(" AND ")
}

pub(crate) fn write(bom: &Bom) -> Vec<u8> {
    let ts = timestamp(bom);
    let annotator = format!("Tool: {TOOL_NAME}-{TOOL_VERSION}");
    let (subject_id, subject_pkg, doc_name) = match &bom.subject {
        Subject::Image => {
            let purl = image_purl(bom);
            let mut p = Map::new();
            p.insert("name".into(), json!(bom.image.name));
            p.insert("SPDXID".into(), json!("SPDXRef-Image"));
            p.insert(
                "versionInfo".into(),
                json!(bom.image.manifest_digest.to_string()),
            );
            p.insert("downloadLocation".into(), json!("NOASSERTION"));
            p.insert("filesAnalyzed".into(), json!(false));
            p.insert("licenseConcluded".into(), json!("NOASSERTION"));
            p.insert("licenseDeclared".into(), json!("NOASSERTION"));
            p.insert("copyrightText".into(), json!("NOASSERTION"));
            if !purl.is_empty() {
                p.insert(
                    "externalRefs".into(),
                    json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]),
                );
            }
            p.insert("primaryPackagePurpose".into(), json!("CONTAINER"));
            (
                "SPDXRef-Image".to_owned(),
                Value::Object(p),
                bom.image.name.clone(),
            )
        }
        Subject::Layer { layer, chain_id } => {
            let p = json!({
                "name": layer.diff_id.to_string(),
                "SPDXID": "SPDXRef-Layer",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "checksums": [{"algorithm": "SHA256", "checksumValue": layer.diff_id.0.hex()}],
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": "NOASSERTION",
                "copyrightText": "NOASSERTION",
                "primaryPackagePurpose": "FILE",
                "comment": format!("layer {} (ChainID {chain_id}, blob {})", layer.index, layer.digest),
            });
            ("SPDXRef-Layer".to_owned(), p, layer.diff_id.to_string())
        }
    };
    let mut extracted = BTreeMap::new();
    let ids: BTreeMap<&str, String> = bom
        .components
        .iter()
        .map(|c| (c.bom_ref.as_str(), spdx_id("Package", &c.bom_ref)))
        .collect();
    let mut packages = vec![subject_pkg];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": subject_id,
    })];
    for c in &bom.components {
        packages.push(package(c, &ids, &mut extracted, &ts, &annotator));
        relationships.push(json!({
            "spdxElementId": subject_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": ids[c.bom_ref.as_str()],
        }));
        for dep in &c.depends_on {
            if let Some(id) = ids.get(dep.as_str()) {
                relationships.push(json!({
                    "spdxElementId": ids[c.bom_ref.as_str()],
                    "relationshipType": "DEPENDS_ON",
                    "relatedSpdxElement": id,
                }));
            }
        }
    }
    let mut doc = Map::new();
    doc.insert("spdxVersion".into(), json!("SPDX-2.3"));
    doc.insert("dataLicense".into(), json!("CC0-1.0"));
    doc.insert("SPDXID".into(), json!("SPDXRef-DOCUMENT"));
    doc.insert("name".into(), json!(doc_name));
    doc.insert("documentNamespace".into(), json!(""));
    doc.insert(
        "creationInfo".into(),
        json!({"created": ts, "creators": [annotator], "licenseListVersion": spdx::license_version()}),
    );
    doc.insert("packages".into(), Value::Array(packages));
    doc.insert("relationships".into(), Value::Array(relationships));
    if !extracted.is_empty() {
        let infos: Vec<Value> = extracted
            .into_iter()
            .map(|(id, name)| json!({"licenseId": id, "extractedText": name, "name": name}))
            .collect();
        doc.insert("hasExtractedLicensingInfos".into(), Value::Array(infos));
    }
    let draft = to_json(&Value::Object(doc.clone()));
    let slug: String = doc_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    doc.insert(
        "documentNamespace".into(),
        json!(format!(
            "https://custody.dev/spdx/{slug}-{}",
            content_uuid(&draft)
        )),
    );
    to_json(&Value::Object(doc))
}

fn package(
    c: &Component,
    ids: &BTreeMap<&str, String>,
    extracted: &mut BTreeMap<String, String>,
    ts: &str,
    annotator: &str,
) -> Value {
    let mut p = Map::new();
    let name = match &c.group {
        Some(g) => format!("{g}:{}", c.name),
        None => c.name.clone(),
    };
    p.insert("name".into(), json!(name));
    p.insert("SPDXID".into(), json!(ids[c.bom_ref.as_str()]));
    if !c.version.is_empty() {
        p.insert("versionInfo".into(), json!(c.version));
    }
    p.insert("downloadLocation".into(), json!("NOASSERTION"));
    p.insert("filesAnalyzed".into(), json!(false));
    p.insert(
        "sourceInfo".into(),
        json!(format!(
            "acquired package info from {}",
            c.evidence.join(", ")
        )),
    );
    p.insert("licenseConcluded".into(), json!("NOASSERTION"));
    p.insert(
        "licenseDeclared".into(),
        json!(declared(&c.licenses, extracted)),
    );
    p.insert("copyrightText".into(), json!("NOASSERTION"));
    if !c.purl.is_empty() {
        p.insert(
            "externalRefs".into(),
            json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl}]),
        );
    }
    let purpose = if c.ecosystem == Ecosystem::Os {
        "OPERATING-SYSTEM"
    } else {
        "LIBRARY"
    };
    p.insert("primaryPackagePurpose".into(), json!(purpose));
    let annotations: Vec<Value> = component_properties(c)
        .into_iter()
        .map(|(k, v)| {
            json!({"annotationDate": ts, "annotationType": "OTHER", "annotator": annotator, "comment": format!("{k}: {v}")})
        })
        .collect();
    p.insert("annotations".into(), Value::Array(annotations));
    Value::Object(p)
}
