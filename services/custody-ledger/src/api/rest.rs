//! REST/JSON handlers. Every rejection (bad JSON, wrong content type, bad path or query) goes
//! through [`ApiError`], so clients always get `{"error": {"code", "message"}}`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custody_log::{EntryProof, Hash, SignedCheckpoint};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;

use crate::auth::Caller;
use crate::blobs::{self, BlobInfo};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ingest::{self, WireEnvelope};
use crate::query::{
    self, EntryDetail, EntrySummary, ImageCustody, ImageHit, Search, SearchPage, SearchParams,
};
use crate::sequencer::Receipt;
use crate::signers::{self, SignerInfo};
use crate::state::AppState;
use crate::store;

/// Most envelopes in one submission.
pub(crate) const MAX_BATCH: usize = 1000;

/// Query string extractor with JSON errors and unknown parameters refused.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))
    }
}

/// Path extractor with JSON errors.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::BadRequest(format!("path: {}", e.body_text())))
    }
}

/// JSON body extractor with JSON errors: 415 without a JSON content type, 413 over the limit,
/// 400 for malformed JSON.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::TooLarge("request body is larger than the limit".into())
                }
                _ => ApiError::BadRequest(format!("reading the body: {}", e.body_text())),
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "content type {:?} is not application/json",
            crate::util::truncate(ct)
        )))
    }
}

/// Parses a JSON body, mapping syntax and shape errors to 400.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}

/// A submission: one envelope, or `{"envelopes": [...]}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Submission {
    /// Several envelopes.
    Batch(Batch),
    /// One envelope.
    One(WireEnvelope),
}

/// A batch of envelopes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// 1..=1000 envelopes.
    pub envelopes: Vec<WireEnvelope>,
}

impl Submission {
    /// Parses a request body into envelopes (the fuzzed parser).
    pub fn parse(bytes: &[u8]) -> Result<Vec<WireEnvelope>, ApiError> {
        let value: serde_json::Value = parse_json(bytes)?;
        let is_batch = value.get("envelopes").is_some();
        let envelopes = if is_batch {
            serde_json::from_value::<Batch>(value)
                .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?
                .envelopes
        } else {
            vec![
                serde_json::from_value::<WireEnvelope>(value)
                    .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?,
            ]
        };
        if envelopes.is_empty() || envelopes.len() > MAX_BATCH {
            return Err(ApiError::BadRequest(format!(
                "a submission holds 1 to {MAX_BATCH} envelopes, not {}",
                envelopes.len()
            )));
        }
        Ok(envelopes)
    }
}

/// One envelope's receipt.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReceiptJson {
    /// Leaf index.
    pub index: u64,
    /// Leaf hash (hex).
    pub leaf_hash: String,
    /// False when the envelope was already in the log.
    pub created: bool,
    /// The entry proof file (custody-log's `FILE.proof.json` format).
    #[schema(value_type = Object)]
    pub proof: EntryProof,
}

/// Receipts of a submission, in submission order.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct SubmitResponse {
    /// One per envelope.
    pub entries: Vec<ReceiptJson>,
}

/// Receipts as entry proof files. The receipts of one submission usually share one checkpoint,
/// parsed once.
pub(crate) fn receipts_json(
    state: &AppState,
    receipts: Vec<Receipt>,
) -> ApiResult<Vec<ReceiptJson>> {
    let verifier = state.identity().verifier();
    let mut parsed: Option<(String, SignedCheckpoint)> = None;
    let mut out = Vec::with_capacity(receipts.len());
    for r in receipts {
        let signed = match &parsed {
            Some((note, signed)) if *note == r.checkpoint => signed.clone(),
            _ => {
                let signed = SignedCheckpoint::parse(&r.checkpoint).map_err(ApiError::internal)?;
                parsed = Some((r.checkpoint.clone(), signed.clone()));
                signed
            }
        };
        let proof = EntryProof::new(r.index, r.leaf_hash, r.proof.path, &signed, Some(&verifier))
            .map_err(ApiError::internal)?;
        out.push(ReceiptJson {
            index: r.index,
            leaf_hash: r.leaf_hash.to_hex(),
            created: r.created,
            proof,
        });
    }
    Ok(out)
}

fn caller(ext: &axum::http::Extensions) -> Caller {
    crate::auth::caller_of(ext)
}

fn check_read(state: &AppState, ext: &axum::http::Extensions) -> ApiResult<()> {
    caller(ext).require_reader(state.inner.config.reads)
}

