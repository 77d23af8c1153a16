//! SCIM Groups: teams synced from the connection's IdP. A pushed group creates a team, or
//! adopts an existing one that no IdP owns yet, under the key the connection's mapping rules
//! give it (else a key derived from `displayName`). The IdP then owns the team's name and
//! membership; its role bindings stay Gatehouse's (REST keeps them editable).
//!
//! Membership changes are applied as deltas in batches (`team_member` rows inserted and
//! deleted by the thousand), never by loading and rewriting the whole member list; the audit
//! entry lists exactly who was added and removed.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect,
};
use serde_json::{Map, Value, json};

use super::query::Kind;
use super::users::Operation;
use super::{
    ListPage, ListRequest, Outcome, ScimCtx, check_if_match, etag, rewrite_index, timestamp,
};
use crate::domain::mapping::{IdpGroup, team_for_group, team_key_from_display_name};
use crate::domain::policy::Resource;
use crate::scim::error::{ScimError, ScimResult, ScimType};
use crate::scim::filter::matches;
use crate::scim::patch::{MemberChange, apply, member_ids, parse_patch, split_member_ops};
use crate::scim::resource::{canonicalize, index_values, project};
use crate::scim::schema::{GROUP, GROUP_URN};
use crate::service::connections::mapping_rules;
use crate::service::teams::{delete_members, insert_members, set_members};
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

/// Members of teams (their ids; the RFC's member has no display name), in one query.
async fn members_of(
    db: &impl ConnectionTrait,
    team_ids: &[String],
) -> ScimResult<HashMap<String, Vec<(String, String)>>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
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
        out.entry(team).or_default().push((member, String::new()));
    }
    for list in out.values_mut() {
        list.sort();
    }
    Ok(out)
}

