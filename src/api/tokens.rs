//! `/api/v2/tokens`: API tokens.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::{Created, NoContent, Page};
use crate::service::Service;
use crate::service::paging::TextQuery;
use crate::service::tokens::{Token, TokenPatch, TokenPost, TokenReset};

pub struct TokensApi;

#[OpenApi(prefix_path = "/api/v2/tokens", tag = "Tag::Tokens")]
impl TokensApi {
    /// List the caller's tokens, and every token it may view
    ///
    /// A page at a time, oldest first (`totalCount` counts every match; `next` is the offset
    /// of the next page). `filter=query:<text>`: the name starts with it, ignoring case. A bad
    /// part is refused with 400 naming it.
    ///
    /// **Permission:** own personal tokens always; others need `viewToken` on
    /// `member/{id}:token/{tokenId}` or `service-token/{tokenId}`.
    #[oai(path = "/", method = "get", operation_id = "listTokens")]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        /// `query:<text>`, as described above.
        filter: Query<Option<String>>,
        /// Page size, 1 to 1000 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u64>>,
        /// Matching entries to skip: the `next` of the previous page.
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
        offset: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<Token>>> {
        let ctx = context(&service, &auth, req).await?;
        let query = TextQuery {
            filter: filter.0,
            limit: limit.0,
            offset: offset.0,
        };
        Ok(Json(service.list_tokens(&ctx, &query).await?.into()))
    }

    /// Create a token; the secret is in this response only
    ///
    /// A personal token acts as the calling member and never exceeds the member's access.
    ///
    /// **Permission:** `createAccessToken` on `member/{id}:token/*` (personal) or `service-token/*` (service).
    #[oai(path = "/", method = "post", operation_id = "createToken")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<TokenPost>,
    ) -> ApiResult<Created<Token>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_token(&ctx, body.0).await?,
        )))
    }

    /// Revoke a token
    ///
    /// **Permission:** own personal tokens always; others need `deleteAccessToken` on the token.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteToken")]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.revoke_token(&ctx, &id).await?;
        Ok(NoContent::NoContent)
    }

    /// Get a token; the secret is never shown again
    ///
    /// **Permission:** own personal tokens always; others need `viewToken` on `member/{id}:token/{tokenId}` or `service-token/{tokenId}`.
    #[oai(path = "/:id", method = "get", operation_id = "getToken")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<Token>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_token(&ctx, &id).await?))
    }

    /// Change a token's name, description, role, custom roles or inline role
    ///
    /// The body names the fields to change, as `PATCH /api/v2/members/{id}` does. A role above the
    /// caller's own is refused (403), as is one above a personal token's member (400);
    /// `inlineRole` is for service tokens only and never allows what the caller may not do.
    /// A revoked token cannot change (409).
    ///
    /// **Permission:** own personal tokens always; others need `updateAccessTokenName`,
    /// `updateAccessTokenDescription` and/or `updateAccessTokenPolicy` on the token.
    #[oai(path = "/:id", method = "patch", operation_id = "patchToken")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<TokenPatch>,
    ) -> ApiResult<Json<Token>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.update_token(&ctx, &id, body.0).await?))
    }

    /// Reset a token's secret; the new secret is in this response only
    ///
    /// The old secret keeps working until `expiry`, then is refused; without `expiry`, or with
    /// one already past, it stops at once. A second reset ends the first one's grace. A revoked
    /// token cannot be reset (409).
    ///
    /// **Permission:** own personal tokens always; others need `resetAccessToken` on the token.
    #[oai(path = "/:id/reset", method = "post", operation_id = "resetToken")]
    async fn reset(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        /// Epoch milliseconds until which the old secret keeps working, at most 30 days ahead.
        expiry: Query<Option<i64>>,
    ) -> ApiResult<Json<Token>> {
        let ctx = context(&service, &auth, req).await?;
        let reset = TokenReset { expiry: expiry.0 };
        Ok(Json(service.reset_token(&ctx, &id, reset).await?))
    }
}
