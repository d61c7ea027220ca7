//! REST: importing advisories (admin), the affected-images query, signer owners (admin).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::OpenApi;

use super::{
    AdvisoryInfo, AffectedComponent, AffectedImage, AffectedPage, AffectedQuery, ImportError,
    ImportReport, NoticeAdvisory, NoticeFinding, NoticeImage, NoticeImport, NoticeTotals,
    OwnerNotice, ReadLimits, UndecidedComponent,
};
use crate::api::rest::{ApiJson, ApiPath, ApiQuery};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// Bounds of an import sent over HTTP (the body itself is bounded by the API's body limit):
/// a zip export may expand to at most 256 MiB.
const REST_LIMITS: ReadLimits = ReadLimits {
    max_entries: 200_000,
    max_record_bytes: 16 << 20,
    max_total_bytes: 256 << 20,
};

/// The routes, merged into the ledger's authenticated API router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/advisories", post(import))
        .route("/api/v1/affected", get(affected))
        .route("/api/v1/admin/signers/{key_id}/owner", put(set_owner))
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::Read(
            e @ (super::SourceError::TooLarge { .. } | super::SourceError::TooManyEntries { .. }),
        ) => ApiError::TooLarge(e.to_string()),
        ImportError::Read(e) => ApiError::BadRequest(e.to_string()),
        ImportError::Store(e) => e,
    }
}

/// Import OSV records (admin): a record, an array of records or `{"records": [...]}` as
/// JSON, or an osv.dev zip export as `application/zip`. Atomic: on any error nothing is
/// stored. Owners of newly affected images are notified after it commits.
#[utoipa::path(post, path = "/api/v1/admin/advisories",
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn import(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<ImportReport>> {
    crate::auth::caller_of(req.extensions()).require_admin()?;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let zip = match ct.as_str() {
        "application/zip" | "application/x-zip-compressed" => true,
        "application/json" => false,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "content type {:?} is neither application/json nor application/zip",
                crate::util::truncate(other)
            )));
        }
    };
    let bytes = Bytes::from_request(req, &state)
        .await
        .map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::TooLarge("request body is larger than the limit".into())
            }
            _ => ApiError::BadRequest(format!("reading the body: {}", e.body_text())),
        })?;
    let notify = state.inner.config.notify.clone();
    let report = super::import_body(
        state.db(),
        state.identity().origin(),
        &notify,
        bytes.to_vec(),
        zip,
        REST_LIMITS,
    )
    .await
    .map_err(import_error)?;
    if report.notifications > 0 {
        let db = state.db().clone();
        tokio::spawn(async move {
            if let Err(e) = super::deliver_pending(&db, &notify).await {
                tracing::warn!(error = %e, "delivering notifications failed");
            }
        });
    }
    Ok(Json(report))
}

/// What `GET /api/v1/affected` takes: exactly one of `advisory` and `since`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedParams {
    /// An OSV ID: the images it affects.
    pub advisory: Option<String>,
    /// RFC 3339 time: the images affected by advisories imported (or updated) since.
    pub since: Option<String>,
    /// A previous page's next_cursor.
    pub cursor: Option<String>,
    /// (advisory, image) pairs per page, 1..=1000 (default 100).
    pub limit: Option<String>,
}

/// Which recorded images and layers an advisory affects, or the advisories imported since a
/// time: evaluated from the components the ledger indexed from recorded SBOMs.
#[utoipa::path(get, path = "/api/v1/affected", params(AffectedParams),
    responses((status = 200, body = AffectedPage), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn affected(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<AffectedParams>,
    req: Request,
) -> ApiResult<Json<AffectedPage>> {
    crate::auth::caller_of(req.extensions()).require_reader(state.inner.config.reads)?;
    let query = match (p.advisory, p.since) {
        (Some(id), None) => {
            if id.is_empty() || id.len() > 256 || id.chars().any(char::is_whitespace) {
                return Err(ApiError::BadRequest(
                    "advisory must be an OSV ID (1 to 256 characters, no whitespace)".into(),
                ));
            }
            AffectedQuery::Advisory(id)
        }
        (None, Some(t)) => AffectedQuery::Since(crate::util::parse_time(&t).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "since {:?} is not an RFC 3339 time",
                crate::util::truncate(&t)
            ))
        })?),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of advisory and since".into(),
            ));
        }
    };
    if p.cursor.as_ref().is_some_and(|c| c.len() > 1024) {
        return Err(ApiError::BadRequest("cursor is too long".into()));
    }
    let limit = crate::query::parse_limit(p.limit.as_deref())?;
    Ok(Json(
        super::affected_page(state.db(), &query, p.cursor.as_deref(), limit as usize).await?,
    ))
}

/// The owner of a signer key.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetOwner {
    /// Email address of whoever answers for what the key signs; null clears it.
    pub(crate) owner: Option<String>,
}

/// Set who owns what a signer key signs (admin): the owners of an image's provenance signers
/// are notified when an advisory newly affects it.
#[utoipa::path(put, path = "/api/v1/admin/signers/{key_id}/owner",
    params(("key_id" = String, Path)), request_body = SetOwner,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_owner(
    State(state): State<AppState>,
    ApiPath(key_id): ApiPath<String>,
    req: Request,
) -> ApiResult<StatusCode> {
    crate::auth::caller_of(req.extensions()).require_admin()?;
    let ApiJson(body): ApiJson<SetOwner> = ApiJson::from_request(req, &state).await?;
    super::set_signer_owner(state.db(), &key_id, body.owner.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The advisory routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(import, affected, set_owner),
    components(schemas(
        ImportReport,
        AffectedPage,
        AffectedImage,
        AffectedComponent,
        UndecidedComponent,
        AdvisoryInfo,
        AffectedParams,
        SetOwner,
        OwnerNotice,
        NoticeImport,
        NoticeTotals,
        NoticeAdvisory,
        NoticeImage,
        NoticeFinding
    ))
)]
pub struct AdvisoryApiDoc;
