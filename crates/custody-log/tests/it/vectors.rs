//! Published Merkle vectors from ../shared/testdata/merkle (see its SOURCES.md):
//! transparency-dev/merkle testdata/inclusion and testdata/consistency at commit
//! 417fb0c314750d94e53942e9f92e79b6d35915db (Apache-2.0), and the RFC 6962 reference tree of
//! transparency-dev/merkle testonly/constants.go.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use custody_log::{Hash, MemoryStore, leaf_hash, verify_consistency_bytes, verify_inclusion_bytes};
use serde::Deserialize;
use serde_json::Value;

use crate::common::{sigstore_consistency, sigstore_inclusion};

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A base64 hash field; `None` when it is not a 32-byte hash (such a vector must fail).
fn hash(v: &Value) -> Option<Hash> {
    Hash::from_base64(v.as_str()?).ok()
}

/// The proof array (`null` means empty); `None` when any element is not a 32-byte hash.
fn hashes(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a.iter().map(hash).collect(),
        _ => None,
    }
}

/// A base64 field as raw bytes, whatever its length (as Go's `[]byte` reads it).
fn bytes(v: &Value) -> Option<Vec<u8>> {
    BASE64.decode(v.as_str()?).ok()
}

/// The proof array as raw byte strings (`null` means empty).
fn byte_list(v: &Value) -> Option<Vec<Vec<u8>>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a.iter().map(bytes).collect(),
        _ => None,
    }
}

/// The sigstore-merkle verdict needs 32-byte values; anything else cannot verify there.
fn typed(v: &[u8]) -> Option<Hash> {
    Hash::from_slice(v).ok()
}

fn uint(v: &Value) -> Option<u64> {
    v.as_u64()
}

struct Case {
    file: PathBuf,
    want_err: bool,
    value: Value,
}

fn cases(dir: &Path) -> Vec<Case> {
    json_files(dir)
        .into_iter()
        .map(|file| {
            let value: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let want_err = value["wantErr"].as_bool().unwrap();
            Case {
                file,
                want_err,
                value,
            }
        })
        .collect()
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let data = custody_testkit::testdata_or_skip!();
    let cases = cases(&data.join("merkle/transparency-dev-merkle/inclusion"));
    assert!(
        cases.len() >= 60,
        "only {} inclusion vectors found",
        cases.len()
    );
    let mut passing = 0;
    for c in &cases {
        let v = &c.value;
        let parsed = (|| {
            Some((
                uint(&v["leafIdx"])?,
                uint(&v["treeSize"])?,
                bytes(&v["root"])?,
                bytes(&v["leafHash"])?,
                byte_list(&v["proof"])?,
            ))
        })();
        let (index, size, root, leaf, proof) =
            parsed.unwrap_or_else(|| panic!("{}", c.file.display()));
        let ours = verify_inclusion_bytes(&leaf, index, size, &proof, &root).is_ok();
        let sigstore = (|| {
            let path: Vec<Hash> = proof.iter().map(|p| typed(p)).collect::<Option<_>>()?;
            Some(sigstore_inclusion(
                &typed(&leaf)?,
                index,
                size,
                &path,
                &typed(&root)?,
            ))
        })()
        .unwrap_or(false);
        assert_eq!(ours, !c.want_err, "{}", c.file.display());
        assert_eq!(
            sigstore,
            ours,
            "sigstore-merkle disagrees on {}",
            c.file.display()
        );
        passing += usize::from(ours);
    }
    assert!(passing >= 5, "too few happy paths: {passing}");
}

