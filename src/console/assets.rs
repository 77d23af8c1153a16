//! The console's stylesheet and icon, compiled into the binary (the CSP allows styles and
//! images only from this origin, never inline).

use poem::handler;
use poem::http::header;
use poem::{IntoResponse, Response};

const STYLESHEET: &str = include_str!("console.css");
const ICON: &str = include_str!("favicon.svg");

#[handler]
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

#[handler]
pub async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

fn asset(content_type: &str, body: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
        .into_response()
}
