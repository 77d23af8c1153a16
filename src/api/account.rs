//! `/api/v2/me`: who the caller is.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use crate::service::Service;
use crate::service::account::Me;

pub struct AccountApi;

#[OpenApi(prefix_path = "/api/v2", tag = "Tag::Account")]
impl AccountApi {
    /// Who the caller is
    ///
    /// **Permission:** any valid token.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<Me>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.me(&ctx).await?))
    }
}
