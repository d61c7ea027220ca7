//! Auditors' queries: by subject, signer, predicate type, time, component purl and version
//! range, images containing a package, and an image's custody in one answer.

use axum::http::StatusCode;
use custody_ledger::ApiConfig;
use custody_types::{DiffId, predicate_types};
use serde_json::Value;

use crate::support::*;

fn indexes(v: &Value) -> Vec<u64> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_image_custody() {
    on_engines("search", ApiConfig::default(), |l| async move {
        let base: DiffId = digest("debian base").into();
        let app1: DiffId = digest("app layer 1").into();
        let app2: DiffId = digest("app layer 2").into();
        let img1 = digest("manifest 1");
        let img2 = digest("manifest 2");
        let base_img = digest("base manifest");
        let base_att = layer(
            &l.keys.base,
            std::slice::from_ref(&base),
            0,
            &[
                "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64",
                "pkg:deb/debian/libc6@2.36-9?arch=amd64",
            ],
        );
        let a1 = layer(
            &l.keys.builder,
            &[base.clone(), app1.clone()],
            1,
            &[
                "pkg:pypi/requests@2.31.0",
                "pkg:npm/%40scope/left-pad@1.3.0",
            ],
        );
        let a2 = layer(
            &l.keys.builder,
            &[base.clone(), app2.clone()],
            1,
            &["pkg:pypi/requests@2.19.0"],
        );
        let p1 = provenance(
            &l.keys.builder,
            &img1,
            &[base.clone(), app1.clone()],
            &[None, Some(envelope_digest(&a1))],
            Some((&base_img, 1)),
        );
        let p2 = provenance(
            &l.keys.builder,
            &img2,
            &[base.clone(), app2.clone()],
            &[None, Some(envelope_digest(&a2))],
            Some((&base_img, 1)),
        );
        let r1 = review(&l.keys.reviewer, &img1, 1);
        let r2 = review(&l.keys.reviewer2, &img1, 2);
        l.submit(&[base_att, a1, a2, p1, p2, r1, r2]).await;

        // By subject.
        let (s, v) = l.get(&format!("/api/v1/search?subject={img1}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(indexes(&v), vec![3, 5, 6]);
        // By signer, paginated.
        let kid = l.keys.builder.key_id();
        let (_, v) = l.get(&format!("/api/v1/search?signer={kid}&limit=2")).await;
        assert_eq!(indexes(&v), vec![1, 2]);
        assert_eq!(v["entries"][0]["signers"][0]["role"], "builder");
        let next = v["next_cursor"].as_u64().unwrap();
        let (_, v) = l
            .get(&format!(
                "/api/v1/search?signer={kid}&limit=2&cursor={next}"
            ))
            .await;
        assert_eq!(indexes(&v), vec![3, 4]);
        assert!(v["next_cursor"].is_null());
        // By predicate type and time range.
        let (_, v) = l
            .get(&format!(
                "/api/v1/search?predicate_type={}",
                predicate_types::REVIEW_V1
            ))
            .await;
        assert_eq!(indexes(&v), vec![5, 6]);
        let (_, v) = l
            .get("/api/v1/search?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&limit=1000")
            .await;
        assert_eq!(indexes(&v).len(), 7);
        let (_, v) = l.get("/api/v1/search?until=2000-01-01T00:00:00Z").await;
        assert!(indexes(&v).is_empty());

        // By purl: exact, any version, version ranges compared the ecosystem's way.
        let (_, v) = l.get("/api/v1/search?purl=pkg:pypi/requests@2.31.0").await;
        assert_eq!(indexes(&v), vec![1]);
        assert_eq!(v["entries"][0]["component"]["images"][0], img1.to_string());
        let (_, v) = l.get("/api/v1/search?purl=pkg:pypi/requests").await;
        assert_eq!(indexes(&v), vec![1, 2]);
        let (_, v) = l
            .get("/api/v1/search?purl=pkg:pypi/requests&versions=%3C2.20")
            .await;
        assert_eq!(indexes(&v), vec![2]);
        // dpkg ordering: 3.0.11-1~deb12u2 < 3.0.11-1.
        let (_, v) = l
            .get("/api/v1/search?purl=pkg:deb/debian/openssl&versions=%3C3.0.11-1")
            .await;
        assert_eq!(indexes(&v), vec![0]);
        let (_, v) = l
            .get("/api/v1/search?purl=pkg:deb/debian/openssl&versions=%3E%3D3.0.11-1")
            .await;
        assert!(indexes(&v).is_empty());
        // Images containing a package: the base layer's packages are in both images.
        let (s, v) = l.get("/api/v1/images?purl=pkg:deb/debian/openssl").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let images: Vec<&str> = v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["image"].as_str().unwrap())
            .collect();
        let mut want = vec![img1.to_string(), img2.to_string()];
        want.sort();
        assert_eq!(images, want);
        let (_, v) = l
            .get("/api/v1/images?purl=pkg:pypi/requests&versions=%3E%3D2.30")
            .await;
        assert_eq!(v["images"].as_array().unwrap().len(), 1);
        assert_eq!(v["images"][0]["image"], img1.to_string());
        assert_eq!(v["images"][0]["layer"], app1.to_string());
        let (_, v) = l
            .get("/api/v1/images?purl=pkg:npm/%2540scope/left-pad@1.3.0")
            .await;
        assert_eq!(v["images"].as_array().unwrap().len(), 1, "{v}");

        // The image view: layers with who attested them, base, provenance, reviews.
        let (s, v) = l.get(&format!("/api/v1/images/{img1}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["base_images"][0], base_img.to_string());
        assert_eq!(v["provenance"][0]["index"], 3);
        assert_eq!(v["layers"].as_array().unwrap().len(), 2);
        assert_eq!(v["layers"][0]["diff_id"], base.to_string());
        assert_eq!(v["layers"][0]["attestations"][0]["index"], 0);
        assert_eq!(
            v["layers"][0]["attestations"][0]["signers"][0]["role"],
            "base-library"
        );
        assert_eq!(v["layers"][1]["attestations"][0]["index"], 1);
        assert_eq!(v["reviews"].as_array().unwrap().len(), 2);
        assert!(v["scans"].as_array().unwrap().is_empty());
        let (s, v) = l
            .get(&format!("/api/v1/images/{}", digest("unknown")))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(v["layers"].as_array().unwrap().is_empty());
    })
    .await;
}
