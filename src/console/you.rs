//! `/`: signed out, the sign-in page (one button per SAML or OIDC connection); signed in,
//! "You": who the member is, each grant with where it came from, what they may do in each
//! environment, their sessions and personal tokens.

use maud::{Markup, html};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::auth::{Viewer, form_poster, viewer};
use super::error::{ConsoleResult, form_of, page_or_error};
use super::format::{display_name, grant, grant_list, last_sign_in, time, time_or_never};
use super::page::{Section, csrf_field, frame, respond, see_other};
use crate::domain::access_review::ReviewRow;
use crate::error::Error;
use crate::service::Service;
use crate::service::access::{EnvironmentAccess, SUMMARY_ACTIONS};
use crate::service::session_admin::SessionInfo;
use crate::service::spelled::Spelled;
use crate::service::tokens::{Token, TokenPost};

/// `GET /`: the sign-in page, or the signed-in member's own page.
#[handler]
pub async fn home(req: &Request, service: Data<&Service>) -> Response {
    page_or_error(home_page(&service, req).await)
}

async fn home_page(service: &Service, req: &Request) -> ConsoleResult {
    match viewer(service, req).await? {
        None => sign_in_page(service).await,
        Some(viewer) => you_page(service, &viewer, None).await,
    }
}

async fn sign_in_page(service: &Service) -> ConsoleResult {
    let choices = service.sign_in_choices().await?;
    let body = html! {
        p { "Sign in with your organisation's identity provider." }
        @if choices.is_empty() {
            p class="notice" { "No identity connection is set up yet. An admin creates one with "
                code { "POST /api/v2/connections" } "." }
        } @else {
            ul class="signin" {
                @for c in &choices {
                    li {
                        a href=(format!("/sso/{}/{}/login?returnTo=/", c.key, c.protocol)) {
                            "Sign in with " (c.name) " (" (c.protocol.to_uppercase()) ")"
                        }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        frame("Sign in", None, Section::None, body),
    ))
}

/// What a form post asks of "You" besides the page itself (a token's secret, shown once).
struct Shown {
    new_token: Option<Token>,
}

async fn you_page(service: &Service, viewer: &Viewer, shown: Option<Shown>) -> ConsoleResult {
    let member = service.get_member(&viewer.ctx, &viewer.member_id).await?;
    let grants = service
        .member_access(&viewer.ctx, &viewer.member_id)
        .await?;
    let access = service.effective_access(&viewer.ctx).await?;
    let sessions = service
        .list_member_sessions(&viewer.ctx, &viewer.member_id)
        .await?;
    let tokens = service.list_own_tokens(&viewer.ctx).await?;
    let body = html! {
        @if let Some(token) = shown.as_ref().and_then(|s| s.new_token.as_ref()) {
            (new_token_notice(token))
        }
        (identity_section(&display_name(&member), &grants))
        (access_section(&access))
        (sessions_section(viewer, &sessions))
        (tokens_section(viewer, &tokens))
        section aria-labelledby="signout" {
            h2 id="signout" { "Sign out" }
            form method="post" action="/sso/logout" {
                button type="submit" { "Sign out" }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        frame("You", Some(viewer), Section::You, body),
    ))
}

fn identity_section(name: &str, row: &ReviewRow) -> Markup {
    html! {
        section aria-labelledby="identity" {
            h2 id="identity" { "Who you are" }
            table {
                tbody {
                    tr { th scope="row" { "Name" } td { (name) } }
                    tr { th scope="row" { "Email" } td { (row.name) } }
                    tr { th scope="row" { "Member id" } td { code { (row.id) } } }
                    tr { th scope="row" { "Status" } td { (row.status) } }
                    tr {
                        th scope="row" { "Base role" }
                        td { @if let Some(role) = &row.role { (grant(role)) } }
                    }
                    tr { th scope="row" { "Custom roles" } td { (grant_list(&row.custom_roles)) } }
                    tr { th scope="row" { "Teams" } td { (grant_list(&row.teams)) } }
                    tr { th scope="row" { "Last sign-in" } td { (last_sign_in(row.last_sign_in.as_ref())) } }
                }
            }
        }
    }
}

fn access_section(rows: &[EnvironmentAccess]) -> Markup {
    html! {
        section aria-labelledby="access" {
            h2 id="access" { "What you may do" }
            p class="source" { "Decided by the policy engine for any flag and any approval request of each environment." }
            @if rows.is_empty() {
                p { "You may not view any project." }
            } @else {
                table {
                    thead {
                        tr {
                            th scope="col" { "Project" }
                            th scope="col" { "Environment" }
                            @for a in &SUMMARY_ACTIONS { th scope="col" { (a.label) } }
                        }
                    }
                    tbody {
                        @for r in rows {
                            tr {
                                td { (r.project_name) " " code { (r.project_key) } }
                                td {
                                    (r.environment_name) " " code { (r.environment_key) }
                                    @if r.critical { " (critical)" }
                                }
                                @for allowed in &r.allowed {
                                    @if *allowed { td class="yes" { "yes" } } @else { td class="no" { "no" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn sessions_section(viewer: &Viewer, sessions: &[SessionInfo]) -> Markup {
    html! {
        section aria-labelledby="sessions" {
            h2 id="sessions" { "Your sessions" }
            table {
                thead { tr {
                    th scope="col" { "Signed in" } th scope="col" { "Last used" }
                    th scope="col" { "Address" } th scope="col" { "Browser" }
                    th scope="col" { "Connection" }
                } }
                tbody {
                    @for s in sessions {
                        tr {
                            td { (time(s.creation_date)) @if s.current { " (this one)" } }
                            td { (time(s.last_used)) }
                            td { (s.ip.as_deref().unwrap_or("")) }
                            td { (s.user_agent.as_deref().unwrap_or("")) }
                            td { (s.connection.as_deref().unwrap_or("")) " " (s.protocol) }
                        }
                    }
                }
            }
            @if sessions.iter().any(|s| !s.current) {
                form method="post" action="/console/sessions/end-others" {
                    (csrf_field(viewer))
                    button type="submit" { "Sign out your other sessions" }
                }
            }
        }
    }
}

fn tokens_section(viewer: &Viewer, tokens: &[Token]) -> Markup {
    html! {
        section aria-labelledby="tokens" {
            h2 id="tokens" { "Your personal API tokens" }
            @if tokens.is_empty() { p { "You have no personal tokens." } } @else {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Ends in" } th scope="col" { "Role" }
                        th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { "State" }
                        th scope="col" { span class="skip" { "Actions" } }
                    } }
                    tbody {
                        @for t in tokens {
                            tr {
                                td { (t.name) }
                                td { code { "…" (t.ending) } }
                                td { (t.role.as_deref().unwrap_or("as you")) }
                                td { (time_or_never(t.last_used)) }
                                td { (t.expires_at.map(time).unwrap_or_else(|| "no expiry".to_owned())) }
                                td { @if t.revoked { "revoked" } @else { "active" } }
                                td {
                                    @if !t.revoked {
                                        form class="inline" method="post" action=(format!("/console/tokens/{}/revoke", t.id)) {
                                            (csrf_field(viewer))
                                            button type="submit" aria-label=(format!("Revoke token {}", t.name)) { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form class="stack" method="post" action="/console/tokens" {
                (csrf_field(viewer))
                fieldset {
                    legend { "Create a personal token" }
                    label for="token-name" { "Name" }
                    input id="token-name" name="name" required maxlength="256";
                    label for="token-role" { "Role (never above your own)" }
                    select id="token-role" name="role" {
                        option value="" { "Act with my own access" }
                        option value="reader" { "reader" }
                        option value="writer" { "writer" }
                        option value="admin" { "admin" }
                    }
                    label for="token-days" { "Expires after (days, empty for never)" }
                    input id="token-days" name="expiresInDays" type="number" min="1" max="3650";
                    p { button type="submit" { "Create token" } }
                }
            }
        }
    }
}

fn new_token_notice(token: &Token) -> Markup {
    html! {
        section class="notice" role="status" aria-labelledby="new-token" {
            h2 id="new-token" { "Token " (token.name) " created" }
            p { "Copy it now: it is not shown again." }
            @if let Some(secret) = &token.token { p class="secret" { code { (secret) } } }
        }
    }
}

/// Fields every console form carries.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/sessions/end-others`: ends every other live session of the viewer.
#[handler]
pub async fn end_other_sessions(
    req: &Request,
    service: Data<&Service>,
    form: poem::Result<Form<CsrfOnly>>,
) -> Response {
    page_or_error(
        async {
            let viewer = form_poster(&service, req, &csrf_of(&form)).await?;
            let sessions = service
                .list_member_sessions(&viewer.ctx, &viewer.member_id)
                .await?;
            for s in sessions.iter().filter(|s| !s.current) {
                match service
                    .revoke_member_session(&viewer.ctx, &viewer.member_id, &s.id)
                    .await
                {
                    // Ended meanwhile (expired, or signed out elsewhere): nothing to do.
                    Ok(()) | Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(see_other("/#sessions"))
        }
        .await,
    )
}

fn csrf_of<T: HasCsrf>(form: &poem::Result<Form<T>>) -> String {
    form.as_ref()
        .map(|f| f.0.csrf().to_owned())
        .unwrap_or_default()
}

/// A form that carries the CSRF field.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

impl HasCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The token form.
#[derive(Debug, Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default, rename = "expiresInDays")]
    expires_in_days: String,
}

impl HasCsrf for NewTokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

const DAY_MS: i64 = 86_400_000;

/// `POST /console/tokens`: creates a personal token and shows its secret once.
#[handler]
pub async fn create_token(
    req: &Request,
    service: Data<&Service>,
    form: poem::Result<Form<NewTokenForm>>,
) -> Response {
    page_or_error(
        async {
            let viewer = form_poster(&service, req, &csrf_of(&form)).await?;
            let form = form_of(form)?;
            let input = token_post(&form, service.now_ms())?;
            let token = service.create_token(&viewer.ctx, input).await?;
            you_page(
                &service,
                &viewer,
                Some(Shown {
                    new_token: Some(token),
                }),
            )
            .await
        }
        .await,
    )
}

/// The REST body the form stands for, checked as REST checks it.
fn token_post(form: &NewTokenForm, now_ms: i64) -> Result<TokenPost, Error> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name: not blank, no control characters, at most 256 characters",
        ));
    }
    let expires_at = match form.expires_in_days.trim() {
        "" => None,
        days => {
            let days: i64 = days
                .parse()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| Error::invalid("expiresInDays: a whole number from 1 to 3650"))?;
            Some(now_ms + days * DAY_MS)
        }
    };
    let role = match form.role.as_str() {
        "" => None,
        r @ ("reader" | "writer" | "admin") => Some(Spelled::new(r)),
        _ => return Err(Error::invalid("role: reader, writer or admin")),
    };
    Ok(TokenPost {
        name: Spelled::new(name),
        description: None,
        service_token: false,
        role,
        custom_roles: None,
        ld_custom_role_ids: None,
        inline_role: None,
        expires_at,
    })
}

/// `POST /console/tokens/{id}/revoke`: revokes one of the viewer's tokens.
#[handler]
pub async fn revoke_token(
    req: &Request,
    service: Data<&Service>,
    id: Path<String>,
    form: poem::Result<Form<CsrfOnly>>,
) -> Response {
    page_or_error(
        async {
            let viewer = form_poster(&service, req, &csrf_of(&form)).await?;
            service.revoke_token(&viewer.ctx, &id).await?;
            Ok(see_other("/#tokens"))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, role: &str, days: &str) -> NewTokenForm {
        NewTokenForm {
            csrf: String::new(),
            name: name.to_owned(),
            role: role.to_owned(),
            expires_in_days: days.to_owned(),
        }
    }

    fn refusal(form: &NewTokenForm) -> String {
        token_post(form, 0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_token_form_becomes_the_rest_body() {
        let post = token_post(&form(" laptop ", "reader", "30"), 1_000).ok();
        let post = post.as_ref();
        assert_eq!(post.map(|p| p.name.text.as_str()), Some("laptop"));
        assert_eq!(
            post.and_then(|p| p.role.as_ref()).map(|r| r.text.as_str()),
            Some("reader")
        );
        assert_eq!(post.and_then(|p| p.expires_at), Some(1_000 + 30 * DAY_MS));
        assert_eq!(post.map(|p| p.service_token), Some(false));
        let own = token_post(&form("x", "", ""), 0).ok();
        assert!(own.is_some_and(|p| p.role.is_none() && p.expires_at.is_none()));
    }

    #[test]
    fn bad_token_fields_are_named() {
        assert!(refusal(&form("  ", "", "")).starts_with("name:"));
        assert!(refusal(&form("a\u{7}b", "", "")).starts_with("name:"));
        assert!(refusal(&form("x", "owner", "")).starts_with("role:"));
        assert!(refusal(&form("x", "", "0")).starts_with("expiresInDays:"));
        assert!(refusal(&form("x", "", "3651")).starts_with("expiresInDays:"));
        assert!(refusal(&form("x", "", "1e3")).starts_with("expiresInDays:"));
    }
}