/// Append envelopes.
#[utoipa::path(post, path = "/api/v1/entries", request_body = Submission,
    responses((status = 200, body = SubmitResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<SubmitResponse>> {
    caller(req.extensions()).require_writer()?;
    require_json(req.headers())?;
    let bytes = Bytes::from_request(req, &state)
        .await
        .map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge("request body is larger than the limit".into())
            }
            _ => ApiError::BadRequest(format!("reading the body: {}", e.body_text())),
        })?;
    // A large body (embedded SBOMs) is parsed off the async threads too.
    let envelopes = if bytes.len() > 256 << 10 {
        tokio::task::spawn_blocking(move || Submission::parse(&bytes))
            .await
            .map_err(ApiError::internal)??
    } else {
        Submission::parse(&bytes)?
    };
    let total = envelopes.len();
    let wires = envelopes.into_iter().map(Into::into).collect();
    let prepared = ingest::prepare_all(wires, &state.inner.signers)
        .await
        .map_err(|(i, e)| prefix_error(e, total, i))?;
    let receipts = state.inner.sequencer.submit(prepared).await?;
    let entries = receipts_json(&state, receipts)?;
    Ok(Json(SubmitResponse { entries }))
}

fn prefix_error(e: ApiError, total: usize, i: usize) -> ApiError {
    if total == 1 {
        return e;
    }
    let p = |m: String| format!("envelope {i}: {m}");
    match e {
        ApiError::BadRequest(m) => ApiError::BadRequest(p(m)),
        ApiError::Forbidden(m) => ApiError::Forbidden(p(m)),
        ApiError::Unprocessable(m) => ApiError::Unprocessable(p(m)),
        other => other,
    }
}

/// Entry by index.
#[utoipa::path(get, path = "/api/v1/entries/{index}", params(("index" = u64, Path)),
    responses((status = 200, body = EntryDetail), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_entry(
    State(state): State<AppState>,
    ApiPath(index): ApiPath<String>,
    req: Request,
) -> ApiResult<Json<EntryDetail>> {
    check_read(&state, req.extensions())?;
    let index = query::parse_cursor(Some(&index))
        .map_err(|_| ApiError::BadRequest("index must be a non-negative integer".into()))?;
    Ok(Json(query::entry_by_index(state.db(), index).await?))
}

/// Entry by leaf hash.
#[utoipa::path(get, path = "/api/v1/entries/by-hash/{leaf_hash}", params(("leaf_hash" = String, Path)),
    responses((status = 200, body = EntryDetail), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_entry_by_hash(
    State(state): State<AppState>,
    ApiPath(h): ApiPath<String>,
    req: Request,
) -> ApiResult<Json<EntryDetail>> {
    check_read(&state, req.extensions())?;
    let hash = Hash::from_hex(&h).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let index = query::index_of_leaf(state.db(), &hash).await?;
    Ok(Json(query::entry_by_index(state.db(), index).await?))
}

/// Inclusion proof request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionParams {
    /// Leaf index, or
    pub index: Option<String>,
    /// leaf hash (hex).
    pub leaf_hash: Option<String>,
    /// Tree size (default: the latest).
    pub tree_size: Option<String>,
}

fn parse_u64(name: &str, v: Option<&str>) -> ApiResult<u64> {
    match v {
        None => Ok(0),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= custody_log::MAX_TREE_SIZE)
            .ok_or_else(|| ApiError::BadRequest(format!("{name} must be a non-negative integer"))),
    }
}

/// Inclusion proof, as an entry proof file.
#[utoipa::path(get, path = "/api/v1/proofs/inclusion", params(InclusionParams),
    responses((status = 200, body = Object, description = "entry proof file"), (status = 400, body = ErrorBody)))]
pub(crate) async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<InclusionParams>,
    req: Request,
) -> ApiResult<Json<EntryProof>> {
    check_read(&state, req.extensions())?;
    let index = match (&p.index, &p.leaf_hash) {
        (Some(i), None) => parse_u64("index", Some(i))?,
        (None, Some(h)) => {
            let h = Hash::from_hex(h).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            query::index_of_leaf(state.db(), &h).await?
        }
        _ => return Err(ApiError::BadRequest("give index or leaf_hash".into())),
    };
    let size = parse_u64("tree_size", p.tree_size.as_deref())?;
    let (proof, leaf, note, _) =
        store::inclusion(state.db(), state.identity(), index, size).await?;
    let signed = SignedCheckpoint::parse(&note).map_err(ApiError::internal)?;
    let verifier = state.identity().verifier();
    Ok(Json(
        EntryProof::new(index, leaf, proof.path, &signed, Some(&verifier))
            .map_err(ApiError::internal)?,
    ))
}

