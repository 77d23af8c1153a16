//! How REST callers prove who they are, and the request context handed to the service.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::ApiKey;

use super::error::ApiResult;
use crate::service::{Ctx, Service};

/// An API token in the `Authorization` header, bare or as `Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "Authorization", key_in = "header")]
pub struct ApiToken(ApiKey);

/// The request id set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Authenticates the caller and gathers what the audit log records about the request.
pub async fn context(service: &Service, token: &ApiToken, req: &Request) -> ApiResult<Ctx> {
    let principal = service.authenticate(&token.0.key).await?;
    Ok(Ctx {
        principal,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        source_ip: req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string()),
    })
}
