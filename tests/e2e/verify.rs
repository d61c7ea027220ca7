//! `custody verify`, `custody bundle` and `custody policy check` on the real images of
//! `../shared/testdata/images`: the distroless-cc image (2 layers) built on a base image made
//! of its first layer, attested with real keys, logged in a real Merkle log, and verified from
//! an offline bundle by the real binary. Each attack of issue 5 is built programmatically
//! (blobs, manifests, configs, bundles rewritten) and must be denied by the rule that names
//! it; each bad input must end in exit 2, never an allow.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use custody_attest::{
    BaseImage, Decision as ReviewDecision, Envelope, ImageBuild, KeyIdHint, LayerBlob,
    LayerPredicate, ProvenanceLayer, ReviewPredicate, Reviewer, SbomDocument, ScanSubject,
    SigningKey, sign_statement,
};
use custody_log::{Checkpoint, KeyName, MemoryStore, SignedCheckpoint, SignerKey};
use custody_types::{DiffId, Digest, Role, chain_ids};
use custody_verify::{Bundle, Evidence, LoggedEntry, Origin, canonical_envelope_bytes};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const ORIGIN: &str = "custody.e2e/log";

fn custody() -> PathBuf {
    custody_testkit::binary("custody")
}

fn key(seed: u8) -> SigningKey {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(&[seed; 32]);
    SigningKey::from_pkcs8_der(&der).unwrap()
}

/// An OCI layout on disk and what it is made of.
#[derive(Clone)]
struct Layout {
    path: PathBuf,
    digest: Digest,
    config_digest: Digest,
    diff_ids: Vec<DiffId>,
    /// (blob digest, size, media type) per layer.
    layers: Vec<(Digest, u64, String)>,
}

fn read_layout(path: &Path) -> Layout {
    let index: Value = serde_json::from_slice(&fs::read(path.join("index.json")).unwrap()).unwrap();
    let digest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let blob = |d: &Digest| fs::read(path.join("blobs/sha256").join(d.hex())).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(&digest)).unwrap();
    let config_digest: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let config: Value = serde_json::from_slice(&blob(&config_digest)).unwrap();
    Layout {
        path: path.to_owned(),
        digest,
        config_digest,
        diff_ids: config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().parse().unwrap())
            .collect(),
        layers: manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["digest"].as_str().unwrap().parse().unwrap(),
                    l["size"].as_u64().unwrap(),
                    l["mediaType"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    }
}

/// Writes a new OCI layout at `out` whose layers are `picks` (positions in `from`), copying
/// their blobs, with a config naming their DiffIDs and `user`.
fn write_layout(from: &Layout, picks: &[usize], user: &str, out: &Path) -> Layout {
    let blobs = out.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for &i in picks {
        let (d, size, mt) = &from.layers[i];
        let dst = blobs.join(d.hex());
        if !dst.exists() {
            fs::copy(from.path.join("blobs/sha256").join(d.hex()), &dst).unwrap();
        }
        layers.push(json!({"mediaType": mt, "digest": d, "size": size}));
        diff_ids.push(from.diff_ids[i].clone());
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"User": user, "Entrypoint": ["/usr/local/bin/rust-hello"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_digest = Digest::sha256_of(&config);
    fs::write(blobs.join(config_digest.hex()), &config).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layers,
    }))
    .unwrap();
    let digest = Digest::sha256_of(&manifest);
    fs::write(blobs.join(digest.hex()), &manifest).unwrap();
    fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        out.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": manifest.len()}]}))
        .unwrap(),
    )
    .unwrap();
    read_layout(out)
}

fn sbom(packages: &[(String, String)]) -> SbomDocument {
    let components: Vec<Value> = packages
        .iter()
        .map(|(n, v)| json!({"type": "library", "bom-ref": format!("pkg:deb/debian/{n}@{v}"), "name": n, "version": v, "purl": format!("pkg:deb/debian/{n}@{v}")}))
        .collect();
    SbomDocument::from_value(
        json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}),
        "application/vnd.cyclonedx+json",
    )
}

fn layer_env(img: &Layout, index: usize, doc: &SbomDocument, key: &SigningKey) -> Envelope {
    let (d, size, mt) = &img.layers[index];
    let p = LayerPredicate::for_stack(
        &img.diff_ids,
        index,
        LayerBlob {
            digest: d.clone(),
            size: *size,
            media_type: mt.clone(),
        },
        doc.embedded(),
    )
    .unwrap();
    sign_statement(&p.statement(), key, KeyIdHint::default())
}

