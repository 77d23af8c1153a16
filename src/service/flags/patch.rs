//! Changing a flag with semantic-patch instructions: load, authorize every instruction, apply
//! them all or none, pass the approval gate, write, audit. A direct PATCH and the apply of an
//! approved request both run [`patch_flag_in`].

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryTrait, Statement,
};
use serde_json::Value;

use super::{Flag, FlagSemanticPatch, Loaded, load};
use crate::domain::audit::Target;
use crate::domain::flag::{
    self, Applied, FlagEnvironmentState, FlagSettings, Instruction, InstructionScope,
};
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::approval_gate::{self, Bypass, GateTarget};
use crate::service::authz::authorize;
use crate::service::documented::Documented;
use crate::service::projects;
use crate::service::util::{self, check_version, new_id, snapshot, to_json};
use crate::service::{AuditDraft, Ctx, Principal, Service, WriteTx};

impl Service {
    /// Applies semantic-patch instructions atomically: all apply, or nothing changes. A change
    /// to an environment that requires approval is refused unless the caller may bypass it.
    pub async fn patch_flag(
        &self,
        ctx: &Ctx,
        project_key: &str,
        flag_key: &str,
        patch: FlagSemanticPatch,
    ) -> Result<Flag> {
        let instructions = parse_instructions(&Documented::values(&patch.instructions))?;
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

/// Parses a flag patch's instructions, naming the index of the first bad one.
pub(crate) fn parse_instructions(values: &[Value]) -> Result<Vec<Instruction>> {
    util::parse_instructions(values)
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
    principal: &Principal,
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
    principal: &Principal,
    project_key: &str,
    flag_key: &str,
    env_key: &str,
    instructions: &[Instruction],
) -> Result<()> {
    let loaded = load(db, project_key, flag_key).await?;
    let index = env_position(&loaded, project_key, Some(env_key))?;
    authorize_instructions(principal, &loaded, index, instructions).map(|_| ())
}

/// The flag change command inside a write transaction: load, authorize every instruction,
/// apply them all or none, pass the approval gate, write, audit. A direct PATCH and the apply
/// of an approved request both run exactly this.
pub(crate) async fn patch_flag_in(
    tx: &mut WriteTx<'_>,
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
    let applied = apply_instructions(&loaded, env_index, instructions)?;
    if !applied.settings_changed && !applied.state_changed {
        return Ok(PatchOutcome {
            flag: before,
            changed: false,
        });
    }
    // Refused here, before anything is written, unless the caller may bypass.
    let gates = gate_targets(
        &loaded,
        project_key,
        flag_key,
        env_index,
        instructions,
        &applied.settings.tags,
        origin,
    )?;
    let bypasses = approval_gate::pass_gate(&ctx.principal, gates)?;
    let (after_loaded, writes) =
        advance_rows(&loaded, env_index, &applied, tx.now_ms(), tx.backend())?;
    let after = after_loaded.rep()?;
    let draft = patch_audit(
        &loaded,
        flag_key,
        patch,
        env_index,
        (&accesses, &bypasses),
        (&before, &after),
        origin,
    )?;
    // The rows and their audit entry go to the database in one round trip.
    tx.write_audited(writes, draft).await?;
    Ok(PatchOutcome {
        flag: after,
        changed: true,
    })
}

/// Applies the instructions to copies of the flag's settings and of its state in the chosen
/// environment; nothing is written.
fn apply_instructions(
    loaded: &Loaded,
    env_index: Option<usize>,
    instructions: &[Instruction],
) -> Result<Applied> {
    let state = env_index
        .and_then(|i| loaded.envs.get(i))
        .map(|(_, _, s)| s);
    let mut ids = new_id;
    flag::apply(&loaded.settings, state, instructions, &mut ids)
        .map_err(|e| Error::invalid(e.to_string()))
}

/// The environments in which this change needs an approved request (the gate then decides
/// whether the caller may bypass them).
fn gate_targets(
    loaded: &Loaded,
    project_key: &str,
    flag_key: &str,
    env_index: Option<usize>,
    instructions: &[Instruction],
    after_tags: &[String],
    origin: ChangeOrigin<'_>,
) -> Result<Vec<GateTarget>> {
    let env_scoped = instructions
        .iter()
        .any(|i| i.scope() == InstructionScope::Environment);
    let mut gates = Vec::new();
    for (i, (env, _, _)) in loaded.envs.iter().enumerate() {
        let Some(scoped_here) = gate_scope(&env.key, i, env_index, env_scoped, origin) else {
            continue;
        };
        if let Some(gate) = approval_gate::flag_gate(
            env,
            project_key,
            flag_key,
            scoped_here,
            &loaded.settings.tags,
            after_tags,
            loaded.flag_resource(env)?,
        )? {
            gates.push(gate);
        }
    }
    Ok(gates)
}

/// How the gate looks at the environment at `index`: not at all (`None`) when the approved
/// request being applied covers it, else whether the change's environment-scoped instructions
/// land there (`env_index`) or only its project-wide ones reach it.
fn gate_scope(
    env_key: &str,
    index: usize,
    env_index: Option<usize>,
    env_scoped: bool,
    origin: ChangeOrigin<'_>,
) -> Option<bool> {
    if origin.approved_in(env_key) {
        return None;
    }
    Some(env_scoped && env_index == Some(index))
}

/// The rows after the change, built from the applied change rather than read back (this is
/// the hottest write path), and the updates that write them: the state row when the state
/// changed, and always the flag row, whose version counts every change to the flag.
fn advance_rows(
    loaded: &Loaded,
    env_index: Option<usize>,
    applied: &Applied,
    now: i64,
    backend: DatabaseBackend,
) -> Result<(Loaded, Vec<Statement>)> {
    let mut after = loaded.clone();
    let mut writes = Vec::with_capacity(2);
    if applied.state_changed
        && let (Some(new_state), Some((_, row, state))) = (
            &applied.state,
            env_index.and_then(|i| after.envs.get_mut(i)),
        )
    {
        row.state = to_json(new_state)?;
        row.version += 1;
        row.updated_at = now;
        writes.push(state_update(row, backend));
        state.clone_from(new_state);
    }
    let flag_row = &mut after.flag;
    if applied.settings_changed {
        flag_row.settings = to_json(&applied.settings)?;
        flag_row.archived = applied.settings.archived;
    }
    flag_row.version += 1;
    flag_row.updated_at = now;
    writes.push(flag_update(flag_row, applied.settings_changed, backend));
    after.settings = applied.settings.clone();
    Ok((after, writes))
}

/// Writes a state row's new state, version and time.
fn state_update(row: &entity::flag_state::Model, backend: DatabaseBackend) -> Statement {
    use entity::flag_state::{Column, Entity};
    Entity::update_many()
        .col_expr(Column::State, Expr::value(row.state.clone()))
        .col_expr(Column::Version, Expr::value(row.version))
        .col_expr(Column::UpdatedAt, Expr::value(row.updated_at))
        .filter(Column::Id.eq(row.id.clone()))
        .build(backend)
}

/// Writes a flag row's version and time, and its settings when they changed.
fn flag_update(
    row: &entity::flag::Model,
    settings_changed: bool,
    backend: DatabaseBackend,
) -> Statement {
    use entity::flag::{Column, Entity};
    let mut update = Entity::update_many();
    if settings_changed {
        update = update
            .col_expr(Column::Settings, Expr::value(row.settings.clone()))
            .col_expr(Column::Archived, Expr::value(row.archived));
    }
    update
        .col_expr(Column::Version, Expr::value(row.version))
        .col_expr(Column::UpdatedAt, Expr::value(row.updated_at))
        .filter(Column::Id.eq(row.id.clone()))
        .build(backend)
}

/// The audit entry of a flag change: every access the instructions exercised, then every
/// required approval bypassed; the target names the resources of the accesses.
fn patch_audit(
    loaded: &Loaded,
    flag_key: &str,
    patch: &FlagSemanticPatch,
    env_index: Option<usize>,
    (accesses, bypasses): (&[(String, Resource)], &[Bypass]),
    (before, after): (&Flag, &Flag),
    origin: ChangeOrigin<'_>,
) -> Result<AuditDraft> {
    let env_key = env_index
        .and_then(|i| loaded.envs.get(i))
        .map(|(e, _, _)| e.key.clone());
    let mut description = patch_description(
        &Documented::values(&patch.instructions),
        flag_key,
        env_key.as_deref(),
        origin,
    );
    description.push_str(&approval_gate::describe_bypasses(bypasses));
    let mut draft = AuditDraft {
        kind: "flag".to_owned(),
        name: after.name.clone(),
        description,
        ..Default::default()
    };
    for (action, r) in accesses {
        draft = draft.access(action, r);
    }
    for bypass in bypasses {
        draft = draft.access("bypassRequiredApproval", &bypass.resource);
    }
    draft.target = Some(Target {
        name: after.name.clone(),
        resources: accesses.iter().map(|(_, r)| r.to_string()).collect(),
    });
    Ok(draft
        .parent(&loaded.project.name, &projects::resource(&loaded.project)?)
        .environment(env_key)
        .before(Some(snapshot(before)?))
        .after(Some(snapshot(after)?))
        .delta(Value::Array(Documented::values(&patch.instructions)))
        .comment(patch.comment.clone())
        .approval_request(origin.request_id()))
}

/// What a flag change did, in words (without the bypass note): the instruction kinds as sent,
/// the flag, the environment, and the approval request it applies.
fn patch_description(
    instructions: &[Value],
    flag_key: &str,
    env_key: Option<&str>,
    origin: ChangeOrigin<'_>,
) -> String {
    let kinds: Vec<&str> = instructions
        .iter()
        .filter_map(|v| v.get("kind").and_then(Value::as_str))
        .collect();
    let mut description = match env_key {
        Some(env) => format!("{} on flag {flag_key} in {env}", kinds.join(", ")),
        None => format!("{} on flag {flag_key}", kinds.join(", ")),
    };
    if let ChangeOrigin::ApprovalRequest { id, .. } = origin {
        description.push_str(&format!(" (approval request {id})"));
    }
    description
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::flag::FlagKind;

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

    fn env(key: &str) -> entity::environment::Model {
        entity::environment::Model {
            id: format!("e-{key}"),
            project_id: "p1".into(),
            key: key.into(),
            name: key.into(),
            tags: "[]".into(),
            critical: false,
            approval_settings: "{}".into(),
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// A boolean flag at version 3 with a state at version 5 in each of `env_keys`.
    fn loaded(env_keys: &[&str]) -> Loaded {
        let mut settings = FlagSettings {
            key: "checkout".into(),
            name: "Checkout".into(),
            description: String::new(),
            kind: FlagKind::Boolean,
            variations: Vec::new(),
            tags: Vec::new(),
            temporary: false,
            maintainer_id: None,
            archived: false,
        };
        settings.normalize();
        let envs = env_keys
            .iter()
            .map(|k| {
                let state = FlagEnvironmentState::initial(&settings, "salt".into());
                let row = entity::flag_state::Model {
                    id: format!("s-{k}"),
                    flag_id: "f1".into(),
                    environment_id: format!("e-{k}"),
                    state: to_json(&state).unwrap(),
                    version: 5,
                    updated_at: 0,
                };
                (env(k), row, state)
            })
            .collect();
        Loaded {
            project: project(),
            flag: entity::flag::Model {
                id: "f1".into(),
                project_id: "p1".into(),
                key: "checkout".into(),
                settings: to_json(&settings).unwrap(),
                archived: false,
                version: 3,
                created_at: 0,
                updated_at: 0,
            },
            settings,
            envs,
        }
    }

    fn applied(loaded: &Loaded, env_index: Option<usize>, instructions: Value) -> Applied {
        let Value::Array(values) = instructions else {
            panic!("instructions are an array");
        };
        let instructions = parse_instructions(&values).unwrap();
        apply_instructions(loaded, env_index, &instructions).unwrap()
    }

    #[test]
    fn a_patch_needs_instructions_and_names_the_first_bad_one() {
        let err = parse_instructions(&[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "instructions: at least one instruction is needed"
        );
        let values = [json!({"kind": "turnFlagOn"}), json!({"kind": "fly"})];
        let err = parse_instructions(&values).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert!(err.to_string().starts_with("instructions[1]: "), "{err}");
    }

    #[test]
    fn the_description_names_kinds_flag_environment_and_request() {
        let kinds = [
            json!({"kind": "turnFlagOn"}),
            json!({"kind": "addTargets", "variation": 0, "values": ["alice"]}),
        ];
        assert_eq!(
            patch_description(&kinds, "checkout", Some("production"), ChangeOrigin::Direct),
            "turnFlagOn, addTargets on flag checkout in production"
        );
        let rename = [
            json!({"kind": "updateName", "value": "Pay"}),
            json!({"kind": 7}),
        ];
        let origin = ChangeOrigin::ApprovalRequest {
            id: "req-1",
            environment_key: "production",
        };
        assert_eq!(
            patch_description(&rename, "checkout", None, origin),
            "updateName on flag checkout (approval request req-1)"
        );
    }

    #[test]
    fn the_gate_skips_the_approved_environment_and_scopes_only_the_chosen_one() {
        let direct = ChangeOrigin::Direct;
        assert_eq!(
            gate_scope("production", 1, Some(1), true, direct),
            Some(true)
        );
        assert_eq!(gate_scope("staging", 0, Some(1), true, direct), Some(false));
        // Project-wide instructions reach every environment unscoped.
        assert_eq!(
            gate_scope("production", 1, Some(1), false, direct),
            Some(false)
        );
        assert_eq!(
            gate_scope("production", 1, None, false, direct),
            Some(false)
        );
        let approved = ChangeOrigin::ApprovalRequest {
            id: "req-1",
            environment_key: "production",
        };
        assert_eq!(gate_scope("production", 1, Some(1), true, approved), None);
        assert_eq!(
            gate_scope("staging", 0, Some(1), true, approved),
            Some(false)
        );
    }

    #[test]
    fn a_state_change_writes_the_state_and_moves_the_flag_version() {
        let loaded = loaded(&["production", "staging"]);
        let applied = applied(&loaded, Some(1), json!([{"kind": "turnFlagOn"}]));
        let (after, writes) =
            advance_rows(&loaded, Some(1), &applied, 42, DatabaseBackend::Sqlite).unwrap();
        assert_eq!(writes.len(), 2);
        let (_, staging_row, staging_state) = &after.envs[1];
        assert!(staging_state.on);
        assert_eq!(staging_row.version, 6);
        assert_eq!(staging_row.updated_at, 42);
        assert_eq!(staging_row.state, to_json(staging_state).unwrap());
        assert!(
            writes[0].sql.contains("\"flag_state\""),
            "{}",
            writes[0].sql
        );
        // The other environment and the settings stay as they were.
        assert_eq!(after.envs[0].1, loaded.envs[0].1);
        assert_eq!(after.flag.settings, loaded.flag.settings);
        assert_eq!((after.flag.version, after.flag.updated_at), (4, 42));
        assert!(!writes[1].sql.contains("\"settings\""), "{}", writes[1].sql);
    }

    #[test]
    fn a_settings_change_writes_only_the_flag_row() {
        let loaded = loaded(&["production"]);
        let applied = applied(
            &loaded,
            None,
            json!([{"kind": "updateName", "value": "Pay"}, {"kind": "archiveFlag"}]),
        );
        let (after, writes) =
            advance_rows(&loaded, None, &applied, 42, DatabaseBackend::Postgres).unwrap();
        assert_eq!(writes.len(), 1);
        assert!(writes[0].sql.contains("\"settings\""), "{}", writes[0].sql);
        assert!(writes[0].sql.contains("\"archived\""), "{}", writes[0].sql);
        assert_eq!(after.settings.name, "Pay");
        assert!(after.flag.archived);
        assert_eq!(after.flag.settings, to_json(&after.settings).unwrap());
        assert_eq!(after.flag.version, 4);
        assert_eq!(after.envs[0].1, loaded.envs[0].1);
    }
}
