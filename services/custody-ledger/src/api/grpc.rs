//! The gRPC service (`proto/custody/ledger/v1/ledger.proto`), over the same functions as REST.

use custody_log::Hash;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::ingest;
use crate::query::{self, Search};
use crate::state::AppState;
use crate::store;

/// Generated protobuf types and service traits.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("custody.ledger.v1");
}

use pb::ledger_server::{Ledger, LedgerServer};

/// The gRPC service.
pub(crate) struct GrpcLedger {
    state: AppState,
}

/// The service, ready to be mounted on the router.
pub(crate) fn service(state: AppState) -> LedgerServer<GrpcLedger> {
    LedgerServer::new(GrpcLedger { state })
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

fn caller<T>(req: &Request<T>) -> Caller {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller { role: None })
}

fn st(e: ApiError) -> Status {
    e.to_status()
}

impl GrpcLedger {
    fn read<T>(&self, req: &Request<T>) -> Result<(), Status> {
        caller(req)
            .require_reader(self.state.inner.config.reads)
            .map_err(st)
    }
}

fn hash_bytes(h: &Hash) -> Vec<u8> {
    h.as_bytes().to_vec()
}

fn summary(e: query::EntrySummary) -> pb::EntrySummary {
    let (purl, layer, images) = match e.component {
        Some(c) => (c.purl, c.layer, c.images),
        None => Default::default(),
    };
    pb::EntrySummary {
        index: e.index,
        leaf_hash: e.leaf_hash,
        predicate_type: e.predicate_type,
        subject_digests: e.subjects,
        signer_key_ids: e.signers.iter().map(|s| s.key_id.clone()).collect(),
        signer_roles: e.signers.into_iter().map(|s| s.role).collect(),
        integrated_time: e.integrated_time,
        purl,
        layer,
        images,
    }
}

