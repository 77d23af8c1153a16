//! SCIM Groups: teams synced from the connection's IdP. A pushed group creates a team, or
//! adopts an existing one that no IdP owns yet, under the key the connection's mapping rules
//! give it (else a key derived from `displayName`). The IdP then owns the team's name and
//! membership; its role bindings stay Gatehouse's (REST keeps them editable).
//!
//! A membership change costs what the change costs, not what the group weighs: the request's
//! member operations fold into one delta (`domain::scim::membership`), the store is asked only
//! about the ids the request names (unless it replaces or filters the whole list), and only
//! the rows that change are written, with the team's member count, its version and the audit
//! entry in one round trip. The audit entry lists who was added and removed and the member
//! count before and after, never the member list. A PATCH answers 204 unless the request asks
//! for attributes, and nothing loads members that the response will not hold.

use std::collections::HashSet;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Statement,
};
use serde_json::{Map, Value, json};

use super::query::Kind;
use super::users::Operation;
use super::{
    ListPage, ListRequest, Outcome, ScimCtx, check_if_match, etag, index_rewrites, timestamp,
};
use crate::domain::grant_source::GrantSource;
use crate::domain::mapping::{IdpGroup, team_for_group, team_key_from_display_name};
use crate::domain::policy::Resource;
use crate::domain::scim::error::{ScimError, ScimResult};
use crate::domain::scim::membership::{
    MembershipChange, MembershipDelta, fold, needs_whole_membership,
};
use crate::domain::scim::patch::{MemberChange, apply, member_ids, parse_patch, split_member_ops};
use crate::domain::scim::resource::{Projection, canonicalize, index_values};
use crate::domain::scim::schema::{GROUP, GROUP_URN};
use crate::service::authz::authorize_draft;
use crate::service::connections::mapping_rules;
use crate::service::team_members;
use crate::service::util::{new_id, validate_key, validate_name, values_per_statement};
use crate::service::{AuditDraft, Service, WriteTx};

use entity::team::{ActiveModel, Column, Entity, Model};

/// Most member values one request may name.
pub const MAX_MEMBER_VALUES: usize = 100_000;

fn visible(sc: &ScimCtx) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::ConnectionKey.eq(sc.key()))
        .add(Column::IdpSynced.eq(true))
}

async fn find_visible(db: &impl ConnectionTrait, sc: &ScimCtx, id: &str) -> ScimResult<Model> {
    Entity::find_by_id(id.to_owned())
        .filter(visible(sc))
        .one(db)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("Group {id:?} not found")))
}

/// Members of teams (their ids), in one query.
async fn members_of(
    db: &impl ConnectionTrait,
    team_ids: &[String],
) -> ScimResult<std::collections::HashMap<String, Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    if team_ids.is_empty() {
        return Ok(out);
    }
    let links: Vec<(String, String)> = entity::team_member::Entity::find()
        .select_only()
        .column(entity::team_member::Column::TeamId)
        .column(entity::team_member::Column::MemberId)
        .filter(entity::team_member::Column::TeamId.is_in(team_ids.to_vec()))
        .into_tuple()
        .all(db)
        .await?;
    for (team, member) in links {
        out.entry(team).or_default().push(member);
    }
    for list in out.values_mut() {
        list.sort();
    }
    Ok(out)
}

/// The Group resource of a team; `members` is None when the response leaves them out.
fn render(base: &str, t: &Model, members: Option<&[String]>) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP_URN]));
    out.insert("id".into(), json!(t.id));
    if let Some(x) = &t.external_id {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("displayName".into(), json!(t.name));
    if let Some(members) = members {
        let list: Vec<Value> = members
            .iter()
            .map(|id| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"}))
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": timestamp(t.created_at),
            "lastModified": timestamp(t.updated_at),
            "location": format!("{base}/Groups/{}", t.id),
            "version": etag(t.version),
        }),
    );
    Value::Object(out)
}

