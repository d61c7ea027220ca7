//! The HTTP surface: REST routes, the gRPC service on the same router, and the layers every
//! request passes (request ID, tracing, timeout, body limit, auth and rate limit, metrics).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) mod grpc;
pub(crate) mod rest;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Default)]
struct Ids(Arc<AtomicU64>);

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:08x}-{n}", std::process::id()))
            .ok()
            .map(RequestId::new)
    }
}

async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await;
    state
        .inner
        .metrics
        .observe_request(&method, &route, resp.status().as_u16(), started.elapsed());
    resp
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn timeout_to_json(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::REQUEST_TIMEOUT && resp.headers().get("content-type").is_none()
    {
        return (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(serde_json::json!({"error": {"code": "timeout", "message": "request took too long"}})),
        )
            .into_response();
    }
    resp
}

/// The whole router: REST, gRPC (same port, by content type), OpenAPI, health and metrics.
pub fn build_router(state: AppState) -> Router {
    let cfg = state.inner.config.clone();
    let blob_routes = Router::new()
        .route("/api/v1/blobs", post(rest::post_blob))
        .route(
            "/api/v1/blobs/{digest}",
            put(rest::put_blob).get(rest::get_blob),
        )
        .with_state(state.clone())
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout * 10,
        ));
    let api = Router::new()
        .route("/api/v1/entries", post(rest::submit))
        .route("/api/v1/entries/{index}", get(rest::get_entry))
        .route(
            "/api/v1/entries/by-hash/{leaf_hash}",
            get(rest::get_entry_by_hash),
        )
        .route("/api/v1/proofs/inclusion", get(rest::inclusion))
        .route("/api/v1/proofs/entries", get(rest::proven_entries))
        .route("/api/v1/proofs/consistency", get(rest::consistency))
        .route("/api/v1/checkpoint", get(rest::checkpoint))
        .route("/checkpoint", get(rest::checkpoint_text))
        .route("/api/v1/log-key", get(rest::log_key))
        .route("/api/v1/search", get(rest::search))
        .route("/api/v1/images", get(rest::images))
        .route("/api/v1/images/{digest}", get(rest::image))
        .route(
            "/api/v1/admin/signers",
            post(rest::add_signer).get(rest::list_signers),
        )
        .route("/openapi.json", get(rest::openapi))
        .merge(crate::advisories::routes())
        .with_state(state.clone())
        .merge(tonic::service::Routes::new(grpc::service(state.clone())).into_axum_router())
        .layer(DefaultBodyLimit::max(cfg.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout,
        ));
    let open = Router::new()
        .route("/healthz", get(rest::healthz))
        .route("/readyz", get(rest::readyz))
        .route("/metrics", get(rest::metrics))
        .with_state(state.clone());
    let authed = api.merge(blob_routes).layer(middleware::from_fn_with_state(
        state.clone(),
        crate::auth::authenticate,
    ));
    authed
        .merge(open)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(middleware::from_fn(timeout_to_json))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, Ids::default()))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}
