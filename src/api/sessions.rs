//! Browser sessions: `/api/v2/members/{id}/sessions`, `/api/v2/account/sessions/revoke` and
//! `/api/v2/account/session-settings`.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::{NoContent, Page};
use crate::service::Service;
use crate::service::session_admin::{SessionInfo, SessionsRevokePost, SessionsRevoked};
use crate::service::session_settings::{SessionSettings, SessionSettingsPut};

pub struct SessionsApi;

#[OpenApi(prefix_path = "/api/v2", tag = "Tag::Sessions")]
impl SessionsApi {
    /// List a member's browser sessions
    ///
    /// The live sessions opened by SSO sign-in, most recently used first: when and where from
    /// (address, user agent, connection, protocol) each was opened and when it was last used.
    /// `id` is a public id, never the cookie.
    ///
    /// **Permission:** `viewMember` on `member/{id}` (members may always list their own).
    #[oai(
        path = "/members/:id/sessions",
        method = "get",
        operation_id = "listMemberSessions"
    )]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<Page<SessionInfo>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(
            service.list_member_sessions(&ctx, &id).await?,
        )))
    }

    /// End one of a member's sessions
    ///
    /// The session's cookie stops working at once, on every replica. Audited as
    /// `revokeSessions` on `member/{id}`, naming the session.
    ///
    /// **Permission:** `revokeSessions` on `member/{id}` (members may always end their own).
    #[oai(
        path = "/members/:id/sessions/:sessionId",
        method = "delete",
        operation_id = "deleteMemberSession"
    )]
    async fn delete_one(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        #[oai(name = "sessionId")] session_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service
            .revoke_member_session(&ctx, &id, &session_id)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// End all of a member's sessions
    ///
    /// Every live session of the member ends at once (the caller's own too, when members end
    /// their own). Audited as `revokeSessions` on `member/{id}`, naming the sessions ended.
    ///
    /// **Permission:** `revokeSessions` on `member/{id}` (members may always end their own).
    #[oai(
        path = "/members/:id/sessions",
        method = "delete",
        operation_id = "deleteMemberSessions"
    )]
    async fn delete_all(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<SessionsRevoked>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.revoke_member_sessions(&ctx, &id).await?))
    }

    /// End every session but the caller's
    ///
    /// Signs everyone else out: every live session of every member except the caller's own
    /// sessions (a service token keeps none). Audited as `revokeSessions` on `acct`, naming
    /// the sessions ended.
    ///
    /// **Permission:** `revokeSessions` on `acct` (admins and the owner).
    #[oai(
        path = "/account/sessions/revoke",
        method = "post",
        operation_id = "revokeAccountSessions"
    )]
    async fn revoke_all(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<SessionsRevokePost>,
    ) -> ApiResult<Json<SessionsRevoked>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.revoke_account_sessions(&ctx, body.0).await?))
    }

    /// The session timeouts in force
    ///
    /// The account's idle and absolute timeouts, or the environment's defaults
    /// (`GATEHOUSE_SESSION_IDLE_MINUTES`, `GATEHOUSE_SESSION_ABSOLUTE_HOURS`) until the account
    /// sets its own.
    ///
    /// **Permission:** any valid token or session.
    #[oai(
        path = "/account/session-settings",
        method = "get",
        operation_id = "getSessionSettings"
    )]
    async fn get_settings(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<SessionSettings>> {
        context(&service, &auth, req).await?;
        Ok(Json(service.get_session_settings().await?))
    }

    /// Set the session timeouts
    ///
    /// Takes effect at once, without a restart: every session is checked against the new
    /// timeouts on its next request (a shortened absolute timeout ends older sessions; a
    /// lengthened one applies to sessions opened afterwards). Audited as
    /// `updateSessionDuration` with the timeouts before and after.
    ///
    /// **Permission:** `updateSessionDuration` on `acct` (admins and the owner).
    #[oai(
        path = "/account/session-settings",
        method = "put",
        operation_id = "putSessionSettings"
    )]
    async fn put_settings(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<SessionSettingsPut>,
    ) -> ApiResult<Json<SessionSettings>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.set_session_settings(&ctx, body.0).await?))
    }
}
