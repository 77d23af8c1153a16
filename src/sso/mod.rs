//! The browser-facing SSO edge under `/sso`: SAML 2.0 SP and OIDC RP per connection, and
//! sign-out. These are redirects, form posts and small HTML pages rather than REST operations,
//! so they are plain poem handlers outside the OpenAPI document. They parse the protocol,
//! verify it, and hand the verified identity to `service::sso_login`.

pub mod oidc;
pub mod saml;
pub mod session;

use poem::http::StatusCode;
use poem::web::{Data, Html, Json};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, handler, post};
use serde_json::json;

use crate::domain::sso::Refusal;
use crate::edge::RequestId;
use crate::service::sso_login::SignInConnection;
use crate::service::{Ctx, Service};

/// The `/sso` routes, with the OIDC provider cache they share.
pub fn routes() -> impl poem::Endpoint {
    Route::new()
        .at("/logout", post(logout))
        .at("/:key/saml/metadata", poem::get(saml::sp_metadata))
        .at("/:key/saml/login", poem::get(saml::login))
        .at("/:key/saml/acs", post(saml::acs))
        .at("/:key/saml/slo", poem::get(saml::slo))
        .at("/:key/oidc/login", poem::get(oidc::login))
        .at("/:key/oidc/callback", poem::get(oidc::callback))
        .at(
            "/:key/oidc/backchannel-logout",
            post(oidc::backchannel_logout),
        )
        .data(oidc::provider::ProviderCache::default())
}

/// The audit context of an unauthenticated browser request (the principal is set later).
pub(crate) fn request_ctx(req: &Request) -> Ctx {
    let mut ctx = Ctx::system();
    ctx.request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    ctx.source_ip = crate::edge::client_ip(req);
    ctx
}

/// Whether the caller asked for JSON rather than a page.
pub(crate) fn wants_json(req: &Request) -> bool {
    req.headers()
        .get(poem::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A refused sign-in: a small page for people, `{"code", "message", "reason"}` for programs.
/// Nothing of what was sent is echoed back.
pub(crate) fn refusal_response(req: &Request, refusal: Refusal) -> Response {
    let (status, code) = match refusal {
        Refusal::MalformedInput | Refusal::InvalidIdentity => {
            (StatusCode::BAD_REQUEST, "invalid_request")
        }
        Refusal::NotConfigured => (StatusCode::NOT_FOUND, "not_found"),
        Refusal::ProviderUnavailable => (StatusCode::BAD_GATEWAY, "bad_gateway"),
        _ => (StatusCode::FORBIDDEN, "forbidden"),
    };
    if wants_json(req) {
        return Json(json!({
            "code": code,
            "message": refusal.message(),
            "reason": refusal.code(),
        }))
        .with_status(status)
        .into_response();
    }
    page(
        status,
        "Sign-in refused",
        refusal.message(),
        Some(refusal.code()),
    )
}

/// A minimal HTML page; `text` is ours, never input.
pub(crate) fn page(status: StatusCode, title: &str, text: &str, reason: Option<&str>) -> Response {
    let reason = reason
        .map(|r| format!("<p><small>Reason: <code>{r}</code></small></p>"))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title} - Gatehouse</title></head>\
         <body><h1>{title}</h1><p>{text}</p>{reason}<p><a href=\"/\">Back to sign-in</a></p></body></html>"
    ))
    .with_status(status)
    .with_header("Cache-Control", "no-store")
    .into_response()
}

