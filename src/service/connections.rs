//! Identity connections: an IdP (Okta, Entra ID, generic) that provisions members over SCIM and
//! signs them in over SAML or OIDC, with its SCIM bearer tokens and its ordered mapping rules.
//! Secrets (SCIM token secrets, the OIDC client secret) are write-only.

use std::collections::BTreeMap;

use base64::Engine;
use poem_openapi::Object;
use poem_openapi::types::MaybeUndefined;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use serde::Serialize;
use serde_json::Value;

use super::authz::authorize;
use super::connection_shapes::{
    AttributeValueBody, GroupBody, MappingRuleBody, OidcBody, SamlBody,
};
use super::documented::Documented;
use super::ip_allowlist::{IpAllowlistEntry, scim_allowlist_column, stored_scim_allowlist};
use super::members::{check_custom_roles, check_role_attributes, check_role_requirements};
use super::projects::dup;
use super::secrets::hash_secret;
use super::util::{
    check_version, from_json, new_id, snapshot, to_json, validate_key, validate_name,
};
use super::{AuditDraft, Ctx, Service};
use crate::domain::connection::{
    ConnectionKind, Deprovision, MetadataStatus, OidcSettings, SamlSettings,
};
use crate::domain::json::without_nulls;
use crate::domain::mapping::{self, IdpGroup, IdpProfile, MappingRule};
use crate::domain::policy::{BaseRole, Resource};
use crate::error::{Error, Result};
use crate::service::spelled::{
    ConnectionKindName, DeprovisionName, GrantedRoleName, Key, Matches, Name, Spelled,
};

/// Prefix of SCIM token secrets, distinct from API tokens so a leaked one is recognisable.
const SCIM_SECRET_PREFIX: &str = "gscim_";

/// A connection as the API shows it; secrets never appear.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub key: String,
    /// okta | entra | generic
    pub kind: String,
    pub name: String,
    /// Create members on their first sign-in.
    pub jit: bool,
    /// Base role of members this connection creates without a role attribute or rule.
    pub default_role: String,
    /// What SCIM DELETE of a user does: deactivate | delete.
    pub deprovision: String,
    /// Members of this connection must sign in through it and may not create API tokens.
    pub sso_required: bool,
    /// SAML settings (`spPrivateKey` never shown).
    #[oai(skip_serializing_if_is_none)]
    pub saml: Option<SamlBody>,
    /// OIDC settings; `clientSecret` is write-only (see `oidcClientSecretSet`).
    #[oai(skip_serializing_if_is_none)]
    pub oidc: Option<OidcBody>,
    pub oidc_client_secret_set: bool,
    /// The addresses SCIM requests with this connection's tokens must come from; absent:
    /// any address.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_allowlist: Option<Vec<IpAllowlistEntry>>,
    /// Ordered mapping rules.
    pub mappings: Vec<MappingRuleBody>,
    pub scim_tokens: Vec<ScimToken>,
    pub version: i64,
    pub creation_date: i64,
}

/// A SCIM bearer token as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct ScimToken {
    pub id: String,
    /// The last four characters of the secret.
    pub ending: String,
    #[oai(nullable)]
    pub last_used: Option<i64>,
    pub revoked: bool,
    pub creation_date: i64,
}

/// A new SCIM token: the secret is shown once, here.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ScimTokenCreated {
    pub id: String,
    /// Paste it into the IdP's provisioning settings as the bearer token; it is not shown again.
    pub token: String,
}

