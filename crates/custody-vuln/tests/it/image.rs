//! The real debian-py-node image: an SBOM built from its ground-truth package lists (and the
//! `Source:` fields of its real dpkg database, read from the image's layer), scanned against
//! the testdata OSV records plus SYNTHETIC advisories that target packages actually in the
//! image at their real versions, with exactly the expected findings.
//!
//! The synthetic records (IDs `x_custody-synthetic-…`, the OSV schema's private prefix) are
//! not real vulnerabilities; they exist to prove each ecosystem matches on real package data.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use custody_testkit::testdata_or_skip;
use custody_types::sbom_properties::{INTRODUCED_IN, TRIVY_SRC_NAME, TRIVY_SRC_VERSION};
use custody_vuln::cyclonedx::read_cyclonedx;
use custody_vuln::{AdvisoryDb, SeverityLevel};
use serde_json::{Value, json};

use crate::support::{json_files, record};

struct Image {
    diff_ids: Vec<String>,
    /// binary package → (source name, source version if different)
    sources: BTreeMap<String, (String, Option<String>)>,
}

fn read_image(dir: &Path) -> Image {
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
fn sbom(dir: &Path, image: &Image) -> Vec<u8> {
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

fn range(eco: &str, name: &str, events: Value) -> Value {
    json!([{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}])
}

fn synthetic() -> Vec<(String, Vec<u8>)> {
    let cvss_critical = json!({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]});
    let none = json!({});
    let records = vec![
        (
            "x_custody-synthetic-urllib3",
            range(
                "PyPI",
                "urllib3",
                json!([{"introduced": "0"}, {"fixed": "2.2.4"}]),
            ),
            json!({"database_specific": {"severity": "MODERATE"}}),
        ),
        (
            "x_custody-synthetic-glibc",
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u15"}]),
            ),
            cvss_critical.clone(),
        ),
        (
            "x_custody-synthetic-glibc-fixed",
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u14"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-glibc-debian11",
            range("Debian:11", "glibc", json!([{"introduced": "0"}])),
            none.clone(),
        ),
        (
            "x_custody-synthetic-bzip2-binnmu",
            range(
                "Debian:12",
                "bzip2",
                json!([{"introduced": "0"}, {"last_affected": "1.0.8-5"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            range(
                "Debian",
                "e2fsprogs",
                json!([{"introduced": "0"}, {"fixed": "1.47.0-3"}]),
            ),
            json!({"affected": [{"package": {"ecosystem": "Debian", "name": "e2fsprogs"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.47.0-3"}]}], "ecosystem_specific": {"urgency": "low"}}]}),
        ),
        (
            "x_custody-synthetic-lodash",
            range(
                "npm",
                "lodash",
                json!([{"introduced": "4.17.0"}, {"fixed": "4.17.22"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-lodash-last-affected",
            range(
                "npm",
                "lodash",
                json!([{"introduced": "0"}, {"last_affected": "4.17.20"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-ms",
            json!([{"package": {"ecosystem": "npm", "name": "ms"}, "versions": ["2.0.0"]}]),
            none.clone(),
        ),
        (
            "x_custody-synthetic-charset",
            range(
                "PyPI",
                "Charset_Normalizer",
                json!([{"introduced": "0"}, {"fixed": "3.4.1"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-memchr",
            range(
                "crates.io",
                "memchr",
                json!([{"introduced": "2.0.0"}, {"fixed": "2.7.5"}]),
            ),
            none.clone(),
        ),
        (
            "x_custody-synthetic-six-removed",
            range("PyPI", "six", json!([{"introduced": "0"}])),
            none.clone(),
        ),
        (
            "x_custody-synthetic-logsave-purged",
            range("Debian:12", "logsave", json!([{"introduced": "0"}])),
            none,
        ),
    ];
    records
        .into_iter()
        .map(|(id, affected, extra)| (format!("synthetic/{id}.json"), record(id, affected, extra)))
        .collect()
}

#[test]
fn debian_py_node_gives_exactly_the_expected_findings() {
    let testdata = testdata_or_skip!();
    let dir = testdata.join("images/debian-py-node");
    let image = read_image(&dir);
    let doc = read_cyclonedx(&sbom(&dir, &image)).unwrap();
    assert!(doc.components.len() > 200, "{}", doc.components.len());

    let mut records: Vec<(String, Vec<u8>)> = json_files(&testdata.join("osv"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    records.extend(synthetic());
    let db = AdvisoryDb::from_records(records);
    let report = db.scan(&doc);

    assert!(report.unevaluated.is_empty(), "{:#?}", report.unevaluated);
    assert_eq!(report.not_packages, 1);
    let got: BTreeSet<(String, String)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.component
                    .purl
                    .clone()
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("x_custody-synthetic-urllib3", "pkg:pypi/urllib3@2.2.3"),
        (
            "x_custody-synthetic-glibc",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14",
        ),
        (
            "x_custody-synthetic-glibc",
            "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u14",
        ),
        (
            "x_custody-synthetic-bzip2-binnmu",
            "pkg:deb/debian/libbz2-1.0@1.0.8-5%2Bb1",
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libcom-err2@1.47.0-2%2Bb2",
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libext2fs2@1.47.0-2%2Bb2",
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libss2@1.47.0-2%2Bb2",
        ),
        ("x_custody-synthetic-lodash", "pkg:npm/lodash@4.17.21"),
        ("x_custody-synthetic-ms", "pkg:npm/ms@2.0.0"),
        (
            "x_custody-synthetic-charset",
            "pkg:pypi/charset-normalizer@3.4.0",
        ),
        ("x_custody-synthetic-memchr", "pkg:cargo/memchr@2.7.4"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(
        got,
        want,
        "missing: {:?}\nextra: {:?}",
        want.difference(&got).collect::<Vec<_>>(),
        got.difference(&want).collect::<Vec<_>>()
    );

    // Layer attribution, fixed versions and severities travel with the findings.
    let find = |id: &str, name: &str| {
        report
            .findings
            .iter()
            .find(|f| f.id == id && f.component.name == name)
            .unwrap()
    };
    let urllib3 = find("x_custody-synthetic-urllib3", "urllib3");
    assert_eq!(
        urllib3.component.layer.as_deref(),
        Some(image.diff_ids[2].as_str())
    );
    assert_eq!(urllib3.fixed.as_deref(), Some("2.2.4"));
    assert_eq!(urllib3.severity.level, Some(SeverityLevel::Medium));
    let libc = find("x_custody-synthetic-glibc", "libc6");
    assert_eq!(
        libc.component.layer.as_deref(),
        Some(image.diff_ids[0].as_str())
    );
    assert_eq!(
        (libc.package.name.as_str(), libc.package.version.as_str()),
        ("glibc", "2.36-9+deb12u14")
    );
    assert_eq!(libc.severity.level, Some(SeverityLevel::Critical));
    let bz = find("x_custody-synthetic-bzip2-binnmu", "libbz2-1.0");
    assert_eq!(
        bz.package.version, "1.0.8-5",
        "compared by source version, not the binNMU's"
    );
    assert_eq!(
        find("x_custody-synthetic-e2fsprogs", "libss2")
            .severity
            .level,
        Some(SeverityLevel::Low)
    );
    assert_eq!(
        find("x_custody-synthetic-lodash", "lodash")
            .component
            .layer
            .as_deref(),
        Some(image.diff_ids[3].as_str())
    );
    assert_eq!(
        report.findings[0].severity.level,
        Some(SeverityLevel::Critical),
        "most severe first"
    );
}