#[tonic::async_trait]
impl Ledger for GrpcLedger {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        caller(&request).require_writer().map_err(st)?;
        let envelopes = request.into_inner().envelopes;
        if envelopes.is_empty() || envelopes.len() > crate::api::rest::MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "a submission holds 1 to {} envelopes",
                crate::api::rest::MAX_BATCH
            )));
        }
        let decoded = envelopes
            .into_iter()
            .map(|env| {
                let sigs = env
                    .signatures
                    .into_iter()
                    .map(|s| (s.keyid, s.sig))
                    .collect();
                (env.payload_type, env.payload, sigs)
            })
            .collect();
        let prepared = ingest::prepare_decoded(decoded, &self.state.inner.signers)
            .await
            .map_err(|(_, e)| st(e))?;
        let receipts = self
            .state
            .inner
            .sequencer
            .submit(prepared)
            .await
            .map_err(st)?;
        let receipts = receipts
            .into_iter()
            .map(|r| pb::Receipt {
                index: r.index,
                leaf_hash: hash_bytes(&r.leaf_hash),
                created: r.created,
                inclusion: Some(pb::InclusionProof {
                    index: r.index,
                    tree_size: r.proof.tree_size,
                    leaf_hash: hash_bytes(&r.leaf_hash),
                    root_hash: hash_bytes(&r.root),
                    hashes: r.proof.path.iter().map(hash_bytes).collect(),
                    checkpoint: r.checkpoint,
                }),
            })
            .collect();
        Ok(Response::new(pb::SubmitResponse { receipts }))
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::Entry>, Status> {
        self.read(&request)?;
        let db = self.state.db();
        let index = match request.into_inner().key {
            Some(pb::get_entry_request::Key::Index(i)) => i,
            Some(pb::get_entry_request::Key::LeafHash(h)) => {
                let h =
                    Hash::from_slice(&h).map_err(|e| Status::invalid_argument(e.to_string()))?;
                query::index_of_leaf(db, &h).await.map_err(st)?
            }
            None => return Err(Status::invalid_argument("give index or leaf_hash")),
        };
        let detail = query::entry_by_index(db, index).await.map_err(st)?;
        let canonical = query::canonical_by_index(db, index).await.map_err(st)?;
        let s = detail.summary;
        Ok(Response::new(pb::Entry {
            index: s.index,
            leaf_hash: hex::decode(&s.leaf_hash).unwrap_or_default(),
            canonical,
            payload_type: custody_types::media_types::IN_TOTO_JSON.to_owned(),
            predicate_type: s.predicate_type,
            subject_digests: s.subjects,
            signer_key_ids: s.signers.into_iter().map(|x| x.key_id).collect(),
            integrated_time: s.integrated_time,
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        self.read(&request)?;
        let r = request.into_inner();
        let (proof, leaf, note, root) =
            store::inclusion(self.state.db(), self.state.identity(), r.index, r.tree_size)
                .await
                .map_err(st)?;
        Ok(Response::new(pb::InclusionProof {
            index: proof.index,
            tree_size: proof.tree_size,
            leaf_hash: hash_bytes(&leaf),
            root_hash: hash_bytes(&root),
            hashes: proof.path.iter().map(hash_bytes).collect(),
            checkpoint: note,
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        self.read(&request)?;
        let r = request.into_inner();
        let (proof, a, b, note) =
            store::consistency(self.state.db(), self.state.identity(), r.first, r.second)
                .await
                .map_err(st)?;
        Ok(Response::new(pb::ConsistencyProof {
            first: proof.old_size,
            second: proof.new_size,
            first_root: hash_bytes(&a),
            second_root: hash_bytes(&b),
            hashes: proof.path.iter().map(hash_bytes).collect(),
            checkpoint: note,
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        self.read(&request)?;
        let (size, _) = store::head(self.state.db()).await.map_err(st)?;
        let (note, root) = store::checkpoint_at(self.state.db(), self.state.identity(), size)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::Checkpoint {
            origin: self.state.identity().origin().to_owned(),
            tree_size: size,
            root_hash: hash_bytes(&root),
            note,
        }))
    }

    async fn get_log_key(
        &self,
        _request: Request<pb::GetLogKeyRequest>,
    ) -> Result<Response<pb::LogKey>, Status> {
        let id = self.state.identity();
        Ok(Response::new(pb::LogKey {
            origin: id.origin().to_owned(),
            public_key_pem: id.public_key_pem().to_owned(),
            vkey: id.vkey(),
            key_id: id.key_id().to_string(),
        }))
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        self.read(&request)?;
        let r = request.into_inner();
        let opt = |s: String| (!s.is_empty()).then_some(s);
        let mut params = query::SearchParams {
            versions: opt(r.versions),
            since: opt(r.since),
            until: opt(r.until),
            cursor: Some(r.cursor.to_string()),
            limit: (r.limit != 0).then(|| r.limit.to_string()),
            ..Default::default()
        };
        match r.query {
            Some(pb::search_request::Query::Subject(s)) => params.subject = Some(s),
            Some(pb::search_request::Query::Purl(s)) => params.purl = Some(s),
            Some(pb::search_request::Query::Signer(s)) => params.signer = Some(s),
            Some(pb::search_request::Query::PredicateType(s)) => params.predicate_type = Some(s),
            None => {}
        }
        let search = Search::try_from(params).map_err(st)?;
        let page = query::search(self.state.db(), &search).await.map_err(st)?;
        Ok(Response::new(pb::SearchResponse {
            entries: page.entries.into_iter().map(summary).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    async fn get_image(
        &self,
        request: Request<pb::GetImageRequest>,
    ) -> Result<Response<pb::ImageCustody>, Status> {
        self.read(&request)?;
        let digest = request.into_inner().digest;
        let v = query::image_custody(self.state.db(), &digest)
            .await
            .map_err(st)?;
        let list = |v: Vec<query::EntrySummary>| v.into_iter().map(summary).collect();
        Ok(Response::new(pb::ImageCustody {
            digest: v.digest,
            provenance: list(v.provenance),
            layers: v
                .layers
                .into_iter()
                .map(|l| pb::ImageLayer {
                    position: l.position,
                    diff_id: l.diff_id,
                    attestations: l.attestations.into_iter().map(summary).collect(),
                })
                .collect(),
            base_image: v.base_images.into_iter().next().unwrap_or_default(),
            scans: list(v.scans),
            reviews: list(v.reviews),
            decisions: list(v.decisions),
            vex: list(v.vex),
            other: list(v.other.into_iter().chain(v.sboms).collect()),
        }))
    }
}
