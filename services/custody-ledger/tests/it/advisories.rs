//! Advisory import and re-evaluation from recorded components, on both engines: exactly the
//! affected images and layers, notices once per (advisory, image), one message per owner over
//! a real webhook receiver and a real SMTP conversation on loopback, withdrawals, bad input,
//! and all-or-nothing imports.
//!
//! Every advisory here is SYNTHETIC (IDs `x_custody-test-…`, the OSV schema's private
//! prefix), aimed at the packages and versions of the images the tests record.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use custody_attest::{
    Envelope, KeyIdHint, KeyType, LayerBlob, LayerPredicate, SbomDocument, SigningKey,
};
use custody_ledger::{ApiConfig, ImportReport, NotifyArgs, NotifyConfig};
use custody_types::{DiffId, Digest, Role, media_types, predicate_types};
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use crate::support::*;

/// One expected finding: advisory, image, layer, fixed version.
type ExpectedFinding<'a> = (&'a str, &'a Digest, &'a DiffId, Option<String>);

const SECRET: &str = "webhook secret for tests";

// ---------------------------------------------------------------------------------------
// A webhook receiver and an SMTP sink, both real servers on loopback.

/// One POST the webhook receiver got.
#[derive(Debug, Clone)]
struct Hook {
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Receiver {
    hooks: Arc<Mutex<Vec<Hook>>>,
    /// Requests to answer 503 before accepting (to exercise retries).
    fail_first: Arc<Mutex<usize>>,
    attempts: Arc<Mutex<usize>>,
}

async fn start_receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver {
        fail_first: Arc::new(Mutex::new(fail_first)),
        ..Receiver::default()
    };
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            |axum::extract::State(s): axum::extract::State<Receiver>,
             headers: HeaderMap,
             body: axum::body::Bytes| async move {
                *s.attempts.lock().unwrap() += 1;
                {
                    let mut f = s.fail_first.lock().unwrap();
                    if *f > 0 {
                        *f -= 1;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                }
                s.hooks.lock().unwrap().push(Hook {
                    headers,
                    body: body.to_vec(),
                });
                StatusCode::NO_CONTENT
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.with_state(state)).await.unwrap();
    });
    (format!("http://{addr}/hook"), r)
}

/// One message the SMTP sink accepted.
#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server (RFC 5321's commands as lettre sends them): greets, answers 250 to
/// EHLO/MAIL/RCPT/RSET/NOOP, 354 to DATA, keeps the message up to the lone ".", 221 to QUIT.
async fn start_smtp() -> (String, Arc<Mutex<Vec<Mail>>>) {
    let mails = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"220 sink.test ESMTP ready\r\n")
                    .await
                    .unwrap();
                let (mut from, mut to) = (String::new(), Vec::new());
                let mut line = String::new();
                loop {
                    line.clear();
                    if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_owned();
                    let upper = cmd.to_ascii_uppercase();
                    if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        if wr
                            .write_all(b"250-sink.test\r\n250 8BITMIME\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    } else if let Some(rest) = upper.strip_prefix("MAIL FROM:") {
                        from = cmd[cmd.len() - rest.len()..].trim().to_owned();
                        wr.write_all(b"250 ok\r\n").await.unwrap();
                    } else if let Some(rest) = upper.strip_prefix("RCPT TO:") {
                        to.push(cmd[cmd.len() - rest.len()..].trim().to_owned());
                        wr.write_all(b"250 ok\r\n").await.unwrap();
                    } else if upper == "DATA" {
                        wr.write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                            .await
                            .unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        }
                        store.lock().unwrap().push(Mail {
                            from: std::mem::take(&mut from),
                            to: std::mem::take(&mut to),
                            data,
                        });
                        wr.write_all(b"250 queued\r\n").await.unwrap();
                    } else if upper == "QUIT" {
                        wr.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        wr.write_all(b"250 ok\r\n").await.unwrap();
                    }
                }
            });
        }
    });
    (format!("smtp://{addr}"), mails)
}