fn provenance(
    img: &Layout,
    base: Option<&Layout>,
    envs: &[Option<Digest>],
    image_sbom: Option<&Digest>,
    role: Role,
    key: &SigningKey,
    _now: Timestamp,
) -> Envelope {
    let chains = chain_ids(&img.diff_ids);
    let build = ImageBuild {
        image_name: None,
        manifest: img.digest.clone(),
        config: img.config_digest.clone(),
        source: img.path.display().to_string(),
        platform: None,
        role,
        base: base.map(|b| BaseImage {
            reference: None,
            manifest: b.digest.clone(),
            config: Some(b.config_digest.clone()),
            diff_ids: b.diff_ids.clone(),
        }),
        builder_id: "https://ci.e2e/builder".into(),
        custody_version: "0.1.0".into(),
        ci: None,
        invocation_id: None,
        // Fixed times keep the provenance (and the snapshots) deterministic.
        started_on: fixed_time(),
        finished_on: fixed_time(),
        layers: img
            .diff_ids
            .iter()
            .enumerate()
            .map(|(i, d)| ProvenanceLayer {
                index: i as u32,
                diff_id: d.clone(),
                chain_id: chains[i].clone(),
                envelope: envs.get(i).cloned().flatten(),
            })
            .collect(),
        image_sbom: image_sbom.map(|d| (d.clone(), "application/vnd.cyclonedx+json".into())),
    };
    sign_statement(&build.statement(), key, KeyIdHint::default())
}

fn fixed_time() -> Timestamp {
    "2025-06-01T10:00:00Z".parse().unwrap()
}

fn scan(img: &Digest, sbom: &Digest, at: Timestamp, key: &SigningKey) -> Envelope {
    let st = ScanSubject {
        manifest: img.clone(),
        image_name: None,
        sbom: Some(sbom.clone()),
    }
    .statement(json!({
        "scanner": {"uri": "https://custody.dev/scan", "result": [
            {"id": "CVE-2024-0001", "severity": [{"method": "nvd", "score": "5.5"}],
             "annotations": [{"purl": "pkg:deb/debian/libc6@2.36-9+deb12u14"}]}]},
        "metadata": {"scanStartedOn": at.to_string(), "scanFinishedOn": at.to_string()},
        "unevaluated": [],
    }))
    .unwrap();
    sign_statement(&st, key, KeyIdHint::default())
}

fn review(img: &Digest, key: &SigningKey, comment: &str) -> Envelope {
    let p = ReviewPredicate {
        decision: ReviewDecision::Approved,
        reviewer: Reviewer {
            key_id: key.key_id(),
        },
        source_ref: None,
        comment: Some(comment.into()),
        reviewed_on: fixed_time(),
    };
    sign_statement(&p.statement(img, None), key, KeyIdHint::default())
}

struct Keys {
    base: SigningKey,
    builder: SigningKey,
    scanner: SigningKey,
    alice: SigningKey,
    bob: SigningKey,
    stranger: SigningKey,
    log: SignerKey,
}

/// The honest world: base and app images, their attestations in log order, keys, policy.
struct World {
    tmp: tempfile::TempDir,
    keys: Keys,
    base: Layout,
    app: Layout,
    image_sbom: SbomDocument,
    now: Timestamp,
    entries: Vec<Envelope>,
}

