//! Feature flags: project-wide settings plus one state per environment, changed through
//! LaunchDarkly-style semantic-patch instructions; evaluation and environment comparison.

use std::collections::BTreeMap;

use poem_openapi::Object;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, QueryFilter, QueryOrder, QueryTrait,
};
use serde::Serialize;
use serde_json::Value;

use super::approval_gate;
use super::authz::authorize;
use super::environments;
use super::projects::{self, dup};
use super::util::{check_version, from_json, new_id, snapshot, to_json};
use super::{AuditDraft, Ctx, Service};
use crate::domain::flag::{
    self, Context, FlagEnvironmentState, FlagKind, FlagSettings, Instruction, InstructionScope,
    Variation,
};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};

/// A flag's state in one environment, as the API shows it.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct FlagEnvironment {
    pub on: bool,
    /// Index of the variation served when the flag is off.
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
    /// `[{"value", "name"?, "description"?}]`.
    pub variations: Value,
    pub tags: Vec<String>,
    pub temporary: bool,
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
    pub key: String,
    pub name: String,
    #[oai(default)]
    pub description: String,
    /// `boolean` (default; variations true/false) or `multivariate`.
    pub kind: Option<String>,
    /// `[{"value", "name"?, "description"?}]`; required for multivariate flags.
    #[oai(default)]
    pub variations: Vec<Value>,
    #[oai(default)]
    pub tags: Vec<String>,
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
    pub instructions: Vec<Value>,
    pub comment: Option<String>,
    /// The flag version the change was made against; 409 when stale.
    pub version: Option<i64>,
}

/// Body of `POST .../evaluate`: the context to evaluate for.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct EvaluationContext {
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
        if self.envs.is_empty() {
            // No environment yet: the action is checked against any environment.
            return Ok(vec![
                projects::resource(&self.project)?
                    .env("*", &[] as &[&str], false)
                    .flag(&self.flag.key, &self.settings.tags),
            ]);
        }
        self.envs
            .iter()
            .map(|(e, _, _)| self.flag_resource(e))
            .collect()
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
            variations: snapshot(&s.variations)?,
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