/// A team's audit snapshot: the team with its member count, never its (possibly huge)
/// member list, which the entry's delta lists as changes instead.
fn audit_snapshot(t: &Model, member_count: i64) -> Value {
    let roles: Value = serde_json::from_str(&t.custom_roles).unwrap_or(Value::Null);
    let attrs: Value = serde_json::from_str(&t.role_attributes).unwrap_or(Value::Null);
    json!({
        "id": t.id, "key": t.key, "name": t.name, "description": t.description,
        "customRoles": roles, "roleAttributes": attrs, "idpSynced": t.idp_synced,
        "connectionKey": t.connection_key, "externalId": t.external_id,
        "memberCount": member_count, "version": t.version,
    })
}

/// What the store says about the ids a request names: which of them are members of the team
/// already, and which exist as users this connection may add. One query per chunk of ids.
#[derive(Debug, Default)]
struct Probe {
    present: HashSet<String>,
    addable: HashSet<String>,
}

async fn probe(
    db: &impl ConnectionTrait,
    sc: &ScimCtx,
    team_id: &str,
    ids: &[&String],
) -> ScimResult<Probe> {
    use entity::member::{Column as M, Entity as Members};
    use entity::team_member::{Column as TM, Entity as TeamMembers};
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let mut out = Probe::default();
    for chunk in ids.chunks(values_per_statement(db.get_database_backend(), 1)) {
        let in_team = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(TeamMembers)
                .and_where(Expr::col((TeamMembers, TM::TeamId)).eq(team_id))
                .and_where(Expr::col((TeamMembers, TM::MemberId)).equals((Members, M::Id)))
                .to_owned(),
        );
        let rows: Vec<(String, Option<String>, Option<i64>, bool)> = Members::find()
            .select_only()
            .column(M::Id)
            .column(M::ConnectionKey)
            .column(M::ScimDeletedAt)
            .expr(in_team)
            .filter(M::Id.is_in(chunk.iter().map(|s| (*s).clone())))
            .into_tuple()
            .all(db)
            .await?;
        for (id, connection, deleted, present) in rows {
            let visible = deleted.is_none() && connection.as_deref().is_none_or(|c| c == sc.key());
            if visible {
                out.addable.insert(id.clone());
            }
            if present {
                out.present.insert(id);
            }
        }
    }
    Ok(out)
}

/// Refuses adds of ids that are not users this connection may add; the error names the
/// first.
fn check_addable(ids: &[String], probe: &Probe) -> ScimResult<()> {
    match ids
        .iter()
        .find(|id| !probe.present.contains(*id) && !probe.addable.contains(*id))
    {
        Some(missing) => Err(ScimError::invalid_value(format!(
            "members: unknown User {missing:?}"
        ))),
        None => Ok(()),
    }
}

/// The rows a delta touches, asking the store only what the delta needs.
async fn resolve(
    db: &impl ConnectionTrait,
    sc: &ScimCtx,
    team_id: &str,
    delta: &MembershipDelta,
    stored: Option<Vec<String>>,
) -> ScimResult<MembershipChange> {
    let (present, probe) = match stored {
        Some(stored) if delta.reset => {
            let stored: HashSet<String> = stored.into_iter().collect();
            let new: Vec<&String> = delta
                .add
                .iter()
                .filter(|id| !stored.contains(*id))
                .collect();
            (stored, probe(db, sc, team_id, &new).await?)
        }
        _ => {
            let named: Vec<&String> = delta.named().collect();
            let p = probe(db, sc, team_id, &named).await?;
            (p.present.clone(), p)
        }
    };
    let change = delta.resolve(&present);
    check_addable(&change.added, &probe)?;
    Ok(change)
}

/// The members a request names for a new group, sorted and checked.
fn named_members(doc: &Map<String, Value>) -> ScimResult<Vec<String>> {
    let mut members = member_ids(doc.get("members").unwrap_or(&Value::Null), "members")?;
    if members.len() > MAX_MEMBER_VALUES {
        return Err(ScimError::too_many(format!(
            "at most {MAX_MEMBER_VALUES} members per request"
        )));
    }
    members.sort();
    members.dedup();
    Ok(members)
}

