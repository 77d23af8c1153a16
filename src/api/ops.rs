//! Operational endpoints outside the REST API: health, readiness and metrics.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;

use crate::service::Service;

/// Liveness: the process answers.
#[handler]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database answers and every migration is applied.
#[handler]
pub async fn ready(service: Data<&Service>) -> Response {
    match service.readiness().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => Json(json!({"status": "not_ready", "reason": reason}))
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .into_response(),
    }
}

/// Prometheus text exposition.
#[handler]
pub async fn metrics(service: Data<&Service>) -> Response {
    service
        .metrics()
        .render()
        .with_content_type("text/plain; version=0.0.4")
        .into_response()
}
