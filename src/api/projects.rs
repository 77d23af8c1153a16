//! `/api/v2/projects`: create, list, read, change and delete projects.

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
use crate::service::projects::{Project, ProjectPatch, ProjectPost};

pub struct ProjectsApi;

#[OpenApi(prefix_path = "/api/v2/projects", tag = "Tag::Projects")]
impl ProjectsApi {
    /// List projects
    ///
    /// **Permission:** `viewProject` on `proj/{key}`; projects the caller may not view are left out.
    #[oai(path = "/", method = "get", operation_id = "listProjects")]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<Page<Project>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(service.list_projects(&ctx).await?)))
    }

    /// Create a project
    ///
    /// **Permission:** `createProject` on `proj/{key}`.
    #[oai(path = "/", method = "post", operation_id = "createProject")]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<ProjectPost>,
    ) -> ApiResult<Created<Project>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_project(&ctx, body.0).await?,
        )))
    }

    /// Get a project
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(path = "/:projectKey", method = "get", operation_id = "getProject")]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
    ) -> ApiResult<Json<Project>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_project(&ctx, &project_key).await?))
    }

    /// Update a project's name or tags
    ///
    /// **Permission:** `updateProjectName` and/or `updateTags` on `proj/{projectKey}`.
    #[oai(path = "/:projectKey", method = "patch", operation_id = "patchProject")]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        body: Json<ProjectPatch>,
    ) -> ApiResult<Json<Project>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service.update_project(&ctx, &project_key, body.0).await?,
        ))
    }

    /// Delete a project with its environments, flags and variables
    ///
    /// **Permission:** `deleteProject` on `proj/{projectKey}`.
    #[oai(
        path = "/:projectKey",
        method = "delete",
        operation_id = "deleteProject"
    )]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_project(&ctx, &project_key).await?;
        Ok(NoContent::NoContent)
    }
}
