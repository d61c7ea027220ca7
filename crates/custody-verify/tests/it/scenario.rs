//! A synthetic image with its whole chain of custody, for tests and the benchmark: real keys
//! (deterministic seeds), real signed statements, a real Merkle log with a signed checkpoint.
//! Each field can be tampered with before `evidence()` assembles what a verifier sees.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;

use custody_attest::{
    BaseImage, Decision as ReviewDecision, Envelope, ImageBuild, KeyIdHint, LayerBlob,
    LayerPredicate, ReviewPredicate, Reviewer, SbomDocument, ScanSubject, SigningKey, VexSubject,
    sign_statement,
};
use custody_log::{Checkpoint, KeyName, MemoryStore, SignedCheckpoint, SignerKey};
use custody_types::{ChainId, DiffId, Digest, Role, chain_ids};
use custody_verify::{Context, Evidence, ImageFacts, LoggedEntry, Origin, Policy};
use custody_vuln::{
    Justification, VexDocument, VexProduct, VexStatement, VexStatus, VexVulnerability,
};
use jiff::Timestamp;
use serde_json::json;

pub const ORIGIN: &str = "custody.test/log";

/// An ed25519 key from a one-byte seed.
pub fn key(seed: u8) -> SigningKey {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(&[seed; 32]);
    SigningKey::from_pkcs8_der(&der).unwrap()
}

pub struct Keys {
    pub base: SigningKey,
    pub builder: SigningKey,
    pub scanner: SigningKey,
    pub alice: SigningKey,
    pub bob: SigningKey,
    pub gate: SigningKey,
    pub stranger: SigningKey,
    pub log: SignerKey,
}

impl Keys {
    pub fn new() -> Keys {
        Keys {
            base: key(1),
            builder: key(2),
            scanner: key(3),
            alice: key(4),
            bob: key(5),
            gate: key(6),
            stranger: key(7),
            log: SignerKey::from_seed(KeyName::new(ORIGIN).unwrap(), &[9; 32]),
        }
    }
}

/// The image: manifest and config bytes for `n` layers with fake blobs.
pub struct Image {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub digest: Digest,
    pub config_digest: Digest,
    pub diff_ids: Vec<DiffId>,
    pub blobs: Vec<Digest>,
    pub user: String,
}

impl Image {
    pub fn new(diff_ids: Vec<DiffId>, user: &str) -> Image {
        let blobs: Vec<Digest> = diff_ids
            .iter()
            .map(|d| Digest::sha256_of(format!("gzip of {d}").as_bytes()))
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"User": user},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config_digest = Digest::sha256_of(&config);
        let layers: Vec<_> = blobs
            .iter()
            .map(|b| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": b, "size": 1000}))
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        }))
        .unwrap();
        Image {
            digest: Digest::sha256_of(&manifest),
            manifest,
            config,
            config_digest,
            diff_ids,
            blobs,
            user: user.to_owned(),
        }
    }

    pub fn facts(&self) -> ImageFacts {
        ImageFacts::from_blobs(&self.digest, &self.manifest, &self.config).unwrap()
    }
}

pub fn diff_id(label: &str) -> DiffId {
    DiffId(Digest::sha256_of(label.as_bytes()))
}

/// A small CycloneDX layer SBOM listing `packages` (name, version) as Debian packages, the
/// ones in `removed` marked as removed by this layer.
pub fn layer_sbom(
    packages: &[(&str, &str)],
    removed: &[(&str, &str)],
    layer: &DiffId,
) -> SbomDocument {
    let mut components = Vec::new();
    for (name, version) in packages {
        components.push(
            json!({"type": "library", "bom-ref": format!("pkg:deb/debian/{name}@{version}"),
            "name": name, "version": version, "purl": format!("pkg:deb/debian/{name}@{version}")}),
        );
    }
    for (name, version) in removed {
        components.push(
            json!({"type": "library", "bom-ref": format!("pkg:deb/debian/{name}@{version}"),
            "name": name, "version": version, "purl": format!("pkg:deb/debian/{name}@{version}"),
            "properties": [{"name": "custody:removed-in", "value": layer.to_string()}]}),
        );
    }
    SbomDocument::from_value(
        json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}),
        "application/vnd.cyclonedx+json",
    )
}

pub fn layer_envelope(
    image: &Image,
    index: usize,
    sbom: &SbomDocument,
    key: &SigningKey,
) -> Envelope {
    let p = LayerPredicate::for_stack(
        &image.diff_ids,
        index,
        LayerBlob {
            digest: image.blobs[index].clone(),
            size: 1000,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        },
        sbom.embedded(),
    )
    .unwrap();
    sign_statement(&p.statement(), key, KeyIdHint::default())
}

