//! OpenID Connect relying party per connection: `GET /sso/{key}/oidc/login?returnTo=` starts
//! an authorization-code flow with PKCE (S256), `state` and `nonce` bound to the browser (a
//! short-lived cookie plus a server-side record); `GET /sso/{key}/oidc/callback` exchanges the
//! code, validates the ID token, reads userinfo when claims are missing, and signs in.

pub mod id_token;
pub mod provider;

use poem::http::StatusCode;
use poem::web::{Data, Form, Json, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use serde_json::{Value, json};

use self::provider::ProviderCache;
use super::{
    complete_login_response, connection_or_refusal, refusal_response, request_ctx, session,
};
use crate::domain::connection::OidcSettings;
use crate::domain::mapping::{IdpGroup, IdpProfile};
use crate::domain::sso::{Refusal, safe_return_to};
use crate::service::Service;
use crate::service::idp_logout::IdpSessions;
use crate::service::secrets::random_token;
use crate::service::sessions::SsoSettings;
use crate::service::sso_login::{
    LoginError, PendingOidcLogin, Protocol, SignInConnection, VerifiedIdentity,
};

/// Our redirect URI for a connection.
pub fn redirect_uri(settings: &SsoSettings, key: &str) -> String {
    format!("{}/sso/{key}/oidc/callback", settings.public_url)
}

fn settings_of(connection: &SignInConnection) -> Result<OidcSettings, Refusal> {
    connection.oidc.clone().ok_or(Refusal::NotConfigured)
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
}

/// `GET /sso/{key}/oidc/login`.
#[handler]
pub async fn login(
    req: &Request,
    service: Data<&Service>,
    providers: Data<&ProviderCache>,
    key: Path<String>,
    query: Query<LoginQuery>,
) -> Response {
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return refusal_response(req, r),
    };
    let settings = match settings_of(&connection) {
        Ok(s) => s,
        Err(r) => return refusal_response(req, r),
    };
    let discovery = match providers.discover(&settings.issuer, service.now_ms()).await {
        Ok(d) => d,
        Err(r) => return refusal_response(req, r),
    };
    let sso = service.sso_settings();
    let state = random_token();
    let binding = random_token();
    let pending = PendingOidcLogin {
        nonce: random_token(),
        pkce_verifier: random_token(),
        return_to: safe_return_to(query.return_to.as_deref()),
    };
    if let Err(e) = service
        .start_oidc_login(&connection, &state, &binding, &pending)
        .await
    {
        return super::internal_response(req, &e);
    }
    let mut url = match reqwest::Url::parse(&discovery.authorization_endpoint) {
        Ok(u) => u,
        Err(_) => return refusal_response(req, Refusal::ProviderUnavailable),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", &redirect_uri(&sso, &connection.key))
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &pending.nonce)
        .append_pair(
            "code_challenge",
            &provider::pkce_challenge(&pending.pkce_verifier),
        )
        .append_pair("code_challenge_method", "S256");
    Response::builder()
        .status(StatusCode::FOUND)
        .header(poem::http::header::LOCATION, url.to_string())
        .header(
            poem::http::header::SET_COOKIE,
            session::oidc_binding_cookie(&sso, &binding),
        )
        .header("Cache-Control", "no-store")
        .finish()
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// A claim as a list of strings: a string (comma-separated values stay one value here; the
/// mapping splits `customRole`), an array of strings, or a number/bool.
fn claim_values(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        _ => Vec::new(),
    }
}

/// Validates the token: header, key (refetching the JWKS once on an unknown `kid`), claims.
async fn validate_id_token(
    providers: &ProviderCache,
    jwks_uri: &str,
    token: &str,
    expect: &id_token::Expectations<'_>,
    now_ms: i64,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    let (header, key) = signing_key(providers, jwks_uri, token, now_ms).await?;
    id_token::validate(token, &header, &key, expect)
}

