//! Shared helpers for the end-to-end tests: locating the real binaries and test data,
//! building the other input forms of the real images, reading ground truth, and validating
//! CycloneDX documents against the official schemas (offline).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use custody_testkit::{binary, interop, testdata, testdata_or_skip};

pub mod stack;

/// Runs `custody` with `args`, with `SOURCE_DATE_EPOCH` unset unless given in `env`.
pub fn custody(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("custody"));
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A set of `(name, version)` pairs.
pub type NameVersions = BTreeSet<(String, String)>;

/// Ground truth of one image (`truth/` written by make-real-images.sh): for each ecosystem,
/// `(name, version)` → the 1-based stage (layer) that first had it, for the final state.
#[derive(Debug, Default)]
pub struct Truth {
    /// purl type → (name, version) → first stage.
    pub final_state: BTreeMap<&'static str, BTreeMap<(String, String), usize>>,
    /// purl type → stage → the (name, version) set after that stage.
    pub stages: BTreeMap<&'static str, BTreeMap<usize, NameVersions>>,
}

/// PEP 503 normalisation (what the purl spec asks of pypi names, and what pip compares).
pub fn normalize_pypi(name: &str) -> String {
    let mut out = String::new();
    let mut last_dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_dash {
                out.push('-');
            }
            last_dash = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_dash = false;
        }
    }
    out
}

impl Truth {
    /// Reads `dir` (an image's `truth/` folder). `layers` is the image's layer count: files
    /// without a stage number (the binary's crates) belong to the layer that wrote the binary,
    /// the last one.
    pub fn read(dir: &Path, layers: usize) -> Truth {
        let mut truth = Truth::default();
        let mut files: Vec<(usize, &'static str, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "rust-binary-runtime-deps.txt" {
                files.push((layers, "cargo", path));
                continue;
            }
            let Some(rest) = name.strip_prefix("stage") else {
                continue;
            };
            let (n, kind) = rest.split_once('-').unwrap();
            let eco = match kind {
                "dpkg.txt" => "deb",
                "pip.txt" => "pypi",
                "npm.txt" => "npm",
                "cargo.txt" => "cargo",
                _ => continue, // -pip-usrlocal is a subset of -pip
            };
            files.push((n.parse().unwrap(), eco, path));
        }
        files.sort();
        for (stage, eco, path) in files {
            let text = fs::read_to_string(&path).unwrap();
            let set: BTreeSet<(String, String)> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    if eco == "pypi" {
                        let (n, v) = l.split_once("==").unwrap();
                        (normalize_pypi(n), v.to_owned())
                    } else {
                        let f: Vec<&str> = l.split('\t').collect();
                        (f[0].to_owned(), f[1].to_owned())
                    }
                })
                .collect();
            let stages = truth.stages.entry(eco).or_default();
            stages.entry(stage).or_default().extend(set);
        }
        for (eco, stages) in &truth.stages {
            let mut first: BTreeMap<(String, String), usize> = BTreeMap::new();
            for (stage, set) in stages {
                for item in set {
                    first.entry(item.clone()).or_insert(*stage);
                }
            }
            let last = stages.values().last().cloned().unwrap_or_default();
            // Cargo: the lock file and the binary are both in the final image.
            let final_set: BTreeSet<_> = if *eco == "cargo" {
                stages.values().flatten().cloned().collect()
            } else {
                last
            };
            truth.final_state.insert(
                eco,
                first
                    .into_iter()
                    .filter(|(k, _)| final_set.contains(k))
                    .collect(),
            );
        }
        truth
    }
}

/// A component as the tests compare it: purl type, name (pypi normalised), version, and the
/// `custody:layer-index` it claims.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    /// purl type.
    pub ty: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Zero-based introducing layer.
    pub layer: usize,
    /// Whether this is a component a per-layer SBOM marks removed.
    pub removed: bool,
}

