//! SCIM Users: members of the account. A user is visible to a connection when it is local
//! (no connection yet: an IdP may adopt an existing member by its userName) or provisioned by
//! that connection, and SCIM has not deleted it.
//!
//! Roles come from the document through the connection's mapping rules: the Gatehouse
//! extension's `role` and `customRole` (LaunchDarkly's extension and the root-level aliases
//! fold into it), then the rules. They are applied when the IdP's statement changes (or on
//! create and reactivation), so a role an admin set over REST stays until the IdP says
//! otherwise. The owner is never created, re-roled, deactivated or removed by an IdP.
//!
//! Deactivation (`active: false`, or DELETE when the connection keeps members) revokes the
//! member's credentials in the same transaction. While a member stays deactivated its
//! Gatehouse record (email, names, roles) is frozen; the SCIM document still records what the
//! IdP sends, and reactivation applies it.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use sea_orm::{QueryTrait, TryIntoModel};
use serde_json::{Map, Value, json};

use super::query::Kind;
use super::{
    Failure, ListPage, ListRequest, Outcome, ScimCtx, check_if_match, etag, index_rewrites, redact,
    refused, timestamp,
};
use crate::domain::mapping::{self, MappingError};
use crate::domain::policy::{BaseRole, Resource};
use crate::domain::scim::error::{ScimError, ScimFailure, ScimResult};
use crate::domain::scim::patch::{apply, parse_patch};
use crate::domain::scim::resource::{Projection, canonicalize, idp_profile, index_values};
use crate::domain::scim::schema::{GATEHOUSE_URN, LAUNCHDARKLY_URN, USER, USER_URN};
use crate::service::connections::mapping_rules;
use crate::service::members::{
    check_custom_roles, check_role_requirements, rep_with_teams, revoke_member_credentials,
    team_keys, validate_email,
};
use crate::service::util::{from_json, new_id, snapshot, to_json};
use crate::service::{AuditDraft, Service, WriteTx};

use entity::member::{ActiveModel, Column, Entity, Model};

const ACTIVE: &str = "active";
const DEACTIVATED: &str = "deactivated";

/// Members this connection may see and change.
fn visible(sc: &ScimCtx) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(
            sea_orm::Condition::any()
                .add(Column::ConnectionKey.is_null())
                .add(Column::ConnectionKey.eq(sc.key())),
        )
        .add(Column::ScimDeletedAt.is_null())
}

async fn find_visible(db: &impl ConnectionTrait, sc: &ScimCtx, id: &str) -> ScimResult<Model> {
    Entity::find_by_id(id.to_owned())
        .filter(visible(sc))
        .one(db)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("User {id:?} not found")))
}

/// The SCIM document of a member: as provisioned, or derived from a member created over REST.
pub(crate) fn stored_doc(m: &Model) -> ScimResult<Map<String, Value>> {
    if let Some(text) = &m.scim_attributes {
        let doc: Map<String, Value> = from_json(text).map_err(ScimError::from)?;
        return Ok(doc);
    }
    let mut name = Map::new();
    if let Some(f) = &m.first_name {
        name.insert("givenName".into(), json!(f));
    }
    if let Some(l) = &m.last_name {
        name.insert("familyName".into(), json!(l));
    }
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([USER_URN]));
    doc.insert("userName".into(), json!(m.user_name));
    doc.insert(
        "emails".into(),
        json!([{"value": m.email, "primary": true}]),
    );
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    if let Some(x) = &m.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    Ok(doc)
}

/// The User resource of a member. `groups` are its synced teams of this connection.
pub(crate) fn render(base: &str, m: &Model, groups: &[(String, String)]) -> ScimResult<Value> {
    let mut doc = stored_doc(m)?;
    let stated_active = doc.contains_key("active");
    doc.remove("active");
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        doc.remove("schemas").unwrap_or_else(|| json!([USER_URN])),
    );
    out.insert("id".into(), json!(m.id));
    if let Some(x) = &m.external_id {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("userName".into(), json!(m.user_name));
    // An IdP that never stated `active` sees it only when Gatehouse deactivated the member.
    if stated_active || m.status != ACTIVE {
        out.insert("active".into(), json!(m.status == ACTIVE));
    }
    let ld = out
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u == LAUNCHDARKLY_URN));
    if ld && let Some(roles) = doc.get(GATEHOUSE_URN).cloned() {
        out.insert(LAUNCHDARKLY_URN.into(), roles);
    }
    for (k, v) in doc {
        out.entry(k).or_insert(v);
    }
    if !groups.is_empty() {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(id, name)| {
                json!({"value": id, "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"})
            })
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(m.created_at),
            "lastModified": timestamp(m.updated_at),
            "location": format!("{base}/Users/{}", m.id),
            "version": etag(m.version),
        }),
    );
    Ok(Value::Object(out))
}