/// A token's header and the provider's key that may verify it (the JWKS refetched once on
/// an unknown `kid`).
async fn signing_key(
    providers: &ProviderCache,
    jwks_uri: &str,
    token: &str,
    now_ms: i64,
) -> Result<(id_token::TokenHeader, jsonwebtoken::jwk::Jwk), Refusal> {
    let header = id_token::read_header(token)?;
    let keys = providers.keys(jwks_uri, now_ms).await?;
    let key = match id_token::find_key(&keys, &header) {
        Some(k) => k.clone(),
        None => {
            let refreshed = providers
                .refetch_for_unknown_kid(jwks_uri, now_ms)
                .await?
                .ok_or(Refusal::UnknownKey)?;
            id_token::find_key(&refreshed, &header)
                .cloned()
                .ok_or(Refusal::UnknownKey)?
        }
    };
    Ok((header, key))
}

#[derive(Debug, Deserialize)]
pub struct BackchannelLogoutForm {
    logout_token: Option<String>,
}

/// `POST /sso/{key}/oidc/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0): the
/// provider's logout token, validated like an ID token, ends the connection's sessions with
/// its `sid` (or of its `sub`). 200 when it is taken (whether or not a session matched), 400
/// `invalid_request` with the reason when refused; either way audited.
#[handler]
pub async fn backchannel_logout(
    req: &Request,
    service: Data<&Service>,
    providers: Data<&ProviderCache>,
    key: Path<String>,
    form: poem::Result<Form<BackchannelLogoutForm>>,
) -> Response {
    let ctx = request_ctx(req);
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return logout_refused(r),
    };
    let token = form.ok().and_then(|Form(f)| f.logout_token);
    let claims = match verified_logout(&service, &providers, &connection, token.as_deref()).await {
        Ok(claims) => claims,
        Err(refusal) => {
            return match service
                .record_logout_refusal(&ctx, &connection, Protocol::Oidc, refusal)
                .await
            {
                Ok(()) => logout_refused(refusal),
                Err(e) => super::internal_response(req, &e),
            };
        }
    };
    let named = IdpSessions {
        session: claims.sid.as_deref(),
        subject: claims.sub.as_deref(),
    };
    match service
        .end_idp_sessions(&ctx, &connection, Protocol::Oidc, named)
        .await
    {
        Ok(_) => Response::builder()
            .status(StatusCode::OK)
            .header("Cache-Control", "no-store")
            .finish(),
        Err(e) => super::internal_response(req, &e),
    }
}

/// The claims of a logout token this connection's provider signed for it.
async fn verified_logout(
    service: &Service,
    providers: &ProviderCache,
    connection: &SignInConnection,
    token: Option<&str>,
) -> Result<id_token::LogoutClaims, Refusal> {
    let settings = settings_of(connection)?;
    let token = token
        .filter(|t| !t.is_empty() && t.len() <= 16 * 1024)
        .ok_or(Refusal::MalformedInput)?;
    let now_ms = service.now_ms();
    let discovery = providers.discover(&settings.issuer, now_ms).await?;
    let (header, key) = signing_key(providers, &discovery.jwks_uri, token, now_ms).await?;
    id_token::validate_logout(
        token,
        &header,
        &key,
        &settings.issuer,
        &settings.client_id,
        now_ms.div_euclid(1000),
    )
}

/// A refused logout token: 400 with the reason (the provider reads `error`).
fn logout_refused(refusal: Refusal) -> Response {
    Json(json!({"error": "invalid_request", "error_description": refusal.code()}))
        .with_status(StatusCode::BAD_REQUEST)
        .with_header("Cache-Control", "no-store")
        .into_response()
}

/// Where to send the browser so the provider signs the member out too (RP-initiated logout):
/// its `end_session_endpoint` with the sign-in's ID token as `id_token_hint`, our client id,
/// and the public root to come back to. None when the provider has no such endpoint.
pub async fn end_session_url(
    service: &Service,
    providers: &ProviderCache,
    connection: &SignInConnection,
    id_token_hint: Option<&str>,
) -> Option<String> {
    let settings = settings_of(connection).ok()?;
    let discovery = providers
        .discover(&settings.issuer, service.now_ms())
        .await
        .ok()?;
    let mut url = reqwest::Url::parse(discovery.end_session_endpoint.as_deref()?).ok()?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(hint) = id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
        query.append_pair("client_id", &settings.client_id);
        query.append_pair(
            "post_logout_redirect_uri",
            &format!("{}/", service.sso_settings().public_url),
        );
    }
    Some(url.to_string())
}

