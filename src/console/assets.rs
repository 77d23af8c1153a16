//! The console's one stylesheet, compiled into the binary (the CSP allows styles only from
//! this origin, never inline).

use poem::handler;
use poem::http::header;
use poem::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("console.css");

#[handler]
pub async fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header("X-Content-Type-Options", "nosniff")
        .body(STYLESHEET)
        .into_response()
}
