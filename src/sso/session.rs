//! Cookies of the SSO edge: the session cookie (`HttpOnly; SameSite=Lax`, `Secure` on https)
//! and the short-lived cookie that binds an OIDC login to the browser that started it.

pub use crate::edge::{CSRF_HEADER, SESSION_COOKIE, cookie_value};
use crate::service::sessions::SsoSettings;

/// Binds an OIDC login in flight to its browser; lives as long as the login may take.
pub const OIDC_BINDING_COOKIE: &str = "gatehouse_oidc";
pub use crate::service::sso_login::LOGIN_TTL_MS;

fn cookie(settings: &SsoSettings, name: &str, value: &str, max_age_s: i64, path: &str) -> String {
    let secure = if settings.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}")
}

/// The session cookie for a new session.
pub fn session_cookie(settings: &SsoSettings, secret: &str) -> String {
    cookie(
        settings,
        SESSION_COOKIE,
        secret,
        settings.session.absolute_ms / 1000,
        "/",
    )
}

/// Clears the session cookie.
pub fn clear_session_cookie(settings: &SsoSettings) -> String {
    cookie(settings, SESSION_COOKIE, "", 0, "/")
}

/// The OIDC browser-binding cookie, scoped to the SSO paths.
pub fn oidc_binding_cookie(settings: &SsoSettings, value: &str) -> String {
    cookie(
        settings,
        OIDC_BINDING_COOKIE,
        value,
        LOGIN_TTL_MS / 1000,
        "/sso",
    )
}

pub fn clear_oidc_binding_cookie(settings: &SsoSettings) -> String {
    cookie(settings, OIDC_BINDING_COOKIE, "", 0, "/sso")
}
