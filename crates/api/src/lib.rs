//! The API: the read side of the pipeline.
//!
//! It reads only the ClickHouse projections kept by the store consumer; it never
//! touches Kafka or the line items. Amounts are exact decimal strings with their
//! currency, days are UTC and ranges are half-open `[from, to)`.
//!
//! - `GET /v1/costs?from=&to=&group_by=&granularity=day|month`
//! - `GET /healthz` (the process is up), `GET /readyz` (ClickHouse answers)
//! - `GET /v1/openapi.json`
//!
//! Every error is one [`ApiError`], which is the only place errors become HTTP.

mod costs;
mod error;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use costflow_store::Store;

pub use error::ApiError;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// How long `/readyz` waits for ClickHouse.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The routes, over a store.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/costs", get(costs::costs))
        .route("/v1/openapi.json", get(openapi))
        .with_state(store)
}

/// Serves the API on `listen` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn serve(
    listen: SocketAddr,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "api listening");
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(store): State<Store>) -> Result<impl IntoResponse, ApiError> {
    store
        .ping(READY_TIMEOUT)
        .await
        .map_err(ApiError::NotReady)?;
    Ok(Json(serde_json::json!({"status": "ready"})))
}

async fn openapi() -> impl IntoResponse {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        OPENAPI,
    )
}