/// The validated `displayName` and `externalId` of a group document.
fn name_and_external_id(doc: &Map<String, Value>) -> ScimResult<(String, Option<String>)> {
    let name = doc
        .get("displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let name =
        validate_name("displayName", name).map_err(|e| ScimError::invalid_value(e.to_string()))?;
    let external_id = doc
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((name, external_id))
}

impl Service {
    pub async fn scim_list_groups(&self, sc: &ScimCtx, req: &ListRequest) -> ScimResult<ListPage> {
        let (rows, total) = super::page_of(
            self.db(),
            Kind::Group,
            Entity::find().filter(visible(sc)),
            req,
        )
        .await?;
        let members = if req.projection.includes("members") && !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
            Some(members_of(self.db(), &ids).await?)
        } else {
            None
        };
        let base = self.scim_base();
        let resources = rows
            .iter()
            .map(|t| {
                let list = members
                    .as_ref()
                    .map(|m| m.get(&t.id).map(Vec::as_slice).unwrap_or(&[]));
                req.projection.apply(&GROUP, render(&base, t, list))
            })
            .collect();
        Ok(ListPage {
            total,
            start_index: req.start_index.max(1),
            resources,
        })
    }

    /// One group as `projection` asks for it; members are loaded only if it holds them.
    pub async fn scim_get_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let t = find_visible(self.db(), sc, id).await?;
        self.render_group(&t, projection).await
    }

    async fn render_group(&self, t: &Model, projection: &Projection) -> ScimResult<Value> {
        let members = if projection.includes("members") {
            Some(team_members::ids_of(self.db(), &t.id).await?)
        } else {
            None
        };
        Ok(projection.apply(&GROUP, render(&self.scim_base(), t, members.as_deref())))
    }

    /// `POST /Groups`.
    pub async fn scim_create_group(
        &self,
        sc: &ScimCtx,
        body: &Value,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let doc = canonicalize(&GROUP, body)?;
        let (name, external_id) = name_and_external_id(&doc)?;
        let members = named_members(&doc)?;
        let rules = mapping_rules(&sc.connection).map_err(ScimError::from)?;
        let group = IdpGroup {
            id: external_id.clone(),
            name: name.clone(),
        };
        let key =
            team_for_group(&rules, &group).unwrap_or_else(|| team_key_from_display_name(&name));
        validate_key("team key", &key).map_err(|e| ScimError::invalid_value(e.to_string()))?;
        let mut tx = self.begin_write(&sc.ctx).await?;
        let outcome = self
            .create_group_in(&mut tx, sc, &key, name, external_id, members)
            .await;
        let id = self
            .finish_write(sc, tx, outcome)
            .await?
            .unwrap_or_default();
        self.scim_get_group(sc, &id, projection).await
    }

    async fn create_group_in(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        key: &str,
        name: String,
        external_id: Option<String>,
        members: Vec<String>,
    ) -> Outcome<Option<String>> {
        let existing = Entity::find()
            .filter(Column::Key.eq(key))
            .one(tx.db())
            .await?;
        check_adoptable(existing.as_ref(), key, sc.key())?;
        let now = tx.now_ms();
        let delta = MembershipDelta {
            reset: true,
            add: members.clone(),
            remove: Vec::new(),
        };
        let landing = match existing {
            Some(t) => adopt_team(tx.db(), sc, t, name, external_id, now, &delta).await?,
            None => new_team(tx.db(), sc, key, name, external_id, now, &delta).await?,
        };
        let writes = landing_writes(tx.backend(), &landing);
        let draft = group_create_draft(sc.key(), key, &landing, members.len());
        authorize_draft(&sc.ctx.principal, &draft)?;
        if landing.before.is_none() {
            // A new team's rows: all inserts of rows nobody else writes.
            tx.write_audited_disjoint(writes, draft).await?;
        } else {
            tx.write_audited(writes, draft).await?;
        }
        Ok(Some(landing.team.id))
    }

    /// `PUT /Groups/{id}`: name, externalId and the whole membership.
    pub async fn scim_replace_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let doc = canonicalize(&GROUP, body)?;
        let members = member_ids(doc.get("members").unwrap_or(&Value::Null), "members")?;
        if members.len() > MAX_MEMBER_VALUES {
            return Err(ScimError::too_many(format!(
                "at most {MAX_MEMBER_VALUES} members per request"
            )));
        }
        let mut tx = self.begin_write(&sc.ctx).await?;
        let t = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, t.version)?;
        let outcome = self
            .update_group_in(
                &mut tx,
                sc,
                &t,
                doc,
                vec![MemberChange::Replace(members)],
                Operation::Put,
            )
            .await;
        self.finish_write(sc, tx, outcome).await?;
        self.scim_get_group(sc, id, projection).await
    }

    /// `PATCH /Groups/{id}`. Answers with the group only when the request asks for
    /// attributes (`Some(projection)`); else nothing is rendered or loaded for the answer.
    pub async fn scim_patch_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        answer: Option<&Projection>,
    ) -> ScimResult<Option<Value>> {
        let ops = parse_patch(body)?;
        let (rest, changes) = split_member_ops(&GROUP, ops)?;
        let named: usize = changes
            .iter()
            .map(|c| match c {
                MemberChange::Add(v) | MemberChange::Remove(v) | MemberChange::Replace(v) => {
                    v.len()
                }
                _ => 0,
            })
            .sum();
        if named > MAX_MEMBER_VALUES {
            return Err(ScimError::too_many(format!(
                "at most {MAX_MEMBER_VALUES} member values per request"
            )));
        }
        let mut tx = self.begin_write(&sc.ctx).await?;
        let t = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, t.version)?;
        let doc = apply(&GROUP, &group_doc(&t), &t.id, &rest)?;
        let outcome = self
            .update_group_in(&mut tx, sc, &t, doc, changes, Operation::Patch)
            .await;
        let updated = self.finish_write(sc, tx, outcome).await?;
        match answer {
            None => Ok(None),
            Some(projection) => {
                let t = match updated {
                    Some(t) => t,
                    None => t,
                };
                self.render_group(&t, projection).await.map(Some)
            }
        }
    }

    /// Applies a new document and membership changes to a synced team; `None` when nothing
    /// changes (then nothing is written or audited).
    async fn update_group_in(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        t: &Model,
        doc: Map<String, Value>,
        changes: Vec<MemberChange>,
        op: Operation,
    ) -> Outcome<Option<Model>> {
        let (name, external_id) = name_and_external_id(&doc)?;
        let stored = if needs_whole_membership(&changes) {
            Some(team_members::ids_of(tx.db(), &t.id).await?)
        } else {
            None
        };
        let delta = fold(&changes, stored.as_deref())?;
        let change = resolve(tx.db(), sc, &t.id, &delta, stored).await?;
        let renamed = name != t.name;
        let external_changed = external_id != t.external_id;
        if change.is_empty() && !renamed && !external_changed {
            return Ok(None);
        }
        let backend = tx.backend();
        let updated = Model {
            name,
            external_id,
            version: t.version + 1,
            updated_at: tx.now_ms(),
            member_count: change.count_after(t.member_count),
            ..t.clone()
        };
        let mut writes =
            team_members::change_rows(backend, &t.id, &change, &GrantSource::scim(sc.key()));
        writes.push(team_row_update(backend, &updated));
        if renamed {
            writes.extend(index_rewrites(
                backend,
                Kind::Group,
                &t.id,
                index_values(&GROUP, &group_doc(&updated)),
                false,
            ));
        }
        let draft = group_update_draft(sc, op, t, &updated, &change, renamed, external_changed);
        authorize_draft(&sc.ctx.principal, &draft)?;
        if renamed {
            // The filter index is deleted and written again: the same rows twice.
            tx.write_audited(writes, draft).await?;
        } else {
            tx.write_audited_disjoint(writes, draft).await?;
        }
        Ok(Some(updated))
    }

    /// `DELETE /Groups/{id}`: the team goes, with its role bindings; members stay.
    pub async fn scim_delete_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let mut tx = self.begin_write(&sc.ctx).await?;
        let t = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, t.version)?;
        let res = Resource::team(&t.key);
        let members = team_members::ids_of(tx.db(), &t.id).await?;
        let backend = tx.backend();
        let mut writes = team_members::clear(backend, &t.id);
        writes.extend(index_rewrites(
            backend,
            Kind::Group,
            &t.id,
            Vec::new(),
            false,
        ));
        writes.push(Entity::delete_by_id(t.id.clone()).build(backend));
        let removed = MembershipChange {
            added: Vec::new(),
            removed: members,
        };
        let draft = AuditDraft::new("team", &t.name, "deleteTeam", &res)
            .describe(format!(
                "SCIM DELETE by connection {}: deleted team {} with its role bindings ({} member(s) left it)",
                sc.key(),
                t.key,
                removed.removed.len()
            ))
            .before(Some(audit_snapshot(&t, t.member_count)))
            .delta(membership_delta(Operation::Delete, sc.key(), &removed, t.member_count, 0));
        authorize_draft(&sc.ctx.principal, &draft)?;
        tx.write_audited(writes, draft).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Refuses a POST for a team some IdP already owns; a team no IdP owns may be adopted.
