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
use sea_orm::{QueryTrait, Statement, TryIntoModel};
use serde_json::{Map, Value, json};

use super::query::Kind;
use super::{
    Failure, ListPage, ListRequest, Outcome, ScimCtx, check_if_match, etag, index_rewrites,
    insert_row, redact, refused, timestamp,
};
use crate::domain::grant_source::GrantSource;
use crate::domain::policy::{BaseRole, Resource};
use crate::domain::provisioning::{self, Plan, RoleCatalogue, Transition};
use crate::domain::scim::error::{ScimError, ScimFailure, ScimResult};
use crate::domain::scim::patch::{apply, parse_patch};
use crate::domain::scim::resource::{Projection, canonicalize, index_values};
use crate::domain::scim::schema::{GATEHOUSE_URN, LAUNCHDARKLY_URN, USER, USER_URN};
use crate::domain::scim::user::{self, Previously, UserRecord, user_record};
use crate::service::authz::authorize;
use crate::service::connections::mapping_rules;
use crate::service::credentials::revoke_member_credentials;
use crate::service::members::{rep_with_teams, team_keys, validate_email};
use crate::service::provisioning::{
    ACTIVE, DEACTIVATED, apply_plan, authorize_plan, current_member, role_catalogue,
};
use crate::service::util::{from_json, new_id, snapshot, to_json};
use crate::service::write::{BlindChange, BlindOutcome};
use crate::service::{AuditDraft, Service, WriteTx};

use entity::member::{ActiveModel, Column, Entity, Model};

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

/// A member as a SCIM write saved it, with its document (so the answer and the audit
/// entry need not read it back from the row's JSON).
pub(crate) struct SavedUser {
    pub row: Model,
    pub doc: Map<String, Value>,
}

/// The User resource of a member. `groups` are its synced teams of this connection.
pub(crate) fn render(base: &str, m: &Model, groups: &[(String, String)]) -> ScimResult<Value> {
    render_doc(base, m, stored_doc(m)?, groups)
}

