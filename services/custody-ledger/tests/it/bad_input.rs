//! Hostile and malformed requests: always a 4xx with a JSON error, nothing written, and the
//! service keeps serving.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use custody_ledger::ApiConfig;
use serde_json::{Value, json};

use crate::support::*;

async fn expect_error(
    l: &Ledger,
    method: Method,
    uri: &str,
    ct: Option<&str>,
    body: Vec<u8>,
    want: StatusCode,
) {
    let (s, b, _) = l.raw(method.clone(), uri, Some(&l.writer), ct, body).await;
    assert_eq!(
        s,
        want,
        "{} {method} {uri}: {}",
        l.engine,
        String::from_utf8_lossy(&b)
    );
    let v: Value = serde_json::from_slice(&b).unwrap_or_else(|_| {
        panic!(
            "{method} {uri}: error body is not JSON: {}",
            String::from_utf8_lossy(&b)
        )
    });
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_submissions_get_json_4xx_and_write_nothing() {
    let config = ApiConfig {
        body_limit: 64 * 1024,
        ..ApiConfig::default()
    };
    on_engines("malformed_submissions", config, |l| async move {
        let m = digest("img");
        let good = review(&l.keys.reviewer, &m, 1);
        let json_ct = Some("application/json");
        let post = Method::POST;
        let e = "/api/v1/entries";
        expect_error(&l, post.clone(), e, json_ct, b"{not json".to_vec(), StatusCode::BAD_REQUEST).await;
        expect_error(&l, post.clone(), e, json_ct, b"".to_vec(), StatusCode::BAD_REQUEST).await;
        expect_error(&l, post.clone(), e, json_ct, b"[]".to_vec(), StatusCode::BAD_REQUEST).await;
        expect_error(&l, post.clone(), e, Some("text/plain"), serde_json::to_vec(&good).unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        expect_error(&l, post.clone(), e, None, serde_json::to_vec(&good).unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
        let huge = json!({"envelopes": [{"payload": "A".repeat(100_000), "payloadType": "x", "signatures": []}]});
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&huge).unwrap(), StatusCode::PAYLOAD_TOO_LARGE).await;
        let mut bad_b64 = good.clone();
        bad_b64["payload"] = json!("not base64 !!!");
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&bad_b64).unwrap(), StatusCode::BAD_REQUEST).await;
        let mut bad_sig = good.clone();
        bad_sig["signatures"][0]["sig"] = json!(base64::engine::general_purpose::STANDARD.encode([7u8; 64]));
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&bad_sig).unwrap(), StatusCode::FORBIDDEN).await;
        let mut tampered = good.clone();
        let payload = base64::engine::general_purpose::STANDARD.decode(good["payload"].as_str().unwrap()).unwrap();
        let mut p2 = payload.clone();
        let pos = p2.iter().position(|b| *b == b'1').unwrap();
        p2[pos] = b'2';
        tampered["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(p2));
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&tampered).unwrap(), StatusCode::FORBIDDEN).await;
        let mut no_sigs = good.clone();
        no_sigs["signatures"] = json!([]);
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&no_sigs).unwrap(), StatusCode::BAD_REQUEST).await;
        let mut extra = good.clone();
        extra["extra"] = json!(1);
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&extra).unwrap(), StatusCode::BAD_REQUEST).await;
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&json!({"envelopes": []})).unwrap(), StatusCode::BAD_REQUEST).await;
        expect_error(&l, post.clone(), e, json_ct, serde_json::to_vec(&json!({"envelopes": [1, 2]})).unwrap(), StatusCode::BAD_REQUEST).await;
        // A signed payload that is not an in-toto statement.
        let not_statement = custody_attest::Envelope::sign(
            custody_types::media_types::IN_TOTO_JSON,
            b"{\"hello\": 1}".to_vec(),
            &[&l.keys.reviewer],
            custody_attest::KeyIdHint::Custody,
        );
        expect_error(&l, post.clone(), e, json_ct, not_statement.to_json(), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(l.tree_size().await, 0, "nothing may be written");
        // And the service still works.
        let r = l.submit(&[good]).await;
        assert_eq!(r[0]["index"], 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reads_get_json_4xx_and_injections_are_inert() {
    on_engines("bad_reads", ApiConfig::default(), |l| async move {
        let m = digest("img");
        l.submit(&[
            review(&l.keys.reviewer, &m, 1),
            review(&l.keys.reviewer, &m, 2),
        ])
        .await;
        let g = Method::GET;
        for (uri, want) in [
            (
                "/api/v1/proofs/inclusion?index=5&tree_size=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/inclusion?index=0&tree_size=3",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/v1/proofs/inclusion?index=-1", StatusCode::BAD_REQUEST),
            (
                "/api/v1/proofs/inclusion?index=99999999999999999999999",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/v1/proofs/inclusion", StatusCode::BAD_REQUEST),
            (
                "/api/v1/proofs/entries?indices=0,1",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/entries?indices=0,2&tree_size=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/entries?indices=&tree_size=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/entries?indices=0;DROP%20TABLE%20entries&tree_size=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/entries?indices=0,-1&tree_size=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/inclusion?index=0&bogus=1",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/consistency?first=0&second=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/consistency?first=3&second=2",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/proofs/consistency?first=1&second=3",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/v1/entries/7", StatusCode::NOT_FOUND),
            ("/api/v1/entries/-1", StatusCode::BAD_REQUEST),
            ("/api/v1/entries/abc", StatusCode::BAD_REQUEST),
            ("/api/v1/entries/by-hash/zz", StatusCode::BAD_REQUEST),
            ("/api/v1/search?subject=x&limit=-1", StatusCode::BAD_REQUEST),
            (
                "/api/v1/search?predicate_type=x&limit=0",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?predicate_type=x&limit=1000000",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?predicate_type=x&cursor=-5",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?predicate_type=x&cursor=18446744073709551616",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?subject=sha256:1%27%20OR%201=1--",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?signer=%27;DROP%20TABLE%20entries;--",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?purl=%27%20OR%20%271%27=%271",
                StatusCode::BAD_REQUEST,
            ),
            (
                "/api/v1/search?purl=pkg:deb/debian/x&versions=%3E1;DROP",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/v1/search", StatusCode::BAD_REQUEST),
            ("/api/v1/search?subject=a&signer=b", StatusCode::BAD_REQUEST),
            ("/api/v1/search?since=yesterday", StatusCode::BAD_REQUEST),
            ("/api/v1/images/not-a-digest", StatusCode::BAD_REQUEST),
            ("/api/v1/images?purl=", StatusCode::BAD_REQUEST),
            ("/api/v1/blobs/sha256:00", StatusCode::BAD_REQUEST),
            ("/nope", StatusCode::NOT_FOUND),
        ] {
            let (s, b, _) = l.raw(g.clone(), uri, None, None, vec![]).await;
            assert_eq!(
                s,
                want,
                "{} {uri}: {}",
                l.engine,
                String::from_utf8_lossy(&b)
            );
            let v: Value = serde_json::from_slice(&b).unwrap_or_else(|_| panic!("{uri}: not JSON"));
            assert!(v["error"]["code"].is_string(), "{uri}: {v}");
        }
        // A predicate type full of SQL is just a string that matches nothing.
        let (s, v) = l
            .get("/api/v1/search?predicate_type=x%27%20OR%20%271%27=%271")
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["entries"].as_array().unwrap().len(), 0);
        assert_eq!(l.tree_size().await, 2);
        let report = custody_ledger::audit(&l.db, &l.identity).await.unwrap();
        assert!(report.ok(), "{:?}", report.problems);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_json() {
    let config = ApiConfig {
        rate_limit: 2,
        ..ApiConfig::default()
    };
    on_engines("rate_limit", config, |l| async move {
        let mut limited = 0;
        for _ in 0..20 {
            let (s, b, _) = l
                .raw(
                    Method::GET,
                    "/api/v1/checkpoint",
                    Some(&l.auditor),
                    None,
                    vec![],
                )
                .await;
            if s == StatusCode::TOO_MANY_REQUESTS {
                let v: Value = serde_json::from_slice(&b).unwrap();
                assert_eq!(v["error"]["code"], "rate_limited");
                limited += 1;
            }
        }
        assert!(limited > 0, "20 quick requests at 2/s must hit the limit");
        assert_eq!(
            l.get("/healthz").await.0,
            StatusCode::OK,
            "health is not rate limited"
        );
    })
    .await;
}
