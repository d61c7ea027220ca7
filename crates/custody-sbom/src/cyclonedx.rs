//! CycloneDX 1.6 and 1.5 JSON. The two differ here only in `specVersion`, `$schema` and
//! the licence `acknowledgement` field (1.6); everything else custody writes is in both.
//!
//! Layer attribution is written twice per component: Trivy's `aquasecurity:trivy:Layer*`
//! properties (what existing scanners and dashboards read) and custody's own.

use std::collections::BTreeSet;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::{Bom, Component, Ecosystem, License, Subject};
use crate::properties;
use crate::render::{SpecVersion, TOOL_NAME, TOOL_VERSION, content_uuid, timestamp, to_json};

pub(crate) fn write(bom: &Bom, spec: SpecVersion) -> Vec<u8> {
    let mut doc = Map::new();
    doc.insert(
        "$schema".into(),
        json!(format!(
            "http://cyclonedx.org/schema/bom-{}.schema.json",
            spec.as_str()
        )),
    );
    doc.insert("bomFormat".into(), json!("CycloneDX"));
    doc.insert("specVersion".into(), json!(spec.as_str()));
    doc.insert("serialNumber".into(), json!(""));
    doc.insert("version".into(), json!(1));
    let (subject, subject_ref) = subject_component(bom);
    doc.insert(
        "metadata".into(),
        json!({
            "timestamp": timestamp(bom),
            "tools": {"components": [{
                "type": "application",
                "name": TOOL_NAME,
                "version": TOOL_VERSION,
            }]},
            "component": subject,
        }),
    );
    let present: BTreeSet<&str> = bom.components.iter().map(|c| c.bom_ref.as_str()).collect();
    // The components, the bulk of the document, are printed on every core and spliced in
    // where this placeholder lands.
    doc.insert("components".into(), json!(COMPONENTS_PLACEHOLDER));
    doc.insert(
        "dependencies".into(),
        dependencies(bom, &subject_ref, &present),
    );
    let components: Vec<Vec<u8>> = bom
        .components
        .par_iter()
        .map(|c| pretty_at_depth_two(&component(c, spec)))
        .collect();
    let draft = with_components(to_json(&Value::Object(doc)), &components);
    // serialNumber: derived from everything else, so identical content gets an identical
    // serial and any change gets a new one.
    let serial = format!("urn:uuid:{}", content_uuid(&draft));
    with_serial(draft, &serial)
}

/// Stands in for the components array in the printed document until [`with_components`]
/// puts it there. The NUL makes it a string no image or package supplies, and it is only
/// looked for as the value of the top-level `components` key.
const COMPONENTS_PLACEHOLDER: &str = "\u{0}custody:components";

/// `value` pretty-printed as an element of a top-level array (four spaces in): serde_json
/// prints it at depth zero, and pretty printing writes a raw newline only as layout (a
/// newline inside a string is escaped), so indenting after every newline moves it.
fn pretty_at_depth_two(value: &impl Serialize) -> Vec<u8> {
    let flat = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut out = Vec::with_capacity(flat.len() + flat.len() / 8);
    let mut from = 0;
    for newline in memchr::memchr_iter(b'\n', &flat) {
        out.extend_from_slice(&flat[from..newline]);
        out.extend_from_slice(b"\n    ");
        from = newline + 1;
    }
    out.extend_from_slice(&flat[from..]);
    out
}

/// The printed draft with the components array in place of [`COMPONENTS_PLACEHOLDER`],
/// exactly as printing the document with the array in it would lay it out.
fn with_components(draft: Vec<u8>, components: &[Vec<u8>]) -> Vec<u8> {
    const KEY: &str = "\n  \"components\": ";
    let placeholder = serde_json::to_string(COMPONENTS_PLACEHOLDER).unwrap_or_default();
    let key = format!("{KEY}{placeholder}");
    let Some(at) = memchr::memmem::find(&draft, key.as_bytes()) else {
        return draft;
    };
    let value_at = at + KEY.len();
    let total: usize = components.iter().map(|c| c.len() + 6).sum();
    let mut out = Vec::with_capacity(draft.len() + total);
    out.extend_from_slice(&draft[..value_at]);
    if components.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        out.push(b'[');
        for (i, c) in components.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
            out.extend_from_slice(c);
        }
        out.extend_from_slice(b"\n  ]");
    }
    out.extend_from_slice(&draft[at + key.len()..]);
    out
}

