//! `/api/v2/access/check`, `/api/v2/access/who`, `/api/v2/access/review` and
//! `/api/v2/actions`: explaining decisions, who may do a thing, who holds what and why, and
//! the action catalogue.

use futures_util::TryStreamExt;
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response};
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::Page;
use crate::domain::policy::ACTIONS;
use crate::service::Service;
use crate::service::access::{AccessCheck, AccessCheckResult, ReviewFormat, WhoCan, WhoCanResult};

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

const JSON_LINES: &str = "application/x-ndjson";
const CSV: &str = "text/csv";

/// The review, streamed: JSON lines, or CSV when the caller accepts `text/csv`. One status
/// with two media types, which the derived responses cannot say.
pub struct ReviewResponse {
    format: ReviewFormat,
    body: Body,
}

impl IntoResponse for ReviewResponse {
    fn into_response(self) -> Response {
        let content_type = match self.format {
            ReviewFormat::JsonLines => JSON_LINES,
            ReviewFormat::Csv => "text/csv; charset=utf-8",
        };
        Response::builder()
            .content_type(content_type)
            .body(self.body)
    }
}

impl ApiResponse for ReviewResponse {
    fn meta() -> MetaResponses {
        let text = || <String as Type>::schema_ref();
        MetaResponses {
            responses: vec![MetaResponse {
                description: "One row per member, then one per API token: a JSON object per line, \
                    or CSV with a header row",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: JSON_LINES,
                        schema: text(),
                    },
                    MetaMediaType {
                        content_type: CSV,
                        schema: text(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// CSV when the `Accept` header names `text/csv`, else JSON lines.
fn review_format(req: &Request) -> ReviewFormat {
    let accept = req
        .headers()
        .get(poem::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept.split(',').any(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case(CSV)
    }) {
        ReviewFormat::Csv
    } else {
        ReviewFormat::JsonLines
    }
}

#[OpenApi(prefix_path = "/api/v2", tag = "Tag::Account")]
impl AccessApi {
    /// Review every member's and token's access, with where each grant came from
    ///
    /// One row per member (`kind: member`) and then per API token (`kind: token`): status,
    /// base role, custom roles and teams, each with its source: `scim:<connection>`,
    /// `sso:<connection>`, `mapping:<connection>#<rule index>`, `rest:<member or token id>`,
    /// `team:<key>` (a custom role held through a team), or `unknown` (granted before sources
    /// were recorded). Members carry `lastSeen`, `lastSignIn {at, connection, protocol}` and
    /// `personalTokens` (live ones); tokens carry `ownerId` (none: a service token),
    /// `lastSeen` (last used) and `expiresAt`, their grants sourced to their creator.
    /// JSON lines by default; `Accept: text/csv` gives CSV with a header row, lists joined
    /// with `;` and grants as `key@source`. The body streams, so any size of directory fits.
    ///
    /// **Permission:** `viewMember` on `member/*`, `viewTeam` on `team/*`, and `viewToken` on
    /// `member/*:token/*` and `service-token/*`: all of what the review shows.
    #[oai(path = "/access/review", method = "get", operation_id = "reviewAccess")]
    async fn review(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<ReviewResponse> {
        let ctx = context(&service, &auth, req).await?;
        let format = review_format(req);
        let rows = service.access_review(&ctx, format)?;
        let body = Body::from_bytes_stream(rows.map_err(std::io::Error::other));
        Ok(ReviewResponse { format, body })
    }

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