/// Body of `POST /api/v2/connections`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPost {
    /// Letters, digits, `.`, `_`, `-`, starting with a letter or digit; at most 128.
    #[oai(validator(custom = "Matches::new()", min_length = 1, max_length = 128))]
    pub key: Spelled<Key>,
    /// okta | entra | generic
    #[oai(validator(custom = "Matches::new()"))]
    pub kind: Spelled<ConnectionKindName>,
    /// Defaults to the key.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    #[oai(default = "default_true")]
    pub jit: bool,
    /// reader | writer | admin | no_access (never owner).
    #[oai(validator(custom = "Matches::new()"), default = "default_role")]
    pub default_role: Spelled<GrantedRoleName>,
    /// deactivate | delete
    #[oai(validator(custom = "Matches::new()"), default = "default_deprovision")]
    pub deprovision: Spelled<DeprovisionName>,
    #[oai(default)]
    pub sso_required: bool,
    pub saml: Option<SamlBody>,
    pub oidc: Option<OidcBody>,
    /// The addresses SCIM requests must come from (CIDR ranges or addresses); absent or
    /// null: any address. An empty list is refused; at most 500.
    #[oai(validator(max_items = 500))]
    pub scim_allowlist: Option<Vec<IpAllowlistEntry>>,
    #[oai(default)]
    pub mappings: Vec<MappingRuleBody>,
}

fn default_true() -> bool {
    true
}
fn default_role() -> Spelled<GrantedRoleName> {
    Spelled::new("reader")
}
fn default_deprovision() -> Spelled<DeprovisionName> {
    Spelled::new("deactivate")
}

/// Body of `PATCH /api/v2/connections/{key}`: the fields to change; `null` removes `saml` or
/// `oidc`. An `oidc` object without `clientSecret` keeps the stored secret.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPatch {
    /// 1 to 256 characters, not blank, no control characters.
    #[oai(validator(custom = "Matches::new()", max_length = 256))]
    pub name: Option<Spelled<Name>>,
    pub jit: Option<bool>,
    #[oai(validator(custom = "Matches::new()"))]
    pub default_role: Option<Spelled<GrantedRoleName>>,
    #[oai(validator(custom = "Matches::new()"))]
    pub deprovision: Option<Spelled<DeprovisionName>>,
    pub sso_required: Option<bool>,
    pub saml: MaybeUndefined<SamlBody>,
    pub oidc: MaybeUndefined<OidcBody>,
    /// Replaces the SCIM allowlist (at most 500 entries); `null` removes it (SCIM from any
    /// address).
    #[oai(validator(max_items = 500))]
    pub scim_allowlist: MaybeUndefined<Vec<IpAllowlistEntry>>,
    /// The version the change was made against (409 when stale).
    pub version: Option<i64>,
    pub comment: Option<String>,
}

/// Body of `POST /api/v2/connections/{key}/mappings/preview`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingPreviewInput {
    /// Attribute name -> a value or an array of values, e.g. `{"role": "writer",
    /// "customRole": "dev,qa", "teamKey": ["platform"], "department": "Sales"}`.
    #[oai(default)]
    pub attributes: BTreeMap<String, AttributeValueBody>,
    /// Group names, or `{"id", "name"}` objects.
    #[oai(default)]
    pub groups: Vec<GroupBody>,
}

/// What a profile would produce.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct MappingPreview {
    /// The base role a new member would get (the mapped one, else the connection default).
    pub role: String,
    /// Whether the role came from the attributes or rules (false: the connection default).
    pub role_mapped: bool,
    pub custom_roles: Vec<String>,
    pub role_attributes: BTreeMap<String, Vec<String>>,
    pub teams: Vec<String>,
    pub matched_rules: Vec<u32>,
    /// Custom role keys named by the profile that do not exist (SCIM refuses them, SSO skips them).
    pub unknown_custom_roles: Vec<String>,
}

fn parse_kind(kind: &str) -> Result<ConnectionKind> {
    ConnectionKind::parse(kind)
        .ok_or_else(|| Error::invalid(format!("kind: {kind:?} is not one of okta, entra, generic")))
}

fn parse_deprovision(value: &str) -> Result<Deprovision> {
    Deprovision::parse(value).ok_or_else(|| {
        Error::invalid(format!(
            "deprovision: {value:?} is not one of deactivate, delete"
        ))
    })
}

