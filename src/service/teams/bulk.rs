//! `PATCH /api/v2/teams` and `POST /api/v2/teams/{teamKey}/members`: many members added to
//! teams at once (LaunchDarkly's `addMembersToTeams` and `addAllMembersToTeams`). All of a
//! request's additions happen in one write transaction, with one audit entry per member that
//! joined a team, or none happen. Teams synced from an identity provider refuse them (403):
//! their members change only there. Members already on a team stay as they are.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use poem_openapi::Object;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::Type;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryTrait, Statement};
use serde::Deserialize;
use serde_json::Value;

use super::find;
use crate::domain::directory_query::FILTER_ROLES;
use crate::domain::grant_source::GrantSource;
use crate::domain::policy::Resource;
use crate::error::{Error, Result};
use crate::service::authz::authorize;
use crate::service::documented::{
    Documented, InstructionKinds, InstructionUnion, KindDoc, ParamDoc,
};
use crate::service::member_rows::{member_rows, team_keys_of};
use crate::service::members::{
    FilterFields, Member, Selection, aliased_list, last_seen_schema, listed, matching_member_ids,
    member_filter, query_schema, rep_with_teams, within,
};
use crate::service::spelled::KEY_PATTERN;
use crate::service::team_members;
use crate::service::util::{parse_instructions, snapshot, validate_key};
use crate::service::{AuditDraft, Ctx, Service, WriteTx};

/// One bulk instruction on teams, as sent (LaunchDarkly's kinds and field names).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum TeamsInstruction {
    #[serde(rename_all = "camelCase")]
    AddMembersToTeams {
        #[serde(rename = "memberIDs")]
        member_ids: Vec<String>,
        team_keys: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    AddAllMembersToTeams {
        team_keys: Vec<String>,
        filter_last_seen: Option<Value>,
        filter_query: Option<String>,
        filter_roles: Option<Vec<String>>,
        filter_team_keys: Option<Vec<String>>,
        #[serde(rename = "ignoredMemberIDs")]
        ignored_member_ids: Option<Vec<String>>,
    },
}

/// The bulk team instruction kinds as the document shows them; `TeamsInstruction` parses
/// them, and a test holds the two together.
pub struct TeamsKinds;

const MEMBER_IDS: ParamDoc = ("memberIDs", Vec::<String>::schema_ref, true);
const TEAM_KEYS: ParamDoc = ("teamKeys", team_keys, true);

/// Team keys.
fn team_keys() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        items: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(KEY_PATTERN.to_owned()),
            max_length: Some(128),
            ..MetaSchema::new("string")
        })))),
        ..MetaSchema::new("array")
    }))
}

/// Base roles, as the member list's `role` filter takes them (`admin` includes the owner).
fn filter_roles() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        items: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema {
            enum_items: FILTER_ROLES.into_iter().map(Value::from).collect(),
            ..MetaSchema::new("string")
        })))),
        ..MetaSchema::new("array")
    }))
}

const TEAMS_KINDS: &[KindDoc] = &[
    KindDoc {
        kind: "addMembersToTeams",
        description: "Add the listed members to each of the teams.",
        params: &[MEMBER_IDS, TEAM_KEYS],
    },
    KindDoc {
        kind: "addAllMembersToTeams",
        description: "Add every member the filters match (all when none is given), except `ignoredMemberIDs`, to each of the teams. `filterRoles` and `filterTeamKeys` take any of their values.",
        params: &[
            TEAM_KEYS,
            ("filterLastSeen", last_seen_schema, false),
            ("filterQuery", query_schema, false),
            ("filterRoles", filter_roles, false),
            ("filterTeamKeys", team_keys, false),
            ("ignoredMemberIDs", Vec::<String>::schema_ref, false),
        ],
    },
];

impl InstructionKinds for TeamsKinds {
    const NAME: &'static str = "TeamsInstruction";
    const DESCRIPTION: &'static str =
        "A bulk instruction on teams: `kind` names it, the other fields are its parameters.";
    const GROUPS: &'static [(&'static str, &'static [KindDoc])] =
        &[("TeamsInstruction", TEAMS_KINDS)];
}

