//! The one place errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use costflow_store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is missing or wrong: 400, naming the parameter.
    #[error("{parameter}: {message}")]
    BadParameter {
        /// The parameter's name.
        parameter: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// ClickHouse is not answering: 503.
    #[error("not ready: {0}")]
    NotReady(StoreError),
    /// A query failed: 500; the details go to the log, not the client.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub(crate) fn bad(parameter: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadParameter { parameter, message } => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": {"parameter": parameter, "message": message}}),
            ),
            ApiError::NotReady(err) => {
                tracing::warn!(error = %err, "readiness check failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"error": {"message": "ClickHouse is not answering"}}),
                )
            }
            ApiError::Store(err) => {
                tracing::error!(error = %err, "query failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": {"message": "the query failed; see the server log"}}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
