//! `/api/v2/projects/{projectKey}/environments`.

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
use crate::service::environments::{Environment, EnvironmentPatch, EnvironmentPost};

pub struct EnvironmentsApi;

#[OpenApi(tag = "Tag::Environments")]
impl EnvironmentsApi {
    /// List a project's environments
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments",
        method = "get",
        operation_id = "listEnvironments"
    )]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
    ) -> ApiResult<Json<Page<Environment>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(
            service.list_environments(&ctx, &project_key).await?,
        )))
    }

    /// Create an environment
    ///
    /// Every flag of the project gets its initial (off) state in the new environment.
    ///
    /// **Permission:** `createEnvironment` on `proj/{projectKey}:env/{key}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments",
        method = "post",
        operation_id = "createEnvironment"
    )]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        body: Json<EnvironmentPost>,
    ) -> ApiResult<Created<Environment>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service
                .create_environment(&ctx, &project_key, body.0)
                .await?,
        )))
    }

    /// Get an environment
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments/:envKey",
        method = "get",
        operation_id = "getEnvironment"
    )]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "envKey")] env_key: Path<String>,
    ) -> ApiResult<Json<Environment>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service
                .get_environment(&ctx, &project_key, &env_key)
                .await?,
        ))
    }

    /// Update an environment's name, tags or critical marker
    ///
    /// **Permission:** `updateName`, `updateTags` and/or `updateCritical` on `proj/{projectKey}:env/{envKey}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments/:envKey",
        method = "patch",
        operation_id = "patchEnvironment"
    )]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "envKey")] env_key: Path<String>,
        body: Json<EnvironmentPatch>,
    ) -> ApiResult<Json<Environment>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service
                .update_environment(&ctx, &project_key, &env_key, body.0)
                .await?,
        ))
    }

    /// Delete an environment with its flag states and variables
    ///
    /// **Permission:** `deleteEnvironment` on `proj/{projectKey}:env/{envKey}`.
    #[oai(
        path = "/api/v2/projects/:projectKey/environments/:envKey",
        method = "delete",
        operation_id = "deleteEnvironment"
    )]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "envKey")] env_key: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service
            .delete_environment(&ctx, &project_key, &env_key)
            .await?;
        Ok(NoContent::NoContent)
    }
}