/// The text of a quoted-printable body (RFC 2045 6.7: soft line breaks and =XX octets).
fn unquote(data: &str) -> String {
    let joined = data.replace("=\r\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Waits until `f` holds (the REST import delivers in the background).
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------
// Recorded images.

/// A CycloneDX SBOM whose components carry properties (Trivy's source package ones).
fn sbom_with(components: &[(&str, &[(&str, &str)])]) -> Value {
    let list: Vec<Value> = components
        .iter()
        .map(|(purl, props)| {
            let p = packageurl::PackageUrl::from_str(purl).unwrap();
            let props: Vec<Value> = props
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect();
            json!({"type": "library", "name": p.name(), "version": p.version().unwrap_or(""),
                   "purl": purl, "bom-ref": purl, "properties": props})
        })
        .collect();
    json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": list})
}

fn layer_att(key: &SigningKey, diff_ids: &[DiffId], index: usize, sbom: Value) -> Value {
    let doc = SbomDocument::from_value(sbom, media_types::CYCLONEDX_JSON);
    let blob = LayerBlob {
        digest: diff_ids[index].0.clone(),
        size: 1234,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
    };
    let p = LayerPredicate::for_stack(diff_ids, index, blob, doc.embedded()).unwrap();
    env_json(&custody_attest::sign_statement(
        &p.statement(),
        key,
        KeyIdHint::Securesystemslib,
    ))
}

/// An SBOM attested directly for an image (no layers: the image-level path).
fn image_sbom_att(key: &SigningKey, image: &Digest, sbom: Value) -> Value {
    let statement = json!({
        "_type": predicate_types::STATEMENT_V1,
        "subject": [{"name": "example/direct", "digest": {"sha256": image.hex()}}],
        "predicateType": predicate_types::CYCLONEDX_BOM,
        "predicate": sbom,
    });
    env_json(&Envelope::sign(
        media_types::IN_TOTO_JSON,
        serde_json::to_vec(&statement).unwrap(),
        &[key],
        KeyIdHint::Securesystemslib,
    ))
}

const SRC_NAME: &str = "aquasecurity:trivy:SrcName";
const SRC_VERSION: &str = "aquasecurity:trivy:SrcVersion";

/// The recorded world: a Debian base image and three images on it or beside it.
struct World {
    base_img: Digest,
    a: Digest,
    b: Digest,
    c: Digest,
    d: Digest,
    b0: DiffId,
    a1: DiffId,
    b1: DiffId,
    c0: DiffId,
    builder_b: SigningKey,
    builder_c: SigningKey,
}

async fn record(l: &Ledger) -> World {
    let builder_b = SigningKey::generate(KeyType::Ed25519).unwrap();
    let builder_c = SigningKey::generate(KeyType::P256).unwrap();
    for k in [&builder_b, &builder_c] {
        custody_ledger::add_signer(&l.db, k.public_key(), Role::Builder, "test")
            .await
            .unwrap();
    }
    // Owners: the base library team, team A (the shared builder key), team B; builder C has
    // none, so its image goes to the default owner.
    for (k, owner) in [
        (&l.keys.base, "base-team@example.com"),
        (&l.keys.builder, "team-a@example.com"),
        (&builder_b, "team-b@example.com"),
    ] {
        custody_ledger::set_signer_owner(&l.db, &k.key_id().to_string(), Some(owner))
            .await
            .unwrap();
    }
    let b0: DiffId = digest("debian base layer").into();
    let a1: DiffId = digest("app a layer").into();
    let b1: DiffId = digest("app b layer").into();
    let c0: DiffId = digest("app c layer").into();
    let (base_img, a, b, c, d) = (
        digest("base manifest"),
        digest("manifest a"),
        digest("manifest b"),
        digest("manifest c"),
        digest("manifest d"),
    );
    let base_sbom = sbom_with(&[
        (
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
            &[(SRC_NAME, "glibc"), (SRC_VERSION, "2.36-9+deb12u4")],
        ),
        (
            "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
            &[(SRC_NAME, "glibc"), (SRC_VERSION, "2.36-9+deb12u4")],
        ),
        // bsdutils has an epoch its source does not: only the source version is below the fix.
        (
            "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux",
            &[(SRC_NAME, "util-linux"), (SRC_VERSION, "2.38.1-5")],
        ),
        (
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12",
            &[(SRC_NAME, "bash"), (SRC_VERSION, "5.2.15-2")],
        ),
    ]);
    let base_att = layer_att(&l.keys.base, std::slice::from_ref(&b0), 0, base_sbom);
    let a_att = layer_att(
        &l.keys.builder,
        &[b0.clone(), a1.clone()],
        1,
        sbom_with(&[
            ("pkg:pypi/requests@2.31.0", &[]),
            ("pkg:pypi/urllib3@2.0.6", &[]),
        ]),
    );
    let b_att = layer_att(
        &builder_b,
        &[b0.clone(), b1.clone()],
        1,
        sbom_with(&[
            ("pkg:pypi/urllib3@2.2.3", &[]),
            ("pkg:npm/lodash@4.17.21", &[]),
            ("pkg:pypi/weird@not..a..version", &[]),
        ]),
    );
    let c_att = layer_att(
        &builder_c,
        std::slice::from_ref(&c0),
        0,
        sbom_with(&[("pkg:pypi/urllib3@1.26.5", &[])]),
    );
    let base_prov = provenance(
        &l.keys.base,
        &base_img,
        std::slice::from_ref(&b0),
        &[Some(envelope_digest(&base_att))],
        None,
    );
    let a_prov = provenance(
        &l.keys.builder,
        &a,
        &[b0.clone(), a1.clone()],
        &[None, Some(envelope_digest(&a_att))],
        Some((&base_img, 1)),
    );
    let b_prov = provenance(
        &builder_b,
        &b,
        &[b0.clone(), b1.clone()],
        &[None, Some(envelope_digest(&b_att))],
        Some((&base_img, 1)),
    );
    let c_prov = provenance(
        &builder_c,
        &c,
        std::slice::from_ref(&c0),
        &[Some(envelope_digest(&c_att))],
        None,
    );
    // Image D is known only through an image-level SBOM attestation.
    let d_sbom = image_sbom_att(
        &l.keys.scanner,
        &d,
        sbom_with(&[("pkg:npm/lodash@4.17.11", &[])]),
    );
    l.submit(&[
        base_att, a_att, b_att, c_att, base_prov, a_prov, b_prov, c_prov, d_sbom,
    ])
    .await;
    World {
        base_img,
        a,
        b,
        c,
        d,
        b0,
        a1,
        b1,
        c0,
        builder_b,
        builder_c,
    }
}

fn advisory(id: &str, modified: &str, affected: Value) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": modified,
        "summary": format!("SYNTHETIC test advisory {id}"),
        "aliases": [format!("CVE-2099-{}", id.len())],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": affected,
    })
}

