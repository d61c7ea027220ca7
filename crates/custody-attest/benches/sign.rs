//! Signing cost per layer: what `custody attest` adds on top of reading and hashing a layer.
//!
//! `sign_layer/*` builds a layer statement embedding a ~100 KB CycloneDX SBOM, serializes it,
//! computes the DSSE PAE, signs, and writes the envelope's JSON: everything attest does per
//! layer after the SBOM exists. `hash_sbom` is the SHA-256 of the same SBOM, for scale.
//! `verify_layer` is the reader's side (parse, verify, check the predicate). Target: signing
//! under 1 ms per layer (docs/benchmarks.md).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use custody_attest::{
    CheckedStatement, Envelope, KeyIdHint, KeyType, LayerBlob, LayerPredicate, SbomDocument,
    SigningKey, sign_statement,
};
use custody_types::{DiffId, Digest, media_types};
use serde_json::json;

/// A CycloneDX document of about 100 KB: 215 Debian-like components with purls and the
/// layer properties custody writes.
fn sbom_100k() -> SbomDocument {
    let components: Vec<_> = (0..215)
        .map(|i| {
            json!({
                "type": "library",
                "bom-ref": format!("pkg:deb/debian/libexample{i}@2.36-9+deb12u{i}?arch=amd64&distro=debian-12"),
                "name": format!("libexample{i}"),
                "version": format!("2.36-9+deb12u{i}"),
                "purl": format!("pkg:deb/debian/libexample{i}@2.36-9+deb12u{i}?arch=amd64&distro=debian-12"),
                "licenses": [{"license": {"id": "GPL-2.0-or-later"}}],
                "properties": [
                    {"name": "aquasecurity:trivy:LayerDiffID", "value": "sha256:ebbc6d040472d979acdd12a1a64794a9500ac0f174ab36dd293b714356c67b46"},
                    {"name": "custody:cataloger", "value": "dpkg"},
                ]
            })
        })
        .collect();
    let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components});
    let sbom = SbomDocument::from_value(doc, media_types::CYCLONEDX_JSON);
    assert!(
        (90_000..140_000).contains(&sbom.bytes().len()),
        "{}",
        sbom.bytes().len()
    );
    sbom
}

fn bench(c: &mut Criterion) {
    let sbom = sbom_100k();
    let diff_ids: Vec<DiffId> = (0..4)
        .map(|i| DiffId(Digest::sha256_of(format!("layer {i}").as_bytes())))
        .collect();
    let blob = LayerBlob {
        digest: Digest::sha256_of(b"blob"),
        size: 30_000_000,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
    };
    let mut group = c.benchmark_group("attest");
    group.bench_function("hash_sbom_100k", |b| {
        b.iter(|| Digest::sha256_of(black_box(sbom.bytes())))
    });
    for kt in [KeyType::Ed25519, KeyType::P256] {
        let key = SigningKey::generate(kt).expect("a key");
        // The SBOM document is an input (custody-sbom made it): each iteration gets its own
        // copy outside the timed part, and moves it into the statement as attest does.
        group.bench_function(format!("sign_layer_100k_sbom/{kt}"), |b| {
            b.iter_batched(
                || sbom.clone(),
                |doc| {
                    let predicate =
                        LayerPredicate::for_stack(&diff_ids, 3, blob.clone(), doc.into_embedded())
                            .expect("a predicate");
                    let envelope = sign_statement(
                        &predicate.into_statement(),
                        &key,
                        KeyIdHint::Securesystemslib,
                    );
                    black_box(envelope.to_json())
                },
                BatchSize::SmallInput,
            )
        });
    }
    let key = SigningKey::generate(KeyType::Ed25519).expect("a key");
    let predicate =
        LayerPredicate::for_stack(&diff_ids, 3, blob.clone(), sbom.embedded()).expect("predicate");
    let json = sign_statement(&predicate.statement(), &key, KeyIdHint::default()).to_json();
    let keys = [key.public_key().clone()];
    group.bench_function("verify_layer_100k_sbom/ed25519", |b| {
        b.iter(|| {
            let env = Envelope::from_json(black_box(&json)).expect("an envelope");
            let verified = env.verify(&keys, 1).expect("valid");
            let checked = CheckedStatement::try_from(&verified).expect("a statement");
            black_box(checked.into_layer().expect("a layer"))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
