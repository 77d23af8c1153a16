//! SAML 2.0 service provider per connection: metadata, SP-initiated login, ACS.

pub mod decrypt;
pub mod metadata;
pub mod request;
pub mod verifier;
pub mod xml;

use poem::{Request, Response, handler};

use crate::domain::sso::Refusal;

#[handler]
pub async fn sp_metadata(req: &Request) -> Response {
    super::refusal_response(req, Refusal::NotConfigured)
}

#[handler]
pub async fn login(req: &Request) -> Response {
    super::refusal_response(req, Refusal::NotConfigured)
}

#[handler]
pub async fn acs(req: &Request) -> Response {
    super::refusal_response(req, Refusal::NotConfigured)
}
