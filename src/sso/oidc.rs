//! OpenID Connect relying party per connection.

pub mod id_token;
pub mod provider;

use poem::{Request, Response, handler};

use crate::domain::sso::Refusal;

#[handler]
pub async fn login(req: &Request) -> Response {
    super::refusal_response(req, Refusal::NotConfigured)
}

#[handler]
pub async fn callback(req: &Request) -> Response {
    super::refusal_response(req, Refusal::NotConfigured)
}