fn parse_variations(values: &[Value]) -> Result<Vec<Variation>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone())
                .map_err(|e| Error::invalid(format!("variations[{i}]: {e}")))
        })
        .collect()
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

    /// Creates a flag with its initial (off) state in every environment of the project.
    pub async fn create_flag(&self, ctx: &Ctx, project_key: &str, input: FlagPost) -> Result<Flag> {
        let kind = match input.kind.as_deref() {
            None | Some("boolean") => FlagKind::Boolean,
            Some("multivariate") => FlagKind::Multivariate,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "kind: {other:?} is not boolean or multivariate"
                )));
            }
        };
        let mut settings = FlagSettings {
            key: input.key.clone(),
            name: input.name.clone(),
            description: input.description.clone(),
            kind,
            variations: parse_variations(&input.variations)?,
            tags: input.tags.clone(),
            temporary: input.temporary,
            maintainer_id: input.maintainer_id.clone(),
            archived: false,
        };
        settings.normalize();
        settings
            .validate()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut tx = self.begin_write(ctx).await?;
        let project = projects::find(tx.db(), project_key).await?;
        let envs = environments::all(tx.db(), &project).await?;
        let resources: Vec<Resource> = if envs.is_empty() {
            vec![
                projects::resource(&project)?
                    .env("*", &[] as &[&str], false)
                    .flag(&settings.key, &settings.tags),
            ]
        } else {
            envs.iter()
                .map(|e| {
                    Ok(environments::resource(&project, e)?.flag(&settings.key, &settings.tags))
                })
                .collect::<Result<_>>()?
        };
        for r in &resources {
            authorize(&ctx.principal, "createFlag", r)?;
        }
        let now = tx.now_ms();
        let flag_row = entity::flag::ActiveModel {
            id: Set(new_id()),
            project_id: Set(project.id.clone()),
            key: Set(settings.key.clone()),
            settings: Set(to_json(&settings)?),
            archived: Set(false),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        let mut states = Vec::with_capacity(envs.len());
        for env in envs {
            let state = FlagEnvironmentState::initial(&settings, new_id());
            let row = entity::flag_state::ActiveModel {
                id: Set(new_id()),
                flag_id: Set(flag_row.id.clone()),
                environment_id: Set(env.id.clone()),
                state: Set(to_json(&state)?),
                version: Set(1),
                updated_at: Set(now),
            }
            .insert(tx.db())
            .await?;
            states.push((env, row, state));
        }
        let project_resource = projects::resource(&project)?;
        let loaded = Loaded {
            project,
            flag: flag_row,
            settings,
            envs: states,
        };
        let rep = loaded.rep()?;
        let mut draft = AuditDraft::new(
            "flag",
            &rep.name,
            "createFlag",
            resources.first().unwrap_or(&project_resource),
        )
        .describe(format!(
            "created flag {} in project {}",
            rep.key, project_key
        ))
        .parent(&loaded.project.name, &projects::resource(&loaded.project)?)
        .after(Some(snapshot(&rep)?))
        .comment(input.comment);
        for r in resources.iter().skip(1) {
            draft = draft.access("createFlag", r);
        }
        tx.audit(draft);
        tx.commit().await?;
        Ok(rep)
    }

    /// Applies semantic-patch instructions atomically: all apply, or nothing changes. A change
    /// to an environment that requires approval is refused unless the caller may bypass it.
    pub async fn patch_flag(
        &self,
        ctx: &Ctx,
        project_key: &str,
        flag_key: &str,
        patch: FlagSemanticPatch,
    ) -> Result<Flag> {
        let instructions = parse_instructions(&patch.instructions)?;
        let mut tx = self.begin_write(ctx).await?;
        let outcome = patch_flag_in(
            &mut tx,
            project_key,
            flag_key,
            &patch,
            &instructions,
            ChangeOrigin::Direct,
        )
        .await?;
        if outcome.changed {
            tx.commit().await?;
        }
        Ok(outcome.flag)
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
        let project_resource = projects::resource(&loaded.project)?;
        let mut draft = AuditDraft::new(
            "flag",
            &before.name,
            "deleteFlag",
            resources.first().unwrap_or(&project_resource),
        )
        .describe(format!(
            "deleted flag {flag_key} from project {project_key}"
        ))
        .parent(&loaded.project.name, &projects::resource(&loaded.project)?)
        .before(Some(snapshot(&before)?));
        for r in resources.iter().skip(1) {
            draft = draft.access("deleteFlag", r);
        }
        tx.audit(draft);
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

/// Where a change comes from. A direct change passes the approval gate; the apply of an
/// approved request has passed it for the request's environment (and only that one).
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChangeOrigin<'a> {
    Direct,
    ApprovalRequest {
        id: &'a str,
        environment_key: &'a str,
    },
}

impl ChangeOrigin<'_> {
    /// Whether an approved request already covers changes in `env_key`.
    pub(crate) fn approved_in(&self, env_key: &str) -> bool {
        matches!(self, ChangeOrigin::ApprovalRequest { environment_key, .. } if *environment_key == env_key)
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        match self {
            ChangeOrigin::Direct => None,
            ChangeOrigin::ApprovalRequest { id, .. } => Some((*id).to_owned()),
        }
    }
}

/// What [`patch_flag_in`] did.
pub(crate) struct PatchOutcome {
    pub flag: Flag,
    /// False when the instructions changed nothing (nothing was written or audited).
    pub changed: bool,
}

/// Parses a patch's instructions, naming the index of the first bad one.
pub(crate) fn parse_instructions(values: &[Value]) -> Result<Vec<Instruction>> {
    if values.is_empty() {
        return Err(Error::invalid(
            "instructions: at least one instruction is needed",
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone())
                .map_err(|e| Error::invalid(format!("instructions[{i}]: {e}")))
        })
        .collect()
}

/// The position of `environment_key` among the flag's environments, or 404.
fn env_position(
    loaded: &Loaded,
    project_key: &str,
    env_key: Option<&str>,
) -> Result<Option<usize>> {
    env_key
        .map(|k| {
            loaded
                .envs
                .iter()
                .position(|(e, _, _)| e.key == k)
                .ok_or_else(|| {
                    Error::not_found(format!("environment {k:?} in project {project_key:?}"))
                })
        })
        .transpose()
}