fn range(eco: &str, name: &str, events: Value) -> Value {
    json!([{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}])
}

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-02-01T00:00:00Z";

fn first_batch() -> Value {
    json!([
        advisory(
            "x_custody-test-glibc",
            T0,
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u5"}])
            )
        ),
        advisory(
            "x_custody-test-util-linux",
            T0,
            range(
                "Debian:12",
                "util-linux",
                json!([{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u1"}])
            )
        ),
        advisory(
            "x_custody-test-urllib3",
            T0,
            range(
                "PyPI",
                "URLLib3",
                json!([{"introduced": "2.0.0"}, {"fixed": "2.0.7"}])
            )
        ),
        advisory(
            "x_custody-test-lodash-old",
            T0,
            range(
                "npm",
                "lodash",
                json!([{"introduced": "0"}, {"fixed": "4.17.12"}])
            )
        ),
        advisory(
            "x_custody-test-rubygems",
            T0,
            range("RubyGems", "rails", json!([{"introduced": "0"}]))
        ),
        advisory(
            "x_custody-test-weird",
            T0,
            range(
                "PyPI",
                "weird",
                json!([{"introduced": "0"}, {"fixed": "1.0"}])
            )
        ),
        // Not OSV: no modified time.
        json!({"id": "x_custody-test-broken", "affected": []}),
        withdrawn_record(
            "x_custody-test-withdrawn",
            T0,
            range("PyPI", "requests", json!([{"introduced": "0"}]))
        ),
    ])
}

fn withdrawn_record(id: &str, t: &str, affected: Value) -> Value {
    let mut w = advisory(id, t, affected);
    w["withdrawn"] = json!(t);
    w
}

/// (advisory, image) -> [(layer, position, purl, fixed)] of an affected query.
type Found = BTreeMap<(String, String), Vec<(String, Option<u64>, String, Option<String>)>>;

async fn affected_all(l: &Ledger, query: &str) -> (Found, Vec<Value>, Value) {
    let mut found = Found::new();
    let mut cursor: Option<String> = None;
    let mut undecided = Vec::new();
    let mut first = Value::Null;
    for _ in 0..50 {
        let mut uri = format!("/api/v1/affected?{query}&limit=2");
        if let Some(c) = &cursor {
            uri.push_str(&format!(
                "&cursor={}",
                c.replace(':', "%3A").replace(' ', "%20")
            ));
        }
        let (s, v) = l.get(&uri).await;
        assert_eq!(s, StatusCode::OK, "{}: {uri}: {v}", l.engine);
        if first.is_null() {
            first = v.clone();
        }
        for a in v["affected"].as_array().unwrap() {
            let comps = a["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["layer"].as_str().unwrap().to_owned(),
                        c["layer_index"].as_u64(),
                        c["purl"]
                            .as_str()
                            .unwrap()
                            .split('?')
                            .next()
                            .unwrap()
                            .to_owned(),
                        c["fixed"].as_str().map(str::to_owned),
                    )
                })
                .collect();
            let key = (
                a["advisory"].as_str().unwrap().to_owned(),
                a["image"].as_str().unwrap().to_owned(),
            );
            assert!(found.insert(key, comps).is_none(), "pair listed twice");
        }
        undecided.extend(v["unevaluated"].as_array().unwrap().iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (found, undecided, first),
        }
    }
    panic!("too many pages");
}

fn verify_signature(h: &Hook) {
    let sig = h.headers["x-custody-signature"].to_str().unwrap();
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|r| r.split_once(",v1="))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2_011::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&h.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("webhook signature verifies with the shared secret");
    let age = jiff::Timestamp::now().as_second() - t.parse::<i64>().unwrap();
    assert!((0..120).contains(&age), "signature time {t}");
    assert_eq!(h.headers["x-custody-event"], "advisories.affected");
    assert_eq!(h.headers["content-type"], "application/json");
}

/// owner -> (images, [(advisory, image, layer, fixed)]) of the webhook messages.
type ByOwner = BTreeMap<
    Option<String>,
    (
        BTreeSet<String>,
        BTreeSet<(String, String, String, Option<String>)>,
    ),
>;

