//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use custody_vuln::cyclonedx::Component;

/// Every `*.json` file under `dir`, sorted.
pub(crate) fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A library component with a purl (bom-ref = purl).
pub(crate) fn component(purl: &str) -> Component {
    Component {
        bom_ref: Some(purl.to_owned()),
        kind: "library".into(),
        group: None,
        name: purl
            .rsplit('/')
            .next()
            .unwrap_or(purl)
            .split('@')
            .next()
            .unwrap_or(purl)
            .to_owned(),
        version: purl
            .split('@')
            .nth(1)
            .map(|v| v.split('?').next().unwrap_or(v).to_owned()),
        purl: Some(purl.to_owned()),
        properties: Vec::new(),
        parent: None,
    }
}

/// An OSV record as bytes, for synthetic advisories built in tests.
pub(crate) fn record(id: &str, affected: serde_json::Value, extra: serde_json::Value) -> Vec<u8> {
    let mut r = serde_json::json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-01-01T00:00:00Z",
        "summary": format!("SYNTHETIC test advisory {id}, not a real vulnerability"),
        "affected": affected,
    });
    if let (Some(obj), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&r).unwrap()
}
