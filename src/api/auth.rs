//! How REST callers prove who they are, and the request context handed to the service.
//!
//! Two ways in: an API token in `Authorization`, or the `gatehouse_session` cookie of an SSO
//! sign-in. A cookie-authenticated write (any method but GET/HEAD/OPTIONS) must also carry
//! `X-Gatehouse-CSRF` equal to the session's CSRF token: a cross-site form can send the
//! cookie, but it cannot read the token to put it in a header.

use poem::Request;
use poem::http::Method;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::ApiKey;

use super::error::ApiResult;
use crate::edge::{CSRF_HEADER, RequestId, client_address};
use crate::error::Error;
use crate::service::secrets::constant_time_eq;
use crate::service::{Ctx, Principal, Service};

/// An API token in the `Authorization` header, bare or as `Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "Authorization", key_in = "header")]
pub struct TokenHeader(ApiKey);

/// The session cookie set by an SSO sign-in; writes also need the `X-Gatehouse-CSRF` header.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "gatehouse_session", key_in = "cookie")]
pub struct SessionCookie(ApiKey);

/// How a REST caller authenticates: an API token, else the session cookie.
#[derive(SecurityScheme)]
pub enum ApiToken {
    Token(TokenHeader),
    Session(SessionCookie),
}

/// Authenticates the caller, refuses an address the account's IP allowlist does not admit
/// (403), and gathers what the audit log records about the request.
pub async fn context(service: &Service, auth: &ApiToken, req: &Request) -> ApiResult<Ctx> {
    let principal = match auth {
        ApiToken::Token(token) => service.authenticate(&token.0.key).await?,
        ApiToken::Session(cookie) => {
            let principal = service.authenticate_session(&cookie.0.key).await?;
            check_csrf(&principal, req)?;
            principal
        }
    };
    let client = client_address::of(req);
    service.check_client_address(&principal, client).await?;
    Ok(Ctx {
        principal,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        source_ip: client.map(|a| a.to_string()),
    })
}

/// Cookie-authenticated writes must echo the session's CSRF token in a header.
fn check_csrf(principal: &Principal, req: &Request) -> Result<(), Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let Principal::Session(session) = principal else {
        return Ok(());
    };
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sent.is_empty() || !constant_time_eq(sent, &session.csrf_token) {
        return Err(Error::forbidden(format!(
            "a write with the session cookie needs the {CSRF_HEADER} header with the session's CSRF token (from the sign-in or GET /api/v2/me)"
        )));
    }
    Ok(())
}
