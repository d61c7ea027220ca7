//! `custody scan` and `custody vex` on the real debian-py-node image: the SBOM comes from
//! custody-sbom (through the binary), the advisories are ../shared/testdata/osv plus
//! SYNTHETIC records (IDs `x_custody-synthetic-…`, the OSV schema's private prefix; not real
//! vulnerabilities) aimed at packages really in the image at their real versions, so that
//! every ecosystem is shown to match on real data. The findings must be exactly the expected
//! ones, the statement must verify, and bad input must exit 2.

use std::collections::BTreeMap;
use std::path::Path;

use custody_e2e::custody;
use custody_testkit::testdata_or_skip;
use serde_json::{Value, json};

fn synthetic(dir: &Path) {
    let range = |eco: &str, name: &str, events: Value| json!([{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}]);
    let records = [
        (
            "x_custody-synthetic-urllib3",
            range(
                "PyPI",
                "urllib3",
                json!([{"introduced": "0"}, {"fixed": "2.2.4"}]),
            ),
        ),
        (
            "x_custody-synthetic-glibc",
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u15"}]),
            ),
        ),
        (
            "x_custody-synthetic-glibc-debian11",
            range("Debian:11", "glibc", json!([{"introduced": "0"}])),
        ),
        (
            "x_custody-synthetic-bzip2-binnmu",
            range(
                "Debian:12",
                "bzip2",
                json!([{"introduced": "0"}, {"last_affected": "1.0.8-5"}]),
            ),
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            range(
                "Debian",
                "e2fsprogs",
                json!([{"introduced": "0"}, {"fixed": "1.47.0-3"}]),
            ),
        ),
        (
            "x_custody-synthetic-lodash",
            range(
                "npm",
                "lodash",
                json!([{"introduced": "4.17.0"}, {"fixed": "4.17.22"}]),
            ),
        ),
        (
            "x_custody-synthetic-ms",
            json!([{"package": {"ecosystem": "npm", "name": "ms"}, "versions": ["2.0.0"]}]),
        ),
        (
            "x_custody-synthetic-charset",
            range(
                "PyPI",
                "Charset_Normalizer",
                json!([{"introduced": "0"}, {"fixed": "3.4.1"}]),
            ),
        ),
        (
            "x_custody-synthetic-memchr",
            range(
                "crates.io",
                "memchr",
                json!([{"introduced": "2.0.0"}, {"fixed": "2.7.5"}]),
            ),
        ),
        (
            "x_custody-synthetic-six-removed",
            range("PyPI", "six", json!([{"introduced": "0"}])),
        ),
    ];
    for (id, affected) in records {
        let r = json!({"id": id, "modified": "2026-01-01T00:00:00Z", "summary": "SYNTHETIC test advisory", "affected": affected,
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]});
        std::fs::write(
            dir.join(format!("{id}.json")),
            serde_json::to_vec(&r).unwrap(),
        )
        .unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn payload(envelope: &Path) -> Value {
    let e =
        custody_attest::read_envelope_file(envelope, &custody_attest::Limits::default()).unwrap();
    serde_json::from_slice(e.payload_unverified()).unwrap()
}

/// (finding ID, purl without qualifiers) → how many components.
fn findings(v: &Value) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for f in v["findings"].as_array().unwrap() {
        let purl = f["component"]["purl"]
            .as_str()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        *out.entry((f["id"].as_str().unwrap().to_owned(), purl))
            .or_default() += 1;
    }
    out
}