/// An internal failure, logged with the request id, shown without detail.
pub(crate) fn internal_response(req: &Request, err: &crate::error::Error) -> Response {
    use crate::error::Error as E;
    let status = match err {
        E::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        E::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        E::Forbidden(_) => StatusCode::FORBIDDEN,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        E::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        E::ApprovalRequired(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let crate::error::Error::Internal(detail) = err {
        tracing::error!(error = %detail, "sso internal error");
    }
    if wants_json(req) {
        return Json(json!({"code": err.code(), "message": err.public_message()}))
            .with_status(status)
            .into_response();
    }
    page(
        status,
        "Sign-in failed",
        &xml_free(&err.public_message()),
        None,
    )
}

/// Error messages are ours, but keep any markup out of the page anyway.
fn xml_free(text: &str) -> String {
    saml::xml::escape(text)
}

/// The connection a `/sso/{key}/...` URL names; unknown keys get the not-configured page.
pub(crate) async fn connection_or_refusal(
    service: &Service,
    key: &str,
) -> Result<SignInConnection, Refusal> {
    service
        .sign_in_connection(key)
        .await
        .map_err(|_| Refusal::NotConfigured)
}

/// A completed sign-in: the session cookie, then a 303 to the same-origin `returnTo` (or, for
/// `Accept: application/json`, the member and the CSRF token as JSON). The CSRF token also
/// rides in the `X-Gatehouse-CSRF` response header.
pub(crate) fn complete_login_response(
    req: &Request,
    settings: &crate::service::sessions::SsoSettings,
    signed_in: &crate::service::sso_login::SignedIn,
) -> Response {
    let cookie = session::session_cookie(settings, &signed_in.session.secret);
    let builder = |status: StatusCode| {
        Response::builder()
            .status(status)
            .header(poem::http::header::SET_COOKIE, cookie.clone())
            .header(session::CSRF_HEADER, signed_in.session.csrf_token.clone())
            .header("Cache-Control", "no-store")
    };
    if wants_json(req) {
        let body = json!({
            "memberId": signed_in.member.id,
            "email": signed_in.member.email,
            "role": signed_in.member.role,
            "customRoles": signed_in.member.custom_roles,
            "teams": signed_in.member.teams,
            "created": signed_in.created,
            "csrfToken": signed_in.session.csrf_token,
            "expiresAt": signed_in.session.expires_at,
            "returnTo": signed_in.return_to,
        });
        return builder(StatusCode::OK)
            .content_type("application/json")
            .body(body.to_string());
    }
    builder(StatusCode::SEE_OTHER)
        .header(poem::http::header::LOCATION, signed_in.return_to.clone())
        .finish()
}

/// `POST /sso/logout`: ends the session of the cookie and clears it. When the session came
/// from an OpenID provider with an `end_session_endpoint`, the browser is sent there (303;
/// `logoutUrl` in the JSON answer) so that the provider signs the member out too. A form
/// post (the console's sign-out button) goes back to `/`, or on to the IdP through a page.
#[handler]
async fn logout(
    req: &Request,
    service: Data<&Service>,
    providers: Data<&oidc::provider::ProviderCache>,
) -> Response {
    let ctx = request_ctx(req);
    let settings = service.sso_settings();
    let clear = session::clear_session_cookie(&settings);
    let ended = match session::cookie_value(req, session::SESSION_COOKIE) {
        Some(secret) => match service.logout(&ctx, &secret).await {
            Ok(ended) => ended,
            Err(e) => return internal_response(req, &e),
        },
        None => None,
    };
    let idp_logout = match &ended {
        Some(row) => idp_logout_url(&service, &providers, row).await,
        None => None,
    };
    let body = json!({ "signedOut": ended.is_some(), "logoutUrl": idp_logout });
    let from_form = req
        .content_type()
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let response = match idp_logout.filter(|_| !wants_json(req)) {
        // A page's form may only lead to this origin (the console's CSP `form-action`), so
        // a form is sent on to the IdP by a page rather than by a redirect.
        Some(url) if from_form => on_to_idp_page(&url),
        Some(url) => see_other(&url),
        None if from_form => see_other("/"),
        None => Json(body).into_response(),
    };
    response
        .with_header(poem::http::header::SET_COOKIE, clear)
        .with_header("Cache-Control", "no-store")
        .into_response()
}

fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(poem::http::header::LOCATION, location)
        .finish()
}

/// Signed out here; the page moves on to the IdP's sign-out at once, or by its link.
fn on_to_idp_page(url: &str) -> Response {
    let url = xml_free(url);
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={url}\">\
         <title>Signing out - Gatehouse</title></head><body><h1>Signed out</h1>\
         <p>You are signed out of Gatehouse. <a href=\"{url}\">Sign out at your identity provider</a> too.</p>\
         </body></html>"
    ))
    .into_response()
}

/// Where the identity provider of an ended session signs the member out, if it says.
async fn idp_logout_url(
    service: &Service,
    providers: &oidc::provider::ProviderCache,
    row: &crate::service::sessions::EndedSession,
) -> Option<String> {
    let connection = connection_or_refusal(service, row.connection_key.as_deref()?)
        .await
        .ok()?;
    match row.protocol.as_str() {
        "oidc" => {
            oidc::end_session_url(
                service,
                providers,
                &connection,
                row.id_token_hint.as_deref(),
            )
            .await
        }
        "saml" => saml::logout_request_url(service, &connection, row).await,
        _ => None,
    }
}