/// Body of `PATCH /api/v2/teams`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamsPatch {
    /// `[{"kind": "addMembersToTeams", "memberIDs": [id], "teamKeys": [key]}, ...]`, applied
    /// in order, all or none.
    #[oai(validator(min_items = 1))]
    pub instructions: Vec<Documented<InstructionUnion<TeamsKinds>>>,
    /// Recorded on every audit entry of the change.
    pub comment: Option<String>,
}

/// Body of `POST /api/v2/teams/{teamKey}/members`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamMembersPost {
    /// Ids of the members to add.
    pub member_ids: Option<Vec<String>>,
    /// LaunchDarkly's name for `memberIds`. Giving both with different values is a 400.
    #[oai(rename = "memberIDs")]
    pub ld_member_ids: Option<Vec<String>>,
    /// Recorded on every audit entry of the change.
    pub comment: Option<String>,
}

/// Answer of the bulk team changes (LaunchDarkly's shape): who joined, and where.
#[derive(Debug, Clone, Default, Object)]
#[oai(rename_all = "camelCase")]
pub struct TeamsChanged {
    /// Ids of the members added to at least one team, sorted.
    #[oai(rename = "memberIDs")]
    pub member_ids: Vec<String>,
    /// Keys of the teams that gained members, sorted.
    pub team_keys: Vec<String>,
}

/// An addition whose values are well-formed, with the names its errors use.
#[derive(Debug, Clone, PartialEq)]
struct Planned {
    teams_field: String,
    team_keys: Vec<String>,
    members_field: String,
    selection: Selection,
}

/// Checks an instruction's team keys and filters.
fn plan(field: &str, instruction: TeamsInstruction) -> Result<Planned> {
    let (team_keys, selection) = match instruction {
        TeamsInstruction::AddMembersToTeams {
            member_ids,
            team_keys,
        } => (team_keys, listed(member_ids)),
        TeamsInstruction::AddAllMembersToTeams {
            team_keys,
            filter_last_seen,
            filter_query,
            filter_roles,
            filter_team_keys,
            ignored_member_ids,
        } => {
            let fields = FilterFields {
                last_seen: filter_last_seen,
                query: filter_query,
                roles: filter_roles,
                team_keys: filter_team_keys,
            };
            let selection = Selection::Matching {
                filter: member_filter(field, fields)?,
                ignored: ignored_member_ids.unwrap_or_default(),
            };
            (team_keys, selection)
        }
    };
    let teams_field = format!("{field}.teamKeys");
    Ok(Planned {
        team_keys: sorted_keys(&teams_field, team_keys)?,
        teams_field,
        members_field: format!("{field}.memberIDs"),
        selection,
    })
}