/// Authorizes every instruction before anything changes; returns the accesses exercised.
fn authorize_instructions(
    principal: &super::Principal,
    loaded: &Loaded,
    env_index: Option<usize>,
    instructions: &[Instruction],
) -> Result<Vec<(String, Resource)>> {
    let mut accesses: Vec<(String, Resource)> = Vec::new();
    for (i, instruction) in instructions.iter().enumerate() {
        let action = instruction.action();
        let targets = match instruction.scope() {
            InstructionScope::Project => loaded.all_env_resources()?,
            InstructionScope::Environment => {
                let Some((env, _, _)) = env_index.and_then(|i| loaded.envs.get(i)) else {
                    return Err(Error::invalid(format!(
                        "instructions[{i}]: needs environmentKey"
                    )));
                };
                vec![loaded.flag_resource(env)?]
            }
        };
        for r in targets {
            authorize(principal, action, &r)?;
            if !accesses.iter().any(|(a, res)| a == action && *res == r) {
                accesses.push((action.to_owned(), r));
            }
        }
    }
    Ok(accesses)
}

/// The flag in one environment, as an approval request is made and checked against.
pub(crate) struct FlagInEnv {
    pub flag: entity::flag::Model,
    pub settings: FlagSettings,
    pub state_version: i64,
    pub state: FlagEnvironmentState,
    /// `proj/..:env/..:flag/..` with the project's, environment's and flag's tags.
    pub resource: Resource,
}

/// Loads a flag's settings and its state in one environment (404s name what is missing).
pub(crate) async fn load_in_env(
    db: &impl ConnectionTrait,
    project_key: &str,
    flag_key: &str,
    env_key: &str,
) -> Result<FlagInEnv> {
    let loaded = load(db, project_key, flag_key).await?;
    let index = env_position(&loaded, project_key, Some(env_key))?;
    let Some((env, row, state)) = index.and_then(|i| loaded.envs.get(i)) else {
        return Err(Error::not_found(format!(
            "environment {env_key:?} in project {project_key:?}"
        )));
    };
    Ok(FlagInEnv {
        resource: loaded.flag_resource(env)?,
        state_version: row.version,
        state: state.clone(),
        flag: loaded.flag.clone(),
        settings: loaded.settings.clone(),
    })
}

/// Checks that the caller may run `instructions` on the flag (in `env_key` for
/// environment-scoped ones), without changing anything: the apply of an approval request
/// re-checks the applier's permission for the underlying change first.
pub(crate) async fn authorize_patch(
    db: &impl ConnectionTrait,
    principal: &super::Principal,
    project_key: &str,
    flag_key: &str,
    env_key: &str,
    instructions: &[Instruction],
) -> Result<()> {
    let loaded = load(db, project_key, flag_key).await?;
    let index = env_position(&loaded, project_key, Some(env_key))?;
    authorize_instructions(principal, &loaded, index, instructions).map(|_| ())
}

