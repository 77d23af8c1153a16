//! Feature flags: project-wide settings plus one state per environment, changed through
//! LaunchDarkly-style semantic-patch instructions; evaluation and environment comparison.
//!
//! The reads, deletion and the shared loading live here; the two commands with the most
//! steps have their own files: `create` (a flag with its initial state everywhere) and
//! `patch` (instructions through the approval gate, also run by an approved request's apply);
//! `instructions` documents the instruction kinds for the OpenAPI document.

mod create;
mod instructions;
mod patch;

use std::collections::BTreeMap;

use poem_openapi::Object;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryFilter,
    QueryOrder,
};
use serde::Serialize;
use serde_json::Value;

use super::authz::authorize;
use super::documented::Documented;
use super::environments;
use super::projects;
use super::util::{from_json, snapshot};
use super::{AuditDraft, Ctx, Service};
use crate::domain::flag::{self, Context, FlagEnvironmentState, FlagKind, FlagSettings};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::spelled::{FlagKindWord, Key, Matches, Name, Spelled, Tag};

pub use instructions::{FLAG_KINDS, FlagInstruction, FlagKinds, InstructionBody};
pub(crate) use patch::{
    ChangeOrigin, authorize_patch, load_in_env, parse_instructions, patch_flag_in,
};

/// A flag's state in one environment, as the API shows it.
/// One variation of a flag in a request or answer; the domain parses it.
pub type VariationBody = Documented<VariationShape>;

/// A variation: the JSON value the flag serves, with an optional name and description.
// Documents the domain's `Variation`; the test below checks the two name the same fields.
#[derive(Object)]
#[oai(rename = "Variation", rename_all = "camelCase", deny_unknown_fields)]
pub struct VariationShape {
    /// Any JSON value; a boolean flag's are `true` and `false`.
    pub value: Value,
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct FlagEnvironment {
    pub on: bool,
    /// Index of the variation served when the flag is off.
    #[oai(nullable)]
    pub off_variation: Option<u64>,
    /// `{"variation": i}` or `{"rollout": {"variations": [{"variation": i, "weight": w}], "bucketBy"?}}`; weights in thousandths of a percent.
    pub fallthrough: Value,
    /// `[{"variation": i, "values": [context keys]}]`.
    pub targets: Value,
    /// `[{"id", "description"?, "clauses": [...], "variation" | "rollout"}]`.
    pub rules: Value,
    pub version: i64,
    pub last_modified: i64,
}

/// A flag as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Flag {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: String,
    /// `boolean` or `multivariate`.
    pub kind: String,
    pub variations: Vec<VariationBody>,
    pub tags: Vec<String>,
    pub temporary: bool,
    #[oai(nullable)]
    pub maintainer_id: Option<String>,
    pub archived: bool,
    /// Bumped by every change to the flag or any of its environment states.
    pub version: i64,
    pub creation_date: i64,
    /// State per environment key.
    pub environments: BTreeMap<String, FlagEnvironment>,
}

/// Body of `POST /api/v2/flags/{projectKey}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlagPost {
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    #[oai(validator(custom = "Matches::new()", min_length = 1, max_length = 128))]
    pub key: Spelled<Key>,
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Spelled<Name>,
    #[oai(default)]
    pub description: String,
    /// `boolean` (default; variations true/false) or `multivariate`.
    #[oai(validator(custom = "Matches::new()"))]
    pub kind: Option<Spelled<FlagKindWord>>,
    /// Required for multivariate flags.
    #[oai(default)]
    pub variations: Vec<VariationBody>,
    /// Each one 1 to 64 letters, digits, `.`, `_` or `-`.
    #[oai(default, validator(custom = "Matches::new()", max_length = 64))]
    pub tags: Vec<Spelled<Tag>>,
    #[oai(default)]
    pub temporary: bool,
    pub maintainer_id: Option<String>,
    pub comment: Option<String>,
}

/// Body of `PATCH /api/v2/flags/{projectKey}/{flagKey}`: semantic-patch instructions.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlagSemanticPatch {
    /// Needed by environment-scoped instructions (turnFlagOn, addRule, ...).
    pub environment_key: Option<String>,
    /// `[{"kind": "turnFlagOn"}, {"kind": "addTargets", "variation": 0, "values": ["alice"]}, ...]`.
    #[oai(validator(min_items = 1))]
    pub instructions: Vec<InstructionBody>,
    pub comment: Option<String>,
    /// The flag version the change was made against; 409 when stale.
    pub version: Option<i64>,
}