/// Keys, each valid, sorted, each once.
fn sorted_keys(field: &str, keys: Vec<String>) -> Result<Vec<String>> {
    for (i, key) in keys.iter().enumerate() {
        validate_key(&format!("{field}[{i}]"), key)?;
    }
    let mut keys = keys;
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// A team some instruction adds to: its row, its members as they will be, who joins.
struct StagedTeam {
    row: entity::team::Model,
    members: HashSet<String>,
    added: Vec<String>,
}

impl Service {
    /// Applies bulk team instructions in order, in one transaction.
    pub async fn patch_teams(&self, ctx: &Ctx, patch: TeamsPatch) -> Result<TeamsChanged> {
        let instructions: Vec<TeamsInstruction> =
            parse_instructions(&Documented::values(&patch.instructions))?;
        let planned = instructions
            .into_iter()
            .enumerate()
            .map(|(i, instruction)| plan(&format!("instructions[{i}]"), instruction))
            .collect::<Result<Vec<_>>>()?;
        self.add_to_teams(ctx, planned, patch.comment).await
    }

    /// Adds members to one team; LaunchDarkly's `memberIDs` stands for `memberIds`.
    pub async fn add_team_members(
        &self,
        ctx: &Ctx,
        key: &str,
        body: TeamMembersPost,
    ) -> Result<TeamsChanged> {
        let (members_field, ids) = aliased_list(
            ("memberIds", body.member_ids),
            ("memberIDs", body.ld_member_ids),
        )?;
        let planned = Planned {
            teams_field: "teamKey".to_owned(),
            team_keys: vec![key.to_owned()],
            members_field: members_field.to_owned(),
            selection: listed(ids),
        };
        self.add_to_teams(ctx, vec![planned], body.comment).await
    }

    /// Stages every addition against the teams' members as they stand (and as earlier
    /// additions leave them), then writes them with one audit entry per member that joined.
    async fn add_to_teams(
        &self,
        ctx: &Ctx,
        planned: Vec<Planned>,
        comment: Option<String>,
    ) -> Result<TeamsChanged> {
        let mut tx = self.begin_write(ctx).await?;
        let mut teams: BTreeMap<String, StagedTeam> = BTreeMap::new();
        // Member id -> keys of the teams it joins.
        let mut joined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for planned in planned {
            stage_addition(&tx, &planned, &mut teams, &mut joined).await?;
        }
        let answer = TeamsChanged {
            member_ids: joined.keys().cloned().collect(),
            team_keys: teams
                .values()
                .filter(|t| !t.added.is_empty())
                .map(|t| t.row.key.clone())
                .collect(),
        };
        if joined.is_empty() {
            // Everyone is on the teams already: no write, no entry.
            return Ok(answer);
        }
        let before = members_before(&tx, &answer.member_ids).await?;
        let source = ctx.principal.grant_source();
        let mut writes = Vec::new();
        for team in teams.values().filter(|t| !t.added.is_empty()) {
            writes.extend(membership_adds(tx.backend(), team, &source, tx.now_ms()));
        }
        let mut drafts = before
            .iter()
            .map(|member| {
                let keys = joined.get(&member.id).cloned().unwrap_or_default();
                join_audit(member, &keys, comment.clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let last = drafts
            .pop()
            .ok_or_else(|| Error::internal("a change without an entry"))?;
        for draft in drafts {
            tx.audit(draft);
        }
        tx.write_audited(writes, last).await?;
        tx.commit().await?;
        Ok(answer)
    }
}

/// Checks and authorizes one addition, and stages who joins which team.
async fn stage_addition(
    tx: &WriteTx<'_>,
    planned: &Planned,
    teams: &mut BTreeMap<String, StagedTeam>,
    joined: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<()> {
    for key in &planned.team_keys {
        if !teams.contains_key(key) {
            let team = stage_team(tx, &planned.teams_field, key).await?;
            teams.insert(key.clone(), team);
        }
    }
    let ids = match &planned.selection {
        Selection::Listed(ids) => {
            check_members_exist(tx, &planned.members_field, ids).await?;
            ids.clone()
        }
        // The owner may join teams: membership never lowers its access.
        Selection::Matching { filter, ignored } => {
            matching_member_ids(tx.db(), filter, ignored, true).await?
        }
    };
    for key in &planned.team_keys {
        let Some(team) = teams.get_mut(key) else {
            continue;
        };
        for id in &ids {
            if team.members.insert(id.clone()) {
                team.added.push(id.clone());
                joined.entry(id.clone()).or_default().insert(key.clone());
            }
        }
    }
    Ok(())
}

/// A team an addition names: it exists, is managed here, and the caller may change its
/// members.
async fn stage_team(tx: &WriteTx<'_>, field: &str, key: &str) -> Result<StagedTeam> {
    let row = find(tx.db(), key).await.map_err(|e| within(field, e))?;
    if row.idp_synced {
        return Err(Error::forbidden(format!(
            "{field}: team {key} is managed by identity provider: its members change only there"
        )));
    }
    authorize(
        &tx.ctx().principal,
        "updateTeamMembers",
        &Resource::team(&row.key),
    )
    .map_err(|e| within(field, e))?;
    let members = team_members::ids_of(tx.db(), &row.id)
        .await?
        .into_iter()
        .collect();
    Ok(StagedTeam {
        row,
        members,
        added: Vec::new(),
    })
}

/// Every listed id names a member; the first that does not is a 404.
async fn check_members_exist(tx: &WriteTx<'_>, field: &str, ids: &[String]) -> Result<()> {
    let found: HashSet<String> = member_rows(tx.db(), ids)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    match ids.iter().find(|id| !found.contains(*id)) {
        Some(unknown) => Err(Error::NotFound(format!(
            "{field}: unknown member {unknown:?}"
        ))),
        None => Ok(()),
    }
}

/// The members as the API shows them before the change, sorted by id.
async fn members_before(tx: &WriteTx<'_>, ids: &[String]) -> Result<Vec<Member>> {
    let mut teams = team_keys_of(tx.db(), ids).await?;
    let mut members = member_rows(tx.db(), ids)
        .await?
        .iter()
        .map(|row| rep_with_teams(row, teams.remove(&row.id).unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    members.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(members)
}

/// The statements that add a team's new members (none of them members yet) and move the
/// team to its next version, as its membership is part of what the version covers.
fn membership_adds(
    backend: DatabaseBackend,
    team: &StagedTeam,
    source: &GrantSource,
    now: i64,
) -> Vec<Statement> {
    let mut statements = team_members::add(backend, &team.row.id, &team.added, source);
    statements.push(
        entity::team::Entity::update_many()
            .col_expr(
                entity::team::Column::Version,
                Expr::col(entity::team::Column::Version).add(1),
            )
            .col_expr(entity::team::Column::UpdatedAt, Expr::value(now))
            .filter(entity::team::Column::Id.eq(team.row.id.clone()))
            .build(backend),
    );
    statements
}

/// The audit entry of a member that joined teams: `updateTeamMembers` on each, the member
/// before and after.
fn join_audit(
    before: &Member,
    keys: &BTreeSet<String>,
    comment: Option<String>,
) -> Result<AuditDraft> {
    let res = Resource::member(&before.id);
    let mut after = before.clone();
    after.teams.extend(keys.iter().cloned());
    after.teams.sort();
    after.teams.dedup();
    let mut draft = AuditDraft::new("member", &before.email, "updateTeamMembers", &res);
    draft.accesses.clear();
    for key in keys {
        draft = draft.access("updateTeamMembers", &Resource::team(key));
    }
    let list: Vec<&str> = keys.iter().map(String::as_str).collect();
    Ok(draft
        .describe(format!(
            "added member {} to team(s) {}",
            before.email,
            list.join(", ")
        ))
        .before(Some(snapshot(before)?))
        .after(Some(snapshot(&after)?))
        .comment(comment))
}

#[cfg(test)]
mod tests {
    use poem_openapi::registry::Registry;
    use serde_json::json;

    use super::*;

    fn planned(value: Value) -> Result<Planned> {
        let instruction: TeamsInstruction = serde_json::from_value(value).unwrap();
        plan("instructions[0]", instruction)
    }

    #[test]
    fn every_bulk_team_kind_is_documented_and_parses_from_the_document() {
        let mut registry = Registry::new();
        InstructionUnion::<TeamsKinds>::register(&mut registry);
        crate::service::documented::testing::check_kinds::<TeamsInstruction>(
            &registry,
            TEAMS_KINDS,
        );
    }

    #[test]
    fn team_keys_are_checked_sorted_and_named() {
        let p = planned(json!({"kind": "addMembersToTeams", "memberIDs": ["m2", "m1"], "teamKeys": ["ops", "eng", "ops"]}))
            .unwrap();
        assert_eq!(p.team_keys, ["eng", "ops"]);
        assert_eq!(
            p.selection,
            Selection::Listed(vec!["m1".into(), "m2".into()])
        );
        assert_eq!(p.members_field, "instructions[0].memberIDs");
        let err = planned(
            json!({"kind": "addMembersToTeams", "memberIDs": [], "teamKeys": ["ok", "no way"]}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("instructions[0].teamKeys[1]: \"no way\""),
            "{err}"
        );
        let err = planned(
            json!({"kind": "addAllMembersToTeams", "teamKeys": ["eng"], "filterRoles": ["chief"]}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("instructions[0].filterRoles[0]"),
            "{err}"
        );
    }
}