/// Most entries one proof batch answers (a 20-layer image needs about 25; the verifier asks
/// in chunks of this size).
pub(crate) const MAX_PROVEN_ENTRIES: usize = 256;

/// Entries-with-proofs request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProvenEntriesParams {
    /// Leaf indices, comma-separated (1 to 256 of them, each below `tree_size`).
    pub indices: Option<String>,
    /// The tree size every proof is at (required: one batch is proven under one checkpoint).
    pub tree_size: Option<String>,
}

/// Entries with their inclusion proofs at one tree size: what a verifier gathers about an
/// image in one request instead of two per entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProvenEntries {
    /// The tree size every audit path is for.
    pub tree_size: u64,
    /// The C2SP signed checkpoint note of that size.
    pub checkpoint: String,
    /// One per requested index, in the order asked.
    pub entries: Vec<ProvenEntry>,
}

/// One entry of a [`ProvenEntries`] answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProvenEntry {
    /// Leaf index.
    pub index: u64,
    /// The DSSE envelope as logged (its canonical JSON is the leaf).
    #[schema(value_type = Object)]
    pub envelope: serde_json::Value,
    /// `SHA-256(0x00 || leaf bytes)` (hex).
    #[schema(value_type = String)]
    pub leaf_hash: Hash,
    /// RFC 9162 audit path, leaf's sibling first (hex).
    #[schema(value_type = Vec<String>)]
    pub audit_path: Vec<Hash>,
}

/// Several entries with their inclusion proofs at one tree size.
#[utoipa::path(get, path = "/api/v1/proofs/entries", params(ProvenEntriesParams),
    responses((status = 200, body = ProvenEntries), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn proven_entries(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ProvenEntriesParams>,
    req: Request,
) -> ApiResult<Json<ProvenEntries>> {
    check_read(&state, req.extensions())?;
    let size = parse_u64("tree_size", p.tree_size.as_deref())?;
    if size == 0 {
        return Err(ApiError::BadRequest(
            "tree_size is required: one batch is proven at one size".into(),
        ));
    }
    let indices = p
        .indices
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|i| parse_u64("each of indices", Some(i.trim())))
        .collect::<ApiResult<Vec<u64>>>()?;
    if indices.is_empty() || indices.len() > MAX_PROVEN_ENTRIES {
        return Err(ApiError::BadRequest(format!(
            "indices must list 1 to {MAX_PROVEN_ENTRIES} leaf indices"
        )));
    }
    let (proofs, checkpoint) =
        store::inclusion_many(state.db(), state.identity(), &indices, size).await?;
    let canonical = query::canonical_many(state.db(), &indices).await?;
    let entries = indices
        .iter()
        .zip(proofs)
        .map(|(&index, (proof, leaf_hash))| {
            // An index asked twice is answered twice (get, not remove).
            let bytes = canonical
                .get(&index)
                .ok_or_else(|| ApiError::NotFound(format!("no entry at index {index}")))?;
            Ok(ProvenEntry {
                index,
                envelope: serde_json::from_slice(bytes).map_err(ApiError::internal)?,
                leaf_hash,
                audit_path: proof.path,
            })
        })
        .collect::<ApiResult<Vec<ProvenEntry>>>()?;
    Ok(Json(ProvenEntries {
        tree_size: size,
        checkpoint,
        entries,
    }))
}

/// Consistency proof request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyParams {
    /// Older tree size (>= 1).
    pub first: Option<String>,
    /// Newer tree size (default: the latest).
    pub second: Option<String>,
}

/// A consistency proof.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ConsistencyJson {
    /// Older size.
    pub first: u64,
    /// Newer size.
    pub second: u64,
    /// Root at `first` (hex).
    pub first_root: String,
    /// Root at `second` (hex).
    pub second_root: String,
    /// RFC 9162 consistency proof hashes (hex).
    pub hashes: Vec<String>,
    /// Signed checkpoint of `second`.
    pub checkpoint: String,
}

/// Consistency proof between two sizes.
#[utoipa::path(get, path = "/api/v1/proofs/consistency", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyJson), (status = 400, body = ErrorBody)))]
pub(crate) async fn consistency(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ConsistencyParams>,
    req: Request,
) -> ApiResult<Json<ConsistencyJson>> {
    check_read(&state, req.extensions())?;
    let first = parse_u64("first", p.first.as_deref())?;
    let second = parse_u64("second", p.second.as_deref())?;
    let (proof, a, b, note) =
        store::consistency(state.db(), state.identity(), first, second).await?;
    Ok(Json(ConsistencyJson {
        first: proof.old_size,
        second: proof.new_size,
        first_root: a.to_hex(),
        second_root: b.to_hex(),
        hashes: proof.path.iter().map(Hash::to_hex).collect(),
        checkpoint: note,
    }))
}