/// Body of `POST .../evaluate`: the context to evaluate for.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct EvaluationContext {
    #[oai(validator(min_length = 1))]
    pub key: String,
    #[oai(default)]
    pub attributes: BTreeMap<String, Value>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct EvaluationResult {
    pub value: Value,
    #[oai(nullable)]
    pub variation_index: Option<u64>,
    /// `{"kind": "OFF" | "TARGET_MATCH" | "RULE_MATCH" | "FALLTHROUGH", "ruleIndex"?, "ruleId"?, "bucket"?, "rollout"?}`.
    pub reason: Value,
}

/// One field that differs between two environments.
#[derive(Debug, Clone, Serialize, Object)]
pub struct FlagDifference {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// The comparison of a flag's state in two environments.
#[derive(Debug, Clone, Serialize, Object)]
pub struct FlagComparison {
    pub from: String,
    pub to: String,
    pub differences: Vec<FlagDifference>,
}

#[derive(Clone)]
struct Loaded {
    project: entity::project::Model,
    flag: entity::flag::Model,
    settings: FlagSettings,
    /// (environment, state row, parsed state), by environment key.
    envs: Vec<(
        entity::environment::Model,
        entity::flag_state::Model,
        FlagEnvironmentState,
    )>,
}

impl Loaded {
    fn flag_resource(&self, env: &entity::environment::Model) -> Result<Resource> {
        Ok(environments::resource(&self.project, env)?.flag(&self.flag.key, &self.settings.tags))
    }

    /// The resources a project-wide action must be allowed on: the flag in every environment.
    fn all_env_resources(&self) -> Result<Vec<Resource>> {
        flag_resources(
            &self.project,
            self.envs.iter().map(|(e, _, _)| e),
            &self.flag.key,
            &self.settings.tags,
        )
    }

    fn rep(&self) -> Result<Flag> {
        let mut environments = BTreeMap::new();
        for (env, row, state) in &self.envs {
            environments.insert(env.key.clone(), env_rep(row, state)?);
        }
        let s = &self.settings;
        Ok(Flag {
            id: self.flag.id.clone(),
            key: self.flag.key.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            kind: kind_str(s.kind).to_owned(),
            variations: s
                .variations
                .iter()
                .map(|v| snapshot(v).map(Documented::new))
                .collect::<Result<_>>()?,
            tags: s.tags.clone(),
            temporary: s.temporary,
            maintainer_id: s.maintainer_id.clone(),
            archived: s.archived,
            version: self.flag.version,
            creation_date: self.flag.created_at,
            environments,
        })
    }
}

/// The flag `key` with `tags` in each of `envs`: what a project-wide action (create, delete,
/// rename, ...) must be allowed on.
fn flag_resources<'e>(
    project: &entity::project::Model,
    envs: impl IntoIterator<Item = &'e entity::environment::Model>,
    key: &str,
    tags: &[String],
) -> Result<Vec<Resource>> {
    let per_env = envs
        .into_iter()
        .map(|e| Ok(environments::resource(project, e)?.flag(key, tags)))
        .collect::<Result<Vec<_>>>()?;
    if !per_env.is_empty() {
        return Ok(per_env);
    }
    // No environment yet: the action is checked against any environment.
    Ok(vec![
        projects::resource(project)?
            .env("*", &[] as &[&str], false)
            .flag(key, tags),
    ])
}

/// The audit entry of a project-wide action on a flag: the flag in the first environment is
/// the target, the flag in each other environment another access, the project the parent.
fn project_wide_draft(
    project: &entity::project::Model,
    name: &str,
    action: &str,
    resources: &[Resource],
) -> Result<AuditDraft> {
    let project_resource = projects::resource(project)?;
    let mut draft = AuditDraft::new(
        "flag",
        name,
        action,
        resources.first().unwrap_or(&project_resource),
    )
    .parent(&project.name, &project_resource);
    for r in resources.iter().skip(1) {
        draft = draft.access(action, r);
    }
    Ok(draft)
}

fn kind_str(kind: FlagKind) -> &'static str {
    match kind {
        FlagKind::Boolean => "boolean",
        FlagKind::Multivariate => "multivariate",
    }
}

fn env_rep(row: &entity::flag_state::Model, s: &FlagEnvironmentState) -> Result<FlagEnvironment> {
    Ok(FlagEnvironment {
        on: s.on,
        off_variation: s.off_variation.map(|v| v as u64),
        fallthrough: snapshot(&s.fallthrough)?,
        targets: snapshot(&s.targets)?,
        rules: snapshot(&s.rules)?,
        version: row.version,
        last_modified: row.updated_at,
    })
}

