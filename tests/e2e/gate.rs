//! The deploy gate end to end: a real `custody-ledger` (SQLite, HTTPS) and a real
//! `custody-gate` (HTTPS, as Kubernetes calls webhooks) with a policy; the real debian-py-node
//! image attested on its base, scanned and submitted through the `custody` CLI; then real
//! AdmissionReview requests (admission.k8s.io/v1, Pods pinned by digest) and `POST /v1/verify`.
//!
//! Checked: a Pod whose image lacks its reviews is denied naming the `reviews` rule, and that
//! denial is recorded in the ledger as a FAILED SLSA Verification Summary signed by the gate
//! key (role gate); once reviewed, the same Pod is allowed and a PASSED summary is recorded;
//! a dry run is answered but not recorded; an unpinned tag is denied without asking the
//! ledger; `/v1/verify` answers the decision as JSON; the gate's `--state` holds the checkpoint
//! of its last allow; and with the ledger down every request is denied (fail closed).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::time::Duration;

use custody_e2e::stack::{Service, custody, cut_base_layout, generate_keys, ledger_admin};
use custody_e2e::testdata_or_skip;
use serde_json::{Value, json};

fn args<'a>(parts: &'a [&'a dyn AsRef<OsStr>]) -> Vec<&'a OsStr> {
    parts.iter().map(|p| p.as_ref()).collect()
}

/// A client trusting only the test's self-signed certificate.
fn https_agent(ca_pem: &[u8]) -> ureq::Agent {
    let certs: Vec<_> = ureq::tls::parse_pem(ca_pem)
        .filter_map(|item| match item.unwrap() {
            ureq::tls::PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    let mut resp = agent
        .post(url)
        .header("content-type", "application/json")
        .send(&serde_json::to_vec(body).unwrap()[..])
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap())
}

fn get(agent: &ureq::Agent, url: &str) -> Value {
    let mut resp = agent.get(url).call().unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.body_mut().read_json().unwrap()
}

/// An AdmissionReview for a Pod running `image` (as the API server sends it).
fn pod_review(uid: &str, image: &str, dry_run: bool) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "web",
            "namespace": "prod",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "prod"},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "oldObject": null,
            "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    })
}

/// The gate's decisions about `digest` as the ledger's image view lists them, each with its
/// signed statement.
fn recorded_decisions(agent: &ureq::Agent, ledger: &str, digest: &str) -> Vec<(Value, Value)> {
    let view = get(agent, &format!("{ledger}/api/v1/images/{digest}"));
    view["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|summary| {
            let entry = get(
                agent,
                &format!("{ledger}/api/v1/entries/{}", summary["index"]),
            );
            let envelope = custody_attest::Envelope::from_json(
                &serde_json::to_vec(&entry["envelope"]).unwrap(),
            )
            .unwrap();
            let statement: Value = serde_json::from_slice(envelope.payload_unverified()).unwrap();
            (summary.clone(), statement)
        })
        .collect()
}

/// Checks a recorded decision: a SLSA Verification Summary about `digest`, signed by the gate
/// key in the gate role, with `result`, naming the pod's reference.
fn check_recorded(summary: &Value, statement: &Value, digest: &str, gate_key: &str, result: &str) {
    assert_eq!(summary["kind"], "decision", "{summary:#}");
    assert_eq!(
        summary["predicate_type"],
        "https://slsa.dev/verification_summary/v1"
    );
    let signers = summary["signers"].as_array().unwrap();
    assert_eq!(signers.len(), 1, "{summary:#}");
    assert_eq!(signers[0]["key_id"], gate_key);
    assert_eq!(signers[0]["role"], "gate");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    let p = &statement["predicate"];
    assert_eq!(p["verificationResult"], result, "{p:#}");
    assert_eq!(p["verifier"]["id"], "https://custody.dev/gate");
    assert_eq!(
        p["resourceUri"],
        format!("oci://registry.example/app@{digest}"),
        "{p:#}"
    );
    assert!(p["policy"]["digest"]["sha256"].is_string(), "{p:#}");
}

