//! `/api/v2/access/check`, `/api/v2/access/who` and `/api/v2/actions`: explaining decisions,
//! who may do a thing, and the action catalogue.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::Page;
use crate::domain::policy::ACTIONS;
use crate::service::Service;
use crate::service::access::{AccessCheck, AccessCheckResult, WhoCan, WhoCanResult};

pub struct AccessApi;

/// One row of the action catalogue.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ActionRep {
    /// `proj`, `env`, `flag`, `segment`, `var`, `request`, `member`, `token`, `service-token`,
    /// `team`, `role`, `connection` or `acct`.
    pub resource_type: String,
    pub action: String,
    pub description: String,
    /// A flag action that changes project-wide data: it must be allowed in every environment.
    pub project_wide: bool,
    /// A read action, granted by `basePermissions: reader`.
    pub view: bool,
}

#[OpenApi(prefix_path = "/api/v2", tag = "Tag::Account")]
impl AccessApi {
    /// Explain whether a member may perform an action on a resource
    ///
    /// The resource's tags and properties (such as `critical`) come from the stored resource.
    /// `decidedBy` names the role and statement that decided, or is null when nothing matched
    /// or an implicit allow applied (`reason` says which).
    ///
    /// **Permission:** `viewMember` on `member/{memberId}`.
    #[oai(path = "/access/check", method = "post", operation_id = "checkAccess")]
    async fn check(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<AccessCheck>,
    ) -> ApiResult<Json<AccessCheckResult>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.check_access(&ctx, body.0).await?))
    }

    /// Who may perform an action on a resource
    ///
    /// Every active member and live API token allowed `action` on `resource`, each decided
    /// as `/access/check` decides it (deny overrides allow within a role, the most permissive
    /// role wins, stored tags and `critical` apply, role attributes are expanded; a personal
    /// token is limited by its member). A `resource` with globs, such as
    /// `proj/shop:env/production:flag/*`, is answered for each stored resource it matches, at
    /// most 1000 (more is a 400 asking to narrow it). Equal answers are listed once in
    /// `grants`; each member and token points at its own by index.
    ///
    /// **Permission:** lists the members the caller may `viewMember` and the tokens it may
    /// `viewToken`; the others are left out.
    #[oai(path = "/access/who", method = "post", operation_id = "whoCan")]
    async fn who(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<WhoCan>,
    ) -> ApiResult<Json<WhoCanResult>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.who_can(&ctx, body.0).await?))
    }

    /// The action catalogue
    ///
    /// Every action policies may name, by resource type. Action names in policies, including
    /// globs, must match at least one of these.
    ///
    /// **Permission:** any valid token.
    #[oai(path = "/actions", method = "get", operation_id = "listActions")]
    async fn actions(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<Page<ActionRep>>> {
        context(&service, &auth, req).await?;
        let items = ACTIONS
            .iter()
            .map(|a| ActionRep {
                resource_type: a.resource_type.as_str().to_owned(),
                action: a.action.to_owned(),
                description: a.description.to_owned(),
                project_wide: a.project_wide,
                view: a.view,
            })
            .collect();
        Ok(Json(Page::all(items)))
    }
}
