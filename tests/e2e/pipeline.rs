//! The whole main job through the real binaries, step for step as `scripts/quickstart` runs
//! it: keys for every role, a ledger on SQLite, a base image cut from the first two layers of
//! debian-py-node and attested by the base library, the app attested on it by CI, scanned,
//! reviewed twice, submitted (attest directories and loose envelopes in one batch), verified
//! online by path and by digest, bundled by digest alone, verified offline with the ledger
//! stopped, and an auditor's purl query naming the image and the layer that brought the
//! package in. Each step's exit code and output are checked.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use custody_e2e::stack::{Run, Service, custody, cut_base_layout, generate_keys, ledger_admin};
use custody_e2e::testdata_or_skip;
use custody_types::Digest;
use serde_json::Value;

fn args<'a>(parts: &'a [&'a dyn AsRef<OsStr>]) -> Vec<&'a OsStr> {
    parts.iter().map(|p| p.as_ref()).collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn start_ledger(data: &Path, log: &Path) -> Service {
    Service::start(
        "custody-ledger",
        &args(&[
            &"serve",
            &"--data-dir",
            &data,
            &"--listen",
            &"127.0.0.1:0",
            &"--rate-limit",
            &"0",
        ]),
        log,
    )
}

/// The files `index.json` lists, by kind.
fn listed(index: &Value, kind: &str) -> Vec<Value> {
    index["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .cloned()
        .collect()
}

/// The attest directory holds the image's exact manifest and config, listed with their
/// digests and media types.
fn check_image_files(dir: &Path, image: &Path) {
    let index = read_json(&dir.join("index.json"));
    let manifest = listed(&index, "manifest");
    let config = listed(&index, "config");
    assert_eq!((manifest.len(), config.len()), (1, 1), "{index:#}");
    assert_eq!(manifest[0]["path"], "image/manifest.json");
    assert_eq!(config[0]["path"], "image/config.json");
    assert_eq!(
        manifest[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        config[0]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let m = fs::read(dir.join("image/manifest.json")).unwrap();
    let c = fs::read(dir.join("image/config.json")).unwrap();
    assert_eq!(
        Digest::sha256_of(&m).to_string(),
        index["image"]["manifest"]
    );
    assert_eq!(Digest::sha256_of(&c).to_string(), index["image"]["config"]);
    assert_eq!(manifest[0]["digest"], index["image"]["manifest"]);
    // Byte for byte the blobs of the image itself.
    let blob = |d: &Value| {
        fs::read(
            image
                .join("blobs/sha256")
                .join(d.as_str().unwrap().trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    assert_eq!(m, blob(&index["image"]["manifest"]));
    assert_eq!(c, blob(&index["image"]["config"]));
}

/// The zero-based layer whose SBOM introduces a component with this purl prefix.
fn layer_introducing(att: &Path, layers: usize, purl_prefix: &str) -> usize {
    (0..layers)
        .find(|i| {
            let doc = read_json(&att.join(format!("sboms/layer-{i}.cdx.json")));
            doc["components"].as_array().into_iter().flatten().any(|c| {
                c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(purl_prefix))
            })
        })
        .unwrap_or_else(|| panic!("no layer SBOM holds {purl_prefix}"))
}

#[test]
fn the_main_job_runs_end_to_end_like_the_quickstart() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let image = data.join("images/debian-py-node/oci");
    let osv = data.join("osv");
    let keys = d.join("keys");
    let key = |who: &str, ext: &str| keys.join(format!("{who}.{ext}"));

    // Keys for every role.
    generate_keys(&keys, &["base", "ci", "scanner", "alice", "bob"]);

    // The base image: debian-py-node's first two layers (debootstrap + python).
    let base = d.join("base");
    let base_digest = cut_base_layout(&image, 2, &base);

    // The ledger on SQLite, its signers and a writer token.
    let ledger_data = d.join("ledger");
    ledger_admin(
        &ledger_data,
        &["migrate", "--origin", "custody.e2e/pipeline"],
    );
    for (who, role) in [
        ("base", "base-library"),
        ("ci", "builder"),
        ("scanner", "scanner"),
        ("alice", "reviewer"),
        ("bob", "reviewer"),
    ] {
        let out = ledger_admin(
            &ledger_data,
            &[
                "signer",
                "add",
                key(who, "pub").to_str().unwrap(),
                "--role",
                role,
            ],
        );
        assert!(out.contains(role), "signer add {who}: {out}");
    }
    let token = ledger_admin(&ledger_data, &["token", "create", "--role", "writer"]);
    let token = token.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("cl_"), "{token}");
    let mut ledger = start_ledger(&ledger_data, &d.join("ledger.log"));
    let url = ledger.url.clone();

    // The base library attests the base image: both its layers and its provenance.
    let base_att = d.join("base-att");
    let out = custody(&args(&[
        &"attest",
        &base,
        &"--role",
        &"base-library",
        &"--key",
        &key("base", "key"),
        &"--out",
        &base_att,
    ]));
    let lines: Vec<&str> = out.ok("attest base").lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, file) in lines.iter().zip([
        "attestations/layer-0.intoto.json",
        "attestations/layer-1.intoto.json",
        "attestations/provenance.intoto.json",
    ]) {
        assert!(
            line.starts_with("sha256:") && line.ends_with(file),
            "{line}"
        );
    }
    assert!(
        out.stderr
            .contains(&format!("attested {base_digest} (2 of 2 layers signed)")),
        "{}",
        out.stderr
    );
    check_image_files(&base_att, &base);

    // CI attests the image built on the base: only the two layers above it are signed.
    let app_att = d.join("app-att");
    let out = custody(&args(&[
        &"attest",
        &image,
        &"--base",
        &base,
        &"--key",
        &key("ci", "key"),
        &"--out",
        &app_att,
    ]));
    let lines: Vec<&str> = out.ok("attest app").lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].ends_with("attestations/layer-2.intoto.json"));
    assert!(lines[1].ends_with("attestations/layer-3.intoto.json"));
    assert!(lines[2].ends_with("attestations/provenance.intoto.json"));
    assert!(
        out.stderr
            .contains("(2 of 4 layers signed, 2 from the base image)"),
        "{}",
        out.stderr
    );
    check_image_files(&app_att, &image);
    let index = read_json(&app_att.join("index.json"));
    let digest = index["image"]["manifest"].as_str().unwrap().to_owned();
    assert_eq!(index["base"]["manifest"], base_digest);

    // The scanner scans the attested image SBOM once and signs the findings.
    let scan = d.join("scan.intoto.json");
    let out = custody(&args(&[
        &"scan",
        &app_att.join("sboms/image.cdx.json"),
        &"--digest",
        &digest,
        &"--db",
        &osv,
        &"--key",
        &key("scanner", "key"),
        &"--out",
        &scan,
    ]));
    out.ok("scan");
    assert!(out.stdout.contains(&digest), "{}", out.stdout);
    assert!(scan.is_file());

    // Two reviewers approve the digest.
    let mut reviews = Vec::new();
    for who in ["alice", "bob"] {
        let file = d.join(format!("review-{who}.intoto.json"));
        let out = custody(&args(&[
            &"review",
            &digest,
            &"--key",
            &key(who, "key"),
            &"--out",
            &file,
            &"--comment",
            &"looks good",
        ]));
        assert!(
            out.ok("review").contains(&format!("approved {digest}")),
            "{}",
            out.stdout
        );
        reviews.push(file);
    }

    // Everything goes to the ledger in one submission: both attest directories (their
    // attestations, plus manifest, config and image SBOM as blobs) and the loose envelopes.
    let submit = |output: &str| -> Run {
        custody(&args(&[
            &"submit",
            &base_att,
            &app_att,
            &scan,
            &reviews[0],
            &reviews[1],
            &"--ledger",
            &url,
            &"--token",
            &token,
            &"--output",
            &output,
        ]))
    };
    let out = submit("json");
    let receipt: Value = serde_json::from_str(out.ok("submit")).unwrap();
    let entries = receipt["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 9, "{receipt:#}");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"], i as u64, "one batch, in order: {receipt:#}");
        assert_eq!(e["created"], true);
        assert!(PathBuf::from(e["proof"].as_str().unwrap()).is_file());
    }
    assert!(
        entries[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("base-att/attestations/layer-0.intoto.json")
    );
    let blobs = receipt["blobs"].as_array().unwrap();
    let mut kinds: Vec<(&str, bool)> = blobs
        .iter()
        .map(|b| (b["kind"].as_str().unwrap(), b["created"].as_bool().unwrap()))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            ("config", true),
            ("config", true),
            ("image-sbom", true),
            ("image-sbom", true),
            ("manifest", true),
            ("manifest", true)
        ],
        "{receipt:#}"
    );
    assert!(
        blobs
            .iter()
            .any(|b| b["kind"] == "manifest" && b["digest"] == digest.as_str())
    );
    // Submitting again changes nothing: the same entries, the blobs already stored.
    let out = submit("text");
    let text = out.ok("submit again");
    assert_eq!(text.lines().count(), 15, "{text}");
    assert!(
        text.lines()
            .all(|l| l.split('\t').nth(1) == Some("existing")),
        "{text}"
    );
    // A proof checks offline with the ledger's key file.
    custody(&args(&[
        &"proof",
        &"verify",
        &format!("{}.proof.json", scan.display()),
        &"--log-key",
        &ledger_data.join("log.pub"),
        &"--entry",
        &scan,
    ]))
    .ok("proof verify");

    // The deploy gate's policy.
    fs::write(
        d.join("policy.yaml"),
        format!(
            "version: 1
log_key: {}
log_origin: custody.e2e/pipeline
roles:
  base-library: [keys/base.pub]
  builder: [keys/ci.pub]
  scanner: [keys/scanner.pub]
  reviewer: [keys/alice.pub, keys/bob.pub]
rules:
  base_image: required
  scan: {{required: true, max_age: 7d, max_severity: high}}
  reviews: {{min: 2}}
  config: {{non_root: false, forbidden_packages: [openssh-server, telnetd]}}
  ledger: {{accept_bundles: true, logged_after_build: true}}
",
            ledger_data.join("log.pub").display()
        ),
    )
    .unwrap();
    let policy = d.join("policy.yaml");
    custody(&args(&[&"policy", &"check", &policy])).ok("policy check");

    // Verify online: by path (every layer blob read and checked), then by digest (nothing
    // but the manifest and config, fetched from the ledger's blob store).
    let state = d.join("gate-state.json");
    let online = |image: &dyn AsRef<OsStr>| {
        custody(&args(&[
            &"verify",
            image,
            &"--policy",
            &policy,
            &"--ledger",
            &url,
            &"--state",
            &state,
        ]))
    };
    let out = online(&image);
    let text = out.ok("verify by path online");
    assert!(text.starts_with(&format!("ALLOWED {digest}")), "{text}");
    for rule in [
        "layers",
        "base_image",
        "provenance",
        "scan",
        "reviews",
        "config",
        "ledger",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("PASS ") && l[5..].trim_start().starts_with(rule)),
            "{rule}: {text}"
        );
    }
    assert!(
        text.contains("blobs and DiffIDs verified on disk"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "base image {base_digest} is the image's first 2 layers"
        )),
        "{text}"
    );
    let out = online(&digest);
    let text = out.ok("verify by digest online");
    assert!(text.starts_with(&format!("ALLOWED {digest}")), "{text}");
    assert!(
        text.contains("layers not read (verified by digest)"),
        "{text}"
    );
    assert!(text.contains(&format!("evidence   ledger {url}")), "{text}");
    let trusted = read_json(&state);
    assert_eq!(trusted["size"], 9, "{trusted}");

    // A bundle for an air-gapped gate, by digest alone.
    let bundle = d.join("custody-bundle.json");
    let out = custody(&args(&[
        &"bundle",
        &digest,
        &"--ledger",
        &url,
        &"-o",
        &bundle,
    ]));
    out.ok("bundle");
    assert!(
        out.stderr.contains(&format!("with 9 entries for {digest}")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let b = read_json(&bundle);
    let blob_digests: Vec<&str> = b["blobs"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["digest"].as_str()).collect())
        .unwrap_or_default();
    assert!(blob_digests.contains(&digest.as_str()), "{b:#}");
    assert!(blob_digests.contains(&index["image"]["config"].as_str().unwrap()));

    // The ledger goes away; the offline verification needs nothing but the bundle.
    ledger.stop();
    let out = custody(&args(&[
        &"verify",
        &digest,
        &"--policy",
        &policy,
        &"--bundle",
        &bundle,
    ]));
    let text = out.ok("verify by digest offline");
    assert!(text.starts_with(&format!("ALLOWED {digest}")), "{text}");
    assert!(text.contains("evidence   bundle sha256:"), "{text}");
    // While online verification now fails closed.
    online(&digest).expect(2, "verify online with the ledger down");

    // The auditor: which images contain pkg:pypi/requests, and which layer brought it.
    let ledger = start_ledger(&ledger_data, &d.join("ledger2.log"));
    let out = custody(&args(&[
        &"query",
        &"--ledger",
        &ledger.url,
        &"--purl",
        &"pkg:pypi/requests",
    ]));
    let text = out.ok("query --purl");
    let layer = layer_introducing(&app_att, 4, "pkg:pypi/requests@");
    let diff_id = index["image"]["diffIds"][layer].as_str().unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with(&digest))
        .unwrap_or_else(|| panic!("image {digest} not listed: {text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], diff_id, "{text}");
    assert!(cols[3].starts_with("pkg:pypi/requests@"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("sha256:")).count(),
        1,
        "only the app carries requests: {text}"
    );
}