#[test]
fn transparency_dev_consistency_vectors() {
    let data = custody_testkit::testdata_or_skip!();
    let cases = cases(&data.join("merkle/transparency-dev-merkle/consistency"));
    assert!(
        cases.len() >= 70,
        "only {} consistency vectors found",
        cases.len()
    );
    for c in &cases {
        let v = &c.value;
        let parsed = (|| {
            Some((
                uint(&v["size1"])?,
                uint(&v["size2"])?,
                bytes(&v["root1"])?,
                bytes(&v["root2"])?,
                byte_list(&v["proof"])?,
            ))
        })();
        let (size1, size2, root1, root2, proof) =
            parsed.unwrap_or_else(|| panic!("{}", c.file.display()));
        let ours = verify_consistency_bytes(size1, size2, &proof, &root1, &root2).is_ok();
        assert_eq!(ours, !c.want_err, "{}", c.file.display());
        // sigstore-merkle accepts any proof-less step from size 0, which these vectors (and
        // this crate) refuse, and takes only 32-byte values; everywhere else the two agree.
        let sigstore = (|| {
            let path: Vec<Hash> = proof.iter().map(|p| typed(p)).collect::<Option<_>>()?;
            Some(sigstore_consistency(
                size1,
                size2,
                &path,
                &typed(&root1)?,
                &typed(&root2)?,
            ))
        })();
        if let (Some(sigstore), true) = (sigstore, size1 > 0) {
            assert_eq!(
                sigstore,
                ours,
                "sigstore-merkle disagrees on {}",
                c.file.display()
            );
        }
    }
}

#[derive(Deserialize)]
struct ReferenceTree {
    leaves_hex: Vec<String>,
    leaf_hashes_hex: Vec<String>,
    roots_by_tree_size_hex: std::collections::BTreeMap<u64, String>,
}

fn reference_store(data: &Path) -> (ReferenceTree, MemoryStore) {
    let r: ReferenceTree = serde_json::from_slice(
        &std::fs::read(data.join("merkle/rfc6962-reference-tree.json")).unwrap(),
    )
    .unwrap();
    let leaves: Vec<Hash> = r
        .leaves_hex
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect();
    (r, MemoryStore::from_leaf_hashes(leaves).unwrap())
}

#[test]
fn rfc6962_reference_tree_roots() {
    let data = custody_testkit::testdata_or_skip!();
    let (r, store) = reference_store(&data);
    for (i, want) in r.leaf_hashes_hex.iter().enumerate() {
        assert_eq!(
            leaf_hash(&hex::decode(&r.leaves_hex[i]).unwrap()).to_hex(),
            *want
        );
    }
    assert_eq!(r.roots_by_tree_size_hex.len(), 9);
    for (size, want) in &r.roots_by_tree_size_hex {
        assert_eq!(
            store.root_at(*size).unwrap().to_hex(),
            *want,
            "root at size {size}"
        );
    }
}

/// The happy-path vectors are proofs over the reference tree: the builder must reproduce
/// them byte for byte.
#[test]
fn builder_reproduces_the_published_happy_path_proofs() {
    let data = custody_testkit::testdata_or_skip!();
    let (_, store) = reference_store(&data);
    let base = data.join("merkle/transparency-dev-merkle");
    let mut checked = 0;
    for c in cases(&base.join("inclusion")) {
        if c.want_err || !c.file.ends_with("happy-path.json") {
            continue;
        }
        let v = &c.value;
        let (index, size) = (uint(&v["leafIdx"]).unwrap(), uint(&v["treeSize"]).unwrap());
        let built = store.inclusion_proof(index, size).unwrap();
        assert_eq!(
            Some(built.path),
            hashes(&v["proof"]),
            "{}",
            c.file.display()
        );
        assert_eq!(store.root_at(size).ok(), hash(&v["root"]));
        checked += 1;
    }
    for c in cases(&base.join("consistency")) {
        if c.want_err || !c.file.ends_with("happy-path.json") {
            continue;
        }
        let v = &c.value;
        let (m, n) = (uint(&v["size1"]).unwrap(), uint(&v["size2"]).unwrap());
        let built = store.consistency_proof(m, n).unwrap();
        assert_eq!(
            Some(built.path),
            hashes(&v["proof"]),
            "{}",
            c.file.display()
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} happy paths reproduced");
}
