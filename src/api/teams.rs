//! `/api/v2/teams`.

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
use crate::service::paging::SortedQuery;
use crate::service::spelled::{Matches, Spelled, TeamSort};
use crate::service::teams::{
    Team, TeamMembersPost, TeamPatch, TeamPost, TeamSummary, TeamsChanged, TeamsPatch,
};

pub struct TeamsApi;

#[OpenApi(prefix_path = "/api/v2/teams", tag = "Tag::Teams")]
impl TeamsApi {
    /// List teams
    ///
    /// Filtered and sorted as LaunchDarkly's API does, a page at a time (`totalCount` counts
    /// every match; `next` is the offset of the next page). `filter` fields, separated by `,`:
    /// `query:<text>` (the key or the name starts with it, ignoring case) and
    /// `nomembers:true|false`. A bad part is refused with 400 naming it. Each team shows its
    /// `memberCount`, not its members: `GET /api/v2/teams/{teamKey}` lists them, and
    /// `GET /api/v2/members?filter=team:<key>` pages them.
    ///
    /// **Permission:** `viewTeam` on `team/{key}`; teams the caller may not view are left out
    /// (and not counted).
    #[oai(path = "/", method = "get", operation_id = "listTeams")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        /// `field:value,field:value`, as described above.
        filter: Query<Option<String>>,
        /// `name` or `memberCount`, a leading `-` for descending; by key when absent.
        #[oai(validator(custom = "Matches::new()"))]
        sort: Query<Option<Spelled<TeamSort>>>,
        /// Page size, 1 to 1000 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u64>>,
        /// Matching teams to skip: the `next` of the previous page.
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
        offset: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<TeamSummary>>> {
        let ctx = context(&service, &auth, req).await?;
        let query = SortedQuery {
            filter: filter.0,
            sort: sort.0.map(String::from),
            limit: limit.0,
            offset: offset.0,
        };
        Ok(Json(service.list_teams(&ctx, &query).await?.into()))
    }

    /// Create a team
    ///
    /// **Permission:** `createTeam` on `team/{key}`.
    #[oai(path = "/", method = "post", operation_id = "createTeam")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<TeamPost>,
    ) -> ApiResult<Created<Team>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_team(&ctx, body.0).await?,
        )))
    }

    /// Add many members to teams at once with LaunchDarkly's bulk instructions
    ///
    /// Kinds: `addMembersToTeams` `{memberIDs, teamKeys}` and `addAllMembersToTeams`
    /// `{teamKeys, filterLastSeen?, filterQuery?, filterRoles?, filterTeamKeys?,
    /// ignoredMemberIDs?}` (the filters as the member list's `lastSeen`, `query`, `role` and
    /// `team`). All additions happen in one transaction with one audit entry per member that
    /// joined a team; members already on a team stay as they are; one refusal (naming its
    /// instruction and the team or member) changes nothing. Teams synced from an identity
    /// provider refuse with 403. Answers who joined and which teams gained members.
    ///
    /// **Permission:** `updateTeamMembers` on `team/{key}` for each team named.
    #[oai(path = "/", method = "patch", operation_id = "patchTeams")]
    async fn patch_many(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<TeamsPatch>,
    ) -> ApiResult<Json<TeamsChanged>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.patch_teams(&ctx, body.0).await?))
    }

    /// Get a team
    ///
    /// **Permission:** `viewTeam` on `team/{teamKey}`.
    #[oai(path = "/:teamKey", method = "get", operation_id = "getTeam")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "teamKey")] team_key: Path<String>,
    ) -> ApiResult<Json<Team>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_team(&ctx, &team_key).await?))
    }

    /// Change a team with semantic-patch instructions
    ///
    /// Kinds: `addMembers`, `removeMembers`, `replaceMembers`, `addCustomRoles`, `removeCustomRoles`,
    /// `replaceCustomRoles`, `updateName`, `updateDescription`, `replaceRoleAttributes`,
    /// `updateRoleAttribute`, `removeRoleAttribute`. On a team synced from an identity provider,
    /// name and membership changes get 403.
    ///
    /// **Permission:** `updateTeamMembers`, `updateTeamCustomRoles`, `updateTeamName`,
    /// `updateTeamDescription` or `updateTeamRoleAttributes` on `team/{teamKey}`.
    #[oai(path = "/:teamKey", method = "patch", operation_id = "patchTeam")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "teamKey")] team_key: Path<String>,
        body: Json<TeamPatch>,
    ) -> ApiResult<Json<Team>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.patch_team(&ctx, &team_key, body.0).await?))
    }

    /// Add members to a team
    ///
    /// `memberIds` (or LaunchDarkly's `memberIDs`) join the team in one transaction, with one
    /// audit entry per member that joined; members already on it stay as they are. A team
    /// synced from an identity provider refuses with 403. Answers who joined.
    ///
    /// **Permission:** `updateTeamMembers` on `team/{teamKey}`.
    #[oai(
        path = "/:teamKey/members",
        method = "post",
        operation_id = "addTeamMembers"
    )]
    async fn add_members(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "teamKey")] team_key: Path<String>,
        body: Json<TeamMembersPost>,
    ) -> ApiResult<Json<TeamsChanged>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service.add_team_members(&ctx, &team_key, body.0).await?,
        ))
    }

    /// Delete a team
    ///
    /// **Permission:** `deleteTeam` on `team/{teamKey}`.
    #[oai(path = "/:teamKey", method = "delete", operation_id = "deleteTeam")]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "teamKey")] team_key: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_team(&ctx, &team_key).await?;
        Ok(NoContent::NoContent)
    }
}