/// The latest checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct CheckpointJson {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub tree_size: u64,
    /// Root (hex).
    pub root_hash: String,
    /// C2SP signed note.
    pub checkpoint: String,
}

/// Latest signed checkpoint (JSON).
#[utoipa::path(get, path = "/api/v1/checkpoint", responses((status = 200, body = CheckpointJson)))]
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<CheckpointJson>> {
    check_read(&state, req.extensions())?;
    let (size, _) = store::head(state.db()).await?;
    let (note, root) = store::checkpoint_at(state.db(), state.identity(), size).await?;
    Ok(Json(CheckpointJson {
        origin: state.identity().origin().to_owned(),
        tree_size: size,
        root_hash: root.to_hex(),
        checkpoint: note,
    }))
}

/// Latest signed checkpoint as the bare C2SP note (text/plain), as tlog tooling fetches it.
#[utoipa::path(get, path = "/checkpoint", responses((status = 200, body = String, content_type = "text/plain")))]
pub(crate) async fn checkpoint_text(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Response> {
    check_read(&state, req.extensions())?;
    let (size, _) = store::head(state.db()).await?;
    let (note, _) = store::checkpoint_at(state.db(), state.identity(), size).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// The log's public key.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct LogKeyJson {
    /// Origin (the note key name).
    pub origin: String,
    /// PEM SPKI of the ed25519 key.
    pub public_key_pem: String,
    /// C2SP note verifier key.
    pub vkey: String,
    /// custody key ID.
    pub key_id: String,
}

/// The log's public key (PEM and C2SP vkey).
#[utoipa::path(get, path = "/api/v1/log-key", responses((status = 200, body = LogKeyJson)))]
pub(crate) async fn log_key(State(state): State<AppState>) -> Json<LogKeyJson> {
    let id = state.identity();
    Json(LogKeyJson {
        origin: id.origin().to_owned(),
        public_key_pem: id.public_key_pem().to_owned(),
        vkey: id.vkey(),
        key_id: id.key_id().to_string(),
    })
}

/// Search entries.
#[utoipa::path(get, path = "/api/v1/search", params(SearchParams),
    responses((status = 200, body = SearchPage), (status = 400, body = ErrorBody)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<SearchParams>,
    req: Request,
) -> ApiResult<Json<SearchPage>> {
    check_read(&state, req.extensions())?;
    let s = Search::try_from(p)?;
    Ok(Json(query::search(state.db(), &s).await?))
}

/// Images containing a package.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImagesParams {
    /// Package URL (with or without version).
    pub purl: String,
    /// Version constraints (purl without version only).
    pub versions: Option<String>,
    /// Most images to return (1..=1000, default 100).
    pub limit: Option<String>,
}

/// Images whose recorded SBOMs contain a package.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ImagesResponse {
    /// One per image.
    pub images: Vec<ImageHit>,
}

/// "Which recorded images contain purl X?"
#[utoipa::path(get, path = "/api/v1/images", params(ImagesParams),
    responses((status = 200, body = ImagesResponse), (status = 400, body = ErrorBody)))]
pub(crate) async fn images(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ImagesParams>,
    req: Request,
) -> ApiResult<Json<ImagesResponse>> {
    check_read(&state, req.extensions())?;
    let c = query::parse_purl_criterion(&p.purl, p.versions.as_deref())?;
    let limit = query::parse_limit(p.limit.as_deref())?;
    Ok(Json(ImagesResponse {
        images: query::images_with_purl(state.db(), &c, limit).await?,
    }))
}

/// An image's custody.
#[utoipa::path(get, path = "/api/v1/images/{digest}", params(("digest" = String, Path)),
    responses((status = 200, body = ImageCustody), (status = 400, body = ErrorBody)))]
pub(crate) async fn image(
    State(state): State<AppState>,
    ApiPath(digest): ApiPath<String>,
    req: Request,
) -> ApiResult<Json<ImageCustody>> {
    check_read(&state, req.extensions())?;
    Ok(Json(query::image_custody(state.db(), &digest).await?))
}

/// Upload a blob under its digest (streamed).
#[utoipa::path(put, path = "/api/v1/blobs/{digest}", params(("digest" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = BlobInfo), (status = 200, body = BlobInfo), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn put_blob(
    State(state): State<AppState>,
    ApiPath(digest): ApiPath<String>,
    req: Request,
) -> ApiResult<Response> {
    caller(req.extensions()).require_writer()?;
    let digest = blobs::parse_digest(&digest)?;
    upload(state, Some(digest), req).await
}

