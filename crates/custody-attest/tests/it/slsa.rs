//! custody's SLSA provenance against the published SLSA v1 examples and schema in
//! ../shared/testdata/intoto/slsa (see its SOURCES.md): every member custody writes has the
//! type the examples give it, every member the schema requires is present, and no member is
//! outside the schema's vocabulary.

use std::collections::{BTreeMap, BTreeSet};

use custody_attest::{statement_json, validate_provenance, validate_statement};
use custody_testkit::testdata_or_skip;
use serde_json::Value;

use crate::common::image_build;

/// Members whose contents are free-form maps (their keys are data, not schema).
const FREE_FORM: &[&str] = &[
    "externalParameters",
    "internalParameters",
    "annotations",
    "digest",
    "version",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Path -> JSON type of every member, array elements collapsed to `[]`, free-form maps not
/// descended into.
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    out.insert(path.to_owned(), kind(v));
    match v {
        Value::Object(m) => {
            let last = path.rsplit('.').next().unwrap_or("");
            if FREE_FORM.contains(&last) {
                return;
            }
            for (k, v) in m {
                shape(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for v in a {
                shape(v, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// The member names the CUE schema spells out (`"name":`).
fn schema_vocabulary(cue: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in cue.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('"')
            && let Some((name, tail)) = rest.split_once('"')
            && tail.trim_start().starts_with(':')
        {
            out.insert(name.to_owned());
        }
    }
    out
}

#[test]
fn custody_provenance_has_the_structure_of_the_slsa_examples() {
    let dir = testdata_or_skip!().join("intoto/slsa");
    let statement = image_build(true).statement();
    let ours: Value = serde_json::from_slice(&statement_json(&statement)).unwrap();
    validate_statement(&ours).unwrap();
    validate_provenance(&ours["predicate"]).unwrap();

    let mut our_shape = BTreeMap::new();
    shape(&ours["predicate"], "predicate", &mut our_shape);

    let gh: Value = serde_json::from_slice(
        &std::fs::read(dir.join("github-actions-workflow-v1-example.json")).unwrap(),
    )
    .unwrap();
    let sp: Value = serde_json::from_slice(
        &std::fs::read(dir.join("sigstore-python-slsa_predicate_v1_0.json")).unwrap(),
    )
    .unwrap();
    validate_provenance(&gh["predicate"]).unwrap();
    validate_provenance(&sp).unwrap();
    let mut compared = 0;
    for example in [&gh["predicate"], &sp] {
        let mut theirs = BTreeMap::new();
        shape(example, "predicate", &mut theirs);
        for (path, ty) in &theirs {
            if let Some(our_ty) = our_shape.get(path) {
                assert_eq!(
                    our_ty, ty,
                    "{path}: custody writes {our_ty}, the example {ty}"
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared >= 12,
        "only {compared} members in common with the examples"
    );

    // Everything the Go bindings and the schema require is there, with the right type.
    for (path, ty) in [
        ("predicate.buildDefinition", "object"),
        ("predicate.buildDefinition.buildType", "string"),
        ("predicate.buildDefinition.externalParameters", "object"),
        ("predicate.buildDefinition.internalParameters", "object"),
        ("predicate.buildDefinition.resolvedDependencies", "array"),
        (
            "predicate.buildDefinition.resolvedDependencies[].digest",
            "object",
        ),
        ("predicate.runDetails.builder.id", "string"),
        ("predicate.runDetails.builder.version", "object"),
        ("predicate.runDetails.metadata.invocationId", "string"),
        ("predicate.runDetails.metadata.startedOn", "string"),
        ("predicate.runDetails.metadata.finishedOn", "string"),
        ("predicate.runDetails.byproducts[].digest", "object"),
        ("predicate.runDetails.byproducts[].mediaType", "string"),
    ] {
        assert_eq!(our_shape.get(path).copied(), Some(ty), "{path}");
    }

    // No member outside the schema's vocabulary (catches e.g. the draft `systemParameters`).
    let vocabulary =
        schema_vocabulary(&std::fs::read_to_string(dir.join("provenance-v1.schema.cue")).unwrap());
    assert!(vocabulary.contains("resolvedDependencies") && vocabulary.contains("byproducts"));
    for path in our_shape.keys() {
        let member = path.rsplit('.').next().unwrap().trim_end_matches("[]");
        if member == "predicate" {
            continue;
        }
        let parent = path.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
        let parent_last = parent
            .rsplit('.')
            .next()
            .unwrap_or("")
            .trim_end_matches("[]");
        if FREE_FORM.contains(&parent_last) {
            continue;
        }
        assert!(
            vocabulary.contains(member),
            "{path}: {member} is not in the SLSA schema"
        );
    }

    // Timestamps are the schema's <YYYY>-<MM>-<DD>T<hh>:<mm>:<ss>Z.
    let started = ours["predicate"]["runDetails"]["metadata"]["startedOn"]
        .as_str()
        .unwrap();
    assert_eq!(started, "2026-01-02T03:04:05Z");
}