/// The top-level `"serialNumber": ""` of the pretty-printed draft, filled in. Splicing the
/// bytes gives exactly what serializing the document again with the serial would (the key
/// keeps its place, nothing else moves), without a second pass over a large document.
/// Pretty printing puts a raw newline and exactly two spaces only before top-level keys (a
/// newline inside a string is escaped), so the first match is the top-level key.
fn with_serial(draft: Vec<u8>, serial: &str) -> Vec<u8> {
    const EMPTY: &[u8] = b"\n  \"serialNumber\": \"\"";
    let Some(at) = memchr::memmem::find(&draft, EMPTY) else {
        return draft;
    };
    let mut out = Vec::with_capacity(draft.len() + serial.len());
    out.extend_from_slice(&draft[..at + EMPTY.len() - 1]);
    out.extend_from_slice(serial.as_bytes());
    out.extend_from_slice(&draft[at + EMPTY.len() - 1..]);
    out
}

/// `pkg:oci/name@sha256%3A…?arch=amd64&repository_url=…&tag=…` for the image.
pub(crate) fn image_purl(bom: &Bom) -> String {
    let name = &bom.image.name;
    // NAME[:TAG]: the tag is after the last ':' that follows the last '/'.
    let (repo, tag) = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name.as_str(), None),
    };
    let last = repo.rsplit('/').next().unwrap_or(repo).to_ascii_lowercase();
    let arch = bom.image.platform.split('/').nth(1).unwrap_or("");
    let mut q: Vec<(&str, &str)> = vec![("arch", arch)];
    if repo.contains('/') {
        q.push(("repository_url", repo));
    }
    if let Some(t) = tag {
        q.push(("tag", t));
    }
    let digest = bom.image.manifest_digest.to_string();
    crate::purl::build(
        "oci",
        None,
        if last.is_empty() { "image" } else { &last },
        Some(&digest),
        &q,
        None,
    )
    .unwrap_or_default()
}

fn subject_component(bom: &Bom) -> (Value, String) {
    match &bom.subject {
        Subject::Image => {
            let purl = image_purl(bom);
            let bom_ref = if purl.is_empty() {
                bom.image.manifest_digest.to_string()
            } else {
                purl.clone()
            };
            let mut c = Map::new();
            c.insert("type".into(), json!("container"));
            c.insert("bom-ref".into(), json!(bom_ref));
            c.insert("name".into(), json!(bom.image.name));
            c.insert(
                "version".into(),
                json!(bom.image.manifest_digest.to_string()),
            );
            if !purl.is_empty() {
                c.insert("purl".into(), json!(purl));
            }
            c.insert(
                "properties".into(),
                json!([
                    {"name": "custody:config-digest", "value": bom.image.config_digest.to_string()},
                    {"name": "custody:platform", "value": bom.image.platform},
                ]),
            );
            (Value::Object(c), bom_ref)
        }
        Subject::Layer { layer, chain_id } => {
            let bom_ref = format!("layer:{}", layer.diff_id);
            let c = json!({
                "type": "file",
                "bom-ref": bom_ref,
                "name": layer.diff_id.to_string(),
                "hashes": [{"alg": "SHA-256", "content": layer.diff_id.0.hex()}],
                "properties": [
                    {"name": properties::LAYER_CHAIN_ID, "value": chain_id.to_string()},
                    {"name": properties::LAYER_DIFF_ID, "value": layer.diff_id.to_string()},
                    {"name": properties::LAYER_DIGEST, "value": layer.digest.to_string()},
                    {"name": properties::LAYER_INDEX, "value": layer.index.to_string()},
                ],
            });
            (c, bom_ref)
        }
    }
}