impl World {
    fn new(data: &Path) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let keys = Keys {
            base: key(11),
            builder: key(12),
            scanner: key(13),
            alice: key(14),
            bob: key(15),
            stranger: key(16),
            log: SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[19; 32]),
        };
        let real = read_layout(&data.join("images/distroless-cc/oci"));
        // The base image: the real image's first layer, as the library publishes it.
        let base = write_layout(&real, &[0], "", &tmp.path().join("base"));
        let app = real;
        let now = Timestamp::now().round(jiff::Unit::Second).unwrap();
        let truth =
            fs::read_to_string(data.join("images/distroless-cc/truth/stage1-dpkg.txt")).unwrap();
        let debs: Vec<(String, String)> = truth
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((f.next()?.to_owned(), f.next()?.to_owned()))
            })
            .collect();
        let base_sbom = sbom(&debs);
        let app_sbom = SbomDocument::from_value(
            json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [
                {"type": "application", "name": "rust-hello", "version": "0.1.0", "purl": "pkg:cargo/rust-hello@0.1.0"}]}),
            "application/vnd.cyclonedx+json",
        );
        let mut all = debs.clone();
        all.push(("rust-hello".into(), "0.1.0".into()));
        let image_sbom = sbom(&all);

        let mut entries = Vec::new();
        let l0 = layer_env(&base, 0, &base_sbom, &keys.base);
        entries.push(provenance(
            &base,
            None,
            &[Some(l0.digest())],
            None,
            Role::BaseLibrary,
            &keys.base,
            now,
        ));
        entries.insert(0, l0);
        let l1 = layer_env(&app, 1, &app_sbom, &keys.builder);
        let envs = [None, Some(l1.digest())];
        entries.push(l1);
        entries.push(provenance(
            &app,
            Some(&base),
            &envs,
            Some(image_sbom.digest()),
            Role::Builder,
            &keys.builder,
            now,
        ));
        entries.push(scan(
            &app.digest,
            image_sbom.digest(),
            now - SignedDuration::from_hours(1),
            &keys.scanner,
        ));
        entries.push(review(&app.digest, &keys.alice, "lgtm"));
        entries.push(review(&app.digest, &keys.bob, "ship it"));

        let k = tmp.path().join("keys");
        fs::create_dir_all(&k).unwrap();
        for (name, key) in [
            ("base.pub", &keys.base),
            ("ci.pub", &keys.builder),
            ("scanner.pub", &keys.scanner),
            ("alice.pub", &keys.alice),
            ("bob.pub", &keys.bob),
            ("stranger.pub", &keys.stranger),
        ] {
            fs::write(k.join(name), key.public_key().to_spki_pem()).unwrap();
        }
        fs::write(k.join("log.vkey"), keys.log.verifier().to_string()).unwrap();
        let w = World {
            tmp,
            keys,
            base,
            app,
            image_sbom,
            now,
            entries,
        };
        w.write_policy("policy.yaml", "");
        w
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The policy of docs/policy.md's first example, with `extra` lines appended to `rules:`.
    fn write_policy(&self, name: &str, replace_reviewers: &str) -> PathBuf {
        let reviewers = if replace_reviewers.is_empty() {
            "[keys/alice.pub, keys/bob.pub]"
        } else {
            replace_reviewers
        };
        let text = format!(
            "version: 1
log_key: keys/log.vkey
roles:
  base-library: [keys/base.pub]
  builder: [keys/ci.pub]
  scanner: [keys/scanner.pub]
  reviewer: {reviewers}
rules:
  base_image: required
  scan: {{required: true, max_age: 7d, max_severity: high, vex_signers: [scanner]}}
  reviews: {{min: 2}}
  config: {{non_root: true, forbidden_packages: [openssh-server, telnetd]}}
  ledger: {{accept_bundles: true}}
"
        );
        let p = self.path(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn log_of(entries: &[Envelope]) -> MemoryStore {
        MemoryStore::from_leaf_hashes(
            entries
                .iter()
                .map(|e| custody_log::leaf_hash(&canonical_envelope_bytes(e))),
        )
        .unwrap()
    }

    /// A bundle of `entries` (all proven at the final size), with the manifest and config.
    fn bundle_of(&self, entries: &[Envelope], image: &Layout, name: &str) -> PathBuf {
        let log = World::log_of(entries);
        let cp = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap();
        let mut ev = Evidence::new(Origin::Bundle {
            digest: Digest::sha256_of(b""),
        });
        ev.checkpoint = Some(
            SignedCheckpoint::sign(&cp, &self.keys.log)
                .unwrap()
                .as_str()
                .to_owned(),
        );
        for (i, e) in entries.iter().enumerate() {
            ev.entries.push(LoggedEntry {
                envelope: e.clone(),
                log_index: Some(i as u64),
                inclusion_path: Some(log.inclusion_proof(i as u64, log.size()).unwrap().path),
            });
        }
        let blob = |d: &Digest| fs::read(image.path.join("blobs/sha256").join(d.hex())).unwrap();
        ev.add_blob(
            image.digest.clone(),
            "application/vnd.oci.image.manifest.v1+json",
            blob(&image.digest),
        )
        .unwrap();
        ev.add_blob(
            image.config_digest.clone(),
            "application/vnd.oci.image.config.v1+json",
            blob(&image.config_digest),
        )
        .unwrap();
        ev.add_blob(
            self.image_sbom.digest().clone(),
            "application/vnd.cyclonedx+json",
            self.image_sbom.bytes().to_vec(),
        )
        .unwrap();
        let bundle = Bundle {
            image: image.digest.clone(),
            created_at: None,
            ledger: None,
            evidence: ev,
        };
        let p = self.path(name);
        fs::write(&p, bundle.to_json()).unwrap();
        p
    }

    fn bundle(&self) -> PathBuf {
        self.bundle_of(&self.entries, &self.app, "bundle.json")
    }

    fn verify(&self, image: &str, bundle: &Path, extra: &[&str]) -> (i32, String, String) {
        let out = Command::new(custody())
            .arg("verify")
            .arg(image)
            .arg("--policy")
            .arg(self.path("policy.yaml"))
            .arg("--bundle")
            .arg(bundle)
            .args(extra)
            .env_remove("CUSTODY_LEDGER_URL")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn verify_app(&self, bundle: &Path) -> (i32, String, String) {
        self.verify(
            &self.app.path.display().to_string(),
            bundle,
            &["--output", "json"],
        )
    }

    /// Index in `entries` of the `nth` statement whose predicate type contains `kind`.
    fn pos(&self, kind: &str, nth: usize) -> usize {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                custody_attest::parse_statement(e.payload_unverified())
                    .unwrap()
                    .predicate_type
                    .contains(kind)
            })
            .nth(nth)
            .unwrap()
            .0
    }
}

