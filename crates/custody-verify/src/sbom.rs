//! The packages of an image's final filesystem, from its SBOMs: the image SBOM when the
//! evidence holds it, else the layer SBOMs replayed bottom up (a layer SBOM lists what the
//! layer added or changed, and what it removed marked with `custody:removed-in`).

use std::collections::BTreeMap;

use custody_types::sbom_properties::REMOVED_IN;
use serde_json::Value;

/// A component of the final filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Component {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) purl: Option<String>,
}

/// Most components read from one SBOM (a large image has a few thousand).
const MAX_COMPONENTS: usize = 1_000_000;

/// The components of a CycloneDX document: (component, removed here?).
pub(crate) fn components(doc: &Value) -> Result<Vec<(Component, bool)>, String> {
    let Some(list) = doc.get("components") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or("`components` is not a list (not a CycloneDX document)")?;
    if list.len() > MAX_COMPONENTS {
        return Err(format!(
            "{} components, more than {MAX_COMPONENTS}",
            list.len()
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let Some(name) = c.get("name").and_then(Value::as_str) else {
            return Err("a component has no name".into());
        };
        let removed = c
            .get("properties")
            .and_then(Value::as_array)
            .is_some_and(|props| {
                props
                    .iter()
                    .any(|p| p.get("name").and_then(Value::as_str) == Some(REMOVED_IN))
            });
        out.push((
            Component {
                name: name.to_owned(),
                version: c.get("version").and_then(Value::as_str).map(str::to_owned),
                purl: c.get("purl").and_then(Value::as_str).map(str::to_owned),
            },
            removed,
        ));
    }
    Ok(out)
}

fn key(c: &Component) -> String {
    match &c.purl {
        Some(p) => p.clone(),
        None => format!("{}@{}", c.name, c.version.as_deref().unwrap_or("")),
    }
}

/// Replays layer SBOMs, bottom first, into the final set of components.
pub(crate) fn replay(layers: &[Vec<(Component, bool)>]) -> Vec<Component> {
    let mut current: BTreeMap<String, Component> = BTreeMap::new();
    for layer in layers {
        for (c, removed) in layer {
            if *removed {
                current.remove(&key(c));
            } else {
                current.insert(key(c), c.clone());
            }
        }
    }
    current.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removed_components_leave_the_final_set() {
        let l0 = json!({"components": [
            {"name": "six", "version": "1.16.0", "purl": "pkg:pypi/six@1.16.0"},
            {"name": "openssh-server", "version": "1", "purl": "pkg:deb/debian/openssh-server@1"}
        ]});
        let l1 = json!({"components": [
            {"name": "six", "version": "1.16.0", "purl": "pkg:pypi/six@1.16.0",
             "properties": [{"name": REMOVED_IN, "value": "sha256:00"}]}
        ]});
        let layers = vec![components(&l0).unwrap(), components(&l1).unwrap()];
        let names: Vec<String> = replay(&layers).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["openssh-server"]);
        assert!(components(&json!({"components": 3})).is_err());
    }
}