/// Whether the token leaves the groups out because there are too many: Entra then names the
/// groups claim in `_claim_names` (a distributed claim, more than 200 groups) or, in tokens
/// from the implicit flow, sets `hasgroups`. The groups are unknown then, not none.
fn groups_overage(claims: &serde_json::Map<String, Value>, groups_claim: &str) -> bool {
    let distributed = claims
        .get("_claim_names")
        .and_then(Value::as_object)
        .is_some_and(|names| names.contains_key(groups_claim) || names.contains_key("groups"));
    distributed || claims.get("hasgroups") == Some(&Value::Bool(true))
}

/// The identity in the claims, per the connection's claim names.
fn identity_of(
    claims: &serde_json::Map<String, Value>,
    settings: &OidcSettings,
    return_to: String,
) -> Result<VerifiedIdentity, Refusal> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let email = text(&settings.email_claim)
        .filter(|e| e.contains('@') && !e.contains(char::is_whitespace))
        .ok_or(Refusal::MissingEmail)?;
    if claims.get("email_verified") == Some(&Value::Bool(false)) {
        return Err(Refusal::MissingEmail);
    }
    let mut profile = IdpProfile::default();
    for (name, value) in claims {
        let values = claim_values(value);
        if !values.is_empty() {
            profile.push(name, values);
        }
    }
    // The configured claim names feed the mapping's `role` / `customRole` attributes.
    if let Some(v) = claims.get(&settings.role_claim)
        && !settings
            .role_claim
            .eq_ignore_ascii_case(crate::domain::mapping::ROLE_ATTRIBUTE)
    {
        profile.push(crate::domain::mapping::ROLE_ATTRIBUTE, claim_values(v));
    }
    if let Some(v) = claims.get(&settings.custom_role_claim)
        && !settings
            .custom_role_claim
            .eq_ignore_ascii_case(crate::domain::mapping::CUSTOM_ROLE_ATTRIBUTE)
    {
        profile.push(
            crate::domain::mapping::CUSTOM_ROLE_ATTRIBUTE,
            claim_values(v),
        );
    }
    profile.groups = claims
        .get(&settings.groups_claim)
        .map(claim_values)
        .unwrap_or_default()
        .into_iter()
        .filter(|g| !g.trim().is_empty())
        .map(|name| IdpGroup { id: None, name })
        .collect();
    profile.groups_overage = groups_overage(claims, &settings.groups_claim);
    Ok(VerifiedIdentity {
        protocol: Protocol::Oidc,
        subject: text("sub").unwrap_or_default(),
        email,
        first_name: text("given_name"),
        last_name: text("family_name"),
        profile,
        saml_request_id: None,
        replay: None,
        return_to: Some(return_to),
        idp_session: text("sid"),
        id_token: None,
    })
}

/// `GET /sso/{key}/oidc/callback`.
#[handler]
pub async fn callback(
    req: &Request,
    service: Data<&Service>,
    providers: Data<&ProviderCache>,
    key: Path<String>,
    query: poem::Result<Query<CallbackQuery>>,
) -> Response {
    let ctx = request_ctx(req);
    let user_agent = crate::edge::user_agent(req);
    let connection = match connection_or_refusal(&service, &key).await {
        Ok(c) => c,
        Err(r) => return refusal_response(req, r),
    };
    let sso = service.sso_settings();
    let clear_binding = session::clear_oidc_binding_cookie(&sso);
    let with_binding_cleared = |mut resp: Response| {
        if let Ok(v) = clear_binding.parse() {
            resp.headers_mut().append(poem::http::header::SET_COOKIE, v);
        }
        resp
    };
    let signed_in = match verified_identity(req, &service, &providers, &connection, query).await {
        Ok(identity) => {
            let email = identity.email.clone();
            service
                .complete_sso_login(&ctx, &connection, identity, user_agent.as_deref())
                .await
                .map_err(|e| (e, Some(email)))
        }
        Err(e) => Err((e, None)),
    };
    match signed_in {
        Ok(signed_in) => with_binding_cleared(complete_login_response(req, &sso, &signed_in)),
        Err((LoginError::Refused(refusal), subject)) => {
            let recorded = service
                .record_login_refusal(
                    &ctx,
                    &connection,
                    Protocol::Oidc,
                    refusal,
                    subject.as_deref(),
                )
                .await;
            match recorded {
                Ok(()) => with_binding_cleared(refusal_response(req, refusal)),
                Err(e) => super::internal_response(req, &e),
            }
        }
        Err((LoginError::Failed(e), _)) => super::internal_response(req, &e),
    }
}