/// The synced teams (of this connection) of each member, in one query.
async fn groups_of(
    db: &impl ConnectionTrait,
    sc: &ScimCtx,
    member_ids: &[String],
) -> ScimResult<std::collections::HashMap<String, Vec<(String, String)>>> {
    let mut out: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
    if member_ids.is_empty() {
        return Ok(out);
    }
    let teams: Vec<entity::team::Model> = entity::team::Entity::find()
        .filter(entity::team::Column::ConnectionKey.eq(sc.key()))
        .filter(entity::team::Column::IdpSynced.eq(true))
        .filter(
            entity::team::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(entity::team_member::Column::TeamId)
                    .from(entity::team_member::Entity)
                    .and_where(entity::team_member::Column::MemberId.is_in(member_ids.to_vec()))
                    .to_owned(),
            ),
        )
        .all(db)
        .await?;
    if teams.is_empty() {
        return Ok(out);
    }
    let names: std::collections::HashMap<String, String> =
        teams.into_iter().map(|t| (t.id, t.name)).collect();
    let links = entity::team_member::Entity::find()
        .filter(entity::team_member::Column::MemberId.is_in(member_ids.to_vec()))
        .filter(
            entity::team_member::Column::TeamId.is_in(names.keys().cloned().collect::<Vec<_>>()),
        )
        .all(db)
        .await?;
    for l in links {
        if let Some(name) = names.get(&l.team_id) {
            out.entry(l.member_id)
                .or_default()
                .push((l.team_id, name.clone()));
        }
    }
    Ok(out)
}

/// An email for the member: the primary email, else the first, else an email-shaped userName.
fn member_email(doc: &Map<String, Value>, user_name: &str) -> Option<String> {
    let emails: Vec<&Value> = doc
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let primary = emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or(emails.first())
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    primary.or_else(|| user_name.contains('@').then(|| user_name.to_owned()))
}

/// The checks a whole document needs: userName (defaulting to the email, as LaunchDarkly
/// does), lengths, an email.
fn finish(mut doc: Map<String, Value>) -> ScimResult<(Map<String, Value>, String, Option<String>)> {
    let user_name = match doc.get("userName").and_then(Value::as_str).map(str::trim) {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => member_email(&doc, "")
            .ok_or_else(|| ScimError::invalid_value("userName is required"))?,
    };
    if user_name.chars().count() > 256 {
        return Err(ScimError::invalid_value("userName: at most 256 characters"));
    }
    doc.insert("userName".into(), json!(user_name));
    for part in ["givenName", "familyName"] {
        if doc
            .get("name")
            .and_then(|n| n.get(part))
            .and_then(Value::as_str)
            .is_some_and(|s| s.chars().count() > 256)
        {
            return Err(ScimError::invalid_value(format!(
                "name.{part}: at most 256 characters"
            )));
        }
    }
    let email = member_email(&doc, &user_name);
    Ok((doc, user_name, email))
}

fn name_part(doc: &Map<String, Value>, part: &str) -> Option<String> {
    doc.get("name")
        .and_then(|n| n.get(part))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A member's audit snapshot: its REST representation and the SCIM document.
async fn audit_snapshot(db: &impl ConnectionTrait, m: &Model) -> ScimResult<Value> {
    let teams = team_keys(db, &m.id).await.map_err(ScimError::from)?;
    snapshot_with_teams(m, teams)
}

/// The member as the audit log records it, with the keys of its teams.
fn snapshot_with_teams(m: &Model, teams: Vec<String>) -> ScimResult<Value> {
    let mut v =
        snapshot(&rep_with_teams(m, teams).map_err(ScimError::from)?).map_err(ScimError::from)?;
    if let (Some(obj), Some(doc)) = (v.as_object_mut(), &m.scim_attributes) {
        obj.insert(
            "scimAttributes".into(),
            from_json(doc).map_err(ScimError::from)?,
        );
    }
    Ok(v)
}

/// What a write is, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Post,
    Put,
    Patch,
    Delete,
}