fn parse_default_role(role: &str) -> Result<BaseRole> {
    match BaseRole::parse(role) {
        Some(BaseRole::Owner) => Err(Error::invalid(
            "defaultRole: the owner role can never be assigned by an identity provider",
        )),
        Some(r) => Ok(r),
        None => Err(Error::invalid(format!(
            "defaultRole: {role:?} is not one of reader, writer, admin, no_access"
        ))),
    }
}

fn parse_saml(value: &Value) -> Result<SamlSettings> {
    let s: SamlSettings = serde_json::from_value(without_nulls(value))
        .map_err(|e| Error::invalid(format!("saml: {e}")))?;
    s.validate().map_err(Error::invalid)?;
    Ok(s.as_requested())
}

/// Parses OIDC settings; without a `clientSecret` the previous one (if any) is kept.
fn parse_oidc(value: &Value, previous: Option<&OidcSettings>) -> Result<OidcSettings> {
    let mut s: OidcSettings = serde_json::from_value(without_nulls(value))
        .map_err(|e| Error::invalid(format!("oidc: {e}")))?;
    s.validate().map_err(Error::invalid)?;
    if s.client_secret.is_none() {
        s.client_secret = previous.and_then(|p| p.client_secret.clone());
    }
    Ok(s)
}

/// The stored SAML settings of a connection (with the SP private key).
pub(super) fn saml_settings(m: &entity::connection::Model) -> Result<Option<SamlSettings>> {
    m.saml.as_deref().map(from_json).transpose()
}

/// The stored OIDC settings of a connection (with its secret).
pub(super) fn oidc_settings(m: &entity::connection::Model) -> Result<Option<OidcSettings>> {
    m.oidc.as_deref().map(from_json).transpose()
}

/// The connection's mapping rules, parsed.
pub fn mapping_rules(m: &entity::connection::Model) -> Result<Vec<MappingRule>> {
    let doc: Value = from_json(&m.mappings)?;
    Ok(mapping::parse_rules(&doc)
        .map_err(|e| Error::internal(format!("stored mappings of {}: {e}", m.key)))?
        .into_iter()
        .map(|(_, rule)| rule)
        .collect())
}

/// Checks a rule list against what exists: custom roles and the role attributes they need;
/// team keys must be valid keys (a missing team is created when a group or login needs it).
async fn check_rules(db: &impl ConnectionTrait, doc: &[Value]) -> Result<Vec<Value>> {
    let rules = mapping::parse_rules(&Value::Array(doc.to_vec())).map_err(Error::invalid)?;
    let mut out = Vec::with_capacity(rules.len());
    for (i, (rule, _)) in rules.into_iter().enumerate() {
        let field = format!("mappings[{i}]");
        if let Some(team) = &rule.team {
            validate_key(&format!("{field}.team"), team)?;
        }
        let roles =
            check_custom_roles(db, &format!("{field}.customRoles"), &rule.custom_roles).await?;
        check_role_attributes(&format!("{field}.roleAttributes"), &rule.role_attributes)?;
        check_role_requirements(
            db,
            &format!("{field}.customRoles"),
            &roles,
            &rule.role_attributes,
        )
        .await?;
        out.push(serde_json::to_value(&rule).map_err(Error::internal)?);
    }
    Ok(out)
}

