//! `/api/v2/roles`: custom roles.

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
use crate::service::roles::{Role, RolePatch, RolePost};

pub struct RolesApi;

#[OpenApi(prefix_path = "/api/v2/roles", tag = "Tag::Roles")]
impl RolesApi {
    /// List custom roles
    ///
    /// A page at a time, by key (`totalCount` counts every match; `next` is the offset of the
    /// next page). `filter=query:<text>`: the key or the name starts with it, ignoring case.
    /// A bad part is refused with 400 naming it.
    ///
    /// **Permission:** `viewRole` on `role/{key}`; roles the caller may not view are left out
    /// (and not counted).
    #[oai(path = "/", method = "get", operation_id = "listRoles")]
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
    ) -> ApiResult<Json<Page<Role>>> {
        let ctx = context(&service, &auth, req).await?;
        let query = TextQuery {
            filter: filter.0,
            limit: limit.0,
            offset: offset.0,
        };
        Ok(Json(service.list_roles(&ctx, &query).await?.into()))
    }

    /// Create a custom role
    ///
    /// The policy is validated before anything is stored; an invalid role gets 400 naming the statement and field.
    ///
    /// **Permission:** `createRole` on `role/{key}`.
    #[oai(path = "/", method = "post", operation_id = "createRole")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<RolePost>,
    ) -> ApiResult<Created<Role>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_role(&ctx, body.0).await?,
        )))
    }

    /// Get a custom role
    ///
    /// **Permission:** `viewRole` on `role/{roleKey}`.
    #[oai(path = "/:roleKey", method = "get", operation_id = "getRole")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "roleKey")] role_key: Path<String>,
    ) -> ApiResult<Json<Role>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_role(&ctx, &role_key).await?))
    }

    /// Change a custom role
    ///
    /// **Permission:** `updateName`, `updateDescription`, `updateBasePermissions` and/or `updatePolicy` on `role/{roleKey}`.
    #[oai(path = "/:roleKey", method = "patch", operation_id = "patchRole")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "roleKey")] role_key: Path<String>,
        body: Json<RolePatch>,
    ) -> ApiResult<Json<Role>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.update_role(&ctx, &role_key, body.0).await?))
    }

    /// Delete a custom role nobody holds
    ///
    /// **Permission:** `deleteRole` on `role/{roleKey}`.
    #[oai(path = "/:roleKey", method = "delete", operation_id = "deleteRole")]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "roleKey")] role_key: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_role(&ctx, &role_key).await?;
        Ok(NoContent::NoContent)
    }
}
