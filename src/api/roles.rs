//! `/api/v2/roles`: custom roles.

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
use crate::service::roles::{Role, RolePatch, RolePost};

pub struct RolesApi;

#[OpenApi(prefix_path = "/api/v2/roles", tag = "Tag::Roles")]
impl RolesApi {
    /// List custom roles
    ///
    /// **Permission:** `viewRole` on `role/{key}`.
    #[oai(path = "/", method = "get", operation_id = "listRoles")]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<Page<Role>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(service.list_roles(&ctx).await?)))
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
