//! SARIF 2.1.0 output of a scan, for code-scanning dashboards.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::matcher::{Finding, ScanReport};
use crate::severity::SeverityLevel;

/// The SARIF 2.1.0 schema URI written in `$schema`.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A SARIF 2.1.0 log of the scan: one rule per advisory (with `security-severity`, the
/// property GitHub code scanning ranks by), one result per affected component, located at
/// the component's purl; unevaluated components are reported as `note`-level results of
/// the rule `custody/unevaluated` so that CI shows them too.
pub fn to_sarif(report: &ScanReport, tool_version: &str, sbom_uri: Option<&str>) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for f in &report.findings {
        rules.entry(f.id.as_str()).or_insert_with(|| rule(f));
        results.push(json!({
            "ruleId": f.id,
            "level": level(f.severity.level),
            "message": { "text": message(f) },
            "locations": [location(f.component.purl.as_deref().unwrap_or(&f.component.name), sbom_uri)],
            "partialFingerprints": { "custody/finding": format!("{}|{}", f.id, f.component.purl.as_deref().unwrap_or(&f.component.name)) },
            "properties": {
                "aliases": f.aliases,
                "layer": f.component.layer,
                "fixedVersion": f.fixed,
                "bomRef": f.component.bom_ref,
            },
        }));
    }
    if !report.unevaluated.is_empty() {
        rules.insert(
            "custody/unevaluated",
            json!({
                "id": "custody/unevaluated",
                "name": "UnevaluatedComponent",
                "shortDescription": { "text": "Component could not be evaluated against the advisory database" },
                "defaultConfiguration": { "level": "note" },
            }),
        );
        for u in &report.unevaluated {
            let reasons: Vec<Value> = u
                .reasons
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                .collect();
            results.push(json!({
                "ruleId": "custody/unevaluated",
                "level": "note",
                "message": { "text": format!("{} could not be evaluated: {}", u.component.purl.as_deref().unwrap_or(&u.component.name), reasons.iter().map(|r| r["reason"].as_str().unwrap_or("?")).collect::<Vec<_>>().join(", ")) },
                "locations": [location(u.component.purl.as_deref().unwrap_or(&u.component.name), sbom_uri)],
                "properties": { "reasons": reasons, "bomRef": u.component.bom_ref },
            }));
        }
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "custody",
                "informationUri": "https://github.com/custody-dev/custody",
                "version": tool_version,
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

fn rule(f: &Finding) -> Value {
    let text = f
        .summary
        .clone()
        .unwrap_or_else(|| format!("{} in {}", f.id, f.package.name));
    let mut props = json!({ "tags": ["security", "vulnerability"] });
    if let Some(score) = f.severity.score {
        props["security-severity"] = json!(format!("{score:.1}"));
    } else if let Some(l) = f.severity.level {
        // GitHub's bands, at their midpoints, when the record has no CVSS vector.
        let s = match l {
            SeverityLevel::Critical => "9.5",
            SeverityLevel::High => "8.0",
            SeverityLevel::Medium => "5.5",
            SeverityLevel::Low => "2.0",
            SeverityLevel::None => "0.0",
        };
        props["security-severity"] = json!(s);
    }
    json!({
        "id": f.id,
        "name": f.id,
        "shortDescription": { "text": text },
        "helpUri": format!("https://osv.dev/vulnerability/{}", f.id),
        "help": { "text": format!("{text}\nAliases: {}", f.aliases.join(", ")) },
        "defaultConfiguration": { "level": level(f.severity.level) },
        "properties": props,
    })
}

fn level(l: Option<SeverityLevel>) -> &'static str {
    match l {
        Some(SeverityLevel::Critical | SeverityLevel::High) => "error",
        Some(SeverityLevel::Medium) => "warning",
        Some(SeverityLevel::Low | SeverityLevel::None) => "note",
        None => "warning",
    }
}

fn message(f: &Finding) -> String {
    let mut m = format!(
        "{} {} is affected by {} ({})",
        f.package.name,
        f.package.version,
        f.id,
        f.severity
            .level
            .map_or("unknown severity", SeverityLevel::as_str)
    );
    if let Some(fix) = &f.fixed {
        m.push_str(&format!("; fixed in {fix}"));
    }
    if let Some(layer) = &f.component.layer {
        m.push_str(&format!("; introduced by layer {layer}"));
    }
    m
}

fn location(uri: &str, sbom: Option<&str>) -> Value {
    let mut loc = json!({ "physicalLocation": { "artifactLocation": { "uri": uri } } });
    if let Some(s) = sbom {
        loc["logicalLocations"] = json!([{ "name": s, "kind": "module" }]);
    }
    loc
}