fn by_owner(hooks: &[Hook]) -> ByOwner {
    let mut out = ByOwner::new();
    for h in hooks {
        verify_signature(h);
        let v: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(v["event"], "advisories.affected");
        assert_eq!(v["ledger"], "custody.test/ledger");
        let owner = v["owner"].as_str().map(str::to_owned);
        assert!(
            !out.contains_key(&owner),
            "one message per owner: {owner:?}"
        );
        let mut images = BTreeSet::new();
        let mut findings = BTreeSet::new();
        for i in v["images"].as_array().unwrap() {
            let image = i["image"].as_str().unwrap().to_owned();
            images.insert(image.clone());
            for f in i["findings"].as_array().unwrap() {
                findings.insert((
                    f["advisory"].as_str().unwrap().to_owned(),
                    image.clone(),
                    f["layer"].as_str().unwrap().to_owned(),
                    f["fixed"].as_str().map(str::to_owned),
                ));
            }
        }
        assert_eq!(
            v["totals"]["images"].as_u64().unwrap() as usize,
            images.len()
        );
        assert_eq!(v["totals"]["truncated"], false);
        out.insert(owner, (images, findings));
    }
    out
}

async fn import(l: &Ledger, body: &Value) -> Value {
    let (s, v) = l
        .post_json("/api/v1/admin/advisories", Some(&l.admin), body)
        .await;
    assert_eq!(s, StatusCode::OK, "{}: import: {v}", l.engine);
    v
}