async fn to_rep(db: &impl ConnectionTrait, m: &entity::connection::Model) -> Result<Connection> {
    let tokens = entity::scim_token::Entity::find()
        .filter(entity::scim_token::Column::ConnectionId.eq(m.id.clone()))
        .order_by_asc(entity::scim_token::Column::CreatedAt)
        .all(db)
        .await?;
    let oidc = oidc_settings(m)?;
    Ok(Connection {
        id: m.id.clone(),
        key: m.key.clone(),
        kind: m.kind.clone(),
        name: m.name.clone(),
        jit: m.jit,
        default_role: m.default_role.clone(),
        deprovision: m.deprovision.clone(),
        sso_required: m.sso_required,
        saml: saml_settings(m)?
            .map(|s| snapshot(&s.redacted()).map(Documented::new))
            .transpose()?,
        oidc_client_secret_set: oidc.as_ref().is_some_and(|o| o.client_secret.is_some()),
        oidc: oidc
            .map(|o| snapshot(&o.redacted()).map(Documented::new))
            .transpose()?,
        scim_allowlist: stored_scim_allowlist(m)?,
        mappings: from_json::<Vec<Value>>(&m.mappings)?
            .into_iter()
            .map(Documented::new)
            .collect(),
        scim_tokens: tokens
            .into_iter()
            .map(|t| ScimToken {
                id: t.id,
                ending: t.ending,
                last_used: t.last_used,
                revoked: t.revoked_at.is_some(),
                creation_date: t.created_at,
            })
            .collect(),
        version: m.version,
        creation_date: m.created_at,
    })
}

/// The connection with this key, or 404.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<entity::connection::Model> {
    entity::connection::Entity::find()
        .filter(entity::connection::Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("connection {key:?}")))
}

/// A profile from the preview body: strings, numbers and booleans become strings.
fn preview_profile(input: &MappingPreviewInput) -> Result<IdpProfile> {
    fn text(field: &str, v: &Value) -> Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(Error::invalid(format!(
                "{field}: must be a string, number or boolean"
            ))),
        }
    }
    let mut profile = IdpProfile::default();
    for (name, value) in &input.attributes {
        let field = format!("attributes.{name}");
        let values = match &value.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| text(&format!("{field}[{i}]"), v))
                .collect::<Result<Vec<_>>>()?,
            other => vec![text(&field, other)?],
        };
        profile.push(name, values);
    }
    /// A previewed group as a request gives it: closed, as every request object is.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GivenGroup {
        #[serde(default)]
        id: Option<String>,
        name: String,
    }
    for (i, g) in input.groups.iter().enumerate() {
        let group = match &g.value {
            Value::String(name) => IdpGroup {
                id: None,
                name: name.clone(),
            },
            other => {
                let given: GivenGroup = serde_json::from_value(other.clone()).map_err(|e| {
                    Error::invalid(format!(
                        "groups[{i}]: a group name or {{\"id\", \"name\"}}: {e}"
                    ))
                })?;
                IdpGroup {
                    id: given.id,
                    name: given.name,
                }
            }
        };
        profile.groups.push(group);
    }
    Ok(profile)
}

impl Service {
    pub async fn list_connections(&self, ctx: &Ctx) -> Result<Vec<Connection>> {
        let rows = entity::connection::Entity::find()
            .order_by_asc(entity::connection::Column::Key)
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in &rows {
            if authorize(
                &ctx.principal,
                "viewConnection",
                &Resource::connection(&m.key),
            )
            .is_ok()
            {
                out.push(to_rep(self.db(), m).await?);
            }
        }
        Ok(out)
    }

    pub async fn get_connection(&self, ctx: &Ctx, key: &str) -> Result<Connection> {
        authorize(&ctx.principal, "viewConnection", &Resource::connection(key))?;
        to_rep(self.db(), &find(self.db(), key).await?).await
    }