/// Asserts exit 1 and that `rule` failed with a problem containing `needle`.
#[track_caller]
fn denied(out: &(i32, String, String), rule: &str, needle: &str) {
    assert_eq!(
        out.0, 1,
        "expected a denial; stdout:\n{}\nstderr:\n{}",
        out.1, out.2
    );
    let d: Value = serde_json::from_str(&out.1).unwrap();
    assert_eq!(d["allowed"], false);
    let v = d["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule"] == rule)
        .unwrap();
    assert_eq!(v["passed"], false, "{rule} passed: {}", out.1);
    let text = format!("{} {}", v["summary"], v["problems"]);
    assert!(text.contains(needle), "{rule} lacks {needle:?}: {text}");
}

fn world() -> Option<World> {
    let data = custody_testkit::testdata("verify e2e")?;
    Some(World::new(&data))
}

#[test]
fn an_unbroken_image_is_allowed_by_path_and_by_digest_from_a_bundle() {
    let Some(w) = world() else { return };
    let b = w.bundle();
    let out = w.verify_app(&b);
    assert_eq!(out.0, 0, "{}\n{}", out.1, out.2);
    let d: Value = serde_json::from_str(&out.1).unwrap();
    assert_eq!(d["allowed"], true);
    assert!(
        d["verdicts"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("blobs and DiffIDs verified on disk")
    );
    // By digest: nothing but the bundle is read, no layer is decompressed.
    let out = w.verify(&w.app.digest.to_string(), &b, &[]);
    assert_eq!(out.0, 0, "{}\n{}", out.1, out.2);
    assert!(
        out.1.contains("layers not read (verified by digest)"),
        "{}",
        out.1
    );
    // The scan is signed at test time, so its envelope digest and the log root vary.
    let filters = vec![
        (r"scanned [^,\)]+", "scanned [time]"),
        (r"bundle sha256:[0-9a-f]{64}", "bundle [digest]"),
        (r"envelope sha256:[0-9a-f]{64}", "envelope [digest]"),
        (r"root [0-9a-f]{64}", "root [root]"),
        (
            r#""envelope": "sha256:[0-9a-f]{64}""#,
            r#""envelope": "[digest]""#,
        ),
        (r#""root": "[0-9a-f]{64}""#, r#""root": "[root]""#),
    ];
    let redacted = out
        .1
        .lines()
        .filter(|l| !l.starts_with("verified "))
        .collect::<Vec<_>>()
        .join("\n");
    insta::with_settings!({filters => filters.clone()}, {
        insta::assert_snapshot!("verify_allowed_text", redacted);
    });
    let json = w.verify(&w.app.digest.to_string(), &b, &["--output", "json"]);
    let mut v: Value = serde_json::from_str(&json.1).unwrap();
    v["verifiedAt"] = json!("[time]");
    v["evidenceSource"]["digest"] = json!("[bundle]");
    v["inputs"] = json!(v["inputs"].as_array().unwrap().len());
    insta::with_settings!({filters => filters}, {
        insta::assert_json_snapshot!("verify_allowed_json", v);
    });
}

#[test]
fn a_layer_swapped_for_one_of_the_same_size_is_denied() {
    let Some(w) = world() else { return };
    let copy = write_layout(&w.app, &[0, 1], "65532:65532", &w.path("swapped"));
    // Same manifest and config as the attested layout would have; then the blob is replaced
    // in place by other bytes of the same length.
    let (d, size, _) = &copy.layers[1];
    let blob = copy.path.join("blobs/sha256").join(d.hex());
    let mut bytes = fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    assert_eq!(bytes.len() as u64, *size);
    fs::remove_file(&blob).unwrap();
    fs::write(&blob, &bytes).unwrap();
    // Attest the copy honestly, then swap: the verifier reads the swapped blob.
    let mut w2 = w;
    let l1 = layer_env(&copy, 1, &sbom(&[]), &w2.keys.builder);
    let envs = [None, Some(l1.digest())];
    let at = w2.pos("layer", 1);
    w2.entries[at] = l1;
    let p = w2.pos("provenance", 1);
    w2.entries[p] = provenance(
        &copy,
        Some(&w2.base),
        &envs,
        Some(w2.image_sbom.digest()),
        Role::Builder,
        &w2.keys.builder,
        w2.now,
    );
    let s = w2.pos("vulns", 0);
    w2.entries[s] = scan(
        &copy.digest,
        w2.image_sbom.digest(),
        w2.now,
        &w2.keys.scanner,
    );
    let r0 = w2.pos("review", 0);
    w2.entries[r0] = review(&copy.digest, &w2.keys.alice, "ok");
    w2.entries[r0 + 1] = review(&copy.digest, &w2.keys.bob, "ok");
    let b = w2.bundle_of(&w2.entries, &copy, "swapped.json");
    let out = w2.verify(&copy.path.display().to_string(), &b, &["--output", "json"]);
    denied(&out, "layers", "layer 1 of the image on disk");
}

#[test]
fn reordered_and_appended_layers_are_denied() {
    let Some(w) = world() else { return };
    let b = w.bundle();
    for (name, picks) in [("reordered", vec![1, 0]), ("appended", vec![0, 1, 1])] {
        let img = write_layout(&w.app, &picks, "65532:65532", &w.path(name));
        // The same attestations, now about an image that was changed after signing.
        let evil = w.bundle_of(&w.entries, &img, &format!("{name}.json"));
        let out = w.verify(
            &img.path.display().to_string(),
            &evil,
            &["--output", "json"],
        );
        denied(&out, "provenance", "no build provenance about manifest");
        denied(&out, "layers", "layer");
        // The honest bundle is for another image.
        let out = w.verify(&img.path.display().to_string(), &b, &[]);
        assert_eq!(out.0, 2, "{}", out.2);
        assert!(out.2.contains("the bundle is for image"), "{}", out.2);
    }
}

#[test]
fn attestations_by_untrusted_keys_or_the_wrong_role_are_denied() {
    let Some(mut w) = world() else { return };
    let at = w.pos("layer", 1);
    let honest = w.entries[at].clone();
    w.entries[at] = layer_env(&w.app, 1, &sbom(&[]), &w.keys.stranger);
    denied(
        &w.verify_app(&w.bundle()),
        "layers",
        "signed by no key in the policy",
    );
    w.entries[at] = layer_env(&w.app, 1, &sbom(&[]), &w.keys.scanner);
    denied(
        &w.verify_app(&w.bundle()),
        "layers",
        "(scanner), not a builder key",
    );
    w.entries[at] = honest;
    let s = w.pos("vulns", 0);
    w.entries[s] = scan(&w.app.digest, w.image_sbom.digest(), w.now, &w.keys.alice);
    denied(&w.verify_app(&w.bundle()), "scan", "not a scanner key");
}

#[test]
fn attestations_replayed_from_another_image_are_denied() {
    let Some(mut w) = world() else { return };
    let data = custody_testkit::testdata("replay").unwrap();
    let other = read_layout(&data.join("images/debian-py-node/oci"));
    let p = w.pos("provenance", 1);
    w.entries[p] = provenance(
        &other,
        None,
        &[
            Some(Digest::sha256_of(b"a")),
            Some(Digest::sha256_of(b"b")),
            Some(Digest::sha256_of(b"c")),
            Some(Digest::sha256_of(b"d")),
        ],
        Some(w.image_sbom.digest()),
        Role::Builder,
        &w.keys.builder,
        w.now,
    );
    denied(
        &w.verify_app(&w.bundle()),
        "provenance",
        "no build provenance about manifest",
    );
    let mut w = world().unwrap();
    let r = w.pos("review", 0);
    w.entries[r] = review(&other.digest, &w.keys.alice, "for the other image");
    denied(
        &w.verify_app(&w.bundle()),
        "reviews",
        "1 distinct reviewer keys approved",
    );
}

#[test]
fn stale_scans_and_scans_of_another_sbom_are_denied() {
    let Some(mut w) = world() else { return };
    let s = w.pos("vulns", 0);
    w.entries[s] = scan(
        &w.app.digest,
        w.image_sbom.digest(),
        w.now - SignedDuration::from_hours(24 * 30),
        &w.keys.scanner,
    );
    denied(&w.verify_app(&w.bundle()), "scan", "the scan is stale");
    w.entries[s] = scan(
        &w.app.digest,
        &Digest::sha256_of(b"another sbom"),
        w.now,
        &w.keys.scanner,
    );
    denied(&w.verify_app(&w.bundle()), "scan", "not the image's SBOM");
}

#[test]
fn four_eyes_reviewer_equal_to_builder_and_the_same_reviewer_twice_are_denied() {
    let Some(mut w) = world() else { return };
    let r = w.pos("review", 0);
    w.entries[r + 1] = review(&w.app.digest, &w.keys.builder, "my own build");
    w.write_policy("policy.yaml", "[keys/alice.pub, keys/bob.pub, keys/ci.pub]");
    denied(
        &w.verify_app(&w.bundle()),
        "reviews",
        "that key is the builder's (four eyes)",
    );
    w.write_policy("policy.yaml", "");
    w.entries[r + 1] = review(&w.app.digest, &w.keys.alice, "me again");
    denied(
        &w.verify_app(&w.bundle()),
        "reviews",
        "1 distinct reviewer keys approved this image; the policy requires 2",
    );
}

fn edit_bundle(path: &Path, out: &Path, f: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    f(&mut v);
    fs::write(out, serde_json::to_vec(&v).unwrap()).unwrap();
    out.to_owned()
}

#[test]
fn forged_proofs_foreign_checkpoints_and_removed_entries_are_denied() {
    let Some(w) = world() else { return };
    let b = w.bundle();
    let forged = edit_bundle(&b, &w.path("forged.json"), |v| {
        v["entries"][3]["inclusionPath"][0] = json!("00".repeat(32));
    });
    denied(
        &w.verify_app(&forged),
        "ledger",
        "inclusion proof at log index 3 fails",
    );
    let other = SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[77; 32]);
    let log = World::log_of(&w.entries);
    let note = SignedCheckpoint::sign(
        &Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap(),
        &other,
    )
    .unwrap();
    let foreign = edit_bundle(&b, &w.path("foreign.json"), |v| {
        v["log"]["checkpoint"] = json!(note.as_str());
    });
    denied(&w.verify_app(&foreign), "ledger", "not signed by log key");
    // Any entry removed from the bundle: the decision is a denial, never an allow.
    for i in 0..w.entries.len() {
        let removed = edit_bundle(&b, &w.path("removed.json"), |v| {
            v["entries"].as_array_mut().unwrap().remove(i);
        });
        let out = w.verify_app(&removed);
        assert_eq!(out.0, 1, "entry {i} removed: {}\n{}", out.1, out.2);
    }
}

#[test]
fn the_state_file_catches_rollbacks_and_forks_and_advances_only_on_allow() {
    let Some(mut w) = world() else { return };
    let state = w.path("state.json");
    let s = state.display().to_string();
    let small = w.bundle();
    let out = w.verify(&w.app.path.display().to_string(), &small, &["--state", &s]);
    assert_eq!(out.0, 0, "{}{}", out.1, out.2);
    let first: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(first["size"], json!(w.entries.len()));
    // The log grows (another image's entries); a bundle with a consistency proof advances.
    let old_size = w.entries.len() as u64;
    w.entries
        .push(review(&w.base.digest, &w.keys.alice, "later entry"));
    let log = World::log_of(&w.entries);
    let grown = w.bundle_of(&w.entries, &w.app, "grown.json");
    let proof: Vec<String> = log
        .consistency_proof(old_size, log.size())
        .unwrap()
        .path
        .iter()
        .map(|h| h.to_hex())
        .collect();
    let grown = edit_bundle(&grown, &w.path("grown.json"), |v| {
        v["log"]["consistency"] = json!([{"fromSize": old_size, "hashes": proof}]);
    });
    let out = w.verify(
        &w.app.path.display().to_string(),
        &grown,
        &["--state", &s, "--output", "json"],
    );
    assert_eq!(out.0, 0, "{}{}", out.1, out.2);
    let second: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(second["size"], json!(log.size()));
    // Rolled back: the older, smaller bundle is now refused, and the state is unchanged.
    let out = w.verify(
        &w.app.path.display().to_string(),
        &small,
        &["--state", &s, "--output", "json"],
    );
    denied(&out, "ledger", "rollback");
    assert_eq!(
        serde_json::from_slice::<Value>(&fs::read(&state).unwrap()).unwrap(),
        second
    );
    // Forked: a checkpoint of the same size with another root.
    let mut forked_entries = w.entries.clone();
    let last = forked_entries.len() - 1;
    forked_entries[last] = review(&w.base.digest, &w.keys.bob, "another history");
    let forked = w.bundle_of(&forked_entries, &w.app, "forked.json");
    let out = w.verify(
        &w.app.path.display().to_string(),
        &forked,
        &["--state", &s, "--output", "json"],
    );
    denied(&out, "ledger", "fork");
    assert_eq!(
        serde_json::from_slice::<Value>(&fs::read(&state).unwrap()).unwrap(),
        second
    );
}

#[test]
fn forbidden_packages_in_the_final_filesystem_are_denied() {
    let Some(w) = world() else { return };
    let text = fs::read_to_string(w.path("policy.yaml")).unwrap().replace(
        "[openssh-server, telnetd]",
        "[openssh-server, \"pkg:deb/debian/libssl3\"]",
    );
    fs::write(w.path("policy.yaml"), text).unwrap();
    denied(
        &w.verify_app(&w.bundle()),
        "config",
        "forbidden package pkg:deb/debian/libssl3",
    );
}

#[test]
fn bad_input_is_exit_2_never_an_allow() {
    let Some(w) = world() else { return };
    let b = w.bundle();
    let img = w.app.path.display().to_string();
    let bytes = fs::read(&b).unwrap();
    let truncated = w.path("truncated.json");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let oversized = w.path("oversized.json");
    fs::File::create(&oversized)
        .unwrap()
        .set_len(custody_verify::MAX_BUNDLE_BYTES as u64 + 1)
        .unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let duplicate = w.path("duplicate.json");
    fs::write(
        &duplicate,
        text.replacen("\"log\":", "\"ledger\":\"a\",\"ledger\":\"b\",\"log\":", 1),
    )
    .unwrap();
    let unknown = w.path("unknown.json");
    fs::write(
        &unknown,
        text.replacen(
            "\"payloadType\":",
            "\"payloadTyp\":\"x\",\"payloadType\":",
            1,
        ),
    )
    .unwrap();
    for (path, needle) in [
        (&truncated, "bundle is not valid"),
        (&oversized, "more than the"),
        (&duplicate, "duplicate field `ledger`"),
        (&unknown, "unknown field `payloadTyp`"),
    ] {
        let out = w.verify(&img, path, &[]);
        assert_eq!(out.0, 2, "{}: {}{}", path.display(), out.1, out.2);
        assert!(out.1.is_empty(), "no decision may be printed: {}", out.1);
        assert!(out.2.contains(needle), "{}: {}", path.display(), out.2);
    }
    for (policy, needle) in [
        (
            "version: 1\nlog_key: keys/log.vkey\nroles: {builder: [keys/ci.pub]}\nrules:\n  sbom: required\n",
            "line 5: unknown rule `sbom`",
        ),
        (
            "version: 1\nlog_key: keys/log.vkey\nroles:\n  builder: [keys/ci.pub\n",
            "invalid YAML",
        ),
        (
            "version: 1\nlog_key: keys/log.vkey\nroles:\n  builder: [keys/policy.yaml]\n",
            "line 4: roles.builder key keys/policy.yaml",
        ),
        (
            "version: 1\nversion: 1\n",
            "line 2: duplicate key `version`",
        ),
    ] {
        fs::write(w.path("keys/policy.yaml"), "not a key").unwrap();
        fs::write(w.path("bad.yaml"), policy).unwrap();
        let out = Command::new(custody())
            .args(["verify", &img, "--bundle"])
            .arg(&b)
            .arg("--policy")
            .arg(w.path("bad.yaml"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{policy}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{policy}: {err}");
        let out = Command::new(custody())
            .args(["policy", "check"])
            .arg(w.path("bad.yaml"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle));
    }
    let out = Command::new(custody())
        .args(["policy", "check"])
        .arg(w.path("policy.yaml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("is valid") && stdout.contains("base-library"),
        "{stdout}"
    );
}

/// A `custody-ledger serve` on a free loopback port, killed on drop.
struct Ledger {
    child: std::process::Child,
    url: String,
    data: PathBuf,
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ledger_cmd(data: &Path, args: &[&str]) -> String {
    let out = Command::new(custody_testkit::binary("custody-ledger"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "custody-ledger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_ledger(w: &World) -> Ledger {
    let data = w.path("ledger");
    ledger_cmd(&data, &["migrate", "--origin", "custody.e2e/ledger"]);
    for (file, role) in [
        ("base.pub", "base-library"),
        ("ci.pub", "builder"),
        ("scanner.pub", "scanner"),
        ("alice.pub", "reviewer"),
        ("bob.pub", "reviewer"),
    ] {
        let key = w.path("keys").join(file);
        ledger_cmd(
            &data,
            &["signer", "add", key.to_str().unwrap(), "--role", role],
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(custody_testkit::binary("custody-ledger"))
        .args(["serve", "--listen", &listen, "--data-dir"])
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(&listen).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ledger {
        child,
        url: format!("http://{listen}"),
        data,
    }
}

#[test]
fn online_verification_bundling_and_offline_verification_with_no_ledger_running() {
    let Some(mut w) = world() else { return };
    let mut ledger = start_ledger(&w);
    let token = ledger_cmd(&ledger.data, &["token", "create", "--role", "writer"]);
    let token = token.split_whitespace().last().unwrap().to_owned();
    let envs = w.path("envs");
    fs::create_dir_all(&envs).unwrap();
    let submit = |entries: &[Envelope], from: usize| {
        let files: Vec<PathBuf> = entries
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, e)| {
                let p = envs.join(format!("{i:02}.json"));
                fs::write(&p, e.to_json()).unwrap();
                p
            })
            .collect();
        let out = Command::new(custody())
            .arg("submit")
            .args(&files)
            .args(["--ledger", &ledger.url, "--token", &token])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "submit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    submit(&w.entries, 0);
    // The policy trusts the ledger's own key file (PEM) and origin.
    let policy = fs::read_to_string(w.path("policy.yaml")).unwrap().replace(
        "log_key: keys/log.vkey",
        &format!(
            "log_key: {}\nlog_origin: custody.e2e/ledger",
            ledger.data.join("log.pub").display()
        ),
    );
    fs::write(w.path("policy.yaml"), policy).unwrap();
    let state = w.path("gate-state.json");
    let policy_path = w.path("policy.yaml");
    let online = |image: &str, extra: &[&str]| {
        let out = Command::new(custody())
            .args(["verify", image, "--policy"])
            .arg(&policy_path)
            .args(["--ledger", &ledger.url, "--output", "json", "--state"])
            .arg(&state)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let app = w.app.path.display().to_string();
    let out = online(&app, &[]);
    assert_eq!(out.0, 0, "{}\n{}", out.1, out.2);
    let d: Value = serde_json::from_str(&out.1).unwrap();
    assert_eq!(d["evidenceSource"]["kind"], "ledger");
    // The log grows; the next decision proves consistency with the state it left.
    let before = w.entries.len();
    w.entries
        .push(review(&w.base.digest, &w.keys.alice, "another image"));
    submit(&w.entries, before);
    let out = online(&app, &[]);
    assert_eq!(out.0, 0, "{}\n{}", out.1, out.2);
    let s: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(s["size"], json!(w.entries.len()));
    // An offline bundle, then the ledger goes away.
    let bundle = w.path("offline.json");
    let out = Command::new(custody())
        .args([
            "bundle",
            &w.app.digest.to_string(),
            "--ledger",
            &ledger.url,
            "-o",
        ])
        .arg(&bundle)
        .arg("--image")
        .arg(&w.app.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = ledger.child.kill();
    let _ = ledger.child.wait();
    let out = Command::new(custody())
        .args(["verify", &w.app.digest.to_string(), "--policy"])
        .arg(w.path("policy.yaml"))
        .arg("--bundle")
        .arg(&bundle)
        .env_remove("CUSTODY_LEDGER_URL")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And the online path now fails closed.
    let out = online(&app, &[]);
    assert_eq!(out.0, 2, "{}", out.2);
}
