//! Submitting envelopes and reading proofs, checkpoints and entries back.

use axum::http::StatusCode;
use custody_ledger::ApiConfig;
use custody_log::Hash;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_returns_proofs_that_two_verifiers_accept() {
    on_engines(
        "submit_returns_proofs",
        ApiConfig::default(),
        |l| async move {
            let m = digest("image-1");
            let one = review(&l.keys.reviewer, &m, 1);
            let r = l.submit(std::slice::from_ref(&one)).await;
            assert_eq!(r.len(), 1);
            assert_eq!(r[0]["index"], 0);
            assert_eq!(r[0]["created"], true);
            let (size, _) = check_receipt(&l, &r[0], Some(&one));
            assert_eq!(size, 1);

            // A batch: consecutive indexes, each proof valid under the batch's checkpoint.
            let batch: Vec<_> = (2..12).map(|n| review(&l.keys.reviewer2, &m, n)).collect();
            let r = l.submit(&batch).await;
            for (i, (rec, env)) in r.iter().zip(&batch).enumerate() {
                assert_eq!(rec["index"], 1 + i as u64);
                let (size, _) = check_receipt(&l, rec, Some(env));
                assert_eq!(size, 11);
            }
            assert_eq!(l.tree_size().await, 11);

            // The single-envelope body form works too.
            let (s, v) = l
                .post_json(
                    "/api/v1/entries",
                    Some(&l.writer),
                    &review(&l.keys.reviewer, &m, 99),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(v["entries"][0]["index"], 11);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_envelope_twice_is_the_same_entry() {
    on_engines("idempotent", ApiConfig::default(), |l| async move {
        let m = digest("image-2");
        let env = review(&l.keys.reviewer, &m, 1);
        let first = l.submit(std::slice::from_ref(&env)).await;
        let other = review(&l.keys.reviewer, &m, 2);
        l.submit(std::slice::from_ref(&other)).await;
        // Again, twice within one batch, and with its members in another order.
        let reordered = json!({
            "signatures": env["signatures"].clone(),
            "payloadType": env["payloadType"].clone(),
            "payload": env["payload"].clone(),
        });
        let again = l.submit(&[env.clone(), env.clone(), reordered]).await;
        for r in &again {
            assert_eq!(r["index"], first[0]["index"]);
            assert_eq!(r["leaf_hash"], first[0]["leaf_hash"]);
            assert_eq!(r["created"], false);
            check_receipt(&l, r, Some(&env));
        }
        assert_eq!(l.tree_size().await, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_with_403_and_nothing_is_written() {
    on_engines("unknown_key", ApiConfig::default(), |l| async move {
        let m = digest("image-3");
        let bad = review(&l.keys.unknown, &m, 1);
        let (s, v) = l
            .post_json("/api/v1/entries", Some(&l.writer), &json!({"envelopes": [bad]}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(v["error"]["code"], "forbidden");
        // One bad envelope in a batch refuses the whole batch.
        let good = review(&l.keys.reviewer, &m, 2);
        let (s, v) = l
            .post_json("/api/v1/entries", Some(&l.writer), &json!({"envelopes": [good, review(&l.keys.unknown, &m, 3)]}))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().starts_with("envelope 1:"));
        assert_eq!(l.tree_size().await, 0);

        // Registering the key through the admin API makes the same envelope acceptable.
        let (s, v) = l
            .post_json(
                "/api/v1/admin/signers",
                Some(&l.admin),
                &json!({"public_key": l.keys.unknown.public_key().to_spki_pem(), "role": "scanner"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["role"], "scanner");
        let r = l.submit(&[review(&l.keys.unknown, &m, 1)]).await;
        assert_eq!(r[0]["index"], 0);
        // The writer token cannot register keys; the same key cannot change role.
        let (s, _) = l
            .post_json(
                "/api/v1/admin/signers",
                Some(&l.writer),
                &json!({"public_key": l.keys.unknown.public_key().to_spki_pem(), "role": "builder"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = l
            .post_json(
                "/api/v1/admin/signers",
                Some(&l.admin),
                &json!({"public_key": l.keys.unknown.public_key().to_spki_pem(), "role": "builder"}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_gate_writes_and_optionally_reads() {
    let config = ApiConfig {
        reads: custody_ledger::ReadAccess::Auditor,
        ..ApiConfig::default()
    };
    on_engines("tokens", config, |l| async move {
        let env = review(&l.keys.reviewer, &digest("x"), 1);
        let body = json!({"envelopes": [env]});
        let (s, v) = l.post_json("/api/v1/entries", None, &body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        let (s, _) = l
            .post_json("/api/v1/entries", Some(&l.auditor), &body)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = l
            .post_json("/api/v1/entries", Some("cl_not-a-token"), &body)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Reads need a token in auditor mode; health and the log key do not.
        let (s, _) = l.get("/api/v1/checkpoint").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _, _) = l
            .raw(
                axum::http::Method::GET,
                "/api/v1/checkpoint",
                Some(&l.auditor),
                None,
                vec![],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(l.get("/healthz").await.0, StatusCode::OK);
        assert_eq!(l.get("/readyz").await.0, StatusCode::OK);
        let (s, _, _) = l
            .raw(
                axum::http::Method::GET,
                "/api/v1/log-key",
                Some(&l.auditor),
                None,
                vec![],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_at_every_size_and_consistency_between_all_checkpoints() {
    on_engines("proofs", ApiConfig::default(), |l| async move {
        let m = digest("image-4");
        let mut checkpoints = Vec::new();
        let mut envs = Vec::new();
        for batch in [1usize, 2, 5, 8, 1, 3] {
            let b: Vec<_> = (0..batch)
                .map(|i| review(&l.keys.reviewer, &m, (envs.len() + i) as u64))
                .collect();
            let r = l.submit(&b).await;
            checkpoints.push(check_receipt(&l, r.last().unwrap(), b.last()));
            envs.extend(b);
        }
        let n = envs.len() as u64;
        for size in 1..=n {
            for index in 0..size {
                let (s, v) = l
                    .get(&format!(
                        "/api/v1/proofs/inclusion?index={index}&tree_size={size}"
                    ))
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
                let proof: custody_log::EntryProof = serde_json::from_value(v).unwrap();
                let checked = proof.verify(None, &l.verifier()).unwrap();
                assert!(sigstore_inclusion(
                    &proof.leaf_hash,
                    index,
                    size,
                    &proof.audit_path,
                    &checked.checkpoint.root()
                ));
            }
        }
        // The batch route answers the same envelopes and audit paths, in the order asked.
        for size in [1, n / 2, n] {
            let indices: Vec<u64> = (0..size).rev().collect();
            let list: Vec<String> = indices.iter().map(u64::to_string).collect();
            let (s, v) = l
                .get(&format!(
                    "/api/v1/proofs/entries?indices={}&tree_size={size}",
                    list.join(",")
                ))
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_eq!(v["tree_size"], size);
            let checkpoint =
                custody_log::SignedCheckpoint::parse(v["checkpoint"].as_str().unwrap()).unwrap();
            let root = checkpoint.verify(&l.verifier()).unwrap().root();
            let entries = v["entries"].as_array().unwrap();
            assert_eq!(entries.len(), indices.len());
            for (e, index) in entries.iter().zip(&indices) {
                assert_eq!(e["index"], *index);
                assert_eq!(e["envelope"], envs[*index as usize]);
                let leaf = Hash::from_hex(e["leaf_hash"].as_str().unwrap()).unwrap();
                let path: Vec<Hash> = e["audit_path"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
                    .collect();
                assert!(sigstore_inclusion(&leaf, *index, size, &path, &root));
            }
        }
        // An index asked twice is answered twice.
        let (s, v) = l
            .get(&format!("/api/v1/proofs/entries?indices=0,0&tree_size={n}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["entries"][0], v["entries"][1]);
        // Every pair of checkpoints handed out is consistent.
        for (i, (a, ra)) in checkpoints.iter().enumerate() {
            for (b, rb) in &checkpoints[i..] {
                let (s, v) = l
                    .get(&format!("/api/v1/proofs/consistency?first={a}&second={b}"))
                    .await;
                assert_eq!(s, StatusCode::OK, "{v}");
                let path: Vec<Hash> = v["hashes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
                    .collect();
                assert_eq!(v["first_root"], ra.to_hex());
                assert_eq!(v["second_root"], rb.to_hex());
                custody_log::verify_consistency(*a, *b, &path, ra, rb).unwrap();
                assert!(sigstore_consistency(*a, *b, &path, ra, rb));
            }
        }
        // Entries read back by index and by leaf hash carry the canonical envelope.
        let (s, v) = l.get("/api/v1/entries/3").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["envelope"], envs[3]);
        let (s, v2) = l
            .get(&format!(
                "/api/v1/entries/by-hash/{}",
                v["leaf_hash"].as_str().unwrap()
            ))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v2["index"], 3);
        // The text checkpoint is the same note as the JSON one.
        let (_, cp) = l.get("/api/v1/checkpoint").await;
        let (s, text, _) = l
            .raw(axum::http::Method::GET, "/checkpoint", None, None, vec![])
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            cp["checkpoint"].as_str().unwrap()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_group_committed_into_one_gapless_log() {
    on_engines("concurrent", ApiConfig::default(), |l| async move {
        let m = digest("image-5");
        let l = std::sync::Arc::new(l);
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let l = l.clone();
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..10u64 {
                    let env = review(&l.keys.reviewer, &m, t * 1000 + i);
                    let r = l.submit(std::slice::from_ref(&env)).await;
                    check_receipt(&l, &r[0], Some(&env));
                    out.push(r[0]["index"].as_u64().unwrap());
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..80).collect::<Vec<u64>>());
        let report = custody_ledger::audit(&l.db, &l.identity).await.unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.entries, 80);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_endpoints_openapi_metrics_log_key() {
    on_engines("service", ApiConfig::default(), |l| async move {
        let (s, doc) = l.get("/openapi.json").await;
        assert_eq!(s, StatusCode::OK);
        for path in [
            "/api/v1/entries",
            "/api/v1/proofs/inclusion",
            "/api/v1/search",
            "/api/v1/images/{digest}",
        ] {
            assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
        }
        let (s, key) = l.get("/api/v1/log-key").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(key["origin"], "custody.test/ledger");
        assert!(
            key["public_key_pem"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        let v: custody_log::VerifierKey = key["vkey"].as_str().unwrap().parse().unwrap();
        assert_eq!(v.name().as_str(), "custody.test/ledger");
        l.submit(&[review(&l.keys.reviewer, &digest("m"), 1)]).await;
        let (s, text, _) = l
            .raw(axum::http::Method::GET, "/metrics", None, None, vec![])
            .await;
        assert_eq!(s, StatusCode::OK);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("custody_ledger_entries_submitted_total 1"),
            "{text}"
        );
        assert!(text.contains("custody_ledger_http_requests_total"));
        let (_, _, headers) = l
            .raw(axum::http::Method::GET, "/healthz", None, None, vec![])
            .await;
        assert!(
            headers.get("x-request-id").is_some(),
            "every response carries its request id"
        );
    })
    .await;
}