    pub async fn create_connection(&self, ctx: &Ctx, input: ConnectionPost) -> Result<Connection> {
        validate_key("key", &input.key)?;
        let res = Resource::connection(&input.key);
        authorize(&ctx.principal, "createConnection", &res)?;
        let kind = parse_kind(&input.kind)?;
        let name = validate_name("name", input.name.as_deref().unwrap_or(&input.key))?;
        let role = parse_default_role(&input.default_role)?;
        let deprovision = parse_deprovision(&input.deprovision)?;
        let saml = input
            .saml
            .as_ref()
            .map(|s| parse_saml(&s.value))
            .transpose()?;
        let oidc = input
            .oidc
            .as_ref()
            .map(|v| parse_oidc(&v.value, None))
            .transpose()?;
        let scim_allowlist = input
            .scim_allowlist
            .as_deref()
            .map(scim_allowlist_column)
            .transpose()?;
        let mut tx = self.begin_write(ctx).await?;
        let mappings = check_rules(tx.db(), &Documented::values(&input.mappings)).await?;
        let now = tx.now_ms();
        let m = entity::connection::ActiveModel {
            id: Set(new_id()),
            key: Set(input.key.to_string()),
            kind: Set(kind.as_str().to_owned()),
            name: Set(name),
            jit: Set(input.jit),
            default_role: Set(role.as_str().to_owned()),
            deprovision: Set(deprovision.as_str().to_owned()),
            sso_required: Set(input.sso_required),
            mappings: Set(to_json(&mappings)?),
            saml: Set(saml.as_ref().map(to_json).transpose()?),
            oidc: Set(oidc.as_ref().map(to_json).transpose()?),
            scim_allowlist: Set(scim_allowlist),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.db())
        .await
        .map_err(|e| dup(e, &input.key))?;
        let rep = to_rep(tx.db(), &m).await?;
        tx.audit(
            AuditDraft::new("connection", &rep.name, "createConnection", &res)
                .describe(format!("created {} connection {}", rep.kind, rep.key))
                .after(Some(snapshot(&rep)?)),
        );
        tx.commit().await?;
        if saml.as_ref().is_some_and(|s| s.idp_metadata_url.is_some()) {
            self.saml_metadata_due().notify_one();
        }
        Ok(rep)
    }