/// The components of a CycloneDX document.
pub fn components(doc: &Value) -> Vec<Found> {
    let mut out = Vec::new();
    for c in doc["components"].as_array().unwrap() {
        let purl = c["purl"].as_str().unwrap_or("");
        let ty = purl
            .strip_prefix("pkg:")
            .and_then(|p| p.split('/').next())
            .unwrap_or("")
            .to_owned();
        let prop = |n: &str| {
            c["properties"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == n)
                .and_then(|p| p["value"].as_str())
                .map(str::to_owned)
        };
        let name = c["name"].as_str().unwrap().to_owned();
        out.push(Found {
            name: if ty == "pypi" {
                normalize_pypi(&name)
            } else {
                name
            },
            version: c["version"].as_str().unwrap_or("").to_owned(),
            layer: prop("custody:layer-index").unwrap().parse().unwrap(),
            removed: prop("custody:removed-in").is_some(),
            ty,
        });
    }
    out
}

/// Precision and recall of `found` against `truth`, as (true positives, found, truth).
pub fn score(
    found: &BTreeSet<(String, String)>,
    truth: &BTreeSet<(String, String)>,
) -> (usize, usize, usize) {
    (found.intersection(truth).count(), found.len(), truth.len())
}

/// A JSON-schema validator for CycloneDX `spec` (1.5 or 1.6) from
/// `testdata/cyclonedx/schema`, with the schemas' `$id`s mapped to the local files.
pub fn cyclonedx_validator(testdata: &Path, spec: &str) -> jsonschema::Validator {
    struct Local(PathBuf);
    impl jsonschema::Retrieve for Local {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            let name = uri.as_str().rsplit('/').next().unwrap_or("");
            let path = self.0.join(name);
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(serde_json::from_str(&text)?)
        }
    }
    let dir = testdata.join("cyclonedx/schema");
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(dir.join(format!("bom-{spec}.schema.json"))).unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .with_retriever(Local(dir))
        .build(&schema)
        .unwrap()
}

/// Validation errors of `doc` (empty when valid).
pub fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// `tar -cf out -C dir .`, in Rust (an oci-archive is a tar of the layout folder).
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The decompressed layers, config and manifest of a single-image OCI layout.
pub struct LayoutParts {
    /// The config blob.
    pub config: Vec<u8>,
    /// Each layer's tar bytes, bottom first.
    pub layers: Vec<Vec<u8>>,
}

/// Reads a single-image gzip OCI layout into memory.
pub fn read_layout(dir: &Path) -> LayoutParts {
    let blob = |d: &str| {
        fs::read(
            dir.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config = blob(manifest["config"]["digest"].as_str().unwrap());
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(blob(l["digest"].as_str().unwrap()).as_slice())
                .read_to_end(&mut out)
                .unwrap();
            out
        })
        .collect();
    LayoutParts { config, layers }
}

/// Writes the same image as an OCI layout with zstd layers (same config and DiffIDs).
pub fn write_zstd_layout(parts: &LayoutParts, out: &Path) {
    let blobs = out.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = sha256_hex(bytes);
        fs::write(blobs.join(&d), bytes).unwrap();
        (format!("sha256:{d}"), bytes.len())
    };
    let layers: Vec<Value> = parts
        .layers
        .iter()
        .map(|t| {
            let z = zstd::encode_all(t.as_slice(), 3).unwrap();
            let (d, n) = put(&z);
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": d, "size": n})
        })
        .collect();
    let (cd, cn) = put(&parts.config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": layers,
    });
    let mb = serde_json::to_vec(&manifest).unwrap();
    let (md, mn) = put(&mb);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "1.0"}}]});
    fs::write(out.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Writes the same image as a classic `docker save` archive (`<id>/layer.tar`,
/// `<config>.json`, `manifest.json`), as Docker < 25 writes it.
pub fn write_docker_archive(parts: &LayoutParts, repo_tag: &str, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    let config_name = format!("{}.json", sha256_hex(&parts.config));
    let mut layer_names = Vec::new();
    for t in &parts.layers {
        let name = format!("{}/layer.tar", sha256_hex(t));
        add(&name, t);
        layer_names.push(name);
    }
    add(&config_name, &parts.config);
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
}
