//! SCIM errors as the edge sends them: the RFC 7644 §3.12 body with the HTTP status of the
//! failure, `WWW-Authenticate` on 401 and `Retry-After` on 429.

use poem::Response;
use poem::http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::domain::scim::error::{ScimError, ScimFailure, ScimType};

/// The error message schema URN.
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The media type of every SCIM response.
pub const SCIM_JSON: &str = "application/scim+json";

/// Seconds a client told to come back later waits when nothing better is known.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// The HTTP status of a failure.
pub fn status_of(failure: ScimFailure) -> StatusCode {
    match failure {
        ScimFailure::BadRequest => StatusCode::BAD_REQUEST,
        ScimFailure::Unauthorized => StatusCode::UNAUTHORIZED,
        ScimFailure::Forbidden => StatusCode::FORBIDDEN,
        ScimFailure::NotFound => StatusCode::NOT_FOUND,
        ScimFailure::Conflict => StatusCode::CONFLICT,
        ScimFailure::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ScimFailure::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ScimFailure::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ScimFailure::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ScimFailure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The RFC 7644 error body. Internal details never leave the server.
pub fn body(status: StatusCode, scim_type: Option<ScimType>, detail: &str) -> Value {
    let detail = if status.is_server_error() {
        "internal error; see the server log for the request id"
    } else {
        detail
    };
    let mut body = json!({
        "schemas": [ERROR_URN],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let (Some(t), Some(obj)) = (scim_type, body.as_object_mut()) {
        obj.insert("scimType".to_owned(), Value::String(t.as_str().to_owned()));
    }
    body
}

/// An error response with its status and the headers that go with it.
pub fn respond(status: StatusCode, scim_type: Option<ScimType>, detail: &str) -> Response {
    if status.is_server_error() {
        tracing::error!(error = %detail, "SCIM internal error");
    }
    let mut resp = Response::builder()
        .status(status)
        .content_type(SCIM_JSON)
        .body(serde_json::to_vec(&body(status, scim_type, detail)).unwrap_or_default());
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scim\""),
        );
    }
    if status == StatusCode::TOO_MANY_REQUESTS && !resp.headers().contains_key(header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(DEFAULT_RETRY_AFTER_SECS),
        );
    }
    resp
}

/// The response of a refused or failed SCIM request.
pub fn error_response(e: &ScimError) -> Response {
    respond(status_of(e.failure), e.scim_type, &e.detail)
}

/// Renders an error that escaped a handler (unknown route, wrong method, body too large) as
/// a SCIM error, so SCIM clients see one error shape.
pub fn render_poem_error(err: &poem::Error) -> Response {
    let status = err.status();
    let detail = match status {
        StatusCode::NOT_FOUND => "no such SCIM endpoint".to_owned(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this SCIM endpoint".to_owned(),
        s if s.is_server_error() => "internal error".to_owned(),
        _ => err.to_string(),
    };
    let scim_type = (status == StatusCode::PAYLOAD_TOO_LARGE).then_some(ScimType::TooMany);
    respond(status, scim_type, &detail)
}
