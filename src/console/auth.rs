//! Who is looking: the session cookie of an SSO sign-in, authenticated as REST does it
//! (the account's IP allowlist included), and the CSRF token forms must send back.
//!
//! Only sessions sign in to the console; API tokens are for programs. A form post must carry
//! the session's CSRF token in its `csrf` field: a cross-site form can make the browser send
//! the cookie, but cannot read the token to put it in the form.

use poem::Request;

use super::error::ConsoleError;
use crate::domain::policy::Resource;
use crate::edge::{RequestId, SESSION_COOKIE, client_address, cookie_value};
use crate::error::Error;
use crate::service::authz::authorize;
use crate::service::secrets::constant_time_eq;
use crate::service::{Ctx, Principal, Service};

/// A signed-in member looking at the console.
pub struct Viewer {
    /// The request context every command of the page is called with.
    pub ctx: Ctx,
    pub member_id: String,
    pub email: String,
    /// What the page's forms send back in their `csrf` field.
    pub csrf: String,
    /// Whether the directory is shown in the navigation (`viewMember` on every member).
    pub may_view_directory: bool,
}

/// The viewer, or `None` when the request carries no live session.
pub async fn viewer(service: &Service, req: &Request) -> Result<Option<Viewer>, ConsoleError> {
    let Some(secret) = cookie_value(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let principal = match service.authenticate_session(&secret).await {
        Ok(p) => p,
        Err(Error::Unauthorized(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let client = client_address::of(req);
    service.check_client_address(&principal, client).await?;
    let Principal::Session(session) = &principal else {
        return Ok(None);
    };
    let member_id = session.member.id.clone();
    let email = session.member.email.clone();
    let csrf = session.csrf_token.clone();
    let may_view_directory = authorize(&principal, "viewMember", &Resource::member("*")).is_ok();
    Ok(Some(Viewer {
        ctx: Ctx {
            principal,
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            source_ip: client.map(|a| a.to_string()),
        },
        member_id,
        email,
        csrf,
        may_view_directory,
    }))
}

/// The viewer of a page that needs one; signed out, the browser goes to the sign-in page.
pub async fn signed_in(service: &Service, req: &Request) -> Result<Viewer, ConsoleError> {
    viewer(service, req).await?.ok_or(ConsoleError::SignedOut)
}

/// The viewer of a form post, whose `csrf` field must be the session's token.
pub async fn form_poster(
    service: &Service,
    req: &Request,
    sent_csrf: &str,
) -> Result<Viewer, ConsoleError> {
    let viewer = signed_in(service, req).await?;
    if sent_csrf.is_empty() || !constant_time_eq(sent_csrf, &viewer.csrf) {
        return Err(ConsoleError::Service(Error::forbidden(
            "this form is out of date or came from another site: reload the page and try again",
        )));
    }
    Ok(viewer)
}
