//! Content-addressed blobs: streamed upload, deduplication, download, digest and size checks,
//! and SBOMs embedded in layer attestations stored once.

use axum::http::{Method, StatusCode};
use custody_ledger::ApiConfig;
use custody_types::{DiffId, Digest};
use serde_json::Value;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_stored_once_and_streamed_back() {
    let config = ApiConfig {
        blob_limit: 3 << 20,
        ..ApiConfig::default()
    };
    on_engines("blobs", config, |l| async move {
        // 2.5 MiB spans three chunks.
        let data: Vec<u8> = (0..(5u32 << 19)).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256_of(&data);
        let uri = format!("/api/v1/blobs/{d}");
        let (s, b, _) = l
            .raw(
                Method::PUT,
                &uri,
                Some(&l.writer),
                Some("application/octet-stream"),
                data.clone(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
        let (s, b, _) = l
            .raw(Method::PUT, &uri, Some(&l.writer), None, data.clone())
            .await;
        assert_eq!(s, StatusCode::OK, "second upload is deduplicated");
        let info: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(info["created"], false);
        assert_eq!(info["size"], data.len());
        let (s, body, headers) = l.raw(Method::GET, &uri, None, None, vec![]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(body, data);
        assert_eq!(headers["docker-content-digest"], d.to_string().as_str());
        // POST computes the digest.
        let (s, b, _) = l
            .raw(
                Method::POST,
                "/api/v1/blobs",
                Some(&l.writer),
                None,
                b"small".to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["digest"], Digest::sha256_of(b"small").to_string());
        // Wrong digest, too large, no token: refused, nothing stored.
        let wrong = Digest::sha256_of(b"other");
        let (s, _, _) = l
            .raw(
                Method::PUT,
                &format!("/api/v1/blobs/{wrong}"),
                Some(&l.writer),
                None,
                b"data".to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            l.get(&format!("/api/v1/blobs/{wrong}")).await.0,
            StatusCode::NOT_FOUND
        );
        let big = vec![0u8; 4 << 20];
        let (s, _, _) = l
            .raw(
                Method::POST,
                "/api/v1/blobs",
                Some(&l.writer),
                None,
                big.clone(),
            )
            .await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            l.get(&format!("/api/v1/blobs/{}", Digest::sha256_of(&big)))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (s, _, _) = l
            .raw(Method::POST, "/api/v1/blobs", None, None, b"x".to_vec())
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_layer_sbom_shared_by_many_images_is_stored_once() {
    on_engines("sbom_dedup", ApiConfig::default(), |l| async move {
        let base: DiffId = digest("base layer").into();
        let purls = [
            "pkg:deb/debian/libc6@2.36-9?arch=amd64",
            "pkg:deb/debian/openssl@3.0.11-1?arch=amd64",
        ];
        let base_att = layer(&l.keys.base, std::slice::from_ref(&base), 0, &purls);
        let mut layer_atts = vec![base_att.clone()];
        for i in 0..5 {
            let app: DiffId = digest(&format!("app layer {i}")).into();
            let stack = [base.clone(), app];
            layer_atts.push(layer(
                &l.keys.builder,
                &stack,
                1,
                &["pkg:pypi/requests@2.31.0"],
            ));
        }
        let r = l.submit(&layer_atts).await;
        assert_eq!(r.len(), 6);
        // The same base layer attestation submitted again (as every image build would) is
        // the same entry.
        let again = l.submit(&[base_att]).await;
        assert_eq!(again[0]["created"], false);
        let blobs: (i64,) = match &l.db {
            custody_ledger::Db::Sqlite(p) => sqlx::query_as("SELECT COUNT(*) FROM blobs")
                .fetch_one(p)
                .await
                .unwrap(),
            custody_ledger::Db::Postgres(p) => sqlx::query_as("SELECT COUNT(*) FROM blobs")
                .fetch_one(p)
                .await
                .unwrap(),
        };
        assert_eq!(
            blobs.0, 2,
            "one base SBOM + one app SBOM (identical across the five app layers)"
        );
        let (_, entry) = l.get("/api/v1/entries/0").await;
        assert_eq!(entry["kind"], "layer");
    })
    .await;
}
