//! `/api/v2/approval-requests`: approval requests, their reviews and apply.

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
use crate::service::approvals::{
    ApplyPost, ApprovalRequest, ApprovalRequestPatch, ApprovalRequestPost, ApprovalRequestQuery,
    ReviewPost,
};
use crate::service::spelled::{
    ApprovalCursor, ApprovalStatusList, ApprovalTarget, Matches, ReviewStatusList, Spelled,
};

pub struct ApprovalsApi;

#[OpenApi(prefix_path = "/api/v2/approval-requests", tag = "Tag::Approvals")]
impl ApprovalsApi {
    /// List approval requests, newest first
    ///
    /// Filters combine with AND: `status` (comma-separated: pending, completed, failed),
    /// `reviewStatus` (comma-separated: pending, approved, declined), `requestorId` (a member
    /// id), `resourceId` (`proj/P:env/E:flag/F` or `proj/P:env/E:var/NAME`), `projectKey`.
    /// Pass `next` back as `cursor` for the next page.
    ///
    /// **Permission:** `viewProject` on the request's project; other requests are left out.
    #[oai(path = "/", method = "get", operation_id = "listApprovalRequests")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        /// Comma-separated: `pending`, `completed`, `failed`.
        #[oai(validator(custom = "Matches::new()"))]
        status: Query<Option<Spelled<ApprovalStatusList>>>,
        /// Comma-separated: `pending`, `approved`, `declined`.
        #[oai(validator(custom = "Matches::new()"), name = "reviewStatus")]
        review_status: Query<Option<Spelled<ReviewStatusList>>>,
        #[oai(name = "requestorId")] requestor_id: Query<Option<String>>,
        #[oai(name = "resourceId")] resource_id: Query<Option<Spelled<ApprovalTarget>>>,
        #[oai(name = "projectKey")] project_key: Query<Option<String>>,
        /// Page size, 1 to 200 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u64>>,
        /// The `next` of the previous page.
        #[oai(validator(custom = "Matches::new()"))]
        cursor: Query<Option<Spelled<ApprovalCursor>>>,
    ) -> ApiResult<Json<Page<ApprovalRequest>>> {
        let ctx = context(&service, &auth, req).await?;
        let page = service
            .list_approval_requests(
                &ctx,
                ApprovalRequestQuery {
                    status: status.0.map(String::from),
                    review_status: review_status.0.map(String::from),
                    requestor_id: requestor_id.0,
                    resource_id: resource_id.0.map(String::from),
                    project_key: project_key.0,
                    limit: limit.0,
                    cursor: cursor.0.map(String::from),
                },
            )
            .await?;
        Ok(Json(Page {
            items: page.items,
            total_count: page.total_count,
            next: page.next,
        }))
    }

    /// Request approval for a change
    ///
    /// `resourceId` names the flag (`proj/P:env/E:flag/F`) or environment variable
    /// (`proj/P:env/E:var/NAME`) in one environment. Flag instructions are the semantic-patch
    /// instructions of `PATCH /api/v2/flags/{projectKey}/{flagKey}`; a variable request holds
    /// one `setVariable` (`value`, `secret`) or `deleteVariable` instruction. The instructions
    /// must parse, apply to the resource as it is now and change it; nothing is changed
    /// until the request is approved and applied. The request keeps the state it was made
    /// against, to detect conflicting changes at apply.
    ///
    /// **Permission:** `createApprovalRequest` on `proj/{project}:env/{env}:request/*`
    /// (refusals are audited).
    #[oai(path = "/", method = "post", operation_id = "createApprovalRequest")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<ApprovalRequestPost>,
    ) -> ApiResult<Created<ApprovalRequest>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_approval_request(&ctx, body.0).await?,
        )))
    }

    /// Get an approval request
    ///
    /// **Permission:** `viewProject` on the request's project.
    #[oai(path = "/:id", method = "get", operation_id = "getApprovalRequest")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<ApprovalRequest>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_approval_request(&ctx, &id).await?))
    }

    /// Edit a pending approval request
    ///
    /// A new description or new instructions void every approval and decline given so far
    /// (the `revision` grows; the old reviews stay visible with `voided: true`) and make the
    /// editor an author, who may then not approve it unless the environment allows reviewing
    /// one's own request. New instructions are validated against the resource as it is now,
    /// which becomes the request's new base. Changing `notifyMemberIds`/`notifyTeamKeys`
    /// voids nothing.
    ///
    /// **Permission:** `updateApprovalRequest` on `proj/{project}:env/{env}:request/{id}`.
    #[oai(path = "/:id", method = "patch", operation_id = "patchApprovalRequest")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<ApprovalRequestPatch>,
    ) -> ApiResult<Json<ApprovalRequest>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service.update_approval_request(&ctx, &id, body.0).await?,
        ))
    }

    /// Delete (withdraw) a pending approval request
    ///
    /// Completed and failed requests are kept as the record of the change (409).
    ///
    /// **Permission:** `deleteApprovalRequest` on `proj/{project}:env/{env}:request/{id}`.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "deleteApprovalRequest"
    )]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_approval_request(&ctx, &id).await?;
        Ok(NoContent::NoContent)
    }

    /// Review an approval request
    ///
    /// `kind` is `approve`, `decline` or `comment`. A member's latest approve or decline is
    /// the one that counts; comments never count. Approve and decline need a member (a
    /// personal token acts as its member; service tokens may only comment). Authors may not
    /// approve or decline their own request unless `canReviewOwnRequest` is on (403, audited).
    /// Reviews on a completed or failed request get 409.
    ///
    /// **Permission:** `reviewApprovalRequest` on `proj/{project}:env/{env}:request/{id}`.
    #[oai(
        path = "/:id/reviews",
        method = "post",
        operation_id = "reviewApprovalRequest"
    )]
    async fn review(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<ReviewPost>,
    ) -> ApiResult<Json<ApprovalRequest>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service.review_approval_request(&ctx, &id, body.0).await?,
        ))
    }

    /// Apply an approved request
    ///
    /// Allowed when `reviewStatus` is `approved` (or `declined` with enough approvals when
    /// `canApplyDeclinedChanges` is on). The instructions run through the same command as a
    /// direct change, in one transaction with the request's status change; the change's audit
    /// entry carries `approvalRequestId`. When the resource changed since the request in a way
    /// that conflicts (the instructions no longer apply, or a field they write was set to
    /// something else since), the request becomes `failed` with `conflicts[]` and the answer
    /// is 409. Of two racing applies exactly one applies; the other gets 409. The body is
    /// `{"comment"?}` (send `{}` for none).
    ///
    /// **Permission:** `applyApprovalRequest` on `proj/{project}:env/{env}:request/{id}`, and
    /// the change's own actions (e.g. `updateOn` on the flag).
    #[oai(
        path = "/:id/apply",
        method = "post",
        operation_id = "applyApprovalRequest"
    )]
    async fn apply(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<ApplyPost>,
    ) -> ApiResult<Json<ApprovalRequest>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service.apply_approval_request(&ctx, &id, body.0).await?,
        ))
    }
}
