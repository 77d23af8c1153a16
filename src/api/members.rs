//! `/api/v2/members`.

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
use crate::service::members::{
    CreatedMembers, Member, MemberPatch, MembersChanged, MembersPatch, NewMembers,
};
use crate::service::paging::SortedQuery;
use crate::service::spelled::{Matches, MemberSort, Spelled};

pub struct MembersApi;

#[OpenApi(prefix_path = "/api/v2/members", tag = "Tag::Members")]
impl MembersApi {
    /// List members
    ///
    /// Filtered and sorted as LaunchDarkly's API does, a page at a time (`totalCount` counts
    /// every match; `next` is the offset of the next page). `filter` fields, separated by `,`,
    /// each with alternatives separated by `|`: `query:<text>` (the email, the display name
    /// or the last name starts with it, ignoring case), `role:reader|writer|admin|no_access|owner`
    /// (`admin` includes the owner), `id:<id>`, `email:<email>`, `team:<key>`,
    /// `noteam:true|false`, `lastSeen:{"never":true}|{"noData":true}|{"before":<ms>}` (members
    /// never seen have no data either). A bad part is refused with 400 naming it.
    ///
    /// **Permission:** `viewMember` on `member/{id}`; members the caller may not view are left
    /// out (and not counted).
    #[oai(path = "/", method = "get", operation_id = "listMembers")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        /// `field:value|value,field:value`, as described above.
        filter: Query<Option<String>>,
        /// `displayName`, `lastSeen` or `createdAt`, a leading `-` for descending; by email
        /// when absent. Members never seen come first in `lastSeen` order.
        #[oai(validator(custom = "Matches::new()"))]
        sort: Query<Option<Spelled<MemberSort>>>,
        /// Page size, 1 to 1000 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u64>>,
        /// Matching members to skip: the `next` of the previous page.
        #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
        offset: Query<Option<u64>>,
    ) -> ApiResult<Json<Page<Member>>> {
        let ctx = context(&service, &auth, req).await?;
        let query = SortedQuery {
            filter: filter.0,
            sort: sort.0.map(String::from),
            limit: limit.0,
            offset: offset.0,
        };
        Ok(Json(service.list_members(&ctx, &query).await?.into()))
    }

    /// Add a member, or several as LaunchDarkly's API does
    ///
    /// The body is one new member (answered with the member), or LaunchDarkly's JSON array of 1 to
    /// 50 new members, created in one transaction with an audit entry each and answered with
    /// `{"items": [...]}`; one refused item refuses the whole request, its message led by the
    /// item's index (`[2].email: ...`). `teamKeys` adds the new member to existing teams.
    ///
    /// **Permission:** `createMember` on `member/*` (and `updateCustomRole` when custom roles are given;
    /// `updateAccountOwner` on `acct` for the owner role; `updateTeamMembers` on `team/{key}` for each
    /// of `teamKeys`).
    #[oai(path = "/", method = "post", operation_id = "createMember")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<NewMembers>,
    ) -> ApiResult<Created<CreatedMembers>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_members(&ctx, body.0).await?,
        )))
    }

    /// Change many members at once with LaunchDarkly's bulk instructions
    ///
    /// Kinds: `replaceMembersRoles` `{memberIDs, value}`, `replaceAllMembersRoles` `{value,
    /// filterLastSeen?, filterQuery?, ignoredMemberIDs?}`, `replaceMembersCustomRoles`
    /// `{memberIDs, values}`, `replaceAllMembersCustomRoles` `{values, filterLastSeen?,
    /// filterQuery?, ignoredMemberIDs?}`, `replaceMembersRoleAttributes` `{memberIDs, value}`.
    /// The `All` forms change every member the filters match (the member list's `lastSeen` and
    /// `query`), except the owner and `ignoredMemberIDs`. All instructions apply in one
    /// transaction, each member changed gets one audit entry, and members already as asked are
    /// left alone; one refusal (naming its instruction and the member) changes nothing. The
    /// owner is never changed in bulk: naming it in `memberIDs` is a 400, as is the role
    /// `owner`. Answers the ids of the members changed.
    ///
    /// **Permission:** for each member changed, what a single-member PATCH needs:
    /// `updateRole`, `updateCustomRole` or `updateMemberRoleAttributes` on `member/{id}`.
    #[oai(path = "/", method = "patch", operation_id = "patchMembers")]
    async fn patch_many(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<MembersPatch>,
    ) -> ApiResult<Json<MembersChanged>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.patch_members(&ctx, body.0).await?))
    }

    /// Get a member
    ///
    /// **Permission:** `viewMember` on `member/{id}` (members may always read themselves).
    #[oai(path = "/:id", method = "get", operation_id = "getMember")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<Json<Member>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_member(&ctx, &id).await?))
    }

    /// Change a member's names, role, custom roles, role attributes or status
    ///
    /// Deactivating (`status: deactivated`) revokes the member's tokens in the same transaction.
    ///
    /// **Permission:** `updateMemberName`, `updateRole`, `updateCustomRole`, `updateMemberRoleAttributes`
    /// and/or `updateMemberStatus` on `member/{id}`; `updateAccountOwner` on `acct` for anything touching the owner role.
    #[oai(path = "/:id", method = "patch", operation_id = "patchMember")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
        body: Json<MemberPatch>,
    ) -> ApiResult<Json<Member>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.update_member(&ctx, &id, body.0).await?))
    }

    /// Remove a member
    ///
    /// Team memberships go and personal tokens are revoked; the audit history stays.
    ///
    /// **Permission:** `deleteMember` on `member/{id}`.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteMember")]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        id: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_member(&ctx, &id).await?;
        Ok(NoContent::NoContent)
    }
}