#[test]
fn scan_of_the_real_image_finds_exactly_the_expected_and_signs_it() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = |p: &str| t.join(p).display().to_string();
    let db = t.join("db");
    copy_dir(&data.join("osv"), &db);
    synthetic(&db);
    assert!(
        custody(&["key", "generate", "--out", &s("scanner")], &[])
            .status
            .success()
    );
    let image = data.join("images/debian-py-node/oci").display().to_string();

    let out = custody(
        &[
            "scan",
            &image,
            "--db",
            &s("db"),
            "--key",
            &s("scanner.key"),
            "--out",
            &s("scan.json"),
            "--sbom-out",
            &s("image.cdx.json"),
            "--output",
            "json",
        ],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    let v = stdout_json(&out);
    let want: BTreeMap<(String, String), usize> = [
        ("x_custody-synthetic-urllib3", "pkg:pypi/urllib3@2.2.3", 1),
        (
            "x_custody-synthetic-glibc",
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14",
            1,
        ),
        (
            "x_custody-synthetic-glibc",
            "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u14",
            1,
        ),
        (
            "x_custody-synthetic-bzip2-binnmu",
            "pkg:deb/debian/libbz2-1.0@1.0.8-5%2Bb1",
            1,
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libcom-err2@1.47.0-2%2Bb2",
            1,
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libext2fs2@1.47.0-2%2Bb2",
            1,
        ),
        (
            "x_custody-synthetic-e2fsprogs",
            "pkg:deb/debian/libss2@1.47.0-2%2Bb2",
            1,
        ),
        ("x_custody-synthetic-lodash", "pkg:npm/lodash@4.17.21", 1),
        ("x_custody-synthetic-ms", "pkg:npm/ms@2.0.0", 1),
        (
            "x_custody-synthetic-charset",
            "pkg:pypi/charset-normalizer@3.4.0",
            1,
        ),
        // The Rust program's crates: recorded in the binary (cargo-auditable) and in /src's
        // Cargo.lock, two components.
        ("x_custody-synthetic-memchr", "pkg:cargo/memchr@2.7.4", 2),
    ]
    .into_iter()
    .map(|(a, b, n)| ((a.to_owned(), b.to_owned()), n))
    .collect();
    assert_eq!(findings(&v), want);
    assert_eq!(v["unevaluated"].as_array().unwrap().len(), 0);
    assert_eq!(v["summary"]["maxSeverity"], "high");

    // The statement: bound to the manifest, the SBOM written next to it, and the snapshot.
    let st = payload(&t.join("scan.json"));
    assert_eq!(
        st["predicateType"],
        "https://in-toto.io/attestation/vulns/v0.1"
    );
    let manifest = v["image"].as_str().unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            st["subject"][0]["digest"]["sha256"].as_str().unwrap()
        ),
        manifest
    );
    let sbom = std::fs::read(t.join("image.cdx.json")).unwrap();
    let sbom_digest = custody_types::Digest::sha256_of(&sbom).to_string();
    assert_eq!(
        st["predicate"]["custody"]["sbom"]["digest"],
        json!(sbom_digest)
    );
    assert_eq!(st["subject"][1]["name"], "sbom");
    assert_eq!(
        st["predicate"]["scanner"]["db"]["version"],
        v["db"]["digest"]
    );
    assert_eq!(
        st["predicate"]["metadata"]["scanFinishedOn"],
        "2026-01-01T00:00:00Z"
    );
    let glibc = st["predicate"]["scanner"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "x_custody-synthetic-glibc")
        .unwrap();
    assert_eq!(glibc["annotations"].as_array().unwrap().len(), 2);
    assert_eq!(glibc["annotations"][0]["fixedVersion"], "2.36-9+deb12u15");
    assert!(
        glibc["annotations"][0]["layer"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(st["predicate"]["custody"]["summary"]["unevaluated"], 0);
    let verify = custody(
        &[
            "dsse",
            "verify",
            "--key",
            &s("scanner.pub"),
            &s("scan.json"),
        ],
        &[],
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The scan is bound to the image SBOM the build provenance names: `custody attest`
    // normalizes the SBOM (compact JSON, custody-attest's SbomDocument) and names its digest
    // as `sbom/image`; `custody scan IMAGE` must hash the same bytes, or the verifier's scan
    // rule denies ("scan covers SBOM X, not the image's SBOM Y").
    let attested = custody(
        &[
            "attest",
            &image,
            "--key",
            &s("scanner.key"),
            "--out",
            &s("attested"),
        ],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    assert!(
        attested.status.success(),
        "{}",
        String::from_utf8_lossy(&attested.stderr)
    );
    let provenance = payload(&t.join("attested/attestations/provenance.intoto.json"));
    let image_sbom = provenance["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rd| rd["name"] == "sbom/image")
        .expect("the provenance names the image SBOM");
    assert_eq!(
        format!(
            "sha256:{}",
            image_sbom["digest"]["sha256"].as_str().unwrap()
        ),
        sbom_digest,
        "custody scan IMAGE and custody attest name the same image SBOM"
    );
    assert_eq!(
        std::fs::read(t.join("attested/sboms/image.cdx.json")).unwrap(),
        sbom,
        "--sbom-out writes the normalized bytes custody attest writes"
    );
    // The same SBOM pretty-printed by `custody sbom` scans under the same digest.
    let pretty = custody(
        &["sbom", &image, "--output", &s("pretty.cdx.json")],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    assert!(
        pretty.status.success(),
        "{}",
        String::from_utf8_lossy(&pretty.stderr)
    );
    let pretty_bytes = std::fs::read(t.join("pretty.cdx.json")).unwrap();
    assert_ne!(pretty_bytes, sbom, "custody sbom writes indented JSON");
    let from_pretty = stdout_json(&custody(
        &[
            "scan",
            &s("pretty.cdx.json"),
            "--digest",
            manifest,
            "--db",
            &s("db"),
            "--key",
            &s("scanner.key"),
            "--out",
            &s("scan-pretty.json"),
            "--output",
            "json",
        ],
        &[],
    ));
    assert_eq!(from_pretty["sbom"], json!(sbom_digest));
    assert_eq!(findings(&from_pretty), want);

    // Scanning the written SBOM gives the same findings and the same SBOM digest (its
    // metadata names the manifest digest).
    let again = stdout_json(&custody(
        &[
            "scan",
            &s("image.cdx.json"),
            "--db",
            &s("db"),
            "--key",
            &s("scanner.key"),
            "--out",
            &s("scan2.json"),
            "--output",
            "json",
        ],
        &[],
    ));
    assert_eq!(findings(&again), want);
    assert_eq!(again["sbom"], json!(sbom_digest));
    assert_eq!(again["image"], v["image"]);

    // SARIF for CI, and --fail-on.
    let sarif = stdout_json(&custody(
        &[
            "scan",
            &s("image.cdx.json"),
            "--db",
            &s("db"),
            "--key",
            &s("scanner.key"),
            "--out",
            &s("scan3.json"),
            "--output",
            "sarif",
        ],
        &[],
    ));
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 12);
    let fail = custody(
        &[
            "scan",
            &s("image.cdx.json"),
            "--db",
            &s("db"),
            "--key",
            &s("scanner.key"),
            "--out",
            &s("scan4.json"),
            "--fail-on",
            "high",
        ],
        &[],
    );
    assert_eq!(fail.status.code(), Some(1));
    assert!(
        t.join("scan4.json").is_file(),
        "the statement is signed even when the gate fails"
    );

    // VEX: a signed OpenVEX statement for the image.
    let vex = custody(
        &[
            "vex",
            "--product",
            manifest,
            "--vuln",
            "x_custody-synthetic-lodash",
            "--status",
            "not_affected",
            "--justification",
            "vulnerable_code_not_in_execute_path",
            "--key",
            &s("scanner.key"),
            "--out",
            &s("vex.json"),
        ],
        &[],
    );
    assert!(
        vex.status.success(),
        "{}",
        String::from_utf8_lossy(&vex.stderr)
    );
    let vs = payload(&t.join("vex.json"));
    assert_eq!(vs["predicateType"], "https://openvex.dev/ns/v0.2.0");
    assert_eq!(
        vs["subject"][0]["digest"]["sha256"]
            .as_str()
            .map(|h| format!("sha256:{h}"))
            .as_deref(),
        Some(manifest)
    );
    let statement = &vs["predicate"]["statements"][0];
    assert_eq!(statement["status"], "not_affected");
    assert_eq!(
        statement["justification"],
        "vulnerable_code_not_in_execute_path"
    );
    assert_eq!(statement["products"][0]["@id"], manifest);
    let verify = custody(
        &["dsse", "verify", "--key", &s("scanner.pub"), &s("vex.json")],
        &[],
    );
    assert!(verify.status.success());
}

#[test]
fn bad_input_exits_2_with_a_reason() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = |p: &str| t.join(p).display().to_string();
    assert!(
        custody(&["key", "generate", "--out", &s("k")], &[])
            .status
            .success()
    );
    let osv = data.join("osv").display().to_string();
    // An SBOM that names no image digest.
    std::fs::write(
        t.join("bare.json"),
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#,
    )
    .unwrap();
    let out = custody(
        &[
            "scan",
            &s("bare.json"),
            "--db",
            &osv,
            "--key",
            &s("k.key"),
            "--out",
            &s("o.json"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: pass --digest"));
    // Not CycloneDX.
    std::fs::write(t.join("spdx.json"), br#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    let out = custody(
        &[
            "scan",
            &s("spdx.json"),
            "--db",
            &osv,
            "--key",
            &s("k.key"),
            "--out",
            &s("o.json"),
            "--digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bomFormat"));
    // A database with nothing usable.
    std::fs::create_dir(t.join("empty")).unwrap();
    let out = custody(
        &[
            "scan",
            &s("bare.json"),
            "--db",
            &s("empty"),
            "--key",
            &s("k.key"),
            "--out",
            &s("o.json"),
            "--digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no valid OSV records"));
    assert!(
        !t.join("o.json").exists(),
        "no statement is written when the scan fails"
    );
    // An SBOM naming one image cannot be bound to another.
    let data_sbom = t.join("named.json");
    std::fs::write(&data_sbom, br#"{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"type":"container","name":"x","version":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}},"components":[]}"#).unwrap();
    let out = custody(
        &[
            "scan",
            &s("named.json"),
            "--db",
            &osv,
            "--key",
            &s("k.key"),
            "--out",
            &s("o.json"),
            "--digest",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("describes image"));
    // VEX rules.
    let out = custody(
        &[
            "vex",
            "--product",
            "pkg:npm/a@1",
            "--vuln",
            "CVE-1",
            "--status",
            "fixed",
            "--key",
            &s("k.key"),
            "--out",
            &s("v.json"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = custody(
        &[
            "vex",
            "--product",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "--vuln",
            "CVE-1",
            "--status",
            "not_affected",
            "--key",
            &s("k.key"),
            "--out",
            &s("v.json"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!t.join("v.json").exists());
}
