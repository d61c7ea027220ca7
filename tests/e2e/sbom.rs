//! `custody sbom` on the real images of `../shared/testdata/images` (README there: built
//! from Debian packages, ground truth per layer in `truth/`), in every input form custody
//! reads: OCI layout, oci-archive, classic docker-archive, Docker 25+ archive and zstd
//! layers. Recall and precision must be 100% for deb, Python, npm and Rust components, and
//! every component must name the layer that introduced it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use custody_e2e::{
    Found, Truth, components, custody, cyclonedx_validator, read_layout, schema_errors, score,
    tar_dir, write_docker_archive, write_zstd_layout,
};
use serde_json::Value;

/// One input form of a real image.
struct Form {
    label: String,
    path: PathBuf,
    truth: PathBuf,
    layers: usize,
}

struct Forms {
    _tmp: tempfile::TempDir,
    forms: Vec<Form>,
}

/// Every form, built once per test run from the checked-in images.
fn forms(data: &Path) -> &'static [Form] {
    static FORMS: OnceLock<Forms> = OnceLock::new();
    &FORMS
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path();
            let mut forms = Vec::new();
            for (image, layers) in [("debian-py-node", 4), ("distroless-cc", 2)] {
                let dir = data.join("images").join(image);
                let truth = dir.join("truth");
                let mut add = |label: &str, path: PathBuf| {
                    forms.push(Form {
                        label: format!("{image} {label}"),
                        path,
                        truth: truth.clone(),
                        layers,
                    });
                };
                add("oci-layout", dir.join("oci"));
                let archive = t.join(format!("{image}.oci.tar"));
                tar_dir(&dir.join("oci"), &archive);
                add("oci-archive", archive);
                let parts = read_layout(&dir.join("oci"));
                if image == "distroless-cc" {
                    add("docker-archive", dir.join("docker-archive.tar"));
                } else {
                    let classic = t.join(format!("{image}.docker.tar"));
                    write_docker_archive(&parts, &format!("localhost/{image}:1.0"), &classic);
                    add("docker-archive", classic);
                }
                let zstd = t.join(format!("{image}-zstd"));
                write_zstd_layout(&parts, &zstd);
                add("oci-layout zstd", zstd);
                // Docker 25+ layout, written by the shared tool (pure Python, offline).
                let d25 = t.join(format!("{image}.docker25.tar"));
                let ok = Command::new("python3")
                    .arg(data.join("../tools/oci_to_docker25.py"))
                    .arg(dir.join("oci"))
                    .arg(format!("localhost/{image}:1.0"))
                    .arg(&d25)
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    add("docker25-archive", d25);
                } else {
                    custody_testkit::skip(
                        "docker25 form",
                        "python3 or oci_to_docker25.py unavailable",
                    );
                }
            }
            Forms { _tmp: tmp, forms }
        })
        .forms
}