/// The flag change command inside a write transaction: authorize every instruction, apply
/// them all or none, pass the approval gate, write, audit. A direct PATCH and the apply of
/// an approved request both run exactly this.
pub(crate) async fn patch_flag_in(
    tx: &mut super::WriteTx<'_>,
    project_key: &str,
    flag_key: &str,
    patch: &FlagSemanticPatch,
    instructions: &[Instruction],
    origin: ChangeOrigin<'_>,
) -> Result<PatchOutcome> {
    let ctx = tx.ctx();
    let loaded = load(tx.db(), project_key, flag_key).await?;
    check_version(patch.version, loaded.flag.version, "flag")?;
    let env_index = env_position(&loaded, project_key, patch.environment_key.as_deref())?;
    let accesses = authorize_instructions(&ctx.principal, &loaded, env_index, instructions)?;
    let before = loaded.rep()?;
    let state = env_index
        .and_then(|i| loaded.envs.get(i))
        .map(|(_, _, s)| s);
    let mut ids = new_id;
    let applied = flag::apply(&loaded.settings, state, instructions, &mut ids)
        .map_err(|e| Error::invalid(e.to_string()))?;
    if !applied.settings_changed && !applied.state_changed {
        return Ok(PatchOutcome {
            flag: before,
            changed: false,
        });
    }
    // The gate: which environments this change needs an approval in, and whether the
    // caller may bypass it there. Refused before anything is written.
    let env_scoped = instructions
        .iter()
        .any(|i| i.scope() == InstructionScope::Environment);
    let mut gates = Vec::new();
    for (i, (env, _, _)) in loaded.envs.iter().enumerate() {
        if origin.approved_in(&env.key) {
            continue;
        }
        let scoped_here = env_scoped && env_index == Some(i);
        if let Some(gate) = approval_gate::flag_gate(
            env,
            project_key,
            flag_key,
            scoped_here,
            &loaded.settings.tags,
            &applied.settings.tags,
            loaded.flag_resource(env)?,
        )? {
            gates.push(gate);
        }
    }
    let bypasses = approval_gate::pass_gate(&ctx.principal, gates)?;
    let now = tx.now_ms();
    // The response and the audit snapshot are built from the rows the updates return, not
    // read again: this is the hottest write path.
    let mut after_loaded = loaded.clone();
    let backend = tx.backend();
    let mut writes = Vec::with_capacity(2);
    if applied.state_changed
        && let (Some(new_state), Some((_, row, state))) = (
            &applied.state,
            env_index.and_then(|i| after_loaded.envs.get_mut(i)),
        )
    {
        row.state = to_json(new_state)?;
        row.version += 1;
        row.updated_at = now;
        writes.push(
            entity::flag_state::Entity::update_many()
                .col_expr(
                    entity::flag_state::Column::State,
                    Expr::value(row.state.clone()),
                )
                .col_expr(
                    entity::flag_state::Column::Version,
                    Expr::value(row.version),
                )
                .col_expr(entity::flag_state::Column::UpdatedAt, Expr::value(now))
                .filter(entity::flag_state::Column::Id.eq(row.id.clone()))
                .build(backend),
        );
        state.clone_from(new_state);
    }
    let flag_row = &mut after_loaded.flag;
    let mut update_flag = entity::flag::Entity::update_many();
    if applied.settings_changed {
        flag_row.settings = to_json(&applied.settings)?;
        flag_row.archived = applied.settings.archived;
        update_flag = update_flag
            .col_expr(
                entity::flag::Column::Settings,
                Expr::value(flag_row.settings.clone()),
            )
            .col_expr(
                entity::flag::Column::Archived,
                Expr::value(flag_row.archived),
            );
    }
    flag_row.version += 1;
    flag_row.updated_at = now;
    writes.push(
        update_flag
            .col_expr(entity::flag::Column::Version, Expr::value(flag_row.version))
            .col_expr(entity::flag::Column::UpdatedAt, Expr::value(now))
            .filter(entity::flag::Column::Id.eq(flag_row.id.clone()))
            .build(backend),
    );
    after_loaded.settings = applied.settings.clone();
    let after = after_loaded.rep()?;
    let kinds: Vec<String> = patch
        .instructions
        .iter()
        .filter_map(|v| v.get("kind").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let env_key = env_index
        .and_then(|i| loaded.envs.get(i))
        .map(|(e, _, _)| e.key.clone());
    let mut description = match &env_key {
        Some(env) => format!("{} on flag {flag_key} in {env}", kinds.join(", ")),
        None => format!("{} on flag {flag_key}", kinds.join(", ")),
    };
    if let ChangeOrigin::ApprovalRequest { id, .. } = origin {
        description.push_str(&format!(" (approval request {id})"));
    }
    description.push_str(&approval_gate::describe_bypasses(&bypasses));
    let mut draft = AuditDraft {
        kind: "flag".to_owned(),
        name: after.name.clone(),
        description,
        ..Default::default()
    };
    for (action, r) in &accesses {
        draft = draft.access(action, r);
    }
    for bypass in &bypasses {
        draft = draft.access("bypassRequiredApproval", &bypass.resource);
    }
    draft.target = Some(crate::domain::audit::Target {
        name: after.name.clone(),
        resources: accesses.iter().map(|(_, r)| r.to_string()).collect(),
    });
    // The rows and their audit entry go to the database in one round trip.
    tx.write_audited(
        writes,
        draft
            .parent(&loaded.project.name, &projects::resource(&loaded.project)?)
            .environment(env_key)
            .before(Some(snapshot(&before)?))
            .after(Some(snapshot(&after)?))
            .delta(Value::Array(patch.instructions.clone()))
            .comment(patch.comment.clone())
            .approval_request(origin.request_id()),
    )
    .await?;
    Ok(PatchOutcome {
        flag: after,
        changed: true,
    })
}
