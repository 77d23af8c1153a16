//! Creating a flag: its settings decided from the request alone, then the flag row and an
//! initial (off) state in every environment of the project, audited as one change.

use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;

use super::{Flag, FlagPost, Loaded, flag_resources, project_wide_draft};
use crate::domain::flag::{FlagEnvironmentState, FlagKind, FlagSettings, Variation};
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::documented::Documented;
use crate::service::projects::{self, dup};
use crate::service::spelled::Spelled;
use crate::service::util::{new_id, snapshot, to_json};
use crate::service::{Ctx, Service, WriteTx, environments};

impl Service {
    /// Creates a flag with its initial (off) state in every environment of the project.
    pub async fn create_flag(&self, ctx: &Ctx, project_key: &str, input: FlagPost) -> Result<Flag> {
        let settings = new_flag_settings(&input)?;
        let mut tx = self.begin_write(ctx).await?;
        let project = projects::find(tx.db(), project_key).await?;
        let envs = environments::all(tx.db(), &project).await?;
        let resources = flag_resources(&project, &envs, &settings.key, &settings.tags)?;
        for r in &resources {
            authorize(&ctx.principal, "createFlag", r)?;
        }
        let loaded = insert_flag(&tx, project, envs, settings, &input.key).await?;
        let rep = loaded.rep()?;
        tx.audit(
            project_wide_draft(&loaded.project, &rep.name, "createFlag", &resources)?
                .describe(format!(
                    "created flag {} in project {}",
                    rep.key, project_key
                ))
                .after(Some(snapshot(&rep)?))
                .comment(input.comment),
        );
        tx.commit().await?;
        Ok(rep)
    }
}

/// The settings of a new flag, from the request alone: defaults filled in, then validated.
fn new_flag_settings(input: &FlagPost) -> Result<FlagSettings> {
    let mut settings = FlagSettings {
        key: input.key.to_string(),
        name: input.name.to_string(),
        description: input.description.clone(),
        kind: parse_kind(input.kind.as_deref())?,
        variations: parse_variations(&Documented::values(&input.variations))?,
        tags: Spelled::texts(&input.tags),
        temporary: input.temporary,
        maintainer_id: input.maintainer_id.clone(),
        archived: false,
    };
    settings.normalize();
    settings
        .validate()
        .map_err(|e| Error::invalid(e.to_string()))?;
    Ok(settings)
}

/// A flag kind as the API names it; a flag is boolean unless it says otherwise.
fn parse_kind(kind: Option<&str>) -> Result<FlagKind> {
    match kind {
        None | Some("boolean") => Ok(FlagKind::Boolean),
        Some("multivariate") => Ok(FlagKind::Multivariate),
        Some(other) => Err(Error::invalid(format!(
            "kind: {other:?} is not boolean or multivariate"
        ))),
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

/// Inserts the flag row and its initial state in each environment; returns them as loaded.
/// `key` is the key as requested, for the duplicate-key message.
async fn insert_flag(
    tx: &WriteTx<'_>,
    project: entity::project::Model,
    envs: Vec<entity::environment::Model>,
    settings: FlagSettings,
    key: &str,
) -> Result<Loaded> {
    let now = tx.now_ms();
    let flag = entity::flag::ActiveModel {
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
    .map_err(|e| dup(e, key))?;
    let mut states = Vec::with_capacity(envs.len());
    for env in envs {
        let state = FlagEnvironmentState::initial(&settings, new_id());
        let row = entity::flag_state::ActiveModel {
            id: Set(new_id()),
            flag_id: Set(flag.id.clone()),
            environment_id: Set(env.id.clone()),
            state: Set(to_json(&state)?),
            version: Set(1),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await?;
        states.push((env, row, state));
    }
    Ok(Loaded {
        project,
        flag,
        settings,
        envs: states,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn post(kind: Option<&str>, variations: Vec<Value>, tags: &[&str]) -> FlagPost {
        FlagPost {
            key: "new-checkout".into(),
            name: "New checkout".into(),
            description: String::new(),
            kind: kind.map(Spelled::new),
            variations: variations.into_iter().map(Documented::new).collect(),
            tags: tags.iter().map(|t| Spelled::new(*t)).collect(),
            temporary: false,
            maintainer_id: None,
            comment: None,
        }
    }

    #[test]
    fn a_flag_is_boolean_unless_it_says_otherwise() {
        assert_eq!(parse_kind(None).unwrap(), FlagKind::Boolean);
        assert_eq!(parse_kind(Some("boolean")).unwrap(), FlagKind::Boolean);
        assert_eq!(
            parse_kind(Some("multivariate")).unwrap(),
            FlagKind::Multivariate
        );
        let err = parse_kind(Some("Boolean")).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert_eq!(
            err.to_string(),
            r#"kind: "Boolean" is not boolean or multivariate"#
        );
    }

    #[test]
    fn a_new_boolean_flag_gets_true_and_false_and_sorted_tags() {
        let settings = new_flag_settings(&post(None, vec![], &["web", "beta", "web"])).unwrap();
        assert_eq!(settings.kind, FlagKind::Boolean);
        let values: Vec<&Value> = settings.variations.iter().map(|v| &v.value).collect();
        assert_eq!(values, [&json!(true), &json!(false)]);
        assert_eq!(settings.tags, ["beta", "web"]);
        assert!(!settings.archived);
    }

    #[test]
    fn a_new_multivariate_flag_keeps_its_variations() {
        let variations = vec![
            json!({"value": "red"}),
            json!({"value": "blue", "name": "Blue"}),
        ];
        let settings = new_flag_settings(&post(Some("multivariate"), variations, &[])).unwrap();
        assert_eq!(settings.variations.len(), 2);
        assert_eq!(settings.variations[1].name.as_deref(), Some("Blue"));
    }

    #[test]
    fn a_bad_variation_is_named_by_its_index() {
        let variations = vec![json!({"value": 1}), json!({"name": "no value"})];
        let err = new_flag_settings(&post(Some("multivariate"), variations, &[])).unwrap_err();
        assert!(err.to_string().starts_with("variations[1]: "), "{err}");
    }

    #[test]
    fn an_invalid_flag_is_refused_before_any_write() {
        let mut input = post(None, vec![], &[]);
        input.key = "not a key".into();
        let err = new_flag_settings(&input).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)));
        assert!(err.to_string().starts_with("key: "), "{err}");
    }
}