/// The User resource of a member whose document is at hand.
fn render_doc(
    base: &str,
    m: &Model,
    mut doc: Map<String, Value>,
    groups: &[(String, String)],
) -> ScimResult<Value> {
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

/// A member's audit snapshot: its REST representation and the SCIM document.
async fn audit_snapshot(db: &impl ConnectionTrait, m: &Model) -> ScimResult<Value> {
    let teams = team_keys(db, &m.id).await.map_err(ScimError::from)?;
    snapshot_with_teams(m, teams, None)
}

/// The member as the audit log records it, with the keys of its teams and its SCIM
/// document (`doc` when at hand, else read from the row).
fn snapshot_with_teams(
    m: &Model,
    teams: Vec<String>,
    doc: Option<&Map<String, Value>>,
) -> ScimResult<Value> {
    let mut v =
        snapshot(&rep_with_teams(m, teams).map_err(ScimError::from)?).map_err(ScimError::from)?;
    let doc = match (doc, &m.scim_attributes) {
        (Some(doc), _) => Some(Value::Object(doc.clone())),
        (None, Some(text)) => Some(from_json(text).map_err(ScimError::from)?),
        (None, None) => None,
    };
    if let (Some(obj), Some(doc)) = (v.as_object_mut(), doc) {
        obj.insert("scimAttributes".into(), doc);
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
        self.render_user(sc, &m, None, projection, true).await
    }

    /// A user as `projection` asks for it; its groups are loaded only if the response holds
    /// them and it may have any (`in_groups`).
    async fn render_user(
        &self,
        sc: &ScimCtx,
        m: &Model,
        doc: Option<Map<String, Value>>,
        projection: &Projection,
        in_groups: bool,
    ) -> ScimResult<Value> {
        let groups = if in_groups && projection.includes("groups") {
            groups_of(self.db(), sc, std::slice::from_ref(&m.id)).await?
        } else {
            Default::default()
        };
        let doc = match doc {
            Some(doc) => doc,
            None => stored_doc(m)?,
        };
        let groups = groups.get(&m.id).map(Vec::as_slice).unwrap_or(&[]);
        let rendered = render_doc(&self.scim_base(), m, doc, groups)?;
        Ok(projection.apply(&USER, rendered))
    }

    /// The user after a write: as saved, or (nothing changed) as stored.
    async fn scim_user_after(
        &self,
        sc: &ScimCtx,
        saved: Option<SavedUser>,
        id: &str,
        projection: &Projection,
    ) -> ScimResult<Value> {
        match saved {
            Some(u) => {
                self.render_user(sc, &u.row, Some(u.doc), projection, true)
                    .await
            }
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
        let record = user_record(doc.clone())?;
        let statement = user_statement(sc, None, &record)?;
        if !statement.mapped.custom_roles.is_empty() {
            // Custom roles are checked against the catalogue inside the transaction.
            return self
                .create_over_existing(sc, doc, &record.user_name, projection)
                .await;
        }
        // IdPs look a userName up before they create it, so a create is nearly always of a
        // new user: it is planned and built before the write path is entered (writes queue
        // there one at a time), inserted at once, and the unique indexes refuse a name or
        // email taken meanwhile. Only then is the existing member looked at (SCIM may have
        // deleted it, and a create brings it back).
        let prepared = self.prepare_new_user(sc, record, &statement).await?;
        if prepared.deactivating {
            // Created inactive: the ordinary path revokes the member's credentials (none
            // yet) in its transaction, which a change written blind has none of.
            return self.create_alone(sc, doc, prepared, projection).await;
        }
        // A new active member's writes are all decided: they are written together with the
        // other creates queued meanwhile, in one round trip.
        let PreparedUser {
            plan,
            row,
            doc: saved_doc,
            writes,
            draft,
            op,
            ..
        } = prepared;
        let draft = draft.describe(describe_save(sc, op, None, &row, &plan, None));
        let blind = BlindChange {
            writes,
            draft,
            disjoint: true,
        };
        match self.write_blind(&sc.ctx, blind).await? {
            // A new member belongs to no group yet: no need to look.
            BlindOutcome::Written => {
                self.render_user(sc, &row, Some(saved_doc), projection, false)
                    .await
            }
            // The shared write failed (this create's name may be taken, or another's): it
            // is made again alone, where its failure is its own.
            BlindOutcome::Alone => {
                let record = user_record(doc.clone())?;
                let prepared = self.prepare_new_user(sc, record, &statement).await?;
                self.create_alone(sc, doc, prepared, projection).await
            }
        }
    }

    /// Plans and builds the create of a new member; a refusal is recorded on its own.
    async fn prepare_new_user(
        &self,
        sc: &ScimCtx,
        record: UserRecord,
        statement: &provisioning::Statement,
    ) -> ScimResult<PreparedUser> {
        let change = UserChange {
            existing: None,
            op: Operation::Post,
            delta: None,
            now: self.now_ms(),
        };
        match prepare_user(sc, change, record, statement, Loaded::default()) {
            Ok(Some(prepared)) => Ok(prepared),
            Ok(None) => Err(ScimError::internal("a new user planned no write")),
            Err(failure) => Err(self.fail(sc, failure).await),
        }
    }

    /// Writes a prepared create on its own; a taken userName or email turns it into a
    /// create over the existing member.
    async fn create_alone(
        &self,
        sc: &ScimCtx,
        doc: Map<String, Value>,
        prepared: PreparedUser,
        projection: &Projection,
    ) -> ScimResult<Value> {
        let user_name = prepared.row.user_name.clone();
        let mut tx = self.begin_write(&sc.ctx).await?;
        let outcome = self.write_user(&mut tx, sc, None, prepared).await.map(Some);
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
            Some(u) => {
                self.render_user(sc, &u.row, Some(u.doc), projection, false)
                    .await
            }
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
            Some(u) => {
                self.render_user(sc, &u.row, Some(u.doc), projection, revive.is_some())
                    .await
            }
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
        let action = if delete {
            "deleteMember"
        } else {
            "updateMemberStatus"
        };
        authorize(&sc.ctx.principal, action, &res)?;
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

    /// Writes a user document: load what the planner needs, plan (roles, status, owner
    /// protection, the deactivation freeze), authorize, then write the member's row, its
    /// filter index and its audit entry in one round trip, revoking credentials on
    /// deactivation. `None` when nothing changed.
    pub(crate) async fn save_user(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        existing: Option<&Model>,
        doc: Map<String, Value>,
        op: Operation,
        delta: Option<Value>,
    ) -> Outcome<Option<SavedUser>> {
        let record = user_record(doc)?;
        let statement = user_statement(sc, existing, &record)?;
        let loaded = Loaded {
            catalogue: role_catalogue(tx.db(), &statement.mapped.custom_roles).await?,
            // The member's teams, for its audit snapshots (a new member has none).
            teams: match existing {
                Some(m) => team_keys(tx.db(), &m.id).await?,
                None => Vec::new(),
            },
        };
        let change = UserChange {
            existing,
            op,
            delta,
            now: tx.now_ms(),
        };
        let Some(prepared) = prepare_user(sc, change, record, &statement, loaded)? else {
            return Ok(None);
        };
        if let Some(m) = existing {
            check_unique(tx, m, &prepared).await?;
        }
        self.write_user(tx, sc, existing, prepared).await.map(Some)
    }

    /// Writes a prepared user change in the open transaction: credentials revoked on
    /// deactivation, then the row, its filter index and the audit entry in one round trip.
    async fn write_user(
        &self,
        tx: &mut WriteTx<'_>,
        sc: &ScimCtx,
        existing: Option<&Model>,
        prepared: PreparedUser,
    ) -> Outcome<SavedUser> {
        let PreparedUser {
            plan,
            row,
            doc,
            writes,
            draft,
            op,
            deactivating,
        } = prepared;
        let revoked = if deactivating {
            Some(revoke_member_credentials(tx, &row.id).await?)
        } else {
            None
        };
        let draft = draft.describe(describe_save(sc, op, existing, &row, &plan, revoked));
        let written = if existing.is_none() {
            // A new member's rows: all inserts of rows nobody else writes.
            tx.write_audited_disjoint(writes, draft).await
        } else {
            // Its filter index is deleted and written again: the same rows twice.
            tx.write_audited(writes, draft).await
        };
        written.map_err(|e| match e {
            crate::error::Error::Conflict(_) => ScimError::uniqueness(format!(
                "another member already has the userName {:?} or its email",
                row.user_name
            ))
            .into(),
            other => Failure::from(other),
        })?;
        Ok(SavedUser { row, doc })
    }
}

/// What a user write needs from the database, loaded in its transaction.
#[derive(Default)]
struct Loaded {
    catalogue: RoleCatalogue,
    teams: Vec<String>,
}

/// Which write of which member.
struct UserChange<'a> {
    existing: Option<&'a Model>,
    op: Operation,
    /// Extra audit detail (a PATCH's operations).
    delta: Option<Value>,
    now: i64,
}

/// A user write decided before it touches the database: the plan, the row, its statements
/// and its audit entry (described once the credentials it revokes are known).
struct PreparedUser {
    plan: Plan,
    row: Model,
    doc: Map<String, Value>,
    writes: Vec<Statement>,
    draft: AuditDraft,
    op: Operation,
    deactivating: bool,
}

/// The document as a statement for the planner, against what the IdP said before.
fn user_statement(
    sc: &ScimCtx,
    existing: Option<&Model>,
    record: &UserRecord,
) -> ScimResult<provisioning::Statement> {
    let old_doc = existing
        .and_then(|m| m.scim_attributes.as_ref())
        .and_then(|t| from_json::<Map<String, Value>>(t).ok());
    let rules = mapping_rules(&sc.connection).map_err(ScimError::from)?;
    let default_role = BaseRole::parse(&sc.connection.default_role).unwrap_or(BaseRole::Reader);
    let before = Previously {
        exists: existing.is_some(),
        doc: old_doc.as_ref(),
        deleted: existing.is_some_and(|m| m.scim_deleted_at.is_some()),
    };
    Ok(user::statement(record, before, &rules, default_role))
}

/// Plans a user write and builds everything it writes; `None` when the row would stay as
/// it is. Pure: the connection is authorized for the plan's actions here too.
fn prepare_user(
    sc: &ScimCtx,
    change: UserChange<'_>,
    record: UserRecord,
    statement: &provisioning::Statement,
    loaded: Loaded,
) -> Outcome<Option<PreparedUser>> {
    let UserChange {
        existing,
        op,
        delta,
        now,
    } = change;
    let id = existing.map(|m| m.id.clone()).unwrap_or_else(new_id);
    let res = Resource::member(&id);
    let current = existing.map(|m| current_member(m, sc.key())).transpose()?;
    let before = existing
        .map(|m| snapshot_with_teams(m, loaded.teams.clone(), None))
        .transpose()?;
    let label = record
        .email
        .clone()
        .unwrap_or_else(|| record.user_name.clone());
    let plan = provisioning::plan(current.as_ref(), statement, &loaded.catalogue)
        .map_err(|r| refusal(r, existing.is_none(), op, &label, &res, before.clone()))?;
    authorize_plan(&sc.ctx.principal, &plan, &res)?;
    let Some(row) = member_row(sc, existing, &record, &plan, &id, now)? else {
        return Ok(None);
    };
    let backend = sc.backend;
    let mut writes = vec![if existing.is_some() {
        let am: ActiveModel = row.clone().into();
        Entity::update_many()
            .set(am.reset_all())
            .filter(Column::Id.eq(row.id.clone()))
            .build(backend)
    } else {
        insert_row(backend, &row)
    }];
    writes.extend(index_rewrites(
        backend,
        Kind::User,
        &row.id,
        index_values(&USER, &record.doc),
        existing.is_none(),
    ));
    let mut draft = AuditDraft::new(
        "member",
        &row.email,
        plan.actions.first().copied().unwrap_or("updateMemberName"),
        &res,
    );
    for a in plan.actions.iter().skip(1) {
        draft = draft.access(a, &res);
    }
    let mut scim = json!({"operation": op.as_str(), "connection": sc.key()});
    if let (Some(obj), Some(Value::Object(extra))) = (scim.as_object_mut(), delta) {
        obj.extend(extra);
    }
    let draft = draft
        .before(before)
        .after(Some(snapshot_with_teams(
            &row,
            loaded.teams,
            Some(&record.doc),
        )?))
        .delta(json!({"scim": scim}));
    Ok(Some(PreparedUser {
        deactivating: !plan.active && current.as_ref().is_none_or(|m| m.active),
        plan,
        row,
        doc: record.doc,
        writes,
        draft,
        op,
    }))
}

/// The member's row after a plan, with the document's identifiers; `None` when it would
/// stay as it is. A missing or invalid email is refused here; a taken one by `check_unique`
/// (an update) or the unique indexes (a create).
fn member_row(
    sc: &ScimCtx,
    existing: Option<&Model>,
    record: &UserRecord,
    plan: &Plan,
    id: &str,
    now: i64,
) -> Outcome<Option<Model>> {
    let mut am: ActiveModel = match existing {
        Some(m) => m.clone().into(),
        None => ActiveModel {
            id: Set(id.to_owned()),
            source: Set("scim".to_owned()),
            last_seen: Set(None),
            role_source: Set(None),
            custom_role_sources: Set(None),
            last_sign_in_at: Set(None),
            last_sign_in_connection: Set(None),
            last_sign_in_protocol: Set(None),
            team_count: Set(0),
            created_at: Set(now),
            version: Set(0),
            ..Default::default()
        },
    };
    apply_plan(&mut am, plan, &GrantSource::scim(sc.key()))?;
    if let Some(email) = &plan.email {
        let email = validate_email(email).map_err(|e| ScimError::invalid_value(e.to_string()))?;
        am.email_lower = Set(email.to_lowercase());
        am.email = Set(email);
    }
    am.user_name = Set(record.user_name.clone());
    am.user_name_lower = Set(record.user_name.to_lowercase());
    am.external_id = Set(record
        .doc
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_owned));
    am.connection_key = Set(Some(sc.key().to_owned()));
    am.scim_deleted_at = Set(None);
    am.scim_attributes = Set(Some(to_json(&record.doc)?));
    if let Some(m) = existing {
        let mut probe = am.clone();
        probe.version = Set(m.version);
        probe.updated_at = Set(m.updated_at);
        if probe.try_into_model().ok().is_some_and(|p: Model| &p == m) {
            return Ok(None);
        }
    }
    am.updated_at = Set(now);
    am.version = Set(existing.map_or(1, |m| m.version + 1));
    let row = am
        .try_into_model()
        .map_err(|e| crate::error::Error::internal(format!("member row: {e}")))?;
    Ok(Some(row))
}

/// Refuses an update that takes a userName or email another member has.
async fn check_unique(tx: &WriteTx<'_>, m: &Model, prepared: &PreparedUser) -> Outcome<()> {
    let row = &prepared.row;
    let taken = |column: Column, value: &str| {
        Entity::find()
            .filter(column.eq(value.to_owned()))
            .filter(Column::Id.ne(row.id.clone()))
            .count(tx.db())
    };
    if m.user_name_lower != row.user_name_lower
        && taken(Column::UserNameLower, &row.user_name_lower).await? > 0
    {
        return Err(ScimError::uniqueness(format!(
            "a User with userName {:?} already exists",
            row.user_name
        ))
        .into());
    }
    if m.email_lower != row.email_lower && taken(Column::EmailLower, &row.email_lower).await? > 0 {
        return Err(ScimError::uniqueness(format!(
            "another member already has the email {:?}",
            row.email
        ))
        .into());
    }
    Ok(())
}

/// The refusal of a statement, audited as the action it attempted (a missing email is a
/// plain error: nothing about roles was attempted).
fn refusal(
    r: provisioning::Refusal,
    creating: bool,
    op: Operation,
    label: &str,
    res: &Resource,
    before: Option<Value>,
) -> Failure {
    use provisioning::Refusal as R;
    let action = match &r {
        R::OwnerDeactivated => "updateMemberStatus",
        R::Mapping(_) if creating && op == Operation::Post => "createMember",
        R::Mapping(_) => "updateRole",
        R::UnknownCustomRole(_) | R::MissingRoleAttribute { .. } if creating => "createMember",
        R::UnknownCustomRole(_) | R::MissingRoleAttribute { .. } => "updateCustomRole",
        R::NoEmail | R::Deactivated | R::OtherConnection | R::NotProvisioned => {
            return Failure::Plain(ScimError::invalid_value(r.to_string()));
        }
    };
    let error = match r {
        R::OwnerDeactivated => ScimError::mutability(r.to_string()),
        other => ScimError::invalid_value(other.to_string()),
    };
    refused(error, "member", label, action, res, op.as_str(), before)
}

/// The audit description of a saved user: what happened, and what the plan noted.
fn describe_save(
    sc: &ScimCtx,
    op: Operation,
    existing: Option<&Model>,
    saved: &Model,
    plan: &Plan,
    revoked: Option<(u64, u64)>,
) -> String {
    let what = match existing {
        None => format!("created member {} as {}", saved.email, saved.role),
        Some(m) if m.scim_deleted_at.is_some() => format!("re-provisioned member {}", saved.email),
        Some(_) => format!("updated member {}", saved.email),
    };
    let mut notes = Vec::new();
    if let Some((tokens, sessions)) = revoked {
        notes.push(format!(
            "deactivated; revoked {tokens} token(s) and {sessions} session(s)"
        ));
    }
    match plan.transition {
        Transition::Reactivated => notes.push("reactivated".to_owned()),
        Transition::Frozen => notes
            .push("deactivated: email, names and roles stay frozen until reactivation".to_owned()),
        Transition::None | Transition::Deactivated => {}
    }
    if plan.owner {
        notes.push(
            "role attributes ignored: an identity provider never changes the owner's role"
                .to_owned(),
        );
    }
    let mut description = format!("SCIM {} by connection {}: {what}", op.as_str(), sc.key());
    if !notes.is_empty() {
        description.push_str(&format!(" ({})", notes.join("; ")));
    }
    description
}
