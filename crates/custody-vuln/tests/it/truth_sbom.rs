//! An SBOM of the real debian-py-node image built from its ground-truth package lists and the
//! `Source:` fields of its real dpkg database (read from the image's second layer), as
//! custody-sbom or syft would write it. Shared by the integration tests and the benchmark.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use custody_types::sbom_properties::{INTRODUCED_IN, TRIVY_SRC_NAME, TRIVY_SRC_VERSION};
use serde_json::{Value, json};

pub(crate) struct Image {
    pub(crate) diff_ids: Vec<String>,
    /// binary package → (source name, source version if different)
    pub(crate) sources: BTreeMap<String, (String, Option<String>)>,
}

pub(crate) fn read_image(dir: &Path) -> Image {
    let blob = |d: &str| {
        dir.join("oci/blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci/index.json")).unwrap()).unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let config: Value = serde_json::from_slice(
        &std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    // The dpkg database as layer 2 (apt-get install) left it; layers 3 and 4 do not touch it.
    let layer = blob(manifest["layers"][1]["digest"].as_str().unwrap());
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(layer).unwrap(),
    ));
    let mut status = String::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("var/lib/dpkg/status") {
            e.read_to_string(&mut status).unwrap();
        }
    }
    let mut sources = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_owned))
        };
        if let (Some(p), Some(src)) = (field("Package"), field("Source")) {
            let (name, ver) = match src.split_once(" (") {
                Some((n, v)) => (n.to_owned(), Some(v.trim_end_matches(')').to_owned())),
                None => (src, None),
            };
            sources.insert(p, (name, ver));
        }
    }
    Image { diff_ids, sources }
}

/// The stage (1-based layer) at which each line first appears.
fn first_stage(
    truth: &Path,
    suffix: &str,
    key: impl Fn(&str) -> String,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for stage in 1..=4 {
        let Ok(text) = std::fs::read_to_string(truth.join(format!("stage{stage}-{suffix}.txt")))
        else {
            continue;
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            out.entry(key(line)).or_insert(stage);
        }
    }
    out
}

/// A CycloneDX 1.6 SBOM of the image's final filesystem, as custody-sbom or syft would
/// write it. Debian sources are given as trivy-style properties for half of the packages and
/// as syft's purl `upstream` qualifier for the other half, to exercise both.
pub(crate) fn sbom(dir: &Path, image: &Image) -> Vec<u8> {
    let truth = dir.join("truth");
    let mut comps = vec![json!({"type": "operating-system", "name": "debian", "version": "12"})];
    let layer = |stage: usize| image.diff_ids[stage - 1].clone();
    let dpkg_stage = first_stage(&truth, "dpkg", |l| l.split('\t').next().unwrap().to_owned());
    for (i, line) in std::fs::read_to_string(truth.join("stage4-dpkg.txt"))
        .unwrap()
        .lines()
        .enumerate()
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, version, arch) = (f[0], f[1], f[2]);
        let mut props = vec![json!({"name": INTRODUCED_IN, "value": layer(dpkg_stage[name])})];
        let mut purl = format!(
            "pkg:deb/debian/{name}@{}?arch={arch}&distro=debian-12",
            version.replace('+', "%2B").replace(':', "%3A")
        );
        if let Some((src, src_ver)) = image.sources.get(name) {
            if i % 2 == 0 {
                props.push(json!({"name": TRIVY_SRC_NAME, "value": src}));
                props.push(json!({"name": TRIVY_SRC_VERSION, "value": src_ver.clone().unwrap_or_else(|| version.to_owned())}));
            } else {
                let up = match src_ver {
                    Some(v) => format!("{src}@{v}"),
                    None => src.clone(),
                };
                purl.push_str(&format!(
                    "&upstream={}",
                    up.replace('+', "%2B")
                        .replace('@', "%40")
                        .replace(':', "%3A")
                ));
            }
        }
        comps.push(json!({"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl, "properties": props}));
    }
    let pip_stage = first_stage(&truth, "pip", |l| l.to_owned());
    for line in std::fs::read_to_string(truth.join("stage4-pip.txt"))
        .unwrap()
        .lines()
    {
        let (name, version) = line.split_once("==").unwrap();
        let purl = format!("pkg:pypi/{name}@{version}");
        comps.push(json!({"type": "library", "bom-ref": purl, "name": name, "version": version, "purl": purl,
            "properties": [{"name": INTRODUCED_IN, "value": layer(pip_stage[line])}]}));
    }
    for line in std::fs::read_to_string(truth.join("stage4-npm.txt"))
        .unwrap()
        .lines()
    {
        let f: Vec<&str> = line.split('\t').collect();
        let purl = format!("pkg:npm/{}@{}", f[0], f[1]);
        comps.push(json!({"type": "library", "bom-ref": format!("{purl}#{}", f[2]), "name": f[0], "version": f[1], "purl": purl,
            "properties": [{"name": INTRODUCED_IN, "value": layer(4)}]}));
    }
    for line in std::fs::read_to_string(truth.join("stage4-cargo.txt"))
        .unwrap()
        .lines()
    {
        let f: Vec<&str> = line.split('\t').collect();
        let purl = format!("pkg:cargo/{}@{}", f[0], f[1]);
        comps.push(
            json!({"type": "library", "bom-ref": purl, "name": f[0], "version": f[1], "purl": purl,
            "properties": [{"name": INTRODUCED_IN, "value": layer(4)}]}),
        );
    }
    serde_json::to_vec(&json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {"type": "container", "name": "debian-py-node"}}, "components": comps}))
    .unwrap()
}