/// Loads a flag with its project, and every environment of the project with the flag's state
/// there, in one query: flag changes are the hottest path, and on SQLite each query is a hop
/// to the connection's thread.
async fn load(db: &impl ConnectionTrait, project_key: &str, flag_key: &str) -> Result<Loaded> {
    use entity::{environment as e, flag as f, flag_state as s, project as p};
    let mut query = Query::select();
    select_prefixed::<p::Entity>(&mut query, "p_");
    select_prefixed::<f::Entity>(&mut query, "f_");
    select_prefixed::<e::Entity>(&mut query, "e_");
    select_prefixed::<s::Entity>(&mut query, "s_");
    query
        .from(f::Entity)
        .inner_join(
            p::Entity,
            Expr::col((p::Entity, p::Column::Id)).equals((f::Entity, f::Column::ProjectId)),
        )
        // A project without environments still has its flags: keep the flag row.
        .left_join(
            e::Entity,
            Expr::col((e::Entity, e::Column::ProjectId)).equals((f::Entity, f::Column::ProjectId)),
        )
        .left_join(
            s::Entity,
            Expr::col((s::Entity, s::Column::FlagId))
                .equals((f::Entity, f::Column::Id))
                .and(
                    Expr::col((s::Entity, s::Column::EnvironmentId))
                        .equals((e::Entity, e::Column::Id)),
                ),
        )
        .and_where(Expr::col((p::Entity, p::Column::Key)).eq(project_key))
        .and_where(Expr::col((f::Entity, f::Column::Key)).eq(flag_key))
        .order_by((e::Entity, e::Column::Key), Order::Asc);
    let rows = db
        .query_all_raw(db.get_database_backend().build(&query))
        .await?;
    let Some(first) = rows.first() else {
        // Nothing matched: name what is missing.
        projects::find(db, project_key).await?;
        return Err(Error::not_found(format!(
            "flag {flag_key:?} in project {project_key:?}"
        )));
    };
    let project = p::Model::from_query_result(first, "p_")?;
    let flag = f::Model::from_query_result(first, "f_")?;
    let settings: FlagSettings = from_json(&flag.settings)?;
    let mut envs = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(env) = Option::<e::Model>::from_query_result(row, "e_")? else {
            continue;
        };
        let state_row = Option::<s::Model>::from_query_result(row, "s_")?.ok_or_else(|| {
            Error::internal(format!(
                "flag {flag_key} has no state in environment {}",
                env.key
            ))
        })?;
        let state: FlagEnvironmentState = from_json(&state_row.state)?;
        envs.push((env, state_row, state));
    }
    Ok(Loaded {
        project,
        flag,
        settings,
        envs,
    })
}

