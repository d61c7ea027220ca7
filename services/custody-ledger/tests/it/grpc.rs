//! The gRPC API on the same port as REST, over a real TCP listener.

use std::time::Duration;

use custody_ledger::ApiConfig;
use custody_ledger::pb::{self, ledger_client::LedgerClient};
use custody_log::Hash;
use tonic::metadata::MetadataValue;

use crate::support::*;

fn envelope_pb(v: &serde_json::Value) -> pb::Envelope {
    let env = custody_attest::Envelope::from_json(&serde_json::to_vec(v).unwrap()).unwrap();
    pb::Envelope {
        payload_type: env.payload_type().to_owned(),
        payload: env.payload_unverified().to_vec(),
        signatures: env
            .signatures()
            .iter()
            .map(|s| pb::Signature {
                keyid: s.keyid().to_owned(),
                sig: s.sig().to_vec(),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_rest_share_one_port_and_one_log() {
    on_engines("grpc", ApiConfig::default(), |l| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(custody_ledger::serve(
            listener,
            l.router.clone(),
            None,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        let mut client = LedgerClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let m = digest("grpc image");
        let envs: Vec<_> = (0..3).map(|n| review(&l.keys.reviewer, &m, n)).collect();
        let mut req = tonic::Request::new(pb::SubmitRequest {
            envelopes: envs.iter().map(envelope_pb).collect(),
        });
        // Without a token: unauthenticated.
        let err = client
            .submit(tonic::Request::new(pb::SubmitRequest {
                envelopes: vec![envelope_pb(&envs[0])],
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        let bearer: MetadataValue<_> = format!("Bearer {}", l.writer).parse().unwrap();
        req.metadata_mut().insert("authorization", bearer.clone());
        let resp = client.submit(req).await.unwrap().into_inner();
        assert_eq!(resp.receipts.len(), 3);
        let verifier = l.verifier();
        for (i, r) in resp.receipts.iter().enumerate() {
            assert_eq!(r.index, i as u64);
            let inc = r.inclusion.as_ref().unwrap();
            let signed = custody_log::SignedCheckpoint::parse(&inc.checkpoint).unwrap();
            let cp = signed.verify(&verifier).unwrap();
            let path: Vec<Hash> = inc
                .hashes
                .iter()
                .map(|h| Hash::from_slice(h).unwrap())
                .collect();
            let leaf = Hash::from_slice(&r.leaf_hash).unwrap();
            custody_log::verify_inclusion(&leaf, r.index, inc.tree_size, &path, &cp.root())
                .unwrap();
            assert!(sigstore_inclusion(
                &leaf,
                r.index,
                inc.tree_size,
                &path,
                &cp.root()
            ));
        }
        // An unknown key: permission denied, nothing written.
        let mut req = tonic::Request::new(pb::SubmitRequest {
            envelopes: vec![envelope_pb(&review(&l.keys.unknown, &m, 9))],
        });
        req.metadata_mut().insert("authorization", bearer.clone());
        assert_eq!(
            client.submit(req).await.unwrap_err().code(),
            tonic::Code::PermissionDenied
        );

        // REST sees what gRPC wrote; gRPC reads agree with REST.
        assert_eq!(l.tree_size().await, 3);
        let cp = client
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cp.tree_size, 3);
        let key = client
            .get_log_key(pb::GetLogKeyRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(key.vkey, l.identity.vkey());
        let entry = client
            .get_entry(pb::GetEntryRequest {
                key: Some(pb::get_entry_request::Key::Index(1)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            Hash::from_slice(&entry.leaf_hash).unwrap(),
            custody_log::leaf_hash(&entry.canonical)
        );
        let inc = client
            .get_inclusion_proof(pb::InclusionProofRequest {
                index: 0,
                tree_size: 2,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(inc.tree_size, 2);
        let cons = client
            .get_consistency_proof(pb::ConsistencyProofRequest {
                first: 1,
                second: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let path: Vec<Hash> = cons
            .hashes
            .iter()
            .map(|h| Hash::from_slice(h).unwrap())
            .collect();
        custody_log::verify_consistency(
            1,
            3,
            &path,
            &Hash::from_slice(&cons.first_root).unwrap(),
            &Hash::from_slice(&cons.second_root).unwrap(),
        )
        .unwrap();
        let err = client
            .get_inclusion_proof(pb::InclusionProofRequest {
                index: 5,
                tree_size: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let found = client
            .search(pb::SearchRequest {
                query: Some(pb::search_request::Query::Subject(m.to_string())),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.entries.len(), 2);
        assert_eq!(found.next_cursor, Some(2));
        let bad = client
            .search(pb::SearchRequest {
                query: Some(pb::search_request::Query::Subject("x'; --".into())),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        let img = client
            .get_image(pb::GetImageRequest {
                digest: m.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(img.reviews.len(), 3);

        // REST on the same port, over HTTP/1.1.
        let body = ureq::get(&format!("http://{addr}/api/v1/checkpoint"))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        assert!(body.contains("custody.test/ledger"));
        let _ = stop.send(());
        server.await.unwrap();
    })
    .await;
}