pub fn time(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The build provenance of `image` on `base` (its first `base_len` layers), naming the
/// given layer envelopes and the image SBOM.
pub fn provenance(
    image: &Image,
    base: Option<(&Image, usize)>,
    layer_envelopes: &[Option<Digest>],
    image_sbom: Option<&Digest>,
    role: Role,
    key: &SigningKey,
) -> Envelope {
    let chains = chain_ids(&image.diff_ids);
    let build = ImageBuild {
        image_name: Some("registry.test/app:1".into()),
        manifest: image.digest.clone(),
        config: image.config_digest.clone(),
        source: "test".into(),
        platform: None,
        role,
        base: base.map(|(b, n)| BaseImage {
            reference: Some("registry.test/base:1".into()),
            manifest: b.digest.clone(),
            config: Some(b.config_digest.clone()),
            diff_ids: image.diff_ids[..n].to_vec(),
        }),
        builder_id: "https://ci.test/builder".into(),
        custody_version: "0.1.0".into(),
        ci: None,
        invocation_id: Some("https://ci.test/run/1".into()),
        started_on: time("2025-06-01T10:00:00Z"),
        finished_on: time("2025-06-01T10:01:00Z"),
        layers: image
            .diff_ids
            .iter()
            .enumerate()
            .map(|(i, d)| custody_attest::ProvenanceLayer {
                index: i as u32,
                diff_id: d.clone(),
                chain_id: ChainId(chains[i].0.clone()),
                envelope: layer_envelopes.get(i).cloned().flatten(),
            })
            .collect(),
        image_sbom: image_sbom.map(|d| (d.clone(), "application/vnd.cyclonedx+json".into())),
    };
    sign_statement(&build.statement(), key, KeyIdHint::default())
}

pub fn scan(
    image: &Image,
    sbom: &Digest,
    findings: serde_json::Value,
    finished: &str,
    key: &SigningKey,
) -> Envelope {
    let predicate = json!({
        "scanner": {"uri": "https://custody.dev/scan", "version": "0.1.0",
                    "db": {"uri": "osv", "version": "sha256:db", "lastUpdate": "2025-06-01T00:00:00Z"},
                    "result": findings},
        "metadata": {"scanStartedOn": finished, "scanFinishedOn": finished},
        "unevaluated": [],
    });
    let st = ScanSubject {
        manifest: image.digest.clone(),
        image_name: None,
        sbom: Some(sbom.clone()),
    }
    .statement(predicate)
    .unwrap();
    sign_statement(&st, key, KeyIdHint::default())
}

pub fn review(image: &Digest, key: &SigningKey, decision: ReviewDecision) -> Envelope {
    let p = ReviewPredicate {
        decision,
        reviewer: Reviewer {
            key_id: key.key_id(),
        },
        source_ref: None,
        comment: None,
        reviewed_on: time("2025-06-01T11:00:00Z"),
    };
    sign_statement(&p.statement(image, None), key, KeyIdHint::default())
}

pub fn vex(image: &Digest, vuln: &str, key: &SigningKey) -> Envelope {
    vex_for(
        image,
        vuln,
        VexProduct::purl(&format!(
            "pkg:oci/app@{}",
            image.to_string().replace(':', "%3A")
        )),
        VexStatus::NotAffected,
        "2025-06-01T12:00:00Z",
        key,
    )
}

/// A VEX document attached to `image` with one statement about `vuln` and `product`.
pub fn vex_for(
    image: &Digest,
    vuln: &str,
    product: VexProduct,
    status: VexStatus,
    at: &str,
    key: &SigningKey,
) -> Envelope {
    let doc = VexDocument::new(
        "security@test",
        time(at),
        vec![VexStatement {
            id: None,
            vulnerability: VexVulnerability {
                id: None,
                name: vuln.into(),
                description: None,
                aliases: vec![],
            },
            products: vec![product],
            status,
            justification: (status == VexStatus::NotAffected)
                .then_some(Justification::VulnerableCodeNotInExecutePath),
            impact_statement: None,
            action_statement: (status == VexStatus::Affected).then(|| "upgrade".into()),
            status_notes: None,
            timestamp: None,
        }],
    )
    .unwrap();
    let st = VexSubject {
        manifest: image.clone(),
        image_name: None,
    }
    .statement(doc.to_json())
    .unwrap();
    sign_statement(&st, key, KeyIdHint::default())
}

/// A whole chain of custody for an `n`-layer image on a 1-layer base.
pub struct Scenario {
    pub keys: Keys,
    pub base: Image,
    pub image: Image,
    /// Envelopes in log order.
    pub entries: Vec<Envelope>,
    pub now: Timestamp,
    pub forbidden: Vec<String>,
    pub reviews_min: u32,
}

impl Scenario {
    pub fn new(n: usize) -> Scenario {
        Scenario::with_user(n, "65532")
    }

    pub fn with_user(n: usize, user: &str) -> Scenario {
        let keys = Keys::new();
        let diff_ids: Vec<DiffId> = (0..n).map(|i| diff_id(&format!("layer {i}"))).collect();
        let base = Image::new(diff_ids[..1].to_vec(), "");
        let image = Image::new(diff_ids, user);
        let mut entries = Vec::new();
        // The base library attests its image.
        let base_sbom = layer_sbom(
            &[("libc6", "2.36-9"), ("openssl", "3.0.15-1")],
            &[],
            &base.diff_ids[0],
        );
        let base_layer = layer_envelope(&base, 0, &base_sbom, &keys.base);
        entries.push(base_layer.clone());
        entries.push(provenance(
            &base,
            None,
            &[Some(base_layer.digest())],
            None,
            Role::BaseLibrary,
            &keys.base,
        ));
        // The build attests its layers and the image.
        let mut envs = vec![None];
        for i in 1..n {
            let sbom = layer_sbom(&[(&format!("pkg{i}"), "1.0")], &[], &image.diff_ids[i]);
            let e = layer_envelope(&image, i, &sbom, &keys.builder);
            envs.push(Some(e.digest()));
            entries.push(e);
        }
        let image_sbom = Digest::sha256_of(b"image sbom");
        entries.push(provenance(
            &image,
            Some((&base, 1)),
            &envs,
            Some(&image_sbom),
            Role::Builder,
            &keys.builder,
        ));
        entries.push(scan(
            &image,
            &image_sbom,
            json!([{"id": "CVE-2025-0001", "severity": [{"method": "cvss_v3", "score": "5.3"}],
                    "annotations": [{"purl": "pkg:deb/debian/openssl@3.0.15-1"}]}]),
            "2025-06-01T10:30:00Z",
            &keys.scanner,
        ));
        entries.push(review(&image.digest, &keys.alice, ReviewDecision::Approved));
        entries.push(review(&image.digest, &keys.bob, ReviewDecision::Approved));
        Scenario {
            keys,
            base,
            image,
            entries,
            now: time("2025-06-02T00:00:00Z"),
            forbidden: vec!["openssh-server".into()],
            reviews_min: 2,
        }
    }

    pub fn key_files(&self) -> HashMap<String, String> {
        let k = &self.keys;
        let mut files = HashMap::new();
        for (name, key) in [
            ("base.pub", &k.base),
            ("ci.pub", &k.builder),
            ("scanner.pub", &k.scanner),
            ("alice.pub", &k.alice),
            ("bob.pub", &k.bob),
            ("gate.pub", &k.gate),
            ("stranger.pub", &k.stranger),
        ] {
            files.insert(format!("keys/{name}"), key.public_key().to_spki_pem());
        }
        files.insert("keys/log.vkey".into(), k.log.verifier().to_string());
        files
    }

    pub fn policy_text(&self) -> String {
        format!(
            "version: 1
log_key: keys/log.vkey
roles:
  base-library: [keys/base.pub]
  builder: [keys/ci.pub]
  scanner: [keys/scanner.pub]
  reviewer: [keys/alice.pub, keys/bob.pub]
  gate: [keys/gate.pub]
rules:
  base_image: required
  scan: {{required: true, max_age: 7d, max_severity: medium, vex_signers: [scanner]}}
  reviews: {{min: {}}}
  config: {{non_root: true, forbidden_packages: [{}]}}
  ledger: {{accept_bundles: true}}
",
            self.reviews_min,
            self.forbidden.join(", ")
        )
    }

    pub fn policy(&self) -> Policy {
        self.policy_from(&self.policy_text())
    }

    pub fn policy_from(&self, text: &str) -> Policy {
        let files = self.key_files();
        Policy::parse(text, &mut |p: &str| {
            files
                .get(p)
                .cloned()
                .ok_or_else(|| "no such file".to_owned())
        })
        .unwrap()
    }

    /// The log of `entries` and the evidence a verifier sees, every entry proven at the
    /// final tree size.
    pub fn log(&self) -> MemoryStore {
        let leaves: Vec<_> = self
            .entries
            .iter()
            .map(|e| custody_log::leaf_hash(&custody_verify::canonical_envelope_bytes(e)))
            .collect();
        MemoryStore::from_leaf_hashes(leaves).unwrap()
    }

    pub fn checkpoint(&self, log: &MemoryStore) -> String {
        let cp = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap();
        SignedCheckpoint::sign(&cp, &self.keys.log)
            .unwrap()
            .as_str()
            .to_owned()
    }

    pub fn evidence(&self) -> Evidence {
        let log = self.log();
        let mut ev = Evidence::new(Origin::Bundle {
            digest: Digest::sha256_of(b"test bundle"),
        });
        ev.checkpoint = Some(self.checkpoint(&log));
        for (i, e) in self.entries.iter().enumerate() {
            ev.entries.push(LoggedEntry {
                envelope: e.clone(),
                log_index: Some(i as u64),
                inclusion_path: Some(log.inclusion_proof(i as u64, log.size()).unwrap().path),
            });
        }
        ev.add_blob(self.image.digest.clone(), "m", self.image.manifest.clone())
            .unwrap();
        ev.add_blob(
            self.image.config_digest.clone(),
            "c",
            self.image.config.clone(),
        )
        .unwrap();
        ev
    }

    pub fn context(&self) -> Context {
        Context {
            now: self.now,
            trusted: None,
        }
    }
}