fn notify_config(hook: &str, smtp: &str) -> ApiConfig {
    let args = NotifyArgs {
        webhooks: vec![hook.to_owned()],
        webhook_secret: Some(SECRET.into()),
        smtp: Some(smtp.to_owned()),
        from: Some("custody ledger <ledger@example.com>".into()),
        default_owner: Some("platform@example.com".into()),
        timeout_secs: 5,
        attempts: 3,
        backoff_ms: 50,
    };
    ApiConfig {
        notify: NotifyConfig::try_from(&args).unwrap(),
        ..ApiConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_find_exactly_the_affected_images_and_notify_each_owner_once() {
    for engine in engines("advisory_reevaluation").await {
        // The receiver refuses its first request: the delivery must retry.
        let (hook_url, hooks) = start_receiver(1).await;
        let (smtp_url, mails) = start_smtp().await;
        let l = Ledger::new(&engine, notify_config(&hook_url, &smtp_url)).await;
        let w = record(&l).await;
        let (img, lay) = (|d: &Digest| d.to_string(), |d: &DiffId| d.to_string());

        // Import 1.
        let r = import(&l, &first_batch()).await;
        assert_eq!(r["records_read"], 8, "{r}");
        assert_eq!(r["new"], 6, "{r}");
        assert_eq!(r["withdrawn"], 1, "{r}");
        assert_eq!(r["invalid"], 1, "{r}");
        assert_eq!(r["unevaluated"], 1, "{r}");
        assert_eq!(r["unevaluated_ids"], json!(["x_custody-test-rubygems"]));
        let warned: Vec<&str> = r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["source"].as_str().unwrap())
            .collect();
        assert!(
            warned.contains(&"request[6]"),
            "the broken record is named: {r}"
        );
        assert!(
            r["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["kind"] == "unsupported-ecosystem"
                    && w["id"] == "x_custody-test-rubygems"),
            "{r}"
        );
        // glibc x {base, A, B}, util-linux x {base, A, B}, urllib3 x {A}, lodash x {D}.
        assert_eq!(r["newly_affected_pairs"], 8, "{r}");
        assert_eq!(r["newly_affected_images"], 4, "{r}");
        // Owners: base-team (base), team-a (A), team-b (B), platform (D: image-level SBOM by a
        // scanner, no provenance): a webhook and an email each.
        assert_eq!(r["notifications"], 8, "{r}");

        eventually("4 webhook messages", || {
            hooks.hooks.lock().unwrap().len() == 4
        })
        .await;
        eventually("4 emails", || mails.lock().unwrap().len() == 4).await;
        assert_eq!(*hooks.attempts.lock().unwrap(), 5, "one 503, retried");
        let got = by_owner(&hooks.hooks.lock().unwrap());
        let glibc_fix = Some("2.36-9+deb12u5".to_owned());
        let ul_fix = Some("2.38.1-5+deb12u1".to_owned());
        let want: ByOwner = [
            (
                Some("base-team@example.com".to_owned()),
                [img(&w.base_img)].into(),
                vec![
                    (
                        "x_custody-test-glibc",
                        &w.base_img,
                        &w.b0,
                        glibc_fix.clone(),
                    ),
                    (
                        "x_custody-test-util-linux",
                        &w.base_img,
                        &w.b0,
                        ul_fix.clone(),
                    ),
                ],
            ),
            (
                Some("team-a@example.com".to_owned()),
                [img(&w.a)].into(),
                vec![
                    ("x_custody-test-glibc", &w.a, &w.b0, glibc_fix.clone()),
                    ("x_custody-test-util-linux", &w.a, &w.b0, ul_fix.clone()),
                    ("x_custody-test-urllib3", &w.a, &w.a1, Some("2.0.7".into())),
                ],
            ),
            (
                Some("team-b@example.com".to_owned()),
                [img(&w.b)].into(),
                vec![
                    ("x_custody-test-glibc", &w.b, &w.b0, glibc_fix.clone()),
                    ("x_custody-test-util-linux", &w.b, &w.b0, ul_fix.clone()),
                ],
            ),
        ]
        .into_iter()
        .map(
            |(o, imgs, f): (_, BTreeSet<String>, Vec<ExpectedFinding<'_>>)| {
                (
                    o,
                    (
                        imgs,
                        f.into_iter()
                            .map(|(a, i, d, x)| (a.to_owned(), img(i), lay(d), x))
                            .collect(),
                    ),
                )
            },
        )
        .collect();
        let mut got_layered = got.clone();
        let platform = got_layered
            .remove(&Some("platform@example.com".to_owned()))
            .expect("image D goes to the default owner");
        assert_eq!(got_layered, want, "{}", l.engine);
        assert_eq!(platform.0, [img(&w.d)].into());
        assert_eq!(platform.1.len(), 1);
        let (adv, _, layer, fixed) = platform.1.iter().next().unwrap();
        assert_eq!(
            (adv.as_str(), layer.as_str(), fixed.as_deref()),
            ("x_custody-test-lodash-old", "", Some("4.17.12"))
        );
        // Emails: one per owner, to the owner, listing images, layers and fixed versions.
        {
            let mails = mails.lock().unwrap();
            let to: BTreeSet<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
            assert_eq!(
                to,
                [
                    "<base-team@example.com>",
                    "<platform@example.com>",
                    "<team-a@example.com>",
                    "<team-b@example.com>"
                ]
                .into_iter()
                .map(str::to_owned)
                .collect()
            );
            let a_mail = mails
                .iter()
                .find(|m| m.to == ["<team-a@example.com>"])
                .unwrap();
            assert_eq!(a_mail.from, "<ledger@example.com>");
            let body = unquote(&a_mail.data);
            assert!(
                body.contains("Subject: [custody] 1 image newly affected by 3 advisories"),
                "{body}"
            );
            assert!(body.contains(&format!("image {}", w.a)), "{body}");
            assert!(body.contains(&format!("layer 1 {}", w.a1)), "{body}");
            assert!(body.contains("fixed in 2.0.7"), "{body}");
            assert!(body.contains("fixed in 2.36-9+deb12u5"), "{body}");
        }

        // The query: exactly the images, layers (with their position) and fixed versions.
        let (found, undecided, first) = affected_all(&l, "advisory=x_custody-test-glibc").await;
        let want_glibc: Found = [&w.a, &w.b, &w.base_img]
            .into_iter()
            .map(|i| {
                (
                    ("x_custody-test-glibc".to_owned(), img(i)),
                    vec![
                        (
                            lay(&w.b0),
                            Some(0),
                            "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u4".to_owned(),
                            glibc_fix.clone(),
                        ),
                        (
                            lay(&w.b0),
                            Some(0),
                            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4".to_owned(),
                            glibc_fix.clone(),
                        ),
                    ],
                )
            })
            .collect();
        assert_eq!(found, want_glibc, "{}", l.engine);
        assert!(undecided.is_empty());
        assert_eq!(first["advisories"][0]["id"], "x_custody-test-glibc");
        assert_eq!(first["advisories"][0]["aliases"], json!(["CVE-2099-20"]));
        assert_eq!(
            first["affected"][0]["components"][0]["severity"], "critical",
            "{first}"
        );
        assert_eq!(
            first["affected"][0]["components"][0]["compared_version"],
            "2.36-9+deb12u4"
        );
        let (found, _, _) = affected_all(&l, "advisory=x_custody-test-util-linux").await;
        assert_eq!(
            found.keys().map(|k| k.1.clone()).collect::<BTreeSet<_>>(),
            [img(&w.a), img(&w.b), img(&w.base_img)].into()
        );
        assert_eq!(
            found[&("x_custody-test-util-linux".to_owned(), img(&w.a))][0].2,
            "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bb1"
        );
        // An unparseable recorded version is listed as unevaluated, never as clean.
        let (found, undecided, _) = affected_all(&l, "advisory=x_custody-test-weird").await;
        assert!(found.is_empty());
        assert_eq!(undecided.len(), 1, "{undecided:?}");
        assert_eq!(undecided[0]["purl"], "pkg:pypi/weird@not..a..version");
        assert_eq!(undecided[0]["layer"], lay(&w.b1));
        // Withdrawn and non-evaluable advisories are known, and affect nothing.
        let (s, v) = l
            .get("/api/v1/affected?advisory=x_custody-test-withdrawn")
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["advisories"][0]["withdrawn"], T0);
        assert!(v["affected"].as_array().unwrap().is_empty());
        let (s, _) = l.get("/api/v1/affected?advisory=x_custody-test-nope").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // Everything imported since a time.
        let (all, _, _) = affected_all(&l, "since=2000-01-01T00:00:00Z").await;
        assert_eq!(all.len(), 8, "{all:?}");
        let (none, _, _) = affected_all(&l, "since=2999-01-01T00:00:00Z").await;
        assert!(none.is_empty());

        // Import 2: the same records: no-ops, nobody notified.
        let r = import(&l, &first_batch()).await;
        assert_eq!(
            (r["new"].as_u64(), r["unchanged"].as_u64()),
            (Some(0), Some(7)),
            "{r}"
        );
        assert_eq!(r["newly_affected_pairs"], 0);
        assert_eq!(r["notifications"], 0);

        // Import 3: urllib3's record gains a wider range (newer modified): B is newly affected,
        // A was already told. And a new advisory reaches image C (default owner).
        let r = import(
            &l,
            &json!([
                advisory(
                    "x_custody-test-urllib3",
                    T1,
                    range(
                        "PyPI",
                        "urllib3",
                        json!([{"introduced": "2.0.0"}, {"fixed": "2.2.4"}])
                    )
                ),
                advisory(
                    "x_custody-test-urllib3-v1",
                    T1,
                    range(
                        "PyPI",
                        "urllib3",
                        json!([{"introduced": "0"}, {"fixed": "1.26.18"}])
                    )
                ),
            ]),
        )
        .await;
        assert_eq!(
            (r["updated"].as_u64(), r["new"].as_u64()),
            (Some(1), Some(1)),
            "{r}"
        );
        assert_eq!(r["newly_affected_pairs"], 2, "{r}");
        assert_eq!(r["notifications"], 4, "{r}");
        eventually("2 more webhook messages", || {
            hooks.hooks.lock().unwrap().len() == 6
        })
        .await;
        eventually("2 more emails", || mails.lock().unwrap().len() == 6).await;
        let later = by_owner(&hooks.hooks.lock().unwrap()[4..]);
        assert_eq!(
            later.keys().cloned().collect::<Vec<_>>(),
            vec![
                Some("platform@example.com".to_owned()),
                Some("team-b@example.com".to_owned())
            ]
        );
        assert_eq!(
            later[&Some("team-b@example.com".to_owned())].1,
            [(
                "x_custody-test-urllib3".to_owned(),
                img(&w.b),
                lay(&w.b1),
                Some("2.2.4".to_owned())
            )]
            .into()
        );
        assert_eq!(
            later[&Some("platform@example.com".to_owned())].0,
            [img(&w.c)].into()
        );
        let _ = (&w.c0, &w.builder_b, &w.builder_c);

        // Import 4: glibc's record withdrawn: stored, no longer affects anything, tells nobody.
        let mut withdrawn = advisory(
            "x_custody-test-glibc",
            T1,
            range(
                "Debian:12",
                "glibc",
                json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u5"}]),
            ),
        );
        withdrawn["withdrawn"] = json!(T1);
        let r = import(&l, &json!([withdrawn])).await;
        assert_eq!(r["withdrawn"], 1, "{r}");
        assert_eq!(r["notifications"], 0);
        let (found, _, first) = affected_all(&l, "advisory=x_custody-test-glibc").await;
        assert!(found.is_empty());
        assert_eq!(first["advisories"][0]["withdrawn"], "2026-02-01T00:00:00Z");
        // An older version than the stored one is ignored.
        let r = import(
            &l,
            &json!([advisory(
                "x_custody-test-glibc",
                T0,
                range("Debian:12", "glibc", json!([{"introduced": "0"}]))
            )]),
        )
        .await;
        assert_eq!(r["older"], 1, "{r}");
        assert_eq!(hooks.hooks.lock().unwrap().len(), 6);
        assert_eq!(mails.lock().unwrap().len(), 6);
        engine.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_imports_are_refused_whole_and_write_nothing() {
    for engine in engines("advisory_bad_input").await {
        let l = Ledger::new(&engine, ApiConfig::default()).await;
        let uri = "/api/v1/admin/advisories";
        let one = json!([advisory(
            "x_custody-test-a",
            T0,
            range("PyPI", "requests", json!([{"introduced": "0"}]))
        )]);
        // Only admins import.
        let (s, _) = l.post_json(uri, Some(&l.writer), &one).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = l.post_json(uri, None, &one).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _, _) = l
            .raw(
                Method::POST,
                uri,
                Some(&l.admin),
                Some("text/plain"),
                b"[]".to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        for bad in [&b"{not json"[..], b"42", br#"{"records": 1}"#] {
            let (s, b, _) = l
                .raw(
                    Method::POST,
                    uri,
                    Some(&l.admin),
                    Some("application/json"),
                    bad.to_vec(),
                )
                .await;
            assert_eq!(
                s,
                StatusCode::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
        // A zip bomb: 20 entries of 16 MiB of zeros (320 MiB) in a ~330 KB archive.
        let bomb = {
            use std::io::Write as _;
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let zeros = vec![0u8; 16 << 20];
            for i in 0..20 {
                z.start_file(
                    format!("r{i}.json"),
                    zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Deflated),
                )
                .unwrap();
                z.write_all(&zeros).unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        let (s, b, _) = l
            .raw(
                Method::POST,
                uri,
                Some(&l.admin),
                Some("application/zip"),
                bomb,
            )
            .await;
        assert_eq!(
            s,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            String::from_utf8_lossy(&b)
        );
        assert!(String::from_utf8_lossy(&b).contains("zip bomb"));
        let (s, b, _) = l
            .raw(
                Method::POST,
                uri,
                Some(&l.admin),
                Some("application/zip"),
                b"PK\x03\x04junk".to_vec(),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&b)
        );

        // A fault in the middle of the transaction (a trigger refusing advisory_packages rows,
        // written after the advisories themselves) leaves nothing behind.
        match &l.db {
            custody_ledger::Db::Sqlite(pool) => {
                sqlx::query(
                    "CREATE TRIGGER boom BEFORE INSERT ON advisory_packages \
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
                )
                .execute(pool)
                .await
                .unwrap();
            }
            custody_ledger::Db::Postgres(pool) => {
                sqlx::query(
                    "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
                )
                .execute(pool)
                .await
                .unwrap();
                sqlx::query("CREATE TRIGGER boom BEFORE INSERT ON advisory_packages FOR EACH ROW EXECUTE FUNCTION boom()")
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        let (s, v) = l.post_json(uri, Some(&l.admin), &one).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
        let count = |table: &'static str| {
            let db = l.db.clone();
            async move {
                let sql = format!("SELECT COUNT(*) FROM {table}");
                let (n,): (i64,) = match &db {
                    custody_ledger::Db::Sqlite(p) => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .fetch_one(p)
                        .await
                        .unwrap(),
                    custody_ledger::Db::Postgres(p) => sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .fetch_one(p)
                        .await
                        .unwrap(),
                };
                n
            }
        };
        for t in [
            "advisories",
            "advisory_imports",
            "advisory_packages",
            "advisory_hits",
            "notifications",
        ] {
            assert_eq!(count(t).await, 0, "{}: {t} after a failed import", l.engine);
        }
        let (s, v) = l.get("/api/v1/affected?advisory=x_custody-test-a").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

        // Query parameters are checked.
        for q in [
            "",
            "advisory=a&since=2020-01-01T00:00:00Z",
            "since=yesterday",
            "advisory=a%20b",
            "advisory=x&limit=0",
            "advisory=x&bogus=1",
        ] {
            let (s, v) = l.get(&format!("/api/v1/affected?{q}")).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
        }
        // Owners: registered keys only, email addresses only, admins only.
        let kid = l.keys.builder.key_id().to_string();
        let put = |key: String, token: String, body: Value| {
            let l = &l;
            async move {
                l.raw(
                    Method::PUT,
                    &format!("/api/v1/admin/signers/{key}/owner"),
                    Some(&token),
                    Some("application/json"),
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
                .0
            }
        };
        assert_eq!(
            put(
                kid.clone(),
                l.admin.clone(),
                json!({"owner": "a@example.com"})
            )
            .await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            put(
                kid.clone(),
                l.admin.clone(),
                json!({"owner": "not an address"})
            )
            .await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            put(
                kid.clone(),
                l.writer.clone(),
                json!({"owner": "a@example.com"})
            )
            .await,
            StatusCode::FORBIDDEN
        );
        let unknown = l.keys.unknown.key_id().to_string();
        assert_eq!(
            put(unknown, l.admin.clone(), json!({"owner": "a@example.com"})).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            put(kid.clone(), l.admin.clone(), json!({"owner": null})).await,
            StatusCode::NO_CONTENT
        );
        assert!(
            custody_ledger::signer_owners(&l.db)
                .await
                .unwrap()
                .is_empty()
        );
        engine.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_stay_in_the_outbox_and_are_redelivered() {
    for engine in engines("advisory_redelivery").await {
        // A webhook that always fails, then one that works.
        let (hook_url, hooks) = start_receiver(usize::MAX).await;
        let args = NotifyArgs {
            webhooks: vec![hook_url],
            webhook_secret: Some(SECRET.into()),
            timeout_secs: 2,
            attempts: 2,
            backoff_ms: 10,
            ..NotifyArgs::default()
        };
        let config = NotifyConfig::try_from(&args).unwrap();
        let l = Ledger::new(&engine, ApiConfig::default()).await;
        let w = record(&l).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            serde_json::to_vec(&advisory(
                "x_custody-test-lodash",
                T0,
                range(
                    "npm",
                    "lodash",
                    json!([{"introduced": "4.17.20"}, {"fixed": "4.17.22"}]),
                ),
            ))
            .unwrap(),
        )
        .unwrap();
        let r = custody_ledger::import_path(
            &l.db,
            "custody.test/ledger",
            &config,
            dir.path(),
            custody_ledger::ReadLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.newly_affected_images, 1, "{r:?}");
        assert_eq!(r.notifications, 1);
        let d = custody_ledger::deliver_pending(&l.db, &config)
            .await
            .unwrap();
        assert_eq!((d.sent, d.failed), (0, 1));
        assert_eq!(*hooks.attempts.lock().unwrap(), 2, "two attempts");
        // Nothing pending now; requeue and redeliver once the receiver accepts.
        assert_eq!(
            custody_ledger::deliver_pending(&l.db, &config)
                .await
                .unwrap()
                .sent,
            0
        );
        *hooks.fail_first.lock().unwrap() = 0;
        assert_eq!(
            custody_ledger::requeue(&l.db, Duration::from_secs(600))
                .await
                .unwrap(),
            1
        );
        let d = custody_ledger::deliver_pending(&l.db, &config)
            .await
            .unwrap();
        assert_eq!((d.sent, d.failed), (1, 0));
        let body = hooks.hooks.lock().unwrap()[0].body.clone();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["owner"], "team-b@example.com");
        assert_eq!(v["images"][0]["image"], w.b.to_string());
        engine.cleanup().await;
    }
}

async fn import_one(l: &Ledger, config: &NotifyConfig, record: &Value) -> ImportReport {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        serde_json::to_vec(record).unwrap(),
    )
    .unwrap();
    custody_ledger::import_path(
        &l.db,
        "custody.test/ledger",
        config,
        dir.path(),
        custody_ledger::ReadLimits::default(),
    )
    .await
    .unwrap()
}

/// What an import told is derived from what earlier imports evaluated (their affected hits
/// and the log size they saw), not stored pair by pair: a newer version of an advisory tells
/// only the images no earlier version reached, such as one recorded since on a shared base.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_tells_only_the_images_recorded_since() {
    for engine in engines("advisory_recorded_since").await {
        let (hook_url, hooks) = start_receiver(0).await;
        let args = NotifyArgs {
            webhooks: vec![hook_url],
            webhook_secret: Some(SECRET.into()),
            timeout_secs: 5,
            attempts: 2,
            backoff_ms: 10,
            ..NotifyArgs::default()
        };
        let config = NotifyConfig::try_from(&args).unwrap();
        let l = Ledger::new(&engine, ApiConfig::default()).await;
        let w = record(&l).await;
        let glibc = |modified: &str| {
            advisory(
                "x_custody-test-glibc",
                modified,
                range(
                    "Debian:12",
                    "glibc",
                    json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u5"}]),
                ),
            )
        };
        // The base, A and B carry the base layer's glibc.
        let r = import_one(&l, &config, &glibc(T0)).await;
        assert_eq!(
            (r.new, r.newly_affected_pairs, r.newly_affected_images),
            (1, 3, 3),
            "{r:?}"
        );
        let d = custody_ledger::deliver_pending(&l.db, &config)
            .await
            .unwrap();
        assert_eq!((d.sent, d.failed), (3, 0), "one message per owner");

        // Image E, recorded after that import, on the same base layer.
        let e = digest("manifest e");
        let e1: DiffId = digest("app e layer").into();
        let e_att = layer_att(
            &w.builder_b,
            &[w.b0.clone(), e1.clone()],
            1,
            sbom_with(&[("pkg:pypi/flask@3.0.0", &[])]),
        );
        let e_prov = provenance(
            &w.builder_b,
            &e,
            &[w.b0.clone(), e1.clone()],
            &[None, Some(envelope_digest(&e_att))],
            Some((&w.base_img, 1)),
        );
        l.submit(&[e_att, e_prov]).await;

        // The same version again evaluates nothing and tells nobody.
        let r = import_one(&l, &config, &glibc(T0)).await;
        assert_eq!(
            (r.unchanged, r.newly_affected_pairs, r.notifications),
            (1, 0, 0),
            "{r:?}"
        );
        // A newer version tells E's owner about E alone: the others were told.
        let r = import_one(&l, &config, &glibc(T1)).await;
        assert_eq!(
            (r.updated, r.newly_affected_pairs, r.newly_affected_images),
            (1, 1, 1),
            "{r:?}"
        );
        assert_eq!(r.notifications, 1, "{r:?}");
        let d = custody_ledger::deliver_pending(&l.db, &config)
            .await
            .unwrap();
        assert_eq!((d.sent, d.failed), (1, 0));
        let bodies = hooks.hooks.lock().unwrap().clone();
        assert_eq!(bodies.len(), 4);
        let v: Value = serde_json::from_slice(&bodies[3].body).unwrap();
        assert_eq!(v["owner"], "team-b@example.com", "{v}");
        assert_eq!(v["totals"]["images"], 1, "{v}");
        assert_eq!(v["images"][0]["image"], e.to_string(), "{v}");
        assert_eq!(
            v["images"][0]["findings"][0]["layer"],
            w.b0.to_string(),
            "{v}"
        );
        assert_eq!(v["images"][0]["findings"][0]["layer_index"], 0, "{v}");
        // The affected-images query finds all four.
        let (found, _, _) = affected_all(&l, "advisory=x_custody-test-glibc").await;
        assert_eq!(found.len(), 4, "{found:?}");
        engine.cleanup().await;
    }
}
