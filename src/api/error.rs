//! The REST rendering of errors: `{"code": "...", "message": "..."}` with a fitting status.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::error::Error;

/// The body of every REST error.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code: invalid_request, unauthorized, forbidden, not_found,
    /// conflict, precondition_failed, payload_too_large, unsupported_media_type,
    /// approval_required, rate_limited, internal.
    pub code: String,
    /// What went wrong, naming the offending field where there is one.
    pub message: String,
}

/// Seconds a client told to come back later (429) waits when nothing better is known.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Every error a REST operation can answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed or breaks a rule; `message` names the field.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API token, or an unknown, revoked or expired one.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The caller's role does not allow the action on the resource.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A resource the request names (in its path or its body) does not exist; `message` says
    /// which.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Duplicate key, or the resource changed since the version the request names.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// A precondition the request states does not hold.
    #[oai(status = 412)]
    PreconditionFailed(Json<ErrorBody>),
    /// The body is larger than the server accepts (`GATEHOUSE_MAX_BODY_BYTES`, 1 MiB by
    /// default); answered before the operation runs.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json` (missing or other `Content-Type`); answered by the
    /// framework before the operation runs, documented here so every operation lists it.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The environment requires an approval request for this change.
    #[oai(status = 422)]
    ApprovalRequired(Json<ErrorBody>),
    /// More work is in flight than can be served in time; retry after `Retry-After` seconds.
    #[oai(status = 429)]
    RateLimited(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// A fault of the server's: `message` holds no detail; the server log has it under the
    /// request id (`X-Request-Id`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        if let Error::Internal(detail) = &err {
            tracing::error!(error = %detail, "internal error");
        }
        let body = Json(ErrorBody {
            code: err.code().to_owned(),
            message: err.public_message(),
        });
        match err {
            Error::InvalidRequest(_) => ApiError::BadRequest(body),
            Error::Unauthorized(_) => ApiError::Unauthorized(body),
            Error::Forbidden(_) => ApiError::Forbidden(body),
            Error::NotFound(_) => ApiError::NotFound(body),
            Error::Conflict(_) => ApiError::Conflict(body),
            Error::PreconditionFailed(_) => ApiError::PreconditionFailed(body),
            Error::PayloadTooLarge(_) => ApiError::PayloadTooLarge(body),
            Error::ApprovalRequired(_) => ApiError::ApprovalRequired(body),
            Error::RateLimited(_) => ApiError::RateLimited(body, RETRY_AFTER_SECS),
            Error::Internal(_) => ApiError::Internal(body),
        }
    }
}

/// Shorthand for operation results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Renders any error that escaped the typed path (poem-openapi parse errors, 404 for unknown
/// routes, 413 from the body limit) as the same JSON, so clients see one error shape.
pub fn render_poem_error(err: &poem::Error) -> poem::Response {
    use poem::IntoResponse;
    let status = err.status();
    let code = match status.as_u16() {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        412 => "precondition_failed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "approval_required",
        429 => "rate_limited",
        _ if status.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = if status.is_server_error() {
        "internal error; see the server log for the request id".to_owned()
    } else if status.as_u16() == 401 {
        "missing or invalid credentials: send `Authorization: <token>` or sign in through SSO"
            .to_owned()
    } else {
        err.to_string()
    };
    let body = ErrorBody {
        code: code.to_owned(),
        message,
    };
    poem::web::Json(body).with_status(status).into_response()
}

/// A 400 `invalid_request` response for a refusal made before any operation ran.
pub fn invalid_request(message: String) -> poem::Response {
    use poem::IntoResponse;
    let body = ErrorBody {
        code: "invalid_request".to_owned(),
        message,
    };
    poem::web::Json(body)
        .with_status(poem::http::StatusCode::BAD_REQUEST)
        .into_response()
}

/// A 429 `rate_limited` response for a request refused before any operation ran (the caller
/// sets `Retry-After`).
pub fn rate_limited(message: String) -> poem::Response {
    use poem::IntoResponse;
    let body = ErrorBody {
        code: "rate_limited".to_owned(),
        message,
    };
    poem::web::Json(body)
        .with_status(poem::http::StatusCode::TOO_MANY_REQUESTS)
        .into_response()
}
