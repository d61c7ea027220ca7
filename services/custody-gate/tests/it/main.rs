//! The gate's router driven in-process (`oneshot`): admission reviews and /v1/verify fail
//! closed when the ledger cannot vouch, unpinned images are denied, health and metrics answer.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use custody_gate::{Gate, build_router};
use custody_verify::{FetchError, LedgerTransport, Policy};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// A ledger that is down.
struct Down;

impl LedgerTransport for Down {
    fn base_url(&self) -> &str {
        "http://127.0.0.1:9"
    }
    fn get(&self, _path: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError::Transport("connection refused".into()))
    }
}

fn policy() -> Policy {
    let key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAiojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=\n-----END PUBLIC KEY-----\n";
    let text = "version: 1\nlog_key: log.pub\nlog_origin: custody.gate/log\nroles:\n  base-library: [k]\n  builder: [k]\n  scanner: [k]\n  reviewer: [k]\n";
    Policy::parse(text, &mut |_p: &str| Ok(key.to_owned())).unwrap()
}

fn router() -> axum::Router {
    let gate = Gate::new(policy(), Box::new(Down), None, None, None).unwrap();
    build_router(Arc::new(gate), Duration::from_secs(5))
}

async fn post(path: &str, body: Value) -> (u16, Value) {
    let resp = router()
        .oneshot(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn review(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
        .collect();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "namespace": "prod", "operation": "CREATE",
        "object": {"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": containers}}}}}})
}

#[tokio::test]
async fn admission_fails_closed_and_denies_unpinned_images() {
    let d = format!("registry.test/app@sha256:{}", "c".repeat(64));
    let (status, body) = post("/validate", review(&["registry.test/app:latest", &d])).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(body["response"]["allowed"], false);
    let msg = body["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("is not pinned by digest"), "{msg}");
    assert!(
        msg.contains("could not decide") && msg.contains("fail closed"),
        "{msg}"
    );
    assert_eq!(body["response"]["status"]["code"], 403);
}

#[tokio::test]
async fn unknown_kinds_are_denied_and_garbage_is_a_400() {
    let mut r = review(&[]);
    r["request"]["kind"]["kind"] = json!("Service");
    let (_, body) = post("/validate", r).await;
    assert_eq!(body["response"]["allowed"], false);
    let (status, body) = post("/validate", json!({"kind": "nope"})).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AdmissionReview")
    );
}

#[tokio::test]
async fn verify_api_reports_undecided_as_an_error() {
    let (status, body) = post(
        "/v1/verify",
        json!({"image": format!("sha256:{}", "d".repeat(64))}),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "undecided");
    let (status, _) = post("/v1/verify", json!({"image": "app:latest"})).await;
    assert_eq!(status, 400);
    let (status, _) = post("/v1/verify", json!({"image": "sha256:x", "extra": 1})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let resp = router()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = router()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