impl Operation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl Service {
    pub(crate) fn scim_base(&self) -> String {
        format!("{}/scim/v2", self.public_url())
    }

    pub async fn scim_list_users(&self, sc: &ScimCtx, req: &ListRequest) -> ScimResult<ListPage> {
        let (rows, total) = super::page_of(
            self.db(),
            Kind::User,
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
        let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
        let groups = if req.projection.includes("groups") {
            groups_of(self.db(), sc, &ids).await?
        } else {
            Default::default()
        };
        let base = self.scim_base();
        let mut resources = Vec::with_capacity(rows.len());
        for m in &rows {
            let g = groups.get(&m.id).map(Vec::as_slice).unwrap_or(&[]);
            resources.push(req.projection.apply(&USER, render(&base, m, g)?));
        }
        Ok(ListPage {
            total,
            start_index: req.start_index.max(1),
            resources,
        })
    }

    /// One user as `projection` asks for it.
    pub async fn scim_get_user(
        &self,
        sc: &ScimCtx,
        id: &str,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let m = find_visible(self.db(), sc, id).await?;
        self.render_user(sc, &m, projection, true).await
    }

    /// A user as `projection` asks for it; its groups are loaded only if the response holds
    /// them and it may have any (`in_groups`).
    async fn render_user(
        &self,
        sc: &ScimCtx,
        m: &Model,
        projection: &Projection,
        in_groups: bool,
    ) -> ScimResult<Value> {
        let groups = if in_groups && projection.includes("groups") {
            groups_of(self.db(), sc, std::slice::from_ref(&m.id)).await?
        } else {
            Default::default()
        };
        let rendered = render(
            &self.scim_base(),
            m,
            groups.get(&m.id).map(Vec::as_slice).unwrap_or(&[]),
        )?;
        Ok(projection.apply(&USER, rendered))
    }

    /// The user after a write: as saved, or (nothing changed) as stored.
    async fn scim_user_after(
        &self,
        sc: &ScimCtx,
        saved: Option<Model>,
        id: &str,
        projection: &Projection,
    ) -> ScimResult<Value> {
        match saved {
            Some(m) => self.render_user(sc, &m, projection, true).await,
            None => self.scim_get_user(sc, id, projection).await,
        }
    }

    /// `POST /Users`. A userName that SCIM deleted earlier (the member kept, deactivated)
    /// brings that member back with the new attributes.
    pub async fn scim_create_user(
        &self,
        sc: &ScimCtx,
        body: &Value,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let doc = canonicalize(&USER, body)?;
        let (_, user_name, _) = finish(doc.clone())?;
        // IdPs look a userName up before they create it, so a create is nearly always of a new
        // user: it is inserted at once, and the unique indexes refuse a name or email taken
        // meanwhile. Only then is the existing member looked at (SCIM may have deleted it,
        // and a create brings it back).
        let mut tx = self.begin_write(&sc.ctx).await?;
        let outcome = self
            .save_user(&mut tx, sc, None, doc.clone(), Operation::Post, None)
            .await;
        let saved = match outcome {
            Err(Failure::Plain(e)) if e.failure == ScimFailure::Conflict => {
                drop(tx);
                return self
                    .create_over_existing(sc, doc, &user_name, projection)
                    .await;
            }
            outcome => self.finish_write(sc, tx, outcome).await?,
        };
        match saved {
            // A new member belongs to no group yet: no need to look.
            Some(m) => self.render_user(sc, &m, projection, false).await,
            None => Err(ScimError::internal("a created user was not saved")),
        }
    }

    /// A create whose userName or email is taken: brings back the member SCIM deleted under
    /// this userName, or refuses.
    async fn create_over_existing(
        &self,
        sc: &ScimCtx,
        doc: Map<String, Value>,
        user_name: &str,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let mut tx = self.begin_write(&sc.ctx).await?;
        let existing = Entity::find()
            .filter(Column::UserNameLower.eq(user_name.to_lowercase()))
            .one(tx.db())
            .await?;
        let revive = match existing {
            Some(m)
                if m.scim_deleted_at.is_some() && m.connection_key.as_deref() == Some(sc.key()) =>
            {
                Some(m)
            }
            Some(_) => {
                return Err(ScimError::uniqueness(format!(
                    "a User with userName {user_name:?} already exists"
                )));
            }
            None => None,
        };
        let outcome = self
            .save_user(&mut tx, sc, revive.as_ref(), doc, Operation::Post, None)
            .await;
        match self.finish_write(sc, tx, outcome).await? {
            Some(m) => self.render_user(sc, &m, projection, revive.is_some()).await,
            None => Err(ScimError::internal("a created user was not saved")),
        }
    }

    /// `PUT /Users/{id}`: the body replaces the document.
    pub async fn scim_replace_user(
        &self,
        sc: &ScimCtx,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let doc = canonicalize(&USER, body)?;
        let mut tx = self.begin_write(&sc.ctx).await?;
        let m = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, m.version)?;
        let outcome = self
            .save_user(&mut tx, sc, Some(&m), doc, Operation::Put, None)
            .await;
        let saved = self.finish_write(sc, tx, outcome).await?;
        self.scim_user_after(sc, saved, id, projection).await
    }

