//! What the HTTP edges (REST, SCIM, SSO) share about a request, so that no edge imports
//! another: the request id the middleware assigns, the client's address (`client_address`),
//! and the names of the session cookie and of the CSRF header (set by sign-in, checked by REST).

pub mod client_address;

/// The session cookie's name (fixed by the public contract).
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// The header cookie-authenticated writes must carry.
pub const CSRF_HEADER: &str = "X-Gatehouse-CSRF";

/// The request id set by the request-id middleware (kept from `X-Request-Id` when sane).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);
