//! `/api/v2/projects/{projectKey}/environments/{envKey}/variables`.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use super::responses::{NoContent, Page};
use crate::service::Service;
use crate::service::variables::{Variable, VariablePut};

pub struct VariablesApi;

/// 201 when the variable was created, 200 when it was replaced.
#[derive(ApiResponse)]
enum PutVariableResponse {
    #[oai(status = 200)]
    Replaced(Json<Variable>),
    #[oai(status = 201)]
    Created(Json<Variable>),
}

#[OpenApi(tag = "Tag::Variables")]
impl VariablesApi {
    /// List an environment's variables (secret values are never shown)
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments/:envKey/variables",
        method = "get",
        operation_id = "listVariables"
    )]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "envKey")] env_key: Path<String>,
    ) -> ApiResult<Json<Page<Variable>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(
            service.list_variables(&ctx, &project_key, &env_key).await?,
        )))
    }

    /// Create or replace a variable
    ///
    /// A secret's value is write-only: it never appears in a response or in the audit log.
    ///
    /// **Permission:** `createVariable` or `updateVariable` on `proj/{projectKey}:env/{envKey}:var/{name}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments/:envKey/variables/:name",
        method = "put",
        operation_id = "putVariable"
    )]
    async fn put(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "envKey")] env_key: Path<String>,
        name: Path<String>,
        body: Json<VariablePut>,
    ) -> ApiResult<PutVariableResponse> {
        let ctx = context(&service, &auth, req).await?;
        let (v, created) = service
            .put_variable(&ctx, &project_key, &env_key, &name, body.0)
            .await?;
        Ok(if created {
            PutVariableResponse::Created(Json(v))
        } else {
            PutVariableResponse::Replaced(Json(v))
        })
    }

    /// Delete a variable
    ///
    /// **Permission:** `deleteVariable` on `proj/{projectKey}:env/{envKey}:var/{name}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments/:envKey/variables/:name",
        method = "delete",
        operation_id = "deleteVariable"
    )]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "envKey")] env_key: Path<String>,
        name: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service
            .delete_variable(&ctx, &project_key, &env_key, &name)
            .await?;
        Ok(NoContent::NoContent)
    }
}