    /// `PATCH /Users/{id}`: all operations apply, or none.
    pub async fn scim_patch_user(
        &self,
        sc: &ScimCtx,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let ops = parse_patch(body)?;
        let mut tx = self.begin_write(&sc.ctx).await?;
        let m = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, m.version)?;
        let mut base = stored_doc(&m)?;
        if m.scim_attributes.is_none() || base.contains_key("active") || m.status != ACTIVE {
            base.insert("active".into(), json!(m.status == ACTIVE));
        }
        let doc = apply(&USER, &base, &m.id, &ops)?;
        let delta = json!({"operations": redact(body).get("Operations").cloned().unwrap_or_else(|| redact(body))});
        let outcome = self
            .save_user(&mut tx, sc, Some(&m), doc, Operation::Patch, Some(delta))
            .await;
        let saved = self.finish_write(sc, tx, outcome).await?;
        self.scim_user_after(sc, saved, id, projection).await
    }

    /// `DELETE /Users/{id}`: deactivates (keeping the member and hiding it from SCIM) or
    /// deletes, as the connection's `deprovision` says.
    pub async fn scim_delete_user(
        &self,
        sc: &ScimCtx,
        id: &str,
        if_match: Option<&str>,
    ) -> ScimResult<()> {
        let mut tx = self.begin_write(&sc.ctx).await?;
        let m = find_visible(tx.db(), sc, id).await?;
        check_if_match(if_match, m.version)?;
        let outcome = self.delete_user_in(&mut tx, sc, &m).await;
        self.finish_write(sc, tx, outcome).await?;
        Ok(())
    }

    async fn delete_user_in(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        m: &Model,
    ) -> Outcome<Option<()>> {
        let res = Resource::member(&m.id);
        let before = audit_snapshot(tx.db(), m).await?;
        if m.role == BaseRole::Owner.as_str() {
            return Err(refused(
                ScimError::mutability(
                    "the owner cannot be removed or deactivated by an identity provider",
                ),
                "member",
                &m.email,
                "deleteMember",
                &res,
                "DELETE",
                Some(before),
            ));
        }
        let delete = sc.connection.deprovision == "delete";
        let (tokens, sessions) = revoke_member_credentials(tx, &m.id).await?;
        let revoked = format!("{tokens} token(s) and {sessions} session(s)");
        let draft = if delete {
            crate::service::team_members::run(
                tx.db(),
                crate::service::team_members::remove_everywhere(tx.backend(), &m.id),
            )
            .await?;
            entity::scim_value::Entity::delete_many()
                .filter(entity::scim_value::Column::ResourceKind.eq(Kind::User.as_str()))
                .filter(entity::scim_value::Column::ResourceId.eq(m.id.clone()))
                .exec(tx.db())
                .await?;
            Entity::delete_by_id(m.id.clone()).exec(tx.db()).await?;
            AuditDraft::new("member", &m.email, "deleteMember", &res)
                .describe(format!(
                    "SCIM DELETE by connection {}: removed member {}; revoked {revoked}",
                    sc.key(),
                    m.email
                ))
                .before(Some(before))
        } else {
            let mut am: ActiveModel = m.clone().into();
            am.status = Set(DEACTIVATED.to_owned());
            am.scim_deleted_at = Set(Some(tx.now_ms()));
            am.version = Set(m.version + 1);
            am.updated_at = Set(tx.now_ms());
            let updated = am.update(tx.db()).await?;
            AuditDraft::new("member", &m.email, "updateMemberStatus", &res)
                .describe(format!(
                    "SCIM DELETE by connection {}: deactivated member {} (kept with its history); revoked {revoked}",
                    sc.key(), m.email
                ))
                .before(Some(before))
                .after(Some(audit_snapshot(tx.db(), &updated).await?))
        };
        tx.audit(draft.delta(json!({"scim": {"operation": Operation::Delete.as_str(), "connection": sc.key(), "deprovision": sc.connection.deprovision}})));
        Ok(Some(()))
    }

    /// Writes a user document: derives the member's columns, maps roles, enforces owner
    /// protection, uniqueness and the deactivation freeze, rewrites the filter index,
    /// revokes credentials on deactivation, and audits. `None` when nothing changed.
    pub(crate) async fn save_user(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        existing: Option<&Model>,
        doc: Map<String, Value>,
        op: Operation,
        delta: Option<Value>,
    ) -> Outcome<Option<Model>> {
        let (doc, user_name, email) = finish(doc)?;
        let now = tx.now_ms();
        let id = existing.map(|m| m.id.clone()).unwrap_or_else(new_id);
        let res = Resource::member(&id);
        let before = match existing {
            Some(m) => Some(audit_snapshot(tx.db(), m).await?),
            None => None,
        };
        let label = email.clone().unwrap_or_else(|| user_name.clone());
        let old_status = existing.map(|m| m.status.as_str());
        let old_doc = existing
            .and_then(|m| m.scim_attributes.as_ref())
            .and_then(|t| from_json::<Map<String, Value>>(t).ok());
        // `active` unassigned by the IdP (removed, or left out of a PUT) is not a
        // deactivation; a member the IdP never said anything about keeps its status.
        let new_status = match doc.get("active").and_then(Value::as_bool) {
            Some(true) => ACTIVE,
            Some(false) => DEACTIVATED,
            None if existing.is_some_and(|m| m.scim_deleted_at.is_some()) => ACTIVE,
            None if old_doc.as_ref().is_some_and(|d| d.contains_key("active")) => ACTIVE,
            None => old_status.unwrap_or(ACTIVE),
        };
        let is_owner = existing.is_some_and(|m| m.role == BaseRole::Owner.as_str());
        if is_owner && new_status == DEACTIVATED {
            return Err(refused(
                ScimError::mutability("the owner cannot be deactivated by an identity provider"),
                "member",
                &label,
                "updateMemberStatus",
                &res,
                op.as_str(),
                before,
            ));
        }
        let rules = mapping_rules(&sc.connection)?;
        let outcome = match mapping::map_profile(&rules, &idp_profile(&USER, &doc)) {
            Ok(o) => o,
            Err(e) => {
                let action = if matches!(op, Operation::Post) && existing.is_none() {
                    "createMember"
                } else {
                    "updateRole"
                };
                let detail = match &e {
                    MappingError::OwnerRole => {
                        "role: the owner role can never be assigned by an identity provider"
                            .to_owned()
                    }
                    MappingError::UnknownRole(r) => {
                        format!("role: {r:?} is not a base role (reader, writer, admin, no_access)")
                    }
                };
                return Err(refused(
                    ScimError::invalid_value(detail),
                    "member",
                    &label,
                    action,
                    &res,
                    op.as_str(),
                    before,
                ));
            }
        };
        let old_outcome = old_doc
            .as_ref()
            .and_then(|d| mapping::map_profile(&rules, &idp_profile(&USER, d)).ok());
        let frozen = new_status == DEACTIVATED && old_status == Some(DEACTIVATED);
        let reactivated = old_status == Some(DEACTIVATED) && new_status == ACTIVE;
        let apply_roles = !is_owner
            && !frozen
            && (existing.is_none() || reactivated || old_outcome.as_ref() != Some(&outcome));
        let default_role = BaseRole::parse(&sc.connection.default_role).unwrap_or(BaseRole::Reader);
        let explicit_custom = doc
            .get(GATEHOUSE_URN)
            .and_then(|g| g.get("customRole"))
            .is_some();

        let mut am: ActiveModel = match existing {
            Some(m) => m.clone().into(),
            None => ActiveModel {
                id: Set(id.clone()),
                source: Set("scim".to_owned()),
                role: Set(default_role.as_str().to_owned()),
                custom_roles: Set("[]".to_owned()),
                role_attributes: Set("{}".to_owned()),
                last_seen: Set(None),
                created_at: Set(now),
                version: Set(0),
                ..Default::default()
            },
        };
        let mut actions: Vec<&str> = Vec::new();
        if apply_roles {
            let current_role = existing
                .and_then(|m| BaseRole::parse(&m.role))
                .unwrap_or(default_role);
            let role = outcome.role.unwrap_or(current_role);
            let adopting_local = existing.is_some() && old_doc.is_none();
            let keep_custom = adopting_local && !explicit_custom && outcome.custom_roles.is_empty();
            if !keep_custom {
                let checked = async {
                    let roles =
                        check_custom_roles(tx.db(), "customRole", &outcome.custom_roles).await?;
                    check_role_requirements(
                        tx.db(),
                        "customRole",
                        &roles,
                        &outcome.role_attributes,
                    )
                    .await?;
                    Ok::<_, crate::error::Error>(roles)
                }
                .await;
                let roles = match checked {
                    Ok(roles) => roles,
                    Err(e) => {
                        let action = if existing.is_none() {
                            "createMember"
                        } else {
                            "updateCustomRole"
                        };
                        return Err(refused(
                            ScimError::invalid_value(e.to_string()),
                            "member",
                            &label,
                            action,
                            &res,
                            op.as_str(),
                            before,
                        ));
                    }
                };
                am.custom_roles = Set(to_json(&roles)?);
                am.role_attributes = Set(to_json(&outcome.role_attributes)?);
            }
            am.role = Set(role.as_str().to_owned());
        }
        // Uniqueness, case-insensitively, against every member (of any connection).
        let user_name_lower = user_name.to_lowercase();
        // A create has checked the name already, in this transaction.
        let taken = if existing.is_none()
            || existing.is_some_and(|m| m.user_name_lower == user_name_lower)
        {
            0
        } else {
            Entity::find()
                .filter(Column::UserNameLower.eq(user_name_lower.clone()))
                .filter(Column::Id.ne(id.clone()))
                .count(tx.db())
                .await?
        };
        if taken > 0 {
            return Err(ScimError::uniqueness(format!(
                "a User with userName {user_name:?} already exists"
            ))
            .into());
        }
        if !frozen {
            let email = email.clone().or_else(|| existing.map(|m| m.email.clone())).ok_or_else(|| {
                ScimError::invalid_value("emails: a member needs an email address (emails[].value, or an email as userName)")
            })?;
            let email =
                validate_email(&email).map_err(|e| ScimError::invalid_value(e.to_string()))?;
            // A create leaves duplicates to the unique index (mapped below); an update that
            // keeps its email cannot collide.
            let dup = if existing.is_none_or(|m| m.email_lower == email.to_lowercase()) {
                0
            } else {
                Entity::find()
                    .filter(Column::EmailLower.eq(email.to_lowercase()))
                    .filter(Column::Id.ne(id.clone()))
                    .count(tx.db())
                    .await?
            };
            if dup > 0 {
                return Err(ScimError::uniqueness(format!(
                    "another member already has the email {email:?}"
                ))
                .into());
            }
            am.email_lower = Set(email.to_lowercase());
            am.email = Set(email);
            am.first_name = Set(name_part(&doc, "givenName"));
            am.last_name = Set(name_part(&doc, "familyName"));
        }
        am.user_name = Set(user_name.clone());
        am.user_name_lower = Set(user_name_lower);
        am.external_id = Set(doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned));
        am.status = Set(new_status.to_owned());
        am.connection_key = Set(Some(sc.key().to_owned()));
        am.scim_deleted_at = Set(None);
        let attrs = to_json(&doc)?;
        am.scim_attributes = Set(Some(attrs.clone()));

        // Nothing to write when the row would stay as it is.
        if let Some(m) = existing {
            let mut probe = am.clone();
            probe.version = Set(m.version);
            probe.updated_at = Set(m.updated_at);
            let same = probe.try_into_model().ok().is_some_and(|p: Model| &p == m);
            if same {
                return Ok(None);
            }
            let changed = |a: &str, b: &str| a != b;
            if changed(&m.status, new_status) {
                actions.push("updateMemberStatus");
            }
            if let (Set(r), true) = (&am.role, apply_roles)
                && r != &m.role
            {
                actions.push("updateRole");
            }
            if let Set(c) = &am.custom_roles
                && c != &m.custom_roles
            {
                actions.push("updateCustomRole");
            }
            if let Set(a) = &am.role_attributes
                && a != &m.role_attributes
            {
                actions.push("updateMemberRoleAttributes");
            }
            let without_active = |d: &Map<String, Value>| {
                let mut d = d.clone();
                d.remove("active");
                d
            };
            let doc_changed = old_doc.as_ref().map(without_active) != Some(without_active(&doc));
            let profile_changed = doc_changed || m.user_name != user_name || actions.is_empty();
            if profile_changed {
                actions.insert(0, "updateMemberName");
            }
        } else {
            actions.push("createMember");
        }
        am.updated_at = Set(now);
        am.version = Set(existing.map_or(1, |m| m.version + 1));
        // The member's row and index go to the database with the audit entry, in one
        // round trip, once the entry is drafted: it records the row as written.
        let saved: Model = am
            .clone()
            .try_into_model()
            .map_err(|e| crate::error::Error::internal(format!("member row: {e}")))?;
        let backend = tx.backend();
        let mut writes = vec![if existing.is_some() {
            Entity::update_many()
                .set(am)
                .filter(Column::Id.eq(saved.id.clone()))
                .build(backend)
        } else {
            Entity::insert(am).build(backend)
        }];
        writes.extend(index_rewrites(
            backend,
            Kind::User,
            &saved.id,
            index_values(&USER, &doc),
            existing.is_none(),
        ));
        let mut notes = Vec::new();
        if new_status == DEACTIVATED && old_status != Some(DEACTIVATED) {
            let (tokens, sessions) = revoke_member_credentials(tx, &saved.id).await?;
            notes.push(format!(
                "deactivated; revoked {tokens} token(s) and {sessions} session(s)"
            ));
        }
        if reactivated {
            notes.push("reactivated".to_owned());
        }
        if frozen {
            notes.push(
                "deactivated: email, names and roles stay frozen until reactivation".to_owned(),
            );
        }
        if is_owner {
            notes.push(
                "role attributes ignored: an identity provider never changes the owner's role"
                    .to_owned(),
            );
        }
        let what = if existing.is_none() {
            format!("created member {} as {}", saved.email, saved.role)
        } else if existing.is_some_and(|m| m.scim_deleted_at.is_some()) {
            format!("re-provisioned member {}", saved.email)
        } else {
            format!("updated member {}", saved.email)
        };
        let mut description = format!("SCIM {} by connection {}: {what}", op.as_str(), sc.key());
        if !notes.is_empty() {
            description.push_str(&format!(" ({})", notes.join("; ")));
        }
        let mut draft = AuditDraft::new(
            "member",
            &saved.email,
            actions.first().copied().unwrap_or("updateMemberName"),
            &res,
        );
        for a in actions.iter().skip(1) {
            draft = draft.access(a, &res);
        }
        let mut scim = json!({"operation": op.as_str(), "connection": sc.key()});
        if let (Some(obj), Some(Value::Object(extra))) = (scim.as_object_mut(), delta) {
            obj.extend(extra);
        }
        // A new member belongs to no team yet: no need to look.
        let after = if existing.is_some() {
            audit_snapshot(tx.db(), &saved).await?
        } else {
            snapshot_with_teams(&saved, Vec::new())?
        };
        let draft = draft
            .describe(description)
            .before(before)
            .after(Some(after))
            .delta(json!({"scim": scim}));
        tx.write_audited(writes, draft).await.map_err(|e| match e {
            crate::error::Error::Conflict(_) => ScimError::uniqueness(format!(
                "another member already has the userName {user_name:?} or its email"
            ))
            .into(),
            other => Failure::from(other),
        })?;
        Ok(Some(saved))
    }
}