/// Runs `custody sbom` on a form; returns the image document and the per-layer documents.
fn sbom(form: &Path, extra: &[&str]) -> (Value, Vec<Value>, String) {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("image.cdx.json");
    let layers = out.path().join("layers");
    let mut args = vec![
        "sbom",
        form.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
        "--layers-dir",
        layers.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = custody(&args, &[]);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(
        run.status.success(),
        "custody sbom {}: {stderr}",
        form.display()
    );
    assert!(run.stdout.is_empty(), "-o writes nothing to stdout");
    let doc: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    let mut per_layer = Vec::new();
    let diff_ids: Vec<String> = doc_diff_ids(&doc);
    for d in &diff_ids {
        let p = layers.join(format!("{}.cdx.json", d.trim_start_matches("sha256:")));
        per_layer.push(serde_json::from_slice(&fs::read(&p).unwrap()).unwrap());
    }
    (doc, per_layer, stderr)
}

/// The DiffIDs of the image, bottom first, from the components' layer properties.
fn doc_diff_ids(doc: &Value) -> Vec<String> {
    let mut by_index: BTreeMap<usize, String> = BTreeMap::new();
    for c in doc["components"].as_array().unwrap() {
        let props = c["properties"].as_array().unwrap();
        let get = |n: &str| {
            props
                .iter()
                .find(|p| p["name"] == n)
                .and_then(|p| p["value"].as_str())
        };
        let i: usize = get("custody:layer-index").unwrap().parse().unwrap();
        by_index.insert(i, get("custody:introduced-in").unwrap().to_owned());
    }
    by_index.into_values().collect()
}

const ECOSYSTEMS: [&str; 4] = ["deb", "pypi", "npm", "cargo"];

#[test]
fn every_form_has_full_recall_precision_and_the_introducing_layer() {
    let data = custody_testkit::testdata_or_skip!();
    let mut report = Vec::new();
    for form in forms(&data) {
        let truth = Truth::read(&form.truth, form.layers);
        let (doc, _, stderr) = sbom(&form.path, &[]);
        assert!(!stderr.contains("warning:"), "{}: {stderr}", form.label);
        let found = components(&doc);
        let mut line = format!("{}:", form.label);
        for eco in ECOSYSTEMS {
            let Some(expected) = truth.final_state.get(eco) else {
                assert!(
                    found.iter().all(|f| f.ty != eco),
                    "{}: unexpected {eco}",
                    form.label
                );
                continue;
            };
            let mine: Vec<&Found> = found.iter().filter(|f| f.ty == eco).collect();
            let set: BTreeSet<(String, String)> = mine
                .iter()
                .map(|f| (f.name.clone(), f.version.clone()))
                .collect();
            let want: BTreeSet<(String, String)> = expected.keys().cloned().collect();
            let (tp, n_found, n_truth) = score(&set, &want);
            let missed: Vec<_> = want.difference(&set).collect();
            let extra: Vec<_> = set.difference(&want).collect();
            assert!(
                missed.is_empty() && extra.is_empty(),
                "{} {eco}: missed {missed:?}, extra {extra:?}",
                form.label
            );
            // Every occurrence (a crate in both the lock file and the binary counts twice)
            // names the layer the ground truth says introduced it.
            let mut wrong = Vec::new();
            for f in &mine {
                let stage = expected[&(f.name.clone(), f.version.clone())];
                if f.layer + 1 != stage {
                    wrong.push(format!(
                        "{} {} layer {} (truth {})",
                        f.name,
                        f.version,
                        f.layer,
                        stage - 1
                    ));
                }
            }
            assert!(
                wrong.is_empty(),
                "{} {eco}: wrong layer: {wrong:?}",
                form.label
            );
            line.push_str(&format!(
                " {eco} recall {tp}/{n_truth} precision {tp}/{n_found} layers {}/{}",
                mine.len(),
                mine.len()
            ));
        }
        report.push(line);
    }
    // One line per form, for the benchmark and the report.
    custody_testkit::skip("report", &format!("\n{}", report.join("\n")));
}

#[test]
fn per_layer_sboms_say_what_each_layer_added_and_removed() {
    let data = custody_testkit::testdata_or_skip!();
    let form = &forms(&data)[0];
    let truth = Truth::read(&form.truth, form.layers);
    let (_, layers, _) = sbom(&form.path, &[]);
    assert_eq!(layers.len(), 4);
    for eco in ["deb", "pypi"] {
        let stages = &truth.stages[eco];
        let empty = BTreeSet::new();
        for (i, doc) in layers.iter().enumerate() {
            let stage = i + 1;
            let before = (1..stage)
                .rev()
                .find_map(|s| stages.get(&s))
                .unwrap_or(&empty);
            let after = (1..=stage)
                .rev()
                .find_map(|s| stages.get(&s))
                .unwrap_or(&empty);
            let comps = components(doc);
            let added: BTreeSet<(String, String)> = comps
                .iter()
                .filter(|f| f.ty == eco && !f.removed)
                .map(|f| (f.name.clone(), f.version.clone()))
                .collect();
            let removed: BTreeSet<(String, String)> = comps
                .iter()
                .filter(|f| f.ty == eco && f.removed)
                .map(|f| (f.name.clone(), f.version.clone()))
                .collect();
            let want_added: BTreeSet<_> = after.difference(before).cloned().collect();
            let want_removed: BTreeSet<_> = before.difference(after).cloned().collect();
            assert_eq!(added, want_added, "layer {i} {eco} added");
            assert_eq!(removed, want_removed, "layer {i} {eco} removed");
        }
    }
    // The removals the README names: e2fsprogs and logsave purged in layer 2, six
    // uninstalled by pip in layer 4.
    let removed = |i: usize| -> Vec<String> {
        components(&layers[i])
            .into_iter()
            .filter(|f| f.removed)
            .map(|f| f.name)
            .collect()
    };
    assert_eq!(removed(1), ["e2fsprogs", "logsave"]);
    assert_eq!(removed(3), ["six"]);
    // Each per-layer document describes its layer, not the image.
    let meta = &layers[2]["metadata"]["component"];
    assert_eq!(meta["type"], "file");
    assert!(meta["name"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn right_where_syft_and_trivy_are_wrong() {
    let data = custody_testkit::testdata_or_skip!();
    let (doc, _, _) = sbom(&data.join("images/debian-py-node/oci"), &[]);
    let found = components(&doc);
    let has = |ty: &str, name: &str| {
        found
            .iter()
            .filter(|f| f.ty == ty && f.name == name)
            .collect::<Vec<_>>()
    };
    // trivy misses the Python distributions Debian's python3-pip and friends install.
    for name in ["pip", "setuptools", "wheel"] {
        let f = has("pypi", name);
        assert_eq!(f.len(), 1, "{name}");
        assert_eq!(
            f[0].layer, 1,
            "{name} came with apt-get install python3-pip"
        );
    }
    // syft reads only the binary: the Cargo.lock crates (build-time ones too) count.
    for name in [
        "proc-macro2",
        "quote",
        "syn",
        "serde_derive",
        "unicode-ident",
    ] {
        assert_eq!(has("cargo", name).len(), 1, "{name}");
    }
    // The Debian pip is tied to its deb, so a Python advisory for pip finds it and a
    // Debian advisory for python3-pip explains it.
    let pip = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pip")
        .unwrap();
    let owner = pip["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "custody:owned-by")
        .unwrap()["value"]
        .as_str()
        .unwrap();
    assert!(
        owner.starts_with("pkg:deb/debian/python3-pip@23.0.1"),
        "{owner}"
    );
    let edge = doc["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"] == owner)
        .unwrap();
    assert!(
        edge["dependsOn"]
            .as_array()
            .unwrap()
            .contains(&pip["bom-ref"])
    );
    // ca-certificates: installed in layer 2 (the status file rewrite does not move base
    // packages to layer 2, and the later layers do not move it).
    assert_eq!(has("deb", "ca-certificates")[0].layer, 1);
    assert_eq!(has("deb", "bash")[0].layer, 0);
}

#[test]
fn every_document_is_valid_cyclonedx_and_spdx_is_well_formed() {
    let data = custody_testkit::testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (spec, form) in [
        ("1.6", &forms(&data)[0]),
        ("1.5", &forms(&data)[0]),
        ("1.6", &forms(&data)[5]),
    ] {
        let validator = cyclonedx_validator(&data, spec);
        let (doc, layers, _) = sbom(&form.path, &["--spec-version", spec]);
        assert_eq!(doc["specVersion"], spec);
        for (i, d) in std::iter::once(&doc).chain(&layers).enumerate() {
            let errors = schema_errors(&validator, d);
            assert!(
                errors.is_empty(),
                "{} {spec} doc {i}: {errors:?}",
                form.label
            );
            let f = tmp.path().join(format!("{}-{spec}-{i}.json", files.len()));
            fs::write(&f, serde_json::to_vec(d).unwrap()).unwrap();
            files.push(f);
        }
    }
    // The interop validator (cyclonedx-python-lib, strict) agrees.
    if let Some((python, tools)) = custody_testkit::interop("cyclonedx interop") {
        let out = Command::new(python)
            .arg(tools.join("cdx_validate.py"))
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // SPDX 2.3: the fields every SPDX consumer requires, and every relationship resolves.
    let out = custody(
        &[
            "sbom",
            forms(&data)[0].path.to_str().unwrap(),
            "--format",
            "spdx-json",
        ],
        &[],
    );
    assert!(out.status.success());
    let spdx: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["dataLicense"], "CC0-1.0");
    assert!(
        spdx["documentNamespace"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let ids: BTreeSet<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        spdx["packages"].as_array().unwrap().len(),
        "unique SPDXIDs"
    );
    for r in spdx["relationships"].as_array().unwrap() {
        let a = r["spdxElementId"].as_str().unwrap();
        let b = r["relatedSpdxElement"].as_str().unwrap();
        assert!(a == "SPDXRef-DOCUMENT" || ids.contains(a), "{a}");
        assert!(ids.contains(b), "{b}");
    }
    let refs: BTreeSet<&str> = spdx["hasExtractedLicensingInfos"]
        .as_array()
        .map(|a| a.iter().map(|l| l["licenseId"].as_str().unwrap()).collect())
        .unwrap_or_default();
    for p in spdx["packages"].as_array().unwrap() {
        let declared = p["licenseDeclared"].as_str().unwrap();
        for word in declared
            .split([' ', '(', ')'])
            .filter(|w| w.starts_with("LicenseRef-"))
        {
            assert!(
                refs.contains(word),
                "{word} is declared in hasExtractedLicensingInfos"
            );
        }
    }
}

#[test]
fn output_is_byte_identical_and_timestamps_are_reproducible() {
    let data = custody_testkit::testdata_or_skip!();
    let path = data.join("images/distroless-cc/oci");
    let p = path.to_str().unwrap();
    let a = custody(&["sbom", p], &[]);
    let b = custody(&["sbom", p], &[]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout, "same image, same bytes");
    let doc: Value = serde_json::from_slice(&a.stdout).unwrap();
    // No SOURCE_DATE_EPOCH: the image config's creation time, at whole seconds.
    let config: Value = serde_json::from_slice(&read_layout(&path).config).unwrap();
    let created = config["created"].as_str().unwrap();
    let expected = format!("{}Z", &created[..19]);
    assert_eq!(doc["metadata"]["timestamp"], expected.as_str());
    let c = custody(&["sbom", p], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let doc_c: Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(doc_c["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_ne!(
        doc["serialNumber"], doc_c["serialNumber"],
        "serial follows content"
    );
    // The docker-archive of the same image has other layer blobs, so another document.
    let d = custody(
        &[
            "sbom",
            data.join("images/distroless-cc/docker-archive.tar")
                .to_str()
                .unwrap(),
        ],
        &[],
    );
    assert_ne!(a.stdout, d.stdout);
}

#[test]
fn table_output_snapshot() {
    let data = custody_testkit::testdata_or_skip!();
    let out = custody(
        &[
            "sbom",
            data.join("images/distroless-cc/oci").to_str().unwrap(),
            "--format",
            "table",
        ],
        &[],
    );
    assert!(out.status.success());
    insta::assert_snapshot!(
        "distroless_cc_table",
        String::from_utf8(out.stdout).unwrap()
    );
    let out = custody(
        &[
            "sbom",
            data.join("images/debian-py-node/oci").to_str().unwrap(),
            "--format",
            "table",
        ],
        &[],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // The Python part of debian-py-node: three from Debian (layer 1), seven from pip.
    let python: Vec<&str> = text.lines().filter(|l| l.contains(" pypi ")).collect();
    insta::assert_snapshot!("debian_py_node_python_rows", python.join("\n"));
}

#[test]
fn cyclonedx_excerpt_snapshot() {
    let data = custody_testkit::testdata_or_skip!();
    let out = custody(
        &[
            "sbom",
            data.join("images/distroless-cc/oci").to_str().unwrap(),
        ],
        &[],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pick = |name: &str| {
        doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    let excerpt = serde_json::json!({
        "bomFormat": doc["bomFormat"],
        "specVersion": doc["specVersion"],
        "serialNumber": doc["serialNumber"],
        "metadata": doc["metadata"],
        "components": [pick("libssl3"), pick("serde_json"), pick("debian")],
        "dependencies": doc["dependencies"].as_array().unwrap().iter().take(2).collect::<Vec<_>>(),
    });
    insta::assert_json_snapshot!("distroless_cc_cyclonedx_excerpt", excerpt, {
        ".serialNumber" => "[serial]",
        ".metadata.timestamp" => "[timestamp]",
        ".metadata.tools.components[].version" => "[version]",
    });
}

#[test]
fn errors_exit_2_and_name_the_problem() {
    let data = custody_testkit::testdata_or_skip!();
    let out = custody(&["sbom", "/nonexistent/image"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("/nonexistent/image"), "{err}");
    // A layer blob whose bytes do not match its digest: refused, naming the layer; no
    // output file is left behind.
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("oci");
    copy_dir(&data.join("images/distroless-cc/oci"), &layout);
    let blob = layout
        .join("blobs/sha256/1f91a1246e9d58c73bbe5abd9a32a504fedc29248992833635ec97056a02e380");
    let mut bytes = fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let target = tmp.path().join("out.json");
    let out = custody(
        &[
            "sbom",
            layout.to_str().unwrap(),
            "-o",
            target.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("layer 1"), "{err}");
    assert!(!target.exists(), "no partial output");
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no temporary files left"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
            let mut perms = fs::metadata(&dest).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&dest, perms).unwrap();
        }
    }
}