/// Upload a blob; its digest is computed.
#[utoipa::path(post, path = "/api/v1/blobs",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = BlobInfo), (status = 200, body = BlobInfo), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn post_blob(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    caller(req.extensions()).require_writer()?;
    upload(state, None, req).await
}

async fn upload(
    state: AppState,
    digest: Option<custody_types::Digest>,
    req: Request,
) -> ApiResult<Response> {
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|s| s.len() <= 255)
        .unwrap_or("application/octet-stream")
        .to_owned();
    let limit = state.inner.config.blob_limit;
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok())
        && len > limit
    {
        return Err(ApiError::TooLarge(format!(
            "blob of {len} bytes is larger than the limit of {limit} bytes"
        )));
    }
    let body: Body = req.into_body();
    let info = blobs::upload(state.db(), body, digest.as_ref(), &media_type, limit).await?;
    let status = if info.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info)).into_response())
}

/// Download a blob (streamed).
#[utoipa::path(get, path = "/api/v1/blobs/{digest}", params(("digest" = String, Path)),
    responses((status = 200, body = Vec<u8>, content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_blob(
    State(state): State<AppState>,
    ApiPath(digest): ApiPath<String>,
    req: Request,
) -> ApiResult<Response> {
    check_read(&state, req.extensions())?;
    let digest = blobs::parse_digest(&digest)?;
    let info = blobs::info(state.db(), &digest).await?;
    let mut resp = Response::new(blobs::stream(state.db().clone(), &digest));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    if let Ok(v) = HeaderValue::from_str(&info.media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&info.digest) {
        h.insert("docker-content-digest", v);
    }
    Ok(resp)
}

/// A signer registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddSigner {
    /// PEM SPKI public key (ed25519 or P-256).
    pub public_key: String,
    /// base-library, builder, scanner, reviewer or gate.
    pub role: String,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

/// Register a signer key (admin).
#[utoipa::path(post, path = "/api/v1/admin/signers", request_body = AddSigner,
    responses((status = 200, body = SignerInfo), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn add_signer(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<SignerInfo>> {
    caller(req.extensions()).require_admin()?;
    let ApiJson(body): ApiJson<AddSigner> = ApiJson::from_request(req, &state).await?;
    let key = custody_attest::PublicKey::from_text(&body.public_key)
        .map_err(|e| ApiError::BadRequest(format!("public_key: {e}")))?;
    let role: custody_types::Role = body
        .role
        .parse()
        .map_err(|e: custody_types::RoleError| ApiError::BadRequest(e.to_string()))?;
    let info = signers::add_signer(state.db(), &key, role, &body.comment).await?;
    state.inner.signers.reload().await?;
    Ok(Json(info))
}

/// List signer keys (admin).
#[utoipa::path(get, path = "/api/v1/admin/signers",
    responses((status = 200, body = Vec<SignerInfo>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_signers(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<Vec<SignerInfo>>> {
    caller(req.extensions()).require_admin()?;
    Ok(Json(signers::list_signers(state.db()).await?))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers and its schema is current.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = String), (status = 503, body = ErrorBody)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.db().ready().await.map_err(|e| {
        tracing::warn!(reason = %e, "not ready");
        ApiError::Unavailable("not ready: database unreachable or schema not current".into())
    })?;
    Ok("ready\n")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, body = String, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.inner.metrics.render(),
    )
        .into_response()
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "custody ledger", description = "Tamper-evident log of DSSE attestations (RFC 6962 tree, C2SP checkpoints) and auditors' queries."),
    paths(submit, get_entry, get_entry_by_hash, inclusion, proven_entries, consistency, checkpoint, checkpoint_text,
          log_key, search, images, image, put_blob, post_blob, get_blob, add_signer, list_signers,
          healthz, readyz, metrics),
    components(schemas(ErrorBody, WireEnvelope, crate::ingest::WireSignature, Submission, Batch,
                       SubmitResponse, ReceiptJson, EntryDetail, EntrySummary, SearchPage, ImageCustody,
                       ImageHit, ImagesResponse, ProvenEntries, ProvenEntry, ConsistencyJson, CheckpointJson, LogKeyJson, BlobInfo,
                       AddSigner, SignerInfo)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::advisories::AdvisoryApiDoc::openapi());
    match doc.to_json() {
        Ok(s) => ([(header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
