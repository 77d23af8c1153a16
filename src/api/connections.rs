//! `/api/v2/connections`: identity connections, their SCIM tokens and mapping rules.

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
use crate::service::connection_shapes::MappingRuleBody;
use crate::service::connections::{
    Connection, ConnectionPatch, ConnectionPost, MappingPreview, MappingPreviewInput,
    ScimTokenCreated,
};
use crate::service::documented::Documented;

pub struct ConnectionsApi;

#[OpenApi(prefix_path = "/api/v2/connections", tag = "Tag::Connections")]
impl ConnectionsApi {
    /// List identity connections
    ///
    /// Secrets never appear: SCIM tokens show their last four characters, the OIDC client
    /// secret only whether it is set.
    ///
    /// **Permission:** `viewConnection` on `connection/{key}`.
    #[oai(path = "/", method = "get", operation_id = "listConnections")]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<Page<Connection>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(service.list_connections(&ctx).await?)))
    }

    /// Create an identity connection
    ///
    /// `kind` is `okta`, `entra` or `generic`. `jit` (default true) creates members on their
    /// first sign-in; `defaultRole` (default `reader`, never `owner`) is the base role of
    /// members it creates without a mapped role; `deprovision` (`deactivate`, the default, or
    /// `delete`) is what SCIM DELETE of a user does.
    ///
    /// **Permission:** `createConnection` on `connection/{key}`.
    #[oai(path = "/", method = "post", operation_id = "createConnection")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<ConnectionPost>,
    ) -> ApiResult<Created<Connection>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_connection(&ctx, body.0).await?,
        )))
    }

    /// Get an identity connection
    ///
    /// **Permission:** `viewConnection` on `connection/{key}`.
    #[oai(path = "/:key", method = "get", operation_id = "getConnection")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
    ) -> ApiResult<Json<Connection>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_connection(&ctx, &key).await?))
    }

    /// Change an identity connection
    ///
    /// Only the fields present change; `"saml": null` or `"oidc": null` removes that sign-in
    /// method. An `oidc` object without `clientSecret` keeps the stored secret.
    ///
    /// **Permission:** `updateConnection` on `connection/{key}`.
    #[oai(path = "/:key", method = "patch", operation_id = "patchConnection")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
        body: Json<ConnectionPatch>,
    ) -> ApiResult<Json<Connection>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.update_connection(&ctx, &key, body.0).await?))
    }

    /// Delete an identity connection
    ///
    /// Its SCIM tokens go with it. Members and teams it provisioned stay; its synced teams
    /// become ordinary, editable teams.
    ///
    /// **Permission:** `deleteConnection` on `connection/{key}`.
    #[oai(path = "/:key", method = "delete", operation_id = "deleteConnection")]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_connection(&ctx, &key).await?;
        Ok(NoContent::NoContent)
    }

    /// Create a SCIM bearer token
    ///
    /// The secret (`token`) is shown once, in this response; only its hash is stored. Several
    /// tokens may be active at once, so the IdP can be moved to a new one before the old one
    /// is revoked.
    ///
    /// **Permission:** `createScimToken` on `connection/{key}`.
    #[oai(
        path = "/:key/scim-tokens",
        method = "post",
        operation_id = "createScimToken"
    )]
    async fn create_scim_token(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
    ) -> ApiResult<Created<ScimTokenCreated>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_scim_token(&ctx, &key).await?,
        )))
    }

    /// Revoke a SCIM bearer token
    ///
    /// **Permission:** `deleteScimToken` on `connection/{key}`.
    #[oai(
        path = "/:key/scim-tokens/:tokenId",
        method = "delete",
        operation_id = "revokeScimToken"
    )]
    async fn revoke_scim_token(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
        #[oai(name = "tokenId")] token_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.revoke_scim_token(&ctx, &key, &token_id).await?;
        Ok(NoContent::NoContent)
    }

    /// Replace the mapping rules
    ///
    /// An ordered list of rules `{"match": {"group": "eng*"} | {"attribute": "department",
    /// "value": "Sales"}, "team"?, "customRoles"?, "roleAttributes"?, "role"?}`. Group
    /// patterns match a group's name or id (`*` and `?` globs, case-sensitive); attribute
    /// names compare case-insensitively. Explicit `role`, `customRole` and `teamKey`
    /// attributes apply first; every matching rule adds its team and custom roles; the
    /// highest role among matching rules applies when there is no explicit `role`. The same
    /// rules serve SCIM, SAML and OIDC. `owner` can never be mapped.
    ///
    /// **Permission:** `updateMappings` on `connection/{key}`.
    #[oai(path = "/:key/mappings", method = "put", operation_id = "putMappings")]
    async fn put_mappings(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
        body: Json<Vec<MappingRuleBody>>,
    ) -> ApiResult<Json<Connection>> {
        let ctx = context(&service, &auth, req).await?;
        let rules = Documented::values(&body.0);
        Ok(Json(service.put_mappings(&ctx, &key, rules).await?))
    }

    /// Preview the mapping of a profile
    ///
    /// Shows what the connection's rules make of the given attributes and groups, without
    /// changing anything.
    ///
    /// **Permission:** `viewConnection` on `connection/{key}`.
    #[oai(
        path = "/:key/mappings/preview",
        method = "post",
        operation_id = "previewMappings"
    )]
    async fn preview(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        key: Path<String>,
        body: Json<MappingPreviewInput>,
    ) -> ApiResult<Json<MappingPreview>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.preview_mappings(&ctx, &key, body.0).await?))
    }
}
