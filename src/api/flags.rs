//! `/api/v2/flags/{projectKey}`: flags, semantic patch, evaluation and environment comparison.

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
use crate::service::flags::{
    EvaluationContext, EvaluationResult, Flag, FlagComparison, FlagPost, FlagSemanticPatch,
};

pub struct FlagsApi;

#[OpenApi(tag = "Tag::Flags")]
impl FlagsApi {
    /// List a project's flags with their state in every environment
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/flags/:projectKey",
        method = "get",
        operation_id = "listFlags"
    )]
    async fn list(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
    ) -> ApiResult<Json<Page<Flag>>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(Page::all(
            service.list_flags(&ctx, &project_key).await?,
        )))
    }

    /// Create a flag
    ///
    /// The flag starts off in every environment, serving its off variation.
    ///
    /// **Permission:** `createFlag` on `proj/{projectKey}:env/*:flag/{key}` in every environment (project-wide action).
    #[oai(
        path = "/api/v2/flags/:projectKey",
        method = "post",
        operation_id = "createFlag"
    )]
    async fn create(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        body: Json<FlagPost>,
    ) -> ApiResult<Created<Flag>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Created::Created(Json(
            service.create_flag(&ctx, &project_key, body.0).await?,
        )))
    }

    /// Get a flag
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/flags/:projectKey/:flagKey",
        method = "get",
        operation_id = "getFlag"
    )]
    async fn get(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "flagKey")] flag_key: Path<String>,
    ) -> ApiResult<Json<Flag>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_flag(&ctx, &project_key, &flag_key).await?))
    }

    /// Change a flag with semantic-patch instructions
    ///
    /// All instructions apply, or none does. Environment-scoped instructions (`turnFlagOn`,
    /// `turnFlagOff`, `updateOffVariation`, `updateFallthroughVariationOrRollout`, `addTargets`,
    /// `removeTargets`, `addRule`, `removeRule`) need `environmentKey`; project-wide ones
    /// (`addTags`, `removeTags`, `updateName`, `updateDescription`, `makeFlagTemporary`,
    /// `makeFlagPermanent`, `updateMaintainerMember`, `removeMaintainer`, `archiveFlag`,
    /// `restoreFlag`) apply to the flag in every environment.
    ///
    /// **Permission:** each instruction's action (`updateOn`, `updateOffVariation`,
    /// `updateFallthrough`, `updateTargets`, `updateRules`, `updateTags`, `updateName`,
    /// `updateDescription`, `updateTemporary`, `updateMaintainer`, `updateGlobalArchived`) on
    /// `proj/{projectKey}:env/{env}:flag/{flagKey}`; project-wide actions in every environment.
    #[oai(
        path = "/api/v2/flags/:projectKey/:flagKey",
        method = "patch",
        operation_id = "patchFlag"
    )]
    async fn patch(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "flagKey")] flag_key: Path<String>,
        body: Json<FlagSemanticPatch>,
    ) -> ApiResult<Json<Flag>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service
                .patch_flag(&ctx, &project_key, &flag_key, body.0)
                .await?,
        ))
    }

    /// Delete a flag
    ///
    /// **Permission:** `deleteFlag` on `proj/{projectKey}:env/*:flag/{flagKey}` in every environment.
    #[oai(
        path = "/api/v2/flags/:projectKey/:flagKey",
        method = "delete",
        operation_id = "deleteFlag"
    )]
    async fn delete(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "flagKey")] flag_key: Path<String>,
    ) -> ApiResult<NoContent> {
        let ctx = context(&service, &auth, req).await?;
        service.delete_flag(&ctx, &project_key, &flag_key).await?;
        Ok(NoContent::NoContent)
    }

    /// Compare a flag's state in two environments
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/flags/:projectKey/:flagKey/compare",
        method = "get",
        operation_id = "compareFlagEnvironments"
    )]
    async fn compare(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "flagKey")] flag_key: Path<String>,
        from: Query<String>,
        to: Query<String>,
    ) -> ApiResult<Json<FlagComparison>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service
                .compare_flag(&ctx, &project_key, &flag_key, &from, &to)
                .await?,
        ))
    }

    /// Evaluate a flag for a context in an environment
    ///
    /// Returns the variation and why: `OFF`, `TARGET_MATCH`, `RULE_MATCH` or `FALLTHROUGH`,
    /// with the rollout bucket when a percentage rollout decided. Bucketing is deterministic on
    /// (flag key, salt, context key).
    ///
    /// **Permission:** `viewProject` on `proj/{projectKey}`.
    #[oai(
        path = "/api/v2/flags/:projectKey/:flagKey/evaluate",
        method = "post",
        operation_id = "evaluateFlag"
    )]
    async fn evaluate(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        #[oai(name = "projectKey")] project_key: Path<String>,
        #[oai(name = "flagKey")] flag_key: Path<String>,
        env: Query<String>,
        body: Json<EvaluationContext>,
    ) -> ApiResult<Json<EvaluationResult>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(
            service
                .evaluate_flag(&ctx, &project_key, &flag_key, &env, body.0)
                .await?,
        ))
    }
}
