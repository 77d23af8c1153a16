//! What the HTTP edges (REST, SCIM, SSO, the console) share about a request, so that no edge imports
//! another: the request id the middleware assigns, the client's address (`client_address`),
//! the names of the session cookie and of the CSRF header (set by sign-in, checked by REST),
//! and what a request says about its client.

pub mod client_address;

/// The session cookie's name (fixed by the public contract).
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// The header cookie-authenticated writes must carry.
pub const CSRF_HEADER: &str = "X-Gatehouse-CSRF";

/// The request id set by the request-id middleware (kept from `X-Request-Id` when sane).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Longest `User-Agent` kept with a session: enough for any real browser, bounded for a forged one.
const USER_AGENT_MAX_CHARS: usize = 512;

/// The client's address that sign-in records on a session and in its audit entries, as
/// [`client_address::of`] works it out (a trusted proxy's forwarded address included).
pub fn client_ip(req: &poem::Request) -> Option<String> {
    client_address::of(req).map(|a| a.to_string())
}

/// The browser's `User-Agent`, without control characters and at most
/// `USER_AGENT_MAX_CHARS` long; None when absent or blank.
pub fn user_agent(req: &poem::Request) -> Option<String> {
    let raw = req.headers().get(poem::http::header::USER_AGENT)?;
    let text: String = String::from_utf8_lossy(raw.as_bytes())
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_MAX_CHARS)
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Reads one cookie from the `Cookie` header(s).
pub fn cookie_value(req: &poem::Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