/// The callback's checks in order: the connection's settings, the state bound to this
/// browser, the code exchanged for tokens, the ID token (and userinfo), the identity.
async fn verified_identity(
    req: &Request,
    service: &Service,
    providers: &ProviderCache,
    connection: &SignInConnection,
    query: poem::Result<Query<CallbackQuery>>,
) -> Result<VerifiedIdentity, LoginError> {
    let settings = settings_of(connection)?;
    let Ok(Query(query)) = query else {
        return Err(Refusal::MalformedInput.into());
    };
    let Some(state) = query.state.filter(|s| !s.is_empty() && s.len() <= 256) else {
        return Err(Refusal::StateMismatch.into());
    };
    let binding = session::cookie_value(req, session::OIDC_BINDING_COOKIE);
    let pending = service
        .take_oidc_login(connection, &state, binding.as_deref())
        .await?;
    if query.error.is_some() {
        return Err(Refusal::ProviderError.into());
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return Err(Refusal::MalformedInput.into());
    };
    let redirect = redirect_uri(&service.sso_settings(), &connection.key);
    let exchange = CodeExchange {
        settings: &settings,
        pending: &pending,
        code: &code,
        redirect_uri: &redirect,
        now_ms: service.now_ms(),
    };
    let (claims, id_token) = claims_for(providers, &exchange).await?;
    let mut identity = identity_of(&claims, &settings, pending.return_to)?;
    identity.id_token = Some(id_token);
    Ok(identity)
}

/// What the token request and the ID token's checks need.
struct CodeExchange<'a> {
    settings: &'a OidcSettings,
    pending: &'a PendingOidcLogin,
    code: &'a str,
    redirect_uri: &'a str,
    now_ms: i64,
}

/// The code exchanged for tokens, and the validated ID token's claims, completed from
/// userinfo when the token lacks a claim the connection reads; with the ID token itself.
async fn claims_for(
    providers: &ProviderCache,
    exchange: &CodeExchange<'_>,
) -> Result<(serde_json::Map<String, Value>, String), Refusal> {
    let settings = exchange.settings;
    let discovery = providers
        .discover(&settings.issuer, exchange.now_ms)
        .await?;
    let tokens = providers
        .exchange_code(
            &discovery,
            &settings.client_id,
            settings.client_secret.as_deref(),
            exchange.code,
            exchange.redirect_uri,
            &exchange.pending.pkce_verifier,
        )
        .await?;
    let token = tokens.id_token.ok_or(Refusal::ProviderUnavailable)?;
    let expect = id_token::Expectations {
        issuer: &settings.issuer,
        client_id: &settings.client_id,
        nonce: &exchange.pending.nonce,
        now_s: exchange.now_ms.div_euclid(1000),
    };
    let mut claims = validate_id_token(
        providers,
        &discovery.jwks_uri,
        &token,
        &expect,
        exchange.now_ms,
    )
    .await?;
    let missing = [
        &settings.email_claim,
        &settings.groups_claim,
        &settings.role_claim,
        &settings.custom_role_claim,
    ]
    .iter()
    .any(|c| !claims.contains_key(c.as_str()));
    if missing
        && let (Some(endpoint), Some(access)) = (
            discovery.userinfo_endpoint.as_deref(),
            tokens.access_token.as_deref(),
        )
    {
        // Claims the ID token lacks may come from userinfo; its `sub` must be the token's.
        let info = providers.userinfo(endpoint, access).await?;
        if info.get("sub") != claims.get("sub") {
            return Err(Refusal::MissingSubject);
        }
        for (k, v) in info {
            claims.entry(k).or_insert(v);
        }
    }
    Ok((claims, token))
}
