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
use crate::service::sso_policy::{SsoPolicy, SsoPolicyPut};

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

    /// Whether the account requires SSO
    ///
    /// When `ssoRequired` is true, non-owner members can only get in through SSO: their
    /// personal API tokens stop working and cannot be created. Service tokens and the owner
    /// are not affected.
    ///
    /// **Permission:** any valid token or session.
    #[oai(path = "/account/sso", method = "get", operation_id = "getSsoPolicy")]
    async fn get_sso(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<SsoPolicy>> {
        context(&service, &auth, req).await?;
        Ok(Json(service.get_sso_policy().await?))
    }

    /// Require SSO for the account (or stop requiring it)
    ///
    /// Audited as `updateSamlRequireSso`.
    ///
    /// **Permission:** `updateSamlRequireSso` on `acct` (admins and the owner).
    #[oai(path = "/account/sso", method = "put", operation_id = "putSsoPolicy")]
    async fn put_sso(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<SsoPolicyPut>,
    ) -> ApiResult<Json<SsoPolicy>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.set_sso_policy(&ctx, body.0).await?))
    }
}