    pub async fn update_connection(
        &self,
        ctx: &Ctx,
        key: &str,
        patch: ConnectionPatch,
    ) -> Result<Connection> {
        let res = Resource::connection(key);
        authorize(&ctx.principal, "updateConnection", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        check_version(patch.version, m.version, "connection")?;
        let before = to_rep(tx.db(), &m).await?;
        let mut am: entity::connection::ActiveModel = m.clone().into();
        let mut fetch_metadata = false;
        if let Some(name) = &patch.name {
            am.name = Set(validate_name("name", name)?);
        }
        if let Some(jit) = patch.jit {
            am.jit = Set(jit);
        }
        if let Some(role) = &patch.default_role {
            am.default_role = Set(parse_default_role(role)?.as_str().to_owned());
        }
        if let Some(d) = &patch.deprovision {
            am.deprovision = Set(parse_deprovision(d)?.as_str().to_owned());
        }
        if let Some(sso) = patch.sso_required {
            am.sso_required = Set(sso);
        }
        match &patch.saml {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => am.saml = Set(None),
            MaybeUndefined::Value(v) => {
                // The SP private key is write-only: a PATCH without it keeps the stored one.
                let mut saml = parse_saml(&v.value)?;
                let previous = saml_settings(&m)?;
                if let Some(previous) = &previous {
                    if saml.sp_private_key.is_none()
                        && saml.sp_certificate == previous.sp_certificate
                    {
                        saml.sp_private_key = previous.sp_private_key.clone();
                    }
                    // Metadata fetched from the same URL stays trusted until the next fetch,
                    // which saving the connection makes due at once.
                    if saml.idp_metadata_url.is_some()
                        && saml.idp_metadata_url == previous.idp_metadata_url
                    {
                        saml.fetched_metadata_xml = previous.fetched_metadata_xml.clone();
                        saml.metadata_status =
                            previous
                                .metadata_status
                                .clone()
                                .map(|status| MetadataStatus {
                                    last_attempt: None,
                                    ..status
                                });
                    }
                }
                fetch_metadata = saml.idp_metadata_url.is_some();
                am.saml = Set(Some(to_json(&saml)?));
            }
        }
        match &patch.oidc {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => am.oidc = Set(None),
            MaybeUndefined::Value(v) => {
                let previous = oidc_settings(&m)?;
                am.oidc = Set(Some(to_json(&parse_oidc(&v.value, previous.as_ref())?)?));
            }
        }
        match &patch.scim_allowlist {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => am.scim_allowlist = Set(None),
            MaybeUndefined::Value(entries) => {
                am.scim_allowlist = Set(Some(scim_allowlist_column(entries)?));
            }
        }
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(tx.db(), &updated).await?;
        let secret_changed = matches!(&patch.oidc, MaybeUndefined::Value(v) if v.value.get("clientSecret").is_some());
        tx.audit(
            AuditDraft::new("connection", &after.name, "updateConnection", &res)
                .describe(if secret_changed {
                    format!("updated connection {key} (new OIDC client secret)")
                } else {
                    format!("updated connection {key}")
                })
                .before(Some(snapshot(&before)?))
                .after(Some(snapshot(&after)?))
                .comment(patch.comment),
        );
        tx.commit().await?;
        // Remembered SCIM tokens carry the connection as it was.
        self.remembered_scim_tokens().forget_all();
        if fetch_metadata {
            self.saml_metadata_due().notify_one();
        }
        Ok(after)
    }

    /// Deletes a connection and its SCIM tokens. Members and teams it provisioned stay, no
    /// longer tied to it: teams lose their `idpSynced` mark and become editable here.
    pub async fn delete_connection(&self, ctx: &Ctx, key: &str) -> Result<()> {
        let res = Resource::connection(key);
        authorize(&ctx.principal, "deleteConnection", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        let before = to_rep(tx.db(), &m).await?;
        entity::scim_token::Entity::delete_many()
            .filter(entity::scim_token::Column::ConnectionId.eq(m.id.clone()))
            .exec(tx.db())
            .await?;
        let released = entity::team::Entity::update_many()
            .col_expr(entity::team::Column::IdpSynced, Expr::value(false))
            .col_expr(
                entity::team::Column::ConnectionKey,
                Expr::value(Option::<String>::None),
            )
            .filter(entity::team::Column::ConnectionKey.eq(key))
            .exec(tx.db())
            .await?
            .rows_affected;
        entity::connection::Entity::delete_by_id(m.id.clone())
            .exec(tx.db())
            .await?;
        tx.audit(
            AuditDraft::new("connection", &m.name, "deleteConnection", &res)
                .describe(format!(
                    "deleted connection {key}; {released} synced team(s) released"
                ))
                .before(Some(snapshot(&before)?)),
        );
        tx.commit().await?;
        // Remembered SCIM tokens carry the connection as it was.
        self.remembered_scim_tokens().forget_all();
        Ok(())
    }

    /// Creates a SCIM bearer token; the secret is returned once and only its hash is stored.
    /// Several tokens may be active at once, so an IdP can rotate without downtime.
    pub async fn create_scim_token(&self, ctx: &Ctx, key: &str) -> Result<ScimTokenCreated> {
        let res = Resource::connection(key);
        authorize(&ctx.principal, "createScimToken", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let secret = format!(
            "{SCIM_SECRET_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let ending: String = secret
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let id = new_id();
        entity::scim_token::ActiveModel {
            id: Set(id.clone()),
            connection_id: Set(m.id.clone()),
            secret_hash: Set(hash_secret(&secret)),
            ending: Set(ending.clone()),
            last_used: Set(None),
            revoked_at: Set(None),
            created_at: Set(tx.now_ms()),
        }
        .insert(tx.db())
        .await?;
        tx.audit(
            AuditDraft::new("connection", &m.name, "createScimToken", &res)
                .describe(format!("created SCIM token …{ending} for connection {key}"))
                .after(Some(serde_json::json!({"id": id, "ending": ending}))),
        );
        tx.commit().await?;
        Ok(ScimTokenCreated { id, token: secret })
    }

    /// Revokes a SCIM token at once; requests with it get 401 from then on.
    pub async fn revoke_scim_token(&self, ctx: &Ctx, key: &str, token_id: &str) -> Result<()> {
        let res = Resource::connection(key);
        authorize(&ctx.principal, "deleteScimToken", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        let token = entity::scim_token::Entity::find_by_id(token_id.to_owned())
            .one(tx.db())
            .await?
            .filter(|t| t.connection_id == m.id)
            .ok_or_else(|| Error::not_found(format!("SCIM token {token_id:?}")))?;
        if token.revoked_at.is_some() {
            return Err(Error::conflict(format!(
                "SCIM token {token_id:?} is already revoked"
            )));
        }
        let mut am: entity::scim_token::ActiveModel = token.clone().into();
        am.revoked_at = Set(Some(tx.now_ms()));
        am.update(tx.db()).await?;
        tx.audit(
            AuditDraft::new("connection", &m.name, "deleteScimToken", &res)
                .describe(format!(
                    "revoked SCIM token …{} of connection {key}",
                    token.ending
                ))
                .before(Some(
                    serde_json::json!({"id": token.id, "ending": token.ending}),
                )),
        );
        tx.commit().await?;
        // Remembered SCIM tokens carry the connection as it was.
        self.remembered_scim_tokens().forget_all();
        Ok(())
    }

    /// Replaces the ordered mapping rules of a connection.
    pub async fn put_mappings(
        &self,
        ctx: &Ctx,
        key: &str,
        rules: Vec<Value>,
    ) -> Result<Connection> {
        let res = Resource::connection(key);
        authorize(&ctx.principal, "updateMappings", &res)?;
        let mut tx = self.begin_write(ctx).await?;
        let m = find(tx.db(), key).await?;
        let checked = check_rules(tx.db(), &rules).await?;
        let before: Value = from_json(&m.mappings)?;
        let mut am: entity::connection::ActiveModel = m.clone().into();
        am.mappings = Set(to_json(&checked)?);
        am.version = Set(m.version + 1);
        am.updated_at = Set(tx.now_ms());
        let updated = am.update(tx.db()).await?;
        let after = to_rep(tx.db(), &updated).await?;
        tx.audit(
            AuditDraft::new("connection", &m.name, "updateMappings", &res)
                .describe(format!(
                    "set {} mapping rule(s) on connection {key}",
                    checked.len()
                ))
                .before(Some(before))
                .after(Some(Value::Array(checked))),
        );
        tx.commit().await?;
        // Remembered SCIM tokens carry the connection as it was.
        self.remembered_scim_tokens().forget_all();
        Ok(after)
    }

    /// What the connection's rules make of a profile, without changing anything.
    pub async fn preview_mappings(
        &self,
        ctx: &Ctx,
        key: &str,
        input: MappingPreviewInput,
    ) -> Result<MappingPreview> {
        authorize(&ctx.principal, "viewConnection", &Resource::connection(key))?;
        let m = find(self.db(), key).await?;
        let profile = preview_profile(&input)?;
        let outcome = mapping::map_profile(&mapping_rules(&m)?, &profile)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let known: Vec<String> = if outcome.custom_roles.is_empty() {
            Vec::new()
        } else {
            entity::custom_role::Entity::find()
                .filter(entity::custom_role::Column::Key.is_in(outcome.custom_roles.clone()))
                .all(self.db())
                .await?
                .into_iter()
                .map(|r| r.key)
                .collect()
        };
        let default = BaseRole::parse(&m.default_role).unwrap_or(BaseRole::Reader);
        Ok(MappingPreview {
            role: outcome.role.unwrap_or(default).as_str().to_owned(),
            role_mapped: outcome.role.is_some(),
            unknown_custom_roles: outcome
                .custom_roles
                .iter()
                .filter(|k| !known.contains(k))
                .cloned()
                .collect(),
            custom_roles: outcome.custom_roles,
            role_attributes: outcome.role_attributes,
            teams: outcome.teams,
            matched_rules: outcome.matched_rules.iter().map(|&i| i as u32).collect(),
        })
    }
}