/// The Group resource of a team; `members` is None when the request left them out.
fn render(base: &str, t: &Model, members: Option<&[(String, String)]>) -> Value {
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
            .map(|(id, _)| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"}))
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

fn wants_members(req: &ListRequest) -> bool {
    let named = |list: &[crate::scim::filter::AttrPath]| {
        list.iter().any(|p| p.name.eq_ignore_ascii_case("members"))
    };
    !named(&req.excluded) && (req.attributes.is_empty() || named(&req.attributes))
}

/// A team's audit snapshot: the team without its (possibly huge) member list, which the
/// entry's delta lists as changes instead.
async fn audit_snapshot(db: &impl ConnectionTrait, t: &Model) -> ScimResult<Value> {
    let count = entity::team_member::Entity::find()
        .filter(entity::team_member::Column::TeamId.eq(t.id.clone()))
        .count(db)
        .await?;
    let roles: Value = serde_json::from_str(&t.custom_roles).unwrap_or(Value::Null);
    let attrs: Value = serde_json::from_str(&t.role_attributes).unwrap_or(Value::Null);
    Ok(json!({
        "id": t.id, "key": t.key, "name": t.name, "description": t.description,
        "customRoles": roles, "roleAttributes": attrs, "idpSynced": t.idp_synced,
        "connectionKey": t.connection_key, "externalId": t.external_id,
        "memberCount": count, "version": t.version,
    }))
}

/// Checks that members exist and are visible to this connection; the error names the first
/// unknown one.
async fn check_members(db: &impl ConnectionTrait, sc: &ScimCtx, ids: &[String]) -> ScimResult<()> {
    let per_statement = values_per_statement(db.get_database_backend(), 1);
    for chunk in ids.chunks(per_statement) {
        let found: Vec<String> = entity::member::Entity::find()
            .select_only()
            .column(entity::member::Column::Id)
            .filter(entity::member::Column::Id.is_in(chunk.to_vec()))
            .filter(entity::member::Column::ScimDeletedAt.is_null())
            .filter(
                sea_orm::Condition::any()
                    .add(entity::member::Column::ConnectionKey.is_null())
                    .add(entity::member::Column::ConnectionKey.eq(sc.key())),
            )
            .into_tuple()
            .all(db)
            .await?;
        if found.len() < chunk.len() {
            let found: HashSet<&String> = found.iter().collect();
            if let Some(missing) = chunk.iter().find(|id| !found.contains(id)) {
                return Err(ScimError::invalid_value(format!(
                    "members: unknown User {missing:?}"
                )));
            }
        }
    }
    Ok(())
}

/// The membership change a request makes, as the final sets to add and remove.
#[derive(Debug, Default)]
struct Delta {
    /// Remove every current member first.
    reset: bool,
    add: Vec<String>,
    remove: Vec<String>,
}

/// Folds the ordered changes into one delta; `current` is the membership, loaded only when
/// a change needs it (a `RemoveWhere` filter on `display` or `type`, or a reset).
fn fold(changes: &[MemberChange], current: Option<&[(String, String)]>) -> ScimResult<Delta> {
    let mut added: Vec<String> = Vec::new();
    let mut added_set: HashSet<String> = HashSet::new();
    let mut removed: HashSet<String> = HashSet::new();
    let mut reset = false;
    let def = GROUP.resolve(None, "members", None).map(|r| r.def);
    for change in changes {
        match change {
            MemberChange::Add(ids) => {
                for id in ids {
                    removed.remove(id);
                    if added_set.insert(id.clone()) {
                        added.push(id.clone());
                    }
                }
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    if added_set.remove(id) {
                        added.retain(|a| a != id);
                    }
                    removed.insert(id.clone());
                }
            }
            MemberChange::Replace(ids) => {
                reset = true;
                removed.clear();
                added.clear();
                added_set.clear();
                for id in ids {
                    if added_set.insert(id.clone()) {
                        added.push(id.clone());
                    }
                }
            }
            MemberChange::RemoveAll => {
                reset = true;
                removed.clear();
                added.clear();
                added_set.clear();
            }
            MemberChange::RemoveWhere(filter) => {
                let (Some(current), Some(def)) = (current, def) else {
                    return Err(ScimError::internal(
                        "membership was not loaded for a filtered remove",
                    ));
                };
                let candidates = current
                    .iter()
                    .filter(|(id, _)| !reset && !removed.contains(id))
                    .map(|(id, name)| (id.clone(), name.clone()))
                    .chain(added.iter().map(|id| (id.clone(), String::new())));
                let mut hit = Vec::new();
                for (id, name) in candidates {
                    let element = json!({"value": id, "display": name, "type": "User"});
                    if matches(filter, &element, def)
                        .map_err(|e| ScimError::invalid_path(format!("members[...]: {e}")))?
                    {
                        hit.push(id);
                    }
                }
                for id in hit {
                    if added_set.remove(&id) {
                        added.retain(|a| a != &id);
                    }
                    removed.insert(id);
                }
            }
        }
    }
    Ok(Delta {
        reset,
        add: added,
        remove: removed.into_iter().collect(),
    })
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
        if rows.is_empty() {
            return Ok(ListPage {
                total,
                start_index: req.start_index.max(1),
                resources: Vec::new(),
            });
        }
        let members = if wants_members(req) {
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
                project(
                    &GROUP,
                    render(&base, t, list),
                    &req.attributes,
                    &req.excluded,
                )
            })
            .collect();
        Ok(ListPage {
            total,
            start_index: req.start_index.max(1),
            resources,
        })
    }

    pub async fn scim_get_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        req: &ListRequest,
    ) -> ScimResult<Value> {
        let t = find_visible(self.db(), sc, id).await?;
        let members = if wants_members(req) {
            Some(
                members_of(self.db(), std::slice::from_ref(&t.id))
                    .await?
                    .remove(&t.id)
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        Ok(project(
            &GROUP,
            render(&self.scim_base(), &t, members.as_deref()),
            &req.attributes,
            &req.excluded,
        ))
    }

    async fn group_after(&self, sc: &ScimCtx, id: &str) -> ScimResult<Value> {
        self.scim_get_group(sc, id, &ListRequest::default()).await
    }

    /// `POST /Groups`.
    pub async fn scim_create_group(&self, sc: &ScimCtx, body: &Value) -> ScimResult<Value> {
        let doc = canonicalize(&GROUP, body)?;
        let name = doc
            .get("displayName")
            .and_then(Value::as_str)
            .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
        let name = validate_name("displayName", name)
            .map_err(|e| ScimError::invalid_value(e.to_string()))?;
        let external_id = doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let members = member_ids(doc.get("members").unwrap_or(&Value::Null), "members")?;
        if members.len() > MAX_MEMBER_VALUES {
            return Err(ScimError::bad(
                ScimType::TooMany,
                format!("at most {MAX_MEMBER_VALUES} members per request"),
            ));
        }
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
        self.group_after(sc, &id).await
    }

    async fn create_group_in(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        key: &str,
        name: String,
        external_id: Option<String>,
        mut members: Vec<String>,
    ) -> Outcome<Option<String>> {
        let existing = Entity::find()
            .filter(Column::Key.eq(key))
            .one(tx.db())
            .await?;
        if let Some(t) = &existing
            && t.idp_synced
        {
            return Err(ScimError::uniqueness(format!(
                "a Group for team {key:?} already exists{}",
                if t.connection_key.as_deref() == Some(sc.key()) {
                    ""
                } else {
                    " (synced by another connection)"
                }
            ))
            .into());
        }
        members.sort();
        members.dedup();
        check_members(tx.db(), sc, &members).await?;
        let res = Resource::team(key);
        let now = tx.now_ms();
        let (team, before, action, what) = match existing {
            Some(t) => {
                let before = audit_snapshot(tx.db(), &t).await?;
                let mut am: ActiveModel = t.clone().into();
                am.name = Set(name.clone());
                am.idp_synced = Set(true);
                am.connection_key = Set(Some(sc.key().to_owned()));
                am.external_id = Set(external_id);
                am.version = Set(t.version + 1);
                am.updated_at = Set(now);
                (
                    am.update(tx.db()).await?,
                    Some(before),
                    "updateTeamMembers",
                    "adopted existing team",
                )
            }
            None => {
                let t = ActiveModel {
                    id: Set(new_id()),
                    key: Set(key.to_owned()),
                    name: Set(name.clone()),
                    description: Set(String::new()),
                    custom_roles: Set("[]".to_owned()),
                    role_attributes: Set("{}".to_owned()),
                    idp_synced: Set(true),
                    connection_key: Set(Some(sc.key().to_owned())),
                    external_id: Set(external_id),
                    version: Set(1),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(tx.db())
                .await?;
                (t, None, "createTeam", "created team")
            }
        };
        let removed = if before.is_some() {
            let old = crate::service::teams::member_ids(tx.db(), &team.id).await?;
            set_members(tx.db(), &team.id, &members).await?;
            old.into_iter()
                .filter(|m| members.binary_search(m).is_err())
                .collect()
        } else {
            insert_members(tx.db(), &team.id, &members).await?;
            Vec::new()
        };
        rewrite_index(
            tx.db(),
            Kind::Group,
            &team.id,
            index_values(&GROUP, &group_doc(&team)),
            before.is_none(),
        )
        .await?;
        let mut draft = AuditDraft::new("team", &team.name, action, &res);
        if action == "updateTeamMembers" {
            draft = draft.access("updateTeamName", &res);
        }
        tx.audit(
            draft
                .describe(format!(
                    "SCIM POST by connection {}: {what} {key} with {} member(s); the IdP now owns its name and membership",
                    sc.key(),
                    members.len()
                ))
                .before(before)
                .after(Some(audit_snapshot(tx.db(), &team).await?))
                .delta(json!({"scim": {"operation": "POST", "connection": sc.key()}, "addedMembers": members, "removedMembers": removed})),
        );
        Ok(Some(team.id))
    }

    /// `PUT /Groups/{id}`: name, externalId and the whole membership.
    pub async fn scim_replace_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
        let doc = canonicalize(&GROUP, body)?;
        let members = member_ids(doc.get("members").unwrap_or(&Value::Null), "members")?;
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
        self.group_after(sc, id).await
    }

    /// `PATCH /Groups/{id}`; returns the group without members when `members` is false.
    pub async fn scim_patch_group(
        &self,
        sc: &ScimCtx,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> ScimResult<Value> {
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
            return Err(ScimError::bad(
                ScimType::TooMany,
                format!("at most {MAX_MEMBER_VALUES} member values per request"),
            ));
        }
        let mut tx = self.begin_write(&sc.ctx).await?;
        let t = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, t.version)?;
        let base = group_doc(&t);
        let doc = apply(&GROUP, &base, &t.id, &rest)?;
        let outcome = self
            .update_group_in(&mut tx, sc, &t, doc, changes, Operation::Patch)
            .await;
        self.finish_write(sc, tx, outcome).await?;
        self.group_after(sc, id).await
    }

    async fn update_group_in(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        t: &Model,
        doc: Map<String, Value>,
        changes: Vec<MemberChange>,
        op: Operation,
    ) -> Outcome<Option<()>> {
        let name = doc
            .get("displayName")
            .and_then(Value::as_str)
            .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
        let name = validate_name("displayName", name)
            .map_err(|e| ScimError::invalid_value(e.to_string()))?;
        let external_id = doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let needs_current = changes
            .iter()
            .any(|c| matches!(c, MemberChange::RemoveWhere(_)));
        let current = if needs_current {
            Some(
                members_of(tx.db(), std::slice::from_ref(&t.id))
                    .await?
                    .remove(&t.id)
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        let delta = fold(&changes, current.as_deref())?;
        check_members(tx.db(), sc, &delta.add).await?;
        // What really changes: adds that are not members yet, removes that are.
        let existing: HashSet<String> = if delta.reset {
            crate::service::teams::member_ids(tx.db(), &t.id)
                .await?
                .into_iter()
                .collect()
        } else {
            let mut found = HashSet::new();
            let probe: Vec<&String> = delta.add.iter().chain(delta.remove.iter()).collect();
            let per_statement = values_per_statement(tx.backend(), 1);
            for chunk in probe.chunks(per_statement) {
                let ids: Vec<String> = chunk.iter().map(|s| (*s).clone()).collect();
                let rows: Vec<String> = entity::team_member::Entity::find()
                    .select_only()
                    .column(entity::team_member::Column::MemberId)
                    .filter(entity::team_member::Column::TeamId.eq(t.id.clone()))
                    .filter(entity::team_member::Column::MemberId.is_in(ids))
                    .into_tuple()
                    .all(tx.db())
                    .await?;
                found.extend(rows);
            }
            found
        };
        let (to_add, to_remove): (Vec<String>, Vec<String>) = if delta.reset {
            let keep: HashSet<&String> = delta.add.iter().collect();
            (
                delta
                    .add
                    .iter()
                    .filter(|id| !existing.contains(*id))
                    .cloned()
                    .collect(),
                existing
                    .iter()
                    .filter(|id| !keep.contains(id))
                    .cloned()
                    .collect(),
            )
        } else {
            (
                delta
                    .add
                    .iter()
                    .filter(|id| !existing.contains(*id))
                    .cloned()
                    .collect(),
                delta
                    .remove
                    .iter()
                    .filter(|id| existing.contains(*id))
                    .cloned()
                    .collect(),
            )
        };
        let renamed = name != t.name;
        let external_changed = external_id != t.external_id;
        if to_add.is_empty() && to_remove.is_empty() && !renamed && !external_changed {
            return Ok(None);
        }
        let res = Resource::team(&t.key);
        let before = audit_snapshot(tx.db(), t).await?;
        delete_members(tx.db(), &t.id, &to_remove).await?;
        insert_members(tx.db(), &t.id, &to_add).await?;
        let mut am: ActiveModel = t.clone().into();
        am.name = Set(name);
        am.external_id = Set(external_id);
        am.version = Set(t.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        if renamed {
            rewrite_index(
                tx.db(),
                Kind::Group,
                &t.id,
                index_values(&GROUP, &group_doc(&updated)),
                false,
            )
            .await?;
        }
        let mut actions = Vec::new();
        if !to_add.is_empty() || !to_remove.is_empty() {
            actions.push("updateTeamMembers");
        }
        if renamed || external_changed {
            actions.push("updateTeamName");
        }
        let mut draft = AuditDraft::new(
            "team",
            &updated.name,
            actions.first().copied().unwrap_or("updateTeamName"),
            &res,
        );
        for a in actions.iter().skip(1) {
            draft = draft.access(a, &res);
        }
        let mut what = Vec::new();
        if renamed {
            what.push(format!("renamed to {:?}", updated.name));
        }
        if !to_add.is_empty() {
            what.push(format!("added {} member(s)", to_add.len()));
        }
        if !to_remove.is_empty() {
            what.push(format!("removed {} member(s)", to_remove.len()));
        }
        if external_changed && what.is_empty() {
            what.push("changed externalId".to_owned());
        }
        tx.audit(
            draft
                .describe(format!("SCIM {} by connection {}: team {} {}", op.as_str(), sc.key(), t.key, what.join(", ")))
                .before(Some(before))
                .after(Some(audit_snapshot(tx.db(), &updated).await?))
                .delta(json!({"scim": {"operation": op.as_str(), "connection": sc.key()}, "addedMembers": to_add, "removedMembers": to_remove})),
        );
        Ok(Some(()))
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
        let before = audit_snapshot(tx.db(), &t).await?;
        let members = crate::service::teams::member_ids(tx.db(), &t.id).await?;
        entity::team_member::Entity::delete_many()
            .filter(entity::team_member::Column::TeamId.eq(t.id.clone()))
            .exec(tx.db())
            .await?;
        rewrite_index(tx.db(), Kind::Group, &t.id, Vec::new(), false).await?;
        Entity::delete_by_id(t.id.clone()).exec(tx.db()).await?;
        tx.audit(
            AuditDraft::new("team", &t.name, "deleteTeam", &res)
                .describe(format!(
                    "SCIM DELETE by connection {}: deleted team {} with its role bindings ({} member(s) left it)",
                    sc.key(),
                    t.key,
                    members.len()
                ))
                .before(Some(before))
                .delta(json!({"scim": {"operation": Operation::Delete.as_str(), "connection": sc.key()}, "removedMembers": members})),
        );
        tx.commit().await?;
        Ok(())
    }
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

    #[test]
    fn membership_changes_fold_in_order() {
        let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let d = fold(
            &[
                MemberChange::Add(ids(&["a", "b", "c"])),
                MemberChange::Remove(ids(&["b", "x"])),
                MemberChange::Add(ids(&["x"])),
            ],
            None,
        )
        .unwrap();
        assert!(!d.reset);
        assert_eq!(d.add, ids(&["a", "c", "x"]));
        assert_eq!(d.remove, ids(&["b"]));
        let d = fold(
            &[
                MemberChange::Add(ids(&["a"])),
                MemberChange::Replace(ids(&["z"])),
            ],
            None,
        )
        .unwrap();
        assert!(d.reset);
        assert_eq!(d.add, ids(&["z"]));
        let f = crate::scim::filter::parse_filter(r#"value sw "1" or type ne "User""#).unwrap();
        let current = vec![
            ("1".to_owned(), "bob@x".to_owned()),
            ("2".to_owned(), "ann@x".to_owned()),
        ];
        let d = fold(&[MemberChange::RemoveWhere(f)], Some(&current)).unwrap();
        assert_eq!(d.remove, ids(&["1"]));
    }
}
