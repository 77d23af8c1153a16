//! Cross-cutting HTTP concerns: request ids, access logs, metrics and one error shape.

use std::time::Instant;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::OperationId;
use tracing::Instrument;

use crate::edge::RequestId;
use crate::edge::client_address::{self, ClientAddress, TrustedProxies};
use crate::service::Service;

/// Gives every request an id (kept from `X-Request-Id` when the caller sends a sane one),
/// logs it, measures it, and renders escaped errors as REST JSON.
pub async fn observe<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let service = req.data::<Service>().cloned();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, %method, %path);
    let started = Instant::now();
    let mut resp = async {
        match next.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => {
                let op = err.data::<OperationId>().cloned();
                let mut resp = if err.is_from_response() {
                    err.into_response()
                } else if path.starts_with("/scim/") {
                    crate::scim::error::render_poem_error(&err)
                } else if crate::console::is_console_path(&path) {
                    crate::console::refusal_page(err.status(), &err.to_string())
                } else {
                    crate::api::error::render_poem_error(&err)
                };
                if let Some(op) = op {
                    resp.set_data(op);
                }
                resp
            }
        }
    }
    .instrument(span.clone())
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    let route = resp
        .data::<OperationId>()
        .map(|op| op.0.to_owned())
        .unwrap_or_else(|| static_route(&path).to_owned());
    span.in_scope(
        || tracing::info!(status, route = %route, elapsed_ms = elapsed * 1000.0, "request"),
    );
    if let Some(service) = service {
        service
            .metrics()
            .observe_request(&method, &route, status, elapsed);
    }
    if let Ok(value) = request_id.parse() {
        resp.headers_mut().insert("x-request-id", value);
    }
    Ok(resp)
}

/// Resolves the client's address once (the peer, or what trusted proxies forwarded) for the
/// edges to read from the request's extensions.
pub async fn identify_client<E: Endpoint>(
    next: E,
    mut req: Request,
    trusted: TrustedProxies,
) -> Result<Response> {
    if let Some(addr) = client_address::resolve_request(&req, &trusted) {
        req.extensions_mut().insert(ClientAddress(addr));
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Route label for requests that no operation handled, with bounded cardinality.
fn static_route(path: &str) -> &'static str {
    match path {
        "/health" => "health",
        "/ready" => "ready",
        "/metrics" => "metrics",
        "/openapi.json" => "openapi",
        p if p.starts_with("/scim/") => "scim",
        p if p.starts_with("/docs") => "docs",
        p if crate::console::is_console_path(p) => "console",
        _ => "unmatched",
    }
}

/// Refuses bodies larger than `max` with 413: by `Content-Length` when declared, and by
/// reading at most `max` bytes when the body is chunked. Requests without a body pass.
pub async fn limit_body<E: Endpoint>(next: E, mut req: Request, max: usize) -> Result<Response> {
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => {
            drain(&mut req, len).await;
            return Err(too_large(max));
        }
        Some(_) => {}
        None if req
            .headers()
            .contains_key(poem::http::header::TRANSFER_ENCODING) =>
        {
            let bytes = req
                .take_body()
                .into_bytes_limit(max)
                .await
                .map_err(|_| too_large(max))?;
            req.set_body(bytes);
        }
        None => {}
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Refuses a request holding U+0000 anywhere (in its path, its query or its body) with 400 in
/// the error shape of the edge it was for: PostgreSQL cannot store NUL, and no identity, key,
/// name or filter has one. Bodies are JSON (checked for `\u0000` escapes) or forms (checked
/// for `%00`); the body limit has run before, so a body read here is bounded.
pub async fn refuse_nul<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    use crate::domain::text::{json_has_nul, url_has_nul};
    let uri = req.uri();
    let mut where_nul =
        (url_has_nul(uri.path()) || uri.query().is_some_and(url_has_nul)).then_some("the URL");
    let body = req.take_body();
    if where_nul.is_none() && !body.is_empty() {
        let form = req
            .content_type()
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let bytes = body.into_bytes().await?;
        let nul = if form {
            std::str::from_utf8(&bytes).map_or(bytes.contains(&0), url_has_nul)
        } else {
            json_has_nul(&bytes)
        };
        if nul {
            where_nul = Some("the body");
        }
        req.set_body(bytes);
    } else {
        req.set_body(body);
    }
    match where_nul {
        None => next.call(req).await.map(IntoResponse::into_response),
        Some(part) => {
            let message = format!("{part} holds U+0000 (NUL), which no value may contain");
            let path = req.uri().path();
            Ok(if path.starts_with("/scim/") {
                crate::scim::error::respond(
                    poem::http::StatusCode::BAD_REQUEST,
                    Some(crate::domain::scim::error::ScimType::InvalidValue),
                    &message,
                )
            } else if crate::console::is_console_path(path) {
                crate::console::refusal_page(poem::http::StatusCode::BAD_REQUEST, &message)
            } else {
                crate::api::error::invalid_request(message)
            })
        }
    }
}

/// Bodies up to this size are read and discarded before a 413 goes out; larger ones are not.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads and discards a refused body of a sane size. Answering while the client still sends
/// makes the kernel reset the connection, and the client sees a reset instead of the 413.
async fn drain(req: &mut Request, declared: u64) {
    if declared > DRAIN_LIMIT {
        return;
    }
    let body = req.take_body().into_async_read();
    let _ = tokio::io::copy(
        &mut tokio::io::AsyncReadExt::take(body, DRAIN_LIMIT),
        &mut tokio::io::sink(),
    )
    .await;
}

fn too_large(max: usize) -> poem::Error {
    poem::Error::from_string(
        format!("request body is larger than {max} bytes"),
        poem::http::StatusCode::PAYLOAD_TOO_LARGE,
    )
}

/// `GET /` is the console's home page. The REST document is nested at `/` (its paths carry
/// `/api/v2`), and a nest at `/` also takes `/` itself, so the root is picked out here.
pub async fn root_page<E: Endpoint>(next: E, req: Request) -> Result<Response> {
    if req.uri().path() == "/" && matches!(*req.method(), Method::GET | Method::HEAD) {
        return crate::console::home
            .call(req)
            .await
            .map(IntoResponse::into_response);
    }
    next.call(req).await.map(IntoResponse::into_response)
}
