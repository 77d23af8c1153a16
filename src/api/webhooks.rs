//! `/api/v2/webhooks`: subscriptions that push the audit log to a receiver, signed.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::{Created, NoContent, Page};
use crate::service::Service;
use crate::service::webhooks::{
    CreatedWebhook, CursorMove, Delivery, Webhook, WebhookPatch, WebhookPost,
};

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/api/v2/webhooks", tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// List webhooks
    ///
    /// **Permission:** `viewWebhook` on `webhook/{id}`.
    #[oai(path = "/", method = "get", operation_id = "listWebhooks")]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<Page<Webhook>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(service.list_webhooks(&ctx).await?)))
    }

    /// Create a webhook
    ///
    /// Deliveries start with the entry that records this creation. The answer is the only
    /// place the secret is ever shown.
    ///
    /// **Permission:** `createWebhook` on `webhook/{id}`.
    #[oai(path = "/", method = "post", operation_id = "createWebhook")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<WebhookPost>,
    ) -> ApiResult<Created<CreatedWebhook>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_webhook(&ctx, body.0).await?,
        )))
    }

    /// Get a webhook
    ///
    /// **Permission:** `viewWebhook` on `webhook/{id}`.
    #[oai(path = "/:id", method = "get", operation_id = "getWebhook")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<Webhook>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_webhook(&ctx, &id).await?))
    }

    /// Change a webhook
    ///
    /// **Permission:** `updateName`, `updateUrl`, `updateSecret`, `updateOn`,
    /// `updateStatements` and/or `updateQuery` (events) on `webhook/{id}`.
    #[oai(path = "/:id", method = "patch", operation_id = "patchWebhook")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<WebhookPatch>,
    ) -> ApiResult<Json<Webhook>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.update_webhook(&ctx, &id, body.0).await?))
    }

    /// Delete a webhook
    ///
    /// **Permission:** `deleteWebhook` on `webhook/{id}`.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_webhook(&ctx, &id).await?;
        Ok(NoContent::NoContent)
    }

    /// Recent delivery attempts, newest first
    ///
    /// Time, the receiver's status or why there is none, latency and the range of the log
    /// each attempt covered. The last 50 are kept.
    ///
    /// **Permission:** `viewWebhook` on `webhook/{id}`.
    #[oai(
        path = "/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<Page<Delivery>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(
            service.list_webhook_deliveries(&ctx, &id).await?,
        )))
    }

    /// Move a webhook's cursor, to replay or to skip
    ///
    /// Deliveries continue after `seq`; the retry schedule starts over. Audited.
    ///
    /// **Permission:** `updateWebhookCursor` on `webhook/{id}`.
    #[oai(
        path = "/:id/cursor",
        method = "post",
        operation_id = "moveWebhookCursor"
    )]
    async fn cursor(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<CursorMove>,
    ) -> ApiResult<Json<Webhook>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.move_webhook_cursor(&ctx, &id, body.0).await?))
    }
}