fn licenses(list: &[License], spec: SpecVersion) -> Option<Value> {
    if list.is_empty() {
        return None;
    }
    let ack = |m: &mut Map<String, Value>| {
        if spec == SpecVersion::V1_6 {
            m.insert("acknowledgement".into(), json!("declared"));
        }
    };
    let compound = |e: &str| e.contains(' ') || e.ends_with('+');
    // One compound expression: CycloneDX's expression form. All SPDX and one of them
    // compound: AND them into one expression. Otherwise one licence object each.
    let all_spdx: Option<Vec<&str>> = list
        .iter()
        .map(|l| match l {
            License::Spdx(e) => Some(e.as_str()),
            License::Named(_) => None,
        })
        .collect();
    if let Some(exprs) = all_spdx
        && exprs.iter().any(|e| compound(e))
    {
        let joined = if exprs.len() == 1 {
            exprs[0].to_owned()
        } else {
            exprs
                .iter()
                .map(|e| {
                    if e.contains(' ') {
                        format!("({e})")
                    } else {
                        (*e).to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut m = Map::new();
        m.insert("expression".into(), json!(joined));
        ack(&mut m);
        return Some(json!([Value::Object(m)]));
    }
    let items = list
        .iter()
        .map(|l| {
            let mut inner = Map::new();
            match l {
                License::Spdx(e) if !compound(e) => {
                    inner.insert("id".into(), json!(e));
                }
                License::Spdx(e) | License::Named(e) => {
                    inner.insert("name".into(), json!(e));
                }
            }
            ack(&mut inner);
            json!({ "license": Value::Object(inner) })
        })
        .collect();
    Some(Value::Array(items))
}

/// The properties of a component: layer attribution (Trivy's and custody's), the
/// cataloger, ownership and the cataloger's extras, sorted by name.
pub(crate) fn component_properties(c: &Component) -> Vec<(String, String)> {
    let l = &c.layers;
    let mut props: Vec<(String, String)> = vec![
        (
            properties::TRIVY_LAYER_DIFF_ID.into(),
            l.introduced.diff_id.to_string(),
        ),
        (
            properties::TRIVY_LAYER_DIGEST.into(),
            l.introduced.digest.to_string(),
        ),
        (
            properties::INTRODUCED_IN.into(),
            l.introduced.diff_id.to_string(),
        ),
        (
            properties::LAYER_INDEX.into(),
            l.introduced.index.to_string(),
        ),
        (
            properties::CATALOGER.into(),
            c.ecosystem.cataloger().to_owned(),
        ),
    ];
    if let Some(changed) = &l.changed {
        props.push((properties::CHANGED_IN.into(), changed.diff_id.to_string()));
    }
    if let Some(removed) = &l.removed {
        props.push((properties::REMOVED_IN.into(), removed.diff_id.to_string()));
    }
    if let Some(owner) = &c.owned_by {
        props.push((properties::OWNED_BY.into(), owner.clone()));
    }
    props.extend(c.properties.iter().cloned());
    props.sort();
    props.dedup();
    props
}

/// One component as CycloneDX prints it. Serialized straight from borrowed fields, in
/// this order, rather than through a `serde_json::Value`: an image has hundreds of
/// components with a dozen properties each, and building maps of them first was most of
/// the time spent printing the document.
#[derive(Serialize)]
struct ComponentOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    licenses: Option<Value>,
    #[serde(skip_serializing_if = "str::is_empty")]
    purl: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<EvidenceOut<'a>>,
    properties: Vec<PropertyOut>,
}

#[derive(Serialize)]
struct EvidenceOut<'a> {
    occurrences: Vec<OccurrenceOut<'a>>,
}

#[derive(Serialize)]
struct OccurrenceOut<'a> {
    location: &'a str,
}

#[derive(Serialize)]
struct PropertyOut {
    name: String,
    value: String,
}

fn component(c: &Component, spec: SpecVersion) -> ComponentOut<'_> {
    ComponentOut {
        kind: if c.ecosystem == Ecosystem::Os {
            "operating-system"
        } else {
            "library"
        },
        bom_ref: &c.bom_ref,
        group: c.group.as_deref(),
        name: &c.name,
        version: &c.version,
        licenses: licenses(&c.licenses, spec),
        purl: &c.purl,
        evidence: (!c.evidence.is_empty()).then(|| EvidenceOut {
            occurrences: c
                .evidence
                .iter()
                .map(|p| OccurrenceOut { location: p })
                .collect(),
        }),
        properties: component_properties(c)
            .into_iter()
            .map(|(name, value)| PropertyOut { name, value })
            .collect(),
    }
}

/// Every component with its (possibly empty) dependencies, and the subject depending on
/// every component nothing else depends on. Edges to components not in this document are
/// dropped.
fn dependencies(bom: &Bom, subject_ref: &str, present: &BTreeSet<&str>) -> Value {
    let mut depended: BTreeSet<&str> = BTreeSet::new();
    let mut entries = Vec::with_capacity(bom.components.len() + 1);
    for c in &bom.components {
        let mut deps: Vec<&str> = c
            .depends_on
            .iter()
            .map(String::as_str)
            .filter(|d| present.contains(d) && *d != c.bom_ref)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        depended.extend(deps.iter().copied());
        entries.push(json!({"ref": c.bom_ref, "dependsOn": deps}));
    }
    let top: Vec<&str> = bom
        .components
        .iter()
        .map(|c| c.bom_ref.as_str())
        .filter(|r| !depended.contains(r))
        .collect();
    let mut all = vec![json!({"ref": subject_ref, "dependsOn": top})];
    all.extend(entries);
    Value::Array(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The splice gives the bytes a second serialization would, even with decoys: a
    /// nested `serialNumber` key and one inside a string.
    #[test]
    fn splicing_the_serial_equals_serializing_it() {
        let doc = |serial: &str| {
            json!({
                "bomFormat": "CycloneDX",
                "components": [{"name": "x\n  \"serialNumber\": \"\"", "serialNumber": ""}],
                "metadata": {"component": {"serialNumber": ""}},
                "serialNumber": serial,
                "version": 1,
            })
        };
        let serial = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79";
        assert_eq!(
            with_serial(to_json(&doc("")), serial),
            to_json(&doc(serial))
        );
    }
}