/// Selects every column of `E` as `<prefix><column>`, for `FromQueryResult` with that prefix.
fn select_prefixed<E: EntityTrait>(query: &mut SelectStatement, prefix: &str) {
    for column in E::Column::iter() {
        query.expr_as(
            Expr::col((E::default(), column)),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

impl Service {
    pub async fn list_flags(&self, ctx: &Ctx, project_key: &str) -> Result<Vec<Flag>> {
        let p = projects::find(self.db(), project_key).await?;
        authorize(&ctx.principal, "viewProject", &projects::resource(&p)?)?;
        let keys: Vec<String> = entity::flag::Entity::find()
            .filter(entity::flag::Column::ProjectId.eq(p.id.clone()))
            .order_by_asc(entity::flag::Column::Key)
            .all(self.db())
            .await?
            .into_iter()
            .map(|f| f.key)
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(load(self.db(), project_key, &k).await?.rep()?);
        }
        Ok(out)
    }

    pub async fn get_flag(&self, ctx: &Ctx, project_key: &str, flag_key: &str) -> Result<Flag> {
        let loaded = load(self.db(), project_key, flag_key).await?;
        authorize(
            &ctx.principal,
            "viewProject",
            &projects::resource(&loaded.project)?,
        )?;
        loaded.rep()
    }

    pub async fn delete_flag(&self, ctx: &Ctx, project_key: &str, flag_key: &str) -> Result<()> {
        let mut tx = self.begin_write(ctx).await?;
        let loaded = load(tx.db(), project_key, flag_key).await?;
        let resources = loaded.all_env_resources()?;
        for r in &resources {
            authorize(&ctx.principal, "deleteFlag", r)?;
        }
        let before = loaded.rep()?;
        entity::flag_state::Entity::delete_many()
            .filter(entity::flag_state::Column::FlagId.eq(loaded.flag.id.clone()))
            .exec(tx.db())
            .await?;
        entity::flag::Entity::delete_by_id(loaded.flag.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            project_wide_draft(&loaded.project, &before.name, "deleteFlag", &resources)?
                .describe(format!(
                    "deleted flag {flag_key} from project {project_key}"
                ))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        Ok(())
    }

    pub async fn evaluate_flag(
        &self,
        ctx: &Ctx,
        project_key: &str,
        flag_key: &str,
        env_key: &str,
        context: EvaluationContext,
    ) -> Result<EvaluationResult> {
        let loaded = load(self.db(), project_key, flag_key).await?;
        authorize(
            &ctx.principal,
            "viewProject",
            &projects::resource(&loaded.project)?,
        )?;
        let (_, _, state) = loaded
            .envs
            .iter()
            .find(|(e, _, _)| e.key == env_key)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "environment {env_key:?} in project {project_key:?}"
                ))
            })?;
        if context.key.is_empty() {
            return Err(Error::invalid("key: a context needs a non-empty key"));
        }
        let ctx_domain = Context {
            key: context.key,
            attributes: context.attributes.into_iter().collect(),
        };
        let eval = flag::evaluate(&loaded.settings, state, &ctx_domain);
        Ok(EvaluationResult {
            value: eval.value.clone(),
            variation_index: eval.variation_index.map(|v| v as u64),
            reason: snapshot(&eval.reason)?,
        })
    }

    pub async fn compare_flag(
        &self,
        ctx: &Ctx,
        project_key: &str,
        flag_key: &str,
        from: &str,
        to: &str,
    ) -> Result<FlagComparison> {
        let loaded = load(self.db(), project_key, flag_key).await?;
        authorize(
            &ctx.principal,
            "viewProject",
            &projects::resource(&loaded.project)?,
        )?;
        let find = |k: &str| {
            loaded
                .envs
                .iter()
                .find(|(e, _, _)| e.key == k)
                .map(|(_, _, s)| s)
                .ok_or_else(|| {
                    Error::not_found(format!("environment {k:?} in project {project_key:?}"))
                })
        };
        let differences = flag::compare(&loaded.settings, find(from)?, find(to)?)
            .into_iter()
            .map(|d| FlagDifference {
                field: d.field,
                from: d.from,
                to: d.to,
            })
            .collect();
        Ok(FlagComparison {
            from: from.to_owned(),
            to: to.to_owned(),
            differences,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> entity::project::Model {
        entity::project::Model {
            id: "p1".into(),
            key: "shop".into(),
            name: "Shop".into(),
            tags: "[]".into(),
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn env(key: &str, critical: bool) -> entity::environment::Model {
        entity::environment::Model {
            id: format!("e-{key}"),
            project_id: "p1".into(),
            key: key.into(),
            name: key.into(),
            tags: r#"["eu"]"#.into(),
            critical,
            approval_settings: "{}".into(),
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn names(resources: &[Resource]) -> Vec<String> {
        resources.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_project_wide_action_covers_the_flag_in_every_environment() {
        let envs = [env("production", true), env("staging", false)];
        let tags = ["beta".to_owned()];
        let resources = flag_resources(&project(), &envs, "checkout", &tags).unwrap();
        assert_eq!(
            names(&resources),
            [
                "proj/shop:env/production;eu,{critical:true}:flag/checkout;beta",
                "proj/shop:env/staging;eu,{critical:false}:flag/checkout;beta",
            ]
        );
    }

    #[test]
    fn without_environments_it_covers_any_environment() {
        let resources = flag_resources(&project(), &[], "checkout", &[]).unwrap();
        assert_eq!(
            names(&resources),
            ["proj/shop:env/*;{critical:false}:flag/checkout"]
        );
    }

    #[test]
    fn the_first_environment_is_the_target_and_the_others_more_accesses() {
        let envs = [env("production", true), env("staging", false)];
        let resources = flag_resources(&project(), &envs, "checkout", &[]).unwrap();
        let draft = project_wide_draft(&project(), "Checkout", "deleteFlag", &resources).unwrap();
        let first = resources[0].to_string();
        assert_eq!(draft.target.map(|t| t.resources), Some(vec![first.clone()]));
        let accesses: Vec<(&str, &str)> = draft
            .accesses
            .iter()
            .map(|(a, r)| (a.as_str(), r.as_str()))
            .collect();
        let second = resources[1].to_string();
        assert_eq!(
            accesses,
            [
                ("deleteFlag", first.as_str()),
                ("deleteFlag", second.as_str())
            ]
        );
        assert_eq!(
            draft.parent.map(|p| p.resource),
            Some("proj/shop".to_owned())
        );
    }
}