fn check_adoptable(existing: Option<&Model>, key: &str, connection: &str) -> ScimResult<()> {
    match existing {
        Some(t) if t.idp_synced => Err(ScimError::uniqueness(format!(
            "a Group for team {key:?} already exists{}",
            if t.connection_key.as_deref() == Some(connection) {
                ""
            } else {
                " (synced by another connection)"
            }
        ))),
        _ => Ok(()),
    }
}

/// Where a POSTed group lands: its team after the change, the team before when an existing
/// one is adopted, and the membership change.
#[derive(Debug)]
struct GroupLanding {
    team: Model,
    before: Option<Model>,
    change: MembershipChange,
}

/// A team no IdP owns, taken over by a group: the IdP now owns its name and membership.
fn adopted(
    t: &Model,
    name: String,
    connection: &str,
    external_id: Option<String>,
    now: i64,
    member_count: i64,
) -> Model {
    Model {
        name,
        idp_synced: true,
        connection_key: Some(connection.to_owned()),
        external_id,
        version: t.version + 1,
        updated_at: now,
        member_count,
        ..t.clone()
    }
}

/// The team a new group creates, before its members count.
fn created(
    key: &str,
    name: String,
    connection: &str,
    external_id: Option<String>,
    now: i64,
) -> Model {
    Model {
        id: new_id(),
        key: key.to_owned(),
        name,
        description: String::new(),
        custom_roles: "[]".to_owned(),
        role_attributes: "{}".to_owned(),
        idp_synced: true,
        connection_key: Some(connection.to_owned()),
        external_id,
        member_count: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// Adopting a team no IdP owns: its membership becomes the group's.
async fn adopt_team(
    db: &impl ConnectionTrait,
    sc: &ScimCtx,
    t: Model,
    name: String,
    external_id: Option<String>,
    now: i64,
    delta: &MembershipDelta,
) -> ScimResult<GroupLanding> {
    let stored = team_members::ids_of(db, &t.id).await?;
    let change = resolve(db, sc, &t.id, delta, Some(stored)).await?;
    let count = change.count_after(t.member_count);
    Ok(GroupLanding {
        team: adopted(&t, name, sc.key(), external_id, now, count),
        before: Some(t),
        change,
    })
}

/// A new team for the group, with the members the request names.
async fn new_team(
    db: &impl ConnectionTrait,
    sc: &ScimCtx,
    key: &str,
    name: String,
    external_id: Option<String>,
    now: i64,
    delta: &MembershipDelta,
) -> ScimResult<GroupLanding> {
    let t = created(key, name, sc.key(), external_id, now);
    let change = resolve(db, sc, &t.id, delta, Some(Vec::new())).await?;
    Ok(GroupLanding {
        team: Model {
            member_count: change.count_after(0),
            ..t
        },
        before: None,
        change,
    })
}

/// The statements of a POST: the team row (updated when adopted, else inserted), the
/// membership rows that change and the team's filter index.
fn landing_writes(backend: sea_orm::DatabaseBackend, landing: &GroupLanding) -> Vec<Statement> {
    let team = &landing.team;
    let mut writes = match landing.before {
        Some(_) => vec![team_row_update(backend, team)],
        None => vec![Entity::insert(ActiveModel::from(team.clone())).build(backend)],
    };
    // A landed team is synced from the connection that pushed the group.
    let source = GrantSource::scim(team.connection_key.as_deref().unwrap_or_default());
    writes.extend(team_members::change_rows(
        backend,
        &team.id,
        &landing.change,
        &source,
    ));
    writes.extend(index_rewrites(
        backend,
        Kind::Group,
        &team.id,
        index_values(&GROUP, &group_doc(team)),
        landing.before.is_none(),
    ));
    writes
}

/// The audit entry of a POST: `createTeam`, or for an adopted team `updateTeamMembers` and
/// `updateTeamName` (the IdP takes its name over), with the team before and after.
fn group_create_draft(
    connection: &str,
    key: &str,
    landing: &GroupLanding,
    named: usize,
) -> AuditDraft {
    let res = Resource::team(key);
    let before = landing.before.as_ref();
    let count_before = before.map_or(0, |t| t.member_count);
    let count_after = landing.change.count_after(count_before);
    let (action, what) = if before.is_some() {
        ("updateTeamMembers", "adopted existing team")
    } else {
        ("createTeam", "created team")
    };
    let mut draft = AuditDraft::new("team", &landing.team.name, action, &res);
    if before.is_some() {
        draft = draft.access("updateTeamName", &res);
    }
    draft
        .describe(format!(
            "SCIM POST by connection {connection}: {what} {key} with {named} member(s); the IdP now owns its name and membership",
        ))
        .before(before.map(|t| audit_snapshot(t, count_before)))
        .after(Some(audit_snapshot(&landing.team, count_after)))
        .delta(membership_delta(
            Operation::Post,
            connection,
            &landing.change,
            count_before,
            count_after,
        ))
}

/// The UPDATE of what SCIM owns of a team's row, with its member count after the change.
fn team_row_update(backend: sea_orm::DatabaseBackend, t: &Model) -> Statement {
    Entity::update_many()
        .col_expr(Column::MemberCount, t.member_count.into())
        .col_expr(Column::Name, t.name.clone().into())
        .col_expr(Column::ExternalId, t.external_id.clone().into())
        .col_expr(Column::IdpSynced, t.idp_synced.into())
        .col_expr(Column::ConnectionKey, t.connection_key.clone().into())
        .col_expr(Column::Version, t.version.into())
        .col_expr(Column::UpdatedAt, t.updated_at.into())
        .filter(Column::Id.eq(t.id.clone()))
        .build(backend)
}

/// The audit delta of a membership change: who was added and removed, and the count before
/// and after.
fn membership_delta(
    op: Operation,
    connection: &str,
    change: &MembershipChange,
    count_before: i64,
    count_after: i64,
) -> Value {
    json!({
        "scim": {"operation": op.as_str(), "connection": connection},
        "addedMembers": change.added,
        "removedMembers": change.removed,
        "memberCount": {"before": count_before, "after": count_after},
    })
}

/// The audit entry of a group update: the actions it exercised, what it did in words, the
/// team before and after (with member counts) and the membership delta.
fn group_update_draft(
    sc: &ScimCtx,
    op: Operation,
    before: &Model,
    after: &Model,
    change: &MembershipChange,
    renamed: bool,
    external_changed: bool,
) -> AuditDraft {
    let res = Resource::team(&before.key);
    let mut actions = Vec::new();
    if !change.is_empty() {
        actions.push("updateTeamMembers");
    }
    if renamed || external_changed {
        actions.push("updateTeamName");
    }
    let mut draft = AuditDraft::new(
        "team",
        &after.name,
        actions.first().copied().unwrap_or("updateTeamName"),
        &res,
    );
    for a in actions.iter().skip(1) {
        draft = draft.access(a, &res);
    }
    let mut what = Vec::new();
    if renamed {
        what.push(format!("renamed to {:?}", after.name));
    }
    if !change.added.is_empty() {
        what.push(format!("added {} member(s)", change.added.len()));
    }
    if !change.removed.is_empty() {
        what.push(format!("removed {} member(s)", change.removed.len()));
    }
    if external_changed && what.is_empty() {
        what.push("changed externalId".to_owned());
    }
    draft
        .describe(format!(
            "SCIM {} by connection {}: team {} {}",
            op.as_str(),
            sc.key(),
            before.key,
            what.join(", ")
        ))
        .before(Some(audit_snapshot(before, before.member_count)))
        .after(Some(audit_snapshot(after, after.member_count)))
        .delta(membership_delta(
            op,
            sc.key(),
            change,
            before.member_count,
            after.member_count,
        ))
}

/// The group attributes besides members, as a canonical document.
fn group_doc(t: &Model) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([GROUP_URN]));
    doc.insert("displayName".into(), json!(t.name));
    if let Some(x) = &t.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(key: &str, synced_by: Option<&str>) -> Model {
        Model {
            id: format!("id-{key}"),
            key: key.to_owned(),
            name: "Old name".to_owned(),
            description: "kept".to_owned(),
            custom_roles: r#"["dev"]"#.to_owned(),
            role_attributes: "{}".to_owned(),
            idp_synced: synced_by.is_some(),
            connection_key: synced_by.map(str::to_owned),
            external_id: None,
            member_count: 2,
            version: 4,
            created_at: 10,
            updated_at: 20,
        }
    }

    fn change(added: &[&str], removed: &[&str]) -> MembershipChange {
        MembershipChange {
            added: added.iter().map(|s| s.to_string()).collect(),
            removed: removed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_post_adopts_only_a_team_no_idp_owns() {
        assert!(check_adoptable(None, "eng", "okta").is_ok());
        assert!(check_adoptable(Some(&team("eng", None)), "eng", "okta").is_ok());
        let e = check_adoptable(Some(&team("eng", Some("okta"))), "eng", "okta").unwrap_err();
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some("uniqueness"));
        assert_eq!(e.detail, r#"a Group for team "eng" already exists"#);
        let e = check_adoptable(Some(&team("eng", Some("azure"))), "eng", "okta").unwrap_err();
        assert_eq!(
            e.detail,
            r#"a Group for team "eng" already exists (synced by another connection)"#
        );
    }

    #[test]
    fn an_adopted_team_keeps_its_identity_and_roles() {
        let before = team("eng", None);
        let after = adopted(&before, "Eng".into(), "okta", Some("x1".into()), 99, 3);
        assert_eq!(
            after,
            Model {
                name: "Eng".into(),
                idp_synced: true,
                connection_key: Some("okta".into()),
                external_id: Some("x1".into()),
                version: 5,
                updated_at: 99,
                member_count: 3,
                ..before
            }
        );
    }

    #[test]
    fn a_created_team_starts_synced_and_empty() {
        let t = created("eng", "Eng".into(), "okta", None, 7);
        assert!(!t.id.is_empty());
        assert_eq!((t.key.as_str(), t.name.as_str()), ("eng", "Eng"));
        assert_eq!(
            (t.custom_roles.as_str(), t.role_attributes.as_str()),
            ("[]", "{}")
        );
        assert!(t.idp_synced);
        assert_eq!(t.connection_key.as_deref(), Some("okta"));
        assert_eq!(
            (t.member_count, t.version, t.created_at, t.updated_at),
            (0, 1, 7, 7)
        );
    }

    #[test]
    fn a_new_team_is_inserted_and_an_adopted_one_updated() {
        let backend = sea_orm::DatabaseBackend::Sqlite;
        let fresh = GroupLanding {
            team: created("eng", "Eng".into(), "okta", None, 7),
            before: None,
            change: change(&["u1"], &[]),
        };
        let sql: Vec<String> = landing_writes(backend, &fresh)
            .into_iter()
            .map(|s| s.sql)
            .collect();
        assert!(sql[0].starts_with(r#"INSERT INTO "team""#), "{sql:?}");
        assert!(
            sql[1].starts_with(r#"INSERT INTO "team_member""#),
            "{sql:?}"
        );
        // A fresh team has no filter-index rows to delete.
        assert!(!sql.iter().any(|s| s.starts_with("DELETE")), "{sql:?}");
        let before = team("eng", None);
        let adopting = GroupLanding {
            team: adopted(&before, "Eng".into(), "okta", None, 9, 1),
            before: Some(before),
            change: change(&[], &["u2"]),
        };
        let sql: Vec<String> = landing_writes(backend, &adopting)
            .into_iter()
            .map(|s| s.sql)
            .collect();
        assert!(sql[0].starts_with(r#"UPDATE "team""#), "{sql:?}");
        assert!(
            sql[1].starts_with(r#"DELETE FROM "team_member""#),
            "{sql:?}"
        );
        // The members who left are on one team fewer.
        assert!(sql[2].starts_with(r#"UPDATE "member""#), "{sql:?}");
        assert!(sql[3].starts_with(r#"DELETE FROM "scim_value""#), "{sql:?}");
    }

    #[test]
    fn a_post_is_audited_as_a_creation_or_an_adoption() {
        let res = Resource::team("eng").to_string();
        let fresh = GroupLanding {
            team: Model {
                member_count: 1,
                ..created("eng", "Eng".into(), "okta", None, 7)
            },
            before: None,
            change: change(&["u1"], &[]),
        };
        let draft = group_create_draft("okta", "eng", &fresh, 1);
        assert_eq!(draft.accesses, vec![("createTeam".to_owned(), res.clone())]);
        assert_eq!(
            draft.description,
            "SCIM POST by connection okta: created team eng with 1 member(s); the IdP now owns its name and membership"
        );
        assert_eq!(draft.previous_version, None);
        assert_eq!(draft.current_version.unwrap()["memberCount"], json!(1));
        assert_eq!(
            draft.delta,
            Some(json!({
                "scim": {"operation": "POST", "connection": "okta"},
                "addedMembers": ["u1"], "removedMembers": [],
                "memberCount": {"before": 0, "after": 1},
            }))
        );
        let before = team("eng", None);
        let adopting = GroupLanding {
            team: adopted(&before, "Eng".into(), "okta", None, 9, 1),
            before: Some(before),
            change: change(&["u3"], &["u1", "u2"]),
        };
        let draft = group_create_draft("okta", "eng", &adopting, 1);
        assert_eq!(
            draft.accesses,
            vec![
                ("updateTeamMembers".to_owned(), res.clone()),
                ("updateTeamName".to_owned(), res)
            ]
        );
        assert_eq!(draft.name, "Eng");
        assert!(
            draft
                .description
                .contains(": adopted existing team eng with 1 member(s);")
        );
        assert_eq!(draft.previous_version.unwrap()["memberCount"], json!(2));
        assert_eq!(draft.current_version.unwrap()["memberCount"], json!(1));
        assert_eq!(
            draft.delta.unwrap()["memberCount"],
            json!({"before": 2, "after": 1})
        );
    }
}