fn key_id(pub_pem: &Path) -> String {
    custody_attest::PublicKey::from_text(&fs::read_to_string(pub_pem).unwrap())
        .unwrap()
        .key_id()
        .to_string()
}

#[test]
fn the_gate_admits_reviewed_images_records_every_decision_and_fails_closed() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let image = data.join("images/debian-py-node/oci");
    let keys = d.join("keys");
    let key = |who: &str, ext: &str| keys.join(format!("{who}.{ext}"));
    generate_keys(&keys, &["base", "ci", "scanner", "alice", "bob", "gate"]);

    // One self-signed certificate for 127.0.0.1 serves both the ledger and the gate.
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (d.join("tls.crt"), d.join("tls.key"));
    fs::write(&cert_pem, cert.cert.pem()).unwrap();
    fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let agent = https_agent(cert.cert.pem().as_bytes());

    // The ledger over HTTPS, knowing every role's key (the gate's as role gate).
    let ledger_data = d.join("ledger");
    ledger_admin(&ledger_data, &["migrate", "--origin", "custody.e2e/gate"]);
    for (who, role) in [
        ("base", "base-library"),
        ("ci", "builder"),
        ("scanner", "scanner"),
        ("alice", "reviewer"),
        ("bob", "reviewer"),
        ("gate", "gate"),
    ] {
        ledger_admin(
            &ledger_data,
            &[
                "signer",
                "add",
                key(who, "pub").to_str().unwrap(),
                "--role",
                role,
            ],
        );
    }
    let token = ledger_admin(&ledger_data, &["token", "create", "--role", "writer"]);
    let token = token.lines().last().unwrap().trim().to_owned();
    let mut ledger = Service::start(
        "custody-ledger",
        &args(&[
            &"serve",
            &"--data-dir",
            &ledger_data,
            &"--listen",
            &"127.0.0.1:0",
            &"--rate-limit",
            &"0",
            &"--tls-cert",
            &cert_pem,
            &"--tls-key",
            &key_pem,
        ]),
        &d.join("ledger.log"),
    );
    let ledger_url = ledger.url.clone();
    assert!(ledger_url.starts_with("https://"), "{ledger_url}");

    // CI: the base library attests the base, CI the app on it, the scanner scans; all of it
    // is submitted, but nobody has reviewed the image yet.
    let base = d.join("base");
    cut_base_layout(&image, 2, &base);
    let (base_att, app_att) = (d.join("base-att"), d.join("app-att"));
    custody(&args(&[
        &"attest",
        &base,
        &"--role",
        &"base-library",
        &"--key",
        &key("base", "key"),
        &"--out",
        &base_att,
    ]))
    .ok("attest base");
    custody(&args(&[
        &"attest",
        &image,
        &"--base",
        &base,
        &"--key",
        &key("ci", "key"),
        &"--out",
        &app_att,
    ]))
    .ok("attest app");
    let index: Value =
        serde_json::from_slice(&fs::read(app_att.join("index.json")).unwrap()).unwrap();
    let digest = index["image"]["manifest"].as_str().unwrap().to_owned();
    let scan = d.join("scan.intoto.json");
    custody(&args(&[
        &"scan",
        &app_att.join("sboms/image.cdx.json"),
        &"--digest",
        &digest,
        &"--db",
        &data.join("osv"),
        &"--key",
        &key("scanner", "key"),
        &"--out",
        &scan,
    ]))
    .ok("scan");
    let submit = |paths: &[&dyn AsRef<OsStr>]| {
        let mut a: Vec<&dyn AsRef<OsStr>> = vec![&"submit"];
        a.extend_from_slice(paths);
        a.extend_from_slice(&[
            &"--ledger",
            &ledger_url,
            &"--token",
            &token,
            &"--ca-cert",
            &cert_pem,
        ]);
        custody(&args(&a)).ok("submit").to_owned()
    };
    submit(&[&base_att, &app_att, &scan]);

    // The gate: its policy, its signing key (decisions are recorded), its trusted state.
    fs::write(
        d.join("policy.yaml"),
        format!(
            "version: 1
log_key: {}
log_origin: custody.e2e/gate
roles:
  base-library: [keys/base.pub]
  builder: [keys/ci.pub]
  scanner: [keys/scanner.pub]
  reviewer: [keys/alice.pub, keys/bob.pub]
  gate: [keys/gate.pub]
rules:
  base_image: required
  scan: {{required: true, max_age: 7d, max_severity: high}}
  reviews: {{min: 2}}
  config: {{non_root: false, forbidden_packages: [openssh-server, telnetd]}}
",
            ledger_data.join("log.pub").display()
        ),
    )
    .unwrap();
    let state = d.join("gate-state/state.json");
    fs::create_dir_all(state.parent().unwrap()).unwrap();
    let gate = Service::start(
        "custody-gate",
        &args(&[
            &"--listen",
            &"127.0.0.1:0",
            &"--policy",
            &d.join("policy.yaml"),
            &"--ledger",
            &ledger_url,
            &"--ledger-ca-cert",
            &cert_pem,
            &"--ledger-token",
            &token,
            &"--key",
            &key("gate", "key"),
            &"--state",
            &state,
            &"--tls-cert",
            &cert_pem,
            &"--tls-key",
            &key_pem,
        ]),
        &d.join("gate.log"),
    );
    assert!(gate.url.starts_with("https://"), "{}", gate.url);
    let validate = format!("{}/validate", gate.url);
    let gate_key = key_id(&key("gate", "pub"));
    let pinned = format!("registry.example/app@{digest}");

    // Not reviewed: denied, naming the rule; the denial is recorded as FAILED.
    let (status, body) = post(&agent, &validate, &pod_review("uid-1", &pinned, false));
    assert_eq!(status, 200, "{body:#}\n{}", gate.log());
    let resp = &body["response"];
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(resp["uid"], "uid-1");
    assert_eq!(resp["allowed"], false, "{body:#}");
    assert_eq!(resp["status"]["code"], 403);
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(msg.contains("custody gate denied Pod prod/web"), "{msg}");
    assert!(msg.contains(&format!("container app ({digest})")), "{msg}");
    assert!(
        msg.contains("reviews: "),
        "the failing rule is named: {msg}"
    );
    assert!(!msg.contains("layers:") && !msg.contains("scan:"), "{msg}");
    assert!(
        !state.exists(),
        "a denial does not advance the trusted state"
    );
    let recorded = recorded_decisions(&agent, &ledger_url, &digest);
    assert_eq!(recorded.len(), 1, "{recorded:#?}\n{}", gate.log());
    check_recorded(&recorded[0].0, &recorded[0].1, &digest, &gate_key, "FAILED");

    // Two reviewers approve and their reviews are logged: the same Pod is allowed.
    let mut reviews = Vec::new();
    for who in ["alice", "bob"] {
        let file = d.join(format!("review-{who}.intoto.json"));
        custody(&args(&[
            &"review",
            &digest,
            &"--key",
            &key(who, "key"),
            &"--out",
            &file,
        ]))
        .ok("review");
        reviews.push(file);
    }
    submit(&[&reviews[0], &reviews[1]]);
    let (status, body) = post(&agent, &validate, &pod_review("uid-2", &pinned, false));
    assert_eq!(status, 200);
    assert_eq!(body["response"]["uid"], "uid-2");
    assert_eq!(
        body["response"]["allowed"],
        true,
        "{body:#}\n{}",
        gate.log()
    );
    assert!(body["response"].get("status").is_none(), "{body:#}");
    let recorded = recorded_decisions(&agent, &ledger_url, &digest);
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    check_recorded(&recorded[1].0, &recorded[1].1, &digest, &gate_key, "PASSED");
    assert!(
        recorded[1].0["index"].as_u64() > recorded[0].0["index"].as_u64(),
        "{recorded:#?}"
    );
    // The allow advanced the gate's trusted checkpoint, durably: to the tree that held the
    // reviews (the decision's own record comes after it).
    let trusted: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(trusted["size"].as_u64(), recorded[1].0["index"].as_u64());
    let leftovers: Vec<_> = fs::read_dir(state.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["state.json"], "no temporary file is left");

    // A dry run is answered but never recorded.
    let (_, body) = post(&agent, &validate, &pod_review("uid-3", &pinned, true));
    assert_eq!(body["response"]["allowed"], true, "{body:#}");
    assert_eq!(recorded_decisions(&agent, &ledger_url, &digest).len(), 2);

    // A tag is not a pin: denied without a decision to record.
    let (_, body) = post(
        &agent,
        &validate,
        &pod_review("uid-4", "registry.example/app:1.0", false),
    );
    assert_eq!(body["response"]["allowed"], false);
    let msg = body["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("\"registry.example/app:1.0\" is not pinned by digest"),
        "{msg}"
    );
    assert_eq!(recorded_decisions(&agent, &ledger_url, &digest).len(), 2);

    // /v1/verify: the decision as JSON, with every rule's verdict (and recorded too).
    let (status, decision) = post(
        &agent,
        &format!("{}/v1/verify", gate.url),
        &json!({"image": pinned}),
    );
    assert_eq!(status, 200, "{decision:#}");
    assert_eq!(
        decision["mediaType"],
        "application/vnd.custody.decision.v1+json"
    );
    assert_eq!(decision["image"], digest.as_str());
    assert_eq!(decision["allowed"], true, "{decision:#}");
    assert_eq!(decision["evidenceSource"]["kind"], "ledger");
    assert_eq!(decision["evidenceSource"]["url"], ledger_url.as_str());
    let rules: Vec<(&str, bool)> = decision["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["rule"].as_str().unwrap(), v["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        rules,
        [
            ("layers", true),
            ("base_image", true),
            ("provenance", true),
            ("scan", true),
            ("reviews", true),
            ("config", true),
            ("ledger", true)
        ]
    );
    assert_eq!(recorded_decisions(&agent, &ledger_url, &digest).len(), 3);
    let (status, err) = post(
        &agent,
        &format!("{}/v1/verify", gate.url),
        &json!({"image": "registry.example/app:1.0"}),
    );
    assert_eq!(status, 400, "{err:#}");

    // Metrics count what happened.
    let mut resp = agent.get(format!("{}/metrics", gate.url)).call().unwrap();
    let metrics = resp.body_mut().read_to_string().unwrap();
    assert!(
        metrics.contains("custody_gate_decisions_total{outcome=\"allowed\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("custody_gate_decisions_total{outcome=\"denied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("custody_gate_recorded_total{result=\"ok\"} 3"),
        "{metrics}"
    );

    // The ledger goes down: the gate cannot decide, so it denies (fail closed).
    ledger.stop();
    let (status, body) = post(&agent, &validate, &pod_review("uid-5", &pinned, false));
    assert_eq!(status, 200);
    assert_eq!(body["response"]["allowed"], false, "{body:#}");
    let msg = body["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("could not decide") && msg.contains("denied (fail closed)"),
        "{msg}"
    );
    let (status, err) = post(
        &agent,
        &format!("{}/v1/verify", gate.url),
        &json!({"image": digest}),
    );
    assert_eq!(status, 502, "{err:#}");
    assert_eq!(err["error"]["code"], "undecided");
    // The trusted state kept its last allow: the tree that held the first allow's record
    // (the dry run and /v1/verify decided under it; nothing was appended in between).
    let after: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(after["size"], trusted["size"].as_u64().unwrap() + 1);
}
