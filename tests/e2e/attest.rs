//! `custody key`, `custody dsse`, `custody review` and `custody attest` run as the real binary:
//! on the real debian-py-node image (../shared/testdata/images), with a base image cut from
//! its first layers, against the Python reference implementation, and on bad input (exit codes
//! 0 valid / 1 invalid / 2 error, nothing half-written).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use custody_attest::{
    CheckedStatement, Envelope, KeyIdHint, KeySource, KeyType, Limits, PublicKey, SigningKey,
    load_public_key, parse_bundle, sign_statement,
};
use custody_e2e::{custody, interop, testdata_or_skip};
use custody_types::{Digest, chain_ids};
use serde_json::Value;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `custody key generate --out DIR/NAME`, returning (NAME.key, NAME.pub).
fn keypair(dir: &Path, name: &str, extra: &[&str], env: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let mut args = vec!["key", "generate", "--out", s(&prefix)];
    args.extend_from_slice(extra);
    let out = custody(&args, env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

fn public(path: &Path) -> PublicKey {
    load_public_key(&KeySource::File(path.to_owned())).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn envelope_of(path: &Path) -> Envelope {
    let bytes = fs::read(path).unwrap();
    if path.to_string_lossy().ends_with(".sigstore.json") {
        match parse_bundle(&bytes, &Limits::default()).unwrap().content {
            custody_attest::BundleContent::Dsse(e) => e,
            other => panic!("{other:?}"),
        }
    } else {
        Envelope::from_json(&bytes).unwrap()
    }
}

fn checked(path: &Path, key: &PublicKey) -> CheckedStatement {
    let verified = envelope_of(path)
        .verify(std::slice::from_ref(key), 1)
        .unwrap();
    CheckedStatement::try_from(&verified).unwrap()
}

/// A base image cut from the first `n` layers of a single-image gzip OCI layout: the same
/// compressed blobs, a config with the first `n` DiffIDs, a new manifest.
fn base_layout(from: &Path, n: usize, out: &Path) {
    let blob = |d: &str| {
        fs::read(
            from.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index = read_json(&from.join("index.json"));
    let mut manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let mut config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let blobs = out.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = Digest::sha256_of(bytes);
        fs::write(blobs.join(d.hex()), bytes).unwrap();
        (d.to_string(), bytes.len())
    };
    let layers: Vec<Value> = manifest["layers"].as_array().unwrap()[..n].to_vec();
    for l in &layers {
        put(&blob(l["digest"].as_str().unwrap()));
    }
    config["rootfs"]["diff_ids"] =
        Value::Array(config["rootfs"]["diff_ids"].as_array().unwrap()[..n].to_vec());
    config.as_object_mut().unwrap().remove("history");
    let (cd, cn) = put(&serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = cd.into();
    manifest["config"]["size"] = cn.into();
    manifest["layers"] = Value::Array(layers);
    let (md, mn) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "base"}}]});
    fs::write(out.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Checks an attest output directory: index.json lists every file with its digest, every
/// attestation verifies, layer attestations sit at the right ChainIDs, the provenance names
/// the image, the base and every layer attestation by its envelope digest.
fn check_attest_dir(dir: &Path, key: &PublicKey, image: &Path, signed_from: usize) -> Value {
    let index = read_json(&dir.join("index.json"));
    let mut listed = std::collections::BTreeSet::new();
    for f in index["files"].as_array().unwrap() {
        let path = dir.join(f["path"].as_str().unwrap());
        let bytes = fs::read(&path).unwrap();
        assert_eq!(
            f["digest"],
            Digest::sha256_of(&bytes).to_string(),
            "{}",
            path.display()
        );
        assert_eq!(f["size"], bytes.len());
        listed.insert(f["path"].as_str().unwrap().to_owned());
    }
    for sub in ["sboms", "attestations"] {
        for e in fs::read_dir(dir.join(sub)).unwrap() {
            let name = format!("{sub}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(listed.contains(&name), "{name} is not in index.json");
        }
    }
    let diff_ids: Vec<custody_types::DiffId> = index["image"]["diffIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().parse().unwrap())
        .collect();
    let chains = chain_ids(&diff_ids);
    let mut layer_envelopes = Vec::new();
    let mut provenance = None;
    for f in index["files"].as_array().unwrap() {
        let path = dir.join(f["path"].as_str().unwrap());
        match f["kind"].as_str().unwrap() {
            "layer-attestation" => {
                let st = checked(&path, key);
                let layer = st.layer().unwrap();
                let i = layer.predicate.index as usize;
                assert!(
                    i >= signed_from,
                    "layer {i} is below the base and must not be signed"
                );
                assert_eq!(layer.predicate.chain_id, chains[i]);
                assert_eq!(f["envelopeDigest"], envelope_of(&path).digest().to_string());
                // The embedded SBOM is the SBOM file, byte for byte.
                let sbom = fs::read(dir.join(f["sbom"].as_str().unwrap())).unwrap();
                assert_eq!(layer.predicate.sbom.digest, Digest::sha256_of(&sbom));
                if let Some(doc) = &layer.predicate.sbom.document {
                    assert_eq!(serde_json::to_vec(doc).unwrap(), sbom);
                }
                layer_envelopes.push((i, envelope_of(&path).digest()));
            }
            "provenance" => provenance = Some(checked(&path, key).provenance().unwrap()),
            _ => {}
        }
    }
    assert_eq!(layer_envelopes.len(), diff_ids.len() - signed_from);
    let p = provenance.expect("a provenance");
    assert_eq!(
        p.manifest.as_ref().unwrap().to_string(),
        index["image"]["manifest"].as_str().unwrap()
    );
    assert_eq!(
        p.config.as_ref().unwrap().to_string(),
        index["image"]["config"].as_str().unwrap()
    );
    assert_eq!(
        p.layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>(),
        diff_ids
    );
    for (i, env) in layer_envelopes {
        assert_eq!(
            p.layers[i].envelope.as_ref(),
            Some(&env),
            "byproduct of layer {i}"
        );
    }
    let image_sbom = fs::read(dir.join("sboms/image.cdx.json")).unwrap();
    assert_eq!(p.image_sbom, Some(Digest::sha256_of(&image_sbom)));
    assert_eq!(
        index["image"]["source"].as_str().unwrap(),
        s(image),
        "index.json records where the image came from"
    );
    index
}

#[test]
fn attest_signs_every_layer_and_the_provenance_of_a_real_image() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let (key, pubkey) = keypair(tmp.path(), "ci", &[], &[]);
    let image = data.join("images/debian-py-node/oci");
    let out_dir = tmp.path().join("att");
    let out = custody(
        &[
            "attest",
            s(&image),
            "--key",
            s(&key),
            "--out",
            s(&out_dir),
            "--builder-id",
            "https://ci.example/builder",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().count(),
        5,
        "four layers and the provenance: {}",
        stdout(&out)
    );
    let key = public(&pubkey);
    let index = check_attest_dir(&out_dir, &key, &image, 0);
    assert_eq!(index["signer"]["keyId"], key.key_id().to_string());
    let p = checked(&out_dir.join("attestations/provenance.intoto.json"), &key)
        .provenance()
        .unwrap();
    assert_eq!(p.builder_id(), "https://ci.example/builder");
    assert!(p.base.is_none());
    // No temporary directory is left beside the output.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".custody"))
        .collect();
    assert!(leftovers.is_empty());

    // The Python reference implementation verifies them too, matching the key by keyid.
    if let Some((python, tools)) = interop(module_path!()) {
        for f in [
            "layer-0.intoto.json",
            "layer-3.intoto.json",
            "provenance.intoto.json",
        ] {
            let o = Command::new(&python)
                .arg(tools.join("dsse_verify.py"))
                .args(["--pub", s(&pubkey), "--strict-keyid"])
                .arg(out_dir.join("attestations").join(f))
                .output()
                .unwrap();
            assert!(o.status.success(), "{f}: {}{}", stdout(&o), stderr(&o));
        }
    }
}

#[test]
fn attest_is_deterministic_for_the_same_inputs_and_time() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keypair(tmp.path(), "ci", &["--key-type", "p256"], &[]);
    let image = data.join("images/distroless-cc/oci");
    let run = |name: &str| {
        let dir = tmp.path().join(name);
        let out = custody(
            &["attest", s(&image), "--key", s(&key), "--out", s(&dir)],
            &[("SOURCE_DATE_EPOCH", "1767225600")],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        dir
    };
    let (a, b) = (run("a"), run("b"));
    for f in [
        "index.json",
        "attestations/layer-0.intoto.json",
        "attestations/layer-1.intoto.json",
        "attestations/provenance.intoto.json",
        "sboms/image.cdx.json",
    ] {
        assert_eq!(
            fs::read(a.join(f)).unwrap(),
            fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let prov = envelope_of(&a.join("attestations/provenance.intoto.json"));
    let payload: Value = serde_json::from_slice(prov.payload_unverified()).unwrap();
    assert_eq!(
        payload["predicate"]["runDetails"]["metadata"]["startedOn"],
        "2026-01-01T00:00:00Z"
    );
}

#[test]
fn attest_with_a_base_signs_only_the_layers_above_it() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let (lib_key, lib_pub) = keypair(tmp.path(), "library", &[], &[]);
    let (ci_key, ci_pub) = keypair(tmp.path(), "ci", &[], &[]);
    let image = data.join("images/debian-py-node/oci");
    let base = tmp.path().join("base");
    base_layout(&image, 2, &base);

    // The library attests its base image (every layer).
    let lib_dir = tmp.path().join("lib-att");
    let out = custody(
        &[
            "attest",
            s(&base),
            "--key",
            s(&lib_key),
            "--role",
            "base-library",
            "--out",
            s(&lib_dir),
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lib_index = check_attest_dir(&lib_dir, &public(&lib_pub), &base, 0);
    assert_eq!(lib_index["role"], "base-library");

    // The build attests only what it added, naming the base by its manifest digest.
    let app_dir = tmp.path().join("app-att");
    let out = custody(
        &[
            "attest",
            s(&image),
            "--key",
            s(&ci_key),
            "--base",
            s(&base),
            "--out",
            s(&app_dir),
            "--format",
            "bundle",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let index = check_attest_dir(&app_dir, &public(&ci_pub), &image, 2);
    assert!(app_dir.join("attestations/layer-2.sigstore.json").is_file());
    assert!(!app_dir.join("attestations/layer-0.sigstore.json").exists());
    let p = checked(
        &app_dir.join("attestations/provenance.sigstore.json"),
        &public(&ci_pub),
    )
    .provenance()
    .unwrap();
    let b = p.base.unwrap();
    assert_eq!(
        b.manifest.to_string(),
        lib_index["image"]["manifest"].as_str().unwrap()
    );
    assert_eq!(b.diff_ids.len(), 2);
    assert_eq!(index["base"]["checked"], true);
    // The base library's layer attestations are the ones at the base's ChainIDs: the same
    // statements a verifier finds for the lower layers of the app image.
    let lib_l1 = checked(
        &lib_dir.join("attestations/layer-1.intoto.json"),
        &public(&lib_pub),
    )
    .layer()
    .unwrap();
    assert_eq!(lib_l1.predicate.chain_id, p.layers[1].chain_id);
    // The bundle verifies with `custody dsse verify` too.
    let o = custody(
        &[
            "dsse",
            "verify",
            s(&app_dir.join("attestations/layer-3.sigstore.json")),
            "--key",
            s(&ci_pub),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // A base given by digest needs its layer count; then it is recorded unchecked.
    let by_digest = tmp.path().join("by-digest");
    let base_digest = lib_index["image"]["manifest"].as_str().unwrap();
    let o = custody(
        &[
            "attest",
            s(&image),
            "--key",
            s(&ci_key),
            "--base",
            base_digest,
            "--out",
            s(&by_digest),
        ],
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--base-layers"), "{}", stderr(&o));
    let o = custody(
        &[
            "attest",
            s(&image),
            "--key",
            s(&ci_key),
            "--base",
            base_digest,
            "--base-layers",
            "2",
            "--out",
            s(&by_digest),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let idx = check_attest_dir(&by_digest, &public(&ci_pub), &image, 2);
    assert_eq!(idx["base"]["checked"], false);
}

#[test]
fn a_base_that_is_not_a_prefix_is_refused_and_nothing_is_written() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keypair(tmp.path(), "ci", &[], &[]);
    let image = data.join("images/debian-py-node/oci");
    let other = data.join("images/distroless-cc/oci");
    let out_dir = tmp.path().join("att");
    let o = custody(
        &[
            "attest",
            s(&image),
            "--key",
            s(&key),
            "--base",
            s(&other),
            "--out",
            s(&out_dir),
        ],
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("is not a prefix of image"),
        "{}",
        stderr(&o)
    );
    assert!(!out_dir.exists());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        2,
        "only the key pair"
    );
}

#[test]
fn attest_refuses_bad_keys_corrupt_images_and_existing_output() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (key, pubkey) = keypair(t, "ci", &[], &[]);
    let (enc, _) = keypair(t, "enc", &[], &[("CUSTODY_KEY_PASSWORD", "s3cret")]);
    let rsa = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/custody-attest/tests/it/fixtures/rsa-1024.pkcs8.pem");
    let corrupt = t.join("corrupt.key");
    let mut pem = fs::read_to_string(&key).unwrap();
    pem.replace_range(40..48, "********");
    fs::write(&corrupt, pem).unwrap();
    let image = data.join("images/distroless-cc/oci");
    let out_dir = t.join("att");
    let img = s(&image);
    let od = s(&out_dir);
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec!["--key", rsa.to_str().unwrap()],
            vec![],
            "is an RSA key",
        ),
        (
            vec!["--key", s(&key), "--key-type", "p256"],
            vec![],
            "is an ed25519 key, not p256",
        ),
        (
            vec!["--key", s(&corrupt)],
            vec![],
            "corrupt.key is not a PEM key",
        ),
        (
            vec!["--key", s(&enc)],
            vec![],
            "enc.key is encrypted and no password was given",
        ),
        (
            vec!["--key", s(&enc)],
            vec![("CUSTODY_KEY_PASSWORD", "wrong")],
            "enc.key cannot be decrypted",
        ),
        (vec!["--key", s(&pubkey)], vec![], "ci.pub is a public key"),
        (
            vec!["--key", "env:CUSTODY_E2E_NO_SUCH_VAR"],
            vec![],
            "env:CUSTODY_E2E_NO_SUCH_VAR is missing",
        ),
    ];
    for (key_args, env, want) in cases {
        let mut args = vec!["attest", img, "--out", od];
        args.extend(key_args);
        let o = custody(&args, &env);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(!out_dir.exists(), "{args:?} wrote {od}");
    }
    // The right password works, and the key can come from an environment variable.
    let o = custody(
        &["attest", img, "--key", s(&enc), "--out", od],
        &[("CUSTODY_KEY_PASSWORD", "s3cret")],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pem = fs::read_to_string(&key).unwrap();
    let o = custody(
        &["attest", img, "--key", "env:CI_SIGNING_KEY", "--out", od],
        &[("CI_SIGNING_KEY", &pem)],
    );
    assert_eq!(code(&o), 2, "DIR exists");
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = custody(
        &[
            "attest",
            img,
            "--key",
            "env:CI_SIGNING_KEY",
            "--out",
            od,
            "--force",
        ],
        &[("CI_SIGNING_KEY", &pem)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    check_attest_dir(&out_dir, &public(&pubkey), &image, 0);

    // A corrupt layer blob: the image fails its digest check, nothing is written.
    let broken = t.join("broken");
    copy_dir(&image, &broken);
    let manifest_layers = {
        let index = read_json(&broken.join("index.json"));
        let m = read_json(
            &broken.join("blobs/sha256").join(
                index["manifests"][0]["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        );
        m["layers"].clone()
    };
    let last = manifest_layers.as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = broken.join("blobs/sha256").join(&last);
    let mut bytes = fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let out2 = t.join("att2");
    let o = custody(
        &["attest", s(&broken), "--key", s(&key), "--out", s(&out2)],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(!out2.exists());
    assert!(
        fs::read_dir(t).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".custody")),
        "no staging directory is left behind"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
            let mut perms = fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&target, perms).unwrap();
        }
    }
}

#[test]
fn key_generate_writes_a_private_key_only_its_owner_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let o = custody(
        &[
            "key",
            "generate",
            "--out",
            s(&tmp.path().join("k")),
            "--key-type",
            "p256",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = stdout(&o).trim().to_owned();
    let key = public(&tmp.path().join("k.pub"));
    assert_eq!(id, key.key_id().to_string());
    assert_eq!(key.key_type(), KeyType::P256);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(tmp.path().join("k.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let before = fs::read(tmp.path().join("k.key")).unwrap();
    let o = custody(&["key", "generate", "--out", s(&tmp.path().join("k"))], &[]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("k.key already exists"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fs::read(tmp.path().join("k.key")).unwrap(),
        before,
        "not overwritten"
    );
    let o = custody(
        &[
            "key",
            "generate",
            "--out",
            s(&tmp.path().join("k")),
            "--force",
        ],
        &[("CUSTODY_KEY_PASSWORD", "pw")],
    );
    assert_eq!(code(&o), 0);
    let pem = fs::read_to_string(tmp.path().join("k.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    // `key id` prints both key IDs.
    let o = custody(&["key", "id", s(&tmp.path().join("k.pub"))], &[]);
    assert_eq!(code(&o), 0);
    let key = public(&tmp.path().join("k.pub"));
    assert!(stdout(&o).contains(&key.securesystemslib_keyid()));
}

#[test]
fn dsse_verify_exit_codes_follow_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (a_key, a_pub) = keypair(t, "a", &[], &[]);
    let (_, b_pub) = keypair(t, "b", &["--key-type", "p256"], &[]);
    let payload = t.join("payload.json");
    fs::write(&payload, br#"{"hello":"world"}"#).unwrap();
    let env = t.join("env.json");
    let o = custody(
        &[
            "dsse",
            "sign",
            s(&payload),
            "--key",
            s(&a_key),
            "--payload-type",
            "application/json",
            "-o",
            s(&env),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let verify = |path: &Path, extra: &[&str]| {
        let mut args = vec!["dsse", "verify", s(path), "--key", s(&a_pub)];
        args.extend_from_slice(extra);
        custody(&args, &[])
    };
    let o = verify(&env, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = verify(&env, &["--payload-type", "application/vnd.in-toto+json"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("payloadType is \"application/json\""),
        "{}",
        stderr(&o)
    );

    let original = read_json(&env);
    let variant = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = original.clone();
        f(&mut v);
        let p = t.join(name);
        fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        p
    };
    let invalid: Vec<(PathBuf, &str)> = vec![
        (
            variant("tampered.json", &|v| {
                v["payload"] = "eyJoZWxsbyI6Im1hbGxvcnkifQ==".into()
            }),
            "0 of 1 required",
        ),
        (
            variant("retyped.json", &|v| {
                v["payloadType"] = "application/vnd.in-toto+json".into()
            }),
            "0 of 1 required",
        ),
        (
            variant("nosig.json", &|v| v["signatures"] = Value::Array(vec![])),
            "no signatures",
        ),
        (
            variant("dup.json", &|v| {
                let s0 = v["signatures"][0].clone();
                v["signatures"].as_array_mut().unwrap().push(s0);
            }),
            "repeats signatures[0]",
        ),
        (
            variant("b64.json", &|v| v["payload"] = "not base64!".into()),
            "payload is not valid base64",
        ),
        (
            variant("extra.json", &|v| v["cert"] = "x".into()),
            "unknown field `cert`",
        ),
    ];
    for (path, want) in invalid {
        let o = verify(&path, &[]);
        assert_eq!(code(&o), 1, "{}: {}", path.display(), stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        assert!(
            stderr(&o).contains(path.file_name().unwrap().to_str().unwrap()),
            "names the file"
        );
    }

    // Errors: an unreadable envelope, a bad key, a 100 MB file.
    let o = verify(&t.join("missing.json"), &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));
    let o = custody(&["dsse", "verify", s(&env), "--key", s(&a_key)], &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is a private key"), "{}", stderr(&o));
    let huge = t.join("huge.json");
    fs::File::create(&huge)
        .unwrap()
        .set_len(100 * 1024 * 1024 + 1)
        .unwrap();
    let o = verify(&huge, &["--max-payload-size", "10000000"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("huge.json") && stderr(&o).contains("limit"),
        "{}",
        stderr(&o)
    );

    // Multi-signature envelopes: each key counts once, --require N distinct keys.
    let ka = SigningKey::from_pem(&fs::read_to_string(&a_key).unwrap(), None).unwrap();
    let kb_priv = SigningKey::generate(KeyType::P256).unwrap();
    let kb_pub = t.join("kb.pub");
    fs::write(&kb_pub, kb_priv.public_key().to_spki_pem()).unwrap();
    let multi = Envelope::sign(
        "text/plain",
        b"two signers".to_vec(),
        &[&ka, &kb_priv],
        KeyIdHint::Custody,
    );
    let mp = t.join("multi.json");
    fs::write(&mp, multi.to_json()).unwrap();
    let o = custody(
        &[
            "dsse",
            "verify",
            s(&mp),
            "--key",
            s(&a_pub),
            "--key",
            s(&kb_pub),
            "--require",
            "2",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["signers"].as_array().unwrap().len(), 2);
    let o = custody(
        &[
            "dsse",
            "verify",
            s(&mp),
            "--key",
            s(&a_pub),
            "--key",
            s(&b_pub),
            "--require",
            "2",
        ],
        &[],
    );
    assert_eq!(code(&o), 1, "b did not sign");
    assert!(stderr(&o).contains("1 of 2 required"), "{}", stderr(&o));
    let o = custody(
        &[
            "dsse",
            "verify",
            s(&mp),
            "--key",
            s(&a_pub),
            "--require",
            "2",
        ],
        &[],
    );
    assert_eq!(code(&o), 2, "cannot reach 2 with one key");
}

#[test]
fn dsse_sign_refuses_keys_it_cannot_use() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (key, pubkey) = keypair(t, "a", &["--key-type", "p256"], &[]);
    let payload = t.join("p");
    fs::write(&payload, b"x").unwrap();
    for (args, want) in [
        (vec!["--key", s(&pubkey)], "is a public key"),
        (
            vec!["--key", s(&key), "--key-type", "ed25519"],
            "is an p256 key, not ed25519",
        ),
    ] {
        let mut all = vec!["dsse", "sign", s(&payload)];
        all.extend(args);
        let o = custody(&all, &[]);
        assert_eq!(code(&o), 2);
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
    }
    // stdin in, bundle out, and the bundle verifies.
    let mut child = Command::new(custody_e2e::binary("custody"))
        .args(["dsse", "sign", "-", "--key", s(&key), "--format", "bundle"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from stdin").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let bundle = parse_bundle(&out.stdout, &Limits::default()).unwrap();
    assert_eq!(bundle.hint, public(&pubkey).key_id().to_string());
    assert_eq!(bundle.tlog_entries, 0);
    let v = bundle.verify_dsse(&[public(&pubkey)], 1).unwrap();
    assert_eq!(v.payload(), b"from stdin");
}

#[test]
fn securesystemslib_envelopes_verify_with_the_cli() {
    let data = testdata_or_skip!();
    let Some((python, tools)) = interop(module_path!()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let prefix = t.join("py");
    let o = Command::new(&python)
        .arg(tools.join("gen_key.py"))
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let statement = data.join("sigstore/conformance/statement.json");
    let env = t.join("py.intoto.json");
    let o = Command::new(&python)
        .arg(tools.join("dsse_sign.py"))
        .args([
            "--key",
            &format!("{}.pem", prefix.display()),
            s(&statement),
            "-o",
            s(&env),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for key in [
        format!("{}.pub.pem", prefix.display()),
        format!("{}.pub.json", prefix.display()),
    ] {
        let o = custody(
            &[
                "dsse",
                "verify",
                s(&env),
                "--key",
                &key,
                "--payload-type",
                "application/vnd.in-toto+json",
            ],
            &[],
        );
        assert_eq!(code(&o), 0, "{key}: {}", stderr(&o));
    }
    // And a custody key signs for Python to check, keyid-strict.
    let (key, pubkey) = keypair(t, "c", &[], &[]);
    let ours = t.join("ours.json");
    let o = custody(
        &[
            "dsse",
            "sign",
            s(&statement),
            "--key",
            s(&key),
            "-o",
            s(&ours),
        ],
        &[],
    );
    assert_eq!(code(&o), 0);
    let o = Command::new(&python)
        .arg(tools.join("dsse_verify.py"))
        .args(["--pub", s(&pubkey), "--strict-keyid", s(&ours)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn review_signs_a_decision_on_a_manifest_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (key, pubkey) = keypair(t, "alice", &[], &[]);
    let digest = Digest::sha256_of(b"some manifest").to_string();
    let out = t.join("review.json");
    let o = custody(
        &[
            "review",
            &digest,
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--comment",
            "LGTM",
            "--source-ref",
            "https://git.example/app/pull/7",
        ],
        &[("SOURCE_DATE_EPOCH", "1767225600")],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let review = checked(&out, &public(&pubkey)).review().unwrap();
    assert_eq!(review.manifest.to_string(), digest);
    assert_eq!(
        review.predicate.decision,
        custody_attest::Decision::Approved
    );
    assert_eq!(review.predicate.comment.as_deref(), Some("LGTM"));
    assert_eq!(
        review.predicate.reviewed_on.to_string(),
        "2026-01-01T00:00:00Z"
    );
    let o = custody(
        &[
            "review",
            &digest,
            "--key",
            s(&key),
            "--out",
            s(&out),
            "--reject",
            "--force",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        checked(&out, &public(&pubkey))
            .review()
            .unwrap()
            .predicate
            .decision,
        custody_attest::Decision::Rejected
    );
    let o = custody(
        &[
            "review",
            "latest",
            "--key",
            s(&key),
            "--out",
            s(&t.join("r2.json")),
        ],
        &[],
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("\"latest\""), "{}", stderr(&o));
    assert!(!t.join("r2.json").exists());
    // A review statement signed by someone else is refused by the reader.
    let mallory = SigningKey::generate(KeyType::Ed25519).unwrap();
    let forged = envelope_of(&out);
    let st = custody_attest::parse_statement(forged.payload_unverified()).unwrap();
    let resigned = sign_statement(&st, &mallory, KeyIdHint::default());
    let v = resigned.verify(&[mallory.public_key().clone()], 1).unwrap();
    assert!(CheckedStatement::try_from(&v).unwrap().review().is_err());
}
